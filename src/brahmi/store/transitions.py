"""Applying lifecycle decisions inside a transaction (DESIGN §3, §10).

Each function reads the small part of the graph a rule needs, asks
:mod:`brahmi.domain.lifecycle` what to do, and writes the answer with updates that name
the status they expect. Statements are built once at import: the engine runs them for
every task, so their construction cost would otherwise dominate.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import String, bindparam, func, select, update
from sqlalchemy.engine import Connection

from brahmi.domain import lifecycle
from brahmi.domain.models import TaskStatus
from brahmi.store import tables as t
from brahmi.store.events import EventWriter
from brahmi.store.rows import chunks, dependents_map

S = TaskStatus
_tasks = t.tasks.c
_deps = t.task_dependencies.c

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
}
_HELD = (
    (_tasks.id == bindparam("p_id"))
    & (_tasks.status == S.RUNNING.value)
    & (_tasks.current_attempt_id == bindparam("p_attempt"))
)
#: Record a result (keeping earlier outputs, for a retry that brought none).
_RECORD = update(t.tasks).where(_HELD).values(**_RESULT_VALUES)
#: Record a result with outputs.
_RECORD_OUTPUTS = (
    update(t.tasks).where(_HELD).values(**_RESULT_VALUES, outputs=bindparam("p_outputs"))
)
_FINISH_ATTEMPT = (
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
_WAITING_DEPENDENTS = (
    select(_tasks.id, _tasks.project_id)
    .select_from(t.task_dependencies.join(t.tasks, _tasks.id == _deps.task_id))
    .where(_deps.depends_on_id.in_(bindparam("p_ids", expanding=True)))
    .where(_tasks.status == S.PLANNED.value)
    .distinct()
)
_d1 = t.task_dependencies.alias("d1")
_d2 = t.task_dependencies.alias("d2")
_waiting = t.tasks.alias("waiting")
_upstream = t.tasks.alias("upstream")
#: For one completed task: each planned dependent with its dependencies' statuses.
_WAITING_WITH_STATUSES = (
    select(_waiting.c.id, _waiting.c.project_id, _upstream.c.status)
    .select_from(
        _d1.join(
            _waiting, (_waiting.c.id == _d1.c.task_id) & (_waiting.c.status == S.PLANNED.value)
        )
        .join(_d2, _d2.c.task_id == _d1.c.task_id)
        .join(_upstream, _upstream.c.id == _d2.c.depends_on_id)
    )
    .where(_d1.c.depends_on_id == bindparam("p_id"))
    .distinct()
)
_DEPENDENCY_STATUSES = (
    select(_deps.task_id, _tasks.status)
    .select_from(t.task_dependencies.join(t.tasks, _tasks.id == _deps.depends_on_id))
    .where(_deps.task_id.in_(bindparam("p_ids", expanding=True)))
    .distinct()
)
_MOVE_PLANNED = (
    update(t.tasks)
    .where((_tasks.id == bindparam("p_id")) & (_tasks.status == S.PLANNED.value))
    .values(status=bindparam("p_status"), updated_at=bindparam("p_now"), run_after=0.0)
)
_STATUSES_OF = select(_tasks.id, _tasks.project_id, _tasks.status).where(
    _tasks.id.in_(bindparam("p_ids", expanding=True))
)
_BLOCK = (
    update(t.tasks)
    .where((_tasks.id == bindparam("p_id")) & _tasks.status.in_([S.PLANNED.value, S.READY.value]))
    .values(
        status=S.BLOCKED.value,
        updated_at=bindparam("p_now"),
        error=bindparam("p_error"),
        error_code="blocked",
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

    Args:
        task: The task's row (``id`` and ``project_id`` are read).
        attempt_id: The attempt that claims to hold the task.
        attempt_status: What the attempt row becomes (``succeeded``, ``failed``, ``expired``).

    Returns:
        False, changing nothing, when ``attempt_id`` no longer holds the task (fencing).
    """
    params: dict[str, Any] = {
        "p_id": task["id"],
        "p_attempt": attempt_id,
        "p_status": outcome.status.value,
        "p_error": outcome.error,
        "p_error_code": outcome.error_code,
        "p_now": now,
        "p_finished_at": None if outcome.status is S.READY else now,
        "p_run_after": now + (outcome.retry_after_s or 0.0),
        "p_skill_version": skill_version,
        "p_session_ref": session_ref,
    }
    if outcome.outputs is not None:
        changed = conn.execute(_RECORD_OUTPUTS, {**params, "p_outputs": outcome.outputs}).rowcount
    else:
        changed = conn.execute(_RECORD, params).rowcount
    if changed != 1:
        return False
    conn.execute(
        _FINISH_ATTEMPT,
        {
            "p_attempt": attempt_id,
            "p_status": attempt_status,
            "p_now": now,
            "p_error": outcome.error,
            "p_transcript": transcript_path,
            "p_usage": usage,
            "p_skill_version": skill_version,
            "p_executor": executor,
        },
    )
    detail: dict[str, Any] = {"attempt_id": attempt_id}
    if outcome.error:
        detail["error"] = outcome.error
        detail["error_code"] = outcome.error_code
    if outcome.retry_after_s is not None:
        detail["retry_after_s"] = outcome.retry_after_s
    events.status(task, S.RUNNING, outcome.status, **detail)
    if outcome.outputs is not None:
        events.add("outputs", task["project_id"], task["id"], attempt_id=attempt_id)
    if outcome.status is S.COMPLETED:
        promote_dependents(conn, events, [task["id"]], now)
    elif outcome.status in (S.FAILED, S.CANCELLED):
        block_downstream(conn, events, task["id"], now)
    return True


def promote_dependents(
    conn: Connection, events: EventWriter, completed: Sequence[str], now: float
) -> None:
    """Give each waiting dependent of ``completed`` the status its dependencies call for."""
    waiting: dict[str, Mapping[Any, Any]] = {}
    seen: dict[str, set[TaskStatus]] = defaultdict(set)
    if len(completed) == 1:  # the hot path: one query
        for found in conn.execute(_WAITING_WITH_STATUSES, {"p_id": completed[0]}):
            waiting[found.id] = {"id": found.id, "project_id": found.project_id}
            seen[found.id].add(S(found.status))
    else:
        for chunk in chunks(completed):
            for planned in conn.execute(_WAITING_DEPENDENTS, {"p_ids": list(chunk)}):
                waiting[planned.id] = planned._mapping
        for chunk in chunks(list(waiting)):
            for task_id, status in conn.execute(_DEPENDENCY_STATUSES, {"p_ids": list(chunk)}):
                seen[task_id].add(S(status))
    if not waiting:
        return
    for task_id, dependent in waiting.items():
        new = lifecycle.readiness(seen[task_id])
        if new is S.PLANNED:
            continue
        params = {"p_id": task_id, "p_status": new.value, "p_now": now}
        if conn.execute(_MOVE_PLANNED, params).rowcount:
            events.status(dependent, S.PLANNED, new)


def block_downstream(conn: Connection, events: EventWriter, task_id: str, now: float) -> None:
    """Block every waiting task downstream of a failed or cancelled task (DESIGN §3)."""
    dependents = dependents_map(conn, task_id)
    everyone = [d for d in dependents if d != task_id]
    if not everyone:
        return
    rows: dict[str, Mapping[Any, Any]] = {}
    for chunk in chunks(everyone):
        for found in conn.execute(_STATUSES_OF, {"p_ids": list(chunk)}):
            rows[found.id] = found._mapping
    statuses = {i: S(r["status"]) for i, r in rows.items()}
    error = f"blocked: upstream task {task_id} did not complete"
    for blocked in lifecycle.tasks_to_block(task_id, dependents, statuses):
        row = rows[blocked]
        if conn.execute(_BLOCK, {"p_id": blocked, "p_now": now, "p_error": error}).rowcount:
            events.status(row, row["status"], S.BLOCKED, blocked_by=task_id)
