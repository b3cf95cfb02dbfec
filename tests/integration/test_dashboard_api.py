"""What the dashboard reads besides the REST of issue 4 (issue 14): the caller's access,
live workers, a project's graph in one read, transcripts by offset, the skill index; and
the page shells themselves (HTML, a CSP, 404 pages). In process through ASGITransport."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.types import ASGIApp

from brahmi.api.app import create_app
from brahmi.domain.models import AttemptRecord
from brahmi.engine.transcripts import attempt_transcript, read_chunk, transcript_path
from brahmi.service import Brahmi
from brahmi.testing import run_until_settled
from tests.integration.test_rest_api import Api, error_of, spec, standard_batch


@pytest.fixture
def app(brahmi: Brahmi) -> ASGIApp:
    return create_app(brahmi)


@pytest.fixture
def api(app: ASGIApp) -> Iterator[Api]:
    client = Api(app)
    yield client
    client.close()


@pytest.fixture
def project_id(brahmi: Brahmi, workspace: Path) -> str:
    return brahmi.project_for(workspace).id


def post_batch(api: Api, project_id: str, tasks: list[dict[str, Any]]) -> dict[str, Any]:
    response = api.post(f"/api/v1/projects/{project_id}/tasks/batch", json={"tasks": tasks})
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_the_graph_gives_every_task_with_its_dependencies_critiques_and_an_event_cursor(
    api: Api, project_id: str
) -> None:
    ids = post_batch(api, project_id, standard_batch())["task_ids"]

    graph = api.get(f"/api/v1/projects/{project_id}/graph").json()

    tasks = {t["task_id"]: t for t in graph["tasks"]}
    assert set(tasks) == set(ids.values())
    qa = tasks[ids["2"]]
    assert qa["dependencies"] == [ids["1"]]
    assert qa["critiques"] == [ids["1"]]
    assert tasks[ids["1"]]["critiques"] == []
    assert tasks[ids["3"]]["dependencies"] == [ids["2"]]
    assert graph["last_event_id"] == api.get("/api/v1/events/cursor").json()["last_event_id"]
    assert graph["last_event_id"] > 0


def test_the_graph_of_an_unknown_project_is_404(api: Api) -> None:
    assert error_of(api.get("/api/v1/projects/nope/graph"), 404) == "project_not_found"


def test_a_finished_attempts_transcript_reads_from_an_offset(
    api: Api, brahmi: Brahmi, project_id: str
) -> None:
    created = post_batch(api, project_id, [spec(1, "Say something")])
    task_id = created["task_ids"]["1"]
    before = api.get(f"/api/v1/tasks/{task_id}/transcript").json()
    assert (before["attempt_id"], before["text"], before["running"]) == (None, "", False)

    asyncio.run(run_until_settled(brahmi, str(created["batch_id"])))
    first = api.get(f"/api/v1/tasks/{task_id}/transcript").json()

    assert "scripted outputs for Say something" in first["text"]
    assert first["running"] is False
    assert first["next_offset"] == len(first["text"].encode())
    rest = api.get(
        f"/api/v1/tasks/{task_id}/transcript",
        params={"attempt_id": first["attempt_id"], "offset": first["next_offset"]},
    ).json()
    assert (rest["text"], rest["next_offset"]) == ("", first["next_offset"])
    unknown = api.get(f"/api/v1/tasks/{task_id}/transcript", params={"attempt_id": "nope"})
    assert error_of(unknown, 404) == "task_not_found"
    too_far = api.get(f"/api/v1/tasks/{task_id}/transcript", params={"offset": 10**23})
    assert error_of(too_far, 400) == "invalid_request"  # not a 500 from seek()


def _attempt(finished: bool, recorded: str | None = None) -> AttemptRecord:
    return AttemptRecord(
        id="0123456789abcdef",
        task_id="task-1",
        number=2,
        worker_id="w",
        executor="command",
        status="succeeded" if finished else "running",
        skill_version=None,
        error=None,
        transcript_path=recorded,
        usage=None,
        started_at=1.0,
        finished_at=2.0 if finished else None,
    )


def test_a_running_attempts_transcript_is_read_where_the_worker_writes_it(
    tmp_path: Path,
) -> None:
    running = _attempt(finished=False)
    path = transcript_path(tmp_path, "task-1", 2, running.id)
    assert attempt_transcript(tmp_path, running) == path
    assert read_chunk(tmp_path, running, 0).text == ""  # nothing written yet
    path.parent.mkdir(parents=True)
    path.write_bytes("working… é".encode())

    # A piece never ends inside a character: the cut "é" waits for the next read.
    cut = read_chunk(tmp_path, running, 0, max_bytes=len("working… é".encode()) - 1)
    assert (cut.text, cut.running) == ("working… ", True)
    rest = read_chunk(tmp_path, running, cut.next_offset)
    assert rest.text == "é"
    recorded = tmp_path / "elsewhere.log"
    assert attempt_transcript(tmp_path, _attempt(True, str(recorded))) == recorded


def test_access_tells_a_read_only_token_it_may_only_read(api: Api, brahmi: Brahmi) -> None:
    assert api.get("/api/v1/access").json() == {"project_id": None, "read_only": False}
    secret, _ = brahmi.tokens.create(now=time.time(), read_only=True)

    seen = api.get("/api/v1/access", headers={"Authorization": f"Bearer {secret}"}).json()

    assert seen == {"project_id": None, "read_only": True}


def test_live_workers_are_listed_but_not_to_an_agents_token(
    api: Api, brahmi: Brahmi, project_id: str
) -> None:
    brahmi.store.register_worker(
        "vm:1:abc", host="vm", pid=1, runtimes=None, concurrency=2, now=time.time()
    )
    listed = api.get("/api/v1/workers").json()["workers"]
    assert [(w["id"], w["concurrency"]) for w in listed] == [("vm:1:abc", 2)]

    task_id = post_batch(api, project_id, [spec(1, "Any task")])["task_ids"]["1"]
    agent, _ = brahmi.tokens.create(now=time.time(), project_id=project_id, task_id=task_id)
    refused = api.get("/api/v1/workers", headers={"Authorization": f"Bearer {agent}"})
    assert error_of(refused, 403) == "forbidden"


def test_the_skill_index_lists_its_sources_and_problems(api: Api) -> None:
    index = api.get("/api/v1/skill-index").json()

    assert index["sources"][0]["owner_repo"] == "brahmi/builtin"
    assert isinstance(index["problems"], list)


def test_pages_are_html_with_a_policy_that_forbids_inline_scripts(
    api: Api, project_id: str
) -> None:
    task_id = post_batch(api, project_id, [spec(1, "Any task")])["task_ids"]["1"]
    for path in ("/", f"/projects/{project_id}", f"/projects/{project_id}/planner", "/skills"):
        page = api.get(path)
        assert page.status_code == 200, path
        assert page.headers["content-type"].startswith("text/html")
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert "<script>" not in page.text  # scripts come from /static only
    shell = api.get(f"/tasks/{task_id}").text
    assert f'data-task-id="{task_id}"' in shell
    assert f'data-project-id="{project_id}"' in shell
    script = api.get("/static/js/api.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")


def test_unknown_ids_are_404_pages_that_escape_what_was_asked_for(api: Api) -> None:
    page = api.get("/tasks/%3Cscript%3Ealert(1)%3C%2Fscript%3E")

    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<script>alert" not in page.text
    assert api.get("/projects/nope").status_code == 404
    assert "There is no page" in api.get("/no/such/page").text
    # The API's own 404s stay JSON.
    assert api.get("/api/v1/no/such/route").json() == {"detail": "Not Found"}
