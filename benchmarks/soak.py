"""The fault suite's scenarios, run long, with figures (issue 17; docs/reliability.md).

Crash anywhere on SQLite: rounds of the 300-task scenario of ``tests/faults/scenarios.py``,
``brahmi run`` SIGKILLed ``--kills-per-run`` times per round at seeded random moments,
until ``--kills`` kills in all; every round's database is checked. Optionally the
PostgreSQL cluster scenario (``--postgres-kills``) and the bad-input fuzzing with many
examples (``--fuzz-examples``, through pytest). Prints what it survived.

    python -m benchmarks.soak --kills 200
    python -m benchmarks.soak --kills 20 --fuzz-examples 2000 --postgres-kills 20
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.faults import checks, scenarios


def brahmi_exe() -> Path:
    exe = Path(sys.executable).with_name("brahmi")
    if not exe.is_file():
        sys.exit(f"no brahmi console script at {exe}: pip install -e .")
    return exe


def sqlite_soak(kills: int, per_run: int, seed: int) -> int:
    """Rounds of the SQLite scenario until ``kills`` kills; returns the problems found."""
    survived = rounds = problems = 0
    started = time.monotonic()
    rng = random.Random(seed)
    while survived < kills:
        rounds += 1
        tmp = tempfile.mkdtemp(prefix="brahmi-soak-")
        world = scenarios.write_world(Path(tmp) / "world", brahmi_exe(), seed + rounds)
        report = scenarios.crash_run(world, min(per_run, kills - survived), rng=rng)
        found = checks.check_sqlite(world)
        if report.exit_code != 0:
            found.append(f"final run exited {report.exit_code}")
        if found:
            print(f"  round {rounds}: kept {tmp} to look into")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
        survived += report.kills
        problems += len(found)
        for problem in found[:20]:
            print(f"  round {rounds}: {problem}")
        print(
            f"round {rounds}: {report.kills} kills at {report.moments} s, {len(found)} problem(s)",
            flush=True,
        )
    elapsed = time.monotonic() - started
    specs = scenarios.plan_tasks(seed)
    parents = sum(1 for spec in specs if spec["skill_id"] == scenarios.SPLIT)
    print(
        f"SQLite crash-anywhere: {survived} kills survived in {rounds} rounds of "
        f"{len(specs)} tasks + {parents * scenarios.SUBTASKS_PER_PARENT} sub-tasks, "
        f"{problems} problem(s), {elapsed:.0f} s"
    )
    return problems


def postgres_soak(kills: int, seed: int, url: str) -> int:
    """The cluster scenario (3 workers and a server on PostgreSQL) with ``kills`` kills."""
    from sqlalchemy import create_engine
    from tests.acceptance.test_serve import free_port
    from tests.postgres import PostgresDatabases

    databases = PostgresDatabases(url)
    name = databases.create()
    try:
        with tempfile.TemporaryDirectory(prefix="brahmi-soak-pg-") as tmp:
            db_url = databases.url_of(name)
            world = scenarios.write_world(Path(tmp) / "world", brahmi_exe(), seed, db_url)
            cluster = scenarios.Cluster(world, db_url, free_port())
            started = time.monotonic()
            try:
                report = scenarios.crash_cluster(cluster, kills, rng=random.Random(seed))
            finally:
                cluster.stop()
            engine = create_engine(db_url)
            try:
                with engine.connect() as conn:
                    found = checks.check_rows(conn, world, integrity=False, contiguous=False)
            finally:
                engine.dispose()
            if report.exit_code != 0:
                found.append(f"the submitting run exited {report.exit_code}")
    finally:
        databases.drop(name)
        databases.close()
    for problem in found[:20]:
        print(f"  {problem}")
    print(
        f"PostgreSQL cluster: {report.kills} kills survived (3 workers + server), "
        f"{len(found)} problem(s), {time.monotonic() - started:.0f} s"
    )
    return len(found)


def fuzz_soak(examples: int) -> int:
    """The bad-input tests with ``examples`` examples each; prints their tallies."""
    env = {**os.environ, "BRAHMI_FUZZ_EXAMPLES": str(examples)}
    started = time.monotonic()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/faults/test_bad_input.py",
            "tests/faults/test_bad_files.py",
            "-q",
            "-s",
            "-p",
            "no:cacheprovider",
            "-o",
            "timeout=0",
        ],
        env=env,
        capture_output=True,
        encoding="utf-8",
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if "fuzz:" in line]
    total = sum(int(line.split("fuzz:", 1)[1].split()[0]) for line in lines)
    for line in lines:
        print(line[line.index("fuzz:") :])
    print(
        f"bad input: {total} calls, pytest exit {proc.returncode}, "
        f"{time.monotonic() - started:.0f} s"
    )
    if proc.returncode != 0:
        print(proc.stdout[-4000:])
    return int(proc.returncode != 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=200, help="SIGKILLs in all (SQLite)")
    parser.add_argument("--kills-per-run", type=int, default=10, help="kills per plan")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--postgres-kills", type=int, default=0, help="0: skip")
    parser.add_argument("--postgres", default=os.environ.get("BRAHMI_TEST_DATABASE_URL"))
    parser.add_argument("--fuzz-examples", type=int, default=0, help="0: skip")
    args = parser.parse_args()
    print(f"soak started {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}")
    problems = 0
    if args.kills:
        problems += sqlite_soak(args.kills, args.kills_per_run, args.seed)
    if args.postgres_kills:
        if not args.postgres:
            sys.exit("--postgres-kills needs --postgres URL or BRAHMI_TEST_DATABASE_URL")
        problems += postgres_soak(args.postgres_kills, args.seed, args.postgres)
    if args.fuzz_examples:
        problems += fuzz_soak(args.fuzz_examples)
    print(f"problems: {problems}")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
