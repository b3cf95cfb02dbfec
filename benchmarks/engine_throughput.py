"""Durable engine throughput with the ``noop`` runtime on three DAG shapes.

Each run stores the batch (before the clock starts), then starts one in-process worker; when
a separate read-only SQLite connection sees every task of the batch ``completed`` the worker
is told to stop, and the clock stops once it has stopped: every figure counts only state
committed to the SQLite file (WAL, synchronous=NORMAL), and includes the worker's start-up
and shutdown. The watcher is the stdlib ``sqlite3`` module with one indexed count
per poll, so watching costs the worker little. Prints tasks/s and per-task overhead,
median of ``--repeat`` runs, each on a fresh BRAHMI_HOME.

    python -m benchmarks.engine_throughput [--repeat 3] [--concurrency 16] [--profile SHAPE]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import pstats
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks._shapes import SHAPES
from brahmi.config import Settings
from brahmi.service import Brahmi

#: Seconds between two looks at the database while the worker runs.
WATCH_INTERVAL_S = 0.002
#: The targets (issue 16): durable tasks per second, per shape.
TARGETS = {"chain": 3500, "fanout": 7000, "layered": 7000}
_SETTLED = ("completed", "failed", "cancelled", "blocked")


async def _run(brahmi: Brahmi, batch_id: str, total: int) -> None:
    """Run a worker until the database holds every task of ``batch_id`` completed."""
    worker = brahmi.worker()
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    database = brahmi.settings.home / "brahmi.db"
    with contextlib.closing(sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True)) as watch:
        try:
            while True:
                counts = dict(
                    watch.execute(
                        "SELECT status, count(*) FROM tasks WHERE batch_id = ? GROUP BY status",
                        (batch_id,),
                    ).fetchall()
                )
                if counts.get("completed", 0) == total:
                    break
                if sum(counts.get(s, 0) for s in _SETTLED) == total or running.done():
                    raise SystemExit(f"benchmark tasks did not complete: {counts}")
                await asyncio.sleep(WATCH_INTERVAL_S)
        finally:
            stop.set()
            await running


def measure(shape: str, concurrency: int, profiler: cProfile.Profile | None = None) -> float:
    """Seconds from worker start to every task of one ``shape`` batch committed completed."""
    return measure_with_cpu(shape, concurrency, profiler)[0]


def measure_with_cpu(
    shape: str, concurrency: int, profiler: cProfile.Profile | None = None
) -> tuple[float, float]:
    """Wall seconds and this process's CPU seconds of one run of ``shape`` (see
    :func:`measure`). On a shared machine the CPU time moves less than the wall time."""
    wall, cpu, _ = measure_run(shape, concurrency, profiler)
    return wall, cpu


def measure_run(
    shape: str, concurrency: int, profiler: cProfile.Profile | None = None
) -> tuple[float, float, float]:
    """:func:`measure_with_cpu`, and the seconds from the batch's first claim to its last
    completion as the database records them (``started_at``, ``finished_at``): the hops
    alone, without the worker's start-up (registration, recovery, the first claim) or
    the watcher's polling interval."""
    with tempfile.TemporaryDirectory() as home:
        settings = Settings(
            home=Path(home), forced_executor="noop", concurrency=concurrency, poll_interval_s=0.05
        )
        brahmi = Brahmi(settings)
        try:
            project = brahmi.project_for(Path(home))
            tasks = SHAPES[shape]()
            batch = brahmi.create_tasks_batch(project.id, tasks)
            if profiler is not None:
                profiler.enable()
            cpu = time.process_time()
            started = time.perf_counter()
            asyncio.run(_run(brahmi, batch.batch_id, len(tasks)))
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu
            if profiler is not None:
                profiler.disable()
            database = brahmi.settings.home / "brahmi.db"
            with contextlib.closing(sqlite3.connect(database)) as read:
                first, last = read.execute(
                    "SELECT min(started_at), max(finished_at) FROM tasks WHERE batch_id = ?",
                    (batch.batch_id,),
                ).fetchone()
            return elapsed, cpu, last - first
        finally:
            brahmi.close()


def profile(shape: str, concurrency: int, top: int = 25) -> None:
    """Print where one run of ``shape`` spends its time."""
    profiler = cProfile.Profile()
    wall = measure(shape, concurrency, profiler)
    print(f"\ncProfile of {shape} ({wall:.3f} s under the profiler)")
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (median)")
    parser.add_argument("--concurrency", type=int, default=16, help="agent runs at once")
    parser.add_argument("--profile", choices=sorted(SHAPES), help="also print a cProfile")
    args = parser.parse_args()
    measure("chain", args.concurrency)  # warm-up: imports, first-use caches
    print(f"noop runtime, SQLite WAL, concurrency {args.concurrency}, median of {args.repeat}")
    print("(cpu: this process's CPU time, watcher included; best: the fastest of the runs;")
    print(" hops/s: tasks over the time from the first claim to the last completion, as the")
    print(" database records them, without the worker's start-up; the target is on tasks/s)")
    print(
        f"{'shape':<8} {'tasks':>6} {'wall s':>8} {'tasks/s':>9} {'ms/task':>8} "
        f"{'cpu ms/task':>11} {'best tasks/s':>12} {'hops/s':>8}"
    )
    for shape, build in SHAPES.items():
        total = len(build())
        runs = [measure_run(shape, args.concurrency) for _ in range(args.repeat)]
        wall = statistics.median(w for w, _, _ in runs)
        cpu = statistics.median(c for _, c, _ in runs)
        hops = statistics.median(h for _, _, h in runs)
        rate = total / wall
        best = total / min(w for w, _, _ in runs)
        note = "" if rate >= TARGETS[shape] else f"  below the {TARGETS[shape]:,} target"
        print(
            f"{shape:<8} {total:>6} {wall:>8.3f} {rate:>9.0f} {1000 * wall / total:>8.3f} "
            f"{1000 * cpu / total:>11.3f} {best:>12.0f} {total / hops:>8.0f}{note}"
        )
    if args.profile:
        profile(args.profile, args.concurrency)


if __name__ == "__main__":
    main()
