"""Transactional operations on tasks, attempts and events (DESIGN §3, §9).

Every public method is one transaction. A transition names the status it expects in its
``WHERE`` clause, so two workers or two requests can never both win; the decisions come
from :mod:`brahmi.domain.lifecycle` through :mod:`brahmi.store.transitions`.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Engine, String, bindparam, cast, func, insert, select, update
from sqlalchemy.engine import Connection

from brahmi import errors
from brahmi.domain import lifecycle
from brahmi.domain.models import (
    AttemptRecord,
    Claim,
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
from brahmi.store.events import EventWriter
from brahmi.store.projects import ProjectRecord
from brahmi.store.rows import chunks, dependencies_of, task_record, upstream_of
from brahmi.store.transitions import apply_outcome

log = logging.getLogger(__name__)

S = TaskStatus
_tasks = t.tasks.c
#: Seconds between the creation times of consecutive tasks of one batch.
CREATION_STEP_S = 1e-6

_INSERT_ATTEMPTS = insert(t.attempts)


def _claim_statement(*, skip_locked: bool) -> Any:
    """One statement that leases up to ``p_limit`` ready tasks, best first.

    The attempt id is ``<task id>:<attempt number>``, computed in the statement itself, so
    several tasks are claimed without a query per task; it is unique because a task's
    attempt number only ever grows.
    """
    candidates = (
        select(_tasks.id)
        .where((_tasks.status == S.READY.value) & (_tasks.run_after <= bindparam("p_now")))
        .order_by(_tasks.task_order, _tasks.created_at, _tasks.id)
        .limit(bindparam("p_limit"))
    )
    if skip_locked:
        candidates = candidates.with_for_update(skip_locked=True)
    return (
        update(t.tasks)
        .where(_tasks.id.in_(candidates) & (_tasks.status == S.READY.value))
        .values(
            status=S.RUNNING.value,
            attempts=_tasks.attempts + 1,
            current_attempt_id=_tasks.id + ":" + cast(_tasks.attempts + 1, String),
            lease_owner=bindparam("p_owner"),
            lease_expires_at=bindparam("p_expires"),
            started_at=func.coalesce(_tasks.started_at, bindparam("p_now")),
            updated_at=bindparam("p_now"),
        )
        .returning(*t.tasks.c)
    )


_CLAIM = _claim_statement(skip_locked=False)
_CLAIM_LOCKED = _claim_statement(skip_locked=True)
_EXTEND_LEASES = (
    update(t.tasks)
    .where(
        (_tasks.lease_owner == bindparam("p_owner"))
        & (_tasks.status == S.RUNNING.value)
        & _tasks.current_attempt_id.in_(bindparam("p_attempts", expanding=True))
    )
    .values(lease_expires_at=bindparam("p_expires"))
)
_HELD_ATTEMPTS = select(_tasks.current_attempt_id).where(
    _tasks.current_attempt_id.in_(bindparam("p_attempts", expanding=True))
    & (_tasks.status == S.RUNNING.value)
)
_NEXT_RUN_AFTER = select(func.min(_tasks.run_after)).where(_tasks.status == S.READY.value)
_TASK_BY_ID = select(t.tasks).where(_tasks.id == bindparam("p_id"))
_ATTEMPT_FACTS = (
    update(t.attempts)
    .where(t.attempts.c.id == bindparam("p_attempt"))
    .values(
        transcript_path=bindparam("p_transcript"),
        usage=bindparam("p_usage"),
        skill_version=bindparam("p_skill_version"),
        executor=bindparam("p_executor"),
    )
)


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """What one finished attempt reports, to be recorded by :meth:`TaskStore.finish_attempts`."""

    task: TaskRecord
    attempt_id: str
    outcome: lifecycle.Outcome
    transcript_path: str | None = None
    usage: dict[str, Any] | None = None
    skill_version: str | None = None
    session_ref: str | None = None
    executor: str | None = None


@dataclass(frozen=True, slots=True)
class BoundTask:
    """A normalised task with its stored id, dependency ids and critiqued ids."""

    id: str
    spec: NewTask
    dependencies: Sequence[str]
    critiques: Sequence[str]


class TaskStore:
    """Projects, tasks, attempts and events in one database.

    Args:
        engine: From :func:`brahmi.store.database.create_db_engine`, already migrated.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._skip_locked = engine.dialect.name == "postgresql"

    # -- projects --------------------------------------------------------------------------

    def ensure_project(self, workspace: str, name: str, now: float) -> ProjectRecord:
        """The project whose workspace is ``workspace`` (absolute), created if new."""
        return projects.ensure_project(self.engine, workspace, name, now)

    def get_project(self, project_id: str) -> ProjectRecord:
        """The project with this id. Raises :class:`~brahmi.errors.ProjectNotFound`."""
        return projects.get_project(self.engine, project_id)

    # -- batches ---------------------------------------------------------------------------

    def existing_tasks(self, ids: Iterable[str]) -> dict[str, ExistingTask]:
        """What batch validation needs of the existing tasks ``ids`` (unknown ids left out).

        ``ancestors`` holds each task's transitive dependencies.
        """
        wanted = list(set(ids))
        found: dict[str, ExistingTask] = {}
        if not wanted:
            return found
        with self.engine.connect() as conn:
            for chunk in chunks(wanted):
                rows = conn.execute(
                    select(_tasks.id, _tasks.status, _tasks.parent_id).where(_tasks.id.in_(chunk))
                ).all()
                for row in rows:
                    found[row.id] = ExistingTask(
                        row.id,
                        S(row.status),
                        row.parent_id is not None,
                        frozenset(upstream_of(conn, [row.id])),
                    )
        return found

    def find_batch(self, project_id: str, content_hash: str) -> str | None:
        """The newest batch of this project with this content hash, if any."""
        with self.engine.connect() as conn:
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
    ) -> None:
        """Store a validated batch in one transaction (DESIGN §2).

        A task whose dependencies all completed starts ``ready``; one that depends on a
        failed, cancelled or blocked task starts ``blocked``; the rest ``planned``.
        """
        events = EventWriter(now)
        new_ids = {b.id for b in tasks}
        with self.engine.begin() as conn:
            outside = list({d for b in tasks for d in b.dependencies if d not in new_ids})
            statuses: dict[str, TaskStatus] = {}
            for chunk in chunks(outside):
                for row in conn.execute(
                    select(_tasks.id, _tasks.status).where(_tasks.id.in_(chunk))
                ):
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
            events.add("batch_created", project_id, None, batch_id=batch_id, tasks=len(rows))
            bulk_insert(conn, t.events, events.rows)

    # -- reading ---------------------------------------------------------------------------

    def get_task(self, task_id: str) -> TaskRecord:
        """The task with this id, with its dependency ids.

        Raises:
            TaskNotFound: When there is none.
        """
        with self.engine.connect() as conn:
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
    ) -> list[TaskRecord]:
        """Tasks in (``task_order``, creation) order, each parent followed by its sub-tasks
        in position order; filtered as asked (``top_level``: no sub-tasks)."""
        query = select(t.tasks).order_by(_tasks.task_order, _tasks.created_at, _tasks.id)
        if project_id is not None:
            query = query.where(_tasks.project_id == project_id)
        if parent_id is not None:
            query = query.where(_tasks.parent_id == parent_id)
        if top_level:
            query = query.where(_tasks.parent_id.is_(None))
        if batch_id is not None:
            query = query.where(_tasks.batch_id == batch_id)
        if status is not None:
            query = query.where(_tasks.status == status.value)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
            deps = dependencies_of(conn, [r.id for r in rows])
        return _parents_first([task_record(r._mapping, deps.get(r.id, ())) for r in rows])

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
        with self.engine.connect() as conn:
            return {S(status): int(count) for status, count in conn.execute(query)}

    def attempts_for(self, task_id: str) -> list[AttemptRecord]:
        """Every attempt of a task, oldest first."""
        with self.engine.connect() as conn:
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
        """Events with ``id > after_id``, oldest first."""
        query = (
            select(t.events).where(t.events.c.id > after_id).order_by(t.events.c.id).limit(limit)
        )
        if task_id is not None:
            query = query.where(t.events.c.task_id == task_id)
        if project_id is not None:
            query = query.where(t.events.c.project_id == project_id)
        with self.engine.connect() as conn:
            return [EventRecord(**r._mapping) for r in conn.execute(query)]

    def last_event_id(self) -> int:
        """The id of the newest event, 0 when there is none."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.max(t.events.c.id))).scalar() or 0)

    def resolve_task_id(self, prefix: str) -> str:
        """The id of the one task whose id starts with ``prefix`` (4 characters or more).

        Raises:
            TaskNotFound: When no task, or more than one, matches.
        """
        if len(prefix) < 4:
            raise errors.TaskNotFound(f"{prefix!r} is too short to name a task", task_id=prefix)
        with self.engine.connect() as conn:
            ids = list(
                conn.execute(
                    select(_tasks.id).where(_tasks.id.startswith(prefix, autoescape=True)).limit(2)
                ).scalars()
            )
        if len(ids) != 1:
            what = "no task" if not ids else "more than one task"
            raise errors.TaskNotFound(f"{what} has an id starting with {prefix!r}", task_id=prefix)
        return str(ids[0])

    def running_lease_owners(self) -> dict[str, list[str]]:
        """For each lease owner, the ids of the running tasks it holds."""
        owners: dict[str, list[str]] = defaultdict(list)
        with self.engine.connect() as conn:
            for row in conn.execute(
                select(_tasks.id, _tasks.lease_owner).where(_tasks.status == S.RUNNING.value)
            ):
                owners[row.lease_owner or ""].append(row.id)
        return dict(owners)

    def record_process(self, attempt_id: str, process_id: int) -> None:
        """Note the process (group) id of an attempt's agent."""
        with self.engine.begin() as conn:
            conn.execute(
                update(t.attempts)
                .where(t.attempts.c.id == attempt_id)
                .values(process_id=process_id)
            )

    def running_processes(self, owners: Iterable[str]) -> list[tuple[str, int]]:
        """``(attempt id, process id)`` of the running attempts held by ``owners``."""
        wanted = list(set(owners))
        if not wanted:
            return []
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.attempts.c.id, t.attempts.c.process_id)
                .join(t.tasks, _tasks.current_attempt_id == t.attempts.c.id)
                .where(
                    _tasks.status == S.RUNNING.value,
                    _tasks.lease_owner.in_(wanted),
                    t.attempts.c.process_id.is_not(None),
                )
            ).all()
        return [(str(r.id), int(r.process_id)) for r in rows]

    def next_run_after(self) -> float | None:
        """The earliest ``run_after`` among ready tasks, or None when none is ready."""
        with self.engine.connect() as conn:
            value = conn.execute(_NEXT_RUN_AFTER).scalar()
        return None if value is None else float(value)

    # -- claiming and leases ---------------------------------------------------------------

    def claim(self, worker_id: str, limit: int, *, now: float, lease_s: float) -> list[Claim]:
        """Lease up to ``limit`` ready tasks for new attempts (DESIGN §3, §9).

        Ready tasks are taken in (``task_order``, creation time) order. On PostgreSQL the
        candidate rows are locked ``FOR UPDATE SKIP LOCKED`` so concurrent workers take
        different tasks; on SQLite ``BEGIN IMMEDIATE`` serialises claimers. Either way the
        update re-checks ``status = 'ready'``.
        """
        if limit <= 0:
            return []
        events = EventWriter(now)
        with self.engine.begin() as conn:
            claims = self._claim_in(conn, events, worker_id, limit, now, lease_s)
            events.flush(conn)
        return claims

    def _claim_in(
        self,
        conn: Connection,
        events: EventWriter,
        worker_id: str,
        limit: int,
        now: float,
        lease_s: float,
    ) -> list[Claim]:
        statement = _CLAIM_LOCKED if self._skip_locked else _CLAIM
        params = {"p_now": now, "p_limit": limit, "p_owner": worker_id, "p_expires": now + lease_s}
        rows = [dict(r._mapping) for r in conn.execute(statement, params)]
        rows.sort(key=lambda r: (r["task_order"], r["created_at"], r["id"]))
        claimed = [(row, str(row["current_attempt_id"])) for row in rows]
        if not claimed:
            return []
        attempts = []
        for row, attempt_id in claimed:
            attempts.append(
                {
                    "id": attempt_id,
                    "task_id": row["id"],
                    "number": row["attempts"],
                    "worker_id": worker_id,
                    "status": "running",
                    "started_at": now,
                }
            )
            events.status(row, S.READY, S.RUNNING, attempt_id=attempt_id, attempt=row["attempts"])
        conn.execute(_INSERT_ATTEMPTS, attempts)
        # A claim's TaskRecord leaves ``dependencies`` empty: runs do not need them.
        return [Claim(task_record(row), attempt_id, row["attempts"]) for row, attempt_id in claimed]

    def heartbeat(
        self, worker_id: str, attempt_ids: Iterable[str], *, now: float, lease_s: float
    ) -> set[str]:
        """Extend the leases of a worker's running attempts.

        Returns:
            The attempts among ``attempt_ids`` that no longer hold their task (cancelled,
            or fenced out after their lease ran out): the worker should stop them.
        """
        wanted = list(set(attempt_ids))
        if not wanted:
            return set()
        with self.engine.begin() as conn:
            conn.execute(
                _EXTEND_LEASES,
                {"p_owner": worker_id, "p_attempts": wanted, "p_expires": now + lease_s},
            )
            held = set(conn.execute(_HELD_ATTEMPTS, {"p_attempts": wanted}).scalars())
        return set(wanted) - held

    def expire_leases(self, *, now: float, owners: Iterable[str] = ()) -> int:
        """Take back running tasks whose lease ran out, or whose owner is known dead.

        Each is an infrastructure failure of its attempt (DESIGN §3): the task goes back to
        ``ready`` after a backoff while attempts remain, else fails.

        Args:
            now: The current time.
            owners: Lease owners known to be dead (a killed process on this host); their
                tasks are taken back at once.

        Returns:
            How many tasks were taken back.
        """
        dead = list(set(owners))
        expired = _tasks.lease_expires_at < now
        condition = (expired | _tasks.lease_owner.in_(dead)) if dead else expired
        taken = 0
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(t.tasks).where(_tasks.status == S.RUNNING.value, condition)
            ).all()
            events = EventWriter(now)
            for row in rows:
                reason = (
                    f"worker {row.lease_owner} stopped"
                    if row.lease_owner in dead
                    else f"the lease of worker {row.lease_owner} ran out"
                )
                outcome = lifecycle.after_failure(
                    lifecycle.FailureKind.INFRASTRUCTURE,
                    reason,
                    attempts=row.attempts - row.attempt_base,
                    max_attempts=row.max_attempts,
                )
                mapping = row._mapping
                if apply_outcome(
                    conn, events, mapping, row.current_attempt_id, outcome, now, "expired"
                ):
                    taken += 1
            events.flush(conn)
        return taken

    def release(self, worker_id: str, *, now: float) -> int:
        """Hand a stopping worker's running tasks back as ``ready`` (not a failure).

        Returns:
            How many tasks were handed back.
        """
        events = EventWriter(now)
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(t.tasks).where(
                    _tasks.status == S.RUNNING.value, _tasks.lease_owner == worker_id
                )
            ).all()
            for row in rows:
                conn.execute(
                    update(t.tasks)
                    .where(_tasks.id == row.id, _tasks.status == S.RUNNING.value)
                    .values(
                        status=S.READY.value,
                        run_after=now,
                        lease_owner=None,
                        lease_expires_at=None,
                        updated_at=now,
                    )
                )
                conn.execute(
                    update(t.attempts)
                    .where(t.attempts.c.id == row.current_attempt_id)
                    .values(status="released", finished_at=now, error="worker stopped")
                )
                events.status(row._mapping, S.RUNNING, S.READY, reason="worker stopped")
            events.flush(conn)
        return len(rows)

    # -- results ---------------------------------------------------------------------------

    def finish_attempt(
        self,
        result: AttemptResult,
        *,
        now: float,
        claim_next: int = 0,
        worker_id: str | None = None,
        lease_s: float = 30.0,
    ) -> tuple[bool, list[Claim]]:
        """Record one attempt's result; see :meth:`finish_attempts`.

        Returns:
            Whether it was recorded, and the claims made.
        """
        recorded, claims = self.finish_attempts(
            [result], now=now, claim_next=claim_next, worker_id=worker_id, lease_s=lease_s
        )
        return recorded[0], claims

    def finish_attempts(
        self,
        results: Sequence[AttemptResult],
        *,
        now: float,
        claim_next: int = 0,
        worker_id: str | None = None,
        lease_s: float = 30.0,
    ) -> tuple[list[bool], list[Claim]]:
        """Record attempts' results, each only if its attempt still holds its task.

        Results that arrive together share one transaction (group commit); each is still
        applied by its own update guarded on the status and attempt it expects (fencing).
        A worker with free slots may claim its next tasks in the same transaction
        (``claim_next`` > 0), so a dependent made ready here starts without another round
        trip: that is what keeps a chain of short tasks fast.

        Args:
            results: The attempts' results.
            claim_next: How many ready tasks to claim afterwards for ``worker_id``.

        Returns:
            For each result whether it was recorded (False when the attempt had been
            superseded, timed out or cancelled: the result is discarded, and an event and
            a log line say so), and the claims made.
        """
        events = EventWriter(now)
        recorded: list[bool] = []
        claims: list[Claim] = []
        with self.engine.begin() as conn:
            for result in results:
                recorded.append(self._record(conn, events, result, now))
            if claim_next > 0 and worker_id is not None:
                claims = self._claim_in(conn, events, worker_id, claim_next, now, lease_s)
            events.flush(conn)
        return recorded, claims

    def _record(
        self, conn: Connection, events: EventWriter, result: AttemptResult, now: float
    ) -> bool:
        task = result.task
        outcome = result.outcome
        accepted = apply_outcome(
            conn,
            events,
            {"id": task.id, "project_id": task.project_id, "pending_resume": task.pending_resume},
            result.attempt_id,
            outcome,
            now,
            "succeeded" if outcome.status is S.COMPLETED else "failed",
            skill_version=result.skill_version,
            session_ref=result.session_ref,
            transcript_path=result.transcript_path,
            usage=result.usage,
            executor=result.executor,
        )
        if not accepted:
            conn.execute(
                _ATTEMPT_FACTS,
                {
                    "p_attempt": result.attempt_id,
                    "p_transcript": result.transcript_path,
                    "p_usage": result.usage,
                    "p_skill_version": result.skill_version,
                    "p_executor": result.executor,
                },
            )
            self._discard(conn, events, task, result.attempt_id, outcome, now)
        return accepted

    def _discard(
        self,
        conn: Connection,
        events: EventWriter,
        task: TaskRecord,
        attempt_id: str,
        outcome: lifecycle.Outcome,
        now: float,
    ) -> None:
        row = conn.execute(_TASK_BY_ID, {"p_id": task.id}).first()
        if row is None:
            raise errors.TaskNotFound(f"no task has the id {task.id!r}", task_id=task.id)
        # An attempt whose lease ran out was closed as ``expired``; that it still reported
        # means its result was thrown away. A cancelled or released attempt keeps its status.
        conn.execute(
            update(t.attempts)
            .where(t.attempts.c.id == attempt_id, t.attempts.c.status.in_(("running", "expired")))
            .values(status="discarded", finished_at=now)
        )
        events.add(
            "result_discarded",
            task.project_id,
            task.id,
            attempt_id=attempt_id,
            result_status=outcome.status.value,
            task_status=row.status,
            current_attempt_id=row.current_attempt_id,
        )
        log.warning(
            "discarded the late result of attempt %s of task %s (the task is %s)",
            attempt_id,
            task.id,
            row.status,
        )

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
    ) -> TaskRecord:
        """Add a sub-task; see :func:`brahmi.store.controls.create_subtask`."""
        with self.engine.begin() as conn:
            events = EventWriter(now)
            subtask_id = controls.create_subtask(
                conn, events, parent_id, spec, now, position=position, after=after
            )
            events.flush(conn)
        return self.get_task(subtask_id)

    def subtasks_of(self, parent_id: str) -> list[TaskRecord]:
        """A parent's sub-tasks in position order."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.tasks).where(_tasks.parent_id == parent_id).order_by(_tasks.position)
            ).all()
        return [task_record(r._mapping) for r in rows]

    def history_for(self, task_id: str) -> list[HistoryRecord]:
        """A task's turns (verdicts, rebuilds, resumes, retries), oldest first."""
        with self.engine.connect() as conn:
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


def with_dependencies(task: TaskRecord, deps: Iterable[str]) -> TaskRecord:
    """``task`` with its dependency ids set."""
    return replace(task, dependencies=tuple(deps))


__all__ = ["AttemptResult", "BoundTask", "ProjectRecord", "TaskStore"]
