"""The SQL floor of a worker's work: its statements replayed without Brahmi around them.

For each shape, ``--repeat`` times:

1. The batch is stored on a fresh BRAHMI_HOME (not timed), the log is checkpointed into
   the database file, and the file is copied.
2. One in-process worker runs the batch through ``hop_profile``'s traced connections,
   which record every statement with its parameters, every commit and every rollback of
   the worker's connections, in order. The read-only watchers are not recorded.
3. The recording is replayed on the copy through one plain ``sqlite3`` connection, opened
   as Brahmi opens its own: WAL, ``synchronous=NORMAL``, foreign keys on. The
   statements, parameters and transactions are the same, with the prepared-statement
   cache, and without Brahmi's Python and asyncio around them. The replay must leave
   every task ``completed`` without an error, or the script stops.
4. An untraced run (``engine_throughput``'s measurement, start-up and shutdown included)
   gives the worker's own time for comparison.

Prints per task (µs, medians): the worker's time, the SQL replayed, and the difference.
The difference is what Brahmi's Python and asyncio add, which a faster hop can still
remove.

    python -m benchmarks.sql_floor [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import sqlite3
import statistics
import tempfile
from pathlib import Path
from time import perf_counter
from typing import Any

from benchmarks import hop_profile
from benchmarks._shapes import SHAPES
from benchmarks.engine_throughput import _run, measure_run
from brahmi.config import Settings
from brahmi.service import Brahmi


def _replay(database: Path, recording: list[tuple[str, str | None, Any]]) -> float:
    """Seconds to run ``recording`` on ``database`` through one plain connection."""
    with contextlib.closing(hop_profile._connect(database, isolation_level=None)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        started = perf_counter()
        for kind, sql, parameters in recording:
            if kind == "execute":
                assert sql is not None
                conn.execute(sql, parameters).fetchall()
            elif kind == "executemany":
                assert sql is not None
                conn.executemany(sql, parameters)
            elif conn.in_transaction:
                conn.commit() if kind == "commit" else conn.rollback()
        return perf_counter() - started


def measure(shape: str) -> float:
    """Seconds the SQL of one run of ``shape`` takes when replayed (see the module)."""
    specs = SHAPES[shape]()
    # SQLAlchemy's pysqlite dialect connects through sqlite3.dbapi2.
    sqlite3.dbapi2.connect = hop_profile._traced_connect  # type: ignore[assignment]
    try:
        with tempfile.TemporaryDirectory() as home:
            return _measure(Path(home), specs)
    finally:
        sqlite3.dbapi2.connect = hop_profile._connect


def _measure(home: Path, specs: list[dict[str, Any]]) -> float:
    settings = Settings(home=home, forced_executor="noop", concurrency=16, poll_interval_s=0.05)
    brahmi = Brahmi(settings)
    recording: list[tuple[str, str | None, Any]] = []
    try:
        project = brahmi.project_for(home)
        batch = brahmi.create_tasks_batch(project.id, specs)
        database = settings.home / "brahmi.db"
        with contextlib.closing(hop_profile._connect(database)) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        copy = settings.home / "replayed.db"
        shutil.copyfile(database, copy)
        hop_profile.RECORDING[0] = recording
        try:
            asyncio.run(_run(brahmi, batch.batch_id, len(specs)))
        finally:
            hop_profile.RECORDING[0] = None
    finally:
        brahmi.close()
    # PRAGMAs set up each new connection; the replay's connection has its own.
    seconds = _replay(copy, [r for r in recording if not (r[1] or "").startswith("PRAGMA")])
    with contextlib.closing(hop_profile._connect(copy)) as conn:
        (completed,) = conn.execute(
            "SELECT count(*) FROM tasks WHERE batch_id = ? AND status = 'completed'",
            (batch.batch_id,),
        ).fetchone()
    if completed != len(specs):
        raise SystemExit(f"the replay completed {completed} of {len(specs)} tasks")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure (median)")
    args = parser.parse_args()
    measure("chain")  # warm-up: imports, compiled statements
    measure_run("chain", 16)
    print("noop runtime, SQLite WAL, concurrency 16; µs a task, median of", args.repeat)
    print(f"{'shape':<8} {'tasks':>6} {'worker':>8} {'SQL':>8} {'rest':>8} {'SQL share':>10}")
    for shape, build in SHAPES.items():
        total = len(build())
        worker = statistics.median(measure_run(shape, 16)[0] for _ in range(args.repeat))
        sql = statistics.median(measure(shape) for _ in range(args.repeat))
        print(
            f"{shape:<8} {total:>6} {worker / total * 1e6:>8.0f} {sql / total * 1e6:>8.0f} "
            f"{(worker - sql) / total * 1e6:>8.0f} {sql / worker:>10.0%}"
        )


if __name__ == "__main__":
    main()
