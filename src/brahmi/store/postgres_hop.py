"""A worker's hop on PostgreSQL in one round trip (DESIGN §3, §9).

On PostgreSQL every statement is a round trip to the server and a parse, plan and
executor start-up there; recording results through the general path
(:meth:`~brahmi.store.claims.WorkerOperations.record_and_claim`) took about 13 statements
a task and a round trip each. Here the common case, top-level tasks that completed without
a verdict, takes three statements for the whole group of results, sent together with
``BEGIN`` and ``COMMIT`` in psycopg's pipeline mode:

1. :data:`RECORD`: record the results (each guarded on the status and the attempt it
   expects, as the general path's update is), close their attempts, count their usage,
   log their events and queue their planner triggers.
2. :data:`LOCK_DEPENDENTS`: lock their waiting dependents ``FOR UPDATE`` in id order, in a
   statement of its own, so that the next one's snapshot is taken after the locks are held
   (see ``docs/decisions.md``, "Readiness under READ COMMITTED": a completion that waited
   for another's lock then sees that other's commit).
3. :data:`PROMOTE_AND_CLAIM`: give each dependent whose dependencies have all completed the
   status ``ready``, except those it claims: the worker's free slots take the best tasks
   among those and the tasks already ready (``FOR UPDATE SKIP LOCKED``), in claim order
   (``task_order``, creation time, id) and for the runtimes it serves; opens their attempts
   and logs every status change.
4. ``COMMIT``: the completions are committed before the claimed dependents start.

Whatever the statements leave to the general path is handled there: a result that is not
a plain completion or is a sub-task's makes the whole group go there; a dependent with
sub-tasks to start, or that a failed dependency blocks, makes :data:`PROMOTE_AND_CLAIM`
raise, so nothing is committed, and the group is recorded the general way; a result the
first statement did not record (its attempt was fenced out, or its task gained sub-tasks
while it ran) is recorded the general way after the commit.

:data:`CLAIM` is the claim alone, in one statement run outside a transaction block (a
statement is its own transaction), for a worker's main loop.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.engine import Connection

from brahmi.domain.lifecycle import Outcome
from brahmi.domain.models import TaskRecord, TaskStatus
from brahmi.store import driver
from brahmi.store.usage import spent_amounts

if TYPE_CHECKING:
    import psycopg

S = TaskStatus


class AttemptResult(Protocol):
    """What this module reads of a :class:`~brahmi.store.claims.AttemptResult`."""

    @property
    def task(self) -> TaskRecord: ...
    @property
    def attempt_id(self) -> str: ...
    @property
    def outcome(self) -> Outcome: ...
    @property
    def transcript_path(self) -> str | None: ...
    @property
    def usage(self) -> dict[str, Any] | None: ...
    @property
    def skill_version(self) -> str | None: ...
    @property
    def session_ref(self) -> str | None: ...
    @property
    def executor(self) -> str | None: ...


#: What :data:`PROMOTE_AND_CLAIM` raises (``invalid_text_representation``, its count of
#: such dependents cast to an integer) when the group must be recorded the general way.
GENERAL_PATH = "waiting task(s) need the general path"

#: These statements' plans do not depend on their parameters (see :data:`_DEPENDENT_IDS`):
#: planned once per connection instead of at every execution (half their server time).
GENERIC_PLANS = "SET LOCAL plan_cache_mode = force_generic_plan"

#: Record completions: the general path's ``_RECORD_OUTPUTS`` and ``_FINISH_ATTEMPT`` for
#: a group of results, with their usage, events and planner triggers.
RECORD = """
WITH input AS (
    SELECT * FROM unnest(
        %(ids)s::text[], %(attempt_ids)s::text[], %(outputs)s::text[],
        %(skill_versions)s::text[], %(session_refs)s::text[], %(transcripts)s::text[],
        %(usages)s::text[], %(executors)s::text[]
    ) WITH ORDINALITY AS i(
        id, attempt_id, outputs, skill_version, session_ref, transcript_path, usage,
        executor, n
    )
),
recorded AS (
    UPDATE tasks SET
        status = 'completed',
        skill_version = coalesce(i.skill_version, tasks.skill_version),
        session_ref = coalesce(i.session_ref, tasks.session_ref),
        outputs = coalesce(i.outputs::jsonb, tasks.outputs),
        error = NULL, error_code = NULL, pending_resume = NULL,
        lease_owner = NULL, lease_expires_at = NULL,
        updated_at = %(now)s, finished_at = %(now)s, run_after = %(now)s
    FROM input i
    WHERE tasks.id = i.id AND (tasks.status || '') = 'running'
      AND tasks.current_attempt_id = i.attempt_id AND NOT tasks.has_subtasks
    RETURNING tasks.id, tasks.project_id, tasks.batch_id, i.attempt_id, i.n,
        i.outputs IS NOT NULL AS has_outputs
),
closed AS (
    UPDATE attempts SET
        status = 'succeeded', finished_at = %(now)s, error = NULL,
        transcript_path = i.transcript_path, usage = i.usage::jsonb,
        skill_version = i.skill_version, executor = i.executor
    FROM recorded r JOIN input i ON i.n = r.n
    WHERE attempts.id = r.attempt_id
),
spent AS (
    INSERT INTO usage (
        project_id, task_id, attempt_id, kind, executor, session_ref, input_tokens,
        output_tokens, cost_usd, session_cost_usd, turns, created_at
    )
    SELECT r.project_id, r.id, r.attempt_id, 'attempt', i.executor, i.session_ref,
        u.input_tokens, u.output_tokens, u.cost_usd, u.session_cost_usd, u.turns, %(now)s
    FROM unnest(
        %(usage_at)s::bigint[], %(input_tokens)s::integer[], %(output_tokens)s::integer[],
        %(costs_usd)s::double precision[], %(session_costs_usd)s::double precision[],
        %(turns)s::integer[]
    ) AS u(n, input_tokens, output_tokens, cost_usd, session_cost_usd, turns)
    JOIN recorded r ON r.n = u.n
    JOIN input i ON i.n = u.n
    ORDER BY u.n
),
logged AS (
    INSERT INTO events (project_id, task_id, kind, data, created_at)
    SELECT r.project_id, r.id, e.kind, e.data, %(now)s
    FROM recorded r CROSS JOIN LATERAL (VALUES
        (1, 'outputs', jsonb_build_object('attempt_id', r.attempt_id)),
        (2, 'status_changed', jsonb_build_object(
            'from', 'running', 'to', 'completed', 'attempt_id', r.attempt_id))
    ) AS e(k, kind, data)
    WHERE e.k = 2 OR r.has_outputs
    ORDER BY r.n, e.k
),
queued AS (
    INSERT INTO planner_triggers (
        session_id, kind, task_id, task_status, status, deliveries, input_tokens,
        output_tokens, cost_usd, created_at
    )
    SELECT b.session_id, 'task_completed', r.id, 'completed', 'pending', 0, 0, 0, 0.0,
        %(now)s
    FROM recorded r JOIN planner_batches b ON b.batch_id = r.batch_id
    ORDER BY r.n
)
SELECT attempt_id FROM recorded
"""

#: The dependents of the completed tasks ``ids``: their ids, each once, in id order.
#:
#: The statements here find rows one by one from the few a hop starts with, in plans that
#: do not depend on statistics (a new database has none, and the planner then read the
#: whole ``task_dependencies`` table, or walked every planned task, for every hop): a
#: ``LATERAL (… OFFSET 0)`` is looked up per row, never turned into a join, and a task
#: found by id tests its status as ``(status || '') = …``, which matches no index, so the
#: primary key is used rather than an index of one status's rows (``ix_tasks_ready``,
#: ``ix_tasks_running``), which it would scan whole. Only the claim's candidates are read
#: through ``ix_tasks_ready``, by its literal ``status = 'ready'``.
_DEPENDENT_IDS = """
    SELECT DISTINCT d.task_id
    FROM unnest(%(ids)s::text[]) AS done(id)
    CROSS JOIN LATERAL (
        SELECT task_id FROM task_dependencies WHERE depends_on_id = done.id OFFSET 0
    ) AS d
    ORDER BY d.task_id"""

#: Lock the waiting dependents of the completed tasks, in id order (as the general path's
#: ``lock_waiting_dependents``), in a statement of their own: see the module's docstring.
LOCK_DEPENDENTS = f"""
SELECT w.id
FROM ({_DEPENDENT_IDS}) AS dependent
CROSS JOIN LATERAL (
    SELECT id FROM tasks WHERE id = dependent.task_id AND (status || '') = 'planned'
    FOR UPDATE
) AS w
"""  # noqa: S608 (built from this module's constants)

#: The claim's candidates among the tasks already ready, and the update that leases them.
_READY = """
    SELECT id, task_order, created_at FROM tasks
    WHERE status = 'ready' AND run_after <= %(now)s
      AND (%(runtimes)s::text[] IS NULL OR runtime = ANY(%(runtimes)s::text[]))
    ORDER BY task_order, created_at, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
"""
_LEASE = """
    UPDATE tasks SET
        status = 'running',
        attempts = tasks.attempts + 1,
        current_attempt_id = tasks.id || ':' || (tasks.attempts + 1),
        lease_owner = %(owner)s, lease_expires_at = %(expires)s,
        started_at = coalesce(tasks.started_at, %(now)s), updated_at = %(now)s"""
_OPEN_ATTEMPTS = """
    INSERT INTO attempts (id, task_id, number, worker_id, executor, status, started_at)
    SELECT current_attempt_id, id, attempts, %(owner)s, runtime, 'running', %(now)s
    FROM claimed ORDER BY task_order, created_at, id
"""
_CLAIM_EVENT = """jsonb_build_object(
    'from', 'ready', 'to', 'running', 'attempt_id', current_attempt_id, 'attempt', attempts)"""

#: Promote the waiting dependents whose dependencies have all completed, and claim the
#: best of them and of the tasks already ready, up to ``limit``. Returns one row per claim
#: (claim order), or one row of NULLs. Raises, on purpose, when a waiting dependent needs
#: what only the general path does (a parent with sub-tasks to start, or a dependency that
#: failed): an error is the one way a statement can keep the ``COMMIT`` queued behind it
#: from committing (see :data:`GENERAL_PATH`).
PROMOTE_AND_CLAIM = f"""
WITH waiting AS MATERIALIZED (
    SELECT w.*,
        (SELECT u.status FROM task_dependencies d2 JOIN tasks u ON u.id = d2.depends_on_id
         WHERE d2.task_id = w.id AND u.status <> 'completed' LIMIT 1) AS unfinished
    FROM ({_DEPENDENT_IDS}) AS dependent
    CROSS JOIN LATERAL (
        SELECT id, status, project_id, task_order, created_at, runtime, has_subtasks
        FROM tasks WHERE id = dependent.task_id AND (status || '') = 'planned' OFFSET 0
    ) AS w
),
made_ready AS (
    SELECT id, task_order, created_at, runtime FROM waiting
    WHERE unfinished IS NULL AND NOT has_subtasks
),
already_ready AS MATERIALIZED ({_READY}),
picked AS MATERIALIZED (
    SELECT id, from_planned FROM (
        SELECT id, task_order, created_at, false AS from_planned FROM already_ready
        UNION ALL
        SELECT id, task_order, created_at, true FROM made_ready
        WHERE %(runtimes)s::text[] IS NULL OR runtime = ANY(%(runtimes)s::text[])
    ) AS candidates
    ORDER BY task_order, created_at, id
    LIMIT %(limit)s
),
claimed AS ({_LEASE},
        run_after = CASE WHEN p.from_planned THEN 0.0 ELSE tasks.run_after END
    FROM picked p
    WHERE tasks.id = p.id
      AND (tasks.status || '') = CASE WHEN p.from_planned THEN 'planned' ELSE 'ready' END
    RETURNING tasks.*, p.from_planned AS brahmi_from_planned
),
promoted AS (
    UPDATE tasks SET status = 'ready', updated_at = %(now)s, run_after = 0.0
    FROM made_ready m
    WHERE tasks.id = m.id AND (tasks.status || '') = 'planned'
      AND m.id NOT IN (SELECT id FROM picked)
    RETURNING tasks.id, tasks.project_id, tasks.task_order, tasks.created_at
),
opened AS ({_OPEN_ATTEMPTS}),
logged AS (
    INSERT INTO events (project_id, task_id, kind, data, created_at)
    SELECT project_id, id, 'status_changed', data, %(now)s FROM (
        SELECT 1 AS k, task_order, created_at, id, project_id,
            jsonb_build_object('from', 'planned', 'to', 'ready') AS data
        FROM promoted
        UNION ALL
        SELECT 1, task_order, created_at, id, project_id,
            jsonb_build_object('from', 'planned', 'to', 'ready')
        FROM claimed WHERE brahmi_from_planned
        UNION ALL
        SELECT 2, task_order, created_at, id, project_id, {_CLAIM_EVENT}
        FROM claimed
    ) AS e
    ORDER BY k, task_order, created_at, id
)
SELECT
    (SELECT CASE WHEN count(*) > 0 THEN (count(*) || ' {GENERAL_PATH}')::integer END
     FROM waiting
     WHERE (unfinished IS NULL AND has_subtasks)
        OR unfinished IN ('failed', 'cancelled', 'blocked')) AS brahmi_general,
    c.*
FROM (SELECT 1) AS one LEFT JOIN claimed c ON true
ORDER BY c.task_order, c.created_at, c.id
"""  # noqa: S608 (built from this module's constants)

#: A claim alone: lease up to ``limit`` ready tasks, open their attempts, log the claims.
CLAIM = f"""
WITH picked AS MATERIALIZED ({_READY}),
claimed AS ({_LEASE}
    FROM picked p
    WHERE tasks.id = p.id AND (tasks.status || '') = 'ready'
    RETURNING tasks.*
),
opened AS ({_OPEN_ATTEMPTS}),
logged AS (
    INSERT INTO events (project_id, task_id, kind, data, created_at)
    SELECT project_id, id, 'status_changed', {_CLAIM_EVENT}, %(now)s
    FROM claimed ORDER BY task_order, created_at, id
)
SELECT * FROM claimed ORDER BY task_order, created_at, id
"""  # noqa: S608 (built from this module's constants)

#: The earliest ``run_after`` later than ``after`` among ready tasks.
NEXT_RUN_AFTER = "SELECT min(run_after) FROM tasks WHERE status = 'ready' AND run_after > %(after)s"

_EXTRA = ("brahmi_general", "brahmi_from_planned")


def eligible(result: AttemptResult) -> bool:
    """Whether :func:`record_and_claim` records ``result``: a top-level task that completed
    without a verdict (and without an error or a retry delay, which a completion never
    has). Everything else (failures, retries, QA verdicts, sub-tasks) goes through the
    general path. (A task's ``parent_id`` is set when it is created and never changes, so
    :data:`RECORD` does not test it again.)"""
    outcome = result.outcome
    return (
        outcome.status is S.COMPLETED
        and outcome.verdict is None
        and outcome.error is None
        and outcome.error_code is None
        and outcome.retry_after_s is None
        and result.task.parent_id is None
    )


@dataclass(slots=True)
class Hop:
    """What :func:`record_and_claim` did."""

    #: The results recorded (their attempts' ids).
    recorded: set[str] = field(default_factory=set)
    #: The claimed ``tasks`` rows, in claim order.
    claimed: list[dict[str, Any]] = field(default_factory=list)
    #: True when nothing was committed: a dependent needs the general path, so the whole
    #: group must be recorded that way.
    general: bool = False


def record_and_claim(
    conn: Connection,
    results: Sequence[AttemptResult],
    *,
    now: float,
    limit: int,
    worker_id: str,
    lease_s: float,
    runtimes: Sequence[str] | None,
) -> Hop:
    """Record completed ``results`` (all :func:`eligible`), promote their dependents and
    claim up to ``limit`` tasks for ``worker_id``, in one transaction on ``conn``.

    Args:
        conn: A PostgreSQL connection not in a transaction.

    Returns:
        The results recorded (a result missing there was left alone: record it the
        general way) and the claims; or ``general`` set, with nothing committed.

    Raises:
        sqlalchemy.exc.DBAPIError: As the general path would (nothing is committed).
    """
    from psycopg.rows import dict_row

    params = _record_params(results, now)
    params.update(_claim_params(now, limit, worker_id, lease_s, runtimes))
    hop = Hop()
    try:
        with _manual_transactions(conn) as raw:
            record = raw.cursor()
            claim = raw.cursor(row_factory=dict_row)
            with raw.pipeline():
                raw.execute("BEGIN", prepare=False)
                raw.execute(GENERIC_PLANS, prepare=False)
                record.execute(RECORD, params)
                raw.execute(LOCK_DEPENDENTS, params)
                claim.execute(PROMOTE_AND_CLAIM, params)
                raw.execute("COMMIT", prepare=False)
            rows = claim.fetchall()
            hop.recorded = {r[0] for r in record.fetchall()}
    except _psycopg_error() as exc:
        if getattr(exc, "sqlstate", None) == "22P02" and GENERAL_PATH in str(exc):
            hop.general = True  # and the transaction was rolled back
            return hop
        raise driver.wrapped(conn, exc, PROMOTE_AND_CLAIM, params) from exc
    for row in rows:
        if row["id"] is not None:
            for name in _EXTRA:
                row.pop(name, None)
            hop.claimed.append(row)
    return hop


def claim(
    conn: Connection,
    *,
    now: float,
    limit: int,
    worker_id: str,
    lease_s: float,
    runtimes: Sequence[str] | None,
) -> list[dict[str, Any]]:
    """Lease up to ``limit`` ready tasks for ``worker_id`` in one statement (its own
    transaction), opening their attempts and logging the claims.

    Returns:
        The claimed ``tasks`` rows, in claim order.

    Raises:
        sqlalchemy.exc.DBAPIError: As ``conn.execute`` would.
    """
    from psycopg.rows import dict_row

    params = _claim_params(now, limit, worker_id, lease_s, runtimes)
    try:
        with _manual_transactions(conn) as raw:
            return raw.cursor(row_factory=dict_row).execute(CLAIM, params).fetchall()
    except _psycopg_error() as exc:
        raise driver.wrapped(conn, exc, CLAIM, params) from exc


def next_run_after(conn: Connection, after: float) -> float | None:
    """The earliest ``run_after`` later than ``after`` (Unix seconds) among ready tasks, or
    None (one statement).

    Raises:
        sqlalchemy.exc.DBAPIError: As ``conn.execute`` would.
    """
    params = {"after": after}
    try:
        with _manual_transactions(conn) as raw:
            row = raw.execute(NEXT_RUN_AFTER, params).fetchone()
    except _psycopg_error() as exc:
        raise driver.wrapped(conn, exc, NEXT_RUN_AFTER, params) from exc
    return None if row is None or row[0] is None else float(row[0])


def _psycopg_error() -> type[Exception]:
    import psycopg

    return psycopg.Error


@contextlib.contextmanager
def _manual_transactions(conn: Connection) -> Iterator[psycopg.Connection[Any]]:
    """The psycopg connection under ``conn``, in autocommit mode for the block: a statement
    outside ``BEGIN`` is its own transaction, and ``BEGIN``/``COMMIT`` are sent as
    statements, so they share the pipeline's round trip (psycopg sends its own ``BEGIN``
    and waits for it). Left as it was found: a transaction the block left open is rolled
    back; a connection that cannot be reset is invalidated (the next use opens another),
    and the block's own error, if any, is what propagates.
    """
    import psycopg
    from psycopg.pq import TransactionStatus

    if conn.in_transaction():
        raise RuntimeError("the connection is in a transaction")
    raw: psycopg.Connection[Any] = conn.connection.driver_connection  # type: ignore[assignment]
    if raw.closed or raw.broken:  # a lost server: an outage, as any statement would say
        raise psycopg.OperationalError("the connection to the server was lost")
    raw.autocommit = True
    try:
        yield raw
    finally:
        try:
            if raw.info.transaction_status != TransactionStatus.IDLE:
                raw.execute("ROLLBACK", prepare=False)
            raw.autocommit = False
        except Exception:
            conn.invalidate()


def _claim_params(
    now: float, limit: int, worker_id: str, lease_s: float, runtimes: Sequence[str] | None
) -> dict[str, Any]:
    return {
        "now": now,
        "limit": limit,
        "owner": worker_id,
        "expires": now + lease_s,
        "runtimes": list(runtimes) if runtimes is not None else None,
    }


def _record_params(results: Sequence[AttemptResult], now: float) -> dict[str, Any]:
    """The arrays :data:`RECORD` unnests: one element per result; usage only for results
    that spent something (as :func:`~brahmi.store.usage.record_usage` decides)."""
    dumps = driver.dumps
    usage: dict[str, list[Any]] = {
        k: []
        for k in (
            "usage_at",
            "input_tokens",
            "output_tokens",
            "costs_usd",
            "session_costs_usd",
            "turns",
        )
    }
    for n, result in enumerate(results, start=1):
        spent = spent_amounts(result.usage)
        if spent is None:
            continue
        usage["usage_at"].append(n)
        usage["input_tokens"].append(spent["input_tokens"])
        usage["output_tokens"].append(spent["output_tokens"])
        usage["costs_usd"].append(spent["cost_usd"])
        usage["session_costs_usd"].append(spent["session_cost_usd"])
        turns = spent["turns"]
        usage["turns"].append(None if turns is None else int(turns))
    outputs = [r.outcome.outputs for r in results]
    return {
        "now": now,
        "ids": [r.task.id for r in results],
        "attempt_ids": [r.attempt_id for r in results],
        "outputs": [None if o is None else dumps(o) for o in outputs],
        "skill_versions": [r.skill_version for r in results],
        "session_refs": [r.session_ref for r in results],
        "transcripts": [r.transcript_path for r in results],
        "usages": [None if r.usage is None else dumps(r.usage) for r in results],
        "executors": [r.executor for r in results],
        **usage,
    }
