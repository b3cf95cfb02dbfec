"""``brahmi serve`` and ``brahmi mcp`` as real processes (DESIGN §8, issue 5).

Each server runs with its own BRAHMI_HOME on a free loopback port; tests wait for
``/healthz`` with a deadline. MCP is driven with the official client: over streamable
HTTP for ``serve``, over stdio for ``brahmi mcp``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client, StdioServerParameters

#: Bounds for starting and stopping a server, and for a task to finish.
START_S = 30.0
STOP_S = 15.0
RUN_S = 60.0
SKILL = "brahmi/builtin/run-command"
#: Every interface: serving there needs a token.
ALL_INTERFACES = "0.0.0.0"  # noqa: S104
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRAHMI_")}
    env["BRAHMI_HOME"] = str(home)
    return env


@dataclass
class Server:
    """A running ``brahmi serve``."""

    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> int:
        """SIGTERM, then wait (bounded); returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(STOP_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(STOP_S)
            raise AssertionError(f"brahmi serve ignored SIGTERM\n{self.output()}") from None


def start_server(
    brahmi_exe: Path, home: Path, cwd: Path, *args: str, host: str = "127.0.0.1"
) -> Server:
    """Start ``brahmi serve ARGS --port <free>`` and wait for ``/healthz``."""
    port = free_port()
    log = cwd / f"serve-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(brahmi_exe), "serve", "--host", host, "--port", str(port), *args],
            env=clean_env(home),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(proc, port, log)
    deadline = time.monotonic() + START_S
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"brahmi serve exited with {proc.returncode}\n{server.output()}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=1.0).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise AssertionError(f"/healthz did not answer within {START_S} s\n{server.output()}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def served(brahmi_exe: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One ``brahmi serve --project WS`` (in-process workers) for this module's tests."""
    root = tmp_path_factory.mktemp("serve")
    (root / "WS").mkdir()
    server = start_server(brahmi_exe, root / "home", root, "--project", "WS")
    yield server
    code = server.stop()
    assert code in (0, -signal.SIGTERM), server.output()


def command_task(uid: int, name: str, code: str) -> dict[str, Any]:
    return {
        "unique_id": uid,
        "task_name": name,
        "skill_id": SKILL,
        "description": "run a Python one-liner",
        "task_order": uid,
        "inputs": {"command": ["python", "-c", code]},
        "timeout_seconds": 60,
    }


async def wait_until_settled(client: Client, task_id: str) -> dict[str, Any]:
    """Poll ``get_task`` over MCP until the task completes or fails (bounded)."""
    deadline = time.monotonic() + RUN_S
    while True:
        listed = await client.call_tool("list_tasks", {"status": "completed"})
        assert listed.is_error is False
        assert isinstance(listed.structured_content, dict)
        if task_id in {t["task_id"] for t in listed.structured_content["tasks"]}:
            break
        result = await client.call_tool("get_task", {"task_id": task_id})
        assert isinstance(result.structured_content, dict)
        if result.structured_content["status"] in ("failed", "blocked", "cancelled"):
            break
        assert time.monotonic() < deadline, result.structured_content
        await asyncio.sleep(0.1)
    final = await client.call_tool("get_task", {"task_id": task_id})
    assert isinstance(final.structured_content, dict)
    return final.structured_content


def test_the_mcp_client_over_http_creates_a_batch_that_the_servers_worker_completes(
    served: Server,
) -> None:
    async def scenario() -> tuple[set[str], dict[str, Any], dict[str, Any]]:
        async with Client(f"{served.url}/mcp") as client:
            tools = {t.name for t in (await client.list_tools()).tools}
            created = await client.call_tool(
                "create_tasks_batch",
                {
                    "tasks": [
                        command_task(
                            1, "Print the MCP URL", "import os; print(os.environ['BRAHMI_MCP_URL'])"
                        ),
                        command_task(2, "Say done", "print('done')")
                        | {"logical_dependencies": [1]},
                    ]
                },
            )
            assert created.is_error is False, created.content
            assert isinstance(created.structured_content, dict)
            ids = created.structured_content["task_ids"]
            first = await wait_until_settled(client, ids["1"])
            second = await wait_until_settled(client, ids["2"])
            return tools, first, second

    tools, first, second = asyncio.run(scenario())

    assert tools == TOOLS
    assert first["status"] == "completed", first
    assert first["outputs"]["exit_code"] == 0
    projects = httpx.get(f"{served.url}/api/v1/projects", timeout=5).json()["projects"]
    ws = next(p for p in projects if Path(p["workspace"]).name == "WS")
    assert f"{served.url}/projects/{ws['project_id']}/mcp" in first["outputs"]["output_tail"]
    assert second["status"] == "completed", second
    assert second["dependencies"] == [first["task_id"]]


def test_projects_id_mcp_serves_a_second_project(served: Server, tmp_path: Path) -> None:
    second_ws = tmp_path / "second"
    second_ws.mkdir()
    created = httpx.post(
        f"{served.url}/api/v1/projects", json={"workspace": str(second_ws)}, timeout=5
    )
    assert created.status_code == 201, created.text
    second_id = created.json()["project_id"]

    async def scenario() -> tuple[dict[str, Any], set[str], set[str]]:
        async with Client(f"{served.url}/projects/{second_id}/mcp") as client:
            reply = await client.call_tool(
                "create_tasks_batch", {"tasks": [command_task(1, "In the second", "print(2)")]}
            )
            assert reply.is_error is False, reply.content
            assert isinstance(reply.structured_content, dict)
            task_id = reply.structured_content["task_ids"]["1"]
            done = await wait_until_settled(client, task_id)
            mine = await client.call_tool("list_tasks", {})
        async with Client(f"{served.url}/mcp") as default:
            theirs = await default.call_tool("list_tasks", {})
        assert isinstance(mine.structured_content, dict)
        assert isinstance(theirs.structured_content, dict)
        return (
            done,
            {t["task_id"] for t in mine.structured_content["tasks"]},
            {t["task_id"] for t in theirs.structured_content["tasks"]},
        )

    done, in_second, in_default = asyncio.run(scenario())

    assert done["status"] == "completed", done
    assert in_second == {done["task_id"]}
    assert done["task_id"] not in in_default
    listed = httpx.get(f"{served.url}/api/v1/projects/{second_id}/tasks", timeout=5).json()
    assert [t["task_id"] for t in listed["tasks"]] == [done["task_id"]]


def test_an_unknown_project_mcp_endpoint_is_404(served: Server) -> None:
    response = httpx.post(
        f"{served.url}/projects/no-such-project/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"accept": "application/json, text/event-stream"},
        timeout=5,
    )

    assert response.status_code == 404
    assert response.json()["error"] == "project_not_found"


def test_serving_beyond_loopback_without_tokens_is_refused_with_a_clear_message(
    brahmi_exe: Path, tmp_path: Path
) -> None:
    proc = subprocess.run(
        [str(brahmi_exe), "serve", "--host", ALL_INTERFACES, "--port", str(free_port())],
        env=clean_env(tmp_path / "home"),
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        encoding="utf-8",
        timeout=START_S,
        check=False,
    )

    assert proc.returncode != 0
    assert "forbidden" in proc.stderr
    assert ALL_INTERFACES in proc.stderr
    assert "brahmi tokens create" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_serving_beyond_loopback_with_a_token_requires_it_on_every_call(
    brahmi_exe: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    made = subprocess.run(
        [str(brahmi_exe), "tokens", "create", "--label", "ci"],
        env=clean_env(home),
        cwd=tmp_path,
        capture_output=True,
        encoding="utf-8",
        timeout=START_S,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip().splitlines()[-1]
    assert secret.startswith("brahmi_")

    server = start_server(brahmi_exe, home, tmp_path, "--no-workers", host=ALL_INTERFACES)
    try:
        anonymous = httpx.get(f"{server.url}/api/v1/projects", timeout=5)
        with_token = httpx.get(
            f"{server.url}/api/v1/projects",
            headers={"authorization": f"Bearer {secret}"},
            timeout=5,
        )
    finally:
        code = server.stop()

    assert (anonymous.status_code, anonymous.json()["error"]) == (401, "unauthorized")
    assert with_token.status_code == 200
    assert code in (0, -signal.SIGTERM)


def test_sigterm_stops_the_server_cleanly(brahmi_exe: Path, tmp_path: Path) -> None:
    (tmp_path / "WS").mkdir()
    server = start_server(brahmi_exe, tmp_path / "home", tmp_path, "--project", "WS")
    assert httpx.get(f"{server.url}/api/v1/projects", timeout=5).status_code == 200

    started = time.monotonic()
    code = server.stop()

    assert code in (0, -signal.SIGTERM), server.output()
    assert time.monotonic() - started < STOP_S
    assert "Traceback" not in server.output()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{server.url}/healthz", timeout=1)


def test_brahmi_mcp_over_stdio_lists_the_eight_tools_and_creates_a_batch(
    brahmi_exe: Path, tmp_path: Path
) -> None:
    (tmp_path / "WS").mkdir()
    params = StdioServerParameters(
        command=str(brahmi_exe),
        args=["mcp", "--project", "WS"],
        env=clean_env(tmp_path / "home"),
        cwd=str(tmp_path),
    )

    async def scenario() -> tuple[set[str], dict[str, Any], dict[str, Any]]:
        async with Client(params) as client:
            tools = {t.name for t in (await client.list_tools()).tools}
            created = await client.call_tool(
                "create_tasks_batch", {"tasks": [command_task(1, "Over stdio", "print(1)")]}
            )
            listed = await client.call_tool("list_tasks", {})
        assert isinstance(created.structured_content, dict)
        assert isinstance(listed.structured_content, dict)
        return tools, created.structured_content, listed.structured_content

    tools, created, listed = asyncio.run(scenario())

    assert tools == TOOLS
    assert [t["task_id"] for t in listed["tasks"]] == [created["task_ids"]["1"]]
    assert listed["tasks"][0]["status"] == "ready"  # `brahmi mcp` runs no worker
