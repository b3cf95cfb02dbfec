"""The LLM planner end to end through the real Claude Code CLI, with only the model faked
(DESIGN §7; issue 7 §5).

A person's message goes to the built-in ``backend-planner`` skill, whose runtime is
``claude-code``: the planner actor starts the CLI bundled in ``claude-agent-sdk`` as a real
subprocess, with ``HOME`` in a temp folder and ``ANTHROPIC_BASE_URL`` pointing at the
scripted fake of the Messages API (tests/fakes/anthropic_api.py). Brahmi's tools reach the
planner through a real ``brahmi mcp --project-id P --planner-session S`` stdio server on the
same SQLite file (the path ``brahmi ask`` uses: no server). The tasks the planner creates
run on the scripted runtime (``forced_executor`` applies to tasks, never to planners), so
only the planner talks to the fake model.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from brahmi.agents.claude_cli import find_cli
from brahmi.config import Settings
from brahmi.planner.actor import PlannerActor
from brahmi.service import Brahmi
from brahmi.store import tables as t
from brahmi.testing import ScriptedRuntime, registry_with
from tests.fakes.anthropic_api import FakeAnthropicAPI, text, tool_use
from tests.integration import support

pytestmark = pytest.mark.skipif(
    find_cli() is None,
    reason="the Claude Code CLI is not installed: pip install 'brahmi[claude]'",
)

PLANNER = "brahmi/builtin/backend-planner"
B = "brahmi/builtin/"
REQUEST = "Build a todo API with create and list endpoints."
WAIT_S = 90.0
#: The planner actor and a worker, with the CLI's pace in mind.
drive = partial(support.drive, timeout_s=WAIT_S, poll_s=0.05)
#: What one request to the fake costs: 100 input tokens at $3/M, 20 output at $15/M.
PER_REQUEST_USD = 100 * 3e-6 + 20 * 15e-6
BUILD = "Build the todo API"
QA = "QA: test the todo API"
#: The plan the scripted model sends, in the seeds' dialect.
BATCH = [
    {
        "unique_id": 1,
        "task_name": BUILD,
        "skill_id": f"{B}backend-development",
        "description": "Add POST /todos and GET /todos with an in-memory store.",
        "task_order": 1,
        "inputs": {"requirements": "POST /todos creates a todo; GET /todos lists them."},
        "validation_criteria": {
            "critical": ["POST then GET returns the todo"],
            "expected": ["An empty title gets 400"],
            "nice_to_have": [],
        },
        "timeout_seconds": 600,
    },
    {
        "unique_id": 2,
        "task_name": QA,
        "skill_id": f"{B}backend-testing",
        "description": "Test both endpoints; fail with feedback if anything is broken.",
        "task_order": 2,
        "logical_dependencies": [1],
        "inputs": {
            "critiques_tasks": [1],
            "original_prompt": REQUEST,
            "user_expectations": ["I can create a todo", "I can list todos"],
        },
        "validation_criteria": {"critical": ["Both endpoints work"]},
        "timeout_seconds": 600,
    },
]
PLANNED = "I planned it: a build of the todo API, then QA. I'll report when both are done."
SUMMARY = "All done: the todo API is built (FastAPI, app/main.py) and QA passed (score 95)."


@pytest.fixture
def runtime() -> ScriptedRuntime:
    """The scripted runtime the tasks run on."""
    return ScriptedRuntime()


@pytest.fixture
def brahmi(settings: Settings, runtime: ScriptedRuntime) -> Iterator[Brahmi]:
    """A Brahmi whose tasks run on ``runtime`` and whose planners on their own runtime."""
    instance = Brahmi(settings, runtimes=registry_with(runtime))
    assert instance.settings.forced_executor == "scripted"
    yield instance
    instance.close()


@pytest.fixture
def project_id(
    brahmi: Brahmi, workspace: Path, anthropic_api: FakeAnthropicAPI, tmp_path: Path
) -> str:
    """The workspace's project, its agents (the planner) pointed at the fake API."""
    project = brahmi.project_for(workspace)
    brahmi.configure_project(project.id, {"env": anthropic_api.env(tmp_path / "agent-home")})
    return project.id


def said(brahmi: Brahmi, project_id: str) -> list[tuple[str, str]]:
    """The conversation as ``(role, text)``."""
    return [(m.role, m.text) for m in brahmi.conversation(project_id)]


def planner_usage(brahmi: Brahmi, session_id: str) -> list[dict[str, Any]]:
    """The usage rows of the session's planner turns, oldest first."""
    with brahmi.store.engine.connect() as conn:
        rows = conn.execute(
            select(t.usage)
            .where(t.usage.c.planner_session_id == session_id, t.usage.c.kind == "planner")
            .order_by(t.usage.c.id)
        ).all()
    return [dict(r._mapping) for r in rows]


def last_prompt(body: dict[str, Any]) -> str:
    """The text of the last message the CLI sent (a turn's prompt, or a tool result)."""
    return json.dumps(body["messages"][-1])


def test_the_llm_planner_plans_through_the_cli_hears_back_and_resumes_its_session(
    brahmi: Brahmi,
    runtime: ScriptedRuntime,
    project_id: str,
    anthropic_api: FakeAnthropicAPI,
) -> None:
    # Turn 1, the person's message: find skills, create the batch, reply, end the turn.
    anthropic_api.reply(
        tool_use("mcp__brahmi__search_skills", {"category": "development", "tag": "backend"})
    )
    anthropic_api.reply(
        tool_use("mcp__brahmi__search_skills", {"category": "testing", "tag": "backend"})
    )
    anthropic_api.reply(tool_use("mcp__brahmi__create_tasks_batch", {"tasks": BATCH}))
    anthropic_api.reply(tool_use("mcp__brahmi__user_response", {"message": PLANNED}))
    anthropic_api.reply(text("Planned and told the person."))
    # Turn 2, the build completed: nothing to decide.
    anthropic_api.reply(text("Noted: the build completed; QA runs next."))
    # Turn 3, QA completed: the summary.
    anthropic_api.reply(tool_use("mcp__brahmi__user_response", {"message": SUMMARY}))
    anthropic_api.reply(text("Summary sent."))
    runtime.enqueue(BUILD, {"framework": "FastAPI", "files_created": ["app/main.py"]})
    runtime.enqueue(QA, {"verdict": "pass", "score": 95})

    posted = brahmi.post_message(project_id, REQUEST, planner=PLANNER)
    session_id = posted.session.id
    asyncio.run(drive(brahmi, lambda: ("planner", SUMMARY) in said(brahmi, project_id)))

    # The conversation: the request, the plan, the summary; no notice from Brahmi.
    assert said(brahmi, project_id) == [
        ("user", REQUEST),
        ("planner", PLANNED),
        ("planner", SUMMARY),
    ]
    # The planner ran through the CLI with its skill, Brahmi's tools and no editing tools.
    assert "# Backend planner" in anthropic_api.system_text(0)
    offered = set(anthropic_api.tool_names(0))
    assert {"mcp__brahmi__create_tasks_batch", "mcp__brahmi__user_response"} <= offered
    assert not {"Bash", "Edit", "Write"} & offered
    assert "## User Message" in last_prompt(anthropic_api.requests[0])
    assert REQUEST in last_prompt(anthropic_api.requests[0])
    results = anthropic_api.tool_results()
    assert f"{B}backend-development" in results[0]
    assert f"{B}backend-testing" in results[1]
    # The batch: created for the session through the stdio tool server, run on the
    # scripted runtime (never the CLI), both tasks completed.
    tasks = brahmi.list_tasks(project_id=project_id)
    assert [(x.task_name, x.skill_id, x.status.value) for x in tasks] == [
        (BUILD, f"{B}backend-development", "completed"),
        (QA, f"{B}backend-testing", "completed"),
    ]
    assert tasks[1].inputs["critiques_tasks"] == [tasks[0].id]
    created, _ = json.JSONDecoder().raw_decode(results[2])  # the CLI may append a note
    assert created["task_ids"] == {"1": tasks[0].id, "2": tasks[1].id}
    assert [c.task.task_name for c in runtime.calls] == [BUILD, QA]
    assert runtime.conversations == []
    [(batch_id, trigger_id)] = brahmi.planner_store.session_batches(session_id)
    assert {x.batch_id for x in tasks} == {batch_id}
    assert trigger_id == posted.trigger.id
    assert brahmi.planner_store.session_task_ids(session_id) == [tasks[0].id, tasks[1].id]
    # One turn per trigger: the message, then each task's "## Task Completed".
    triggers = brahmi.planner_store.triggers(session_id)
    assert [(x.kind, x.task_id, x.status, x.deliveries) for x in triggers] == [
        ("user_message", None, "done", 1),
        ("task_completed", tasks[0].id, "done", 1),
        ("task_completed", tasks[1].id, "done", 1),
    ]
    assert len(anthropic_api.requests) == 8 and anthropic_api.pending == 0
    # Turns 2 and 3 resumed the same Claude Code session: their first request holds the
    # whole earlier conversation, the trigger comes last.
    turn2, turn3 = anthropic_api.requests[5], anthropic_api.requests[6]
    assert "## Task Completed" in last_prompt(turn2) and BUILD in last_prompt(turn2)
    assert '\\"framework\\": \\"FastAPI\\"' in last_prompt(turn2)
    earlier = json.dumps(turn2["messages"][:-1])
    assert REQUEST in earlier and "mcp__brahmi__create_tasks_batch" in earlier
    assert "Planned and told the person." in earlier
    assert "## Task Completed" in last_prompt(turn3) and QA in last_prompt(turn3)
    assert "Noted: the build completed" in json.dumps(turn3["messages"][:-1])
    # The session_ref is Claude Code's session, the same for every turn, and stored.
    session = brahmi.planner_store.get_session(session_id)
    assert session.session_ref and session.last_error is None
    # Usage: one planner row per turn holding that turn's cost only (the CLI reports the
    # session's running total, kept in session_cost_usd).
    rows = planner_usage(brahmi, session_id)
    assert [r["cost_usd"] for r in rows] == pytest.approx(
        [5 * PER_REQUEST_USD, 1 * PER_REQUEST_USD, 2 * PER_REQUEST_USD]
    )
    assert [r["session_cost_usd"] for r in rows] == pytest.approx(
        [5 * PER_REQUEST_USD, 6 * PER_REQUEST_USD, 8 * PER_REQUEST_USD]
    )
    assert [(r["input_tokens"], r["output_tokens"]) for r in rows] == [
        (500, 100),
        (100, 20),
        (200, 40),
    ]
    assert {(r["session_ref"], r["executor"]) for r in rows} == {
        (session.session_ref, "claude-code")
    }
    # The trigger and session totals agree with the rows; the project's include them.
    assert [x.cost_usd for x in triggers] == pytest.approx([r["cost_usd"] for r in rows])
    assert session.cost_usd == pytest.approx(8 * PER_REQUEST_USD)
    assert (session.input_tokens, session.output_tokens) == (800, 160)
    planner = brahmi.usage.totals(planner_session_id=session_id)
    assert (planner.cost_usd, planner.runs) == (pytest.approx(8 * PER_REQUEST_USD), 3)
    project = brahmi.usage.totals(project_id=project_id)
    assert project.cost_usd == pytest.approx(8 * PER_REQUEST_USD + 2 * 0.001)  # + the tasks
    assert project.runs == 5
    # The turns' transcripts are kept beside the tasks'.
    folder = brahmi.settings.home / "transcripts" / "planner" / session_id
    assert "mcp__brahmi__create_tasks_batch" in (folder / "trigger-000001-1.log").read_text()


def test_a_session_not_on_this_machine_is_started_anew_and_the_final_text_is_the_reply(
    brahmi: Brahmi, project_id: str, anthropic_api: FakeAnthropicAPI
) -> None:
    session = brahmi.planner_session(project_id, PLANNER)
    brahmi.record_user_response(
        project_id, "Earlier I built a notes API.", planner_session_id=session.id
    )
    lost = "0b5e0a53-1c8b-4f55-9a3e-5a0f0c0ffee0"  # ran on another machine
    with brahmi.store.engine.begin() as conn:
        conn.execute(
            update(t.planner_sessions)
            .where(t.planner_sessions.c.id == session.id)
            .values(session_ref=lost)
        )
    anthropic_api.reply(text("The notes API is in app/notes.py."))

    posted = brahmi.post_message(project_id, "Where is the notes API?", planner=PLANNER)
    asyncio.run(
        drive(
            brahmi,
            lambda: not brahmi.planner_store.has_unfinished_triggers(session.id),
            workers=False,
        )
    )

    assert brahmi.planner_store.get_trigger(posted.trigger.id).status == "done"
    # The turn ran once, in a new session told the conversation so far.
    [request] = anthropic_api.requests
    prompt = last_prompt(request)
    assert "this is a new session" in prompt
    assert "Earlier I built a notes API." in prompt and "Where is the notes API?" in prompt
    assert len(request["messages"]) == 1
    renewed = brahmi.planner_store.get_session(session.id)
    assert renewed.session_ref not in (None, lost)
    # It never called user_response: its final text is the reply.
    assert said(brahmi, project_id)[-1] == ("planner", "The notes API is in app/notes.py.")
    [row] = planner_usage(brahmi, session.id)
    assert row["session_ref"] == renewed.session_ref
    assert row["cost_usd"] == pytest.approx(PER_REQUEST_USD)


def test_planner_turns_count_in_the_budget_and_a_spent_budget_runs_no_turn(
    brahmi: Brahmi, project_id: str, anthropic_api: FakeAnthropicAPI
) -> None:
    # The first turn (two requests, $0.0012) spends the $0.001 budget: the CLI, given
    # --max-budget-usd, ends it as over budget once the second answer is in.
    brahmi.configure_project(project_id, {"budget": {"usd": 0.001}})
    anthropic_api.reply(tool_use("mcp__brahmi__user_response", {"message": "Hello!"}))
    anthropic_api.reply(text("Greeted."))
    first = brahmi.post_message(project_id, "Hi there.", planner=PLANNER)
    session_id = first.session.id

    def idle() -> bool:
        return not brahmi.planner_store.has_unfinished_triggers(session_id)

    asyncio.run(drive(brahmi, idle, workers=False))
    assert len(anthropic_api.requests) == 2
    assert said(brahmi, project_id)[:2] == [("user", "Hi there."), ("planner", "Hello!")]
    over = brahmi.planner_store.get_trigger(first.trigger.id)
    assert over.status == "failed" and "budget ran out during the run" in (over.error or "")
    assert over.cost_usd == pytest.approx(2 * PER_REQUEST_USD)
    assert brahmi.usage.budget(project_id).exceeded
    assert brahmi.usage.totals(project_id=project_id).cost_usd == pytest.approx(2 * PER_REQUEST_USD)

    second = brahmi.post_message(project_id, "Now build a todo API.", planner=PLANNER)
    asyncio.run(drive(brahmi, idle, workers=False))

    assert len(anthropic_api.requests) == 2  # no planner turn ran
    trigger = brahmi.planner_store.get_trigger(second.trigger.id)
    assert trigger.status == "failed" and "budget is spent" in (trigger.error or "")
    role, notice = said(brahmi, project_id)[-1]
    assert role == "brahmi"
    assert "the project's budget is spent ($0.0012 of $0.0010), so no planner turn ran" in notice
    assert "brahmi projects configure --budget-usd" in notice and "send the message again" in notice
    events = [e for e in brahmi.store.events(project_id=project_id) if e.kind == "budget_exceeded"]
    assert [e.data["trigger_id"] for e in events] == [first.trigger.id, second.trigger.id]
    event = events[-1]
    assert event.data["exceeded"] is True and event.data["usd"] == 0.001
    assert event.data["spent"]["cost_usd"] == pytest.approx(2 * PER_REQUEST_USD)
    assert brahmi.list_tasks(project_id=project_id) == []


def test_a_turn_interrupted_after_its_batch_is_delivered_again_without_a_second_batch(
    brahmi: Brahmi, project_id: str, anthropic_api: FakeAnthropicAPI
) -> None:
    # Delivery 1 creates the batch, then the model hangs and the actor dies (cancelled: the
    # CLI is interrupted, the trigger stays "handling"). Delivery 2, by another actor once
    # the lease ran out, creates the same batch again: the first one's ids come back.
    anthropic_api.reply(tool_use("mcp__brahmi__create_tasks_batch", {"tasks": BATCH}))
    anthropic_api.reply(text("..."), delay_s=60)
    anthropic_api.reply(tool_use("mcp__brahmi__create_tasks_batch", {"tasks": BATCH}))
    anthropic_api.reply(tool_use("mcp__brahmi__user_response", {"message": PLANNED}))
    anthropic_api.reply(text("Done."))
    posted = brahmi.post_message(project_id, REQUEST, planner=PLANNER)
    session_id = posted.session.id

    async def die_mid_turn() -> None:
        actor = PlannerActor(brahmi, lease_s=1.0, poll_interval_s=0.05)
        running = asyncio.create_task(actor.run(asyncio.Event()))
        async with asyncio.timeout(WAIT_S):
            while len(anthropic_api.requests) < 2:
                assert not running.done()
                await asyncio.sleep(0.05)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running

    asyncio.run(die_mid_turn())
    assert brahmi.planner_store.get_trigger(posted.trigger.id).status == "handling"
    assert len(brahmi.planner_store.session_batches(session_id)) == 1

    asyncio.run(
        drive(brahmi, lambda: ("planner", PLANNED) in said(brahmi, project_id), workers=False)
    )

    trigger = brahmi.planner_store.get_trigger(posted.trigger.id)
    assert (trigger.status, trigger.deliveries) == ("done", 2)
    assert "Delivery 2 of this trigger" in last_prompt(anthropic_api.requests[2])
    [(batch_id, _)] = brahmi.planner_store.session_batches(session_id)
    assert len(brahmi.list_tasks(project_id=project_id)) == 2
    first, second = (json.JSONDecoder().raw_decode(r)[0] for r in anthropic_api.tool_results()[:2])
    assert first["batch_id"] == second["batch_id"] == batch_id
    assert first["task_ids"] == second["task_ids"]
    assert said(brahmi, project_id) == [("user", REQUEST), ("planner", PLANNED)]
