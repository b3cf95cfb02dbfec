"""What people and planners do to tasks: add sub-tasks, retry, cancel, resume.

Each function runs inside the caller's transaction, checks the statuses it expects, and
raises a :class:`~brahmi.errors.BrahmiError` with a stable code (changing nothing) when the
operation does not apply (DESIGN §3, §4, §6).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection, Row

from brahmi import errors
from brahmi.domain.models import NewTask, TaskStatus
from brahmi.domain.subtasks import Sibling, insertion_position
from brahmi.store import tables as t
from brahmi.store.events import EventWriter
from brahmi.store.graph import (
    advance_parent,
    block_downstream,
    fail_parent,
    rows_of,
    settle,
    siblings_of,
)
from brahmi.store.loop import reset_task
from brahmi.store.rows import dependents_map, upstream_of

S = TaskStatus
_tasks = t.tasks.c

#: Statuses a retry applies to.
RETRYABLE = frozenset({S.FAILED, S.BLOCKED, S.CANCELLED})
#: Statuses ``resume_task(mode="continue")`` applies to.
RESUMABLE = frozenset({S.COMPLETED, S.FAILED, S.CANCELLED})


def load(conn: Connection, task_id: str) -> Row[Any]:
    """The task row, for an update in this transaction.

    Raises:
        TaskNotFound: When there is none.
    """
    row = conn.execute(select(t.tasks).where(_tasks.id == task_id)).first()
    if row is None:
        raise errors.TaskNotFound(f"no task has the id {task_id!r}", task_id=task_id)
    return row


# -- sub-tasks ------------------------------------------------------------------------------


def create_subtask(
    conn: Connection,
    events: EventWriter,
    parent_id: str,
    spec: NewTask,
    now: float,
    *,
    position: int | None = None,
    after: str | None = None,
    runtime: str | None = None,
) -> str:
    """Add a sub-task to ``parent_id`` (DESIGN §4); returns its id.

    ``runtime`` is the runtime chosen for it (stored so that workers claim only what they
    can run).

    It inherits the parent's project, user and ``task_order``; it runs when its turn comes
    in position order. Added to a parent that is ready but not yet claimed, it makes the
    parent run its sub-tasks instead of an agent of its own; added while the parent's
    agent runs, it waits for that run to end (dynamic discovery).

    Raises:
        TaskNotFound: No such parent.
        SubtaskNesting: The parent is itself a sub-task.
        InvalidTransition: The parent is completed or cancelled; bad ``position``/``after``.
        InsertionBeforeStarted: A sibling at or after the position started or finished.
    """
    parent = load(conn, parent_id)
    if parent.parent_id is not None:
        raise errors.SubtaskNesting(
            f"task {parent_id} is a sub-task; sub-tasks are one level deep",
            parent_task_id=parent_id,
        )
    if parent.status in (S.COMPLETED.value, S.CANCELLED.value):
        raise errors.InvalidTransition(
            f"task {parent_id} is {parent.status}; sub-tasks go to a task that has not finished",
            task_id=parent_id,
            status=parent.status,
        )
    siblings = siblings_of(conn, parent_id)
    at = insertion_position(siblings, position=position, after=after)
    conn.execute(
        update(t.tasks)
        .where(_tasks.parent_id == parent_id, _tasks.position >= at)
        .values(position=_tasks.position + 1, updated_at=now)
    )
    subtask_id = str(uuid.uuid4())
    conn.execute(
        insert(t.tasks),
        {
            "id": subtask_id,
            "project_id": parent.project_id,
            "user_id": parent.user_id,
            "parent_id": parent_id,
            "position": at,
            "batch_id": parent.batch_id,
            "skill_id": spec.skill_id,
            "runtime": runtime,
            "task_name": spec.task_name,
            "description": spec.description,
            "task_order": parent.task_order,
            "inputs": spec.inputs,
            "validation_criteria": spec.validation_criteria.to_dict(),
            "timeout_seconds": spec.timeout_seconds,
            "max_attempts": spec.max_attempts,
            "max_rebuilds": spec.max_rebuilds,
            "is_qa": False,
            "status": S.PLANNED.value,
            "attempts": 0,
            "rebuilds": 0,
            "subtasks_completed": False,
            "run_after": 0.0,
            "created_at": now,
            "updated_at": now,
        },
    )
    conn.execute(
        update(t.tasks).where(_tasks.id == parent_id).values(has_subtasks=True, updated_at=now)
    )
    events.add(
        "task_created",
        parent.project_id,
        subtask_id,
        parent_id=parent_id,
        position=at,
        status=S.PLANNED.value,
    )
    _demote_later_ready(conn, events, siblings, at, parent.project_id, now)
    running_own_agent = parent.status == S.RUNNING.value and parent.current_attempt_id
    if parent.status == S.READY.value or (
        parent.status == S.RUNNING.value and not running_own_agent
    ):
        if parent.status == S.READY.value:
            conn.execute(
                update(t.tasks)
                .where(_tasks.id == parent_id, _tasks.status == S.READY.value)
                .values(status=S.PLANNED.value, updated_at=now)
            )
        advance_parent(conn, events, parent_id, now)
    return subtask_id


def _demote_later_ready(
    conn: Connection,
    events: EventWriter,
    siblings: list[Sibling],
    at: int,
    project_id: str,
    now: float,
) -> None:
    """A sibling whose turn had come waits again behind the sub-task inserted before it."""
    for sibling in siblings:
        if sibling.position >= at and sibling.status is S.READY:
            changed = conn.execute(
                update(t.tasks)
                .where(_tasks.id == sibling.id, _tasks.status == S.READY.value)
                .values(status=S.PLANNED.value, updated_at=now)
            ).rowcount
            if changed:
                events.status(
                    {"id": sibling.id, "project_id": project_id},
                    S.READY,
                    S.PLANNED,
                    reason="a sub-task was inserted before it",
                )


# -- retry ----------------------------------------------------------------------------------


def retry(conn: Connection, events: EventWriter, task_id: str, now: float) -> str:
    """Run a failed, blocked or cancelled task again, with what it blocked (DESIGN §3).

    A blocked task is retried through the failed or cancelled tasks upstream that block
    it; a sub-task through its parent, which resumes at its first sub-task not completed
    (the checkpoint, DESIGN §4). A QA task starts a fresh correctness loop; its earlier
    turns stay in its history.

    Returns:
        The id of the task that was actually reset (``task_id``, its parent, or the
        blocking task).

    Raises:
        TaskNotFound: No such task.
        InvalidTransition: The task is planned, ready, running or completed.
    """
    row = load(conn, task_id)
    if row.parent_id is not None:
        parent = load(conn, row.parent_id)
        if S(parent.status) not in RETRYABLE:
            raise errors.InvalidTransition(
                f"sub-task {task_id} runs within its parent, which is {parent.status}",
                task_id=task_id,
                status=row.status,
            )
        row = parent
    status = S(row.status)
    if status not in RETRYABLE:
        raise errors.InvalidTransition(
            f"task {row.id} is {status.value}; only failed, blocked or cancelled tasks are retried",
            task_id=row.id,
            status=status.value,
        )
    roots = [row.id] if status is not S.BLOCKED else _blocking_roots(conn, row.id)
    for root in roots or [row.id]:
        _retry_one(conn, events, load(conn, root), now)
    return row.id if status is not S.BLOCKED or not roots else roots[0]


def _blocking_roots(conn: Connection, task_id: str) -> list[str]:
    upstream = rows_of(conn, upstream_of(conn, [task_id]))
    return sorted(
        i for i, r in upstream.items() if r["status"] in (S.FAILED.value, S.CANCELLED.value)
    )


def _retry_one(conn: Connection, events: EventWriter, row: Row[Any], now: float) -> None:
    conn.execute(
        insert(t.task_history),
        {
            "task_id": row.id,
            "kind": "retry",
            "turn": None,
            "data": {
                "previous_status": row.status,
                "error": row.error,
                "error_code": row.error_code,
            },
            "created_at": now,
        },
    )
    reset_task(conn, events, row._mapping, now, reason="retry")
    if row.is_qa:
        conn.execute(update(t.tasks).where(_tasks.id == row.id).values(rebuilds=0))
    if row.has_subtasks:
        for sibling in siblings_of(conn, row.id):
            if sibling.status in (S.FAILED, S.CANCELLED, S.BLOCKED):
                reset_task(conn, events, load(conn, sibling.id)._mapping, now, reason="retry")
    _unblock_downstream(conn, events, row.id, now)
    settle(conn, events, [row.id], now)


def _unblock_downstream(conn: Connection, events: EventWriter, task_id: str, now: float) -> None:
    """What ``task_id`` blocked waits again (``planned``) instead of staying blocked."""
    everyone = {d for ds in dependents_map(conn, task_id).values() for d in ds}
    for other, row in rows_of(conn, everyone).items():
        if row["status"] != S.BLOCKED.value:
            continue
        changed = conn.execute(
            update(t.tasks)
            .where(_tasks.id == other, _tasks.status == S.BLOCKED.value)
            .values(status=S.PLANNED.value, error=None, error_code=None, updated_at=now)
        ).rowcount
        if changed:
            events.status(row, S.BLOCKED, S.PLANNED, reason=f"retry of {task_id}")


# -- cancel ---------------------------------------------------------------------------------


def cancel(conn: Connection, events: EventWriter, task_id: str, now: float, reason: str) -> None:
    """Cancel a task that has not finished; its dependents become ``blocked`` (DESIGN §3).

    A running attempt is fenced out at once (its worker stops it at its next heartbeat).
    Cancelling a parent cancels its unfinished sub-tasks; cancelling a sub-task fails its
    parent (the checkpoint rule, DESIGN §4).

    Raises:
        TaskNotFound: No such task.
        InvalidTransition: The task already finished.
    """
    row = load(conn, task_id)
    if S(row.status).is_terminal:
        raise errors.InvalidTransition(
            f"task {task_id} is already {row.status}", task_id=task_id, status=row.status
        )
    _cancel_one(conn, events, row._mapping, now, reason)
    if row.has_subtasks:
        for sibling in siblings_of(conn, task_id):
            if not sibling.status.is_terminal:
                _cancel_one(conn, events, load(conn, sibling.id)._mapping, now, reason)
    if row.parent_id is not None:
        fail_parent(conn, events, row._mapping, reason, now)
    block_downstream(conn, events, task_id, now)


def _cancel_one(
    conn: Connection, events: EventWriter, row: Mapping[Any, Any], now: float, reason: str
) -> None:
    changed = conn.execute(
        update(t.tasks)
        .where(_tasks.id == row["id"], _tasks.status == row["status"])
        .values(
            status=S.CANCELLED.value,
            error=reason,
            error_code="cancelled",
            updated_at=now,
            finished_at=now,
            lease_owner=None,
            lease_expires_at=None,
        )
    ).rowcount
    if not changed:
        return
    if row["current_attempt_id"] and row["status"] == S.RUNNING.value:
        conn.execute(
            update(t.attempts)
            .where(t.attempts.c.id == row["current_attempt_id"])
            .values(status="cancelled", finished_at=now, error=reason)
        )
    events.status(row, row["status"], S.CANCELLED, reason=reason)


# -- resume ---------------------------------------------------------------------------------


def resume(
    conn: Connection, events: EventWriter, task_id: str, message: str, mode: str, now: float
) -> None:
    """``resume_task(mode="continue")``: run a finished task again with ``message`` (§6).

    The task goes back to ``planned`` with the message waiting for its next run (in its
    agent session where the runtime has one; the command runtime gets it on stdin); its
    old outputs go to its history, and completed (or blocked) work downstream waits again.
    Resuming a sub-task re-runs it within its parent.

    Raises:
        TaskNotFound: No such task.
        InvalidTransition: The task has not finished, or is a parent with sub-tasks.
    """
    row = load(conn, task_id)
    status = S(row.status)
    if status not in RESUMABLE:
        raise errors.InvalidTransition(
            f"task {task_id} is {status.value}; resume_task continues a finished task",
            task_id=task_id,
            status=status.value,
        )
    if row.has_subtasks:
        raise errors.InvalidTransition(
            f"task {task_id} ran as a sequence of sub-tasks; resume the sub-task to redo",
            task_id=task_id,
        )
    conn.execute(
        insert(t.task_history),
        {
            "task_id": task_id,
            "kind": "resume",
            "turn": None,
            "data": {
                "message": message,
                "mode": mode,
                "previous_status": row.status,
                "previous_outputs": row.outputs,
            },
            "created_at": now,
        },
    )
    reset_task(conn, events, row._mapping, now, reason="resume")
    conn.execute(
        update(t.tasks)
        .where(_tasks.id == task_id)
        .values(pending_resume={"message": message, "mode": mode})
    )
    events.add("resumed", row.project_id, task_id, mode=mode)
    stale_root = row.parent_id or task_id
    if row.parent_id is not None:
        parent = load(conn, row.parent_id)
        if parent.status != S.RUNNING.value:
            reset_task(conn, events, parent._mapping, now, reason="sub-task resumed")
        # Later siblings built on this one's work: they run again after it (DESIGN §4 order).
        for sibling in siblings_of(conn, row.parent_id):
            if sibling.position > row.position and sibling.status is S.COMPLETED:
                later = load(conn, sibling.id)
                reset_task(conn, events, later._mapping, now, reason=f"resume of {task_id}")
    _replan_after_resume(conn, events, stale_root, now)
    if row.parent_id is not None:
        settle(conn, events, [row.parent_id], now)
    else:
        settle(conn, events, [task_id], now)


def _replan_after_resume(conn: Connection, events: EventWriter, task_id: str, now: float) -> None:
    everyone = {d for ds in dependents_map(conn, task_id).values() for d in ds}
    for other in everyone:
        row = load(conn, other)
        if row.status in (S.COMPLETED.value, S.READY.value, S.RUNNING.value, S.BLOCKED.value):
            reset_task(conn, events, row._mapping, now, reason=f"resume of {task_id}")
            if row.has_subtasks:
                for sibling in siblings_of(conn, other):
                    reset_task(conn, events, load(conn, sibling.id)._mapping, now, reason="resume")


__all__ = ["RESUMABLE", "RETRYABLE", "cancel", "create_subtask", "resume", "retry"]
