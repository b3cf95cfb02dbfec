"""The correctness loop (DESIGN §5) as pure decisions.

A QA task's ``fail`` verdict either turns the loop (its critiqued tasks are rebuilt with
the feedback, then the QA task runs again) or stops it, with one of the stop codes below.
The store applies the decision in one transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from brahmi.domain.lifecycle import Verdict, downstream
from brahmi.domain.models import TaskStatus

#: The loop ran ``max_rebuilds`` turns and QA still fails.
MAX_REBUILDS_EXCEEDED = "max_rebuilds_exceeded"
#: A turn's feedback repeats the previous turn's issues unchanged: rebuilding again would
#: only repeat the work.
REBUILD_STALLED = "rebuild_stalled"
#: The project's token or cost budget is spent (DESIGN §5, §6).
BUDGET_EXCEEDED = "budget_exceeded"


@dataclass(frozen=True, slots=True)
class LoopState:
    """What the decision needs to know about a QA task whose run just said ``fail``.

    Attributes:
        turns: Loop turns taken so far (the QA task's ``rebuilds``).
        max_rebuilds: The QA task's limit.
        previous_feedback: The feedback of the previous turn, or None on the first.
        budget_left: False when the project's budget is spent.
    """

    turns: int
    max_rebuilds: int
    previous_feedback: Any = None
    budget_left: bool = True


@dataclass(frozen=True, slots=True)
class Rebuild:
    """Turn the loop: rebuild the critiqued tasks with ``feedback``; this is turn ``turn``."""

    turn: int
    feedback: Any


@dataclass(frozen=True, slots=True)
class StopLoop:
    """End the loop: the QA task fails with ``code`` and ``error``."""

    code: str
    error: str


def feedback_signature(feedback: Any) -> str:
    """What two turns are compared by: the feedback's ``issues``, else the feedback itself.

    Returned as canonical JSON, so key order and whitespace do not matter.
    """
    if isinstance(feedback, Mapping) and isinstance(feedback.get("issues"), list):
        feedback = feedback["issues"]
    elif isinstance(feedback, str):
        feedback = feedback.strip()
    return json.dumps(feedback, sort_keys=True, separators=(",", ":"), default=str)


def on_fail_verdict(state: LoopState, verdict: Verdict) -> Rebuild | StopLoop:
    """Decide what a ``fail`` verdict does (DESIGN §5).

    The loop stops, in this order of precedence, when ``max_rebuilds`` turns were taken
    (``max_rebuilds_exceeded``), when the feedback's issues equal the previous turn's
    (``rebuild_stalled``), or when the budget is spent (``budget_exceeded``); otherwise it
    turns.
    """
    summary = _summary(verdict.feedback)
    if state.turns >= state.max_rebuilds:
        return StopLoop(
            MAX_REBUILDS_EXCEEDED,
            f"QA still fails after {state.turns} rebuild(s) (max_rebuilds {state.max_rebuilds})"
            f"{summary}",
        )
    if state.previous_feedback is not None and feedback_signature(
        state.previous_feedback
    ) == feedback_signature(verdict.feedback):
        return StopLoop(
            REBUILD_STALLED,
            f"QA feedback repeats the previous turn's unchanged after {state.turns} "
            f"rebuild(s); rebuilding again would repeat the same work{summary}",
        )
    if not state.budget_left:
        return StopLoop(BUDGET_EXCEEDED, f"the project's budget is spent{summary}")
    return Rebuild(turn=state.turns + 1, feedback=verdict.feedback)


def _summary(feedback: Any) -> str:
    if isinstance(feedback, Mapping):
        text = feedback.get("summary")
        issues = feedback.get("issues")
        count = f" ({len(issues)} issue(s))" if isinstance(issues, list) else ""
        return f": {text}{count}" if text else count
    if isinstance(feedback, str) and feedback.strip():
        return f": {feedback.strip()}"
    return ""


def tasks_to_replan(
    critiqued: Iterable[str],
    qa_task_id: str,
    dependents: Mapping[str, Iterable[str]],
    statuses: Mapping[str, TaskStatus],
) -> list[str]:
    """Tasks downstream of the critiqued ones whose work a rebuild makes stale (DESIGN §5).

    Completed tasks go back to ``planned``; so do ready and running ones (a running one's
    attempt is fenced out, its result discarded). The QA task itself is handled apart.
    """
    stale = (TaskStatus.COMPLETED, TaskStatus.READY, TaskStatus.RUNNING)
    found: list[str] = []
    seen: set[str] = {qa_task_id, *critiqued}
    for task_id in critiqued:
        for candidate in downstream(task_id, dependents):
            if candidate not in seen and statuses.get(candidate) in stale:
                found.append(candidate)
            seen.add(candidate)
    return found
