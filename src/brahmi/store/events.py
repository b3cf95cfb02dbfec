"""Writing the append-only event log (DESIGN §1): gathered per transaction, written once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.engine import Connection

from brahmi.store import tables as t
from brahmi.store.bulk import bulk_insert


class EventWriter:
    """Events of one transaction, inserted together by :meth:`flush`.

    Args:
        now: The transaction's time, stamped on every event (Unix seconds).
    """

    def __init__(self, now: float) -> None:
        self.now = now
        self.rows: list[dict[str, Any]] = []

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

    def flush(self, conn: Connection) -> None:
        """Insert the gathered events in ``conn``'s transaction."""
        if self.rows:
            bulk_insert(conn, t.events, self.rows)
            self.rows.clear()
