"""Where one chain hop's time goes: every SQL statement a chain of no-op tasks runs.

Runs the ``chain`` shape (100 tasks, each on the previous) with one in-process worker on
a fresh BRAHMI_HOME, as ``engine_throughput`` does, with every SQLite connection made
through a connection class that times each ``execute``/``executemany`` and ``commit`` on
the driver. Prints, per hop (statements ÷ 100), each distinct statement's count and time,
the transactions, and the hop's wall time (the tracing itself adds a little to it).
``--cprofile`` also prints a cProfile of an untraced run. ``--calls`` also counts the
function calls (Python and C) of an untraced run, per task, by the part of the worker
they are made in: a figure that does not move with the machine's load.

    python -m benchmarks.hop_profile [--tasks 100] [--cprofile] [--top 25] [--calls]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import re
import sqlite3
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from types import CodeType, FrameType
from typing import Any

from benchmarks._shapes import SHAPES, chain

_STATS: dict[str, list[float]] = defaultdict(list)
_ON = [False]
#: When a list: every statement (``("execute" | "executemany", sql, parameters)``),
#: ``("commit", None, None)`` and ``("rollback", None, None)`` of the traced connections,
#: in order, to be replayed (``benchmarks/sql_floor.py``).
RECORDING: list[list[tuple[str, str | None, Any]] | None] = [None]


def _label(sql: str) -> str:
    """A short name for a statement: its verb and table, and a hint of its shape."""
    text = " ".join(sql.split())
    head = text[:60]
    if m := re.match(r"(?i)(INSERT INTO|UPDATE|DELETE FROM) (\w+)", text):
        verb = m.group(1).split()[0].upper()
        extra = " RETURNING" if " RETURNING " in text.upper() else ""
        where = re.search(r"(?i) WHERE (.{0,40})", text)
        hint = f" WHERE {where.group(1)}…" if where and verb != "INSERT" else ""
        if "SELECT" in text.upper() and verb == "INSERT":
            hint = " … SELECT (planner triggers)"
        return f"{verb} {m.group(2)}{hint}{extra}"
    if m := re.match(r"(?i)SELECT .*? FROM (\w+)", text):
        return f"read {m.group(1)}: {head}"
    return head


def _record(kind: str, sql: str | None = None, parameters: Any = None) -> None:
    log = RECORDING[0]
    assert log is not None
    log.append((kind, sql, parameters))


class _Cursor(sqlite3.Cursor):
    def execute(self, sql: str, parameters: Any = (), /) -> Any:  # type: ignore[override]
        if RECORDING[0] is not None:
            _record("execute", sql, parameters)
        if not _ON[0]:
            return super().execute(sql, parameters)
        started = time.perf_counter()
        try:
            return super().execute(sql, parameters)
        finally:
            _STATS[_label(sql)].append(time.perf_counter() - started)

    def executemany(self, sql: str, seq: Any, /) -> Any:  # type: ignore[override]
        if RECORDING[0] is not None:
            seq = list(seq)
            _record("executemany", sql, seq)
        if not _ON[0]:
            return super().executemany(sql, seq)
        started = time.perf_counter()
        try:
            return super().executemany(sql, seq)
        finally:
            _STATS[_label(sql) + " (executemany)"].append(time.perf_counter() - started)


class _Connection(sqlite3.Connection):
    def cursor(self, factory: Any = _Cursor) -> Any:  # type: ignore[override]
        return super().cursor(factory)

    def execute(self, sql: str, parameters: Any = (), /) -> Any:  # type: ignore[override]
        return self.cursor().execute(sql, parameters)

    def rollback(self) -> None:
        if RECORDING[0] is not None:
            _record("rollback")
        return super().rollback()

    def commit(self) -> None:
        if RECORDING[0] is not None:
            _record("commit")
        if not _ON[0]:
            return super().commit()
        started = time.perf_counter()
        try:
            return super().commit()
        finally:
            _STATS["COMMIT (connection.commit)"].append(time.perf_counter() - started)


_connect = sqlite3.connect


def _traced_connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
    if not kwargs.get("uri"):  # the benchmark's read-only watcher is not traced
        kwargs.setdefault("factory", _Connection)
    return _connect(*args, **kwargs)


def _run_chain(tasks: int, profiler: cProfile.Profile | None = None, shape: str = "chain") -> float:
    from benchmarks.engine_throughput import _run
    from brahmi.config import Settings
    from brahmi.service import Brahmi

    with tempfile.TemporaryDirectory() as home:
        settings = Settings(
            home=Path(home), forced_executor="noop", concurrency=16, poll_interval_s=0.05
        )
        brahmi = Brahmi(settings)
        try:
            project = brahmi.project_for(Path(home))
            specs = chain(tasks) if shape == "chain" else SHAPES[shape]()
            batch = brahmi.create_tasks_batch(project.id, specs)
            _STATS.clear()
            _ON[0] = profiler is None
            if profiler is not None:
                profiler.enable()
            started = time.perf_counter()
            asyncio.run(_run(brahmi, batch.batch_id, len(specs)))
            elapsed = time.perf_counter() - started
            if profiler is not None:
                profiler.disable()
            _ON[0] = False
            return elapsed
        finally:
            brahmi.close()


def _parts() -> dict[CodeType, str]:
    """The code of each function that names a part of a hop, and the part's name (the
    innermost one on the stack wins)."""
    from benchmarks import engine_throughput
    from brahmi.engine.worker import Worker
    from brahmi.store import claims, events, graph

    named = {
        "store: record results and claim (rest)": claims.WorkerOperations.record_and_claim,
        "store: apply a result": claims.WorkerOperations._record,
        "store: promote dependents": graph.promote_dependents,
        "store: open claimed attempts": claims.WorkerOperations._claimed,
        "store: write events": events.EventWriter.flush,
        "worker: the attempt (request, runtime, outcome)": Worker._attempt,
        "worker: the run's task (transcript, result)": Worker._execute,
        "worker: recording (_flush)": Worker._flush,
        "worker: starting a run": Worker._start,
        "worker: main loop (claim, idle)": Worker.run,
        "benchmark: its watcher": engine_throughput._run,
    }
    return {function.__code__: name for name, function in named.items()}


def _count_calls(tasks: int, shape: str) -> tuple[Counter[str], int]:
    """Function calls of one untraced run, by part; and the run's tasks."""
    parts = _parts()
    counts: Counter[str] = Counter()

    def count(frame: FrameType, event: str, _arg: object) -> None:
        if event not in ("call", "c_call"):
            return
        found: FrameType | None = frame
        while found is not None and found.f_code not in parts:
            found = found.f_back
        counts[parts[found.f_code] if found is not None else "asyncio and the rest"] += 1

    from benchmarks import engine_throughput

    run = engine_throughput._run

    async def counted(*args: Any) -> None:
        sys.setprofile(count)
        try:
            await run(*args)
        finally:
            sys.setprofile(None)

    engine_throughput._run = counted  # type: ignore[assignment]
    try:
        _run_chain(tasks, shape=shape)
    finally:
        engine_throughput._run = run
    return counts, tasks if shape == "chain" else len(SHAPES[shape]())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100, help="length of the chain")
    parser.add_argument(
        "--shape", choices=sorted(SHAPES), default="chain", help="another shape, per task"
    )
    parser.add_argument("--cprofile", action="store_true", help="also print a cProfile")
    parser.add_argument("--top", type=int, default=25, help="cProfile rows")
    parser.add_argument(
        "--calls", action="store_true", help="also count function calls per task, by part"
    )
    args = parser.parse_args()
    # SQLAlchemy's pysqlite dialect connects through sqlite3.dbapi2.
    sqlite3.dbapi2.connect = _traced_connect  # type: ignore[assignment]
    _run_chain(args.tasks, shape=args.shape)  # warm-up: imports, compiled statements
    wall = _run_chain(args.tasks, shape=args.shape)
    hops = args.tasks if args.shape == "chain" else len(SHAPES[args.shape]())
    rows = sorted(_STATS.items(), key=lambda kv: -sum(kv[1]))
    total_n = sum(len(v) for _, v in rows)
    total_s = sum(sum(v) for _, v in rows)
    print(
        f"{args.shape} of {hops} no-op tasks, traced: {wall * 1000:.1f} ms "
        f"({wall / hops * 1e3:.3f} ms a task; per hop = per task)"
    )
    print("statements of the worker (the read-only watcher is not traced)")
    print(f"{'per hop':>8} {'ms/hop':>7} {'µs each':>8}  statement")
    for label, times in rows:
        print(
            f"{len(times) / hops:>8.2f} {sum(times) / hops * 1e3:>7.3f} "
            f"{sum(times) / len(times) * 1e6:>8.1f}  {label}"
        )
    print(
        f"{total_n / hops:>8.2f} {total_s / hops * 1e3:>7.3f} {'':>8}  all statements and commits "
        f"({total_s / wall:.0%} of the wall time)"
    )
    sqlite3.dbapi2.connect = _connect  # type: ignore[assignment]
    if args.calls:
        counts, total = _count_calls(args.tasks, args.shape)
        print(
            f"\nfunction calls per task, untraced run ({sum(counts.values()) / total:.0f} in all)"
        )
        for part, n in counts.most_common():
            print(f"{n / total:>8.1f}  {part}")
    if args.cprofile:
        profiler = cProfile.Profile()
        wall = _run_chain(args.tasks, profiler, args.shape)
        print(f"\ncProfile of the chain ({wall:.3f} s under the profiler)")
        stats = pstats.Stats(profiler)
        stats.sort_stats("tottime").print_stats(args.top)
        stats.sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()
