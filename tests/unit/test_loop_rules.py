"""The correctness loop's pure rules (DESIGN §5): what a ``fail`` verdict does, how two
turns' feedback compare, and which downstream work a rebuild makes stale."""

from __future__ import annotations

from typing import Any

import pytest

from brahmi.domain.lifecycle import Verdict
from brahmi.domain.loop import (
    BUDGET_EXCEEDED,
    MAX_REBUILDS_EXCEEDED,
    REBUILD_STALLED,
    LoopState,
    Rebuild,
    StopLoop,
    feedback_signature,
    on_fail_verdict,
    tasks_to_replan,
)
from brahmi.domain.models import TaskStatus

S = TaskStatus

ISSUE_A = {"what": "login returns 500", "expected": "200", "severity": "critical"}
ISSUE_B = {"what": "no input validation", "location": "api/users.py", "severity": "major"}


def fail(feedback: Any) -> Verdict:
    return Verdict(passed=False, feedback=feedback)


def stop_code(decision: Rebuild | StopLoop) -> str:
    assert isinstance(decision, StopLoop), f"expected the loop to stop, got {decision!r}"
    return decision.code


# -- on_fail_verdict ---------------------------------------------------------------------


def test_the_first_fail_verdict_turns_the_loop_as_turn_one() -> None:
    feedback = {"summary": "broken", "issues": [ISSUE_A]}

    decision = on_fail_verdict(LoopState(turns=0, max_rebuilds=3), fail(feedback))

    assert decision == Rebuild(turn=1, feedback=feedback)


@pytest.mark.parametrize("turns", [1, 2])
def test_each_turn_is_numbered_one_past_the_turns_already_taken(turns: int) -> None:
    previous = {"issues": [ISSUE_A]}
    feedback = {"issues": [ISSUE_B]}

    decision = on_fail_verdict(LoopState(turns, 3, previous_feedback=previous), fail(feedback))

    assert isinstance(decision, Rebuild)
    assert decision.turn == turns + 1
    assert decision.feedback is feedback


def test_the_loop_stops_with_max_rebuilds_exceeded_once_max_rebuilds_turns_were_taken() -> None:
    state = LoopState(turns=3, max_rebuilds=3, previous_feedback={"issues": [ISSUE_A]})

    decision = on_fail_verdict(state, fail({"summary": "still broken", "issues": [ISSUE_B]}))

    assert stop_code(decision) == MAX_REBUILDS_EXCEEDED == "max_rebuilds_exceeded"


def test_a_max_rebuilds_of_zero_stops_the_loop_at_the_first_fail_verdict() -> None:
    decision = on_fail_verdict(LoopState(turns=0, max_rebuilds=0), fail("nothing works"))

    assert stop_code(decision) == MAX_REBUILDS_EXCEEDED


def test_max_rebuilds_exceeded_takes_precedence_over_a_stalled_loop_and_a_spent_budget() -> None:
    feedback = {"issues": [ISSUE_A]}
    state = LoopState(turns=3, max_rebuilds=3, previous_feedback=feedback, budget_left=False)

    assert stop_code(on_fail_verdict(state, fail(feedback))) == MAX_REBUILDS_EXCEEDED


def test_rebuild_stalled_takes_precedence_over_a_spent_budget() -> None:
    feedback = {"issues": [ISSUE_A]}
    state = LoopState(turns=1, max_rebuilds=3, previous_feedback=feedback, budget_left=False)

    assert stop_code(on_fail_verdict(state, fail(feedback))) == REBUILD_STALLED


def test_the_loop_stops_with_rebuild_stalled_when_the_issues_repeat_the_previous_turns() -> None:
    previous = {"summary": "two problems", "issues": [ISSUE_A, ISSUE_B]}
    again = {"summary": "the same two problems, reworded", "issues": [ISSUE_A, ISSUE_B]}

    decision = on_fail_verdict(LoopState(1, 3, previous_feedback=previous), fail(again))

    assert stop_code(decision) == REBUILD_STALLED == "rebuild_stalled"


def test_the_loop_turns_again_when_the_issues_changed_since_the_previous_turn() -> None:
    previous = {"summary": "two problems", "issues": [ISSUE_A, ISSUE_B]}
    progress = {"summary": "two problems", "issues": [ISSUE_B]}

    decision = on_fail_verdict(LoopState(1, 3, previous_feedback=previous), fail(progress))

    assert decision == Rebuild(turn=2, feedback=progress)


def test_the_loop_stops_with_budget_exceeded_when_the_budget_is_spent() -> None:
    state = LoopState(turns=0, max_rebuilds=3, budget_left=False)

    decision = on_fail_verdict(state, fail({"issues": [ISSUE_A]}))

    assert stop_code(decision) == BUDGET_EXCEEDED == "budget_exceeded"


def test_a_first_fail_verdict_without_feedback_is_not_taken_for_a_stalled_loop() -> None:
    decision = on_fail_verdict(LoopState(turns=0, max_rebuilds=3), fail(None))

    assert decision == Rebuild(turn=1, feedback=None)


# -- feedback_signature ------------------------------------------------------------------


def test_feedback_is_compared_by_its_issues_only() -> None:
    first = {"summary": "first look", "tests_failing": 3, "issues": [ISSUE_A]}
    second = {"summary": "second look", "tests_failing": 1, "issues": [ISSUE_A]}

    assert feedback_signature(first) == feedback_signature(second)
    assert feedback_signature(first) != feedback_signature({"issues": [ISSUE_B]})


def test_key_order_does_not_change_the_feedback_signature() -> None:
    reordered_issue = dict(reversed(list(ISSUE_A.items())))
    assert list(reordered_issue) != list(ISSUE_A)

    assert feedback_signature({"issues": [ISSUE_A]}) == feedback_signature(
        {"issues": [reordered_issue]}
    )


def test_the_order_of_the_issues_is_part_of_the_feedback_signature() -> None:
    assert feedback_signature({"issues": [ISSUE_A, ISSUE_B]}) != feedback_signature(
        {"issues": [ISSUE_B, ISSUE_A]}
    )


def test_string_feedback_is_compared_without_surrounding_whitespace() -> None:
    assert feedback_signature("  the login page is blank\n") == feedback_signature(
        "the login page is blank"
    )
    assert feedback_signature("the login page is blank") != feedback_signature(
        "the login page is slow"
    )


def test_feedback_without_an_issues_list_is_compared_whole() -> None:
    assert feedback_signature({"summary": "a", "what_works": ["x"]}) == feedback_signature(
        {"what_works": ["x"], "summary": "a"}
    )
    assert feedback_signature({"summary": "a"}) != feedback_signature({"summary": "b"})


# -- tasks_to_replan ---------------------------------------------------------------------


def graph(*edges: tuple[str, str]) -> dict[str, list[str]]:
    """Dependents by task id from ``(upstream, downstream)`` edges."""
    dependents: dict[str, list[str]] = {}
    for upstream, downstream in edges:
        dependents.setdefault(upstream, []).append(downstream)
    return dependents


@pytest.mark.parametrize("status", [S.COMPLETED, S.READY, S.RUNNING])
def test_downstream_work_that_completed_or_is_about_to_run_is_replanned(
    status: TaskStatus,
) -> None:
    dependents = graph(("build", "qa"), ("build", "docs"))
    statuses = {"build": S.COMPLETED, "qa": S.RUNNING, "docs": status}

    assert tasks_to_replan(["build"], "qa", dependents, statuses) == ["docs"]


@pytest.mark.parametrize("status", [S.PLANNED, S.BLOCKED, S.FAILED])
def test_downstream_work_that_waits_or_failed_is_not_replanned(status: TaskStatus) -> None:
    dependents = graph(("build", "qa"), ("build", "docs"))
    statuses = {"build": S.COMPLETED, "qa": S.RUNNING, "docs": status}

    assert tasks_to_replan(["build"], "qa", dependents, statuses) == []


def test_work_several_steps_downstream_is_replanned_once() -> None:
    #   build → api ─┐
    #     └──→ web ──┴→ release
    dependents = graph(
        ("build", "qa"),
        ("build", "api"),
        ("build", "web"),
        ("api", "release"),
        ("web", "release"),
    )
    statuses = {"qa": S.RUNNING, "api": S.COMPLETED, "web": S.COMPLETED, "release": S.COMPLETED}

    replanned = tasks_to_replan(["build"], "qa", dependents, statuses)

    assert sorted(replanned) == ["api", "release", "web"]
    assert len(replanned) == len(set(replanned))


def test_the_qa_task_itself_is_not_among_the_replanned_tasks() -> None:
    dependents = graph(("build", "qa"), ("qa", "metadata"))
    statuses = {"qa": S.COMPLETED, "metadata": S.PLANNED}

    assert tasks_to_replan(["build"], "qa", dependents, statuses) == []


def test_a_critiqued_task_downstream_of_another_critiqued_task_is_not_replanned() -> None:
    # Both are rebuilt with the feedback; neither is "stale downstream work".
    dependents = graph(("schema", "api"), ("schema", "qa"), ("api", "qa"), ("api", "client"))
    statuses = {"api": S.COMPLETED, "qa": S.RUNNING, "client": S.COMPLETED}

    assert tasks_to_replan(["schema", "api"], "qa", dependents, statuses) == ["client"]
