"""The correctness loop on a real SQLite file (DESIGN §5).

A QA task's ``fail`` verdict rebuilds the tasks it critiques with its feedback and runs
again, until it passes or a stop rule ends the loop. Agents are the scripted runtime;
everything behind it is the real engine.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from brahmi.agents.base import AgentRequest, AgentResult
from brahmi.domain.models import TaskRecord, TaskStatus
from brahmi.service import Brahmi
from brahmi.testing import Hang, ScriptedRuntime
from tests.integration.support import create, spec
from tests.integration.support import settle as settle_batch


@pytest.fixture
def database_url(either_database: str | None) -> str | None:
    """Every test here runs on SQLite and on PostgreSQL."""
    return either_database


S = TaskStatus
WAIT_S = 10.0
FEEDBACK_HEADING = "Feedback from QA — attempt"


def qa_spec(uid: int, name: str, *deps: int, critiques: list[int], **extra: Any) -> dict[str, Any]:
    """A QA task spec critiquing the batch tasks ``critiques``."""
    return spec(uid, name, *deps, inputs={"critiques_tasks": critiques}, **extra)


def settle(brahmi: Brahmi, batch_id: str) -> dict[str, TaskRecord]:
    """Run a worker until the batch settles; the top-level tasks by name."""
    return settle_batch(brahmi, batch_id, top_level=True)


async def wait_until(predicate: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> None:
    """Poll ``predicate`` until it holds, failing after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting until {what}")
        await asyncio.sleep(0.01)


def names(requests: list[AgentRequest]) -> list[str]:
    return [r.task.task_name for r in requests]


def failing(feedback: Any, **extra: Any) -> dict[str, Any]:
    """A QA run's outputs with a ``fail`` verdict."""
    return {"verdict": "fail", "feedback_for_rebuild": feedback, **extra}


def issue(what: str) -> dict[str, Any]:
    return {"what": what, "expected": "it works", "actual": "it does not", "severity": "major"}


def event_kinds(brahmi: Brahmi, task_id: str, kind: str) -> list[dict[str, Any]]:
    return [e.data for e in brahmi.store.events(task_id=task_id) if e.kind == kind]


# -- the loop turns ----------------------------------------------------------------------


def test_a_qa_task_that_fails_twice_then_passes_rebuilds_its_critiqued_task_twice(
    brahmi: Brahmi, runtime: ScriptedRuntime, workspace: Path
) -> None:
    first = {"summary": "login broken", "issues": [issue("login-returns-500")]}
    second = {"summary": "signup broken", "issues": [issue("signup-drops-email")]}
    runtime.enqueue("Test the api", failing(first), failing(second), {"verdict": "pass"})
    batch_id, ids = create(
        brahmi,
        workspace,
        [
            spec(1, "Build the api"),
            qa_spec(2, "Test the api", 1, critiques=[1], order=2),
            spec(3, "Write the metadata", 2, order=3),
        ],
    )

    tasks = settle(brahmi, batch_id)

    assert {t.status for t in tasks.values()} == {S.COMPLETED}
    assert names(runtime.calls) == [
        "Build the api",
        "Test the api",
        "Build the api",
        "Test the api",
        "Build the api",
        "Test the api",
        "Write the metadata",
    ]
    builds = [c.prompt for c in runtime.calls_for("Build the api")]
    assert FEEDBACK_HEADING not in builds[0]
    assert f"{FEEDBACK_HEADING} 2" in builds[1]
    assert "login-returns-500" in builds[1]
    assert f"{FEEDBACK_HEADING} 3" in builds[2]
    assert "signup-drops-email" in builds[2]
    assert "login-returns-500" not in builds[2]
    assert tasks["Build the api"].rebuilds == 2
    assert tasks["Build the api"].inputs["feedback_for_rebuild"] == second
    assert tasks["Test the api"].rebuilds == 2
    assert tasks["Test the api"].outputs == {"verdict": "pass"}
    assert tasks["Write the metadata"].rebuilds == 0
    assert ids["3"] in {c.task.id for c in runtime.calls_for("Write the metadata")}


def test_every_turn_is_kept_in_the_history_and_the_events(
    brahmi: Brahmi, runtime: ScriptedRuntime, workspace: Path
) -> None:
    first = {"summary": "login broken", "issues": [issue("login")]}
    second = {"summary": "signup broken", "issues": [issue("signup")]}
    runtime.enqueue(
        "Test the api",
        failing(first, score=20),
        failing(second, score=60),
        {"verdict": "pass", "score": 95},
    )
    batch_id, ids = create(
        brahmi,
        workspace,
        [spec(1, "Build the api"), qa_spec(2, "Test the api", 1, critiques=[1], order=2)],
    )
    settle(brahmi, batch_id)
    build_id, qa_id = ids["1"], ids["2"]

    verdicts = brahmi.store.history_for(qa_id)
    assert [(h.kind, h.turn) for h in verdicts] == [("verdict", 1), ("verdict", 2), ("verdict", 3)]
    assert [h.data["verdict"] for h in verdicts] == ["fail", "fail", "pass"]
    assert [h.data["score"] for h in verdicts] == [20, 60, 95]
    assert [h.data["feedback_for_rebuild"] for h in verdicts] == [first, second, None]

    rebuilds = brahmi.store.history_for(build_id)
    assert [(h.kind, h.turn) for h in rebuilds] == [("rebuild", 1), ("rebuild", 2)]
    assert [h.data["feedback_for_rebuild"] for h in rebuilds] == [first, second]
    assert {h.data["qa_task_id"] for h in rebuilds} == {qa_id}

    assert [e["turn"] for e in event_kinds(brahmi, qa_id, "verdict")] == [1, 2, 3]
    assert [e["verdict"] for e in event_kinds(brahmi, qa_id, "verdict")] == ["fail", "fail", "pass"]
    assert [e["turn"] for e in event_kinds(brahmi, build_id, "rebuild")] == [1, 2]


def test_a_rebuilt_qa_task_keeps_its_earlier_outputs_in_its_history(
    brahmi: Brahmi, runtime: ScriptedRuntime, workspace: Path
) -> None:
    rejected = failing("the build does not start", tests_failing=["test_boot"])
    runtime.enqueue("Test the api", rejected, {"verdict": "pass", "tests_failing": []})
    batch_id, ids = create(
        brahmi,
        workspace,
        [spec(1, "Build the api"), qa_spec(2, "Test the api", 1, critiques=[1], order=2)],
    )

    tasks = settle(brahmi, batch_id)

    assert tasks["Test the api"].outputs == {"verdict": "pass", "tests_failing": []}
    history = brahmi.store.history_for(ids["2"])
    assert [h.data["outputs"] for h in history] == [
        rejected,
        {"verdict": "pass", "tests_failing": []},
    ]


def test_string_feedback_reaches_the_rebuilt_task_as_it_was_given(
    brahmi: Brahmi, runtime: ScriptedRuntime, workspace: Path
) -> None:
    runtime.enqueue("Test the api", failing("port 8080 is hard-coded"), {"verdict": "pass"})
    batch_id, _ = create(
        brahmi,
        workspace,
        [spec(1, "Build the api"), qa_spec(2, "Test the api", 1, critiques=[1], order=2)],
    )

    tasks = settle(brahmi, batch_id)

    assert tasks["Build the api"].inputs["feedback_for_rebuild"] == "port 8080 is hard-coded"
    rebuilt = runtime.calls_for("Build the api")[1].prompt
    assert f"{FEEDBACK_HEADING} 2" in rebuilt
    assert "port 8080 is hard-coded" in rebuilt


# -- the loop stops ----------------------------------------------------------------------


def test_a_qa_task_still_failing_after_max_rebuilds_fails_and_blocks_what_follows(
    brahmi: Brahmi, runtime: ScriptedRuntime, workspace: Path
) -> None:
    runtime.enqueue(
        "Test the api",
        *(failing({"summary": f"round {n}", "issues": [issue(f"bug-{n}")]}) for n in range(1, 6)),
    )
    batch_id, ids = create(
        brahmi,
        workspace,
        [
            spec(1, "Build the api"),
            qa_spec(2, "Test the api", 1, critiques=[1], order=2),
            spec(3, "Write the metadata", 2, order=3),
            spec(4, "Deploy the api", 3, order=4),
        ],
    )

    tasks = settle(brahmi, batch_id)

    qa = tasks["Test the api"]
    assert qa.status is S.FAILED
    assert qa.error_code == "max_rebuilds_exceeded"
    assert qa.rebuilds == 3
    assert len(runtime.calls_for("Test the api")) == 4
    assert len(runtime.calls_for("Build the api")) == 4
    assert tasks["Build the api"].rebuilds == 3
    assert tasks["Build the api"].status is S.COMPLETED
    assert tasks["Write the metadata"].status is S.BLOCKED
    assert tasks["Deploy the api"].status is S.BLOCKED
    assert runtime.calls_for("Write the metadata") == []
    verdicts = brahmi.store.history_for(ids["2"])
    assert [h.turn for h in verdicts] == [1, 2, 3, 4]
    assert verdicts[-1].data["feedback_for_rebuild"]["summary"] == "round 4"


def test_a_qa_tasks_own_max_rebuilds_is_honoured(
    brahmi: Brahmi, runtime: ScriptedRuntime, workspace: Path
) -> None:
    runtime.enqueue(
        "Test the api",
        failing({"issues": [issue("first")]}),
        failing({"issues": [issue("second")]}),
        {"verdict": "pass"},
    )
    batch_id, _ = create(
        brahmi,
        workspace,
        [
            spec(1, "Build the api"),
            qa_spec(2, "Test the api", 1, critiques=[1], order=2, max_rebuilds=1),
        ],
    )

    tasks = settle(brahmi, batch_id)

    assert tasks["Test the api"].max_rebuilds == 1
    assert tasks["Test the api"].status is S.FAILED
    assert tasks["Test the api"].error_code == "max_rebuilds_exceeded"
    assert len(runtime.calls_for("Test the api")) == 2
    assert len(runtime.calls_for("Build the api")) == 2


def test_feedback_repeating_the_previous_turns_issues_stops_the_loop_as_rebuild_stalled(
    brahmi: Brahmi, runtime: ScriptedRuntime, workspace: Path
) -> None:
    bug = issue("login-returns-500")
    runtime.enqueue(
        "Test the api",
        failing({"summary": "login is broken", "issues": [bug]}),
        # The same issue, reworded summary and keys in another order.
        failing({"issues": [dict(reversed(list(bug.items())))], "summary": "login still broken"}),
        {"verdict": "pass"},
    )
    batch_id, ids = create(
        brahmi,
        workspace,
        [
            spec(1, "Build the api"),
            qa_spec(2, "Test the api", 1, critiques=[1], order=2),
            spec(3, "Write the metadata", 2, order=3),
        ],
    )

    tasks = settle(brahmi, batch_id)

    assert tasks["Test the api"].status is S.FAILED
    assert tasks["Test the api"].error_code == "rebuild_stalled"
    assert len(runtime.calls_for("Test the api")) == 2
    assert len(runtime.calls_for("Build the api")) == 2
    assert tasks["Write the metadata"].status is S.BLOCKED
    assert [h.turn for h in brahmi.store.history_for(ids["2"])] == [1, 2]


def test_a_qa_task_without_a_verdict_fails_with_qa_output_invalid_and_rebuilds_nothing(
    brahmi: Brahmi, runtime: ScriptedRuntime, workspace: Path
) -> None:
    runtime.enqueue("Test the api", {"summary": "looks fine to me"})
    batch_id, ids = create(
        brahmi,
        workspace,
        [
            spec(1, "Build the api"),
            qa_spec(2, "Test the api", 1, critiques=[1], order=2),
            spec(3, "Write the metadata", 2, order=3),
        ],
    )

    tasks = settle(brahmi, batch_id)

    qa = tasks["Test the api"]
    assert qa.status is S.FAILED
    assert qa.error_code == "qa_output_invalid"
    assert qa.rebuilds == 0
    assert qa.outputs == {"summary": "looks fine to me"}
    assert tasks["Build the api"].status is S.COMPLETED
    assert tasks["Build the api"].rebuilds == 0
    assert "feedback_for_rebuild" not in tasks["Build the api"].inputs
    assert len(runtime.calls_for("Build the api")) == 1
    assert tasks["Write the metadata"].status is S.BLOCKED
    assert brahmi.store.history_for(ids["1"]) == []
    assert event_kinds(brahmi, ids["1"], "rebuild") == []


# -- what a turn rebuilds ----------------------------------------------------------------


def test_a_failed_verdict_reruns_every_subtask_of_a_critiqued_parent_with_the_feedback(
    brahmi: Brahmi, runtime: ScriptedRuntime, workspace: Path
) -> None:
    feedback = {"summary": "the cache is wrong", "issues": [issue("stale-cache-entry")]}
    runtime.enqueue("Test the services", failing(feedback), {"verdict": "pass"})
    batch_id, ids = create(
        brahmi,
        workspace,
        [
            spec(1, "Build the services"),
            qa_spec(2, "Test the services", 1, critiques=[1], order=2),
            spec(3, "Write the metadata", 2, order=3),
        ],
    )
    parent_id = ids["1"]
    subs = ["Write the schema", "Write the handlers", "Write the cache"]
    for name in subs:
        brahmi.create_subtask(parent_id, {"task_name": name, "description": f"{name}."})

    tasks = settle(brahmi, batch_id)

    assert {t.status for t in tasks.values()} == {S.COMPLETED}
    assert names(runtime.calls) == [
        *subs,
        "Test the services",
        *subs,
        "Test the services",
        "Write the metadata",
    ]
    assert all(c.task.id != parent_id for c in runtime.calls)
    for name in subs:
        first, again = runtime.calls_for(name)
        assert FEEDBACK_HEADING not in first.prompt
        assert f"{FEEDBACK_HEADING} 2" in again.prompt
        assert "stale-cache-entry" in again.prompt
    parent = tasks["Build the services"]
    assert parent.rebuilds == 1
    assert parent.subtasks_completed
    for sub in brahmi.store.subtasks_of(parent_id):
        assert sub.status is S.COMPLETED
        assert sub.rebuilds == 1
        assert sub.inputs["feedback_for_rebuild"] == feedback
    assert [h.kind for h in brahmi.store.history_for(parent_id)] == ["rebuild"]


def test_completed_work_downstream_of_a_critiqued_task_on_another_branch_runs_again(
    brahmi: Brahmi, runtime: ScriptedRuntime, workspace: Path
) -> None:
    #   build ─→ QA (critiques build)
    #     └───→ docs ─→ publish
    ids: dict[str, str] = {}

    async def fails_once_the_docs_are_published(request: AgentRequest) -> AgentResult:
        await wait_until(
            lambda: brahmi.get_task(ids["4"]).status is S.COMPLETED, "the docs are published"
        )
        return AgentResult(ok=True, outputs=failing({"issues": [issue("wrong-endpoint")]}))

    runtime.enqueue("Test the api", fails_once_the_docs_are_published, {"verdict": "pass"})
    runtime.enqueue("Write the docs", {"docs": "v1"}, {"docs": "v2"})
    runtime.enqueue("Publish the docs", {"published": "v1"}, {"published": "v2"})
    batch_id, created = create(
        brahmi,
        workspace,
        [
            spec(1, "Build the api"),
            qa_spec(2, "Test the api", 1, critiques=[1], order=2),
            spec(3, "Write the docs", 1, order=2),
            spec(4, "Publish the docs", 3, order=3),
        ],
    )
    ids.update(created)

    tasks = settle(brahmi, batch_id)

    assert {t.status for t in tasks.values()} == {S.COMPLETED}
    order = names(runtime.calls)
    assert order.count("Write the docs") == 2
    assert order.count("Publish the docs") == 2
    second_build = [i for i, n in enumerate(order) if n == "Build the api"][1]
    assert [i for i, n in enumerate(order) if n == "Write the docs"][1] > second_build
    assert tasks["Write the docs"].outputs == {"docs": "v2"}
    assert tasks["Publish the docs"].outputs == {"published": "v2"}
    for key in ("3", "4"):
        replanned = [
            e
            for e in event_kinds(brahmi, ids[key], "status_changed")
            if e["from"] == S.COMPLETED and e["to"] == S.PLANNED
        ]
        assert [e["reason"] for e in replanned] == ["rebuild upstream"]
    assert tasks["Write the docs"].rebuilds == 0  # replanned, not rebuilt


def test_a_completed_parent_downstream_of_a_critiqued_task_reruns_its_subtasks(
    brahmi: Brahmi, runtime: ScriptedRuntime, workspace: Path
) -> None:
    ids: dict[str, str] = {}

    async def fails_once_the_parent_completed(request: AgentRequest) -> AgentResult:
        await wait_until(
            lambda: brahmi.get_task(ids["3"]).status is S.COMPLETED, "the parent completed"
        )
        return AgentResult(ok=True, outputs=failing("the api is wrong"))

    runtime.enqueue("Test the api", fails_once_the_parent_completed, {"verdict": "pass"})
    batch_id, created = create(
        brahmi,
        workspace,
        [
            spec(1, "Build the api"),
            qa_spec(2, "Test the api", 1, critiques=[1], order=2),
            spec(3, "Build the clients", 1, order=2),
        ],
    )
    ids.update(created)
    for name in ("Build the python client", "Build the js client"):
        brahmi.create_subtask(ids["3"], {"task_name": name, "description": f"{name}."})

    tasks = settle(brahmi, batch_id)

    assert {t.status for t in tasks.values()} == {S.COMPLETED}
    order = names(runtime.calls)
    assert order.count("Build the python client") == 2
    assert order.count("Build the js client") == 2
    second_build = [i for i, n in enumerate(order) if n == "Build the api"][1]
    assert order.index("Build the python client", second_build) > second_build
    assert all(c.task.id != ids["3"] for c in runtime.calls)
    for sub in brahmi.store.subtasks_of(ids["3"]):
        assert sub.status is S.COMPLETED
        assert "feedback_for_rebuild" not in sub.inputs  # stale, not critiqued


# -- fencing: a superseded attempt records nothing ----------------------------------------


def test_a_hung_attempt_of_replanned_downstream_work_never_records_its_result(
    brahmi: Brahmi, runtime: ScriptedRuntime, workspace: Path
) -> None:
    ids: dict[str, str] = {}

    async def fails_while_the_docs_run(request: AgentRequest) -> AgentResult:
        await wait_until(lambda: brahmi.get_task(ids["3"]).status is S.RUNNING, "the docs run")
        return AgentResult(ok=True, outputs=failing({"issues": [issue("wrong-endpoint")]}))

    runtime.enqueue("Test the api", fails_while_the_docs_run, {"verdict": "pass"})
    runtime.enqueue("Write the docs", Hang(60, then={"docs": "stale"}), {"docs": "fresh"})
    batch_id, created = create(
        brahmi,
        workspace,
        [
            spec(1, "Build the api"),
            qa_spec(2, "Test the api", 1, critiques=[1], order=2),
            spec(3, "Write the docs", 1, order=2),
        ],
    )
    ids.update(created)

    tasks = settle(brahmi, batch_id)

    docs = tasks["Write the docs"]
    assert docs.status is S.COMPLETED
    assert docs.outputs == {"docs": "fresh"}
    attempts = brahmi.store.attempts_for(ids["3"])
    assert [a.status for a in attempts] == ["superseded", "succeeded"]
    assert runtime.cancelled == ["Write the docs"]
    recorded = {e["attempt_id"] for e in event_kinds(brahmi, ids["3"], "outputs")}
    assert recorded == {attempts[1].id}


def test_a_late_result_from_a_superseded_attempt_is_discarded(
    brahmi: Brahmi, runtime: ScriptedRuntime, workspace: Path
) -> None:
    # The stale attempt reports while a fresh attempt of the same task runs: only the
    # attempt that holds the task may record a result.
    ids: dict[str, str] = {}
    stale_attempt: list[str] = []

    def docs() -> TaskRecord:
        return brahmi.get_task(ids["3"])

    async def fails_while_the_docs_run(request: AgentRequest) -> AgentResult:
        await wait_until(lambda: docs().status is S.RUNNING, "the docs run")
        return AgentResult(ok=True, outputs=failing({"issues": [issue("wrong-endpoint")]}))

    async def reports_once_a_fresh_attempt_runs(request: AgentRequest) -> AgentResult:
        stale_attempt.append(request.attempt_id)

        def fresh_attempt_runs() -> bool:
            task = docs()
            return task.status is S.RUNNING and task.current_attempt_id != request.attempt_id

        while True:
            try:
                await wait_until(fresh_attempt_runs, "a fresh attempt of the docs runs")
                break
            except asyncio.CancelledError:
                continue  # an agent that ignores being stopped still reports, late
        return AgentResult(ok=True, outputs={"docs": "stale"})

    async def finishes_after_the_stale_report(request: AgentRequest) -> AgentResult:
        await wait_until(
            lambda: (
                bool(event_kinds(brahmi, ids["3"], "result_discarded"))
                or docs().status is not S.RUNNING
            ),  # (the stale result was wrongly recorded)
            "the stale attempt reported",
        )
        return AgentResult(ok=True, outputs={"docs": "fresh"})

    runtime.enqueue("Test the api", fails_while_the_docs_run, {"verdict": "pass"})
    runtime.enqueue(
        "Write the docs", reports_once_a_fresh_attempt_runs, finishes_after_the_stale_report
    )
    batch_id, created = create(
        brahmi,
        workspace,
        [
            spec(1, "Build the api"),
            qa_spec(2, "Test the api", 1, critiques=[1], order=2),
            spec(3, "Write the docs", 1, order=2),
        ],
    )
    ids.update(created)

    tasks = settle(brahmi, batch_id)

    assert tasks["Write the docs"].status is S.COMPLETED
    assert tasks["Write the docs"].outputs == {"docs": "fresh"}
    [stale] = stale_attempt
    discarded = event_kinds(brahmi, ids["3"], "result_discarded")
    assert [e["attempt_id"] for e in discarded] == [stale]
    attempts = {a.id: a for a in brahmi.store.attempts_for(ids["3"])}
    assert attempts[stale].status == "superseded"
    assert [a.status for a in attempts.values() if a.id != stale] == ["succeeded"]
    assert stale not in {e["attempt_id"] for e in event_kinds(brahmi, ids["3"], "outputs")}
