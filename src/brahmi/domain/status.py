"""A task's status (DESIGN §1), in a module of its own: the CLI names it in its options'
types when the ``brahmi`` command starts, before (and without) the rest of the model.
"""

from __future__ import annotations

from enum import StrEnum


class TaskStatus(StrEnum):
    """Where a task is in its lifecycle (DESIGN §1)."""

    #: Waiting on dependencies (or on its turn among sibling sub-tasks).
    PLANNED = "planned"
    #: Every dependency completed; waiting for a worker.
    READY = "ready"
    #: An attempt holds the lease and is running.
    RUNNING = "running"
    #: Finished with valid outputs. Terminal.
    COMPLETED = "completed"
    #: Finished without valid outputs, or gave up. Terminal.
    FAILED = "failed"
    #: Stopped by a person. Terminal.
    CANCELLED = "cancelled"
    #: A dependency failed or was cancelled; waits for a retry upstream.
    BLOCKED = "blocked"

    @property
    def is_terminal(self) -> bool:
        """True for ``completed``, ``failed`` and ``cancelled``."""
        return self in TERMINAL_STATUSES

    @property
    def is_settled(self) -> bool:
        """True when nothing more will happen without a person: terminal or blocked."""
        return self in TERMINAL_STATUSES or self is TaskStatus.BLOCKED


TERMINAL_STATUSES = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED})
