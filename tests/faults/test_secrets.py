"""Secrets never leak (issue 17; DESIGN §8, §11): a served run with secrets everywhere,
then everything it wrote is scanned for their values.

``brahmi serve`` runs with ``ANTHROPIC_API_KEY`` in its environment and a token for
people; the project's env holds a secret (set over REST); an agent (command runtime) gets
its per-run token and the project env and hands their values to the test through a file
outside BRAHMI_HOME (an agent may know its secrets; Brahmi must not repeat them). Then
every file under BRAHMI_HOME (the database, its WAL, transcripts), a dump of the database,
the server's log and every REST response (the dashboard's data: graph, transcripts,
workers; metrics), including the event stream, are searched.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.acceptance.test_serve import free_port

pytestmark = pytest.mark.faults

WAIT_S = 60.0
ANTHROPIC_KEY = "sk-ant-api03-FAULTSUITE-do-not-leak-0123456789"
PROJECT_SECRET = "ps-FAULTSUITE-project-env-secret-9876543210"
AGENT_SCRIPT = """\
import json, os, sys
request = json.load(sys.stdin)
probe = os.environ["PROBE_FILE"]
with open(probe, "a") as f:
    f.write(json.dumps({"token": os.environ.get("BRAHMI_TOKEN"),
                        "secret": os.environ.get("DEPLOY_TOKEN")}) + "\\n")
print("working with", sorted(k for k in os.environ if k.startswith("BRAHMI_")), file=sys.stderr)
if request["task"]["inputs"].get("fail"):
    print("failing on purpose", file=sys.stderr)
    sys.exit(3)
print(json.dumps({"outputs": {"done": True}}))
"""


@pytest.fixture
def served(brahmi_exe: Path, tmp_path: Path) -> Iterator[dict[str, Any]]:
    skill = tmp_path / "skills" / "probe"
    (skill / "scripts").mkdir(parents=True)
    (skill / "SKILL.md").write_text(
        "---\nname: probe\ndescription: Reports the secrets it was given.\nmetadata:\n"
        '  brahmi-runtime: command\n  brahmi-command: "{python} {skill_dir}/scripts/run.py"\n'
        "---\n\n# probe\n",
        encoding="utf-8",
    )
    (skill / "scripts" / "run.py").write_text(AGENT_SCRIPT, encoding="utf-8")
    home = tmp_path / "home"
    probe = tmp_path / "probe.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRAHMI_")}
    env.update(
        BRAHMI_HOME=str(home),
        BRAHMI_SKILL_DIRS=f"{tmp_path / 'skills'}=acme/secrets",
        ANTHROPIC_API_KEY=ANTHROPIC_KEY,
        PROBE_FILE=str(probe),
    )
    made = subprocess.run(
        [str(brahmi_exe), "tokens", "create", "--label", "people"],
        env=env,
        capture_output=True,
        encoding="utf-8",
        timeout=WAIT_S,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    people_secret = made.stdout.strip().splitlines()[-1].strip()
    assert people_secret.startswith("brahmi_"), made.stdout
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(brahmi_exe), "serve", "--port", str(port), "--workers", "2"],
            env=env,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + WAIT_S
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    try:
        yield {
            "url": url,
            "token": people_secret,
            "home": home,
            "probe": probe,
            "log": log,
            "workspace": tmp_path / "ws",
            "cli_output": made.stdout,
        }
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def test_no_secret_value_appears_in_anything_a_served_run_wrote(served: dict[str, Any]) -> None:
    url, headers = served["url"], {"authorization": f"Bearer {served['token']}"}
    served["workspace"].mkdir()
    responses: list[str] = []
    with httpx.Client(base_url=url, headers=headers, timeout=30) as http:

        def call(method: str, path: str, **kwargs: Any) -> httpx.Response:
            response = http.request(method, path, **kwargs)
            responses.append(response.text)
            return response

        project = call("POST", "/api/v1/projects", json={"workspace": str(served["workspace"])})
        assert project.status_code in (200, 201), project.text
        project_id = project.json()["project_id"]
        configured = call(
            "PATCH",
            f"/api/v1/projects/{project_id}/settings",
            json={"env": {"DEPLOY_TOKEN": PROJECT_SECRET}},
        )
        assert configured.status_code == 200, configured.text
        specs = [
            {
                "unique_id": 1,
                "task_name": "Probe ok",
                "skill_id": "acme/secrets/probe",
                "task_order": 1,
            },
            {
                "unique_id": 2,
                "task_name": "Probe fails",
                "skill_id": "acme/secrets/probe",
                "task_order": 1,
                "inputs": {"fail": True},
            },
        ]
        created = call("POST", f"/api/v1/projects/{project_id}/tasks/batch", json=specs)
        assert created.status_code == 201, created.text
        deadline = time.monotonic() + WAIT_S
        while True:
            tasks = call("GET", f"/api/v1/projects/{project_id}/tasks").json()["tasks"]
            if all(t["status"] in ("completed", "failed") for t in tasks):
                break
            assert time.monotonic() < deadline, tasks
            time.sleep(0.1)
        for task in tasks:
            call("GET", f"/api/v1/tasks/{task['task_id']}")
            call("GET", f"/api/v1/tasks/{task['task_id']}/transcript")
        call(
            "POST",
            f"/api/v1/projects/{project_id}/messages",
            json={"text": "status?", "planner": "template"},
        )
        for path in (
            f"/api/v1/projects/{project_id}",
            "/api/v1/projects",
            f"/api/v1/projects/{project_id}/messages",
            f"/api/v1/projects/{project_id}/planner/sessions",
            f"/api/v1/projects/{project_id}/graph",
            "/api/v1/workers",
            "/api/v1/access",
            "/metrics",
            "/openapi.json",
        ):
            call("GET", path)
        count = sum(1 for _ in _events_in(served["home"], project_id))
        with http.stream(
            "GET", "/api/v1/events", params={"project_id": project_id}, timeout=10
        ) as stream:
            seen = 0
            for line in stream.iter_lines():
                responses.append(line)
                seen += line.startswith("id:")
                if seen >= count:
                    break

    probes = [json.loads(line) for line in served["probe"].read_text().splitlines()]
    assert len(probes) >= 2
    agent_tokens = {p["token"] for p in probes}
    assert all(agent_tokens) and {p["secret"] for p in probes} == {PROJECT_SECRET}
    secrets = {
        "ANTHROPIC_API_KEY": ANTHROPIC_KEY,
        "project env": PROJECT_SECRET,
        "people token": served["token"],
        **{f"agent token {i}": token for i, token in enumerate(sorted(agent_tokens))},
    }
    places: dict[str, str] = {}
    for path in served["home"].rglob("*"):
        if path.is_file():
            places[f"file {path.relative_to(served['home'])}"] = path.read_bytes().decode("latin-1")
    db = sqlite3.connect(served["home"] / "brahmi.db")
    try:
        dump = list(db.iterdump())
    finally:
        db.close()
    # The project's env is stored with the project, where agents' runs read it (by
    # design); it must be nowhere else: not in events, attempts, transcripts, logs.
    stored = [line for line in dump if line.startswith('INSERT INTO "projects"')]
    assert any(PROJECT_SECRET in line for line in stored)
    places["database dump, projects table left out"] = "\n".join(
        line for line in dump if not line.startswith('INSERT INTO "projects"')
    )
    places["server log"] = served["log"].read_text(errors="replace")
    places["REST responses"] = "\n".join(responses)

    database_files = {"file brahmi.db", "file brahmi.db-wal", "file brahmi.db-shm"}
    leaks = [
        (name, where)
        for name, value in secrets.items()
        for where, text in places.items()
        if value in text and not (name == "project env" and where in database_files)
    ]
    assert leaks == []
    # The scan can see: the probe file outside BRAHMI_HOME does hold the values.
    assert PROJECT_SECRET in served["probe"].read_text()
    assert "DEPLOY_TOKEN" in places["REST responses"]  # the env's names are shown
    assert "working with" in places["REST responses"]  # the transcripts were read over REST


def _events_in(home: Path, project_id: str) -> Iterator[int]:
    db = sqlite3.connect(home / "brahmi.db")
    try:
        rows = db.execute("SELECT id FROM events WHERE project_id = ?", (project_id,)).fetchall()
        yield from (row[0] for row in rows)
    finally:
        db.close()
