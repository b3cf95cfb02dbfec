"""The correctness loop applied in a transaction (DESIGN §5).

:func:`loop_state` reads what :func:`brahmi.domain.loop.on_fail_verdict` needs;
:func:`apply_rebuild` carries out a ``Rebuild`` decision: feedback into each critiqued
task, critiqued tasks (and a critiqued parent's sub-tasks) back to ``planned``, stale work
downstream back to ``planned``, and every turn kept in ``task_history``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from brahmi.domain.lifecycle import Verdict
from brahmi.domain.loop import LoopState, Rebuild, tasks_to_replan
from brahmi.domain.models import TaskStatus
from brahmi.store import tables as t
from brahmi.store.events import EventWriter
from brahmi.store.graph import rows_of, settle
from brahmi.store.rows import dependents_map

S = TaskStatus
_tasks = t.tasks.c
_history = t.task_history.c


def loop_state(conn: Connection, qa_task_id: str, *, budget_left: bool = True) -> LoopState:
    """The loop's state for a QA task whose run just returned a ``fail`` verdict."""
    qa = conn.execute(
        select(_tasks.rebuilds, _tasks.max_rebuilds).where(_tasks.id == qa_task_id)
    ).one()
    previous = None
    if qa.rebuilds > 0:
        previous_row = conn.execute(
            select(_history.data)
            .where(
                _history.task_id == qa_task_id,
                _history.kind == "verdict",
                _history.turn == qa.rebuilds,
            )
            .order_by(_history.id.desc())
            .limit(1)
        ).first()
        if previous_row is not None:
            previous = previous_row.data.get("feedback_for_rebuild")
    return LoopState(qa.rebuilds, qa.max_rebuilds, previous, budget_left)


def record_verdict(
    conn: Connection,
    events: EventWriter,
    qa: Mapping[Any, Any],
    verdict: Verdict,
    outputs: Mapping[Any, Any] | None,
    now: float,
    *,
    loop_outcome: str | None = None,
) -> None:
    """Keep a QA run's verdict and outputs in its history, and say so in an event.

    Args:
        loop_outcome: What the turn led to: ``pass``, ``fail`` (a rebuild) or the loop's
            stop code; counted by ``brahmi_loop_turns_total`` (``/metrics``).
    """
    turn = int(qa["rebuilds"]) + 1
    verdict_text = "pass" if verdict.passed else "fail"
    data = {
        "verdict": verdict_text,
        "outcome": loop_outcome or verdict_text,
        "score": (outputs or {}).get("score"),
        "summary": (outputs or {}).get("summary"),
        "feedback_for_rebuild": verdict.feedback,
        "outputs": dict(outputs or {}),
    }
    conn.execute(
        insert(t.task_history),
        {"task_id": qa["id"], "kind": "verdict", "turn": turn, "data": data, "created_at": now},
    )
    events.add(
        "verdict",
        qa["project_id"],
        qa["id"],
        turn=turn,
        verdict=data["verdict"],
        outcome=data["outcome"],
        score=data["score"],
        summary=data["summary"],
    )


def apply_rebuild(
    conn: Connection, events: EventWriter, qa: Mapping[Any, Any], rebuild: Rebuild, now: float
) -> None:
    """Turn the loop after a ``fail`` verdict (DESIGN §5, steps 1–4).

    The QA task itself was already put back to ``planned`` by the transition that recorded
    its verdict; here its loop count goes up and every other effect of the turn happens.
    """
    targets = list(
        conn.execute(
            select(t.task_critiques.c.target_id).where(t.task_critiques.c.qa_task_id == qa["id"])
        ).scalars()
    )
    conn.execute(
        update(t.tasks)
        .where(_tasks.id == qa["id"])
        .values(rebuilds=_tasks.rebuilds + 1, attempt_base=_tasks.attempts, updated_at=now)
    )
    for target in targets:
        _rebuild_target(conn, events, target, qa, rebuild, now)
    _replan_downstream(conn, events, targets, qa["id"], now)
    settle(conn, events, targets, now)


def _rebuild_target(
    conn: Connection,
    events: EventWriter,
    target_id: str,
    qa: Mapping[Any, Any],
    rebuild: Rebuild,
    now: float,
) -> None:
    row = conn.execute(select(t.tasks).where(_tasks.id == target_id)).first()
    if row is None or row.status == S.RUNNING.value:
        return  # a critiqued task that runs again already will be judged on its new work
    conn.execute(
        insert(t.task_history),
        {
            "task_id": target_id,
            "kind": "rebuild",
            "turn": rebuild.turn,
            "data": {
                "qa_task_id": qa["id"],
                "feedback_for_rebuild": rebuild.feedback,
                "previous_status": row.status,
                "previous_outputs": row.outputs,
            },
            "created_at": now,
        },
    )
    reset_task(conn, events, row._mapping, now, feedback=rebuild.feedback, reason="rebuild")
    events.add("rebuild", row.project_id, target_id, turn=rebuild.turn, qa_task_id=qa["id"])
    if row.has_subtasks:
        for sub in conn.execute(select(t.tasks).where(_tasks.parent_id == target_id)):
            reset_task(conn, events, sub._mapping, now, feedback=rebuild.feedback, reason="rebuild")


def reset_task(
    conn: Connection,
    events: EventWriter,
    row: Mapping[Any, Any],
    now: float,
    *,
    feedback: Any = None,
    reason: str,
) -> None:
    """Put a task back to ``planned`` for another run; a running attempt is fenced out."""
    values: dict[str, Any] = {
        "status": S.PLANNED.value,
        "error": None,
        "error_code": None,
        "finished_at": None,
        "current_attempt_id": None,
        "lease_owner": None,
        "lease_expires_at": None,
        "attempt_base": row["attempts"],
        "updated_at": now,
    }
    if feedback is not None:
        values["inputs"] = {**row["inputs"], "feedback_for_rebuild": feedback}
        values["rebuilds"] = row["rebuilds"] + 1
    changed = conn.execute(
        update(t.tasks)
        .where(_tasks.id == row["id"], _tasks.status == row["status"])
        .values(**values)
    ).rowcount
    if not changed:
        return
    if row["status"] == S.RUNNING.value and row["current_attempt_id"]:
        conn.execute(
            update(t.attempts)
            .where(t.attempts.c.id == row["current_attempt_id"])
            .values(status="superseded", finished_at=now, error=f"superseded by a {reason}")
        )
    if row["status"] != S.PLANNED.value:
        events.status(row, row["status"], S.PLANNED, reason=reason)


def _replan_downstream(
    conn: Connection, events: EventWriter, targets: list[str], qa_id: str, now: float
) -> None:
    dependents: dict[str, list[str]] = {}
    for target in targets:
        for upstream, downstream in dependents_map(conn, target).items():
            dependents.setdefault(upstream, []).extend(downstream)
    everyone = {d for ds in dependents.values() for d in ds}
    statuses = {i: S(r["status"]) for i, r in rows_of(conn, everyone).items()}
    stale = tasks_to_replan(targets, qa_id, dependents, statuses)
    for task_id in stale:
        row = conn.execute(select(t.tasks).where(_tasks.id == task_id)).one()
        reset_task(conn, events, row._mapping, now, reason="rebuild upstream")
        if row.has_subtasks:
            for sub in conn.execute(select(t.tasks).where(_tasks.parent_id == task_id)):
                reset_task(conn, events, sub._mapping, now, reason="rebuild upstream")
