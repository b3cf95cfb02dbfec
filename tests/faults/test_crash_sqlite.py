"""Crash anywhere, SQLite (issue 17): ``brahmi run`` SIGKILLed at random moments.

The scenario (tests/faults/scenarios.py) runs about 300 tasks on the ``command`` runtime:
a chain, a fan-out, random layers, a correctness loop that fails twice then passes, and
parents whose agents add sub-tasks. ``brahmi run`` is killed :data:`KILLS` times at seeded
random moments, each followed by ``brahmi run --resume``; afterwards the database must
show every guarantee (see :func:`checks.check_sqlite`). ``benchmarks/soak.py`` runs the
same scenario with many more kills.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.faults import checks, scenarios

pytestmark = pytest.mark.faults

#: Kills per run in CI; the soak runs 200.
KILLS = 5
SEED = 17


@pytest.mark.timeout(240)
def test_a_run_killed_five_times_finishes_every_task_exactly_once(
    brahmi_exe: Path, tmp_path: Path
) -> None:
    world = scenarios.write_world(tmp_path / "world", brahmi_exe, SEED)

    report = scenarios.crash_run(world, KILLS, rng=random.Random(SEED))

    assert report.kills == KILLS, report
    assert report.exit_code == 0, (world.root / "runs.log").read_text(errors="replace")[-4000:]
    assert checks.check_sqlite(world) == []


@pytest.mark.timeout(120)
def test_the_checks_see_a_task_that_completed_twice(brahmi_exe: Path, tmp_path: Path) -> None:
    """The checker is not blind: a forged second success and a lost event are reported."""
    import sqlite3

    world = scenarios.write_world(
        tmp_path / "world", brahmi_exe, SEED, chain=3, fan=2, layers=1, width=2, parents=1
    )
    report = scenarios.crash_run(world, 0, rng=random.Random(SEED))
    assert report.exit_code == 0
    assert checks.check_sqlite(world) == []

    db = sqlite3.connect(world.database)
    with db:
        db.execute(
            "INSERT INTO attempts (id, task_id, number, worker_id, status, started_at) "
            "SELECT id || ':x', task_id, number + 1, worker_id, 'succeeded', started_at "
            "FROM attempts WHERE status = 'succeeded' LIMIT 1"
        )
        db.execute(
            "DELETE FROM events WHERE id = (SELECT min(id) FROM events "
            "WHERE kind = 'status_changed' AND json_extract(data, '$.to') = 'running')"
        )
    db.close()
    problems = checks.check_sqlite(world)
    assert any("2 succeeded" in p for p in problems), problems
    assert any("not contiguous" in p for p in problems), problems
    assert any("do not chain" in p for p in problems), problems
