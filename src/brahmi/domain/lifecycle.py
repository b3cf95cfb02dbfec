"""Lifecycle rules as pure functions (DESIGN §3, §5, §10).

The engine reads a small snapshot of the graph, asks these functions what should happen,
and applies the answer in one transaction that checks the statuses it changes. Nothing
here touches a database or a clock: times come in as arguments.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from brahmi.domain.models import TaskStatus

#: First retry delay after an infrastructure failure, in seconds.
BACKOFF_BASE_S = 1.0
#: Longest retry delay, in seconds.
BACKOFF_MAX_S = 60.0


class FailureKind(StrEnum):
    """Why a run ended without a result (DESIGN §3)."""

    #: The runtime crashed or was missing, or the worker died: retried automatically.
    INFRASTRUCTURE = "infrastructure"
    #: The agent said it failed (non-zero exit, ``outputs.status == "failed"``, bad outputs).
    AGENT = "agent"
    #: ``timeout_seconds`` or the idle limit ended the run.
    TIMEOUT = "timeout"
    #: The runtime or skill cannot run here at all (program missing, not configured).
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a finished attempt does to its task."""

    status: TaskStatus
    outputs: dict[str, Any] | None = None
    error: str | None = None
    #: Stable code for ``error``: ``qa_output_invalid``, ``qa_failed``, ``agent_failed``…
    error_code: str | None = None
    #: For an infrastructure retry: seconds to wait before the task may be claimed again.
    retry_after_s: float | None = None
    #: A QA task's verdict; a ``fail`` is turned into a rebuild or a stop by the loop.
    verdict: Verdict | None = None


def readiness(dependency_statuses: Iterable[TaskStatus]) -> TaskStatus:
    """The status a waiting task should have, given its dependencies' statuses (DESIGN §3).

    Returns:
        ``ready`` when every dependency completed (or there are none), ``blocked`` when any
        failed, was cancelled or is itself blocked, else ``planned``.
    """
    statuses = set(dependency_statuses)
    if statuses & _BLOCKING:
        return TaskStatus.BLOCKED
    if statuses <= _DONE:
        return TaskStatus.READY
    return TaskStatus.PLANNED


_BLOCKING = frozenset({TaskStatus.FAILED, TaskStatus.CANCELLED, TaskStatus.BLOCKED})
_DONE = frozenset({TaskStatus.COMPLETED})


def backoff_s(attempt: int) -> float:
    """Delay before retry number ``attempt`` (1-based) after an infrastructure failure.

    Doubles from :data:`BACKOFF_BASE_S` up to :data:`BACKOFF_MAX_S`.
    """
    return float(min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** max(0, attempt - 1)))


def after_failure(
    kind: FailureKind,
    error: str,
    *,
    attempts: int,
    max_attempts: int,
    code: str | None = None,
    outputs: dict[str, Any] | None = None,
) -> Outcome:
    """What a failed attempt does to its task (DESIGN §3).

    Infrastructure failures go back to ``ready`` after a backoff while attempts remain;
    agent failures and timeouts fail the task at once (the planner or a person decides).

    Args:
        kind: Why the run ended.
        error: The reason, shown to people.
        attempts: Attempts made so far, this one included.
        max_attempts: The task's limit.
        code: A more precise error code than the kind's default (e.g. ``agent_output_invalid``).
        outputs: Whatever outputs the agent gave before failing, kept for people to read.
    """
    if kind is FailureKind.INFRASTRUCTURE and attempts < max_attempts:
        return Outcome(
            TaskStatus.READY,
            error=error,
            error_code="infrastructure_retry",
            retry_after_s=backoff_s(attempts),
        )
    default_code = {
        FailureKind.INFRASTRUCTURE: "infrastructure_failed",
        FailureKind.AGENT: "agent_failed",
        FailureKind.TIMEOUT: "timeout",
        FailureKind.UNAVAILABLE: "runtime_unavailable",
    }[kind]
    if kind is FailureKind.INFRASTRUCTURE:
        error = f"{error} (gave up after {attempts} attempt(s))"
    return Outcome(TaskStatus.FAILED, outputs=outputs, error=error, error_code=code or default_code)


@dataclass(frozen=True, slots=True)
class Verdict:
    """A QA task's judgement (DESIGN §5)."""

    passed: bool
    #: ``feedback_for_rebuild`` as the agent gave it: an object, a string, or None.
    feedback: Any = None

    @property
    def issues(self) -> list[Any]:
        """The feedback's ``issues`` list, or an empty list."""
        if isinstance(self.feedback, dict) and isinstance(self.feedback.get("issues"), list):
            return list(self.feedback["issues"])
        return []


def parse_verdict(outputs: Mapping[str, Any]) -> Verdict | None:
    """Read ``verdict`` (``"pass"``/``"fail"``, any case) from a QA task's outputs.

    Returns:
        The verdict, or None when it is missing or not one of the two values.
    """
    raw = outputs.get("verdict")
    if not isinstance(raw, str) or raw.strip().lower() not in ("pass", "fail"):
        return None
    return Verdict(raw.strip().lower() == "pass", outputs.get("feedback_for_rebuild"))


def after_success(outputs: Mapping[str, Any], *, is_qa: bool) -> Outcome:
    """What a run that returned outputs does to its task (DESIGN §3, §5).

    ``outputs.status == "failed"`` is an agent-reported failure. A QA task needs a valid
    verdict (``qa_output_invalid`` otherwise). A ``fail`` verdict comes back as a failure
    with code ``qa_failed`` carrying the verdict; the store hands it to the correctness
    loop (:mod:`brahmi.domain.loop`), which turns it into a rebuild or a stop.
    """
    data = dict(outputs)
    if str(data.get("status", "")).lower() == "failed":
        reason = data.get("error") or data.get("summary") or "the agent reported failure"
        return Outcome(TaskStatus.FAILED, data, f"agent reported failure: {reason}", "agent_failed")
    if not is_qa:
        return Outcome(TaskStatus.COMPLETED, data)
    verdict = parse_verdict(data)
    if verdict is None:
        return Outcome(
            TaskStatus.FAILED,
            data,
            'a QA task must end with outputs holding "verdict": "pass" or "fail"',
            "qa_output_invalid",
        )
    if verdict.passed:
        return Outcome(TaskStatus.COMPLETED, data, verdict=verdict)
    return Outcome(
        TaskStatus.FAILED, data, _feedback_summary(verdict), "qa_failed", verdict=verdict
    )


def _feedback_summary(verdict: Verdict) -> str:
    feedback = verdict.feedback
    if isinstance(feedback, str) and feedback.strip():
        return f"QA verdict fail: {feedback.strip()}"
    if isinstance(feedback, dict):
        summary = feedback.get("summary") or ""
        count = len(verdict.issues)
        return f"QA verdict fail: {summary} ({count} issue(s))".replace(":  (", ": (")
    return "QA verdict fail"


def downstream(task_id: str, dependents: Mapping[str, Iterable[str]]) -> list[str]:
    """Every task that depends on ``task_id``, directly or not, in breadth-first order.

    Args:
        task_id: The task whose descendants are wanted.
        dependents: For each task id, the ids of the tasks that depend on it.
    """
    seen: set[str] = set()
    order: list[str] = []
    queue = deque(dependents.get(task_id, ()))
    while queue:
        current = queue.popleft()
        if current in seen:
            continue
        seen.add(current)
        order.append(current)
        queue.extend(dependents.get(current, ()))
    return order


def tasks_to_block(
    task_id: str,
    dependents: Mapping[str, Iterable[str]],
    statuses: Mapping[str, TaskStatus],
) -> list[str]:
    """The tasks a failure or cancellation of ``task_id`` blocks (DESIGN §3).

    Every waiting descendant (``planned`` or ``ready``) becomes ``blocked``; running and
    finished ones keep their status.
    """
    waiting = (TaskStatus.PLANNED, TaskStatus.READY)
    return [t for t in downstream(task_id, dependents) if statuses.get(t) in waiting]
