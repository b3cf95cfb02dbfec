"""The eight MCP tools (DESIGN §2, §8) through the official ``mcp`` client.

Each behaviour is driven in process (``mcp.Client(build_mcp(...))``, no transport) and,
where the transport matters, over streamable HTTP through the real ASGI app of
``brahmi serve`` (``create_app`` with its lifespan entered here, ``httpx2.ASGITransport``,
no socket). The seed documents' batches are sent as the seeds' planners send them; the
skills they name are a registered folder source filed under ``acme/skills``.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult

from brahmi.api.app import create_app
from brahmi.mcp.server import build_mcp
from brahmi.service import Brahmi
from brahmi.testing import run_until_settled
from tests.seed_payloads import (
    OWNER_REPO,
    SEEDS_DIR,
    VARIANTS,
    SeedPayload,
    all_payloads,
    concrete,
    skill_names,
    variant_base,
    write_skills,
)

T = TypeVar("T")
SKILL = "brahmi/builtin/run-command"
#: Any host:port on the loopback passes the MCP endpoint's DNS-rebinding check.
BASE = "http://127.0.0.1:8421"
TRANSPORTS = ["memory", "http"]
#: The tools and their arguments, exactly as the seeds' planners call them.
TOOLS = {
    "search_skills",
    "create_tasks_batch",
    "create_task",
    "create_subtask",
    "resume_task",
    "get_task",
    "list_tasks",
    "user_response",
}
PAYLOADS = all_payloads()
needs_seeds = pytest.mark.skipif(
    not SEEDS_DIR.is_dir(), reason=f"the seed documents are not beside the repo ({SEEDS_DIR})"
)


# -- helpers --------------------------------------------------------------------------------


@asynccontextmanager
async def mcp_client(brahmi: Brahmi, project_id: str, transport: str) -> AsyncIterator[Client]:
    """An MCP client of ``brahmi`` acting on ``project_id``: in memory, or over HTTP (the
    2026-07-28 protocol, or the initialize handshake with ``http-legacy``)."""
    if transport == "memory":
        async with Client(build_mcp(brahmi, project_id)) as client:
            yield client
        return
    app = create_app(brahmi, default_project_id=project_id)
    rest = app.rest  # type: ignore[attr-defined]
    mode = "legacy" if transport == "http-legacy" else "auto"
    async with (
        rest.router.lifespan_context(rest),
        httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url=BASE) as http,
        Client(streamable_http_client(f"{BASE}/mcp", http_client=http), mode=mode) as client,
    ):
        yield client


def with_client(
    brahmi: Brahmi,
    project_id: str,
    transport: str,
    scenario: Callable[[Client], Awaitable[T]],
) -> T:
    """Run ``scenario`` with a connected client, on a fresh event loop."""

    async def main() -> T:
        async with mcp_client(brahmi, project_id, transport) as client:
            return await scenario(client)

    return asyncio.run(main())


async def ok(client: Client, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """Call ``tool``; it must succeed. Returns its structured content."""
    result = await client.call_tool(tool, arguments)
    assert result.is_error is False, text_of(result)
    assert isinstance(result.structured_content, dict)
    return result.structured_content


async def failed(client: Client, tool: str, arguments: dict[str, Any]) -> str:
    """Call ``tool``; it must be a tool error. Returns its text."""
    result = await client.call_tool(tool, arguments)
    assert result.is_error is True, result.structured_content
    return text_of(result)


def text_of(result: CallToolResult) -> str:
    return "\n".join(getattr(part, "text", "") for part in result.content)


def error_code(text: str) -> str:
    """The ``[code]`` a tool error ends with."""
    assert text.rstrip().endswith("]"), text
    return text.rstrip().rsplit("[", 1)[1].rstrip("]")


def problems_of(text: str) -> set[tuple[str, str]]:
    """The ``(code, path)`` pairs a rejected batch's tool error lists, one per line."""
    found = set()
    for line in text.splitlines():
        if line.startswith("- ") and line.endswith("]"):
            path = line[2:].split(": ", 1)[0]
            found.add((error_code(line), path))
    return found


def spec(uid: int, name: str, deps: list[Any] | None = None, **extra: Any) -> dict[str, Any]:
    task: dict[str, Any] = {
        "unique_id": uid,
        "task_name": name,
        "skill_id": SKILL,
        "description": f"{name}, for the test",
        "task_order": uid,
        "inputs": {"command": ["true"]},
    }
    if deps:
        task["logical_dependencies"] = deps
    task.update(extra)
    return task


@pytest.fixture
def project_id(brahmi: Brahmi, workspace: Path) -> str:
    return brahmi.project_for(workspace).id


@pytest.fixture
def seed_skills(brahmi: Brahmi, tmp_path: Path) -> Brahmi:
    """``brahmi`` with every skill the seeds' batches name, registered as ``acme/skills``."""
    names: set[str] = set()
    for payload in PAYLOADS:
        names |= skill_names(concrete(payload.tasks))
    folder = write_skills(tmp_path / "seed-skills", names)
    brahmi.registry.add(str(folder), owner_repo=OWNER_REPO)
    assert {f"{OWNER_REPO}/{name}" for name in names} <= brahmi.catalog.full_ids()
    return brahmi


# -- the tool set ---------------------------------------------------------------------------


@pytest.mark.parametrize("transport", [*TRANSPORTS, "http-legacy"])
def test_list_tools_gives_the_eight_tools_with_the_seeds_argument_names(
    brahmi: Brahmi, project_id: str, transport: str
) -> None:
    async def scenario(client: Client) -> dict[str, dict[str, Any]]:
        listed = await client.list_tools()
        return {tool.name: tool.input_schema for tool in listed.tools}

    schemas = with_client(brahmi, project_id, transport, scenario)

    assert set(schemas) == TOOLS
    assert len(schemas) == 8

    def args(name: str) -> set[str]:
        return set(schemas[name]["properties"])

    def required(name: str) -> set[str]:
        return set(schemas[name].get("required", []))

    assert required("create_tasks_batch") == {"tasks"}
    assert required("create_subtask") == {"parent_task_id"}
    assert {"task", "task_name", "skill_id", "inputs", "position", "after"} <= args(
        "create_subtask"
    )
    assert args("resume_task") == {"task_id", "message", "mode"}
    assert required("resume_task") == {"task_id", "message"}
    assert args("search_skills") == {"category", "tag", "q"}
    assert args("get_task") == {"task_id"}
    assert {"status", "parent_task_id"} <= args("list_tasks")
    assert args("user_response") == {"message"}
    assert {"skill_id", "task_name", "dependencies"} <= args("create_task")
    # The Context parameter is injected by the server, never an argument.
    assert not any("ctx" in schema["properties"] for schema in schemas.values())


def test_a_tool_result_carries_structured_content_and_the_same_json_as_text(
    brahmi: Brahmi, project_id: str
) -> None:
    async def scenario(client: Client) -> CallToolResult:
        return await client.call_tool("create_tasks_batch", {"tasks": [spec(1, "Build it")]})

    result = with_client(brahmi, project_id, "http", scenario)

    assert result.is_error is False
    assert isinstance(result.structured_content, dict)
    assert set(result.structured_content) >= {"batch_id", "task_ids", "warnings"}
    assert json.loads(text_of(result)) == result.structured_content


# -- create_tasks_batch with the seeds' payloads --------------------------------------------


def batch_key(spec: dict[str, Any]) -> str:
    """A seed task's id within its batch, in any of the three dialects."""
    for key in ("unique_id", "uniqueId", "task_order"):
        if key in spec:
            return str(spec[key])
    raise AssertionError(spec)


def batch_dependencies(spec: dict[str, Any]) -> list[str]:
    for key in ("logical_dependencies", "logicalDependencies", "dependencies"):
        if key in spec:
            return [str(d) for d in spec[key]]
    return []


def batch_critiques(spec: dict[str, Any]) -> list[str]:
    inputs = spec.get("inputs") or {}
    if "critiques_tasks" in inputs:
        return [str(v) for v in inputs["critiques_tasks"]]
    if "unique_id" not in spec and "uniqueId" not in spec and "preceding_task" in inputs:
        return [str(inputs["preceding_task"]["task_order"])]
    return []


@needs_seeds
@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("payload", PAYLOADS, ids=[p.id for p in PAYLOADS])
def test_every_seed_batch_sent_through_mcp_is_stored_with_its_graph(
    seed_skills: Brahmi, project_id: str, payload: SeedPayload, transport: str
) -> None:
    brahmi = seed_skills
    tasks = concrete(payload.tasks)

    reply = with_client(
        brahmi,
        project_id,
        transport,
        lambda client: ok(client, "create_tasks_batch", {"tasks": tasks}),
    )

    ids: dict[str, str] = reply["task_ids"]
    assert set(ids) == {batch_key(s) for s in tasks}
    stored = brahmi.list_tasks(batch_id=reply["batch_id"])
    assert len(stored) == len(tasks)
    assert {t.id for t in stored} == set(ids.values())
    assert {t.project_id for t in stored} == {project_id}
    for s in tasks:
        task = brahmi.get_task(ids[batch_key(s)])
        assert task.task_name == s["task_name"]
        assert task.skill_id.startswith(f"{OWNER_REPO}/")
        assert task.skill_id.endswith("/" + s["skill_id"].rsplit("/", 1)[-1])
        assert set(task.dependencies) == {ids[d] for d in batch_dependencies(s)}
        critiques = [ids[c] for c in batch_critiques(s)]
        assert task.is_qa == bool(critiques)
        if critiques:
            assert task.inputs["critiques_tasks"] == critiques
    # Short skill names (the oldest planner) are resolved, with one warning each.
    short = {f"tasks[{i}].skill_id" for i, s in enumerate(tasks) if "/" not in s["skill_id"]}
    assert {w["path"] for w in reply["warnings"]} == short


@needs_seeds
@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    ("mutate", "code", "path"), VARIANTS, ids=[mutate.__name__ for mutate, _, _ in VARIANTS]
)
def test_invalid_variant_of_a_seed_batch_is_a_tool_error_listing_path_and_code(
    seed_skills: Brahmi,
    project_id: str,
    mutate: Callable[[list[Any]], None],
    code: str,
    path: str,
    transport: str,
) -> None:
    brahmi = seed_skills
    tasks = variant_base()
    mutate(tasks)
    events_before = brahmi.store.events(project_id=project_id)

    text = with_client(
        brahmi,
        project_id,
        transport,
        lambda client: failed(client, "create_tasks_batch", {"tasks": tasks}),
    )

    assert "invalid_batch" in text.splitlines()[0]
    assert (code, path) in problems_of(text)
    assert brahmi.list_tasks(project_id=project_id) == []
    assert brahmi.store.events(project_id=project_id) == events_before


@needs_seeds
def test_the_base_payload_of_the_invalid_variants_is_accepted(
    seed_skills: Brahmi, project_id: str
) -> None:
    tasks = variant_base()

    reply = with_client(
        seed_skills,
        project_id,
        "memory",
        lambda client: ok(client, "create_tasks_batch", {"tasks": copy.deepcopy(tasks)}),
    )

    assert len(reply["task_ids"]) == len(tasks) == 4


def test_a_batch_over_ten_thousand_tasks_is_a_tool_error_and_stores_nothing(
    brahmi: Brahmi, project_id: str
) -> None:
    tasks = [
        {"unique_id": i, "task_name": f"t{i:05d}", "skill_id": SKILL} for i in range(1, 10_002)
    ]

    text = with_client(
        brahmi,
        project_id,
        "memory",
        lambda client: failed(client, "create_tasks_batch", {"tasks": tasks}),
    )

    assert ("batch_too_large", "tasks") in problems_of(text)
    assert brahmi.list_tasks(project_id=project_id) == []


# -- create_task, create_subtask, get_task, list_tasks --------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_create_task_and_subtasks_as_a_task_dict_or_flat_fields_show_in_get_task(
    brahmi: Brahmi, project_id: str, transport: str
) -> None:
    async def scenario(client: Client) -> tuple[dict[str, Any], ...]:
        parent = await ok(
            client,
            "create_task",
            {"task_name": "Build the API", "skill_id": SKILL, "inputs": {"command": ["true"]}},
        )
        as_dict = await ok(
            client,
            "create_subtask",
            {
                "parent_task_id": parent["task_id"],
                "task": {"task_name": "Write the models", "description": "the models"},
            },
        )
        as_fields = await ok(
            client,
            "create_subtask",
            {
                "parent_task_id": parent["task_id"],
                "task_name": "Write the routes",
                "description": "the routes",
                "inputs": {"command": ["true"]},
            },
        )
        inserted = await ok(
            client,
            "create_subtask",
            {"parent_task_id": parent["task_id"], "task_name": "Plan the schema", "position": 1},
        )
        shown = await ok(client, "get_task", {"task_id": parent["task_id"]})
        return parent, as_dict, as_fields, inserted, shown

    parent, as_dict, as_fields, inserted, shown = with_client(
        brahmi, project_id, transport, scenario
    )

    assert parent["parent_id"] is None
    assert {as_dict["parent_id"], as_fields["parent_id"]} == {parent["task_id"]}
    assert as_dict["skill_id"] == SKILL  # defaults to the parent's
    assert as_fields["inputs"] == {"command": ["true"]}
    assert [(s["task_id"], s["position"]) for s in shown["subtasks"]] == [
        (inserted["task_id"], 1),
        (as_dict["task_id"], 2),
        (as_fields["task_id"], 3),
    ]
    assert [s["task_name"] for s in shown["subtasks"]] == [
        "Plan the schema",
        "Write the models",
        "Write the routes",
    ]
    assert len(brahmi.store.subtasks_of(parent["task_id"])) == 3


def test_a_subtask_of_a_subtask_is_a_tool_error_subtask_nesting(
    brahmi: Brahmi, project_id: str
) -> None:
    async def scenario(client: Client) -> str:
        parent = await ok(client, "create_task", {"task_name": "Parent", "skill_id": SKILL})
        child = await ok(
            client, "create_subtask", {"parent_task_id": parent["task_id"], "task_name": "Child"}
        )
        return await failed(
            client, "create_subtask", {"parent_task_id": child["task_id"], "task_name": "Deeper"}
        )

    assert error_code(with_client(brahmi, project_id, "memory", scenario)) == "subtask_nesting"


def test_create_task_with_a_bad_spec_is_a_tool_error_and_stores_nothing(
    brahmi: Brahmi, project_id: str
) -> None:
    text = with_client(
        brahmi,
        project_id,
        "memory",
        lambda client: failed(client, "create_task", {"task_name": "ab", "skill_id": "nope/x/y"}),
    )

    assert "invalid_task" in text.splitlines()[0]
    assert {("task_name_length", "task.task_name"), ("unknown_skill", "task.skill_id")} <= (
        problems_of(text)
    )
    assert brahmi.list_tasks(project_id=project_id) == []


def test_list_tasks_filters_by_status_and_by_parent(brahmi: Brahmi, project_id: str) -> None:
    async def scenario(client: Client) -> tuple[Any, ...]:
        batch = await ok(
            client,
            "create_tasks_batch",
            {"tasks": [spec(1, "Build it"), spec(2, "Ship it", [1])]},
        )
        parent = batch["task_ids"]["1"]
        sub = await ok(client, "create_subtask", {"parent_task_id": parent, "task_name": "Part"})
        everything = await ok(client, "list_tasks", {})
        planned = await ok(client, "list_tasks", {"status": "planned"})
        ready = await ok(client, "list_tasks", {"status": "READY"})
        children = await ok(client, "list_tasks", {"parent_task_id": parent})
        bad = await failed(client, "list_tasks", {"status": "sleeping"})
        return batch["task_ids"], sub, everything, planned, ready, children, bad

    ids, sub, everything, planned, ready, children, bad = with_client(
        brahmi, project_id, "http", scenario
    )

    assert [t["task_id"] for t in everything["tasks"]] == [ids["1"], sub["task_id"], ids["2"]]
    assert {t["task_id"] for t in planned["tasks"]} == {ids["2"]}
    assert {t["status"] for t in ready["tasks"]} == {"ready"}
    assert ids["2"] not in {t["task_id"] for t in ready["tasks"]}
    assert [t["task_id"] for t in children["tasks"]] == [sub["task_id"]]
    assert error_code(bad) == "invalid_status"


def test_get_task_of_another_project_is_a_tool_error_task_not_found(
    brahmi: Brahmi, project_id: str, tmp_path: Path
) -> None:
    other_folder = tmp_path / "other"
    other_folder.mkdir()
    other = brahmi.project_for(other_folder).id
    foreign = brahmi.create_tasks_batch(other, [spec(1, "Elsewhere")]).task_ids["1"]

    async def scenario(client: Client) -> tuple[str, str, dict[str, Any]]:
        missing = await failed(client, "get_task", {"task_id": "no-such-task"})
        elsewhere = await failed(client, "get_task", {"task_id": foreign})
        listed = await ok(client, "list_tasks", {})
        return missing, elsewhere, listed

    missing, elsewhere, listed = with_client(brahmi, project_id, "memory", scenario)

    assert error_code(missing) == "task_not_found"
    assert error_code(elsewhere) == "task_not_found"
    assert listed["tasks"] == []


# -- resume_task, user_response, search_skills ----------------------------------------------


def test_resume_task_continue_runs_a_completed_task_again(brahmi: Brahmi, project_id: str) -> None:
    async def scenario(client: Client) -> tuple[dict[str, Any], dict[str, Any]]:
        batch = await ok(client, "create_tasks_batch", {"tasks": [spec(1, "Build it")]})
        await run_until_settled(brahmi, batch["batch_id"], timeout_s=20)
        task_id = batch["task_ids"]["1"]
        done = await ok(client, "get_task", {"task_id": task_id})
        resumed = await ok(
            client,
            "resume_task",
            {"task_id": task_id, "message": "Add pagination too", "mode": "continue"},
        )
        return done, resumed

    done, resumed = with_client(brahmi, project_id, "memory", scenario)

    assert done["status"] == "completed"
    assert resumed["task_id"] == done["task_id"]
    assert resumed["status"] == "ready"
    stored = brahmi.get_task(done["task_id"])
    assert stored.pending_resume is not None
    assert stored.pending_resume["message"] == "Add pagination too"


def test_resume_task_continue_on_an_unfinished_task_is_invalid_transition(
    brahmi: Brahmi, project_id: str
) -> None:
    async def scenario(client: Client) -> str:
        batch = await ok(client, "create_tasks_batch", {"tasks": [spec(1, "Build it")]})
        return await failed(
            client,
            "resume_task",
            {"task_id": batch["task_ids"]["1"], "message": "more", "mode": "continue"},
        )

    assert error_code(with_client(brahmi, project_id, "memory", scenario)) == ("invalid_transition")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_resume_task_qa_without_an_agent_session_is_a_tool_error_no_session(
    brahmi: Brahmi, project_id: str, transport: str
) -> None:
    async def scenario(client: Client) -> str:
        batch = await ok(client, "create_tasks_batch", {"tasks": [spec(1, "Build it")]})
        await run_until_settled(brahmi, batch["batch_id"], timeout_s=20)
        return await failed(
            client,
            "resume_task",
            {"task_id": batch["task_ids"]["1"], "message": "Why this design?", "mode": "qa"},
        )

    text = with_client(brahmi, project_id, transport, scenario)

    assert error_code(text) == "no_session"


def test_user_response_joins_the_conversation_and_records_an_event_for_the_project(
    brahmi: Brahmi, project_id: str
) -> None:
    before = brahmi.store.last_event_id()

    async def scenario(client: Client) -> tuple[dict[str, Any], str]:
        reply = await ok(client, "user_response", {"message": "The plan has 4 tasks."})
        blank = await failed(client, "user_response", {"message": "   "})
        return reply, blank

    reply, blank = with_client(brahmi, project_id, "http", scenario)

    assert reply["delivered"] is True
    assert error_code(blank) == "invalid_message"
    (entry,) = brahmi.conversation(project_id)
    assert (entry.role, entry.text, entry.id) == (
        "planner",
        "The plan has 4 tasks.",
        reply["message_id"],
    )
    assert entry.session_id == reply["session_id"]
    events = brahmi.store.events(after_id=before, project_id=project_id)
    responses = [e.data for e in events if e.kind == "user_response"]
    assert [r["message"] for r in responses] == ["The plan has 4 tasks."]
    assert responses[0]["session_id"] == reply["session_id"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_search_skills_finds_by_category_and_tag_and_survives_punctuation_in_q(
    brahmi: Brahmi, project_id: str, transport: str
) -> None:
    async def scenario(client: Client) -> tuple[dict[str, Any], ...]:
        by_filters = await ok(
            client, "search_skills", {"category": "development", "tag": "backend"}
        )
        punctuated = await ok(
            client,
            "search_skills",
            {"q": 'run-command: "build" (AND) OR * NEAR/2 ^pytest? -- \'; DROP TABLE skills;'},
        )
        only_punctuation = await ok(client, "search_skills", {"q": '"*()-:^'})
        return by_filters, punctuated, only_punctuation

    by_filters, punctuated, only_punctuation = with_client(brahmi, project_id, transport, scenario)

    assert by_filters["skills"][0]["full_id"] == "brahmi/builtin/backend-development"
    assert all(s["category"] == "development" for s in by_filters["skills"])
    assert "brahmi/builtin/run-command" in {s["full_id"] for s in punctuated["skills"]}
    assert isinstance(only_punctuation["skills"], list)
    assert len(brahmi.catalog.full_ids()) > 0  # the registry survived the query


def test_search_skills_finds_a_skill_the_workspace_shipped_after_the_project_was_opened(
    brahmi: Brahmi, project_id: str, workspace: Path
) -> None:
    folder = workspace / ".claude" / "skills" / "invoice-check"
    folder.mkdir(parents=True)
    (folder / "SKILL.md").write_text(
        "---\nname: invoice-check\ndescription: Checks invoices against orders.\n---\nCheck.\n",
        encoding="utf-8",
    )

    async def scenario(client: Client) -> dict[str, Any]:
        return await ok(client, "search_skills", {"q": "invoices against orders"})

    found = with_client(brahmi, project_id, "memory", scenario)

    assert found["skills"][0]["full_id"] == "project/workspace/invoice-check"
