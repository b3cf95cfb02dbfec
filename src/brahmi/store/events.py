"""Writing the append-only event log (DESIGN §1): gathered per transaction, written once.

Flushing also queues the planner's ``task_completed`` triggers (DESIGN §7): a top-level
task of a batch a planner session created that reached a terminal status gets its trigger
row in the same transaction as the status change, so no trigger is ever lost.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from sqlalchemy import Float, bindparam, insert, literal_column, or_, select
from sqlalchemy.engine import Connection

from brahmi.domain.models import TERMINAL_STATUSES
from brahmi.store import driver
from brahmi.store import tables as t
from brahmi.store.bulk import bulk_insert


class Slots(Protocol):
    """Free slots of a worker, to claim what a transaction makes ready (implemented by
    :class:`brahmi.store.graph.ClaimSlots`)."""

    def take(self, conn: Connection, row: Mapping[str, Any]) -> bool:
        """Claim the waiting task ``row`` if a slot is free; True if so."""
        ...


_TERMINAL = frozenset(s.value for s in TERMINAL_STATUSES)
_tasks = t.tasks.c
_triggers = t.planner_triggers.c
#: One ``task_completed`` trigger per settled top-level task a planner session created.
_QUEUE_TRIGGERS = insert(t.planner_triggers).from_select(
    [
        _triggers.session_id,
        _triggers.kind,
        _triggers.task_id,
        _triggers.task_status,
        _triggers.status,
        _triggers.deliveries,
        _triggers.input_tokens,
        _triggers.output_tokens,
        _triggers.cost_usd,
        _triggers.created_at,
    ],
    select(
        t.planner_batches.c.session_id,
        literal_column("'task_completed'"),
        _tasks.id,
        _tasks.status,
        literal_column("'pending'"),
        literal_column("0"),
        literal_column("0"),
        literal_column("0"),
        literal_column("0.0"),
        bindparam("p_now", type_=Float),
    )
    .select_from(t.tasks.join(t.planner_batches, t.planner_batches.c.batch_id == _tasks.batch_id))
    .where(
        _tasks.id == bindparam("p_id"),
        _tasks.parent_id.is_(None),
        or_(*(_tasks.status == literal_column(f"'{status}'") for status in sorted(_TERMINAL))),
    ),
)


class EventWriter:
    """Events of one transaction, inserted together by :meth:`flush`.

    Args:
        now: The transaction's time, stamped on every event (Unix seconds).
    """

    def __init__(self, now: float) -> None:
        self.now = now
        self.rows: list[dict[str, Any]] = []
        #: Tasks known (from a row this transaction already read) to have no planner
        #: session: their ``task_completed`` trigger query is skipped.
        self.no_planner: set[str] = set()
        #: A worker's free slots, when the tasks this transaction makes ready may be
        #: claimed by it at once (see :func:`brahmi.store.graph.promote_dependents`).
        self.claim_slots: Slots | None = None
        #: When a list: top-level tasks completed in this transaction whose dependents
        #: are to be promoted together, once every result is recorded (see
        #: :meth:`brahmi.store.claims.WorkerOperations.record_and_claim`); None: each
        #: completion promotes its dependents at once.
        self.promote_later: list[str] | None = None
        #: Alongside :attr:`promote_later`: the parameters of each recorded attempt's
        #: closing update, run together (one ``executemany``) after every result.
        self.close_later: list[dict[str, Any]] = []

    def add(self, kind: str, project_id: str | None, task_id: str | None, **data: Any) -> None:
        """Record an event of ``kind`` with ``data`` as its JSON payload."""
        self.rows.append(
            {
                "project_id": project_id,
                "task_id": task_id,
                "kind": kind,
                "data": data,
                "created_at": self.now,
            }
        )

    def status(self, task: Mapping[Any, Any], old: str, new: str, **data: Any) -> None:
        """Record a ``status_changed`` event of ``task`` (a row with ``id``, ``project_id``)."""
        self.add(
            "status_changed", task["project_id"], task["id"], **{"from": old, "to": new, **data}
        )

    def made_ready(self) -> set[str]:
        """The tasks that became ``ready`` in this transaction (events not yet flushed)."""
        return {
            row["task_id"]
            for row in self.rows
            if row["kind"] == "status_changed" and row["data"].get("to") == "ready"
        }

    def flush(self, conn: Connection) -> None:
        """Insert the gathered events in ``conn``'s transaction, and the ``task_completed``
        triggers of planner tasks that settled in it."""
        if not self.rows:
            return
        settled = [
            row["task_id"]
            for row in self.rows
            if row["kind"] == "status_changed" and row["data"].get("to") in _TERMINAL
        ]
        bulk_insert(conn, t.events, self.rows)
        self.rows.clear()
        if settled:
            # One statement per settled task, in the order the tasks settled: it adds
            # nothing for a task no planner session created.
            for task_id in dict.fromkeys(settled):
                if task_id in self.no_planner:
                    continue
                driver.execute(conn, _QUEUE_TRIGGERS, {"p_id": task_id, "p_now": self.now})
