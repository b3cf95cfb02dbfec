"""The claude-code runtime against the real Claude Code CLI, with only the model faked.

The CLI bundled in ``claude-agent-sdk`` runs as a real subprocess in the project workspace,
with ``HOME`` in a temp folder; ``ANTHROPIC_BASE_URL`` points at the scripted fake of the
Messages API (tests/fakes/anthropic_api.py). Brahmi's tools reach it through a real
``brahmi mcp --task`` stdio server on the same SQLite file.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from brahmi.agents.claude_cli import find_cli
from brahmi.config import Settings
from brahmi.domain.models import TaskRecord, TaskStatus
from brahmi.service import Brahmi
from brahmi.testing import run_until_settled
from tests.fakes.anthropic_api import FakeAnthropicAPI, text, tool_use

pytestmark = pytest.mark.skipif(
    find_cli() is None,
    reason="the Claude Code CLI is not installed: pip install 'brahmi[claude]'",
)

S = TaskStatus
OWNER_REPO = "acme/agents"
#: The model's price table gives $3/M input and $15/M output tokens for this model.
BUILDER_BODY = "You are the BUILDER-SKILL-MARKER. Build what the task asks."
CRITIC_BODY = "You are the CRITIC-SKILL-MARKER. Judge the work."


def write_skill(root: Path, name: str, body: str, extra: str = "") -> None:
    """A claude-code skill ``root/name``."""
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "SKILL.md").write_text(
        f"---\nname: {name}\ndescription: A test skill, {name}.\n{extra}metadata:\n"
        f"  brahmi-runtime: claude-code\n---\n\n{body}\n",
        encoding="utf-8",
    )


@pytest.fixture
def brahmi(settings: Settings, tmp_path: Path) -> Iterator[Brahmi]:
    """A Brahmi whose skills run on the real claude-code runtime."""
    root = tmp_path / "skills"
    write_skill(root, "builder", BUILDER_BODY)
    write_skill(root, "critic", CRITIC_BODY, 'allowed-tools: "Read Grep Glob"\n')
    # An explicit database URL: the tool server must get it, the agent's shell must not.
    settings.home.mkdir(parents=True, exist_ok=True)
    instance = Brahmi(
        settings.with_(
            skill_dirs=(f"{root}={OWNER_REPO}",),
            forced_executor=None,
            database_url=f"sqlite:///{settings.home / 'brahmi.db'}",
        )
    )
    assert instance.catalog.problems == []
    yield instance
    instance.close()


@pytest.fixture
def project_id(
    brahmi: Brahmi, workspace: Path, anthropic_api: FakeAnthropicAPI, tmp_path: Path
) -> str:
    """The workspace's project, its agents pointed at the fake API."""
    project = brahmi.project_for(workspace)
    brahmi.configure_project(project.id, {"env": anthropic_api.env(tmp_path / "agent-home")})
    return project.id


def spec(uid: int, name: str, skill: str = "builder", *deps: int, **extra: Any) -> dict[str, Any]:
    """A task spec of one of the test skills."""
    return {
        "unique_id": uid,
        "task_name": name,
        "description": f"Do {name}.",
        "skill_id": f"{OWNER_REPO}/{skill}",
        "logical_dependencies": list(deps),
        **extra,
    }


def run(
    brahmi: Brahmi, project_id: str, specs: list[dict[str, Any]], timeout_s: float = 90
) -> dict[str, TaskRecord]:
    """Store a batch and run it to a settled state; its tasks by name."""
    batch = brahmi.create_tasks_batch(project_id, specs)
    tasks = asyncio.run(run_until_settled(brahmi, batch.batch_id, timeout_s=timeout_s))
    return {t.task_name: t for t in tasks}


def fenced(outputs: dict[str, Any]) -> str:
    """A final message ending with the outputs in a fenced json block."""
    return f"Done.\n```json\n{json.dumps(outputs)}\n```"


def test_agent_edits_a_file_in_the_workspace_and_ends_with_its_outputs(
    brahmi: Brahmi, project_id: str, workspace: Path, anthropic_api: FakeAnthropicAPI
) -> None:
    target = workspace / "greet.py"
    anthropic_api.reply(
        tool_use("Write", {"file_path": str(target), "content": "print('hello')\n"})
    )
    anthropic_api.reply(
        tool_use("Bash", {"command": 'echo "db=[$BRAHMI_DATABASE_URL] task=$BRAHMI_TASK_ID"'})
    )
    anthropic_api.reply(text(fenced({"files": ["greet.py"], "status": "done"})))

    tasks = run(brahmi, project_id, [spec(1, "Write the greeter")])

    task = tasks["Write the greeter"]
    assert task.status is S.COMPLETED, task.error
    assert task.outputs == {"files": ["greet.py"], "status": "done"}
    assert target.read_text() == "print('hello')\n"
    assert task.session_ref
    first = anthropic_api.requests[0]
    assert BUILDER_BODY in anthropic_api.system_text(0)
    assert "# Task: Write the greeter" in json.dumps(first["messages"])
    assert "Output contract" in json.dumps(first["messages"])
    assert f"db=[] task={task.id}" in anthropic_api.tool_results()[1]
    totals = brahmi.usage.totals(task_id=task.id)
    assert (totals.input_tokens, totals.output_tokens, totals.runs) == (300, 60, 1)
    assert totals.cost_usd == pytest.approx(300 * 3e-6 + 60 * 15e-6)
    [attempt] = brahmi.store.attempts_for(task.id)
    assert attempt.usage is not None and attempt.usage["turns"] == 3
    transcript = Path(attempt.transcript_path or "").read_text()
    assert "-> Write" in transcript and "[claude] success" in transcript


def task_id_in(body: dict[str, Any]) -> str:
    """The task id the rendered prompt of the request's first message shows."""
    first = json.dumps(body["messages"][0])
    return first.split("Task id: `", 1)[1].split("`", 1)[0]


def test_an_agent_adds_a_subtask_through_brahmis_tools_and_the_subtask_then_runs(
    brahmi: Brahmi, project_id: str, anthropic_api: FakeAnthropicAPI
) -> None:
    seen: dict[str, str] = {}

    def add_subtask(body: dict[str, Any]) -> Any:
        seen["parent"] = task_id_in(body)
        from tests.fakes.anthropic_api import Reply

        return Reply(
            [
                tool_use(
                    "mcp__brahmi__create_subtask",
                    {
                        "parent_task_id": seen["parent"],
                        "task": {"task_name": "Write the tests", "description": "Test it."},
                    },
                )
            ]
        )

    anthropic_api.reply_with(add_subtask)
    anthropic_api.reply(text(fenced({"split": True})))
    anthropic_api.reply(text(fenced({"tests": 3})))

    tasks = run(brahmi, project_id, [spec(1, "Build the feature")])

    parent = tasks["Build the feature"]
    assert parent.status is S.COMPLETED, parent.error
    assert parent.subtasks_completed
    [child] = brahmi.store.subtasks_of(parent.id)
    assert child.task_name == "Write the tests"
    assert child.status is S.COMPLETED and child.outputs == {"tests": 3}
    assert '"status":"planned"' in anthropic_api.tool_results()[0]
    assert "Parent task" in json.dumps(anthropic_api.requests[-1]["messages"][0])


def test_an_agents_tools_are_scoped_to_its_own_task_and_project(
    brahmi: Brahmi,
    project_id: str,
    anthropic_api: FakeAnthropicAPI,
    tmp_path: Path,
) -> None:
    other_folder = tmp_path / "other"
    other_folder.mkdir()
    other_project = brahmi.project_for(other_folder)
    foreign = brahmi.create_task(
        other_project.id, {"task_name": "Someone else's", "skill_id": f"{OWNER_REPO}/builder"}
    )
    sibling = brahmi.create_task(
        project_id,
        {"task_name": "A sibling", "skill_id": f"{OWNER_REPO}/builder", "task_order": 9},
    )
    brahmi.cancel_task(sibling.id)
    anthropic_api.reply(
        tool_use(
            "mcp__brahmi__create_subtask",
            {"parent_task_id": sibling.id, "task": {"task_name": "Sneaky"}},
        ),
        tool_use("mcp__brahmi__get_task", {"task_id": foreign.id}),
        tool_use("mcp__brahmi__create_tasks_batch", {"tasks": []}),
    )
    anthropic_api.reply(text(fenced({"tried": True})))

    tasks = run(brahmi, project_id, [spec(1, "Stay in scope")])

    assert tasks["Stay in scope"].status is S.COMPLETED
    results = anthropic_api.tool_results()
    assert "forbidden" in results[0]
    assert "task_not_found" in results[1]
    assert brahmi.store.subtasks_of(sibling.id) == []
    # Only the tools the agent was given exist for it: create_tasks_batch is not one.
    offered = anthropic_api.tool_names(0)
    assert {
        f"mcp__brahmi__{n}" for n in ("create_subtask", "search_skills", "get_task", "list_tasks")
    } <= set(offered)
    assert "mcp__brahmi__create_tasks_batch" not in offered
    assert "No such tool" in results[2]


def test_a_qa_agent_fails_then_passes_turning_the_correctness_loop(
    brahmi: Brahmi, project_id: str, anthropic_api: FakeAnthropicAPI
) -> None:
    feedback = {"summary": "no tests", "issues": [{"what": "missing tests"}]}
    anthropic_api.reply(text(fenced({"built": 1})))
    anthropic_api.reply(text(fenced({"verdict": "fail", "feedback_for_rebuild": feedback})))
    anthropic_api.reply(text(fenced({"built": 2})))
    anthropic_api.reply(text(fenced({"verdict": "pass", "score": 95})))

    tasks = run(
        brahmi,
        project_id,
        [
            spec(1, "Build it"),
            spec(2, "Judge it", "critic", 1, inputs={"critiques_tasks": [1]}),
        ],
    )

    build, judge = tasks["Build it"], tasks["Judge it"]
    assert build.status is S.COMPLETED and build.outputs == {"built": 2}
    assert judge.status is S.COMPLETED and judge.outputs["verdict"] == "pass"
    assert build.rebuilds == 1 and judge.rebuilds == 1
    assert "Feedback from QA" in json.dumps(anthropic_api.requests[2]["messages"][0])
    assert "missing tests" in json.dumps(anthropic_api.requests[2]["messages"][0])
    # The critic's skill allows Read, Grep and Glob only: no edit or shell tool exists.
    critic_tools = set(anthropic_api.tool_names(1))
    assert {"Read", "Grep", "Glob"} <= critic_tools
    assert not {"Bash", "Write", "Edit"} & critic_tools
    assert CRITIC_BODY in anthropic_api.system_text(1)
    assert brahmi.usage.totals(project_id=project_id).runs == 4


def test_a_run_past_its_timeout_is_stopped_with_its_process_group(
    brahmi: Brahmi, project_id: str, anthropic_api: FakeAnthropicAPI
) -> None:
    anthropic_api.reply(text("thinking..."), delay_s=60)

    tasks = run(brahmi, project_id, [spec(1, "Hang", timeout_seconds=3, max_attempts=1)])

    task = tasks["Hang"]
    assert task.status is S.FAILED
    assert task.error_code == "timeout"
    [attempt] = brahmi.store.attempts_for(task.id)
    assert attempt.process_id is not None
    import os

    with pytest.raises(ProcessLookupError):
        os.killpg(attempt.process_id, 0)
    assert "run stopped" in Path(attempt.transcript_path or "").read_text()


def test_a_final_message_without_json_fails_with_agent_output_invalid(
    brahmi: Brahmi, project_id: str, anthropic_api: FakeAnthropicAPI
) -> None:
    anthropic_api.reply(text("All done, it works!"))

    task = run(brahmi, project_id, [spec(1, "Say nothing useful")])["Say nothing useful"]

    assert task.status is S.FAILED
    assert task.error_code == "agent_output_invalid"
    [attempt] = brahmi.store.attempts_for(task.id)
    assert "All done, it works!" in Path(attempt.transcript_path or "").read_text()


def test_resume_task_continue_resumes_the_session_and_counts_only_the_new_cost(
    brahmi: Brahmi, project_id: str, anthropic_api: FakeAnthropicAPI
) -> None:
    anthropic_api.reply(text(fenced({"version": 1})))
    task = run(brahmi, project_id, [spec(1, "Write v1")])["Write v1"]
    assert task.status is S.COMPLETED
    first_session = task.session_ref

    brahmi.resume_task(task.id, "Now make it version 2.", "continue")
    anthropic_api.reply(text(fenced({"version": 2})), input_tokens=300, output_tokens=10)
    asyncio.run(run_until_settled(brahmi, task.batch_id or "", timeout_s=90))

    again = brahmi.get_task(task.id)
    assert again.status is S.COMPLETED and again.outputs == {"version": 2}
    resumed = anthropic_api.requests[-1]
    # The earlier conversation came back, then the new message.
    assert len(resumed["messages"]) >= 3
    assert "Now make it version 2." in json.dumps(resumed["messages"][-1])
    assert "Write v1" in json.dumps(resumed["messages"][0])
    assert again.session_ref == first_session
    _, second = brahmi.store.attempts_for(task.id)
    assert second.usage is not None
    # The CLI reports the session's total ($0.0006 + $0.00105); the attempt keeps its share.
    assert second.usage["cost_usd"] == pytest.approx(300 * 3e-6 + 10 * 15e-6)
    assert second.usage["session_cost_usd"] == pytest.approx(0.0006 + 300 * 3e-6 + 10 * 15e-6)
    assert brahmi.usage.totals(task_id=task.id).cost_usd == pytest.approx(
        0.0006 + 300 * 3e-6 + 10 * 15e-6
    )


def test_resume_task_qa_answers_from_the_session_read_only_and_changes_nothing(
    brahmi: Brahmi, project_id: str, anthropic_api: FakeAnthropicAPI
) -> None:
    anthropic_api.reply(text(fenced({"port": 8080})))
    task = run(brahmi, project_id, [spec(1, "Pick a port")])["Pick a port"]
    events_before = len(brahmi.store.events(task_id=task.id))
    anthropic_api.reply(text("I chose 8080 because it was free."))

    answer = brahmi.ask_task(task.id, "Why that port?", timeout_s=60)

    assert answer.answer == "I chose 8080 because it was free."
    asked = anthropic_api.requests[-1]
    assert "Pick a port" in json.dumps(asked["messages"][0])
    assert "Why that port?" in json.dumps(asked["messages"][-1])
    offered = set(anthropic_api.tool_names(-1))
    assert {"Read", "Glob", "Grep", "mcp__brahmi__get_task"} <= offered
    assert not {"Bash", "Edit", "Write", "mcp__brahmi__create_subtask"} & offered
    after = brahmi.get_task(task.id)
    assert (after.status, after.outputs, after.attempts, after.session_ref) == (
        task.status,
        task.outputs,
        task.attempts,
        task.session_ref,
    )
    assert answer.session_ref != task.session_ref  # a fork: the task's session is untouched
    events = brahmi.store.events(task_id=task.id)
    assert len(events) == events_before + 1
    assert events[-1].kind == "question_answered"
    assert events[-1].data["answer"] == answer.answer
    assert brahmi.usage.totals(task_id=task.id).runs == 2
    assert answer.usage["cost_usd"] == pytest.approx(0.0006)  # the question's share only


def test_resume_task_qa_waits_a_bounded_time(
    brahmi: Brahmi, project_id: str, anthropic_api: FakeAnthropicAPI
) -> None:
    from brahmi import errors

    anthropic_api.reply(text(fenced({"ok": True})))
    task = run(brahmi, project_id, [spec(1, "Quick")])["Quick"]
    anthropic_api.reply(text("..."), delay_s=60)

    with pytest.raises(errors.QuestionTimedOut) as caught:
        brahmi.ask_task(task.id, "Still there?", timeout_s=3)

    assert caught.value.code == "question_timeout"
    assert brahmi.get_task(task.id).status is S.COMPLETED


def test_a_spent_budget_ends_the_correctness_loop_and_stops_new_runs(
    brahmi: Brahmi, project_id: str, anthropic_api: FakeAnthropicAPI
) -> None:
    # Each run (one API call) costs $0.0006; the build and the first critique spend the
    # $0.001 budget.
    brahmi.configure_project(project_id, {"budget": {"usd": 0.001}})
    feedback = {"summary": "broken", "issues": [{"what": "it crashes"}]}
    anthropic_api.reply(text(fenced({"built": 1})))
    anthropic_api.reply(text(fenced({"verdict": "fail", "feedback_for_rebuild": feedback})))

    tasks = run(
        brahmi,
        project_id,
        [
            spec(1, "Build it"),
            spec(2, "Judge it", "critic", 1, inputs={"critiques_tasks": [1]}),
            spec(3, "Ship it", "builder", 2),
        ],
    )

    assert tasks["Judge it"].status is S.FAILED
    assert tasks["Judge it"].error_code == "budget_exceeded"
    assert tasks["Ship it"].status is S.BLOCKED
    assert len(anthropic_api.requests) == 2

    later = run(brahmi, project_id, [spec(1, "One more")])["One more"]
    assert later.status is S.FAILED and later.error_code == "budget_exceeded"
    assert len(anthropic_api.requests) == 2  # no agent started
    kinds = [e.kind for e in brahmi.store.events(task_id=later.id)]
    assert "budget_exceeded" in kinds
    budget = brahmi.usage.budget(project_id)
    assert budget.exceeded and budget.spent.cost_usd == pytest.approx(0.0012)


def test_converse_resumes_its_session_across_turns_with_brahmis_tools(
    brahmi: Brahmi,
    project_id: str,
    workspace: Path,
    anthropic_api: FakeAnthropicAPI,
    tmp_path: Path,
) -> None:
    from brahmi.agents.base import PLANNER_TOOLS, ConversationRequest, Transcript

    runtime = brahmi.runtimes.get("claude-code")
    env = anthropic_api.env(tmp_path / "planner-home")
    session = brahmi.planner_store.ensure_session(
        project_id, "brahmi/builtin/default-planner", brahmi.clock.now()
    )

    def turn(prompt: str, session_ref: str | None, cost: float) -> Any:
        transcript = Transcript(tmp_path / f"planner-{len(prompt)}.log")
        request = ConversationRequest(
            project_id=project_id,
            planner_session_id=session.id,
            system_prompt="You are the PLANNER-MARKER.",
            prompt=prompt,
            workdir=workspace,
            transcript=transcript,
            timeout_s=60,
            tools=PLANNER_TOOLS,
            session_ref=session_ref,
            env=env,
            tool_env=brahmi.settings.tool_env(),
            session_cost_usd=cost,
        )
        try:
            return asyncio.run(runtime.converse(request))
        finally:
            transcript.close()

    anthropic_api.reply(tool_use("mcp__brahmi__search_skills", {"q": "builder"}))
    anthropic_api.reply(text("I found the builder skill."))
    first = turn("Build me a greeter.", None, 0.0)
    assert first.ok and first.message == "I found the builder skill."
    assert "acme/agents/builder" in anthropic_api.tool_results()[0]
    assert "PLANNER-MARKER" in anthropic_api.system_text(0)
    offered = set(anthropic_api.tool_names(0))
    assert {f"mcp__brahmi__{name}" for name in PLANNER_TOOLS} <= offered
    assert not {"Bash", "Edit", "Write"} & offered

    anthropic_api.reply(tool_use("mcp__brahmi__user_response", {"message": "On it!"}))
    anthropic_api.reply(text("Replied."))
    assert first.usage.session_cost_usd is not None
    second = turn(
        "## Task Completed\nThe greeter is built.", first.session_ref, first.usage.session_cost_usd
    )

    assert second.ok and second.session_ref == first.session_ref
    resumed = json.dumps(anthropic_api.requests[-2]["messages"])
    assert "Build me a greeter." in resumed and "I found the builder skill." in resumed
    assert second.usage.cost_usd == pytest.approx(0.0012)  # this turn only
    [reply] = [e for e in brahmi.store.events(project_id=project_id) if e.kind == "user_response"]
    assert reply.data["message"] == "On it!" and reply.data["session_id"] == session.id
    assert [m.text for m in brahmi.conversation(project_id)] == ["On it!"]


def test_a_silent_run_is_ended_by_the_idle_limit(
    brahmi: Brahmi, project_id: str, anthropic_api: FakeAnthropicAPI
) -> None:
    brahmi.settings = brahmi.settings.with_(idle_timeout_s=3.0)
    anthropic_api.reply(text("..."), delay_s=60)

    task = run(brahmi, project_id, [spec(1, "Go quiet", max_attempts=1)])["Go quiet"]

    assert task.status is S.FAILED and task.error_code == "idle_timeout"


def test_cancelling_a_running_task_stops_claude_code(
    brahmi: Brahmi, project_id: str, anthropic_api: FakeAnthropicAPI
) -> None:
    import os
    import time

    anthropic_api.reply(text("..."), delay_s=60)
    batch = brahmi.create_tasks_batch(project_id, [spec(1, "Be cancelled")])
    task_id = next(iter(batch.task_ids.values()))

    async def scenario() -> int:
        worker = brahmi.worker()
        stop = asyncio.Event()
        running = asyncio.create_task(worker.run(stop))
        deadline = time.monotonic() + 60
        pid: int | None = None
        while pid is None or not anthropic_api.requests:
            assert time.monotonic() < deadline, "Claude Code never called the model"
            await asyncio.sleep(0.05)
            attempts = brahmi.store.attempts_for(task_id)
            pid = attempts[-1].process_id if attempts else None
        brahmi.cancel_task(task_id)
        while brahmi.store.attempts_for(task_id)[-1].status == "running":
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        await asyncio.sleep(0)
        stop.set()
        await running
        return pid

    pid = asyncio.run(scenario())

    assert brahmi.get_task(task_id).status is S.CANCELLED
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)


def test_mcp_and_rest_answer_a_question_to_a_tasks_session(
    brahmi: Brahmi, project_id: str, anthropic_api: FakeAnthropicAPI
) -> None:
    import httpx
    from mcp import Client

    from brahmi.api.app import create_app
    from brahmi.mcp.server import build_mcp

    anthropic_api.reply(text(fenced({"port": 8080})))
    task = run(brahmi, project_id, [spec(1, "Pick a port")])["Pick a port"]
    anthropic_api.reply(text("Because 8080 was free."))
    anthropic_api.reply(text("It serves HTTP."))

    async def over_mcp() -> Any:
        async with Client(build_mcp(brahmi, project_id)) as client:
            return await client.call_tool(
                "resume_task", {"task_id": task.id, "message": "Why?", "mode": "qa"}
            )

    result = asyncio.run(over_mcp())
    assert not result.is_error, result
    assert result.structured_content["answer"] == "Because 8080 was free."

    async def over_rest() -> tuple[httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=create_app(brahmi), client=("127.0.0.1", 123))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8421") as http:
            asked = await http.post(
                f"/api/v1/tasks/{task.id}/resume",
                json={"message": "What does it serve?", "mode": "qa", "timeout_s": 60},
            )
            shown = await http.get(f"/api/v1/tasks/{task.id}")
            return asked, shown

    asked, shown = asyncio.run(over_rest())
    assert asked.status_code == 200, asked.text
    assert asked.json()["answer"] == "It serves HTTP."
    assert shown.json()["usage"]["runs"] == 3
    assert shown.json()["status"] == "completed"


def test_a_run_that_spends_the_rest_of_the_budget_is_stopped_by_the_cli(
    brahmi: Brahmi, project_id: str, anthropic_api: FakeAnthropicAPI, workspace: Path
) -> None:
    brahmi.configure_project(project_id, {"budget": {"usd": 0.001}})
    (workspace / "notes.txt").write_text("hello\n")
    for _ in range(3):
        anthropic_api.reply(tool_use("Read", {"file_path": str(workspace / "notes.txt")}))
    anthropic_api.reply(text(fenced({"read": True})))

    task = run(brahmi, project_id, [spec(1, "Read a lot")])["Read a lot"]

    assert task.status is S.FAILED and task.error_code == "budget_exceeded"
    assert len(anthropic_api.requests) == 2  # stopped once $0.0012 of $0.001 was spent
    assert brahmi.usage.totals(task_id=task.id).cost_usd == pytest.approx(0.0012)


def test_continue_without_the_session_on_this_machine_starts_a_new_one(
    brahmi: Brahmi, project_id: str, anthropic_api: FakeAnthropicAPI
) -> None:
    from sqlalchemy import update

    from brahmi.store import tables

    anthropic_api.reply(text(fenced({"v": 1})))
    task = run(brahmi, project_id, [spec(1, "Travel")])["Travel"]
    lost = "6f1c7b8e-0000-4000-8000-000000000000"
    with brahmi.store.engine.begin() as conn:
        conn.execute(
            update(tables.tasks).where(tables.tasks.c.id == task.id).values(session_ref=lost)
        )
    brahmi.resume_task(task.id, "Make it v2.", "continue")
    anthropic_api.reply(text(fenced({"v": 2})))
    asyncio.run(run_until_settled(brahmi, task.batch_id or "", timeout_s=90))

    again = brahmi.get_task(task.id)
    assert again.status is S.COMPLETED and again.outputs == {"v": 2}
    assert again.session_ref not in (lost, task.session_ref)
    fresh = anthropic_api.requests[-1]["messages"]
    assert "Make it v2." in json.dumps(fresh[0])  # the whole task and the message, anew
    transcript = Path(brahmi.store.attempts_for(task.id)[-1].transcript_path or "").read_text()
    assert "continuing in a new session" in transcript


def test_a_cli_that_crashes_is_retried_then_fails_with_what_it_said(
    brahmi: Brahmi, project_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stand-in `claude` that dies without a result: an infrastructure failure (DESIGN §3).
    crashing = tmp_path / "bin" / "claude"
    crashing.parent.mkdir()
    crashing.write_text(
        "#!/usr/bin/env python3\nimport sys\nprint('claude: out of memory', file=sys.stderr)\n"
        "sys.exit(3)\n",
        encoding="utf-8",
    )
    crashing.chmod(0o755)
    monkeypatch.setenv("BRAHMI_CLAUDE_CLI", str(crashing))

    task = run(brahmi, project_id, [spec(1, "Crash", max_attempts=2)])["Crash"]

    assert task.status is S.FAILED
    assert "without a result" in (task.error or "")
    assert "out of memory" in (task.error or "")
    assert [a.status for a in brahmi.store.attempts_for(task.id)] == ["failed", "failed"]


def test_a_missing_cli_fails_the_task_at_once_with_the_fix(
    brahmi: Brahmi, project_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BRAHMI_CLAUDE_CLI", str(tmp_path / "no-such-claude"))

    task = run(brahmi, project_id, [spec(1, "No CLI", max_attempts=3)])["No CLI"]

    assert task.status is S.FAILED
    assert task.error_code == "runtime_unavailable"
    assert "brahmi[claude]" in (task.error or "")
    assert len(brahmi.store.attempts_for(task.id)) == 1  # retrying cannot help
