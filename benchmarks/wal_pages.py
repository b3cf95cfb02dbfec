"""Pages a hop writes to SQLite's WAL: per task, and by table and index.

Runs each shape (chain, fanout, layered) with one in-process worker on a fresh
BRAHMI_HOME, as ``engine_throughput`` does, with automatic checkpoints off on every
connection of the run, so the write-ahead log keeps every page the run wrote. Then reads
the WAL's frame headers (one frame = one 4 KiB page written by one commit) and names the
b-tree each page belongs to at the end of the run (SQLite's ``dbstat`` table): frames per
task and per commit, by table and index. The counts do not move with the machine's load
(the worker's batching of results into commits can, a little).

``--prefill N`` first stores N tasks in the same project (layered batches of 10,000) and
marks them completed, each with one succeeded attempt and two more events, so that the
indexes have the depth of a database that has run for a while (a fresh 100-task file has
one-page indexes, where every change of a hop shares a page).

    python -m benchmarks.wal_pages [--prefill 100000] [--shapes chain,fanout,layered]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sqlite3
import struct
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks._shapes import SHAPES, layered_tasks
from benchmarks.engine_throughput import _run
from brahmi.config import Settings
from brahmi.service import Brahmi

_connect = sqlite3.dbapi2.connect
PREFILL_BATCH = 10_000
PREFILL_WIDTH = 1_000


def _no_autocheckpoint(*args: Any, **kwargs: Any) -> sqlite3.Connection:
    connection = _connect(*args, **kwargs)
    connection.execute("PRAGMA wal_autocheckpoint=0")
    return connection


def _prefill(brahmi: Brahmi, project_id: str, total: int, database: Path) -> None:
    """Store ``total`` tasks and mark them completed, with an attempt and two events each."""
    for _ in range(total // PREFILL_BATCH):
        brahmi.create_tasks_batch(project_id, layered_tasks(PREFILL_BATCH, PREFILL_WIDTH))
    with contextlib.closing(_connect(database)) as conn:
        conn.executescript(
            """
            BEGIN;
            UPDATE tasks SET status = 'completed', attempts = 1,
                current_attempt_id = id || ':1', outputs = '{}',
                started_at = created_at, finished_at = created_at, updated_at = created_at;
            INSERT INTO attempts (id, task_id, number, worker_id, executor, status,
                started_at, finished_at)
                SELECT id || ':1', id, 1, 'prefill', 'noop', 'succeeded', created_at,
                    created_at FROM tasks;
            INSERT INTO events (project_id, task_id, kind, data, created_at)
                SELECT project_id, id, 'status_changed',
                    '{"from": "ready", "to": "running"}', created_at FROM tasks;
            INSERT INTO events (project_id, task_id, kind, data, created_at)
                SELECT project_id, id, 'status_changed',
                    '{"from": "running", "to": "completed"}', created_at FROM tasks;
            COMMIT;
            """
        )
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _frames(wal: Path) -> tuple[list[int], int]:
    """The page number of every valid frame of ``wal``, and how many commits they make."""
    data = wal.read_bytes()
    if len(data) < 32:
        return [], 0
    page_size = struct.unpack(">I", data[8:12])[0]
    salts = data[16:24]
    pages: list[int] = []
    commits = 0
    at = 32
    while at + 24 + page_size <= len(data):
        number, size_after = struct.unpack(">II", data[at : at + 8])
        if data[at + 8 : at + 16] != salts:
            break
        pages.append(number)
        commits += size_after != 0
        at += 24 + page_size
    return pages, commits


def _owners(database: Path) -> dict[int, str]:
    """Page number → the table or index it belongs to (``sqlite_schema`` for page 1)."""
    with contextlib.closing(_connect(database)) as conn:
        return {
            int(page): str(name) for name, page in conn.execute("SELECT name, pageno FROM dbstat")
        }


def measure(shape: str, concurrency: int, prefill: int) -> tuple[int, int, Counter[str], float]:
    """Tasks, commits, frames by b-tree, and the wall seconds of one run of ``shape``."""
    with tempfile.TemporaryDirectory() as home:
        database = Path(home) / "brahmi.db"
        settings = Settings(
            home=Path(home), forced_executor="noop", concurrency=concurrency, poll_interval_s=0.05
        )
        brahmi = Brahmi(settings)
        try:
            project = brahmi.project_for(Path(home))
            if prefill:
                _prefill(brahmi, project.id, prefill, database)
            specs = SHAPES[shape]()
            batch = brahmi.create_tasks_batch(project.id, specs)
            with contextlib.closing(_connect(database)) as conn:
                busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if busy:
                raise SystemExit("could not empty the WAL before the run")
            sqlite3.dbapi2.connect = _no_autocheckpoint  # type: ignore[assignment]
            brahmi.store.engine.dispose()  # the pool's next connections come through it
            started = time.perf_counter()
            asyncio.run(_run(brahmi, batch.batch_id, len(specs)))
            wall = time.perf_counter() - started
            pages, commits = _frames(Path(f"{database}-wal"))
            owners = _owners(database)
            return len(specs), commits, Counter(owners.get(p, "(free list)") for p in pages), wall
        finally:
            sqlite3.dbapi2.connect = _connect  # type: ignore[assignment]
            brahmi.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default="chain,fanout,layered", help="comma-separated")
    parser.add_argument("--concurrency", type=int, default=16, help="agent runs at once")
    parser.add_argument(
        "--prefill",
        type=int,
        default=0,
        help=f"completed tasks first (multiple of {PREFILL_BATCH:,})",
    )
    args = parser.parse_args()
    if args.prefill % PREFILL_BATCH:
        parser.error(f"--prefill must be a multiple of {PREFILL_BATCH:,}")
    print(
        f"noop runtime, SQLite WAL, concurrency {args.concurrency}, {args.prefill:,} tasks before"
    )
    for shape in args.shapes.split(","):
        tasks, commits, by_tree, wall = measure(shape, args.concurrency, args.prefill)
        frames = sum(by_tree.values())
        print(
            f"\n{shape}: {tasks} tasks, {commits} commits, {frames} WAL frames: "
            f"{frames / tasks:.2f} pages a task, {frames / max(commits, 1):.2f} a commit "
            f"({wall:.2f} s)"
        )
        for name, count in by_tree.most_common():
            print(f"  {count / tasks:>6.2f}  {name}")


if __name__ == "__main__":
    main()
