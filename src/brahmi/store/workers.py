"""The workers table: who claims tasks, from where, and when each last said it was alive.

A worker registers when it starts, touches its row at every heartbeat and marks it stopped
when it shuts down cleanly. ``brahmi workers`` lists the live ones: not stopped, and heard
from within the staleness limit (a killed worker simply stops being heard from; its leases
run out and its tasks are claimed again, DESIGN §9).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, bindparam, func, select, update
from sqlalchemy.engine import Connection

from brahmi.store import driver
from brahmi.store import tables as t
from brahmi.store.database import reading, writing

_workers = t.workers.c
_tasks = t.tasks.c


@functools.cache
def _register_statement(dialect: str) -> Any:
    """Insert a worker's row, or start it again under the same id: one statement (an
    upsert, which both SQLite and PostgreSQL have). Built on first use: importing
    SQLAlchemy's PostgreSQL dialect costs every command ~20 ms."""
    statement: Any
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        statement = postgresql.insert(t.workers)
    else:
        from sqlalchemy.dialects import sqlite

        statement = sqlite.insert(t.workers)
    return statement.on_conflict_do_update(
        index_elements=[_workers.id],
        set_={c.name: statement.excluded[c.name] for c in t.workers.c if c.name != "id"},
    )


_TOUCH = (
    update(t.workers)
    .where(_workers.id == bindparam("p_id"))
    .values(heartbeat_at=bindparam("p_now"))
)
_STOPPED = (
    update(t.workers)
    .where(_workers.id == bindparam("p_id"))
    .values(stopped_at=bindparam("p_now"), heartbeat_at=bindparam("p_now"))
)


@dataclass(frozen=True, slots=True)
class WorkerRecord:
    """A registered worker and what it holds now. Times are Unix seconds."""

    id: str
    host: str
    pid: int
    #: The runtimes it claims tasks for; None for every runtime.
    runtimes: list[str] | None
    concurrency: int
    started_at: float
    heartbeat_at: float
    stopped_at: float | None
    #: Tasks it holds the lease of now.
    running: int = 0

    def to_dict(self) -> dict[str, Any]:
        """As ``brahmi workers --json`` prints it."""
        return {
            "id": self.id,
            "host": self.host,
            "pid": self.pid,
            "runtimes": self.runtimes,
            "concurrency": self.concurrency,
            "started_at": self.started_at,
            "heartbeat_at": self.heartbeat_at,
            "running": self.running,
        }


class WorkerDirectory:
    """Worker rows; mixed into :class:`~brahmi.store.tasks.TaskStore`."""

    engine: Engine

    def register_worker(
        self,
        worker_id: str,
        *,
        host: str,
        pid: int,
        runtimes: Sequence[str] | None,
        concurrency: int,
        now: float,
        connection: Connection | None = None,
    ) -> None:
        """Record a starting worker (again, when one worker object runs a second time).

        Args:
            connection: A connection the caller keeps open, not in a transaction (a
                worker's :class:`~brahmi.store.claims.Recorder`), to write on instead of
                one from the pool.
        """
        values = {
            "host": host,
            "pid": pid,
            "runtimes": list(runtimes) if runtimes is not None else None,
            "concurrency": concurrency,
            "started_at": now,
            "heartbeat_at": now,
            "stopped_at": None,
        }
        with writing(self.engine, connection) as conn:
            statement = _register_statement(conn.dialect.name)
            driver.execute(conn, statement, {"id": worker_id, **values})

    def touch_worker(self, worker_id: str, *, now: float) -> None:
        """Note a worker's heartbeat."""
        with self.engine.begin() as conn:
            conn.execute(_TOUCH, {"p_id": worker_id, "p_now": now})

    def worker_stopped(
        self, worker_id: str, *, now: float, connection: Connection | None = None
    ) -> None:
        """Mark a worker that shut down cleanly (``connection``: see
        :meth:`register_worker`)."""
        with writing(self.engine, connection) as conn:
            driver.execute(conn, _STOPPED, {"p_id": worker_id, "p_now": now})

    def live_workers(self, *, now: float, stale_after_s: float) -> list[WorkerRecord]:
        """Workers not stopped and heard from within ``stale_after_s`` seconds, oldest
        first, each with how many tasks it holds."""
        held = (
            select(_tasks.lease_owner, func.count().label("running"))
            .where(t.IS_RUNNING)
            .group_by(_tasks.lease_owner)
            .subquery()
        )
        query = (
            select(t.workers, func.coalesce(held.c.running, 0).label("running"))
            .outerjoin(held, held.c.lease_owner == _workers.id)
            .where(_workers.stopped_at.is_(None), _workers.heartbeat_at >= now - stale_after_s)
            .order_by(_workers.started_at, _workers.id)
        )
        with reading(self.engine) as conn:
            return [WorkerRecord(**r._mapping) for r in conn.execute(query)]
