"""Transactional operations on tasks, attempts and events (DESIGN §3, §9).

Every public method is one transaction. A transition names the status it expects in its
``WHERE`` clause, so two workers or two requests can never both win; the decisions come
from :mod:`brahmi.domain.lifecycle` through :mod:`brahmi.store.transitions`.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Engine,
    Row,
    bindparam,
    event,
    func,
    insert,
    literal,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from brahmi import errors
from brahmi.domain import lifecycle
from brahmi.domain.models import (
    AttemptRecord,
    EventRecord,
    ExistingTask,
    HistoryRecord,
    NewTask,
    TaskRecord,
    TaskStatus,
)
from brahmi.store import controls, projects
from brahmi.store import tables as t
from brahmi.store.bulk import bulk_insert
from brahmi.store.claims import AttemptResult, WorkerOperations
from brahmi.store.database import reading
from brahmi.store.events import EventWriter
from brahmi.store.notify import ReadyListener
from brahmi.store.projects import ProjectRecord
from brahmi.store.rows import chunks, dependencies_of, task_record, upstream_of
from brahmi.store.sqlite_watch import DataVersionWatcher
from brahmi.store.wal_writeback import WRITEBACK_INTERVAL_S, WalWriteback
from brahmi.store.workers import WorkerDirectory

log = logging.getLogger(__name__)

S = TaskStatus
_tasks = t.tasks.c
#: Statuses with a partial index of their own (``tables.IS_READY``, ``IS_RUNNING``).
_ACTIVE = frozenset({S.READY, S.RUNNING})
#: Seconds between the creation times of consecutive tasks of one batch.
CREATION_STEP_S = 1e-6

_TASK_BY_ID = select(t.tasks).where(_tasks.id == bindparam("p_id"))
#: Where a task is in listing order: ``(task_order, created_at, id)``.
TaskKey = tuple[int, float, str]


def _runtimes_with_status(
    conn: Connection, project_id: str, status: TaskStatus
) -> list[str | None]:
    """The runtimes of the project's tasks of ``status`` (None first, for older rows that
    have none), each found by one seek in ``ix_tasks_project_status`` (project, status,
    runtime, …): a handful of seeks, however many tasks there are."""
    of_status = (_tasks.project_id == project_id) & t.has_status(status)
    found: list[str | None] = []
    if conn.execute(select(_tasks.id).where(of_status, _tasks.runtime.is_(None)).limit(1)).first():
        found.append(None)
    runtime = conn.execute(select(func.min(_tasks.runtime)).where(of_status)).scalar()
    while runtime is not None:
        found.append(runtime)
        runtime = conn.execute(
            select(func.min(_tasks.runtime)).where(of_status, _tasks.runtime > runtime)
        ).scalar()
    return found


def _status_page(
    conn: Connection,
    project_id: str,
    status: TaskStatus,
    top_level: bool,
    limit: int | None,
    after: TaskKey | None,
) -> list[Row[Any]]:
    """A page of the project's tasks of ``status`` in listing order, read from
    ``ix_tasks_project_status`` in order for each runtime (at most ``limit`` rows each)
    and merged by the database: bounded by the page and the number of runtimes, not by
    how many tasks the project has (walking ``ix_tasks_project_order`` for a rare status
    read the whole project)."""
    branches = []
    for runtime in _runtimes_with_status(conn, project_id, status):
        branch = select(t.tasks).where(
            _tasks.project_id == project_id,
            t.has_status(status),
            _tasks.runtime.is_(None) if runtime is None else _tasks.runtime == runtime,
        )
        if top_level:
            branch = branch.where(_tasks.parent_id.is_(None))
        if after is not None:
            branch = branch.where(
                tuple_(_tasks.task_order, _tasks.created_at, _tasks.id) > tuple_(*after)
            )
        branches.append(
            branch.order_by(_tasks.task_order, _tasks.created_at, _tasks.id).limit(limit)
        )
    if not branches:
        return []
    if len(branches) == 1:
        return list(conn.execute(branches[0]).all())
    merged = union_all(*(select(b.subquery()) for b in branches)).subquery()
    query = select(merged).order_by(merged.c.task_order, merged.c.created_at, merged.c.id)
    return list(conn.execute(query.limit(limit)).all())


def task_key(task: TaskRecord) -> TaskKey:
    """``task``'s place in listing order, to list the tasks after it."""
    return (task.task_order, task.created_at, task.id)


@dataclass(frozen=True, slots=True)
class BoundTask:
    """A normalised task with its stored id, dependency ids and critiqued ids."""

    id: str
    spec: NewTask
    dependencies: Sequence[str]
    critiques: Sequence[str]
    #: The runtime chosen for it (DESIGN §6), or None to choose when it runs.
    runtime: str | None = None


class TaskStore(WorkerOperations, WorkerDirectory):
    """Projects, tasks, attempts and events in one database.

    Args:
        engine: From :func:`brahmi.store.database.create_db_engine`, already migrated.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._skip_locked = engine.dialect.name == "postgresql"
        #: PostgreSQL: the server process ids of this engine's connections (whose own
        #: notifications a listener in this process skips).
        self._backends: set[int] = set()
        if self._skip_locked:
            event.listen(engine, "checkout", self._note_backend)

    def _note_backend(self, dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        self._backends.add(int(dbapi_connection.info.backend_pid))

    def ready_listener(
        self,
        on_ready: Callable[[], None],
        runtimes: Sequence[str] | None = None,
        busy: Callable[[], bool] = lambda: False,
    ) -> ReadyListener | DataVersionWatcher:
        """What wakes an idle worker when another process makes tasks ready (not started):
        on PostgreSQL a ``LISTEN/NOTIFY`` listener; on a SQLite file a
        :class:`~brahmi.store.sqlite_watch.DataVersionWatcher`, which calls ``on_ready``
        only for tasks a worker serving ``runtimes`` (None: all) could claim, and looks
        less often while ``busy()`` (the worker has runs in flight)."""
        if self.engine.dialect.name == "postgresql":
            return ReadyListener(
                self.engine.url.render_as_string(hide_password=False), on_ready, self._backends
            )
        return DataVersionWatcher(self.engine.url.database or "", on_ready, runtimes, busy)

    def wal_writeback(self, interval_s: float) -> WalWriteback | None:
        """On a SQLite file, a :class:`~brahmi.store.wal_writeback.WalWriteback` syncing its
        WAL every ``interval_s`` seconds while it grows (not started); None on PostgreSQL
        or when ``interval_s`` is 0."""
        if self.engine.dialect.name != "sqlite" or interval_s <= 0:
            return None
        database = self.engine.url.database
        if not database:
            return None
        most = max(interval_s, WRITEBACK_INTERVAL_S[1])  # the longest wait while it is quiet
        return WalWriteback(str(Path(database).resolve()), (interval_s, most))

    # -- projects --------------------------------------------------------------------------

    def ensure_project(self, workspace: str, name: str, now: float) -> ProjectRecord:
        """The project whose workspace is ``workspace`` (absolute), created if new."""
        return projects.ensure_project(self.engine, workspace, name, now)

    def get_project(
        self, project_id: str, *, connection: Connection | None = None
    ) -> ProjectRecord:
        """The project with this id (``connection``: see
        :func:`~brahmi.store.projects.get_project`). Raises
        :class:`~brahmi.errors.ProjectNotFound`."""
        return projects.get_project(self.engine, project_id, connection=connection)

    # -- batches ---------------------------------------------------------------------------

    def existing_tasks(
        self, ids: Iterable[str], *, ancestors: bool = True
    ) -> dict[str, ExistingTask]:
        """What batch validation needs of the existing tasks ``ids`` (unknown ids left out).

        Args:
            ancestors: Fill ``ancestors`` with each task's transitive dependencies (a walk
                up the graph per task: only when a critique names an existing task).
        """
        wanted = list(set(ids))
        found: dict[str, ExistingTask] = {}
        if not wanted:
            return found
        with reading(self.engine) as conn:
            for chunk in chunks(wanted):
                rows = conn.execute(
                    select(_tasks.id, _tasks.status, _tasks.parent_id).where(_tasks.id.in_(chunk))
                ).all()
                for row in rows:
                    found[row.id] = ExistingTask(
                        row.id,
                        S(row.status),
                        row.parent_id is not None,
                        frozenset(upstream_of(conn, [row.id])) if ancestors else frozenset(),
                    )
        return found

    def find_batch(self, project_id: str, content_hash: str) -> str | None:
        """The newest batch of this project with this content hash, if any."""
        with reading(self.engine) as conn:
            found = conn.execute(
                select(t.batches.c.id)
                .where(
                    t.batches.c.project_id == project_id,
                    t.batches.c.content_hash == content_hash,
                )
                .order_by(t.batches.c.created_at.desc())
                .limit(1)
            ).scalar()
        return None if found is None else str(found)

    def insert_batch(
        self,
        *,
        project_id: str,
        user_id: str,
        batch_id: str,
        source: str | None,
        content_hash: str,
        tasks: Sequence[BoundTask],
        now: float,
        planner: tuple[str, int | None] | None = None,
    ) -> None:
        """Store a validated batch in one transaction (DESIGN §2).

        A task whose dependencies all completed starts ``ready``; one that depends on a
        failed, cancelled or blocked task starts ``blocked``; the rest ``planned``.

        Args:
            planner: ``(session id, trigger id)`` when a planner session creates the batch
                through its tools (DESIGN §7): recorded in the same transaction, so its
                tasks report back and a redelivered trigger finds it.
        """
        events = EventWriter(now)
        new_ids = {b.id for b in tasks}
        with self.engine.begin() as conn:
            outside = sorted({d for b in tasks for d in b.dependencies if d not in new_ids})
            statuses: dict[str, TaskStatus] = {}
            for chunk in chunks(outside):
                query = select(_tasks.id, _tasks.status).where(_tasks.id.in_(chunk))
                if conn.dialect.name == "postgresql":
                    # A dependency completing meanwhile would not see these new tasks (not
                    # committed yet) and leave them planned forever: hold its status still
                    # until this batch commits (SQLite serialises writers anyway).
                    query = query.order_by(_tasks.id).with_for_update(read=True)
                for row in conn.execute(query):
                    statuses[row.id] = S(row.status)
            conn.execute(
                insert(t.batches),
                {
                    "id": batch_id,
                    "project_id": project_id,
                    "source": source,
                    "content_hash": content_hash,
                    "created_at": now,
                },
            )
            rows = []
            for index, b in enumerate(tasks):
                status = lifecycle.readiness([statuses.get(d, S.PLANNED) for d in b.dependencies])
                # Creation times step by a microsecond in batch order, so tasks of equal
                # task_order start in the order the planner listed them.
                created_at = now + index * CREATION_STEP_S
                rows.append(_new_row(b, project_id, user_id, batch_id, status, created_at))
                events.add("task_created", project_id, b.id, batch_id=batch_id, status=status.value)
            bulk_insert(conn, t.tasks, rows)
            bulk_insert(
                conn,
                t.task_dependencies,
                [{"task_id": b.id, "depends_on_id": d} for b in tasks for d in b.dependencies],
            )
            bulk_insert(
                conn,
                t.task_critiques,
                [{"qa_task_id": b.id, "target_id": c} for b in tasks for c in b.critiques],
            )
            if planner is not None:
                conn.execute(
                    insert(t.planner_batches),
                    {
                        "batch_id": batch_id,
                        "session_id": planner[0],
                        "trigger_id": planner[1],
                        "content_hash": content_hash,
                    },
                )
            events.add("batch_created", project_id, None, batch_id=batch_id, tasks=len(rows))
            bulk_insert(conn, t.events, events.rows)

    # -- reading ---------------------------------------------------------------------------

    def get_task(self, task_id: str) -> TaskRecord:
        """The task with this id, with its dependency ids.

        Raises:
            TaskNotFound: When there is none.
        """
        with reading(self.engine) as conn:
            row = conn.execute(_TASK_BY_ID, {"p_id": task_id}).first()
            if row is None:
                raise errors.TaskNotFound(f"no task has the id {task_id!r}", task_id=task_id)
            deps = dependencies_of(conn, [task_id])
        return task_record(row._mapping, deps.get(task_id, ()))

    def list_tasks(
        self,
        *,
        project_id: str | None = None,
        batch_id: str | None = None,
        status: TaskStatus | None = None,
        parent_id: str | None = None,
        top_level: bool = False,
        limit: int | None = None,
        after: TaskKey | None = None,
    ) -> list[TaskRecord]:
        """Tasks in (``task_order``, creation) order, each parent followed by its sub-tasks
        in position order; filtered as asked (``top_level``: no sub-tasks).

        Args:
            after: Only tasks after this one in (``task_order``, ``created_at``, ``id``)
                order (see :func:`task_key`): the next page of a listing by ``limit``.
                Pages are in that order alone, with ``parent_id`` too (a sub-task is
                not moved next to its parent across pages; without paging, a parent's
                sub-tasks come in position order).
        """
        paged = after is not None or limit is not None
        # A project's tasks of one status, read without walking every task of the project
        # in order (``ix_tasks_project_order``), as SQLite would: a ready or running
        # status from its partial index, which holds the work in flight in this order (the
        # project compared as an expression leads no index); all the tasks of another
        # status from ``ix_tasks_project_status``, then sorted (an expression in the
        # ORDER BY that no index gives); a page of another status from the same index, in
        # order for each runtime (see _status_page).
        by_status = project_id is not None and parent_id is None and batch_id is None
        active = by_status and status in _ACTIVE
        gathered = by_status and status is not None and not active and not paged
        if by_status and paged and status is not None and not active:
            assert project_id is not None
            with reading(self.engine) as conn:
                page = _status_page(conn, project_id, status, top_level, limit, after)
                deps = dependencies_of(conn, [r.id for r in page])
            return [task_record(r._mapping, deps.get(r.id, ())) for r in page]
        query = select(t.tasks)
        if after is not None:
            query = query.where(
                tuple_(_tasks.task_order, _tasks.created_at, _tasks.id) > tuple_(*after)
            )
        project: ColumnElement[Any] = (
            _tasks.project_id + literal("") if active else _tasks.project_id
        )
        if parent_id is not None:
            query = query.where(_tasks.parent_id == parent_id)
        if parent_id is not None and not paged:
            query = query.order_by(_tasks.position)
        else:  # a page follows the order its cursor names, sub-tasks of one parent too
            order = _tasks.task_order + literal(0) if gathered else _tasks.task_order
            query = query.order_by(order, _tasks.created_at, _tasks.id)
        if project_id is not None:
            query = query.where(project == project_id)
        if top_level:
            query = query.where(_tasks.parent_id.is_(None))
        if batch_id is not None:
            query = query.where(_tasks.batch_id == batch_id)
        if status is not None:
            query = query.where(t.has_status(status))
        if limit is not None:
            query = query.limit(limit)
        with reading(self.engine) as conn:
            rows = conn.execute(query).all()
            deps = dependencies_of(conn, [r.id for r in rows])
        records = [task_record(r._mapping, deps.get(r.id, ())) for r in rows]
        return records if paged else _parents_first(records)

    def critique_edges(self, project_id: str) -> list[tuple[str, str]]:
        """Every ``(qa_task_id, target_id)`` pair of the project's ``critiques_tasks``
        (DESIGN §5), for drawing the graph."""
        qa = t.tasks.alias("qa")
        query = (
            select(t.task_critiques.c.qa_task_id, t.task_critiques.c.target_id)
            .select_from(t.task_critiques.join(qa, qa.c.id == t.task_critiques.c.qa_task_id))
            .where(qa.c.project_id == project_id)
        )
        with reading(self.engine) as conn:
            return [(str(a), str(b)) for a, b in conn.execute(query)]

    def status_counts(
        self,
        *,
        batch_id: str | None = None,
        project_id: str | None = None,
        top_level: bool = False,
    ) -> dict[TaskStatus, int]:
        """How many tasks are in each status (within a batch or project, or everywhere;
        ``top_level``: not counting sub-tasks)."""
        query = select(_tasks.status, func.count()).group_by(_tasks.status)
        if top_level:
            query = query.where(_tasks.parent_id.is_(None))
        if batch_id is not None:
            query = query.where(_tasks.batch_id == batch_id)
        if project_id is not None:
            query = query.where(_tasks.project_id == project_id)
        with reading(self.engine) as conn:
            return {S(status): int(count) for status, count in conn.execute(query)}

    def attempts_for(self, task_id: str) -> list[AttemptRecord]:
        """Every attempt of a task, oldest first."""
        with reading(self.engine) as conn:
            rows = conn.execute(
                select(t.attempts)
                .where(t.attempts.c.task_id == task_id)
                .order_by(t.attempts.c.number, t.attempts.c.started_at)
            ).all()
        return [AttemptRecord(**r._mapping) for r in rows]

    def events(
        self,
        *,
        after_id: int = 0,
        task_id: str | None = None,
        project_id: str | None = None,
        limit: int = 1000,
    ) -> list[EventRecord]:
        """Events with ``id > after_id``, oldest first.

        ``project_id`` reads ``ix_events_project``. ``task_id`` has no index since
        migration 0010 (no route reads one task's events; filing each event by task cost
        every hop two to four index pages): the log after ``after_id`` is read and filtered.
        """
        query = (
            select(t.events).where(t.events.c.id > after_id).order_by(t.events.c.id).limit(limit)
        )
        if task_id is not None:
            query = query.where(t.events.c.task_id == task_id)
        if project_id is not None:
            query = query.where(t.events.c.project_id == project_id)
        with reading(self.engine) as conn:
            return [EventRecord(**r._mapping) for r in conn.execute(query)]

    def add_event(
        self,
        project_id: str | None,
        task_id: str | None,
        kind: str,
        data: dict[str, Any],
        now: float,
    ) -> None:
        """Append one event on its own (most events come with the transition they record)."""
        with self.engine.begin() as conn:
            events = EventWriter(now)
            events.add(kind, project_id, task_id, **data)
            events.flush(conn)

    def last_event_id(self) -> int:
        """The id of the newest event, 0 when there is none."""
        with reading(self.engine) as conn:
            return int(conn.execute(select(func.max(t.events.c.id))).scalar() or 0)

    def resolve_task_id(self, prefix: str) -> str:
        """The id of the one task whose id starts with ``prefix`` (4 characters or more).

        Raises:
            TaskNotFound: When no task, or more than one, matches.
        """
        if len(prefix) < 4:
            raise errors.TaskNotFound(f"{prefix!r} is too short to name a task", task_id=prefix)
        with reading(self.engine) as conn:
            ids = list(
                conn.execute(
                    select(_tasks.id).where(_tasks.id.startswith(prefix, autoescape=True)).limit(2)
                ).scalars()
            )
        if len(ids) != 1:
            what = "no task" if not ids else "more than one task"
            raise errors.TaskNotFound(f"{what} has an id starting with {prefix!r}", task_id=prefix)
        return str(ids[0])

    # -- people's operations ---------------------------------------------------------------

    def cancel(self, task_id: str, *, now: float, reason: str = "cancelled") -> TaskRecord:
        """Cancel a task that has not finished; see :func:`brahmi.store.controls.cancel`."""
        with self.engine.begin() as conn:
            events = EventWriter(now)
            controls.cancel(conn, events, task_id, now, reason)
            events.flush(conn)
        return self.get_task(task_id)

    def retry(self, task_id: str, *, now: float) -> TaskRecord:
        """Retry a failed, blocked or cancelled task; see :func:`brahmi.store.controls.retry`.

        Returns:
            The task that was reset (the given one, its parent, or what blocked it).
        """
        with self.engine.begin() as conn:
            events = EventWriter(now)
            reset = controls.retry(conn, events, task_id, now)
            events.flush(conn)
        return self.get_task(reset)

    def resume(self, task_id: str, message: str, mode: str, *, now: float) -> TaskRecord:
        """Continue a finished task with a message; see :func:`brahmi.store.controls.resume`."""
        with self.engine.begin() as conn:
            events = EventWriter(now)
            controls.resume(conn, events, task_id, message, mode, now)
            events.flush(conn)
        return self.get_task(task_id)

    def create_subtask(
        self,
        parent_id: str,
        spec: NewTask,
        *,
        now: float,
        position: int | None = None,
        after: str | None = None,
        runtime: str | None = None,
    ) -> TaskRecord:
        """Add a sub-task; see :func:`brahmi.store.controls.create_subtask`."""
        with self.engine.begin() as conn:
            events = EventWriter(now)
            subtask_id = controls.create_subtask(
                conn, events, parent_id, spec, now, position=position, after=after, runtime=runtime
            )
            events.flush(conn)
        return self.get_task(subtask_id)

    def subtasks_of(self, parent_id: str) -> list[TaskRecord]:
        """A parent's sub-tasks in position order."""
        with reading(self.engine) as conn:
            rows = conn.execute(
                select(t.tasks).where(_tasks.parent_id == parent_id).order_by(_tasks.position)
            ).all()
        return [task_record(r._mapping) for r in rows]

    def history_for(self, task_id: str) -> list[HistoryRecord]:
        """A task's turns (verdicts, rebuilds, resumes, retries), oldest first."""
        with reading(self.engine) as conn:
            rows = conn.execute(
                select(t.task_history)
                .where(t.task_history.c.task_id == task_id)
                .order_by(t.task_history.c.id)
            ).all()
        return [HistoryRecord(**r._mapping) for r in rows]


def _parents_first(tasks: list[TaskRecord]) -> list[TaskRecord]:
    """Move each sub-task right after its parent (when listed), in position order."""
    listed = {task.id for task in tasks}
    children: dict[str, list[TaskRecord]] = defaultdict(list)
    for task in tasks:
        if task.parent_id is not None and task.parent_id in listed:
            children[task.parent_id].append(task)
    if not children:
        return tasks
    ordered: list[TaskRecord] = []
    for task in tasks:
        if task.parent_id is not None and task.parent_id in listed:
            continue
        ordered.append(task)
        ordered.extend(sorted(children.get(task.id, ()), key=lambda s: s.position or 0))
    return ordered


def _new_row(
    b: BoundTask, project_id: str, user_id: str, batch_id: str, status: TaskStatus, now: float
) -> dict[str, Any]:
    """A ``tasks`` row for a new batch task; columns left out start NULL."""
    spec = b.spec
    return {
        "id": b.id,
        "project_id": project_id,
        "user_id": user_id,
        "batch_id": batch_id,
        "batch_key": spec.key,
        "skill_id": spec.skill_id,
        "runtime": b.runtime,
        "task_name": spec.task_name,
        "description": spec.description,
        "task_order": spec.task_order,
        "inputs": spec.inputs,
        "validation_criteria": spec.validation_criteria.to_dict(),
        "timeout_seconds": spec.timeout_seconds,
        "max_attempts": spec.max_attempts,
        "max_rebuilds": spec.max_rebuilds,
        "is_qa": bool(b.critiques),
        "status": status.value,
        "attempts": 0,
        "rebuilds": 0,
        "subtasks_completed": False,
        "run_after": 0.0,
        "created_at": now,
        "updated_at": now,
    }


__all__ = ["AttemptResult", "BoundTask", "ProjectRecord", "TaskStore"]
