"""The queries behind ``GET /metrics`` (DESIGN §9): aggregates over the shared database.

Every number here comes from the database, so one scrape of one server shows the whole
system: every ``brahmi worker`` process writes the same tables. Each query is one
``GROUP BY`` (or an id range of the event log) on a read-only connection that takes no
write lock; :mod:`brahmi.metrics` turns the results into Prometheus metric families.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, String, cast, func, select, union_all

from brahmi.domain.models import TaskStatus
from brahmi.store import tables as t
from brahmi.store.database import reading

_tasks = t.tasks.c
_attempts = t.attempts.c
_history = t.task_history.c
_usage = t.usage.c
_triggers = t.planner_triggers.c
_workers = t.workers.c
_events = t.events.c

#: Trigger statuses that still wait for the planner (DESIGN §7).
WAITING_TRIGGERS = ("pending", "handling")
#: Event kinds the duration histograms follow.
TRACKED_EVENTS = ("task_created", "status_changed", "agent_finished")

#: Per project first: in the order of ``ix_tasks_project_status`` (project, status,
#: runtime), which SQLite then reads alone and counts as it goes, without sorting; the
#: projects' counts are added up in :func:`totals`.
_TASKS_BY_STATUS = select(_tasks.status, _tasks.runtime, func.count().label("n")).group_by(
    _tasks.project_id, _tasks.status, _tasks.runtime
)
_ATTEMPTS_BY_STATUS = select(
    _attempts.status, _attempts.executor, func.count().label("n")
).group_by(_attempts.status, _attempts.executor)
# Turns recorded before ``outcome`` was kept count by their verdict.
_TURN_OUTCOME = func.coalesce(
    cast(_history.data["outcome"].as_string(), String),
    cast(_history.data["verdict"].as_string(), String),
)
_LOOP_TURNS = (
    select(_TURN_OUTCOME.label("outcome"), func.count().label("n"))
    .where(_history.kind == "verdict")
    .group_by(_TURN_OUTCOME)
)
_USAGE = select(
    _usage.kind,
    func.sum(_usage.input_tokens).label("input_tokens"),
    func.sum(_usage.output_tokens).label("output_tokens"),
    func.sum(_usage.cost_usd).label("cost_usd"),
).group_by(_usage.kind)
_TRIGGERS = (
    select(
        _triggers.status,
        _triggers.kind,
        func.count().label("n"),
        func.min(_triggers.created_at).label("oldest"),
    )
    .where(_triggers.status.in_(WAITING_TRIGGERS))
    .group_by(_triggers.status, _triggers.kind)
)
_WORKERS = select(_workers.id, _workers.host, _workers.heartbeat_at).where(
    _workers.stopped_at.is_(None)
)


@dataclass(frozen=True, slots=True)
class UsageTotal:
    """Tokens and USD spent by one kind of run (``attempt``, ``question``, ``planner``)."""

    kind: str
    input_tokens: int
    output_tokens: int
    cost_usd: float


@dataclass(frozen=True, slots=True)
class WorkerBeat:
    """A worker that did not stop cleanly, and its last heartbeat (Unix seconds)."""

    id: str
    host: str
    heartbeat_at: float


@dataclass(frozen=True, slots=True)
class Totals:
    """The database's counts at one moment.

    Attributes:
        tasks: ``(status, runtime or None) -> tasks``.
        attempts: ``(status, executor or None) -> attempts``; ``running`` ones included.
        loop_turns: Correctness-loop turns by outcome (``pass``, ``fail``, or a stop code).
        usage: Tokens and USD by kind of run.
        triggers: ``(status, kind) -> planner triggers`` still waiting.
        oldest_trigger_at: When the oldest waiting trigger was queued; None when none waits.
        workers: Workers not stopped cleanly (live or silent).
    """

    tasks: dict[tuple[str, str | None], int] = field(default_factory=dict)
    attempts: dict[tuple[str, str | None], int] = field(default_factory=dict)
    loop_turns: dict[str, int] = field(default_factory=dict)
    usage: list[UsageTotal] = field(default_factory=list)
    triggers: dict[tuple[str, str], int] = field(default_factory=dict)
    oldest_trigger_at: float | None = None
    workers: list[WorkerBeat] = field(default_factory=list)


def totals(engine: Engine) -> Totals:
    """Read every count ``/metrics`` shows, in one read transaction.

    Raises:
        sqlalchemy.exc.OperationalError: When the database is unreachable (the caller
            counts it as a database error).
    """
    with reading(engine) as conn:
        tasks: dict[tuple[str, str | None], int] = {}
        for r in conn.execute(_TASKS_BY_STATUS):
            tasks[(r.status, r.runtime)] = tasks.get((r.status, r.runtime), 0) + int(r.n)
        attempts = {(r.status, r.executor): int(r.n) for r in conn.execute(_ATTEMPTS_BY_STATUS)}
        turns = {str(r.outcome): int(r.n) for r in conn.execute(_LOOP_TURNS)}
        usage = [
            UsageTotal(
                r.kind, int(r.input_tokens or 0), int(r.output_tokens or 0), float(r.cost_usd or 0)
            )
            for r in conn.execute(_USAGE)
        ]
        triggers: dict[tuple[str, str], int] = {}
        oldest: float | None = None
        for r in conn.execute(_TRIGGERS):
            triggers[(r.status, r.kind)] = int(r.n)
            oldest = r.oldest if oldest is None else min(oldest, r.oldest)
        workers = [WorkerBeat(r.id, r.host, float(r.heartbeat_at)) for r in conn.execute(_WORKERS)]
    return Totals(tasks, attempts, turns, usage, triggers, oldest, workers)


# -- the event log, for the duration histograms ------------------------------------------


@dataclass(frozen=True, slots=True)
class TrackedEvent:
    """A ``task_created``, ``status_changed`` or ``agent_finished`` event."""

    id: int
    task_id: str
    kind: str
    data: dict[str, Any]
    created_at: float


@dataclass(frozen=True, slots=True)
class ActiveTask:
    """A task that is ``ready`` or ``running`` now, when the histograms start following.

    Attributes:
        ready_since: For a ready task, when it may be claimed: the later of when it became
            ready (``updated_at``) and its backoff (``run_after``).
        started_at: For a running task, when it first started.
        attempt_id: For a running task, its current attempt.
        attempt_started_at: When that attempt was claimed.
    """

    id: str
    status: str
    ready_since: float | None = None
    started_at: float | None = None
    attempt_id: str | None = None
    attempt_started_at: float | None = None


def active_tasks(engine: Engine) -> list[ActiveTask]:
    """Every ``ready`` or ``running`` task, with the times the histograms need."""
    columns = select(
        _tasks.id,
        _tasks.status,
        _tasks.updated_at,
        _tasks.run_after,
        _tasks.started_at,
        _tasks.current_attempt_id,
        _attempts.started_at.label("attempt_started_at"),
    ).outerjoin(t.attempts, _attempts.id == _tasks.current_attempt_id)
    # One query per status, each through its partial index (``status IN (…)`` reaches
    # neither, and would read every task).
    query = union_all(columns.where(t.IS_READY), columns.where(t.IS_RUNNING))
    found = []
    with reading(engine) as conn:
        for r in conn.execute(query):
            if r.status == TaskStatus.READY.value:
                found.append(ActiveTask(r.id, r.status, max(r.updated_at, r.run_after)))
            else:
                found.append(
                    ActiveTask(
                        r.id,
                        r.status,
                        started_at=r.started_at,
                        attempt_id=r.current_attempt_id,
                        attempt_started_at=r.attempt_started_at,
                    )
                )
    return found


def tracked_events(engine: Engine, after_id: int, limit: int) -> list[TrackedEvent]:
    """Up to ``limit`` status events with ids above ``after_id``, oldest first (a range
    of the event log's primary key: cheap however long the log)."""
    query = (
        select(_events.id, _events.task_id, _events.kind, _events.data, _events.created_at)
        .where(_events.id > after_id, _events.kind.in_(TRACKED_EVENTS))
        .order_by(_events.id)
        .limit(limit)
    )
    with reading(engine) as conn:
        return [
            TrackedEvent(int(r.id), str(r.task_id), r.kind, dict(r.data or {}), r.created_at)
            for r in conn.execute(query)
            if r.task_id is not None
        ]
