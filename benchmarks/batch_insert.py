"""Validating and durably storing 100 / 1,000 / 10,000-task batches.

Each batch is a layered graph with real dependencies (25 tasks per layer; every task after
the first layer depends on two tasks of the layer before), the snake_case dialect, every
task naming the built-in ``run-command`` skill. Per size, medians of ``--repeat`` runs:

- validate: ``Brahmi.validate_batch`` (normalisation, every check of DESIGN §2, the skill
  and existing-task lookups); nothing is stored.
- validate+store: ``Brahmi.create_tasks_batch`` on a fresh BRAHMI_HOME; the clock stops
  when it returns, i.e. after the transaction holding every task, edge and event has
  committed to the SQLite file (WAL, synchronous=NORMAL). Opening the database and
  migrating it happen before the clock starts. ``insert s`` is the part of it spent in
  ``TaskStore.insert_batch`` (building the rows, the SQL and the commit).

    python -m benchmarks.batch_insert [--repeat 3] [--sizes 100,1000,10000] [--profile N]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._shapes import LAYER_WIDTH, layered_tasks
from brahmi.config import Settings
from brahmi.domain.models import TaskStatus
from brahmi.service import Brahmi

#: The target for the largest batch: validated and stored within this many seconds.
TARGET_10K_S = 1.0
TARGET_SIZE = 10_000


def _brahmi(home: str) -> Brahmi:
    return Brahmi(Settings(home=Path(home), forced_executor="noop"))


def validate_s(tasks: list[dict[str, Any]]) -> float:
    """Seconds to validate ``tasks`` without storing them."""
    with tempfile.TemporaryDirectory() as home:
        brahmi = _brahmi(home)
        try:
            brahmi.registry.sync_builtins()  # opening, migrating, indexing: not timed
            started = time.perf_counter()
            batch = brahmi.validate_batch(tasks)
            elapsed = time.perf_counter() - started
            assert len(batch.tasks) == len(tasks)
            return elapsed
        finally:
            brahmi.close()


def store_s(
    tasks: list[dict[str, Any]], profiler: cProfile.Profile | None = None
) -> tuple[float, float]:
    """Validate ``tasks`` and commit them, on a fresh BRAHMI_HOME.

    Returns:
        Seconds for the whole ``create_tasks_batch`` call, and seconds of it spent in
        ``TaskStore.insert_batch`` (the insert transaction, commit included).
    """
    with tempfile.TemporaryDirectory() as home:
        brahmi = _brahmi(home)
        try:
            project = brahmi.project_for(Path(home))
            brahmi.registry.sync_builtins()  # the built-ins are indexed before the clock starts
            insert_s: list[float] = []
            insert_batch = brahmi.store.insert_batch

            def timed_insert(**kwargs: Any) -> None:
                started = time.perf_counter()
                insert_batch(**kwargs)
                insert_s.append(time.perf_counter() - started)

            brahmi.store.insert_batch = timed_insert  # type: ignore[method-assign]
            if profiler is not None:
                profiler.enable()
            started = time.perf_counter()
            created = brahmi.create_tasks_batch(project.id, tasks)
            elapsed = time.perf_counter() - started
            if profiler is not None:
                profiler.disable()
            counts = brahmi.store.status_counts(batch_id=created.batch_id)
            assert sum(counts.values()) == len(tasks), counts
            assert counts[TaskStatus.READY] == min(LAYER_WIDTH, len(tasks)), counts
            return elapsed, insert_s[0]
        finally:
            brahmi.close()


def profile(size: int, top: int = 25) -> None:
    """Print where validate+store of a ``size``-task batch spends its time."""
    tasks = layered_tasks(size)
    store_s(tasks)  # warm caches and imports, like the measured runs
    profiler = cProfile.Profile()
    wall, _ = store_s(tasks, profiler)
    print(f"\ncProfile of validate+store, {size} tasks ({wall:.3f} s under the profiler)")
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (median)")
    parser.add_argument(
        "--sizes",
        default="100,1000,10000",
        help="comma-separated batch sizes, multiples of 25",
    )
    parser.add_argument(
        "--profile", type=int, metavar="N", help="also print a cProfile of an N-task batch"
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if any(size <= 0 or size % LAYER_WIDTH for size in sizes):
        parser.error(f"--sizes must be positive multiples of {LAYER_WIDTH}")
    validate_s(layered_tasks(100))  # warm-up: imports, first-use caches

    print(f"layered batches ({LAYER_WIDTH} per layer, 2 deps each), SQLite WAL, synchronous=NORMAL")
    print(f"median of {args.repeat}")
    print(
        f"{'tasks':>7} {'validate s':>11} {'validate+store s':>17} {'insert s':>9} {'tasks/s':>9}"
    )
    for size in sizes:
        tasks = layered_tasks(size)
        validated = statistics.median(validate_s(tasks) for _ in range(args.repeat))
        runs = [store_s(tasks) for _ in range(args.repeat)]
        stored = statistics.median(total for total, _ in runs)
        inserted = statistics.median(insert for _, insert in runs)
        note = ""
        if size == TARGET_SIZE:
            verdict = "meets" if stored <= TARGET_10K_S else "MISSES"
            note = f"  {verdict} the {TARGET_10K_S:g} s target"
        print(
            f"{size:>7} {validated:>11.3f} {stored:>17.3f} {inserted:>9.3f}"
            f" {size / stored:>9.0f}{note}"
        )
    if args.profile:
        profile(args.profile)


if __name__ == "__main__":
    main()
