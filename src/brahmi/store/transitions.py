"""Applying lifecycle decisions inside a transaction (DESIGN §3, §10).

Each function reads the small part of the graph a rule needs, asks
:mod:`brahmi.domain.lifecycle` what to do, and writes the answer with updates that name
the status they expect. Statements are built once at import: the engine runs them for
every task, so their construction cost would otherwise dominate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from sqlalchemy import String, bindparam, func, literal, literal_column, select, update
from sqlalchemy.engine import Connection

from brahmi.domain import lifecycle
from brahmi.domain.loop import Rebuild, on_fail_verdict
from brahmi.domain.models import TaskStatus
from brahmi.domain.subtasks import next_subtask
from brahmi.store import driver
from brahmi.store import tables as t
from brahmi.store.events import EventWriter
from brahmi.store.graph import (
    advance_parent,
    block_downstream,
    fail_parent,
    promote_dependents,
    siblings_of,
)
from brahmi.store.loop import apply_rebuild, loop_state, record_verdict
from brahmi.store.usage import project_budget

S = TaskStatus
_tasks = t.tasks.c

_RESULT_VALUES: dict[str, Any] = {
    "status": bindparam("p_status"),
    "skill_version": func.coalesce(
        bindparam("p_skill_version", type_=String), _tasks.skill_version
    ),
    "session_ref": func.coalesce(bindparam("p_session_ref", type_=String), _tasks.session_ref),
    "error": bindparam("p_error"),
    "error_code": bindparam("p_error_code"),
    "updated_at": bindparam("p_now"),
    "finished_at": bindparam("p_finished_at"),
    "run_after": bindparam("p_run_after"),
    "lease_owner": None,
    "lease_expires_at": None,
    "pending_resume": bindparam("p_pending_resume", type_=t.Json),
}
_HELD = (
    (_tasks.id == bindparam("p_id"))
    & (_tasks.status == S.RUNNING.value)
    & (_tasks.current_attempt_id == bindparam("p_attempt"))
)
_RECORDED = (
    _tasks.parent_id,
    _tasks.has_subtasks,
    _tasks.rebuilds,
    _tasks.position,
    _tasks.task_name,
    _tasks.id,
    # Whether a planner session created the task's batch: read here, in the statement
    # that records the result, so a task no planner waits on costs no trigger query.
    # (Columns spelled out with their tables: SQLite's RETURNING drops the table names,
    # and an unqualified ``batch_id`` would mean the planner batch's own.)
    select(literal(1))
    .select_from(t.planner_batches)
    .where(literal_column("planner_batches.batch_id") == literal_column("tasks.batch_id"))
    .exists()
    .label("by_planner"),
)
#: Record a result (keeping earlier outputs, for a retry that brought none).
_RECORD = update(t.tasks).where(_HELD).values(**_RESULT_VALUES).returning(*_RECORDED)
#: Record a result with outputs.
_RECORD_OUTPUTS = (
    update(t.tasks)
    .where(_HELD)
    .values(**_RESULT_VALUES, outputs=bindparam("p_outputs"))
    .returning(*_RECORDED)
)
#: Close a finished attempt (its final status, error and facts).
FINISH_ATTEMPT = (
    update(t.attempts)
    .where(t.attempts.c.id == bindparam("p_attempt"))
    .values(
        status=bindparam("p_status"),
        finished_at=bindparam("p_now"),
        error=bindparam("p_error"),
        transcript_path=bindparam("p_transcript"),
        usage=bindparam("p_usage"),
        skill_version=bindparam("p_skill_version"),
        executor=bindparam("p_executor"),
    )
)


def apply_outcome(
    conn: Connection,
    events: EventWriter,
    task: Mapping[Any, Any],
    attempt_id: str | None,
    outcome: lifecycle.Outcome,
    now: float,
    attempt_status: str,
    *,
    skill_version: str | None = None,
    session_ref: str | None = None,
    transcript_path: str | None = None,
    usage: dict[str, Any] | None = None,
    executor: str | None = None,
) -> bool:
    """Apply a finished attempt's ``outcome`` to its running task.

    A QA ``fail`` verdict goes through the correctness loop first: the task goes back to
    ``planned`` for another turn, or fails with the loop's stop code (DESIGN §5). A
    completed sub-task starts its next sibling; a failed one fails its parent; a parent
    whose own agent finished runs the sub-tasks it added (DESIGN §4).

    Args:
        task: The task's row: ``id``, ``project_id``, ``rebuilds`` and ``pending_resume``
            are read.
        attempt_id: The attempt that claims to hold the task.
        attempt_status: What the attempt row becomes (``succeeded``, ``failed``, ``expired``).

    Returns:
        False, changing nothing, when ``attempt_id`` no longer holds the task (fencing).
    """
    verdict = outcome.verdict
    rebuild: Rebuild | None = None
    # What the turn led to, kept with the verdict: ``pass``, ``fail`` (a rebuild) or the
    # loop's stop code (``max_rebuilds_exceeded``, ``rebuild_stalled``…).
    loop_outcome = "pass"
    if verdict is not None and not verdict.passed:
        budget = project_budget(conn, task["project_id"])
        decision = on_fail_verdict(
            loop_state(conn, task["id"], budget_left=not budget.exceeded), verdict
        )
        if isinstance(decision, Rebuild):
            rebuild, loop_outcome = decision, "fail"
            outcome = replace(outcome, status=S.PLANNED, error=None, error_code=None)
        else:
            loop_outcome = decision.code
            outcome = replace(outcome, error=decision.error, error_code=decision.code)
    keep_resume = outcome.status is S.READY  # an infrastructure retry runs the same message
    params: dict[str, Any] = {
        "p_id": task["id"],
        "p_attempt": attempt_id,
        "p_status": outcome.status.value,
        "p_error": outcome.error,
        "p_error_code": outcome.error_code,
        "p_now": now,
        "p_finished_at": now if outcome.status.is_terminal else None,
        "p_run_after": now + (outcome.retry_after_s or 0.0),
        "p_skill_version": skill_version,
        "p_session_ref": session_ref,
        "p_pending_resume": task.get("pending_resume") if keep_resume else None,
    }
    if outcome.outputs is not None:
        statement, params["p_outputs"] = _RECORD_OUTPUTS, outcome.outputs
    else:
        statement = _RECORD
    recorded = driver.execute(conn, statement, params).first()
    if recorded is None:
        return False
    if not recorded.by_planner:
        events.no_planner.add(task["id"])
    closing = {
        "p_attempt": attempt_id,
        "p_status": attempt_status,
        "p_now": now,
        "p_error": outcome.error,
        "p_transcript": transcript_path,
        "p_usage": usage,
        "p_skill_version": skill_version,
        "p_executor": executor,
    }
    if events.promote_later is not None:  # several results: closed together at the end
        events.close_later.append(closing)
    else:
        driver.execute(conn, FINISH_ATTEMPT, closing)
    if outcome.outputs is not None:
        events.add("outputs", task["project_id"], task["id"], attempt_id=attempt_id)
    if verdict is not None:
        record_verdict(
            conn,
            events,
            {**task, "rebuilds": recorded.rebuilds},
            verdict,
            outcome.outputs,
            now,
            loop_outcome=loop_outcome,
        )
    detail: dict[str, Any] = {"attempt_id": attempt_id}
    if outcome.error:
        detail["error"] = outcome.error
        detail["error_code"] = outcome.error_code
    if outcome.retry_after_s is not None:
        detail["retry_after_s"] = outcome.retry_after_s
    if outcome.status is S.COMPLETED and recorded.has_subtasks:
        _agent_finished(conn, events, task, detail, now)
        return True
    events.status(task, S.RUNNING, outcome.status, **detail)
    if rebuild is not None:
        events.add("loop_turn", task["project_id"], task["id"], turn=rebuild.turn)
        apply_rebuild(conn, events, {**task, "rebuilds": recorded.rebuilds}, rebuild, now)
    elif outcome.status is S.COMPLETED:
        if recorded.parent_id is not None:
            advance_parent(conn, events, recorded.parent_id, now)
        elif events.promote_later is not None:
            events.promote_later.append(task["id"])
        else:
            promote_dependents(conn, events, [task["id"]], now)
    elif outcome.status in (S.FAILED, S.CANCELLED):
        if recorded.parent_id is not None:
            fail_parent(conn, events, recorded._mapping, outcome.error, now)
        block_downstream(conn, events, task["id"], now)
    return True


def _agent_finished(
    conn: Connection,
    events: EventWriter,
    task: Mapping[Any, Any],
    detail: dict[str, Any],
    now: float,
) -> None:
    """A parent's own agent finished and sub-tasks were added meanwhile (DESIGN §4).

    The parent stays ``running`` while they run one after another, then completes.
    """
    siblings = siblings_of(conn, task["id"])
    if next_subtask(siblings) is None:
        events.status(task, S.RUNNING, S.COMPLETED, **detail)
        advance_parent(conn, events, task["id"], now)  # records subtasks_completed
        return
    # No attempt holds the parent while its sub-tasks run: a later cancel or reset must not
    # rewrite the finished agent's attempt as cancelled or superseded.
    conn.execute(
        update(t.tasks)
        .where(_tasks.id == task["id"], _tasks.status == S.COMPLETED.value)
        .values(status=S.RUNNING.value, finished_at=None, current_attempt_id=None)
    )
    events.add("agent_finished", task["project_id"], task["id"], **detail, subtasks=len(siblings))
    advance_parent(conn, events, task["id"], now)
