"""examples/todo-api: the seeds' four-task plan ends in a running service (DESIGN §11).

Build, QA (the example's real pytest suite), metadata (``aramb.toml`` generated from the
compose file and the code) and deployment (the local target, from source) run on
deterministic built-in skills. The run ends by printing the PUBLIC_URL, which answers;
the template planner then answers "What's the public URL?" from the deployment task's
outputs, and ``brahmi deploy stop`` ends every process the deployment started.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.acceptance.conftest import Cli, _output

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "todo-api"


def _postgres_answers() -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", 5432)) == 0


@pytest.fixture
def project(tmp_path: Path, cli: Cli) -> Iterator[Path]:
    """A copy of the example; whatever it deployed is stopped afterwards."""
    target = tmp_path / "todo-api"
    shutil.copytree(
        EXAMPLE,
        target,
        ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache", "aramb.toml"),
    )
    yield target
    cli("deploy", "stop", target)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return Path(f"/proc/{pid}").exists() and "zombie" not in _state(pid)


def _state(pid: int) -> str:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return "gone"
    line = next((ln for ln in status.splitlines() if ln.startswith("State:")), "")
    return line.lower()


@pytest.mark.slow
@pytest.mark.skipif(not _postgres_answers(), reason="no PostgreSQL server on 127.0.0.1:5432")
def test_the_standard_plan_ends_with_a_public_url_that_answers(cli: Cli, project: Path) -> None:
    proc = cli("run", project / "plan.json", "--project", project)
    assert proc.returncode == 0, _output(proc)
    found = re.search(r"PUBLIC_URL: (http://127\.0\.0\.1:\d+)", proc.stdout)
    assert found, _output(proc)
    public_url = found.group(1)

    health = httpx.get(f"{public_url}/health", timeout=10)
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "store": "postgres"}
    created = httpx.post(f"{public_url}/todos", json={"title": "deployed"}, timeout=10)
    assert created.status_code == 201

    # The metadata task wrote a valid aramb.toml describing the database and the API.
    document = tomllib.loads((project / "aramb.toml").read_text())
    types = [s["type"] for s in document["services"]]
    assert "postgres" in types and "backend" in types
    assert cli("metadata", "validate", project / "aramb.toml").returncode == 0

    tasks = {t["unique_id"]: t for t in cli.json("tasks", "list", "--project", project)["tasks"]}
    assert [tasks[i]["status"] for i in (1, 2, 3, 4)] == ["completed"] * 4
    deployed = cli.json("tasks", "show", tasks[4]["task_id"])
    assert deployed["outputs"]["public_url"] == public_url
    assert deployed["outputs"]["PUBLIC_URL"] == public_url
    assert deployed["outputs"]["status"] == "deployed"

    answer = cli("ask", "--planner", "template", "What's the public URL?", "--project", project)
    assert answer.returncode == 0, _output(answer)
    assert public_url in answer.stdout

    status = cli.json("deploy", "status", project)
    pids = [s["pid"] for s in status["services"] if s.get("pid")]
    assert pids, status
    stopped = cli("deploy", "stop", project)
    assert stopped.returncode == 0, _output(stopped)
    deadline = time.monotonic() + 15
    while any(_pid_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_pid_alive(pid) for pid in pids), json.dumps(status)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{public_url}/health", timeout=2)
