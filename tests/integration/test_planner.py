"""The planner actor end to end on a real SQLite file (DESIGN §7): sessions, durable
triggers, the template planner with the real built-in skills, an LLM-style planner whose
scripted turns call Brahmi's real MCP tools, crashes and restarts."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from brahmi.agents.base import AgentResult, Usage
from brahmi.agents.claude_cli import KEY_VARIABLES
from brahmi.config import Settings
from brahmi.planner.actor import PlannerActor
from brahmi.service import Brahmi
from brahmi.testing import Fail, PlannerTurn, ScriptedRuntime, ToolCallFailed, registry_with
from tests.integration.support import drive

B = "brahmi/builtin/"
WAIT_S = 20.0
REQUEST = "Build a todo API with create and list endpoints."
PLANNER_SKILL = """\
---
name: scripted-planner
description: A planner for tests whose turns are scripted (ScriptedRuntime.enqueue_turns).
metadata:
  category: planner
  tags: "planner,test"
  brahmi-runtime: scripted
---

You plan. Use search_skills, create_tasks_batch and user_response.
"""


@pytest.fixture
def planner_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "planners" / "scripted-planner"
    folder.mkdir(parents=True)
    (folder / "SKILL.md").write_text(PLANNER_SKILL, encoding="utf-8")
    return folder.parent


@pytest.fixture
def llm(settings: Settings, runtime: ScriptedRuntime, planner_dir: Path) -> Brahmi:
    """A Brahmi whose planner ``local/planners/scripted-planner`` runs on ``runtime``."""
    instance = Brahmi(
        settings.with_(skill_dirs=(f"{planner_dir}=local/planners",)),
        runtimes=registry_with(runtime),
    )
    runtime.brahmi = instance
    return instance


def replies(brahmi: Brahmi, project_id: str) -> list[str]:
    return [m.text for m in brahmi.conversation(project_id) if m.role == "planner"]


def idle(brahmi: Brahmi, session_id: str) -> bool:
    return not brahmi.planner_store.has_unfinished_triggers(session_id)


# -- the template planner ------------------------------------------------------------------


def test_template_planner_plans_runs_reports_and_answers_from_outputs(
    brahmi: Brahmi, runtime: ScriptedRuntime, workspace: Path
) -> None:
    project_id = brahmi.project_for(workspace).id
    build = "Build a todo API with create and list endpoints"
    runtime.enqueue(build, {"framework": "FastAPI", "files_created": ["app/main.py"]})
    runtime.enqueue(f"QA: {build}", {"verdict": "pass", "score": 95})
    runtime.enqueue("Deploy backend services", {"public_url": "http://127.0.0.1:8099"})

    posted = brahmi.post_message(project_id, REQUEST, planner="template")
    session = posted.session
    asyncio.run(
        drive(brahmi, lambda: any(r.startswith("All 4") for r in replies(brahmi, project_id)))
    )

    tasks = brahmi.list_tasks(project_id=project_id)
    assert [t.skill_id for t in tasks] == [
        f"{B}backend-development",
        f"{B}backend-testing",
        f"{B}aramb-metadata",
        f"{B}backend-deployment",
    ]
    assert all(t.status.value == "completed" for t in tasks)
    qa = tasks[1]
    assert qa.inputs["critiques_tasks"] == [tasks[0].id]
    assert qa.inputs["original_prompt"] == REQUEST
    assert "Build a todo API with create and list endpoints" in qa.inputs["user_expectations"]
    # Tasks ran on the scripted runtime, each with its built-in skill's body.
    assert [c.task.task_name for c in runtime.calls] == [t.task_name for t in tasks]
    # One task_completed trigger per task, each handled; the summary came once.
    kinds = [(t.kind, t.status) for t in brahmi.planner_store.triggers(session.id)]
    assert kinds == [("user_message", "done")] + [("task_completed", "done")] * 4
    summaries = [r for r in replies(brahmi, project_id) if r.startswith("All 4")]
    assert len(summaries) == 1
    assert "http://127.0.0.1:8099" in summaries[0]
    assert "verdict pass, score 95" in summaries[0]

    question = brahmi.post_message(project_id, "What's the public URL?")
    asyncio.run(drive(brahmi, lambda: idle(brahmi, session.id), workers=False))
    framework = brahmi.post_message(project_id, "Which framework did you use?")
    asyncio.run(drive(brahmi, lambda: idle(brahmi, session.id), workers=False))

    assert question.session.id == session.id  # the project's latest planner answers
    answers = [m.text for m in brahmi.planner_store.replies_to(question.trigger.id)]
    assert answers == ["The public URL: http://127.0.0.1:8099 (from “Deploy backend services”)."]
    assert "FastAPI" in brahmi.planner_store.replies_to(framework.trigger.id)[0].text
    assert len(brahmi.list_tasks(project_id=project_id)) == 4  # inquiries create nothing


def test_template_planner_reports_a_failed_task_clearly(
    brahmi: Brahmi, runtime: ScriptedRuntime, workspace: Path
) -> None:
    project_id = brahmi.project_for(workspace).id
    runtime.enqueue(
        "Build a todo API with create and list endpoints", Fail("the code does not compile")
    )
    brahmi.post_message(project_id, REQUEST, planner="template")

    asyncio.run(drive(brahmi, lambda: len(replies(brahmi, project_id)) >= 2))

    failure = replies(brahmi, project_id)[1]
    assert "failed: the code does not compile" in failure
    assert "3 task(s) after it are blocked" in failure
    assert "brahmi tasks retry" in failure


# -- triggers --------------------------------------------------------------------------------


def test_task_completed_triggers_come_only_for_top_level_tasks_a_planner_created(
    brahmi: Brahmi, workspace: Path
) -> None:
    project_id = brahmi.project_for(workspace).id
    spec = {"unique_id": 1, "task_name": "Plain task", "skill_id": f"{B}run-command"}
    plain = brahmi.create_tasks_batch(project_id, [spec])
    session = brahmi.planner_session(project_id, "template")
    planned = brahmi.create_tasks_batch(
        project_id, [{**spec, "task_name": "Planned task"}], planner_session_id=session.id
    )
    parent_id = planned.task_ids["1"]
    brahmi.create_subtask(parent_id, {"task_name": "A sub-task"})

    brahmi.cancel_task(plain.task_ids["1"])
    brahmi.cancel_task(parent_id)

    triggers = brahmi.planner_store.triggers(session.id)
    assert [(t.kind, t.task_id, t.task_status) for t in triggers] == [
        ("task_completed", parent_id, "cancelled")
    ]


def test_a_batch_created_again_while_handling_the_same_trigger_returns_the_first(
    llm: Brahmi, runtime: ScriptedRuntime, workspace: Path
) -> None:
    project_id = llm.project_for(workspace).id
    created: list[dict[str, Any]] = []

    async def plan_twice(turn: PlannerTurn) -> None:
        tasks = [{"unique_id": 1, "task_name": "Build it", "skill_id": f"{B}run-command"}]
        created.append(await turn.call("create_tasks_batch", tasks=tasks))
        created.append(await turn.call("create_tasks_batch", tasks=tasks))
        await turn.call("user_response", message="Planned.")

    runtime.enqueue_turns(plan_twice)
    posted = llm.post_message(project_id, "Build it", planner="scripted-planner")
    asyncio.run(drive(llm, lambda: idle(llm, posted.session.id), workers=False))

    assert created[0]["task_ids"] == created[1]["task_ids"]
    assert len(llm.list_tasks(project_id=project_id)) == 1


# -- the LLM planner path (a scripted runtime at the LLM boundary) ---------------------------


def test_llm_planner_searches_creates_receives_triggers_replies_and_resumes_its_session(
    llm: Brahmi, runtime: ScriptedRuntime, workspace: Path
) -> None:
    project_id = llm.project_for(workspace).id
    found: dict[str, str] = {}

    async def plan(turn: PlannerTurn) -> AgentResult:
        for category, tag in (("development", "backend"), ("testing", "backend")):
            hits = await turn.call("search_skills", category=category, tag=tag)
            found[category] = hits["skills"][0]["full_id"]
        bad = [{"unique_id": 1, "task_name": "x", "skill_id": "nope/nope/nope"}]
        try:
            await turn.call("create_tasks_batch", tasks=bad)
        except ToolCallFailed as exc:
            assert "invalid_batch" in str(exc)  # the problems come back; it retries
        batch = [
            {"unique_id": 1, "task_name": "Build the API", "skill_id": found["development"]},
            {
                "unique_id": 2,
                "task_name": "QA: test the API",
                "skill_id": found["testing"],
                "logical_dependencies": [1],
                "inputs": {"critiques_tasks": [1], "original_prompt": REQUEST},
            },
        ]
        await turn.call("create_tasks_batch", tasks=batch)
        await turn.call("user_response", message="Two tasks are planned.")
        return AgentResult(ok=True, usage=Usage(1000, 200, 0.05))

    async def note(turn: PlannerTurn) -> None:
        assert turn.request.prompt.startswith("## Task Completed")

    async def report(turn: PlannerTurn) -> None:
        listed = await turn.call("list_tasks")
        done = sum(t["status"] == "completed" for t in listed["tasks"])
        await turn.call("user_response", message=f"{done} tasks completed.")

    runtime.enqueue_turns(plan, note, report)
    posted = llm.post_message(project_id, REQUEST, planner="scripted-planner")
    session_id = posted.session.id
    asyncio.run(
        drive(
            llm, lambda: "2 tasks completed." in replies(llm, project_id) and idle(llm, session_id)
        )
    )

    assert replies(llm, project_id) == ["Two tasks are planned.", "2 tasks completed."]
    prompts = [c.prompt for c in runtime.conversations]
    assert prompts[0] == f"## User Message\n\n{REQUEST}\n"
    assert "**Task:** Build the API" in prompts[1]
    assert "**Task:** QA: test the API" in prompts[2]
    # Every turn resumes the session the first one started, with the skill as system prompt.
    refs = [c.session_ref for c in runtime.conversations]
    assert refs == [None, "scripted-session-1", "scripted-session-1"]
    assert all("You plan." in c.system_prompt for c in runtime.conversations)
    session = llm.planner_store.get_session(session_id)
    assert session.session_ref == "scripted-session-1"
    first = llm.planner_store.get_trigger(posted.trigger.id)
    assert (first.input_tokens, first.output_tokens, first.cost_usd) == (1000, 200, 0.05)
    assert session.input_tokens == 1000 + 2 * 100
    # Each turn is also a ``planner`` usage row, which the project's totals add up.
    planner = llm.usage.totals(planner_session_id=session_id)
    assert (planner.input_tokens, planner.runs) == (session.input_tokens, 3)
    assert planner.cost_usd == pytest.approx(session.cost_usd) == pytest.approx(0.07)
    assert llm.usage.totals(project_id=project_id).cost_usd == pytest.approx(0.07 + 2 * 0.001)
    assert found == {"development": f"{B}backend-development", "testing": f"{B}backend-testing"}


def test_a_planner_runtime_that_fails_leaves_a_clear_notice_and_loses_nothing(
    llm: Brahmi, runtime: ScriptedRuntime, workspace: Path
) -> None:
    project_id = llm.project_for(workspace).id
    runtime.enqueue_turns(Fail("the model refused"))
    posted = llm.post_message(project_id, REQUEST, planner="scripted-planner")

    asyncio.run(drive(llm, lambda: idle(llm, posted.session.id), workers=False))

    trigger = llm.planner_store.get_trigger(posted.trigger.id)
    assert (trigger.status, trigger.error) == ("failed", "the model refused")
    conversation = llm.conversation(project_id)
    assert (conversation[0].role, conversation[0].text) == ("user", REQUEST)
    assert conversation[1].role == "brahmi"
    assert "the model refused" in conversation[1].text
    assert llm.planner_store.get_session(posted.session.id).last_error == "the model refused"


# -- crash, redelivery and restart -------------------------------------------------------------

CRASHING_ACTOR = """\
import asyncio, sys
from pathlib import Path
from brahmi.config import Settings
from brahmi.planner.actor import PlannerActor
from brahmi.service import Brahmi
from brahmi.testing import ScriptedRuntime, registry_with

home, planners, marker = map(Path, sys.argv[1:4])
runtime = ScriptedRuntime()
brahmi = Brahmi(
    Settings(home=home, skill_dirs=(f"{planners}=local/planners",)),
    runtimes=registry_with(runtime),
)
runtime.brahmi = brahmi

async def plan_then_hang(turn):
    await turn.call("create_tasks_batch", tasks=TASKS)
    marker.write_text("batch created")
    await asyncio.sleep(3600)

runtime.enqueue_turns(plan_then_hang)
asyncio.run(PlannerActor(brahmi).run_until_idle())
"""
TASKS = [{"unique_id": 1, "task_name": "Build it", "skill_id": f"{B}run-command"}]


def test_a_trigger_interrupted_by_a_killed_process_is_delivered_again_without_a_second_batch(
    llm: Brahmi, runtime: ScriptedRuntime, workspace: Path, planner_dir: Path, tmp_path: Path
) -> None:
    project_id = llm.project_for(workspace).id
    posted = llm.post_message(project_id, "Build it", planner="scripted-planner")
    marker = tmp_path / "marker"
    script = tmp_path / "actor.py"
    script.write_text(CRASHING_ACTOR.replace("TASKS", repr(TASKS)), encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, str(script), str(llm.settings.home), str(planner_dir), str(marker)],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        deadline = time.monotonic() + WAIT_S
        while not marker.exists():
            assert process.poll() is None, "the actor process ended early"
            assert time.monotonic() < deadline, "the actor never created its batch"
            time.sleep(0.05)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    first = llm.list_tasks(project_id=project_id)
    assert len(first) == 1
    assert llm.planner_store.get_trigger(posted.trigger.id).status == "handling"

    again: list[dict[str, Any]] = []

    async def plan_again(turn: PlannerTurn) -> None:
        again.append(await turn.call("create_tasks_batch", tasks=TASKS))
        await turn.call("user_response", message="Planned once.")

    runtime.enqueue_turns(plan_again)
    asyncio.run(drive(llm, lambda: idle(llm, posted.session.id), workers=False))

    trigger = llm.planner_store.get_trigger(posted.trigger.id)
    assert (trigger.status, trigger.deliveries) == ("done", 2)
    assert runtime.conversations[0].prompt.startswith("(Delivery 2 of this trigger")
    assert again[0]["task_ids"] == {"1": first[0].id}
    assert [t.id for t in llm.list_tasks(project_id=project_id)] == [first[0].id]
    assert replies(llm, project_id) == ["Planned once."]


def test_wake_up_after_a_restart_finds_the_session_with_unfinished_work(
    settings: Settings, runtime: ScriptedRuntime, workspace: Path
) -> None:
    first = Brahmi(settings, runtimes=registry_with(runtime))
    project_id = first.project_for(workspace).id
    posted = first.post_message(project_id, REQUEST, planner="template")
    asyncio.run(drive(first, lambda: idle(first, posted.session.id), workers=False))
    other = first.post_message(first.project_for(workspace).id, "What is done?")
    asyncio.run(drive(first, lambda: idle(first, other.session.id), workers=False))
    first.close()

    restarted = Brahmi(settings, runtimes=registry_with(runtime))
    woken = restarted.wake_up()
    again = restarted.wake_up()
    asyncio.run(drive(restarted, lambda: idle(restarted, posted.session.id), workers=False))

    assert [(t.session_id, t.kind) for t in woken] == [(posted.session.id, "wake_up")]
    assert again == []  # one wake_up waiting is enough
    last = replies(restarted, project_id)[-1]
    assert last.startswith("I am back: 0 of 4 tasks are done; still open:")
    restarted.close()


# -- REST ------------------------------------------------------------------------------------


def test_rest_messages_reach_the_served_planner_and_its_replies_come_back(
    brahmi: Brahmi, workspace: Path
) -> None:
    import httpx

    from brahmi.api.app import create_app
    from tests.integration.test_rest_api import read_events, serving

    project_id = brahmi.project_for(workspace).id
    url = f"/api/v1/projects/{project_id}/messages"
    with serving(create_app(brahmi, planner=True)) as base, httpx.Client(base_url=base) as http:
        empty = http.post(url, json={"text": "  "})
        unknown = http.post(url, json={"text": "hi", "planner": "nope"})
        posted = http.post(url, json={"text": "What is the URL?", "planner": "template"})
        deadline = time.monotonic() + WAIT_S
        while True:
            listed = http.get(url).json()["messages"]
            if any(m["role"] == "planner" for m in listed) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        after = http.get(url, params={"after": listed[0]["message_id"]}).json()["messages"]
        sessions = http.get(f"/api/v1/projects/{project_id}/planner/sessions").json()
        stored = brahmi.store.events(project_id=project_id)
        events, _ = read_events(base, project_id, len(stored))

    assert empty.status_code == 400 and empty.json()["error"] == "invalid_message"
    assert unknown.status_code == 404 and unknown.json()["error"] == "planner_not_found"
    assert posted.status_code == 202
    body = posted.json()
    assert body["planner"] == f"{B}template-planner"
    assert [(m["role"], m["text"]) for m in listed] == [
        ("user", "What is the URL?"),
        (
            "planner",
            "I have not created any tasks in this project yet, so there is nothing to "
            "report. Tell me what to build.",
        ),
    ]
    assert [m["role"] for m in after] == ["planner"]
    (session,) = sessions["sessions"]
    assert session["session_id"] == body["session_id"]
    assert [t["status"] for t in session["triggers"]] == ["done"]
    kinds = [e["event"] for e in events]
    assert "user_message" in kinds and "user_response" in kinds


def test_a_served_planner_turn_reaches_its_session_tools_over_http_with_its_own_token(
    llm: Brahmi, runtime: ScriptedRuntime, workspace: Path
) -> None:
    """What an agent runtime does with a turn's environment: the MCP endpoint and token in
    ``BRAHMI_MCP_URL`` / ``BRAHMI_TOKEN`` act as the session, over real HTTP."""
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    from brahmi.api.app import create_app
    from tests.integration.test_rest_api import serving

    project_id = llm.project_for(workspace).id
    seen: dict[str, Any] = {}

    async def over_http(turn: PlannerTurn) -> None:
        env = turn.request.env
        seen.update(env)
        headers = {"Authorization": f"Bearer {env['BRAHMI_TOKEN']}"}
        tasks = [{"unique_id": 1, "task_name": "Build it", "skill_id": f"{B}run-command"}]
        async with (
            httpx2.AsyncClient(headers=headers) as http,
            Client(streamable_http_client(env["BRAHMI_MCP_URL"], http_client=http)) as client,
        ):
            created = await client.call_tool("create_tasks_batch", {"tasks": tasks})
            seen["created"] = created.structured_content
            await client.call_tool("user_response", {"message": "Planned over HTTP."})

    runtime.enqueue_turns(over_http)
    with serving(create_app(llm, planner=True)) as base:
        llm.settings = llm.settings.with_(server_url=base)
        posted = llm.post_message(project_id, "Build it", planner="scripted-planner")
        deadline = time.monotonic() + WAIT_S
        while not idle(llm, posted.session.id):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        local = httpx2.get(f"{base}/api/v1/projects/{project_id}/messages")

    session_id = posted.session.id
    assert seen["BRAHMI_MCP_URL"] == f"{base}/projects/{project_id}/sessions/{session_id}/mcp"
    assert seen["BRAHMI_PLANNER_SESSION_ID"] == session_id
    assert replies(llm, project_id) == ["Planned over HTTP."]
    task_id = seen["created"]["task_ids"]["1"]
    llm.cancel_task(task_id)  # the batch is the session's: its task reports back
    kinds = [(t.kind, t.task_id) for t in llm.planner_store.triggers(session_id)]
    assert kinds == [("user_message", None), ("task_completed", task_id)]
    # The planner's token is not a token for people: local callers still need none.
    assert local.status_code == 200
    assert not llm.tokens.people_tokens_exist()


def test_a_session_mcp_path_needs_a_token_that_may_act_as_that_session(
    brahmi: Brahmi, workspace: Path
) -> None:
    import httpx

    from brahmi.api.app import create_app
    from tests.integration.test_access import INITIALIZE

    project_id = brahmi.project_for(workspace).id
    session = brahmi.planner_session(project_id, "template")
    other = brahmi.planner_session(project_id, "default-planner")
    now = brahmi.clock.now()
    read_only, _ = brahmi.tokens.create(now=now, project_id=project_id, read_only=True)
    writer, _ = brahmi.tokens.create(now=now, project_id=project_id)
    others, _ = brahmi.tokens.create(now=now, project_id=project_id, planner_session_id=other.id)
    app = create_app(brahmi)
    rest = app.rest  # type: ignore[attr-defined]

    async def post(path: str, token: str) -> int:
        async with (
            rest.router.lifespan_context(rest),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app, client=("127.0.0.1", 1)),
                base_url="http://127.0.0.1:8421",
            ) as http,
        ):
            response = await http.post(
                path,
                json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": INITIALIZE},
                headers={
                    "accept": "application/json, text/event-stream",
                    "authorization": f"Bearer {token}",
                },
            )
            return response.status_code

    path = f"/projects/{project_id}/sessions/{session.id}/mcp"
    statuses = {
        "writer": asyncio.run(post(path, writer)),
        "read_only": asyncio.run(post(path, read_only)),
        "other_session": asyncio.run(post(path, others)),
        "unknown_session": asyncio.run(post(f"/projects/{project_id}/sessions/nope/mcp", writer)),
    }

    assert statuses == {
        "writer": 200,
        "read_only": 403,
        "other_session": 403,
        "unknown_session": 404,
    }


def test_an_actor_for_one_session_leaves_other_sessions_triggers_waiting(
    brahmi: Brahmi, workspace: Path, tmp_path: Path
) -> None:
    other_workspace = tmp_path / "other"
    other_workspace.mkdir()
    mine = brahmi.post_message(
        brahmi.project_for(workspace).id, "What is done?", planner="template"
    )
    theirs = brahmi.post_message(
        brahmi.project_for(other_workspace).id, "What is done?", planner="template"
    )

    handled = asyncio.run(PlannerActor(brahmi, session_id=mine.session.id).run_until_idle())

    assert handled == 1
    assert brahmi.planner_store.get_trigger(mine.trigger.id).status == "done"
    assert brahmi.planner_store.get_trigger(theirs.trigger.id).status == "pending"


def test_a_planner_whose_runtime_is_missing_gets_a_notice_naming_the_way_out(
    settings: Settings, workspace: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "elsewhere" / "remote-planner"
    folder.mkdir(parents=True)
    (folder / "SKILL.md").write_text(
        PLANNER_SKILL.replace("scripted-planner", "remote-planner").replace(
            "brahmi-runtime: scripted", "brahmi-runtime: no-such-runtime"
        ),
        encoding="utf-8",
    )
    brahmi = Brahmi(settings.with_(skill_dirs=(f"{folder.parent}=local/elsewhere",)))
    project_id = brahmi.project_for(workspace).id
    posted = brahmi.post_message(project_id, REQUEST, planner="remote-planner")

    asyncio.run(PlannerActor(brahmi).run_until_idle())

    trigger = brahmi.planner_store.get_trigger(posted.trigger.id)
    assert trigger.status == "failed"
    (notice,) = brahmi.planner_store.replies_to(posted.trigger.id)
    assert notice.role == "brahmi"
    assert "'no-such-runtime' is not installed here" in notice.text
    assert "--planner template" in notice.text
    brahmi.close()


def test_serving_wakes_every_session_with_unfinished_work_at_start(
    brahmi: Brahmi, workspace: Path
) -> None:
    from brahmi.api.app import create_app

    project_id = brahmi.project_for(workspace).id
    posted = brahmi.post_message(project_id, REQUEST, planner="template")
    asyncio.run(PlannerActor(brahmi).run_until_idle())  # planned; no worker ran the tasks
    app = create_app(brahmi, planner=True)
    rest = app.rest  # type: ignore[attr-defined]

    async def serve_briefly() -> None:
        async with rest.router.lifespan_context(rest):
            async with asyncio.timeout(WAIT_S):
                while not any(r.startswith("I am back") for r in replies(brahmi, project_id)):
                    await asyncio.sleep(0.02)

    asyncio.run(serve_briefly())

    kinds = [t.kind for t in brahmi.planner_store.triggers(posted.session.id)]
    assert kinds[:2] == ["user_message", "wake_up"]


@pytest.mark.parametrize(
    ("api_key", "metadata", "deployment"),
    [
        (None, "aramb-metadata-generate", "local-deployment"),
        ("sk-ant-test", "aramb-metadata", "backend-deployment"),
    ],
)
def test_without_an_llm_runtime_the_template_plans_deterministic_metadata_and_deployment(
    settings: Settings,
    workspace: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_key: str | None,
    metadata: str,
    deployment: str,
) -> None:
    for key in KEY_VARIABLES:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HOME", str(workspace.parent))  # no `claude login` credentials
    if api_key is not None:
        monkeypatch.setenv("ANTHROPIC_API_KEY", api_key)
    instance = Brahmi(settings.with_(forced_executor=None))
    try:
        claude_code = instance.runtimes.get("claude-code")
        if api_key is not None and claude_code.check() is not None:
            pytest.skip(f"claude-code cannot run here even with a key: {claude_code.check()}")
        project_id = instance.project_for(workspace).id
        posted = instance.post_message(project_id, REQUEST, planner="template")
        asyncio.run(drive(instance, lambda: idle(instance, posted.session.id), workers=False))
        tasks = instance.list_tasks(project_id=project_id)
        assert [t.skill_id for t in tasks] == [
            f"{B}backend-development",  # no deterministic skill builds from a request
            f"{B}backend-testing",
            f"{B}{metadata}",
            f"{B}{deployment}",
        ]
    finally:
        instance.close()
