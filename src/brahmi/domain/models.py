"""The task model as the domain sees it: statuses, specs, and read-only views.

These are plain dataclasses, independent of storage. DESIGN §1 defines the fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

# A task's status has a module of its own (the CLI imports it alone); it is named here too.
from brahmi.domain.status import TERMINAL_STATUSES, TaskStatus

#: Default wall-clock limit of one agent run, in seconds (DESIGN §1).
DEFAULT_TIMEOUT_S = 3600
#: Largest accepted ``timeout_seconds`` (one day).
MAX_TIMEOUT_S = 86_400
#: Default number of attempts for infrastructure failures (DESIGN §3).
DEFAULT_MAX_ATTEMPTS = 3
#: Default correctness-loop limit (DESIGN §5).
DEFAULT_MAX_REBUILDS = 3


class Dialect(StrEnum):
    """The three batch dialects of the seeds (DESIGN §2)."""

    #: ``unique_id`` / ``logical_dependencies`` (seeds 003, 004).
    SNAKE_CASE = "snake_case"
    #: ``uniqueId`` / ``logicalDependencies`` (seed 000).
    CAMEL_CASE = "camelCase"
    #: No ids; ``dependencies`` holds ``task_order`` integers (seed 001).
    TASK_ORDER = "task_order"


@dataclass(frozen=True, slots=True)
class ValidationCriteria:
    """What a task's result is judged by (DESIGN §1)."""

    critical: tuple[str, ...] = ()
    expected: tuple[str, ...] = ()
    nice_to_have: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, list[str]]:
        """As stored and shown: three lists of strings."""
        return {
            "critical": list(self.critical),
            "expected": list(self.expected),
            "nice_to_have": list(self.nice_to_have),
        }


@dataclass(frozen=True, slots=True)
class Ref:
    """A reference from one task spec to another task.

    Exactly one of ``batch_key`` (a task of the same batch, by its batch id as a string)
    and ``task_id`` (an existing task's UUID) is set.
    """

    batch_key: str | None = None
    task_id: str | None = None


@dataclass(slots=True)
class NewTask:
    """A normalised, validated task spec, ready to be stored.

    Attributes:
        key: The task's id within its batch, as a string (``"1"``); for the task_order
            dialect, its ``task_order``.
        skill_id: The skill's full_id (short names already resolved).
        dependencies: What must complete before this task may run.
        critiques: For a QA task, the tasks its verdict judges (DESIGN §5).
        inputs: The task's inputs as given, with ``critiques_tasks`` still in batch terms;
            the store rewrites it to task ids.
    """

    key: str
    task_name: str
    description: str
    skill_id: str
    task_order: int
    inputs: dict[str, Any]
    validation_criteria: ValidationCriteria
    timeout_seconds: int = DEFAULT_TIMEOUT_S
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    max_rebuilds: int = DEFAULT_MAX_REBUILDS
    dependencies: list[Ref] = field(default_factory=list)
    critiques: list[Ref] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ExistingTask:
    """What batch validation needs to know about a task already stored."""

    id: str
    status: TaskStatus
    is_subtask: bool
    #: Ids of the task's dependencies, transitively (for the critique check).
    ancestors: frozenset[str] = frozenset()


@dataclass(slots=True)
class NormalisedBatch:
    """A batch that passed validation, in one dialect-free shape."""

    dialect: Dialect
    tasks: list[NewTask]
    warnings: list[Any] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class TaskRecord:
    """A stored task as read back (DESIGN §1). Timestamps are Unix seconds."""

    id: str
    project_id: str
    user_id: str
    parent_id: str | None
    position: int | None
    batch_id: str | None
    batch_key: str | None
    skill_id: str
    skill_version: str | None
    task_name: str
    description: str
    task_order: int
    inputs: dict[str, Any]
    validation_criteria: dict[str, list[str]]
    timeout_seconds: int
    max_attempts: int
    max_rebuilds: int
    is_qa: bool
    status: TaskStatus
    outputs: dict[str, Any] | None
    error: str | None
    error_code: str | None
    attempts: int
    rebuilds: int
    session_ref: str | None
    subtasks_completed: bool
    current_attempt_id: str | None
    lease_owner: str | None
    lease_expires_at: float | None
    run_after: float
    created_at: float
    updated_at: float
    started_at: float | None
    finished_at: float | None
    has_subtasks: bool = False
    attempt_base: int = 0
    pending_resume: dict[str, Any] | None = None
    #: The runtime chosen at creation (DESIGN §6); None: chosen when it runs.
    runtime: str | None = None
    dependencies: tuple[str, ...] = ()

    @property
    def attempts_since_reset(self) -> int:
        """Attempts since the last retry, rebuild or resume (the infrastructure limit's count)."""
        return self.attempts - self.attempt_base


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One agent run of a task (DESIGN §3)."""

    id: str
    task_id: str
    number: int
    worker_id: str
    executor: str | None
    status: str
    skill_version: str | None
    error: str | None
    transcript_path: str | None
    usage: dict[str, Any] | None
    started_at: float
    finished_at: float | None
    #: The agent's process id (also its process group), for runtimes that spawn one.
    process_id: int | None = None


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One row of the append-only event log (DESIGN §1)."""

    id: int
    project_id: str | None
    task_id: str | None
    kind: str
    data: dict[str, Any]
    created_at: float


@dataclass(frozen=True, slots=True)
class Claim:
    """A task a worker has leased for one attempt."""

    task: TaskRecord
    attempt_id: str
    attempt_number: int


@dataclass(frozen=True, slots=True)
class HistoryRecord:
    """One turn in a task's history: a QA verdict, feedback received, a resume, a retry."""

    id: int
    task_id: str
    kind: str
    turn: int | None
    data: dict[str, Any]
    created_at: float


__all__ = [
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_MAX_REBUILDS",
    "DEFAULT_TIMEOUT_S",
    "MAX_TIMEOUT_S",
    "TERMINAL_STATUSES",
    "AttemptRecord",
    "Claim",
    "Dialect",
    "EventRecord",
    "ExistingTask",
    "HistoryRecord",
    "NewTask",
    "NormalisedBatch",
    "Ref",
    "TaskRecord",
    "TaskStatus",
    "ValidationCriteria",
]
