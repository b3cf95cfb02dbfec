"""Who may call what (DESIGN §8, issue 5): bearer tokens, loopback callers and agent runs.

REST and MCP go through the ASGI app of ``brahmi serve`` in process; the caller's address
is the one the ASGI transport reports, so "another machine" is ``10.0.0.5``. The agent-run
tests run real command skills; the last one runs a live server whose in-process worker
starts an agent that calls the API back with the token it was given.
"""

from __future__ import annotations

import asyncio
import json
import socket
import textwrap
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import httpx2
import pytest
import uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult
from starlette.types import ASGIApp

from brahmi.api.app import create_app
from brahmi.config import Settings
from brahmi.domain.access import Scope
from brahmi.domain.models import TaskStatus
from brahmi.service import Brahmi
from brahmi.testing import run_until_settled

T = TypeVar("T")
SKILL = "brahmi/builtin/run-command"
BASE = "http://127.0.0.1:8421"
LOOPBACK = ("127.0.0.1", 50000)
ELSEWHERE = ("10.0.0.5", 50000)
OWNER_REPO = "acme/skills"
INITIALIZE = {
    "protocolVersion": "2025-06-18",
    "capabilities": {},
    "clientInfo": {"name": "test", "version": "0"},
}


# -- helpers --------------------------------------------------------------------------------


class Api:
    """Synchronous REST calls through ``httpx.ASGITransport`` from one client address."""

    def __init__(self, app: ASGIApp, client: tuple[str, int] = LOOPBACK) -> None:
        self.runner = asyncio.Runner()
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=client), base_url=BASE
        )

    def request(
        self, method: str, url: str, token: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["authorization"] = f"Bearer {token}"
        return self.runner.run(self.http.request(method, url, headers=headers, **kwargs))

    def get(self, url: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, token, **kwargs)

    def post(self, url: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, token, **kwargs)

    def close(self) -> None:
        self.runner.run(self.http.aclose())
        self.runner.close()


def status_and_code(response: httpx.Response) -> tuple[int, str | None]:
    """``(status, error code)``; the code is None for a success."""
    if response.status_code < 400:
        return response.status_code, None
    return response.status_code, response.json().get("error")


@asynccontextmanager
async def mcp_session(
    app: ASGIApp,
    path: str = "/mcp",
    *,
    token: str | None = None,
    client: tuple[str, int] = LOOPBACK,
    headers: dict[str, str] | None = None,
) -> AsyncIterator[Client]:
    """The official MCP client over streamable HTTP to ``app`` (its lifespan entered)."""
    rest = app.rest  # type: ignore[attr-defined]
    sent = dict(headers or {})
    if token is not None:
        sent["authorization"] = f"Bearer {token}"
    async with (
        rest.router.lifespan_context(rest),
        httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=app, client=client), base_url=BASE, headers=sent
        ) as http,
        Client(streamable_http_client(f"{BASE}{path}", http_client=http)) as mcp,
    ):
        yield mcp


def over_mcp(
    app: ASGIApp, scenario: Callable[[Client], Awaitable[T]], path: str = "/mcp", **kwargs: Any
) -> T:
    async def main() -> T:
        async with mcp_session(app, path, **kwargs) as client:
            return await scenario(client)

    return asyncio.run(main())


def raw_mcp_post(
    app: ASGIApp, *, client: tuple[str, int] = LOOPBACK, headers: dict[str, str] | None = None
) -> httpx.Response:
    """One JSON-RPC ``initialize`` POST to ``/mcp`` (the app's lifespan entered), below the
    MCP client, so the HTTP status shows."""
    rest = app.rest  # type: ignore[attr-defined]

    async def main() -> httpx.Response:
        async with (
            rest.router.lifespan_context(rest),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app, client=client), base_url=BASE
            ) as http,
        ):
            return await http.post(
                "/mcp",
                json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": INITIALIZE},
                headers={"accept": "application/json, text/event-stream", **(headers or {})},
            )

    return asyncio.run(main())


def tool_code(result: CallToolResult) -> str | None:
    """The ``[code]`` of a tool error; None when the call succeeded."""
    if not result.is_error:
        return None
    text = "\n".join(getattr(part, "text", "") for part in result.content).rstrip()
    assert text.endswith("]"), text
    return text.rsplit("[", 1)[1].rstrip("]")


def spec(uid: int, name: str, deps: list[Any] | None = None) -> dict[str, Any]:
    task: dict[str, Any] = {
        "unique_id": uid,
        "task_name": name,
        "skill_id": SKILL,
        "task_order": uid,
        "inputs": {"command": ["true"]},
    }
    if deps:
        task["logical_dependencies"] = deps
    return task


@pytest.fixture
def app(brahmi: Brahmi, project_id: str) -> ASGIApp:
    return create_app(brahmi, default_project_id=project_id)


@pytest.fixture
def api(app: ASGIApp) -> Iterator[Api]:
    client = Api(app)
    yield client
    client.close()


@pytest.fixture
def project_id(brahmi: Brahmi, workspace: Path) -> str:
    return brahmi.project_for(workspace).id


@pytest.fixture
def other_project(brahmi: Brahmi, tmp_path: Path) -> str:
    folder = tmp_path / "other-workspace"
    folder.mkdir()
    return brahmi.project_for(folder).id


def token(brahmi: Brahmi, **scope: Any) -> str:
    secret, _ = brahmi.tokens.create(now=brahmi.clock.now(), **scope)
    return secret


# -- loopback and tokens --------------------------------------------------------------------


def test_without_tokens_loopback_callers_are_allowed_and_other_machines_get_401(
    app: ASGIApp, project_id: str
) -> None:
    local, ipv6, remote = Api(app, LOOPBACK), Api(app, ("::1", 50000)), Api(app, ELSEWHERE)
    try:
        results = {
            "local": status_and_code(local.get(f"/api/v1/projects/{project_id}")),
            "ipv6": status_and_code(ipv6.get(f"/api/v1/projects/{project_id}")),
            "remote": status_and_code(remote.get(f"/api/v1/projects/{project_id}")),
            "remote write": status_and_code(
                remote.post(f"/api/v1/projects/{project_id}/tasks/batch", json=[spec(1, "Xyz")])
            ),
            "remote health": status_and_code(remote.get("/healthz")),
        }
    finally:
        for client in (local, ipv6, remote):
            client.close()

    assert results == {
        "local": (200, None),
        "ipv6": (200, None),
        "remote": (401, "unauthorized"),
        "remote write": (401, "unauthorized"),
        "remote health": (200, None),
    }
    assert raw_mcp_post(app, client=ELSEWHERE).status_code == 401
    assert raw_mcp_post(app, client=LOOPBACK).status_code == 200


def test_once_a_token_exists_calls_without_one_or_with_a_wrong_one_get_401_even_from_loopback(
    api: Api, app: ASGIApp, brahmi: Brahmi, project_id: str
) -> None:
    good = token(brahmi, label="ci")
    url = f"/api/v1/projects/{project_id}"

    assert status_and_code(api.get(url)) == (401, "unauthorized")
    assert status_and_code(api.get(url, token="brahmi_not-a-real-token")) == (401, "unauthorized")
    assert status_and_code(api.get(url, headers={"authorization": good})) == (401, "unauthorized")
    assert status_and_code(api.get(url, token=good)) == (200, None)
    assert raw_mcp_post(app).status_code == 401
    assert raw_mcp_post(app, headers={"authorization": "Bearer nope"}).status_code == 401
    assert raw_mcp_post(app, headers={"authorization": f"Bearer {good}"}).status_code == 200


def test_a_revoked_or_expired_token_gets_401(api: Api, brahmi: Brahmi, project_id: str) -> None:
    keep = token(brahmi)  # so that tokens are required
    revoked, record = brahmi.tokens.create(now=brahmi.clock.now())
    brahmi.tokens.revoke(record.id)
    expired, _ = brahmi.tokens.create(now=brahmi.clock.now() - 3600, ttl_s=60)
    url = f"/api/v1/projects/{project_id}"

    assert status_and_code(api.get(url, token=revoked)) == (401, "unauthorized")
    assert status_and_code(api.get(url, token=expired)) == (401, "unauthorized")
    assert status_and_code(api.get(url, token=keep)) == (200, None)


def test_a_project_token_reads_its_project_and_gets_403_or_404_on_another(
    api: Api, brahmi: Brahmi, project_id: str, other_project: str
) -> None:
    scoped = token(brahmi, project_id=project_id)
    mine = brahmi.create_tasks_batch(project_id, [spec(1, "Mine")]).task_ids["1"]
    theirs = brahmi.create_tasks_batch(other_project, [spec(1, "Theirs")]).task_ids["1"]

    listed = api.get("/api/v1/projects", token=scoped)

    assert [p["project_id"] for p in listed.json()["projects"]] == [project_id]
    assert status_and_code(api.get(f"/api/v1/projects/{project_id}", token=scoped)) == (200, None)
    assert status_and_code(api.get(f"/api/v1/tasks/{mine}", token=scoped)) == (200, None)
    assert status_and_code(
        api.post(f"/api/v1/projects/{project_id}/tasks/batch", token=scoped, json=[spec(1, "New")])
    ) == (201, None)
    other = [
        api.get(f"/api/v1/projects/{other_project}", token=scoped),
        api.get(f"/api/v1/projects/{other_project}/tasks", token=scoped),
        api.get("/api/v1/events", token=scoped, params={"project_id": other_project}),
        api.post(
            f"/api/v1/projects/{other_project}/tasks/batch", token=scoped, json=[spec(1, "Xyz")]
        ),
        api.post("/api/v1/projects", token=scoped, json={"workspace": "/"}),
    ]
    assert [status_and_code(r) for r in other] == [(403, "forbidden")] * len(other)
    # Another project's tasks are not even shown to exist.
    hidden = [
        api.get(f"/api/v1/tasks/{theirs}", token=scoped),
        api.post(f"/api/v1/tasks/{theirs}/cancel", token=scoped),
        api.post(
            f"/api/v1/tasks/{theirs}/subtasks", token=scoped, json={"task": {"task_name": "S"}}
        ),
    ]
    assert [status_and_code(r) for r in hidden] == [(404, "task_not_found")] * len(hidden)
    assert brahmi.get_task(theirs).status is TaskStatus.READY


def test_a_read_only_token_reads_but_gets_403_on_every_write(
    api: Api, brahmi: Brahmi, project_id: str
) -> None:
    reader = token(brahmi, read_only=True)
    task_id = brahmi.create_tasks_batch(project_id, [spec(1, "Build it")]).task_ids["1"]

    reads = [
        api.get("/api/v1/projects", token=reader),
        api.get(f"/api/v1/projects/{project_id}/tasks", token=reader),
        api.get(f"/api/v1/tasks/{task_id}", token=reader),
        api.get("/api/v1/skills/search", token=reader, params={"q": "command"}),
    ]
    writes = [
        api.post(f"/api/v1/projects/{project_id}/tasks/batch", token=reader, json=[spec(1, "Xy1")]),
        api.post(f"/api/v1/projects/{project_id}/tasks", token=reader, json=spec(1, "Xy2")),
        api.post(
            f"/api/v1/tasks/{task_id}/subtasks", token=reader, json={"task": {"task_name": "S1"}}
        ),
        api.post(f"/api/v1/tasks/{task_id}/cancel", token=reader),
        api.post(f"/api/v1/tasks/{task_id}/retry", token=reader),
        api.post(f"/api/v1/tasks/{task_id}/resume", token=reader, json={"message": "more"}),
        api.post("/api/v1/projects", token=reader, json={"workspace": "/"}),
    ]

    assert [r.status_code for r in reads] == [200] * len(reads)
    assert [status_and_code(r) for r in writes] == [(403, "forbidden")] * len(writes)
    assert [t.id for t in brahmi.list_tasks(project_id=project_id)] == [task_id]
    assert brahmi.get_task(task_id).status is TaskStatus.READY


def test_an_agent_token_adds_subtasks_under_its_own_task_only_and_cannot_create_batches(
    api: Api, brahmi: Brahmi, project_id: str
) -> None:
    token(brahmi)  # a person's token: every call needs one
    ids = brahmi.create_tasks_batch(project_id, [spec(1, "Own"), spec(2, "Sibling")]).task_ids
    agent = token(brahmi, project_id=project_id, task_id=ids["1"])

    own = api.post(
        f"/api/v1/tasks/{ids['1']}/subtasks", token=agent, json={"task": {"task_name": "Step"}}
    )
    sibling = api.post(
        f"/api/v1/tasks/{ids['2']}/subtasks", token=agent, json={"task": {"task_name": "Step"}}
    )
    denied = [
        api.post(f"/api/v1/projects/{project_id}/tasks/batch", token=agent, json=[spec(1, "Xyz")]),
        api.post(f"/api/v1/projects/{project_id}/tasks", token=agent, json=spec(1, "Xyz")),
        api.post(f"/api/v1/tasks/{ids['2']}/cancel", token=agent),
        api.post(f"/api/v1/tasks/{ids['1']}/cancel", token=agent),
    ]

    assert status_and_code(own) == (201, None)
    assert own.json()["parent_id"] == ids["1"]
    assert status_and_code(sibling) == (403, "forbidden")
    assert [status_and_code(r) for r in denied] == [(403, "forbidden")] * len(denied)
    assert status_and_code(api.get(f"/api/v1/tasks/{ids['2']}", token=agent)) == (200, None)
    assert [s.task_name for s in brahmi.store.subtasks_of(ids["1"])] == ["Step"]
    assert brahmi.store.subtasks_of(ids["2"]) == []


# -- the same over MCP ----------------------------------------------------------------------


def test_over_mcp_a_read_only_token_reads_and_every_change_is_forbidden(
    app: ASGIApp, brahmi: Brahmi, project_id: str
) -> None:
    reader = token(brahmi, read_only=True)
    task_id = brahmi.create_tasks_batch(project_id, [spec(1, "Build it")]).task_ids["1"]

    async def scenario(client: Client) -> dict[str, str | None]:
        calls: dict[str, dict[str, Any]] = {
            "list_tasks": {},
            "get_task": {"task_id": task_id},
            "search_skills": {"q": "command"},
            "create_tasks_batch": {"tasks": [spec(1, "Xyz")]},
            "create_task": {"task_name": "Xyz", "skill_id": SKILL},
            "create_subtask": {"parent_task_id": task_id, "task_name": "Sub"},
            "resume_task": {"task_id": task_id, "message": "more", "mode": "continue"},
        }
        return {name: tool_code(await client.call_tool(name, args)) for name, args in calls.items()}

    codes = over_mcp(app, scenario, token=reader)

    assert codes == {
        "list_tasks": None,
        "get_task": None,
        "search_skills": None,
        "create_tasks_batch": "forbidden",
        "create_task": "forbidden",
        "create_subtask": "forbidden",
        "resume_task": "forbidden",
    }
    assert [t.id for t in brahmi.list_tasks(project_id=project_id)] == [task_id]


def test_over_mcp_a_project_token_cannot_use_another_projects_endpoint(
    app: ASGIApp, brahmi: Brahmi, project_id: str, other_project: str
) -> None:
    scoped = token(brahmi, project_id=project_id)
    brahmi.create_tasks_batch(other_project, [spec(1, "Theirs")])

    async def listing(client: Client) -> tuple[str | None, Any]:
        result = await client.call_tool("list_tasks", {})
        return tool_code(result), result.structured_content

    own = over_mcp(app, listing, path=f"/projects/{project_id}/mcp", token=scoped)
    other = over_mcp(app, listing, path=f"/projects/{other_project}/mcp", token=scoped)

    assert own == (None, {"tasks": []})
    assert other[0] == "forbidden"
    assert raw_mcp_post(app, headers={"authorization": f"Bearer {scoped}"}).status_code == 200


def test_x_brahmi_headers_sent_by_a_client_grant_nothing(
    app: ASGIApp, brahmi: Brahmi, project_id: str, other_project: str
) -> None:
    reader = token(brahmi, read_only=True, project_id=project_id)
    theirs = brahmi.create_tasks_batch(other_project, [spec(1, "Theirs")]).task_ids["1"]
    forged = {
        "x-brahmi-scope": json.dumps({"project_id": None, "read_only": False, "task_id": None}),
        "x-brahmi-project": other_project,
        "X-Brahmi-Scope": "{}",
    }

    async def scenario(client: Client) -> tuple[str | None, str | None, Any]:
        created = await client.call_tool("create_tasks_batch", {"tasks": [spec(1, "Xyz")]})
        foreign = await client.call_tool("get_task", {"task_id": theirs})
        listed = await client.call_tool("list_tasks", {})
        return tool_code(created), tool_code(foreign), listed.structured_content

    created, foreign, listed = over_mcp(app, scenario, token=reader, headers=forged)

    assert created == "forbidden"  # still read-only
    assert foreign == "task_not_found"  # still the project of the endpoint, not the header's
    assert listed == {"tasks": []}
    assert brahmi.list_tasks(project_id=project_id) == []
    # Without a token, a forged scope does not make another machine local either.
    assert raw_mcp_post(app, client=ELSEWHERE, headers=forged).status_code == 401


def test_over_mcp_an_agent_token_adds_subtasks_under_its_own_task_only(
    app: ASGIApp, brahmi: Brahmi, project_id: str
) -> None:
    ids = brahmi.create_tasks_batch(project_id, [spec(1, "Own"), spec(2, "Sibling")]).task_ids
    agent = token(brahmi, project_id=project_id, task_id=ids["1"])

    async def scenario(client: Client) -> dict[str, str | None]:
        calls: dict[str, tuple[str, dict[str, Any]]] = {
            "own": ("create_subtask", {"parent_task_id": ids["1"], "task_name": "Step one"}),
            "sibling": ("create_subtask", {"parent_task_id": ids["2"], "task_name": "Step one"}),
            "batch": ("create_tasks_batch", {"tasks": [spec(1, "Xyz")]}),
            "task": ("create_task", {"task_name": "Xyz", "skill_id": SKILL}),
            "read": ("get_task", {"task_id": ids["2"]}),
            "search": ("search_skills", {"category": "development"}),
        }
        return {
            label: tool_code(await client.call_tool(name, args))
            for label, (name, args) in calls.items()
        }

    codes = over_mcp(app, scenario, path=f"/projects/{project_id}/mcp", token=agent)

    assert codes == {
        "own": None,
        "sibling": "forbidden",
        "batch": "forbidden",
        "task": "forbidden",
        "read": None,
        "search": None,
    }
    assert [s.task_name for s in brahmi.store.subtasks_of(ids["1"])] == ["Step one"]


# -- agent runs -----------------------------------------------------------------------------

ECHO_ENV = """\
    import json, os, sys
    json.load(sys.stdin)
    names = ("BRAHMI_URL", "BRAHMI_MCP_URL", "BRAHMI_TOKEN", "BRAHMI_TASK_ID", "BRAHMI_PROJECT_ID")
    print(json.dumps({"outputs": {"env": {k: os.environ.get(k) for k in names}}}))
"""

#: An agent that calls Brahmi back with the token it was given (urllib: no dependencies).
CALLS_BACK = """\
    import json, os, sys, urllib.error, urllib.request
    request = json.load(sys.stdin)
    base, token = os.environ["BRAHMI_URL"], os.environ["BRAHMI_TOKEN"]

    def post(path, body):
        req = urllib.request.Request(
            base + path,
            data=json.dumps(body).encode(),
            headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            return error.code, json.load(error)

    own = os.environ["BRAHMI_TASK_ID"]
    project = os.environ["BRAHMI_PROJECT_ID"]
    other = request["task"]["inputs"]["other_task_id"]
    echo = "acme/skills/echo-env"
    found = {}
    found["own"] = post(
        f"/api/v1/tasks/{own}/subtasks",
        {"task": {"task_name": "Found while working", "skill_id": echo}},
    )
    found["other"] = post(f"/api/v1/tasks/{other}/subtasks", {"task": {"task_name": "Not mine"}})
    found["batch"] = post(
        f"/api/v1/projects/{project}/tasks/batch",
        [{"unique_id": 1, "task_name": "Sneaky", "skill_id": echo}],
    )
    print(json.dumps({"outputs": {k: {"status": s, "body": b} for k, (s, b) in found.items()}}))
"""


def write_command_skill(root: Path, name: str, script: str) -> None:
    folder = root / name
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text(
        f"---\nname: {name}\ndescription: A test skill, {name}.\nmetadata:\n"
        "  brahmi-runtime: command\n"
        '  brahmi-command: "{python} {skill_dir}/scripts/run.py"\n'
        f"---\n\n# {name}\n\nRun the script.\n",
        encoding="utf-8",
    )
    (folder / "scripts" / "run.py").write_text(textwrap.dedent(script), encoding="utf-8")


@pytest.fixture
def agent_brahmi(settings: Settings, tmp_path: Path) -> Iterator[Brahmi]:
    """A Brahmi whose tasks run real command skills (``acme/skills/...``)."""
    root = tmp_path / "agent-skills"
    write_command_skill(root, "echo-env", ECHO_ENV)
    write_command_skill(root, "calls-back", CALLS_BACK)
    instance = Brahmi(settings.with_(forced_executor=None))
    instance.registry.add(str(root), owner_repo=OWNER_REPO)
    yield instance
    instance.close()


def test_an_agent_run_gets_the_server_urls_and_a_token_scoped_to_its_task(
    agent_brahmi: Brahmi, workspace: Path
) -> None:
    brahmi = agent_brahmi
    brahmi.settings = brahmi.settings.with_(server_url="http://127.0.0.1:8421")
    project_id = brahmi.project_for(workspace).id
    created = brahmi.create_tasks_batch(
        project_id, [{"unique_id": 1, "task_name": "Echo", "skill_id": "acme/skills/echo-env"}]
    )

    (task,) = asyncio.run(run_until_settled(brahmi, created.batch_id, timeout_s=30))

    assert task.status is TaskStatus.COMPLETED, task.error
    assert task.outputs is not None
    env = task.outputs["env"]
    assert env["BRAHMI_URL"] == "http://127.0.0.1:8421"
    assert env["BRAHMI_MCP_URL"] == f"http://127.0.0.1:8421/projects/{project_id}/mcp"
    assert env["BRAHMI_TOKEN"].startswith("brahmi_")
    assert brahmi.tokens.scope_of(env["BRAHMI_TOKEN"], now=brahmi.clock.now()) == Scope(
        project_id=project_id, task_id=task.id
    )
    # An agent's token is not a person's: it does not switch on "every call needs a token".
    assert brahmi.tokens.people_tokens_exist() is False


def test_an_agent_run_without_a_server_url_gets_no_token(
    agent_brahmi: Brahmi, workspace: Path
) -> None:
    project_id = agent_brahmi.project_for(workspace).id
    created = agent_brahmi.create_tasks_batch(
        project_id, [{"unique_id": 1, "task_name": "Echo", "skill_id": "acme/skills/echo-env"}]
    )

    (task,) = asyncio.run(run_until_settled(agent_brahmi, created.batch_id, timeout_s=30))

    assert task.outputs is not None
    env = task.outputs["env"]
    assert (env["BRAHMI_URL"], env["BRAHMI_MCP_URL"], env["BRAHMI_TOKEN"]) == (None, None, None)
    assert agent_brahmi.tokens.list() == []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(app: ASGIApp, port: int) -> Iterator[None]:
    """``app`` under uvicorn on ``127.0.0.1:port`` in a thread."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped while starting"
        assert time.monotonic() < deadline, "uvicorn did not start within 15 s"
        time.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(15)
        assert not thread.is_alive(), "uvicorn did not stop within 15 s"


def test_an_agent_calls_the_live_server_back_with_its_token_within_its_scope(
    agent_brahmi: Brahmi, workspace: Path
) -> None:
    brahmi = agent_brahmi
    port = free_port()
    brahmi.settings = brahmi.settings.with_(server_url=f"http://127.0.0.1:{port}")
    token(brahmi, label="a person")  # every call needs a token, the agent's included
    project_id = brahmi.project_for(workspace).id
    other = brahmi.create_tasks_batch(
        project_id,
        [{"unique_id": 1, "task_name": "Elsewhere", "skill_id": "acme/skills/echo-env"}],
    ).task_ids["1"]
    brahmi.cancel_task(other)  # kept out of the worker's way
    created = brahmi.create_tasks_batch(
        project_id,
        [
            {
                "unique_id": 1,
                "task_name": "Calls back",
                "skill_id": "acme/skills/calls-back",
                "inputs": {"other_task_id": other},
            }
        ],
    )
    parent_id = created.task_ids["1"]

    with serving(create_app(brahmi, workers=1), port):
        deadline = time.monotonic() + 30
        while brahmi.get_task(parent_id).status not in (TaskStatus.COMPLETED, TaskStatus.FAILED):
            assert time.monotonic() < deadline, brahmi.get_task(parent_id)
            time.sleep(0.05)

    parent = brahmi.get_task(parent_id)
    assert parent.status is TaskStatus.COMPLETED, parent.error
    assert parent.outputs is not None
    calls = parent.outputs
    assert calls["own"]["status"] == 201, calls["own"]
    assert (calls["other"]["status"], calls["other"]["body"]["error"]) == (403, "forbidden")
    assert (calls["batch"]["status"], calls["batch"]["body"]["error"]) == (403, "forbidden")
    (sub,) = brahmi.store.subtasks_of(parent_id)
    assert sub.task_name == "Found while working"
    assert sub.status is TaskStatus.COMPLETED  # it ran after its parent's agent
    assert [t.task_name for t in brahmi.list_tasks(project_id=project_id)] == [
        "Elsewhere",
        "Calls back",
        "Found while working",
    ]
