"""The lifecycle rules (DESIGN §3, §5) as pure functions: no database, no clock."""

from __future__ import annotations

import pytest

from brahmi.domain import lifecycle
from brahmi.domain.lifecycle import FailureKind
from brahmi.domain.models import TaskStatus

S = TaskStatus


# -- readiness ---------------------------------------------------------------------------


def test_a_task_without_dependencies_is_ready() -> None:
    assert lifecycle.readiness([]) is S.READY


def test_a_task_whose_dependencies_all_completed_is_ready() -> None:
    assert lifecycle.readiness([S.COMPLETED, S.COMPLETED]) is S.READY


@pytest.mark.parametrize("blocking", [S.FAILED, S.CANCELLED, S.BLOCKED])
def test_any_failed_cancelled_or_blocked_dependency_blocks_the_task(blocking: S) -> None:
    assert lifecycle.readiness([S.COMPLETED, blocking, S.RUNNING]) is S.BLOCKED


@pytest.mark.parametrize("waiting", [S.PLANNED, S.READY, S.RUNNING])
def test_a_dependency_still_in_progress_keeps_the_task_planned(waiting: S) -> None:
    assert lifecycle.readiness([S.COMPLETED, waiting]) is S.PLANNED


def test_readiness_accepts_any_iterable_of_statuses() -> None:
    assert lifecycle.readiness(s for s in (S.COMPLETED,)) is S.READY


# -- backoff -----------------------------------------------------------------------------


def test_backoff_starts_at_the_base_and_doubles_per_attempt() -> None:
    base = lifecycle.BACKOFF_BASE_S
    assert [lifecycle.backoff_s(n) for n in (1, 2, 3, 4)] == [base, 2 * base, 4 * base, 8 * base]


def test_backoff_is_capped_at_the_maximum() -> None:
    assert lifecycle.backoff_s(100) == lifecycle.BACKOFF_MAX_S
    assert all(lifecycle.backoff_s(n) <= lifecycle.BACKOFF_MAX_S for n in range(1, 50))


def test_backoff_of_attempt_zero_or_less_is_the_base() -> None:
    assert lifecycle.backoff_s(0) == lifecycle.BACKOFF_BASE_S


def test_backoff_follows_a_patched_base(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lifecycle, "BACKOFF_BASE_S", 0.01)
    assert lifecycle.backoff_s(1) == 0.01
    assert lifecycle.backoff_s(3) == pytest.approx(0.04)


# -- after_failure -----------------------------------------------------------------------


def test_an_infrastructure_failure_is_retried_while_attempts_remain() -> None:
    outcome = lifecycle.after_failure(
        FailureKind.INFRASTRUCTURE, "runtime crashed", attempts=1, max_attempts=3
    )
    assert outcome.status is S.READY
    assert outcome.error_code == "infrastructure_retry"
    assert outcome.retry_after_s == lifecycle.backoff_s(1)


def test_the_retry_delay_grows_with_the_attempts_made() -> None:
    second = lifecycle.after_failure(
        FailureKind.INFRASTRUCTURE, "runtime crashed", attempts=2, max_attempts=3
    )
    assert second.status is S.READY
    assert second.retry_after_s == lifecycle.backoff_s(2)


def test_an_infrastructure_failure_on_the_last_attempt_fails_the_task() -> None:
    outcome = lifecycle.after_failure(
        FailureKind.INFRASTRUCTURE, "runtime crashed", attempts=3, max_attempts=3
    )
    assert outcome.status is S.FAILED
    assert outcome.error_code == "infrastructure_failed"
    assert outcome.retry_after_s is None
    assert outcome.error is not None
    assert "runtime crashed" in outcome.error
    assert "3 attempt" in outcome.error


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        (FailureKind.AGENT, "agent_failed"),
        (FailureKind.TIMEOUT, "timeout"),
        (FailureKind.UNAVAILABLE, "runtime_unavailable"),
    ],
)
def test_agent_timeout_and_unavailable_failures_fail_at_once(kind: FailureKind, code: str) -> None:
    outcome = lifecycle.after_failure(kind, "it went wrong", attempts=1, max_attempts=3)
    assert outcome.status is S.FAILED
    assert outcome.error_code == code
    assert outcome.error == "it went wrong"
    assert outcome.retry_after_s is None


@pytest.mark.parametrize("kind", [FailureKind.AGENT, FailureKind.TIMEOUT, FailureKind.UNAVAILABLE])
def test_an_explicit_failure_code_is_kept(kind: FailureKind) -> None:
    outcome = lifecycle.after_failure(
        kind, "bad outputs", attempts=1, max_attempts=3, code="agent_output_invalid"
    )
    assert outcome.error_code == "agent_output_invalid"


def test_an_explicit_code_is_kept_when_infrastructure_retries_run_out() -> None:
    outcome = lifecycle.after_failure(
        FailureKind.INFRASTRUCTURE, "gone", attempts=3, max_attempts=3, code="worker_lost"
    )
    assert outcome.status is S.FAILED
    assert outcome.error_code == "worker_lost"


def test_outputs_given_before_a_failure_are_kept() -> None:
    outcome = lifecycle.after_failure(
        FailureKind.AGENT, "no", attempts=1, max_attempts=3, outputs={"partial": True}
    )
    assert outcome.outputs == {"partial": True}


# -- after_success -----------------------------------------------------------------------


def test_a_non_qa_task_with_outputs_completes() -> None:
    outcome = lifecycle.after_success({"url": "http://x"}, is_qa=False)
    assert outcome.status is S.COMPLETED
    assert outcome.outputs == {"url": "http://x"}
    assert outcome.error is None
    assert outcome.error_code is None


@pytest.mark.parametrize("status", ["failed", "FAILED", "Failed"])
def test_outputs_with_status_failed_are_an_agent_failure(status: str) -> None:
    outcome = lifecycle.after_success({"status": status, "error": "tests red"}, is_qa=False)
    assert outcome.status is S.FAILED
    assert outcome.error_code == "agent_failed"
    assert outcome.error is not None
    assert "tests red" in outcome.error
    assert outcome.outputs == {"status": status, "error": "tests red"}


def test_status_failed_is_an_agent_failure_even_for_a_qa_task() -> None:
    outcome = lifecycle.after_success({"status": "failed", "verdict": "pass"}, is_qa=True)
    assert outcome.status is S.FAILED
    assert outcome.error_code == "agent_failed"


def test_other_status_values_do_not_fail_the_task() -> None:
    assert lifecycle.after_success({"status": "ok"}, is_qa=False).status is S.COMPLETED


def test_a_qa_task_without_a_verdict_fails_with_qa_output_invalid() -> None:
    outcome = lifecycle.after_success({"summary": "looks fine"}, is_qa=True)
    assert outcome.status is S.FAILED
    assert outcome.error_code == "qa_output_invalid"
    assert outcome.outputs == {"summary": "looks fine"}


def test_a_qa_task_with_an_invalid_verdict_fails_with_qa_output_invalid() -> None:
    outcome = lifecycle.after_success({"verdict": "maybe"}, is_qa=True)
    assert outcome.error_code == "qa_output_invalid"


def test_a_passing_verdict_completes_the_qa_task() -> None:
    outcome = lifecycle.after_success({"verdict": "Pass", "score": 90}, is_qa=True)
    assert outcome.status is S.COMPLETED
    assert outcome.outputs == {"verdict": "Pass", "score": 90}


def test_a_failing_verdict_fails_the_qa_task_with_qa_failed() -> None:
    feedback = {"summary": "login broken", "issues": [{"what": "a"}, {"what": "b"}]}
    outcome = lifecycle.after_success(
        {"verdict": "fail", "feedback_for_rebuild": feedback}, is_qa=True
    )
    assert outcome.status is S.FAILED
    assert outcome.error_code == "qa_failed"
    assert outcome.error is not None
    assert "login broken" in outcome.error
    assert "2 issue" in outcome.error


def test_a_failing_verdict_with_string_feedback_quotes_it() -> None:
    outcome = lifecycle.after_success(
        {"verdict": "fail", "feedback_for_rebuild": "  add tests  "}, is_qa=True
    )
    assert outcome.error_code == "qa_failed"
    assert outcome.error == "QA verdict fail: add tests"


def test_a_verdict_on_a_non_qa_task_is_ignored() -> None:
    assert lifecycle.after_success({"verdict": "fail"}, is_qa=False).status is S.COMPLETED


# -- parse_verdict -----------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["pass", "PASS", " Pass "])
def test_parse_verdict_reads_pass_in_any_case(raw: str) -> None:
    verdict = lifecycle.parse_verdict({"verdict": raw})
    assert verdict is not None
    assert verdict.passed


@pytest.mark.parametrize("raw", ["fail", "FAIL", "Fail\n"])
def test_parse_verdict_reads_fail_in_any_case(raw: str) -> None:
    verdict = lifecycle.parse_verdict({"verdict": raw, "feedback_for_rebuild": "x"})
    assert verdict is not None
    assert not verdict.passed
    assert verdict.feedback == "x"


@pytest.mark.parametrize("raw", [None, "", "passed", "ok", True, 1, ["pass"], {"v": "pass"}])
def test_parse_verdict_rejects_anything_but_pass_or_fail(raw: object) -> None:
    assert lifecycle.parse_verdict({"verdict": raw}) is None


def test_parse_verdict_without_the_key_is_none() -> None:
    assert lifecycle.parse_verdict({}) is None


def test_verdict_issues_come_from_object_feedback_only() -> None:
    with_issues = lifecycle.Verdict(False, {"issues": [{"what": "x"}]})
    assert with_issues.issues == [{"what": "x"}]
    assert lifecycle.Verdict(False, "text").issues == []
    assert lifecycle.Verdict(False, {"issues": "not a list"}).issues == []
    assert lifecycle.Verdict(True).issues == []


# -- downstream and blocking -------------------------------------------------------------

#   a → b → d
#   a → c → d → e      (x is unrelated)
GRAPH: dict[str, list[str]] = {
    "a": ["b", "c"],
    "b": ["d"],
    "c": ["d"],
    "d": ["e"],
    "x": ["y"],
}


def test_downstream_is_transitive_breadth_first_and_without_duplicates() -> None:
    assert lifecycle.downstream("a", GRAPH) == ["b", "c", "d", "e"]


def test_downstream_of_a_leaf_is_empty() -> None:
    assert lifecycle.downstream("e", GRAPH) == []
    assert lifecycle.downstream("unknown", GRAPH) == []


def test_downstream_survives_a_cycle_in_the_map() -> None:
    assert lifecycle.downstream("p", {"p": ["q"], "q": ["p"]}) == ["q", "p"]


def test_every_waiting_descendant_is_blocked_transitively() -> None:
    statuses = {"b": S.PLANNED, "c": S.READY, "d": S.PLANNED, "e": S.PLANNED, "y": S.PLANNED}
    assert lifecycle.tasks_to_block("a", GRAPH, statuses) == ["b", "c", "d", "e"]


def test_running_and_finished_descendants_are_left_alone() -> None:
    statuses = {
        "b": S.RUNNING,
        "c": S.COMPLETED,
        "d": S.PLANNED,
        "e": S.FAILED,
    }
    assert lifecycle.tasks_to_block("a", GRAPH, statuses) == ["d"]


def test_already_blocked_or_cancelled_descendants_are_not_blocked_again() -> None:
    statuses = {"b": S.BLOCKED, "c": S.CANCELLED, "d": S.PLANNED, "e": S.READY}
    assert lifecycle.tasks_to_block("a", GRAPH, statuses) == ["d", "e"]


def test_descendants_with_no_known_status_are_not_blocked() -> None:
    assert lifecycle.tasks_to_block("a", GRAPH, {"b": S.PLANNED}) == ["b"]
