"""Retry, cancel and resume on a real SQLite file (DESIGN §3, §6).

A retry runs a failed, blocked or cancelled task again with what it blocked;
``resume_task(mode="continue")`` runs a finished task again with a message, replacing its
outputs and replanning completed work downstream.
"""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest

from brahmi import errors
from brahmi.config import Settings
from brahmi.domain import lifecycle
from brahmi.domain.models import TaskStatus
from brahmi.service import Brahmi
from brahmi.testing import Crash, Fail, ScriptedRuntime
from tests.integration.support import create, settle, spec


@pytest.fixture
def database_url(either_database: str | None) -> str | None:
    """Every test here runs on SQLite and on PostgreSQL."""
    return either_database


S = TaskStatus


def statuses(brahmi: Brahmi, ids: dict[str, str]) -> dict[str, TaskStatus]:
    return {key: brahmi.get_task(task_id).status for key, task_id in ids.items()}


def names(runtime: ScriptedRuntime) -> list[str]:
    return [r.task.task_name for r in runtime.calls]


def chain(brahmi: Brahmi, workspace: Path) -> tuple[str, dict[str, str]]:
    """Build → Test → Deploy, each depending on the one before."""
    return create(
        brahmi,
        workspace,
        [
            spec(1, "Build the api"),
            spec(2, "Test the api", 1, order=2),
            spec(3, "Deploy the api", 2, order=3),
        ],
    )


# -- retry -------------------------------------------------------------------------------


def test_retrying_a_failed_task_puts_it_and_what_it_blocked_back_and_a_run_completes_them(
    brahmi: Brahmi, runtime: ScriptedRuntime, workspace: Path
) -> None:
    runtime.enqueue("Build the api", Fail("compile error"), {"built": True})
    batch_id, ids = chain(brahmi, workspace)
    settle(brahmi, batch_id)
    assert statuses(brahmi, ids) == {"1": S.FAILED, "2": S.BLOCKED, "3": S.BLOCKED}

    retried = brahmi.retry_task(ids["1"])

    assert retried.id == ids["1"]
    assert statuses(brahmi, ids) == {"1": S.READY, "2": S.PLANNED, "3": S.PLANNED}
    assert retried.error is None
    assert retried.error_code is None
    assert [h.kind for h in brahmi.store.history_for(ids["1"])] == ["retry"]
    assert brahmi.store.history_for(ids["1"])[0].data["error_code"] == "agent_failed"
    tasks = settle(brahmi, batch_id)
    assert {t.status for t in tasks.values()} == {S.COMPLETED}
    assert tasks["Build the api"].outputs == {"built": True}
    assert tasks["Build the api"].attempts == 2
    assert names(runtime) == ["Build the api", "Build the api", "Test the api", "Deploy the api"]


def test_retrying_a_blocked_task_retries_the_failed_task_upstream(
    brahmi: Brahmi, runtime: ScriptedRuntime, workspace: Path
) -> None:
    runtime.enqueue("Build the api", Fail("compile error"), {"built": True})
    batch_id, ids = chain(brahmi, workspace)
    settle(brahmi, batch_id)

    retried = brahmi.retry_task(ids["3"])

    assert retried.id == ids["1"]
    assert statuses(brahmi, ids) == {"1": S.READY, "2": S.PLANNED, "3": S.PLANNED}
    tasks = settle(brahmi, batch_id)
    assert {t.status for t in tasks.values()} == {S.COMPLETED}


def test_retrying_a_cancelled_task_runs_it_again(
    brahmi: Brahmi, runtime: ScriptedRuntime, workspace: Path
) -> None:
    batch_id, ids = chain(brahmi, workspace)
    brahmi.cancel_task(ids["1"])
    assert statuses(brahmi, ids) == {"1": S.CANCELLED, "2": S.BLOCKED, "3": S.BLOCKED}

    brahmi.retry_task(ids["1"])

    tasks = settle(brahmi, batch_id)
    assert {t.status for t in tasks.values()} == {S.COMPLETED}


@pytest.mark.parametrize("status", [S.RUNNING, S.READY, S.PLANNED, S.COMPLETED])
def test_retrying_a_task_that_has_not_failed_is_an_invalid_transition_and_changes_nothing(
    brahmi: Brahmi, workspace: Path, status: TaskStatus
) -> None:
    done_batch, done = create(brahmi, workspace, [spec(1, "Already done")])
    settle(brahmi, done_batch)
    _, ids = create(
        brahmi,
        workspace,
        [spec(1, "Running now"), spec(2, "Ready next"), spec(3, "Waiting", 1, order=2)],
    )
    brahmi.store.claim("test-worker", 1, now=time.time(), lease_s=3600.0)
    by_status = {
        S.COMPLETED: done["1"],
        S.RUNNING: ids["1"],
        S.READY: ids["2"],
        S.PLANNED: ids["3"],
    }
    task_id = by_status[status]
    before = brahmi.get_task(task_id)
    assert before.status is status
    last_event = brahmi.store.last_event_id()

    with pytest.raises(errors.BrahmiError) as caught:
        brahmi.retry_task(task_id)

    assert caught.value.code == "invalid_transition"
    assert brahmi.get_task(task_id) == before
    assert brahmi.store.history_for(task_id) == []
    assert brahmi.store.last_event_id() == last_event


def test_retrying_an_unknown_task_is_task_not_found(brahmi: Brahmi) -> None:
    with pytest.raises(errors.BrahmiError) as caught:
        brahmi.retry_task("no-such-task")

    assert caught.value.code == "task_not_found"


def test_retrying_a_qa_task_stopped_by_max_rebuilds_starts_a_fresh_loop(
    brahmi: Brahmi, runtime: ScriptedRuntime, workspace: Path
) -> None:
    same = {"summary": "login broken", "issues": [{"what": "login returns 500"}]}
    fail = {"verdict": "fail", "feedback_for_rebuild": same}
    runtime.enqueue("Judge the api", fail, fail, fail, {"verdict": "pass"})
    batch_id, ids = create(
        brahmi,
        workspace,
        [
            spec(1, "Build the api"),
            spec(
                2,
                "Judge the api",
                1,
                order=2,
                max_rebuilds=1,
                inputs={"critiques_tasks": [1]},
            ),
            spec(3, "Write the metadata", 2, order=3),
        ],
    )
    first = settle(brahmi, batch_id)
    assert first["Judge the api"].error_code == "max_rebuilds_exceeded"
    assert first["Write the metadata"].status is S.BLOCKED

    retried = brahmi.retry_task(ids["2"])

    assert retried.status is S.READY
    assert retried.rebuilds == 0
    assert brahmi.get_task(ids["3"]).status is S.PLANNED
    tasks = settle(brahmi, batch_id)
    # The same feedback again is a fresh loop's first turn, not a stalled one.
    assert {t.status for t in tasks.values()} == {S.COMPLETED}
    assert len(runtime.calls_for("Judge the api")) == 4
    assert len(runtime.calls_for("Build the api")) == 3
    assert tasks["Judge the api"].rebuilds == 1
    history = brahmi.store.history_for(ids["2"])
    assert [(h.kind, h.turn) for h in history] == [
        ("verdict", 1),
        ("verdict", 2),
        ("retry", None),
        ("verdict", 1),
        ("verdict", 2),
    ]
    assert history[2].data["error_code"] == "max_rebuilds_exceeded"


def test_a_retry_after_the_infrastructure_attempt_limit_gets_a_fresh_set_of_attempts(
    brahmi: Brahmi, runtime: ScriptedRuntime, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lifecycle, "BACKOFF_BASE_S", 0.01)
    runtime.enqueue("Flaky deploy", Crash(), Crash(), Crash(), {"deployed": True})
    batch_id, ids = create(brahmi, workspace, [spec(1, "Flaky deploy", max_attempts=2)])
    first = settle(brahmi, batch_id)
    assert first["Flaky deploy"].status is S.FAILED
    assert first["Flaky deploy"].error_code == "infrastructure_failed"
    assert first["Flaky deploy"].attempts == 2

    retried = brahmi.retry_task(ids["1"])

    assert retried.attempt_base == 2
    assert retried.attempts_since_reset == 0
    tasks = settle(brahmi, batch_id)
    # Attempt 3 crashes too, but is only the first of the retry's two: it is tried again.
    assert tasks["Flaky deploy"].status is S.COMPLETED
    assert tasks["Flaky deploy"].outputs == {"deployed": True}
    assert tasks["Flaky deploy"].attempts == 4
    attempts = brahmi.store.attempts_for(ids["1"])
    assert [a.status for a in attempts] == ["failed", "failed", "failed", "succeeded"]


# -- resume ------------------------------------------------------------------------------


def test_resuming_a_completed_task_runs_it_again_with_the_message(
    brahmi: Brahmi, runtime: ScriptedRuntime, workspace: Path
) -> None:
    runtime.enqueue("Build the api", {"port": 8080}, {"port": 8081})
    runtime.enqueue("Test the api", {"tested": 8080}, {"tested": 8081})
    batch_id, ids = chain(brahmi, workspace)
    settle(brahmi, batch_id)
    runtime.calls.clear()

    resumed = brahmi.resume_task(ids["1"], "use port 8081", "continue")

    assert resumed.status is S.READY
    assert resumed.pending_resume == {"message": "use port 8081", "mode": "continue"}
    assert statuses(brahmi, ids) == {"1": S.READY, "2": S.PLANNED, "3": S.PLANNED}
    tasks = settle(brahmi, batch_id)

    assert names(runtime) == ["Build the api", "Test the api", "Deploy the api"]
    [request] = runtime.calls_for("Build the api")
    assert "## Message" in request.prompt
    assert "use port 8081" in request.prompt
    assert request.resume is not None
    assert (request.resume.message, request.resume.mode) == ("use port 8081", "continue")
    build = tasks["Build the api"]
    assert build.status is S.COMPLETED
    assert build.outputs == {"port": 8081}
    assert build.pending_resume is None
    assert tasks["Test the api"].outputs == {"tested": 8081}
    assert tasks["Deploy the api"].status is S.COMPLETED
    [entry] = brahmi.store.history_for(ids["1"])
    assert entry.kind == "resume"
    assert entry.data["message"] == "use port 8081"
    assert entry.data["previous_outputs"] == {"port": 8080}
    for key in ("2", "3"):
        replanned = [
            e.data
            for e in brahmi.store.events(task_id=ids[key])
            if e.kind == "status_changed" and e.data["from"] == S.COMPLETED
        ]
        assert [e["to"] for e in replanned] == [S.PLANNED]


def test_a_first_run_has_no_message_section(
    brahmi: Brahmi, runtime: ScriptedRuntime, workspace: Path
) -> None:
    batch_id, _ = create(brahmi, workspace, [spec(1, "Build the api")])
    settle(brahmi, batch_id)

    [request] = runtime.calls
    assert "## Message" not in request.prompt
    assert request.resume is None


def test_resuming_an_unknown_task_is_task_not_found(brahmi: Brahmi) -> None:
    with pytest.raises(errors.BrahmiError) as caught:
        brahmi.resume_task("no-such-task", "use port 8081", "continue")

    assert caught.value.code == "task_not_found"


@pytest.mark.parametrize("status", [S.RUNNING, S.PLANNED])
def test_resuming_a_task_that_has_not_finished_is_an_invalid_transition(
    brahmi: Brahmi, workspace: Path, status: TaskStatus
) -> None:
    _, ids = create(brahmi, workspace, [spec(1, "Running now"), spec(2, "Waiting", 1, order=2)])
    brahmi.store.claim("test-worker", 1, now=time.time(), lease_s=3600.0)
    task_id = ids["1"] if status is S.RUNNING else ids["2"]
    before = brahmi.get_task(task_id)
    assert before.status is status

    with pytest.raises(errors.BrahmiError) as caught:
        brahmi.resume_task(task_id, "use port 8081", "continue")

    assert caught.value.code == "invalid_transition"
    assert brahmi.get_task(task_id) == before
    assert brahmi.store.history_for(task_id) == []


def test_asking_a_task_without_an_agent_session_is_no_session(
    brahmi: Brahmi, workspace: Path
) -> None:
    batch_id, ids = create(brahmi, workspace, [spec(1, "Build the api")])
    settle(brahmi, batch_id)
    before = brahmi.get_task(ids["1"])
    assert before.session_ref is None

    with pytest.raises(errors.BrahmiError) as caught:
        brahmi.resume_task(ids["1"], "which port do you listen on?", "qa")

    assert caught.value.code == "no_session"
    assert brahmi.get_task(ids["1"]) == before


@pytest.mark.parametrize("message", ["", "   \n"])
def test_resuming_with_an_empty_message_is_rejected_and_changes_nothing(
    brahmi: Brahmi, workspace: Path, message: str
) -> None:
    batch_id, ids = create(brahmi, workspace, [spec(1, "Build the api")])
    settle(brahmi, batch_id)
    before = brahmi.get_task(ids["1"])

    with pytest.raises(errors.BrahmiError) as caught:
        brahmi.resume_task(ids["1"], message, "continue")

    assert caught.value.code == "invalid_transition"
    assert brahmi.get_task(ids["1"]) == before
    assert brahmi.store.history_for(ids["1"]) == []


# -- resume with the real command runtime --------------------------------------------------

ECHO_RESUME = """\
    import json, sys
    request = json.load(sys.stdin)
    print(json.dumps({"outputs": {
        "resume": request["resume"],
        "message_in_prompt": "## Message" in request["prompt"],
    }}))
"""


def test_the_command_runtime_gets_the_resume_message_on_stdin(
    settings: Settings, tmp_path: Path, workspace: Path
) -> None:
    skill = tmp_path / "skills" / "echo-resume"
    (skill / "scripts").mkdir(parents=True)
    (skill / "SKILL.md").write_text(
        "---\nname: echo-resume\ndescription: Echoes the resume it was given.\nmetadata:\n"
        '  brahmi-runtime: command\n  brahmi-command: "{python} {skill_dir}/scripts/run.py"\n'
        "---\n\n# echo-resume\n",
        encoding="utf-8",
    )
    (skill / "scripts" / "run.py").write_text(textwrap.dedent(ECHO_RESUME), encoding="utf-8")
    brahmi = Brahmi(
        settings.with_(skill_dirs=(f"{skill.parent}=acme/skills",), forced_executor=None)
    )
    try:
        assert "acme/skills/echo-resume" in brahmi.catalog.full_ids()
        batch_id, ids = create(
            brahmi, workspace, [spec(1, "Echo the resume", skill_id="acme/skills/echo-resume")]
        )
        first = settle(brahmi, batch_id)["Echo the resume"]
        assert first.status is S.COMPLETED, first.error
        assert first.outputs == {"resume": None, "message_in_prompt": False}

        brahmi.resume_task(ids["1"], "use port 8081", "continue")
        again = settle(brahmi, batch_id)["Echo the resume"]

        assert again.status is S.COMPLETED, again.error
        assert again.outputs == {
            "resume": {"message": "use port 8081", "mode": "continue"},
            "message_in_prompt": True,
        }
    finally:
        brahmi.close()
