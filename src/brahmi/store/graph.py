"""Moving tasks through the graph inside a transaction (DESIGN §3, §4).

The operations every transition shares: a completion promotes waiting dependents, a
failure blocks what waits downstream, a reset task gets the status its dependencies call
for, and a parent with sub-tasks runs them one after another. Each reads the small part
of the graph its rule needs, asks :mod:`brahmi.domain` what to do, and writes the answer
with updates that name the status they expect. Hot-path statements are built once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import String, bindparam, cast, func, literal, literal_column, select, update
from sqlalchemy.engine import Connection

from brahmi.domain import lifecycle
from brahmi.domain.models import TaskStatus
from brahmi.domain.subtasks import Sibling, next_subtask
from brahmi.store import driver
from brahmi.store import tables as t
from brahmi.store.events import EventWriter
from brahmi.store.rows import chunks, dependents_map

S = TaskStatus
_tasks = t.tasks.c
_deps = t.task_dependencies.c

#: What promotion reads of a waiting dependent: enough to move it, and to claim it in the
#: same transaction in claim order (``task_order``, creation time, id) and by runtime.
_DEPENDENT_COLUMNS = ("id", "project_id", "has_subtasks", "task_order", "created_at", "runtime")

_d1 = t.task_dependencies.alias("d1")
_d2 = t.task_dependencies.alias("d2")
_waiting = t.tasks.alias("waiting")
_upstream = t.tasks.alias("upstream")
#: For one completed task: each planned dependent, with the status of one dependency that
#: has not completed (NULL when all have). The subquery stops at the first such dependency,
#: so a task waiting on n others costs a few lookups per completion instead of n (a fan-in
#: of n would otherwise cost n² over the graph's run). One status is enough because the
#: engine never leaves a ``planned`` task beside a failed, cancelled or blocked dependency:
#: ``block_downstream`` blocks it in the transaction that ended the dependency.
#: The status test on ``waiting`` is on an expression (``status || ''``) so no index serves
#: it: SQLite would otherwise start from every planned task of the database instead of the
#: completed task's few dependents.
_UNFINISHED = (
    select(_upstream.c.status)
    .select_from(_d2.join(_upstream, _upstream.c.id == _d2.c.depends_on_id))
    .where(_d2.c.task_id == _waiting.c.id, _upstream.c.status != S.COMPLETED.value)
    .limit(1)
    .scalar_subquery()
)
_WAITING_JOIN = _d1.join(
    _waiting,
    (_waiting.c.id == _d1.c.task_id) & ((_waiting.c.status + literal("")) == S.PLANNED.value),
)
_WAITING_WITH_UNFINISHED = (
    select(*(_waiting.c[c] for c in _DEPENDENT_COLUMNS), _UNFINISHED.label("unfinished"))
    .select_from(_WAITING_JOIN)
    .where(_d1.c.depends_on_id == bindparam("p_id"))
)


def _waiting_with_unfinished_of(completed: Any) -> Any:
    """The same for several completed tasks at once (``completed``: a subquery or list of
    ids): each planned dependent once, however many of them it depends on (a fan-in's
    task is looked at once per transaction)."""
    return select(
        *(_waiting.c[c] for c in _DEPENDENT_COLUMNS), _UNFINISHED.label("unfinished")
    ).where(
        _waiting.c.id.in_(select(_d1.c.task_id).where(_d1.c.depends_on_id.in_(completed))),
        (_waiting.c.status + literal("")) == S.PLANNED.value,
    )


_WAITING_WITH_UNFINISHED_OF_ANY = _waiting_with_unfinished_of(bindparam("p_ids", expanding=True))
#: SQLite: the ids as one JSON array (``p_ids_json``), so the statement is run at the
#: driver's speed (an expanding ``IN`` list is rendered by SQLAlchemy for each call).
_WAITING_WITH_UNFINISHED_OF_JSON = _waiting_with_unfinished_of(
    select(literal_column("value")).select_from(
        func.json_each(bindparam("p_ids_json", type_=String))
    )
)
_DEPENDENCY_STATUSES = (
    select(_deps.task_id, _tasks.status)
    .select_from(t.task_dependencies.join(t.tasks, _tasks.id == _deps.depends_on_id))
    .where(_deps.task_id.in_(bindparam("p_ids", expanding=True)))
    .distinct()
)
#: PostgreSQL: lock the planned dependents of completed tasks, in id order, before reading
#: their dependencies' statuses. Without it, two workers completing the two dependencies
#: of one task at once (READ COMMITTED) each see the other's still running, and neither
#: promotes it: it would wait forever. The lock makes the second wait for the first to
#: commit, and its next statement sees that commit. SQLite's BEGIN IMMEDIATE already
#: serialises writers.
_LOCK_WAITING_DEPENDENTS = (
    select(_tasks.id)
    .select_from(t.task_dependencies.join(t.tasks, _tasks.id == _deps.task_id))
    .where(_deps.depends_on_id.in_(bindparam("p_ids", expanding=True)))
    .where(_tasks.status == S.PLANNED.value)
    .order_by(_tasks.id)
    .with_for_update(of=t.tasks)
)
_MOVE_PLANNED = (
    update(t.tasks)
    .where((_tasks.id == bindparam("p_id")) & (_tasks.status == S.PLANNED.value))
    .values(status=bindparam("p_status"), updated_at=bindparam("p_now"), run_after=0.0)
)
#: Promote a waiting task straight to ``running`` for the worker completing its dependency
#: (see :class:`ClaimSlots`): the claim's own update, on one row known by id.
_PROMOTE_AND_CLAIM = (
    update(t.tasks)
    .where((_tasks.id == bindparam("p_id")) & (_tasks.status == S.PLANNED.value))
    .values(
        status=S.RUNNING.value,
        attempts=_tasks.attempts + 1,
        current_attempt_id=_tasks.id + ":" + cast(_tasks.attempts + 1, String),
        lease_owner=bindparam("p_owner"),
        lease_expires_at=bindparam("p_expires"),
        started_at=func.coalesce(_tasks.started_at, bindparam("p_now")),
        updated_at=bindparam("p_now"),
        run_after=0.0,
    )
    .returning(*t.tasks.c)
)
_ROWS_OF = select(
    _tasks.id, _tasks.project_id, _tasks.status, _tasks.has_subtasks, _tasks.parent_id
).where(_tasks.id.in_(bindparam("p_ids", expanding=True)))
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
_SIBLINGS = (
    select(_tasks.id, _tasks.position, _tasks.status, _tasks.task_name, _tasks.project_id)
    .where(_tasks.parent_id == bindparam("p_parent"))
    .order_by(_tasks.position)
)


@dataclass(slots=True)
class ClaimSlots:
    """A worker's free slots, for the tasks a transaction makes ready (DESIGN §3, §9).

    Set on the transaction's :class:`EventWriter` by a worker recording results while it
    knows no other task to be ready: a dependent whose last dependency completes here then
    goes from ``planned`` to ``running`` for this worker in one update (both status
    changes logged), instead of becoming ``ready`` and being claimed by another statement.
    Tasks made ready beyond the free slots, or that this worker cannot run, stay ``ready``.
    """

    worker_id: str
    free: int
    now: float
    lease_s: float
    #: Claim only tasks whose runtime is one of these; None: any task.
    runtimes: Sequence[str] | None = None
    #: The tasks rows claimed so far, as the claim statement returns them.
    claimed: list[dict[str, Any]] = field(default_factory=list)

    def take(self, conn: Connection, row: Mapping[str, Any]) -> bool:
        """Claim the waiting task ``row`` (a dependent row) if a slot is free; True if so."""
        if self.free <= 0 or (self.runtimes is not None and row["runtime"] not in self.runtimes):
            return False
        params = {
            "p_id": row["id"],
            "p_owner": self.worker_id,
            "p_expires": self.now + self.lease_s,
            "p_now": self.now,
        }
        rows = driver.typed(conn, t.tasks, driver.execute(conn, _PROMOTE_AND_CLAIM, params).rows)
        if not rows:
            return False
        self.claimed.append(rows[0])
        self.free -= 1
        return True


def rows_of(conn: Connection, ids: Iterable[str]) -> dict[str, Mapping[Any, Any]]:
    """``id``, ``project_id``, ``status``, ``has_subtasks``, ``parent_id`` of tasks by id."""
    found: dict[str, Mapping[Any, Any]] = {}
    for chunk in chunks(list(ids)):
        for row in conn.execute(_ROWS_OF, {"p_ids": list(chunk)}):
            found[row.id] = row._mapping
    return found


def promote_dependents(
    conn: Connection, events: EventWriter, completed: Sequence[str], now: float
) -> None:
    """Give each waiting dependent of ``completed`` the status its dependencies call for.

    One query for all of ``completed`` (a transaction that records several results
    promotes their dependents together, after every result is recorded): each planned
    dependent comes with one dependency that has not completed, if any.
    """
    waiting: dict[str, Mapping[Any, Any]] = {}
    seen: dict[str, set[TaskStatus]] = defaultdict(set)
    lock_waiting_dependents(conn, completed)
    if len(completed) == 1:  # the hot path: one query at the driver's speed
        found_rows: Iterable[Any] = driver.execute(
            conn, _WAITING_WITH_UNFINISHED, {"p_id": completed[0]}
        )
    elif conn.dialect.name == "sqlite":
        found_rows = driver.execute(
            conn, _WAITING_WITH_UNFINISHED_OF_JSON, {"p_ids_json": driver.dumps(list(completed))}
        )
    else:
        found_rows = [
            row
            for chunk in chunks(completed)
            for row in conn.execute(_WAITING_WITH_UNFINISHED_OF_ANY, {"p_ids": list(chunk)})
        ]
    for found in found_rows:
        waiting[found.id] = found._mapping
        seen[found.id].add(S.COMPLETED)
        if found.unfinished is not None:
            seen[found.id].add(S(found.unfinished))
    order: Iterable[tuple[str, Mapping[Any, Any]]] = waiting.items()
    if events.claim_slots is not None and len(waiting) > 1:  # claimed best first
        order = sorted(
            order, key=lambda kv: (kv[1]["task_order"], kv[1]["created_at"], kv[1]["id"])
        )
    for task_id, dependent in order:
        _move_planned(conn, events, dependent, lifecycle.readiness(seen[task_id]), now)


def lock_waiting_dependents(conn: Connection, task_ids: Sequence[str]) -> None:
    """PostgreSQL: lock the planned dependents of ``task_ids`` (in id order) until commit.

    A transaction recording several results locks them all up front, in one order, so two
    such transactions cannot each hold what the other waits for. No-op on SQLite.
    """
    if conn.dialect.name != "postgresql":
        return
    for chunk in chunks(sorted(task_ids)):
        conn.execute(_LOCK_WAITING_DEPENDENTS, {"p_ids": list(chunk)}).all()


def settle(conn: Connection, events: EventWriter, task_ids: Iterable[str], now: float) -> None:
    """Give each ``planned`` task among ``task_ids`` the status its dependencies call for.

    Used after a task was reset (retry, rebuild, resume): with every dependency completed
    it becomes ``ready`` (a parent with sub-tasks starts them instead); with one failed,
    ``blocked``.
    """
    rows = {i: r for i, r in rows_of(conn, task_ids).items() if r["status"] == S.PLANNED.value}
    if not rows:
        return
    seen: dict[str, set[TaskStatus]] = defaultdict(set)
    for chunk in chunks(list(rows)):
        for task_id, status in conn.execute(_DEPENDENCY_STATUSES, {"p_ids": list(chunk)}):
            seen[task_id].add(S(status))
    for task_id, row in rows.items():
        if row["parent_id"] is not None:
            continue  # a sub-task waits for its turn; advance_parent decides it
        _move_planned(conn, events, row, lifecycle.readiness(seen[task_id]), now)


def _move_planned(
    conn: Connection, events: EventWriter, row: Mapping[Any, Any], new: TaskStatus, now: float
) -> None:
    if new is S.PLANNED:
        return
    if new is S.READY and row["has_subtasks"]:
        advance_parent(conn, events, row["id"], now)  # DESIGN §4: no agent of its own
        return
    slots = events.claim_slots
    if new is S.READY and slots is not None and "runtime" in row and slots.take(conn, row):
        events.status(row, S.PLANNED, S.READY)  # the claim logs ready → running
        return
    if driver.execute(
        conn, _MOVE_PLANNED, {"p_id": row["id"], "p_status": new.value, "p_now": now}
    ).rowcount:
        events.status(row, S.PLANNED, new)


def block_downstream(conn: Connection, events: EventWriter, task_id: str, now: float) -> None:
    """Block every waiting task downstream of a failed or cancelled task (DESIGN §3)."""
    dependents = dependents_map(conn, task_id)
    everyone = [d for d in dependents if d != task_id]
    if not everyone:
        return
    rows = rows_of(conn, everyone)
    statuses = {i: S(r["status"]) for i, r in rows.items()}
    error = f"blocked: upstream task {task_id} did not complete"
    for blocked in lifecycle.tasks_to_block(task_id, dependents, statuses):
        row = rows[blocked]
        if conn.execute(_BLOCK, {"p_id": blocked, "p_now": now, "p_error": error}).rowcount:
            events.status(row, row["status"], S.BLOCKED, blocked_by=task_id)


# -- sub-tasks (DESIGN §4) ------------------------------------------------------------------


def siblings_of(conn: Connection, parent_id: str) -> list[Sibling]:
    """The sub-tasks of ``parent_id`` in position order."""
    return [
        Sibling(r.id, r.position, S(r.status), r.task_name)
        for r in conn.execute(_SIBLINGS, {"p_parent": parent_id})
    ]


def advance_parent(conn: Connection, events: EventWriter, parent_id: str, now: float) -> None:
    """Run a parent's next sub-task, or complete the parent when none is left (DESIGN §4).

    The parent becomes (or stays) ``running`` without an agent while its sub-tasks run
    one after another; the first that has not completed becomes ``ready``. With every
    sub-task completed, the parent completes (``subtasks_completed``) and its dependents
    are promoted.
    """
    parent = conn.execute(select(t.tasks).where(_tasks.id == parent_id)).first()
    if parent is None or (S(parent.status).is_terminal and parent.status != S.COMPLETED.value):
        return
    siblings = siblings_of(conn, parent_id)
    upcoming = next_subtask(siblings)
    if upcoming is None:
        if parent.status != S.COMPLETED.value:
            _complete_parent(conn, events, parent._mapping, siblings, now)
        return
    if parent.status != S.RUNNING.value:
        conn.execute(
            update(t.tasks)
            .where(_tasks.id == parent_id, _tasks.status == parent.status)
            .values(
                status=S.RUNNING.value,
                started_at=func.coalesce(_tasks.started_at, now),
                finished_at=None,
                updated_at=now,
                subtasks_completed=False,
            )
        )
        events.status(parent._mapping, parent.status, S.RUNNING, subtasks=len(siblings))
    if (
        upcoming.status is S.PLANNED
        and conn.execute(
            _MOVE_PLANNED, {"p_id": upcoming.id, "p_status": S.READY.value, "p_now": now}
        ).rowcount
    ):
        events.status(
            {"id": upcoming.id, "project_id": parent.project_id},
            S.PLANNED,
            S.READY,
            parent_id=parent_id,
            position=upcoming.position,
        )


def _complete_parent(
    conn: Connection,
    events: EventWriter,
    parent: Mapping[Any, Any],
    siblings: Sequence[Sibling],
    now: float,
) -> None:
    outputs = dict(parent["outputs"] or {})
    outputs["subtasks"] = [
        {"task_id": s.id, "position": s.position, "task_name": s.task_name} for s in siblings
    ]
    changed = conn.execute(
        update(t.tasks)
        .where(_tasks.id == parent["id"], _tasks.status == parent["status"])
        .values(
            status=S.COMPLETED.value,
            subtasks_completed=True,
            outputs=outputs,
            error=None,
            error_code=None,
            finished_at=now,
            updated_at=now,
        )
    ).rowcount
    if changed:
        events.status(parent, parent["status"], S.COMPLETED, subtasks_completed=True)
        promote_dependents(conn, events, [parent["id"]], now)


def fail_parent(
    conn: Connection,
    events: EventWriter,
    subtask: Mapping[Any, Any],
    error: str | None,
    now: float,
) -> None:
    """A sub-task failed or was cancelled: its parent fails; completed siblings keep their
    outputs (the checkpoint), later ones stay ``planned`` (DESIGN §4)."""
    parent = conn.execute(select(t.tasks).where(_tasks.id == subtask["parent_id"])).first()
    if parent is None or parent.status != S.RUNNING.value:
        return
    message = f"sub-task {subtask['position']} ({subtask['task_name']}) did not complete: {error}"
    changed = conn.execute(
        update(t.tasks)
        .where(_tasks.id == parent.id, _tasks.status == S.RUNNING.value)
        .values(
            status=S.FAILED.value,
            error=message,
            error_code="subtask_failed",
            finished_at=now,
            updated_at=now,
            lease_owner=None,
            lease_expires_at=None,
        )
    ).rowcount
    if changed:
        events.status(parent._mapping, S.RUNNING, S.FAILED, subtask_id=subtask["id"])
        block_downstream(conn, events, parent.id, now)
