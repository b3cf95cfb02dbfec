"""Durable throughput and dispatch latency with 1, 2 and 4 ``brahmi worker`` processes.

For each database (PostgreSQL from ``--postgres URL`` or ``BRAHMI_TEST_DATABASE_URL``, and
SQLite) and each number of worker processes, this starts that many real ``brahmi worker
--concurrency C`` processes on a fresh database, waits until all have registered, then for
each shape of :mod:`benchmarks._shapes` stores a batch (the ``noop`` runtime, so the
figures are Brahmi's own overhead) and stops the clock when a watcher connection sees every
task ``completed`` (committed). Median of ``--repeat`` runs.

Dispatch latency, for each task with dependencies: its ``started_at`` (first claim) minus
the latest ``finished_at`` of its dependencies, both written by the workers (one host, one
clock). Reported over every such task, and over those whose dependent ran in another
process than the dependency that finished last ("across processes"), p50 and p99.

CPU time per task, steadier than wall time on a shared machine: ``w-cpu`` is the worker
processes' (user + system, from ``/proc``), ``db-cpu`` the PostgreSQL server processes'
serving the benchmark's database (its backends, the watcher's left out; ``-`` on SQLite or
a server on another host). The watcher polls in autocommit mode (one round trip a poll).
``--waits`` (PostgreSQL) also samples ``pg_stat_activity`` every 10 ms while a shape runs
and prints, for each state and wait event of the benchmark database's busy backends
(``idle`` ones left out), how many backends were in it on average: ``idle in
transaction/ClientRead`` is a transaction waiting for its client's next statement,
``Lock`` a row lock held by another transaction, ``WALSync``/``WALWrite`` a commit waiting
for the log to reach the disk, ``active/-`` work on the CPU.

Those figures mostly show queueing (a worker's slots are full) or no wait at all (the
worker that finishes a task claims its dependent in the same transaction). Dispatch across
processes proper is measured by a **ping-pong chain**: 100 tasks alternating between a
skill of the ``noop`` runtime and the built-in ``run-command`` skill (the ``command``
runtime running ``true``), with one worker process serving only ``noop`` and another only
``command`` (``--runtime``), one run at a time each: every dependent is claimed by the
other process, which has to be woken. Latency = dependent claimed - dependency finished.

The workers poll every 0.5 s (the default), so what wakes a worker across processes is
``LISTEN/NOTIFY`` on PostgreSQL and, on SQLite, its watcher of ``PRAGMA data_version``
(store/sqlite_watch.py).

    python -m benchmarks.workers_throughput [--repeat 3] [--processes 1,2,4] [--concurrency 8]
        [--postgres URL] [--skip-sqlite] [--shapes chain,fanout,layered] [--waits]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import NullPool

from benchmarks._shapes import SHAPES
from brahmi.config import Settings
from brahmi.service import Brahmi
from brahmi.store.database import create_db_engine, upgrade

WATCH_INTERVAL_S = 0.005
#: What the watcher polls. The status is tested on the batch's rows, never through a status
#: index: on a new database (no statistics) PostgreSQL walked every completed task of the
#: database from one, and the watcher's cost grew with every run.
COMPLETED_IN_BATCH = (
    "SELECT count(*) FILTER (WHERE status = 'completed') FROM tasks WHERE batch_id = :b"
)
BRAHMI = str(Path(sys.executable).with_name("brahmi"))


@dataclass
class Figures:
    wall_s: list[float]
    latency_ms: list[float]
    cross_ms: list[float]
    #: CPU seconds of the worker processes and of the database server (None: not known).
    worker_cpu_s: list[float]
    db_cpu_s: list[float | None]
    #: Samples of the database's busy backends: (state, wait event) -> backends seen.
    waits: Counter[str] = field(default_factory=Counter)
    samples: int = 0


@contextlib.contextmanager
def sampling_waits(url: str, figures: Figures) -> Iterator[None]:
    """Sample the busy backends of the database at ``url`` every 10 ms into ``figures``."""
    stop = threading.Event()
    sql = text(
        "SELECT state, coalesce(wait_event_type || '/' || wait_event, '-') "
        "FROM pg_stat_activity WHERE datname = current_database() "
        "AND backend_type = 'client backend' AND state <> 'idle' AND pid <> pg_backend_pid()"
    )

    def sample() -> None:
        engine = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        with engine.connect() as conn:
            while not stop.is_set():
                for state, wait in conn.execute(sql):
                    figures.waits[f"{state} {wait}"] += 1
                figures.samples += 1
                stop.wait(0.01)
        engine.dispose()

    thread = threading.Thread(target=sample, name="waits", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


_TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` (None when it cannot be read)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) * _TICK_S


def db_backends(watch: Engine) -> list[int]:
    """Server process ids of the other connections to the watched PostgreSQL database."""
    if watch.dialect.name != "postgresql":
        return []
    sql = (
        "SELECT pid FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    with watch.connect() as conn:
        return [int(pid) for pid in conn.execute(text(sql)).scalars()]


def total_cpu_s(pids: list[int]) -> float | None:
    """CPU seconds of ``pids`` added up; None when any cannot be read (or none given)."""
    found = [cpu_s(pid) for pid in pids]
    if not found or any(x is None for x in found):
        return None
    return sum(x for x in found if x is not None)


@contextlib.contextmanager
def postgres_database(server_url: str) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database on the server; dropped afterwards."""
    url = make_url(server_url)
    admin = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    name = f"brahmi_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    target = url.set(database=name).render_as_string(hide_password=False)
    engine = create_db_engine(target)
    upgrade(engine)
    engine.dispose()
    try:
        yield target
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextlib.contextmanager
def workers(
    home: Path,
    url: str | None,
    processes: int,
    concurrency: int,
    watch: Engine,
    runtimes: list[list[str]] | None = None,
) -> Iterator[list[int]]:
    """Start ``processes`` ``brahmi worker`` processes; yields their process ids."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRAHMI_")}
    env["BRAHMI_HOME"] = str(home)
    if url is not None:
        env["BRAHMI_DATABASE_URL"] = url
    served = runtimes or [["--runtime", "noop"]] * processes
    procs: list[subprocess.Popen[bytes]] = [
        subprocess.Popen(
            [BRAHMI, "worker", "--concurrency", str(concurrency), *served[i]],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=(home / f"worker-{i}.log").open("wb"),
        )
        for i in range(processes)
    ]
    try:
        deadline = time.monotonic() + 60
        while _count(watch, "SELECT count(*) FROM workers WHERE stopped_at IS NULL") < processes:
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise SystemExit("workers did not start")
            time.sleep(0.05)
        time.sleep(1.0)  # let each finish start-up (skills, LISTEN)
        yield [proc.pid for proc in procs]
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(30)
        for log in sorted(home.glob("worker-*.log")):
            lines = log.read_text(errors="replace").splitlines()
            problems = [line for line in lines if "Error" in line or "WARNING" in line]
            if problems:
                print(f"--- {log.name}: {len(problems)} warning(s)", *problems[:3], sep="\n")


def _count(engine: Engine, sql: str, **params: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql), params).scalar() or 0)


def one_run(
    brahmi: Brahmi,
    project_id: str,
    shape: str,
    watch: Engine,
    pids: list[int],
    *,
    waits: bool = False,
) -> Figures:
    tasks = SHAPES[shape]()
    backends = db_backends(watch)
    figures = Figures([], [], [], [], [])
    sampling = (
        sampling_waits(watch.url.render_as_string(hide_password=False), figures)
        if waits and backends
        else contextlib.nullcontext()
    )
    workers_before, db_before = total_cpu_s(pids), total_cpu_s(backends)
    with sampling:
        batch = brahmi.create_tasks_batch(project_id, tasks)
        started = time.perf_counter()
        deadline = time.monotonic() + 300
        while _count(watch, COMPLETED_IN_BATCH, b=batch.batch_id) < len(tasks):
            if time.monotonic() > deadline:
                raise SystemExit(f"{shape} did not complete")
            time.sleep(WATCH_INTERVAL_S)
        wall = time.perf_counter() - started
    workers_after, db_after = total_cpu_s(pids), total_cpu_s(backends)
    figures.latency_ms, figures.cross_ms = dispatch_latencies(watch, batch.batch_id)
    figures.wall_s.append(wall)
    figures.worker_cpu_s.append(
        workers_after - workers_before if workers_after and workers_before else 0.0
    )
    figures.db_cpu_s.append(
        db_after - db_before if db_after is not None and db_before is not None else None
    )
    return figures


def dispatch_latencies(engine: Engine, batch_id: str) -> tuple[list[float], list[float]]:
    """Milliseconds from the last dependency finishing to the dependent's first claim."""
    sql = """
        SELECT t.started_at - d.finished_at AS gap,
               (SELECT worker_id FROM attempts WHERE task_id = t.id ORDER BY number LIMIT 1)
                 <> (SELECT worker_id FROM attempts WHERE task_id = d.id
                     ORDER BY number DESC LIMIT 1) AS cross_process
        FROM tasks t
        JOIN task_dependencies td ON td.task_id = t.id
        JOIN tasks d ON d.id = td.depends_on_id
        WHERE t.batch_id = :b AND d.finished_at = (
            SELECT max(d2.finished_at) FROM task_dependencies td2
            JOIN tasks d2 ON d2.id = td2.depends_on_id WHERE td2.task_id = t.id)
    """
    with engine.connect() as conn:
        rows = conn.execute(text(sql), {"b": batch_id}).all()
    every = [1000 * float(r.gap) for r in rows]
    cross = [1000 * float(r.gap) for r in rows if r.cross_process]
    return every, cross


def print_waits(runs: list[Figures]) -> None:
    """The average number of busy backends in each state and wait event, most first."""
    seen: Counter[str] = Counter()
    for run in runs:
        seen.update(run.waits)
    samples = sum(run.samples for run in runs)
    if samples:
        print(
            "           waits:",
            "; ".join(f"{what} {count / samples:.2f}" for what, count in seen.most_common(6)),
        )


def pct(values: list[float], q: float) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    return f"{ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]:.1f}"


def bench(label: str, url: str | None, args: argparse.Namespace) -> None:
    if args.ping_pong_only:
        return
    for processes in args.processes:
        with tempfile.TemporaryDirectory() as tmp:
            home = Path(tmp)
            settings = Settings(home=home, database_url=url, forced_executor="noop")
            brahmi = Brahmi(settings)
            project_id = brahmi.project_for(home).id
            brahmi.registry.sources()  # index the built-in skills before workers start
            watch = create_engine(settings.url, isolation_level="AUTOCOMMIT")
            try:
                with workers(home, url, processes, args.concurrency, watch) as pids:
                    for shape in args.shapes:
                        build = SHAPES[shape]
                        runs = [
                            one_run(brahmi, project_id, shape, watch, pids, waits=args.waits)
                            for _ in range(args.repeat)
                        ]
                        wall = statistics.median(w for r in runs for w in r.wall_s)
                        every = [x for r in runs for x in r.latency_ms]
                        cross = [x for r in runs for x in r.cross_ms]
                        total = len(build())
                        worker_cpu = statistics.median(c for r in runs for c in r.worker_cpu_s)
                        db_cpus = [c for r in runs for c in r.db_cpu_s if c is not None]
                        db_cpu = (
                            f"{1000 * statistics.median(db_cpus) / total:.2f}" if db_cpus else "-"
                        )
                        print(
                            f"{label:<10} {processes:>5} {shape:<8} {total:>6} {wall:>8.3f} "
                            f"{total / wall:>8.0f} {pct(every, 0.5):>8} {pct(every, 0.99):>8} "
                            f"{pct(cross, 0.5):>8} {pct(cross, 0.99):>8} {len(cross):>6} "
                            f"{1000 * worker_cpu / total:>6.2f} {db_cpu:>6}",
                            flush=True,
                        )
                        if args.waits:
                            print_waits(runs)
                if url is not None:
                    size = _count(
                        watch,
                        "SELECT sum(pg_total_relation_size(c)) FROM unnest(ARRAY['tasks', "
                        "'attempts', 'events', 'task_dependencies', 'task_history', "
                        "'batches']::regclass[]) AS c",
                    )
                    tasks = _count(watch, "SELECT count(*) FROM tasks")
                    print(f"{label:<10} {size / tasks:,.0f} bytes per task stored ({tasks} tasks)")
            finally:
                watch.dispose()
                brahmi.close()


NOOP_SKILL_MD = (
    "---\nname: noop-step\ndescription: Does nothing (a benchmark step).\n"
    "metadata:\n  brahmi-runtime: noop\n---\n\n# noop-step\n\nNothing.\n"
)


def ping_pong(label: str, url: str | None, args: argparse.Namespace) -> None:
    """Cross-process dispatch latency: a chain whose steps alternate between two workers."""
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        skills = home / "bench-skills"
        (skills / "noop-step").mkdir(parents=True)
        (skills / "noop-step" / "SKILL.md").write_text(NOOP_SKILL_MD, encoding="utf-8")
        skill_arg = f"{skills}=bench/skills"
        settings = Settings(home=home, database_url=url, skill_dirs=(skill_arg,))
        brahmi = Brahmi(settings)
        project_id = brahmi.project_for(home).id
        brahmi.registry.sources()
        watch = create_engine(settings.url, isolation_level="AUTOCOMMIT")
        chain = []
        for uid in range(1, 101):
            step = {
                "unique_id": uid,
                "task_name": f"step {uid}",
                "description": "ping-pong step",
                "task_order": 1,
                "logical_dependencies": [uid - 1] if uid > 1 else [],
            }
            if uid % 2:
                step |= {"skill_id": "bench/skills/noop-step", "inputs": {}}
            else:
                step |= {
                    "skill_id": "brahmi/builtin/run-command",
                    "inputs": {"command": ["true"]},
                }
            chain.append(step)
        served = [
            ["--runtime", "noop", "--skills", skill_arg],
            ["--runtime", "command", "--skills", skill_arg],
        ]
        gaps: list[float] = []
        try:
            with workers(home, url, 2, 1, watch, served):
                for _ in range(args.repeat):
                    batch = brahmi.create_tasks_batch(project_id, chain)
                    query = COMPLETED_IN_BATCH
                    deadline = time.monotonic() + 300
                    while _count(watch, query, b=batch.batch_id) < len(chain):
                        if time.monotonic() > deadline:
                            raise SystemExit("the ping-pong chain did not complete")
                        time.sleep(0.02)
                    every, _ = dispatch_latencies(watch, batch.batch_id)
                    gaps += every
        finally:
            watch.dispose()
            brahmi.close()
        print(
            f"{label:<10} ping-pong chain, {len(gaps)} cross-process dispatches: "
            f"p50 {pct(gaps, 0.5)} ms, p99 {pct(gaps, 0.99)} ms, max {max(gaps):.1f} ms",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (median)")
    parser.add_argument("--concurrency", type=int, default=8, help="runs at once per process")
    parser.add_argument(
        "--processes",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[1, 2, 4],
        help="worker process counts, comma-separated",
    )
    parser.add_argument("--postgres", default=os.environ.get("BRAHMI_TEST_DATABASE_URL"))
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--ping-pong-only", action="store_true", help="only the latency chain")
    parser.add_argument(
        "--waits", action="store_true", help="PostgreSQL: sample what the backends wait on"
    )
    parser.add_argument(
        "--shapes",
        type=lambda s: s.split(","),
        default=list(SHAPES),
        help="comma-separated: " + ",".join(SHAPES),
    )
    args = parser.parse_args()
    print(
        f"noop runtime; {args.concurrency} runs at once per worker process; "
        f"median wall of {args.repeat}; latency = dependency finished -> dependent claimed"
    )
    print(
        f"{'database':<10} {'procs':>5} {'shape':<8} {'tasks':>6} {'wall s':>8} {'tasks/s':>8} "
        f"{'p50 ms':>8} {'p99 ms':>8} {'x-p50':>8} {'x-p99':>8} {'x-n':>6} "
        f"{'w-cpu':>6} {'db-cpu':>6}"
    )
    if args.postgres:
        with postgres_database(args.postgres) as url:
            bench("postgresql", url, args)
        with postgres_database(args.postgres) as url:
            ping_pong("postgresql", url, args)
    else:
        print("(no --postgres URL and no BRAHMI_TEST_DATABASE_URL: PostgreSQL skipped)")
    if not args.skip_sqlite:
        bench("sqlite", None, args)
        ping_pong("sqlite", None, args)


if __name__ == "__main__":
    main()
