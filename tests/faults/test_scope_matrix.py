"""Every REST route and MCP tool against every kind of caller (issue 17; DESIGN §8).

The expected matrix is the table in docs/reliability.md ("Who may call what"); this test
reads it and asserts it cell by cell. Routes come from the FastAPI app's own route table,
so a route added without a row in that table fails here. Each cell gets fresh targets (a
new planned task, a new workspace), so cells do not depend on each other.

Cells: ``ok`` (2xx), or the HTTP status / the tool error code that refused the call.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi.routing import APIRoute
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from starlette.types import ASGIApp, Message

from brahmi.api.app import create_app
from brahmi.service import Brahmi

pytestmark = pytest.mark.faults

DOC = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"
BASE = "http://127.0.0.1:8421"
SKILL = "brahmi/builtin/run-command"
#: The callers, in the order of the table's columns.
CALLERS = (
    "open",  # no token, while no token for people exists (loopback)
    "none",  # no token, once one exists
    "admin",  # a token for every project
    "read-only",  # a read-only token for project A
    "project",  # a token for project A
    "other",  # a token for project B
    "agent",  # a task agent's token (project A, its task)
    "planner",  # a planner session's token (project A, its session)
    "revoked",  # a revoked token for project A
)


def read_matrix(heading: str) -> dict[str, dict[str, str]]:
    """The table under ``heading`` in docs/reliability.md: row name → caller → cell."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split(heading, 1)[1]
    rows: dict[str, dict[str, str]] = {}
    for line in section.splitlines()[1:]:
        if line.startswith("#"):
            break
        if not line.startswith("| ") or set(line) <= set("|- "):
            continue
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if cells[0] in ("route", "tool"):
            assert tuple(cells[1:]) == CALLERS, cells
            continue
        rows[cells[0]] = dict(zip(CALLERS, cells[1:], strict=True))
    return rows


@dataclass
class Setup:
    brahmi: Brahmi
    app: ASGIApp
    root: Path
    project_a: str
    project_b: str
    session_id: str
    tokens: dict[str, str | None]
    agent_task: str
    count: int = 0

    def fresh_task(self) -> str:
        """A new planned task of project A (the agent token's own task for the agent)."""
        self.count += 1
        spec = {
            "unique_id": 1,
            "task_name": f"Target {self.count}",
            "skill_id": SKILL,
            "task_order": 1,
            "inputs": {"command": ["true"]},
        }
        return self.brahmi.create_tasks_batch(self.project_a, [spec]).task_ids["1"]

    def fresh_workspace(self) -> str:
        folder = self.root / f"ws-{uuid.uuid4().hex[:8]}"
        folder.mkdir()
        return str(folder)


def make_setup(brahmi: Brahmi, tmp_path: Path, people_tokens: bool) -> Setup:
    (tmp_path / "a").mkdir(exist_ok=True)
    (tmp_path / "b").mkdir(exist_ok=True)
    project_a = brahmi.project_for(tmp_path / "a").id
    project_b = brahmi.project_for(tmp_path / "b").id
    session_id = brahmi.post_message(project_a, "hello", planner="template").session.id
    now = brahmi.clock.now()
    setup = Setup(brahmi, create_app(brahmi), tmp_path, project_a, project_b, session_id, {}, "")
    setup.agent_task = setup.fresh_task()
    agent, _ = brahmi.tokens.create(now=now, project_id=project_a, task_id=setup.agent_task)
    planner, _ = brahmi.tokens.create(now=now, project_id=project_a, planner_session_id=session_id)
    setup.tokens = {"open": None, "agent": agent, "planner": planner}
    if people_tokens:
        revoked, record = brahmi.tokens.create(now=now, project_id=project_a)
        brahmi.tokens.revoke(record.id)
        setup.tokens.update(
            none=None,
            admin=brahmi.tokens.create(now=now)[0],
            **{"read-only": brahmi.tokens.create(now=now, project_id=project_a, read_only=True)[0]},
            project=brahmi.tokens.create(now=now, project_id=project_a)[0],
            other=brahmi.tokens.create(now=now, project_id=project_b)[0],
            revoked=revoked,
        )
    return setup


# -- REST -----------------------------------------------------------------------------------


def rest_request(setup: Setup, caller: str, method: str, path: str) -> tuple[str, Any]:
    """The concrete path and JSON body for one cell of route ``method path``."""
    task = setup.agent_task if caller == "agent" else setup.fresh_task()
    values = {
        "project_id": setup.project_a,
        "task_id": task,
        "full_id": SKILL,
    }
    concrete = re.sub(r"\{(\w+)(?::path)?\}", lambda m: values[m.group(1)], path)
    bodies: dict[str, Any] = {
        "POST /api/v1/projects": {"workspace": setup.fresh_workspace()},
        "PATCH /api/v1/projects/{project_id}/settings": {"executor": "noop"},
        "POST /api/v1/projects/{project_id}/tasks/batch": [
            {"unique_id": 1, "task_name": "Batch task", "skill_id": SKILL, "task_order": 1}
        ],
        "POST /api/v1/projects/{project_id}/tasks": {
            "task_name": "One task",
            "skill_id": SKILL,
            "task_order": 1,
        },
        "POST /api/v1/tasks/{task_id}/subtasks": {"task": {"task_name": "A sub-task"}},
        "POST /api/v1/tasks/{task_id}/resume": {"message": "again"},
        "POST /api/v1/projects/{project_id}/messages": {"text": "hi", "planner": "template"},
    }
    query = {
        "GET /api/v1/events": f"?project_id={setup.project_a}",
        "GET /api/v1/skills/search": "?q=command",
    }
    key = f"{method} {path}"
    return concrete + query.get(key, ""), bodies.get(key)


async def asgi_call(
    app: ASGIApp, method: str, path: str, token: str | None, body: Any
) -> tuple[int, bytes]:
    """One request straight into the ASGI app; the client goes away once the response
    started (so an event stream ends). Returns the status and the body read so far."""
    raw_path, _, query = path.partition("?")
    data = b"" if body is None else json.dumps(body).encode()
    headers = [(b"host", b"127.0.0.1:8421"), (b"content-type", b"application/json")]
    headers.append((b"content-length", str(len(data)).encode()))
    if token is not None:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": raw_path,
        "raw_path": raw_path.encode(),
        "query_string": query.encode(),
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8421),
        "root_path": "",
    }
    started = asyncio.Event()
    status = 0
    chunks: list[bytes] = []
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": data, "more_body": False}
        await started.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            started.set()
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await asyncio.wait_for(app(scope, receive, send), 20)
    return status, b"".join(chunks)


def cell_of(status: int, body: bytes) -> str:
    if 200 <= status < 300:
        return "ok"
    try:
        code = json.loads(body).get("error")
    except (ValueError, AttributeError):
        code = None
    return f"{status} {code}" if code else str(status)


def api_routes(app: ASGIApp) -> list[tuple[str, str]]:
    """Every ``(method, path)`` the app serves through a FastAPI route: its route table
    (routers included) and its OpenAPI document."""
    rest = app.rest  # type: ignore[attr-defined]
    found: set[tuple[str, str]] = set()
    pending = list(rest.routes)
    while pending:
        route = pending.pop()
        if isinstance(route, APIRoute):
            found.update((method, route.path) for method in route.methods)
        included = getattr(route, "original_router", None)
        pending += list(getattr(included, "routes", ()))
    for path, operations in rest.openapi()["paths"].items():
        found.update((method.upper(), path) for method in operations)
    # Every route the app declares (FastAPI's own /docs, /redoc and /openapi.json, and the
    # static files, are plain routes: no data, no row).
    routes = sorted(found)
    assert len(routes) >= 20, routes  # the table is not empty by mistake
    return routes


def rest_matrix(setup: Setup, callers: list[str]) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}

    async def main() -> None:
        for method, path in api_routes(setup.app):
            row = found.setdefault(f"{method} {path}", {})
            for caller in callers:
                concrete, body = rest_request(setup, caller, method, path)
                status, content = await asgi_call(
                    setup.app, method, concrete, setup.tokens[caller], body
                )
                row[caller] = cell_of(status, content)

    asyncio.run(main())
    return found


def test_every_rest_route_against_every_caller_matches_the_documented_matrix(
    brahmi: Brahmi, tmp_path: Path
) -> None:
    expected = read_matrix("### REST routes")
    open_setup = make_setup(brahmi, tmp_path, people_tokens=False)
    found = rest_matrix(open_setup, ["open"])
    people = make_setup(brahmi, tmp_path, people_tokens=True)
    for name, row in rest_matrix(people, [c for c in CALLERS if c != "open"]).items():
        found[name].update(row)

    assert sorted(found) == sorted(expected), _table("route", found)
    mismatches = [
        (name, caller, expected[name][caller], found[name][caller])
        for name in sorted(found)
        for caller in CALLERS
        if expected[name][caller] != found[name][caller]
    ]
    assert mismatches == [], "\n".join(
        ["| route | " + " | ".join(CALLERS) + " |"]
        + [f"| `{n}` | " + " | ".join(found[n][c] for c in CALLERS) + " |" for n in sorted(found)]
    )


# -- MCP ------------------------------------------------------------------------------------

TOOLS = (
    "search_skills",
    "create_tasks_batch",
    "create_task",
    "create_subtask",
    "resume_task",
    "get_task",
    "list_tasks",
    "user_response",
)


def tool_arguments(setup: Setup, caller: str, tool: str) -> dict[str, Any]:
    task = setup.agent_task if caller == "agent" else setup.fresh_task()
    return {
        "search_skills": {"q": "command"},
        "create_tasks_batch": {
            "tasks": [
                {"unique_id": 1, "task_name": "Batch task", "skill_id": SKILL, "task_order": 1}
            ]
        },
        "create_task": {"skill_id": SKILL, "task_name": "One task"},
        "create_subtask": {"parent_task_id": task, "task": {"task_name": "A sub-task"}},
        "resume_task": {"task_id": task, "message": "again"},
        "get_task": {"task_id": task},
        "list_tasks": {},
        "user_response": {"message": "hello"},
    }[tool]


@asynccontextmanager
async def mcp_client(app: ASGIApp, path: str, token: str | None) -> AsyncIterator[Client]:
    rest = app.rest  # type: ignore[attr-defined]
    headers = {"authorization": f"Bearer {token}"} if token else {}
    async with (
        rest.router.lifespan_context(rest),
        httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=app, client=("127.0.0.1", 50000)),
            base_url=BASE,
            headers=headers,
        ) as http,
        Client(streamable_http_client(f"{BASE}{path}", http_client=http)) as client,
    ):
        yield client


def mcp_matrix(setup: Setup, callers: list[str]) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {tool: {} for tool in TOOLS}
    path = f"/projects/{setup.project_a}/mcp"

    async def row(caller: str) -> None:
        status = await mcp_http_status(setup.app, path, setup.tokens[caller])
        if status >= 400:
            for tool in TOOLS:
                found[tool][caller] = str(status)
            return
        async with mcp_client(setup.app, path, setup.tokens[caller]) as client:
            for tool in TOOLS:
                result = await client.call_tool(tool, tool_arguments(setup, caller, tool))
                if not result.is_error:
                    found[tool][caller] = "ok"
                    continue
                text = " ".join(getattr(c, "text", "") for c in result.content).rstrip()
                code = re.search(r"\[([a-z_]+)\]$", text)
                found[tool][caller] = code.group(1) if code else text[:60]

    for caller in callers:
        asyncio.run(row(caller))
    return found


async def mcp_http_status(app: ASGIApp, path: str, token: str | None) -> int:
    """The HTTP status of an MCP ``initialize`` POST to ``path`` (the gateway's check)."""
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "matrix", "version": "0"},
        },
    }
    rest = app.rest  # type: ignore[attr-defined]
    headers = {"accept": "application/json, text/event-stream"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    async with (
        rest.router.lifespan_context(rest),
        httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=app, client=("127.0.0.1", 50000)), base_url=BASE
        ) as http,
    ):
        response = await http.post(path, json=body, headers=headers)
        return int(response.status_code)


def test_every_mcp_tool_against_every_caller_matches_the_documented_matrix(
    brahmi: Brahmi, tmp_path: Path
) -> None:
    expected = read_matrix("### MCP tools")
    found = mcp_matrix(make_setup(brahmi, tmp_path, people_tokens=False), ["open"])
    people = make_setup(brahmi, tmp_path, people_tokens=True)
    for tool, row in mcp_matrix(people, [c for c in CALLERS if c != "open"]).items():
        found[tool].update(row)

    assert sorted(found) == sorted(expected), _table("tool", found)
    mismatches = [
        (tool, caller, expected[tool][caller], found[tool][caller])
        for tool in TOOLS
        for caller in CALLERS
        if expected[tool][caller] != found[tool][caller]
    ]
    assert mismatches == [], "\n".join(
        ["| tool | " + " | ".join(CALLERS) + " |"]
        + [f"| `{t}` | " + " | ".join(found[t][c] for c in CALLERS) + " |" for t in TOOLS]
    )


def _table(first: str, found: dict[str, dict[str, str]]) -> str:
    """``found`` as the markdown table docs/reliability.md holds."""
    lines = [f"| {first} | " + " | ".join(CALLERS) + " |", "|" + " --- |" * (len(CALLERS) + 1)]
    lines += [
        f"| `{name}` | " + " | ".join(found[name].get(c, "?") for c in CALLERS) + " |"
        for name in sorted(found)
    ]
    return "\n" + "\n".join(lines)
