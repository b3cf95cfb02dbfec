"""The database checks after a crash scenario (tests/faults/scenarios.py): every broken
guarantee as a sentence, an empty list when all hold (docs/reliability.md lists them)."""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections import Counter, defaultdict
from typing import Any

from tests.faults.scenarios import BUILD, LOOP_PASS_AT, QA, SPLIT, SUBTASKS_PER_PARENT, World


def _rows(db: Any, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` (``?`` placeholders) on a sqlite3 or SQLAlchemy connection."""
    if isinstance(db, sqlite3.Connection):
        return list(db.execute(sql, params).fetchall())
    from sqlalchemy import text

    for i in range(len(params)):
        sql = sql.replace("?", f":p{i}", 1)
    named = {f"p{i}": value for i, value in enumerate(params)}
    return [tuple(row) for row in db.execute(text(sql), named).fetchall()]


def check_sqlite(world: World) -> list[str]:
    """Every broken guarantee after a crash run, as sentences; [] when all hold."""
    db = sqlite3.connect(world.database)
    try:
        return check_rows(db, world, integrity=True, contiguous=True)
    finally:
        db.close()


def check_rows(db: Any, world: World, *, integrity: bool, contiguous: bool) -> list[str]:
    """The checks of :func:`check_sqlite` on an open sqlite3 or SQLAlchemy connection.

    ``contiguous``: event ids have no gaps (SQLite; a PostgreSQL sequence may skip ids of
    rolled-back transactions, so there only the per-task chains count).
    """
    problems: list[str] = []
    if integrity:
        result = _rows(db, "PRAGMA integrity_check")
        if result != [("ok",)]:
            problems.append(f"integrity_check: {result[:5]}")
    tasks = {
        row[0]: row
        for row in _rows(
            db, "SELECT id, batch_key, parent_id, status, rebuilds, skill_id, outputs FROM tasks"
        )
    }
    top = [t for t in tasks.values() if t[2] is None]
    subs = [t for t in tasks.values() if t[2] is not None]
    if len(top) != len(world.specs):
        problems.append(f"{len(top)} top-level tasks, expected {len(world.specs)}")
    if len({t[1] for t in top}) != len(top):
        problems.append("a batch key appears twice")
    batches = _rows(db, "SELECT count(*) FROM batches")[0][0]
    if batches != 1:
        problems.append(f"{batches} batches, expected 1")
    not_done = [(t[1], t[3]) for t in tasks.values() if t[3] != "completed"]
    for key, status, code, error in _rows(
        db, "SELECT batch_key, status, error_code, error FROM tasks WHERE status = 'failed'"
    )[:5]:
        problems.append(f"task {key} {status}: [{code}] {str(error)[:300]}")
    if not_done:
        problems.append(f"not completed: {not_done[:10]}")
    succeeded: Counter[str] = Counter(
        r[0] for r in _rows(db, "SELECT task_id FROM attempts WHERE status = 'succeeded'")
    )
    failed: Counter[str] = Counter(
        r[0] for r in _rows(db, "SELECT task_id FROM attempts WHERE status = 'failed'")
    )
    running = _rows(db, "SELECT count(*) FROM attempts WHERE status = 'running'")[0][0]
    if running:
        problems.append(f"{running} attempts still running")
    for task_id, row in tasks.items():
        if row[5] == SPLIT:
            continue  # a parent with sub-tasks completes through them (checked below)
        want = _expected_results(row)
        if (succeeded[task_id], failed[task_id]) != want:
            problems.append(
                f"task {row[1] or task_id} ({row[5]}): {succeeded[task_id]} succeeded and "
                f"{failed[task_id]} failed attempts, expected {want}"
            )
    # Sub-tasks: positions 1..n once each; every parent has its parts.
    by_parent: dict[str, list[int]] = defaultdict(list)
    for position, parent in _rows(
        db, "SELECT position, parent_id FROM tasks WHERE parent_id IS NOT NULL"
    ):
        by_parent[parent].append(position)
    for parent in (t for t in top if t[5] == SPLIT):
        got = sorted(by_parent.get(parent[0], []))
        if not got or got != list(range(1, len(got) + 1)):
            problems.append(f"parent {parent[1]}: sub-task positions {got}")
        if succeeded[parent[0]] > 1 or failed[parent[0]]:
            problems.append(f"parent {parent[1]}: its agent succeeded {succeeded[parent[0]]} times")
    if len(subs) > len([t for t in top if t[5] == SPLIT]) * SUBTASKS_PER_PARENT:
        problems.append(f"{len(subs)} sub-tasks: more than the parents add")
    problems += _check_loop(db, tasks)
    problems += _check_events(db, tasks, contiguous=contiguous)
    return problems


def _check_loop(db: Any, tasks: dict[str, tuple[Any, ...]]) -> list[str]:
    problems = []
    [qa] = [t for t in tasks.values() if t[5] == QA]
    [build] = [t for t in tasks.values() if t[5] == BUILD]
    outputs = json.loads(qa[6]) if isinstance(qa[6], str) else qa[6]
    expected_rebuilds = LOOP_PASS_AT - 1
    if (qa[4], build[4]) != (expected_rebuilds, expected_rebuilds):
        problems.append(f"loop: rebuilds qa={qa[4]} build={build[4]}, expected {expected_rebuilds}")
    if not outputs or outputs.get("verdict") != "pass" or outputs.get("seen") != LOOP_PASS_AT:
        problems.append(f"loop: QA outputs {outputs}")
    verdicts = _rows(
        db,
        "SELECT turn FROM task_history WHERE task_id = ? AND kind = 'verdict' ORDER BY id",
        qa[0],
    )
    if [v[0] for v in verdicts] != list(range(1, LOOP_PASS_AT + 1)):
        problems.append(f"loop: verdict turns {verdicts}")
    rebuilds = _rows(
        db,
        "SELECT turn FROM task_history WHERE task_id = ? AND kind = 'rebuild' ORDER BY id",
        build[0],
    )
    if [r[0] for r in rebuilds] != list(range(1, LOOP_PASS_AT)):
        problems.append(f"loop: rebuild turns {rebuilds}")
    return problems


def _expected_results(row: tuple[Any, ...]) -> tuple[int, int]:
    """(succeeded, failed) attempts of a task that ran once per turn: a QA task's ``fail``
    verdicts are failed attempts, every other turn succeeds once."""
    turns = row[4] + 1
    return (1, turns - 1) if row[5] == QA else (turns, 0)


def _check_events(db: Any, tasks: dict[str, tuple[Any, ...]], *, contiguous: bool) -> list[str]:
    """Event ids without gaps (SQLite reuses no rowid and rolls back whole transactions),
    each task's status changes a chain (every ``from`` is the previous ``to``: nothing
    lost, nothing twice), and one ``completed`` per turn."""
    problems = []
    ids = [r[0] for r in _rows(db, "SELECT id FROM events ORDER BY id")]
    if len(set(ids)) != len(ids) or (contiguous and ids != list(range(1, len(ids) + 1))):
        gaps = sorted(set(range(1, (ids[-1] if ids else 0) + 1)) - set(ids))
        problems.append(f"event ids not contiguous; missing {gaps[:10]}")
    chains: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for task_id, data in _rows(
        db, "SELECT task_id, data FROM events WHERE kind = 'status_changed' ORDER BY id"
    ):
        payload = json.loads(data) if isinstance(data, str) else data
        chains[task_id].append((payload["from"], payload["to"]))
    for task_id, row in tasks.items():
        chain = chains.get(task_id, [])
        broken = [(a, b) for a, b in itertools.pairwise(chain) if a[1] != b[0]]
        if chain and chain[0][0] not in ("planned", "ready"):
            broken.insert(0, (("created", "planned|ready"), chain[0]))
        if broken:
            problems.append(f"task {row[1] or task_id}: status events do not chain: {broken[:3]}")
        if chain and chain[-1][1] != row[3]:
            problems.append(
                f"task {row[1] or task_id}: last event says {chain[-1][1]}, row {row[3]}"
            )
        completed = sum(1 for _, to in chain if to == "completed")
        want = _expected_results(row)[0] if row[5] != SPLIT else 1
        if completed != want:
            problems.append(
                f"task {row[1] or task_id}: {completed} 'completed' events, expected {want}"
            )
    return problems
