"""What workers do to the store: claim ready tasks, hold leases, record results (§3, §9).

Every method is one transaction; transitions name the status (and, for results, the
attempt) they expect, so two workers can never both win and a late result of a fenced-out
attempt is discarded. :class:`~brahmi.store.tasks.TaskStore` inherits these.
"""

from __future__ import annotations

import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Engine, String, bindparam, cast, func, select, update
from sqlalchemy.engine import Connection

from brahmi import errors
from brahmi.domain import lifecycle
from brahmi.domain.models import Claim, TaskRecord, TaskStatus
from brahmi.store import driver, postgres_hop
from brahmi.store import tables as t
from brahmi.store.bulk import bulk_insert
from brahmi.store.database import reading, transaction, writing
from brahmi.store.events import EventWriter
from brahmi.store.graph import ClaimSlots, lock_waiting_dependents, promote_dependents
from brahmi.store.rows import task_record
from brahmi.store.transitions import FINISH_ATTEMPT, apply_outcome
from brahmi.store.usage import record_usage

log = logging.getLogger(__name__)

T = TypeVar("T")

S = TaskStatus
_tasks = t.tasks.c
_TASK_BY_ID = select(t.tasks).where(_tasks.id == bindparam("p_id"))


def _claim_statement(*, skip_locked: bool, by_runtime: bool = False) -> Any:
    """One statement that leases up to ``p_limit`` ready tasks, best first.

    With ``by_runtime`` only tasks whose runtime is one of ``p_runtimes`` are taken (a
    ``brahmi worker --runtime``): a machine without a runtime never claims its tasks.

    The attempt id is ``<task id>:<attempt number>``, computed in the statement itself, so
    several tasks are claimed without a query per task; it is unique because a task's
    attempt number only ever grows.
    """
    candidates = (
        select(_tasks.id)
        .where(t.IS_READY & (_tasks.run_after <= bindparam("p_now")))
        .order_by(_tasks.task_order, _tasks.created_at, _tasks.id)
        .limit(bindparam("p_limit"))
    )
    if by_runtime:
        candidates = candidates.where(_tasks.runtime.in_(bindparam("p_runtimes", expanding=True)))
    if skip_locked:
        # PostgreSQL: lock the candidates once, in a MATERIALIZED CTE. As an ``IN``
        # subquery the planner may rescan it per row, and each rescan skips the rows this
        # statement already updated and locks ``p_limit`` more: a claim past its limit.
        picked = (
            candidates.with_for_update(skip_locked=True).cte("picked").prefix_with("MATERIALIZED")
        )
        chosen = _tasks.id == picked.c.id
    else:
        chosen = _tasks.id.in_(candidates)
    return (
        update(t.tasks)
        .where(chosen & t.IS_READY)
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
_CLAIMS_BY_RUNTIME = {
    locked: _claim_statement(skip_locked=locked, by_runtime=True) for locked in (False, True)
}
_EXTEND_LEASES = (
    update(t.tasks)
    .where(
        (_tasks.lease_owner == bindparam("p_owner"))
        & t.IS_RUNNING
        & _tasks.current_attempt_id.in_(bindparam("p_attempts", expanding=True))
    )
    .values(lease_expires_at=bindparam("p_expires"))
)
_HELD_ATTEMPTS = select(_tasks.current_attempt_id).where(
    _tasks.current_attempt_id.in_(bindparam("p_attempts", expanding=True)) & t.IS_RUNNING
)
_RUNNING_LEASES = select(_tasks.id, _tasks.lease_owner).where(t.IS_RUNNING)
_NEXT_RUN_AFTER = select(func.min(_tasks.run_after)).where(
    t.IS_READY & (_tasks.run_after > bindparam("p_after"))
)
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
class Recorded:
    """What :meth:`WorkerOperations.record_and_claim` did."""

    #: For each result, whether it was recorded.
    recorded: list[bool]
    #: The tasks claimed in the same transaction.
    claims: list[Claim]
    #: Whether ready tasks may be left that the worker could claim (False: it knows
    #: there are none, as far as its own transactions tell).
    more_ready: bool


class Recorder:
    """A worker's way to record results: :meth:`WorkerOperations.record_and_claim` on one
    connection kept open between calls (checking a connection out of the pool and back
    in cost as much as two of a result's statements). Used by one thread at a time; a
    connection that failed is closed, and the next call opens another.
    """

    def __init__(self, operations: WorkerOperations) -> None:
        self._operations = operations
        self._connection: Connection | None = None

    def record_and_claim(self, results: Sequence[AttemptResult], **options: Any) -> Recorded:
        """:meth:`WorkerOperations.record_and_claim` with the same arguments."""
        try:
            return self._operations.record_and_claim(results, connection=self._connect(), **options)
        except BaseException:
            self.close()
            raise

    def claim(self, worker_id: str, limit: int, **options: Any) -> list[Claim]:
        """:meth:`WorkerOperations.claim` with the same arguments, on this connection."""
        return self.on_connection(self._operations.claim, worker_id, limit, **options)

    def next_run_after(self, after: float = float("-inf")) -> float | None:
        """:meth:`WorkerOperations.next_run_after`, on this connection."""
        return self.on_connection(self._operations.next_run_after, after)

    def on_connection(self, method: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """``method(*args, **kwargs, connection=…)`` with this recorder's connection: a
        store method that takes ``connection`` (such as
        :meth:`~brahmi.store.workers.WorkerDirectory.register_worker`), run on the
        connection the worker keeps instead of one checked out of the pool. A connection
        that failed is closed (the next call opens another)."""
        try:
            return method(*args, **kwargs, connection=self._connect())
        except BaseException:
            self.close()
            raise

    def _connect(self) -> Connection:
        if self._connection is None:
            self._connection = self._operations.engine.connect()
        return self._connection

    def close(self) -> None:
        """Give the connection back (it is opened again on the next call)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()


class WorkerOperations:
    """Claiming, leases and results; mixed into :class:`~brahmi.store.tasks.TaskStore`."""

    engine: Engine
    _skip_locked: bool

    def recorder(self) -> Recorder:
        """A :class:`Recorder` for one worker's loop."""
        return Recorder(self)

    def running_lease_owners(self, *, connection: Connection | None = None) -> dict[str, list[str]]:
        """For each lease owner, the ids of the running tasks it holds (``connection``: see
        :meth:`next_run_after`)."""
        owners: dict[str, list[str]] = defaultdict(list)
        for row in driver.read(connection or self.engine, _RUNNING_LEASES, {}):
            owners[row["lease_owner"] or ""].append(row["id"])
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
        with reading(self.engine) as conn:
            rows = conn.execute(
                select(t.attempts.c.id, t.attempts.c.process_id)
                .join(t.tasks, _tasks.current_attempt_id == t.attempts.c.id)
                .where(
                    t.IS_RUNNING,
                    _tasks.lease_owner.in_(wanted),
                    t.attempts.c.process_id.is_not(None),
                )
            ).all()
        return [(str(r.id), int(r.process_id)) for r in rows]

    def next_run_after(
        self, after: float = float("-inf"), *, connection: Connection | None = None
    ) -> float | None:
        """The earliest ``run_after`` later than ``after`` among ready tasks (Unix
        seconds), or None when there is none.

        Args:
            connection: A connection the caller keeps open, not in a transaction (a
                worker's :class:`Recorder`): the query runs on it as a statement of its
                own, taking no lock.
        """
        if connection is not None and self._skip_locked:
            return postgres_hop.next_run_after(connection, after)
        rows = driver.read(connection or self.engine, _NEXT_RUN_AFTER, {"p_after": after})
        value = next(iter(rows[0].values())) if rows else None
        return None if value is None else float(value)

    # -- claiming and leases ---------------------------------------------------------------

    def claim(
        self,
        worker_id: str,
        limit: int,
        *,
        now: float,
        lease_s: float,
        runtimes: Sequence[str] | None = None,
        connection: Connection | None = None,
    ) -> list[Claim]:
        """Lease up to ``limit`` ready tasks for new attempts (DESIGN §3, §9).

        Ready tasks are taken in (``task_order``, creation time) order. On PostgreSQL the
        candidate rows are locked ``FOR UPDATE SKIP LOCKED`` so concurrent workers take
        different tasks, and the claim is one statement
        (:func:`~brahmi.store.postgres_hop.claim`); on SQLite ``BEGIN IMMEDIATE``
        serialises claimers. Either way the update re-checks ``status = 'ready'``.

        Args:
            runtimes: Claim only tasks whose ``runtime`` is one of these; None: any task.
            connection: A connection the caller keeps open, not in a transaction (a
                worker's :class:`Recorder`), to claim on instead of one from the pool.
        """
        if limit <= 0:
            return []
        if self._skip_locked:
            return self._claim_on_postgres(worker_id, limit, now, lease_s, runtimes, connection)
        events = EventWriter(now)
        with writing(self.engine, connection) as conn:
            claims = self._claim_in(conn, events, worker_id, limit, now, lease_s, runtimes)
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
        runtimes: Sequence[str] | None = None,
    ) -> list[Claim]:
        rows = self._claim_rows(conn, worker_id, limit, now, lease_s, runtimes)
        return self._claimed(conn, events, rows, worker_id, now)

    def _claim_rows(
        self,
        conn: Connection,
        worker_id: str,
        limit: int,
        now: float,
        lease_s: float,
        runtimes: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Lease up to ``limit`` ready tasks; their rows, best first."""
        params: dict[str, Any] = {
            "p_now": now,
            "p_limit": limit,
            "p_owner": worker_id,
            "p_expires": now + lease_s,
        }
        rows: list[dict[str, Any]]
        if runtimes is None:
            statement = _CLAIM_LOCKED if self._skip_locked else _CLAIM
            rows = [*driver.typed(conn, t.tasks, driver.execute(conn, statement, params).rows)]
        else:  # the runtimes are an expanding IN list, which only SQLAlchemy renders
            params["p_runtimes"] = list(runtimes)
            statement = _CLAIMS_BY_RUNTIME[self._skip_locked]
            rows = [dict(r._mapping) for r in conn.execute(statement, params)]
        if len(rows) > 1:
            rows.sort(key=lambda r: (r["task_order"], r["created_at"], r["id"]))
        return rows

    def _claimed(
        self,
        conn: Connection,
        events: EventWriter,
        rows: Sequence[Mapping[str, Any]],
        worker_id: str,
        now: float,
    ) -> list[Claim]:
        """Open the attempts of claimed task ``rows`` (now ``running``) and log the claims."""
        if not rows:
            return []
        attempts = []
        claims = []
        for row in rows:
            attempt_id = str(row["current_attempt_id"])
            attempts.append(
                {
                    "id": attempt_id,
                    "task_id": row["id"],
                    "number": row["attempts"],
                    "worker_id": worker_id,
                    # The runtime chosen for the task (DESIGN §6): a running attempt is
                    # counted under the runtime it finishes under (GET /metrics).
                    "executor": row.get("runtime"),
                    "status": "running",
                    "started_at": now,
                }
            )
            events.status(row, S.READY, S.RUNNING, attempt_id=attempt_id, attempt=row["attempts"])
            # A claim's TaskRecord leaves ``dependencies`` empty: runs do not need them.
            claims.append(Claim(task_record(row), attempt_id, row["attempts"]))
        bulk_insert(conn, t.attempts, attempts)
        return claims

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
        # Nearly every call (each heartbeat, each start) finds nothing: look without the
        # write lock first, so an idle look never queues behind other workers' writes.
        with reading(self.engine) as conn:
            if (
                conn.execute(select(_tasks.id).where(t.IS_RUNNING, condition).limit(1)).first()
                is None
            ):
                return 0
        taken = 0
        with self.engine.begin() as conn:
            rows = conn.execute(select(t.tasks).where(t.IS_RUNNING, condition)).all()
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
                select(t.tasks).where(t.IS_RUNNING, _tasks.lease_owner == worker_id)
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
        runtimes: Sequence[str] | None = None,
    ) -> tuple[bool, list[Claim]]:
        """Record one attempt's result; see :meth:`finish_attempts`.

        Returns:
            Whether it was recorded, and the claims made.
        """
        recorded, claims = self.finish_attempts(
            [result],
            now=now,
            claim_next=claim_next,
            worker_id=worker_id,
            lease_s=lease_s,
            runtimes=runtimes,
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
        runtimes: Sequence[str] | None = None,
    ) -> tuple[list[bool], list[Claim]]:
        """Record attempts' results, and claim up to ``claim_next`` ready tasks; see
        :meth:`record_and_claim`.

        Returns:
            For each result whether it was recorded, and the claims made.
        """
        done = self.record_and_claim(
            results,
            now=now,
            claim_next=claim_next,
            worker_id=worker_id,
            lease_s=lease_s,
            runtimes=runtimes,
        )
        return done.recorded, done.claims

    def record_and_claim(
        self,
        results: Sequence[AttemptResult],
        *,
        now: float,
        claim_next: int = 0,
        worker_id: str | None = None,
        lease_s: float = 30.0,
        runtimes: Sequence[str] | None = None,
        others_ready: bool = True,
        connection: Connection | None = None,
    ) -> Recorded:
        """Record attempts' results, each only if its attempt still holds its task.

        Results that arrive together share one transaction (group commit); each is still
        applied by its own update guarded on the status and attempt it expects (fencing).
        A worker with free slots may claim its next tasks in the same transaction
        (``claim_next`` > 0), so a dependent made ready here starts without another round
        trip: that is what keeps a chain of short tasks fast.

        Args:
            results: The attempts' results.
            claim_next: How many ready tasks to claim afterwards for ``worker_id``.
            runtimes: What those claims are limited to (see :meth:`claim`).
            others_ready: False when the worker knows of no ready task it could claim
                (its last claim found fewer than it asked for, and nothing woke it
                since): the dependents these results make ready then go straight from
                ``planned`` to ``running`` for it, in claim order, and no claim query
                runs unless a task is left ``ready`` (see
                :class:`~brahmi.store.graph.ClaimSlots`). True: the claim query picks
                the best ready tasks, as :meth:`claim` does.
            connection: A connection the caller keeps open (a worker's, used by its loop
                alone), to run the transaction on instead of one from the pool: checking
                a connection out and back in cost as much as two of the statements.

        Returns:
            For each result whether it was recorded (False when the attempt had been
            superseded, timed out or cancelled: the result is discarded, and an event and
            a log line say so), the claims made, and whether ready tasks may be left.
        """
        if self._skip_locked and results and all(map(postgres_hop.eligible, results)):
            done = self._record_on_postgres(
                results,
                now,
                claim_next if worker_id else 0,
                worker_id,
                lease_s,
                runtimes,
                connection,
            )
            if done is not None:
                return done
        events = EventWriter(now)
        recorded: list[bool] = []
        claiming = claim_next > 0 and worker_id is not None
        slots = (
            ClaimSlots(worker_id, claim_next, now, lease_s, runtimes)
            if claiming and not others_ready and worker_id is not None
            else None
        )
        events.claim_slots = slots
        more_ready = True
        with writing(self.engine, connection) as conn:
            if len(results) > 1:
                lock_waiting_dependents(conn, [r.task.id for r in results])
                events.promote_later = []
            for result in results:
                recorded.append(self._record(conn, events, result, now))
            driver.execute_many(conn, FINISH_ATTEMPT, events.close_later)
            if events.promote_later:
                promote_dependents(conn, events, events.promote_later, now)
            events.promote_later = None
            events.close_later = []
            events.claim_slots = None
            rows: list[dict[str, Any]] = slots.claimed if slots is not None else []
            if claiming and worker_id is not None:
                free = claim_next - len(rows)
                if slots is not None:
                    more_ready = bool(events.made_ready() - {row["id"] for row in rows})
                if more_ready and free > 0:
                    found = self._claim_rows(conn, worker_id, free, now, lease_s, runtimes)
                    rows.extend(found)
                    more_ready = len(found) == free
                claims = self._claimed(conn, events, rows, worker_id, now)
            else:
                claims = []
            events.flush(conn)
        return Recorded(recorded, claims, more_ready)

    def _record(
        self, conn: Connection, events: EventWriter, result: AttemptResult, now: float
    ) -> bool:
        task = result.task
        outcome = result.outcome
        # Spent either way, even by a result that is discarded; recorded first so a QA
        # verdict's loop decision sees the budget this run used (DESIGN §5).
        record_usage(
            conn,
            project_id=task.project_id,
            usage=result.usage,
            kind="attempt",
            now=now,
            task_id=task.id,
            attempt_id=result.attempt_id,
            executor=result.executor,
            session_ref=result.session_ref,
        )
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

    # -- PostgreSQL: a hop in one round trip (store/postgres_hop.py) ------------------------

    def _claim_on_postgres(
        self,
        worker_id: str,
        limit: int,
        now: float,
        lease_s: float,
        runtimes: Sequence[str] | None,
        connection: Connection | None,
    ) -> list[Claim]:
        with contextlib.ExitStack() as stack:
            conn = connection or stack.enter_context(self.engine.connect())
            rows = postgres_hop.claim(
                conn, now=now, limit=limit, worker_id=worker_id, lease_s=lease_s, runtimes=runtimes
            )
        return [Claim(task_record(r), r["current_attempt_id"], r["attempts"]) for r in rows]

    def _record_on_postgres(
        self,
        results: Sequence[AttemptResult],
        now: float,
        claim_next: int,
        worker_id: str | None,
        lease_s: float,
        runtimes: Sequence[str] | None,
        connection: Connection | None,
    ) -> Recorded | None:
        """:func:`~brahmi.store.postgres_hop.record_and_claim`; None when the group must be
        recorded the general way (nothing was committed). Results it left alone (fenced
        out, or their task gained sub-tasks while it ran) are recorded the general way in
        a second transaction, which claims with the slots still free."""
        claim_next = max(claim_next, 0)
        with contextlib.ExitStack() as stack:
            conn = connection or stack.enter_context(self.engine.connect())
            hop = postgres_hop.record_and_claim(
                conn,
                results,
                now=now,
                limit=claim_next,
                worker_id=worker_id or "",
                lease_s=lease_s,
                runtimes=runtimes,
            )
            if hop.general:
                return None
            claims = [
                Claim(task_record(r), r["current_attempt_id"], r["attempts"]) for r in hop.claimed
            ]
            more_ready = len(claims) == claim_next
            done = dict.fromkeys(hop.recorded, True)
            left = [r for r in results if r.attempt_id not in hop.recorded]
            if left:
                events = EventWriter(now)
                with transaction(conn) as tx:
                    if len(left) > 1:
                        lock_waiting_dependents(tx, [r.task.id for r in left])
                    done |= {r.attempt_id: self._record(tx, events, r, now) for r in left}
                    free = claim_next - len(claims)
                    if worker_id and free > 0:
                        found = self._claim_rows(tx, worker_id, free, now, lease_s, runtimes)
                        more_ready = len(found) == free
                        claims += self._claimed(tx, events, found, worker_id, now)
                    events.flush(tx)
        return Recorded([done[r.attempt_id] for r in results], claims, more_ready)
