"""Durable engine throughput with the ``noop`` runtime on three DAG shapes.

Each run stores the batch, then starts one in-process worker and stops the clock when the
database says every task is completed: every figure counts only state committed to the
SQLite file (WAL, synchronous=NORMAL). Prints tasks/s and per-task overhead (median of
``--repeat`` runs, each on a fresh BRAHMI_HOME).

    python benchmarks/engine_throughput.py [--repeat 3] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _shapes import SHAPES  # noqa: E402

from brahmi.config import Settings  # noqa: E402
from brahmi.domain.models import TaskStatus  # noqa: E402
from brahmi.service import Brahmi  # noqa: E402


async def _run(brahmi: Brahmi, batch_id: str, total: int) -> None:
    worker = brahmi.worker()
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    while True:
        counts = brahmi.store.status_counts(batch_id=batch_id)
        if counts.get(TaskStatus.COMPLETED, 0) == total:
            break
        if sum(n for s, n in counts.items() if s.is_settled) == total:
            raise SystemExit(f"benchmark tasks did not complete: {counts}")
        await asyncio.sleep(0.005)
    stop.set()
    await running


def measure(shape: str, concurrency: int) -> float:
    """Seconds from worker start to every task of one ``shape`` batch committed completed."""
    with tempfile.TemporaryDirectory() as home:
        settings = Settings(
            home=Path(home), forced_executor="noop", concurrency=concurrency, poll_interval_s=0.05
        )
        brahmi = Brahmi(settings)
        try:
            project = brahmi.project_for(Path(home))
            tasks = SHAPES[shape]()
            batch = brahmi.create_tasks_batch(project.id, tasks)
            started = time.perf_counter()
            asyncio.run(_run(brahmi, batch.batch_id, len(tasks)))
            return time.perf_counter() - started
        finally:
            brahmi.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    print(f"noop runtime, SQLite WAL, concurrency {args.concurrency}, median of {args.repeat}")
    print(f"{'shape':<8} {'tasks':>6} {'wall s':>8} {'tasks/s':>9} {'ms/task':>8}")
    for shape, build in SHAPES.items():
        total = len(build())
        walls = [measure(shape, args.concurrency) for _ in range(args.repeat)]
        wall = statistics.median(walls)
        print(
            f"{shape:<8} {total:>6} {wall:>8.3f} {total / wall:>9.0f} {1000 * wall / total:>8.3f}"
        )


if __name__ == "__main__":
    main()
