"""REST under ``/api/v1`` (DESIGN §2, §8): the ASGI app of ``brahmi serve`` in process.

Requests go through ``httpx.ASGITransport`` (no socket) from a loopback address with no
tokens configured, so the caller is local. The event stream is read from a real uvicorn
server on a free loopback port, because an in-process ASGI transport buffers a response
until it ends and an event stream never ends.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from starlette.types import ASGIApp

from brahmi.api.app import MAX_BODY_BYTES, create_app
from brahmi.domain.models import TaskStatus
from brahmi.service import Brahmi
from brahmi.testing import run_until_settled

SKILL = "brahmi/builtin/run-command"
BASE = "http://127.0.0.1:8421"
S = TaskStatus


class Api:
    """A synchronous face on an ``httpx.AsyncClient`` over ``httpx.ASGITransport``: every
    call runs on one event loop kept for the test."""

    def __init__(self, app: ASGIApp, client: tuple[str, int] = ("127.0.0.1", 123)) -> None:
        self.runner = asyncio.Runner()
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=client), base_url=BASE
        )

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self.runner.run(self.http.request(method, url, **kwargs))

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def close(self) -> None:
        self.runner.run(self.http.aclose())
        self.runner.close()


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


def standard_batch() -> list[dict[str, Any]]:
    """Build → QA (critiquing the build) → metadata, as the seeds plan."""
    return [
        spec(1, "Build the API"),
        spec(2, "QA: test the API", [1], inputs={"critiques_tasks": [1]}),
        spec(3, "Create aramb.toml", [2]),
    ]


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


def error_of(response: httpx.Response, status: int) -> str:
    """The error code of a JSON error response with ``status``."""
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body.get("error"), str), body
    return str(body["error"])


# -- health, OpenAPI, projects --------------------------------------------------------------


def test_healthz_answers_ok_with_the_version(api: Api) -> None:
    response = api.get("/healthz")

    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["version"]


def test_openapi_lists_every_route(api: Api) -> None:
    response = api.get("/openapi.json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    expected = {
        "/api/v1/projects": {"get", "post"},
        "/api/v1/projects/{project_id}": {"get"},
        "/api/v1/projects/{project_id}/tasks/batch": {"post"},
        "/api/v1/projects/{project_id}/tasks": {"get", "post"},
        "/api/v1/tasks/{task_id}": {"get"},
        "/api/v1/tasks/{task_id}/subtasks": {"post"},
        "/api/v1/tasks/{task_id}/retry": {"post"},
        "/api/v1/tasks/{task_id}/cancel": {"post"},
        "/api/v1/tasks/{task_id}/resume": {"post"},
        "/api/v1/skills/search": {"get"},
        "/api/v1/skills/{full_id}": {"get"},
        "/api/v1/events": {"get"},
        "/healthz": {"get"},
    }
    for path, methods in expected.items():
        assert path in paths, sorted(paths)
        assert methods <= set(paths[path]), (path, sorted(paths[path]))


def test_projects_are_created_listed_and_shown_with_task_counts(
    api: Api, brahmi: Brahmi, workspace: Path
) -> None:
    created = api.post("/api/v1/projects", json={"workspace": str(workspace)})
    again = api.post("/api/v1/projects", json={"workspace": str(workspace)})
    project_id = created.json()["project_id"]
    brahmi.create_tasks_batch(project_id, standard_batch())
    listed = api.get("/api/v1/projects")
    shown = api.get(f"/api/v1/projects/{project_id}")

    assert created.status_code == 201
    assert created.json()["workspace"] == str(workspace.resolve())
    assert again.json()["project_id"] == project_id  # the same folder is the same project
    assert listed.status_code == 200
    assert [p["project_id"] for p in listed.json()["projects"]] == [project_id]
    assert shown.status_code == 200
    assert shown.json()["name"] == workspace.name
    assert shown.json()["tasks"] == {"ready": 1, "planned": 2}


def test_a_project_for_a_folder_that_does_not_exist_is_a_400(api: Api, tmp_path: Path) -> None:
    response = api.post("/api/v1/projects", json={"workspace": str(tmp_path / "missing")})

    assert error_of(response, 400) == "brahmi_error"


def test_an_unknown_project_is_404_project_not_found(api: Api) -> None:
    responses = [
        api.get("/api/v1/projects/no-such-project"),
        api.get("/api/v1/projects/no-such-project/tasks"),
        api.post("/api/v1/projects/no-such-project/tasks/batch", json={"tasks": [spec(1, "X1")]}),
        api.post("/api/v1/projects/no-such-project/tasks", json=spec(1, "X1")),
        api.get("/api/v1/events", params={"project_id": "no-such-project"}),
    ]

    assert [error_of(r, 404) for r in responses] == ["project_not_found"] * len(responses)


# -- batches --------------------------------------------------------------------------------


def test_a_batch_is_created_with_201_and_the_map_of_its_ids(
    api: Api, brahmi: Brahmi, project_id: str
) -> None:
    as_object = api.post(
        f"/api/v1/projects/{project_id}/tasks/batch", json={"tasks": standard_batch()}
    )
    as_list = api.post(f"/api/v1/projects/{project_id}/tasks/batch", json=[spec(1, "Docs")])

    assert as_object.status_code == 201, as_object.text
    body = as_object.json()
    assert set(body) == {"batch_id", "task_ids", "warnings"}
    ids = body["task_ids"]
    assert set(ids) == {"1", "2", "3"}
    qa = brahmi.get_task(ids["2"])
    assert qa.dependencies == (ids["1"],)
    assert qa.inputs["critiques_tasks"] == [ids["1"]]
    assert brahmi.get_task(ids["3"]).dependencies == (ids["2"],)
    assert as_list.status_code == 201
    assert len(brahmi.list_tasks(project_id=project_id)) == 4


def test_an_invalid_batch_is_400_invalid_batch_listing_every_problem_and_stores_nothing(
    api: Api, brahmi: Brahmi, project_id: str
) -> None:
    tasks = standard_batch()
    tasks[0]["logical_dependencies"] = [3]  # 1 → 3 → 2 → 1
    tasks[1]["task_name"] = "QA"
    tasks[2]["skill_id"] = "acme/skills/nothing-here"
    tasks[2]["timeout_second"] = 60

    response = api.post(f"/api/v1/projects/{project_id}/tasks/batch", json={"tasks": tasks})

    assert error_of(response, 400) == "invalid_batch"
    problems = {(p["code"], p["path"]) for p in response.json()["problems"]}
    assert problems >= {
        ("dependency_cycle", "tasks[0]"),
        ("task_name_length", "tasks[1].task_name"),
        ("unknown_skill", "tasks[2].skill_id"),
        ("unknown_key", "tasks[2].timeout_second"),
    }
    assert all(set(p) == {"path", "code", "message"} for p in response.json()["problems"])
    assert brahmi.list_tasks(project_id=project_id) == []


def test_a_batch_over_ten_thousand_tasks_is_400_batch_too_large(
    api: Api, brahmi: Brahmi, project_id: str
) -> None:
    tasks = [
        {"unique_id": i, "task_name": f"t{i:05d}", "skill_id": SKILL} for i in range(1, 10_002)
    ]

    response = api.post(f"/api/v1/projects/{project_id}/tasks/batch", json={"tasks": tasks})

    assert error_of(response, 400) == "invalid_batch"
    assert [p["code"] for p in response.json()["problems"]] == ["batch_too_large"]
    assert brahmi.list_tasks(project_id=project_id) == []


def test_a_body_over_five_megabytes_is_413_payload_too_large(
    api: Api, brahmi: Brahmi, project_id: str
) -> None:
    big = json.dumps({"tasks": [spec(1, "Big", description="x" * MAX_BODY_BYTES)]}).encode()

    response = api.post(
        f"/api/v1/projects/{project_id}/tasks/batch",
        content=big,
        headers={"content-type": "application/json"},
    )

    assert error_of(response, 413) == "payload_too_large"
    assert brahmi.list_tasks(project_id=project_id) == []


def test_a_chunked_body_over_five_megabytes_is_413_payload_too_large(
    api: Api, brahmi: Brahmi, project_id: str
) -> None:
    big = json.dumps({"tasks": [spec(1, "Big", description="x" * MAX_BODY_BYTES)]}).encode()

    async def chunks() -> Any:
        for start in range(0, len(big), 64 * 1024):
            yield big[start : start + 64 * 1024]

    response = api.post(
        f"/api/v1/projects/{project_id}/tasks/batch",
        content=chunks(),
        headers={"content-type": "application/json"},
    )

    assert "content-length" not in response.request.headers
    assert error_of(response, 413) == "payload_too_large"
    assert brahmi.list_tasks(project_id=project_id) == []


@pytest.mark.parametrize(
    "body",
    [b'{"tasks": [', b"not json at all", b'{"tasks": [{"unique_id": 1,}]}', b"\xff\xfe"],
    ids=["truncated", "prose", "trailing-comma", "not-utf8"],
)
def test_malformed_json_is_400_invalid_request_on_every_write(
    api: Api, brahmi: Brahmi, project_id: str, body: bytes
) -> None:
    task_id = brahmi.create_tasks_batch(project_id, [spec(1, "Build it")]).task_ids["1"]
    urls = [
        f"/api/v1/projects/{project_id}/tasks/batch",
        f"/api/v1/projects/{project_id}/tasks",
        f"/api/v1/tasks/{task_id}/subtasks",
        f"/api/v1/tasks/{task_id}/resume",
        "/api/v1/projects",
    ]

    responses = [
        api.post(url, content=body, headers={"content-type": "application/json"}) for url in urls
    ]

    assert [error_of(r, 400) for r in responses] == ["invalid_request"] * len(urls)
    assert all(r.json()["problems"] for r in responses)
    assert len(brahmi.list_tasks(project_id=project_id)) == 1


@pytest.mark.parametrize(
    "body",
    [None, 42, "tasks", {"tasks": None}, {"tasks": {"1": {}}}, [None], [[]], {}],
    ids=["null", "number", "string", "tasks-null", "tasks-object", "null-task", "list-task", "{}"],
)
def test_a_batch_body_of_the_wrong_shape_is_a_400_never_a_5xx(
    api: Api, brahmi: Brahmi, project_id: str, body: Any
) -> None:
    response = api.post(f"/api/v1/projects/{project_id}/tasks/batch", json=body)

    assert error_of(response, 400) in {"invalid_batch", "invalid_request"}
    assert brahmi.list_tasks(project_id=project_id) == []


# -- tasks ----------------------------------------------------------------------------------


def test_an_unknown_task_is_404_task_not_found(api: Api) -> None:
    responses = [
        api.get("/api/v1/tasks/no-such-task"),
        api.post("/api/v1/tasks/no-such-task/retry"),
        api.post("/api/v1/tasks/no-such-task/cancel"),
        api.post("/api/v1/tasks/no-such-task/resume", json={"message": "more"}),
        api.post("/api/v1/tasks/no-such-task/subtasks", json={"task": {"task_name": "Sub"}}),
    ]

    assert [error_of(r, 404) for r in responses] == ["task_not_found"] * len(responses)


def test_retry_of_a_planned_ready_or_running_task_is_409_invalid_transition(
    api: Api, brahmi: Brahmi, project_id: str
) -> None:
    ids = brahmi.create_tasks_batch(project_id, standard_batch()).task_ids
    (claim,) = brahmi.store.claim("test-worker", 1, now=brahmi.clock.now(), lease_s=60.0)
    assert claim.task.id == ids["1"]
    assert brahmi.get_task(ids["1"]).status is S.RUNNING
    other = brahmi.create_tasks_batch(project_id, [spec(1, "Write the docs")]).task_ids["1"]

    running = api.post(f"/api/v1/tasks/{ids['1']}/retry")
    planned = api.post(f"/api/v1/tasks/{ids['2']}/retry")
    ready = api.post(f"/api/v1/tasks/{other}/retry")

    assert error_of(running, 409) == "invalid_transition"
    assert error_of(planned, 409) == "invalid_transition"
    assert error_of(ready, 409) == "invalid_transition"
    assert brahmi.get_task(ids["2"]).status is S.PLANNED


def test_a_task_and_its_subtasks_are_created_with_201_and_shown_with_the_parent(
    api: Api, project_id: str
) -> None:
    parent = api.post(
        f"/api/v1/projects/{project_id}/tasks",
        json={"task_name": "Build the API", "skill_id": SKILL, "inputs": {"command": ["true"]}},
    )
    parent_id = parent.json()["task_id"]
    first = api.post(
        f"/api/v1/tasks/{parent_id}/subtasks", json={"task": {"task_name": "Write the models"}}
    )
    inserted = api.post(
        f"/api/v1/tasks/{parent_id}/subtasks",
        json={"task": {"task_name": "Plan the schema"}, "position": 1},
    )
    shown = api.get(f"/api/v1/tasks/{parent_id}")
    listed = api.get(f"/api/v1/projects/{project_id}/tasks", params={"parent_task_id": parent_id})

    assert parent.status_code == 201, parent.text
    assert parent.json()["status"] == "ready"
    assert (first.status_code, inserted.status_code) == (201, 201)
    assert first.json()["parent_id"] == parent_id
    assert first.json()["skill_id"] == SKILL
    assert shown.status_code == 200
    assert [(s["task_name"], s["position"]) for s in shown.json()["subtasks"]] == [
        ("Plan the schema", 1),
        ("Write the models", 2),
    ]
    assert {"attempt_history", "history", "inputs", "outputs"} <= set(shown.json())
    assert {t["task_id"] for t in listed.json()["tasks"]} == {
        inserted.json()["task_id"],
        first.json()["task_id"],
    }


def test_the_subtasks_of_one_parent_are_listed_in_position_order(api: Api, project_id: str) -> None:
    parent_id = api.post(
        f"/api/v1/projects/{project_id}/tasks", json={"task_name": "Parent", "skill_id": SKILL}
    ).json()["task_id"]
    last = api.post(f"/api/v1/tasks/{parent_id}/subtasks", json={"task": {"task_name": "Last"}})
    first = api.post(
        f"/api/v1/tasks/{parent_id}/subtasks",
        json={"task": {"task_name": "First"}, "position": 1},
    )

    listed = api.get(f"/api/v1/projects/{project_id}/tasks", params={"parent_task_id": parent_id})

    assert [t["task_id"] for t in listed.json()["tasks"]] == [
        first.json()["task_id"],
        last.json()["task_id"],
    ]


def test_paging_one_parents_subtasks_gives_each_once_whatever_their_task_order(
    api: Api, project_id: str
) -> None:
    parent_id = api.post(
        f"/api/v1/projects/{project_id}/tasks", json={"task_name": "Parent", "skill_id": SKILL}
    ).json()["task_id"]
    made = [
        api.post(
            f"/api/v1/tasks/{parent_id}/subtasks",
            json={"task": {"task_name": f"Step {n}", "task_order": order}, "position": 1},
        ).json()["task_id"]
        for n, order in enumerate([1, 9, 5, 2], start=1)
    ]
    url = f"/api/v1/projects/{project_id}/tasks"

    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"parent_task_id": parent_id, "limit": 1}
        page = api.get(url, params=params | ({"cursor": cursor} if cursor else {})).json()
        seen += [t["task_id"] for t in page["tasks"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert sorted(seen) == sorted(made) and len(seen) == len(made)


def test_a_subtask_with_dependencies_or_of_a_subtask_is_a_400(api: Api, project_id: str) -> None:
    parent_id = api.post(
        f"/api/v1/projects/{project_id}/tasks", json={"task_name": "Parent", "skill_id": SKILL}
    ).json()["task_id"]
    child_id = api.post(
        f"/api/v1/tasks/{parent_id}/subtasks", json={"task": {"task_name": "Child"}}
    ).json()["task_id"]

    nested = api.post(f"/api/v1/tasks/{child_id}/subtasks", json={"task": {"task_name": "Deeper"}})
    with_deps = api.post(
        f"/api/v1/tasks/{parent_id}/subtasks",
        json={"task": {"task_name": "Sibling", "dependencies": [child_id]}},
    )
    bad_position = api.post(
        f"/api/v1/tasks/{parent_id}/subtasks", json={"task": {"task_name": "Zero"}, "position": 0}
    )

    assert error_of(nested, 400) == "subtask_nesting"
    assert error_of(with_deps, 400) == "subtask_dependencies"
    assert error_of(bad_position, 400) == "invalid_request"


def test_list_tasks_filters_by_status_and_an_unknown_status_is_a_400(
    api: Api, brahmi: Brahmi, project_id: str
) -> None:
    ids = brahmi.create_tasks_batch(project_id, standard_batch()).task_ids

    planned = api.get(f"/api/v1/projects/{project_id}/tasks", params={"status": "planned"})
    ready = api.get(f"/api/v1/projects/{project_id}/tasks", params={"status": "ready"})
    unknown = api.get(f"/api/v1/projects/{project_id}/tasks", params={"status": "sleeping"})

    assert [t["task_id"] for t in planned.json()["tasks"]] == [ids["2"], ids["3"]]
    assert [t["task_id"] for t in ready.json()["tasks"]] == [ids["1"]]
    assert error_of(unknown, 400) == "invalid_request"


def test_list_tasks_pages_by_limit_and_cursor_through_every_task_once(
    api: Api, brahmi: Brahmi, project_id: str
) -> None:
    tasks = [
        {
            "unique_id": i,
            "task_name": f"task {i}",
            "skill_id": "brahmi/builtin/run-command",
            "task_order": 1 + i % 3,
            "inputs": {"command": ["true"]},
        }
        for i in range(1, 24)
    ]
    brahmi.create_tasks_batch(project_id, tasks)
    everything = api.get(f"/api/v1/projects/{project_id}/tasks").json()
    url = f"/api/v1/projects/{project_id}/tasks"

    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 5} | ({"cursor": cursor} if cursor else {})
        page = api.get(url, params=params).json()
        pages.append([t["task_id"] for t in page["tasks"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert "next_cursor" not in everything  # without limit: every task, as before
    assert [len(p) for p in pages] == [5, 5, 5, 5, 3]
    assert [i for p in pages for i in p] == [t["task_id"] for t in everything["tasks"]]
    assert error_of(api.get(url, params={"cursor": "not-a-cursor"}), 400) == "invalid_cursor"
    huge = base64.urlsafe_b64encode(json.dumps([10**29, 1.0, "x"]).encode()).decode()
    assert error_of(api.get(url, params={"cursor": huge}), 400) == "invalid_cursor"
    assert error_of(api.get(url, params={"limit": 0}), 400) == "invalid_request"


def test_cancel_blocks_dependents_retry_runs_them_again_and_resume_continues_a_finished_task(
    api: Api, brahmi: Brahmi, project_id: str
) -> None:
    created = api.post(
        f"/api/v1/projects/{project_id}/tasks/batch", json={"tasks": standard_batch()}
    ).json()
    ids = created["task_ids"]

    cancelled = api.post(f"/api/v1/tasks/{ids['1']}/cancel")
    blocked = api.get(f"/api/v1/tasks/{ids['2']}").json()["status"]
    cancel_again = api.post(f"/api/v1/tasks/{ids['1']}/cancel")
    retried = api.post(f"/api/v1/tasks/{ids['1']}/retry")
    unblocked = api.get(f"/api/v1/tasks/{ids['2']}").json()["status"]
    early_resume = api.post(f"/api/v1/tasks/{ids['1']}/resume", json={"message": "more"})
    asyncio.run(run_until_settled(brahmi, created["batch_id"], timeout_s=20))
    resumed = api.post(
        f"/api/v1/tasks/{ids['1']}/resume", json={"message": "Add pagination", "mode": "continue"}
    )
    qa_mode = api.post(f"/api/v1/tasks/{ids['1']}/resume", json={"message": "Why?", "mode": "qa"})

    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert blocked == "blocked"
    assert error_of(cancel_again, 409) == "invalid_transition"
    assert retried.status_code == 200
    assert retried.json()["status"] == "ready"
    assert unblocked == "planned"
    assert error_of(early_resume, 409) == "invalid_transition"
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["status"] == "ready"
    assert error_of(qa_mode, 409) == "no_session"


# -- skills ---------------------------------------------------------------------------------


def test_skills_search_ranks_by_category_and_tag_and_a_skill_is_shown_by_full_id(
    api: Api,
) -> None:
    found = api.get("/api/v1/skills/search", params={"category": "critique", "tag": "backend"})
    punctuated = api.get("/api/v1/skills/search", params={"q": '"run" (command) OR * ^:-'})
    shown = api.get("/api/v1/skills/brahmi/builtin/run-command")
    missing = api.get("/api/v1/skills/acme/skills/nothing-here")
    too_many = api.get("/api/v1/skills/search", params={"limit": 501})

    assert found.status_code == 200
    assert found.json()["skills"][0]["full_id"] == "brahmi/builtin/backend-critique"
    assert punctuated.status_code == 200
    assert shown.status_code == 200
    assert shown.json()["runtime"] == "command"
    assert "# Run a command" in shown.json()["body"]
    assert error_of(missing, 404) == "skill_not_found"
    assert error_of(too_many, 400) == "invalid_request"


# -- events (Server-Sent Events) ------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(app: ASGIApp) -> Iterator[str]:
    """``app`` under uvicorn on a free loopback port, in a thread; yields its base URL."""
    port = free_port()
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
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)
        assert not thread.is_alive(), "uvicorn did not stop within 15 s"


def read_events(
    base: str, project_id: str, count: int, headers: dict[str, str] | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """Open the event stream, read ``count`` events, close it.

    Returns the events (``id``, ``event`` and the decoded ``data``) and every raw line read.
    """
    events: list[dict[str, Any]] = []
    lines: list[str] = []
    current: dict[str, Any] = {}
    with httpx.stream(
        "GET",
        f"{base}/api/v1/events",
        params={"project_id": project_id},
        headers=headers,
        timeout=httpx.Timeout(10.0),
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            lines.append(line)
            if line.startswith(":"):
                continue
            if line:
                field, _, value = line.partition(":")
                current[field] = value.removeprefix(" ")
                continue
            if "data" in current:
                current["data"] = json.loads(current["data"])
                events.append(current)
            current = {}
            if len(events) == count:
                break
    return events, lines


def test_events_stream_in_id_order_with_ids_then_live_and_a_reconnect_resumes_after_last_event_id(
    brahmi: Brahmi, project_id: str
) -> None:
    brahmi.create_tasks_batch(project_id, standard_batch())
    brahmi.planner_session(project_id)  # replies below then add one event each
    stored = brahmi.store.events(project_id=project_id)
    assert len(stored) >= 4

    with serving(create_app(brahmi)) as base:
        first, lines = read_events(base, project_id, len(stored))
        brahmi.record_user_response(project_id, "Three tasks are planned.")
        resumed, _ = read_events(
            base, project_id, len(stored) - 2 + 1, headers={"Last-Event-ID": first[1]["id"]}
        )

    assert [int(e["id"]) for e in first] == [e.id for e in stored]
    assert [e["event"] for e in first] == [e.kind for e in stored]
    assert [e["data"]["id"] for e in first] == [e.id for e in stored]
    assert sum(line.startswith("id:") for line in lines) == len(stored)
    resumed_ids = [int(e["id"]) for e in resumed]
    assert resumed_ids == [e.id for e in stored[2:]] + [resumed_ids[-1]]
    assert resumed_ids[-1] > stored[-1].id
    assert len(set(resumed_ids)) == len(resumed_ids)
    assert resumed[-1]["event"] == "user_response"
    assert resumed[-1]["data"]["data"]["message"] == "Three tasks are planned."


def test_an_open_event_stream_delivers_new_events_as_they_happen(
    brahmi: Brahmi, project_id: str
) -> None:
    brahmi.planner_session(project_id)  # each reply below is then one event
    before = brahmi.store.last_event_id()
    received: list[dict[str, Any]] = []

    with serving(create_app(brahmi)) as base:
        reader = threading.Thread(
            target=lambda: received.extend(
                read_events(base, project_id, 2, headers={"Last-Event-ID": str(before)})[0]
            )
        )
        reader.start()
        brahmi.record_user_response(project_id, "first")
        brahmi.record_user_response(project_id, "second")
        reader.join(15)
        assert not reader.is_alive()

    assert [e["data"]["data"]["message"] for e in received] == ["first", "second"]
    assert int(received[0]["id"]) < int(received[1]["id"])


# -- no request is a server error -----------------------------------------------------------


def test_no_generated_request_is_a_server_error(brahmi: Brahmi, project_id: str) -> None:
    """schemathesis generates valid and invalid requests for every operation of the OpenAPI
    document (the event stream, which never ends, aside); none may get a 5xx. Half of the
    cases name a real project and task, so generated bodies reach the validators.

    Driven through its Python API: its pytest loader (``from_fixture``) reads an attribute
    pytest 9.2 no longer has."""
    schemathesis = pytest.importorskip("schemathesis")
    from schemathesis.python import asgi

    ids = brahmi.create_tasks_batch(project_id, standard_batch()).task_ids
    real = {"project_id": project_id, "task_id": ids["1"]}
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(brahmi))
    operations = [result.ok() for result in schema.get_all_operations()]
    fuzzed = [op for op in operations if op.path != "/api/v1/events"]
    assert len(fuzzed) >= 12
    seen: list[tuple[str, str, int]] = []

    def no_server_error(case: Any) -> None:
        if len(seen) % 2 == 0:
            case.path_parameters = {
                name: real.get(name, value) for name, value in (case.path_parameters or {}).items()
            }
        response = case.call()
        seen.append((case.method, case.path, response.status_code))
        assert response.status_code < 500, (
            case.method,
            case.formatted_path,
            case.body,
            response.text,
        )

    try:
        for operation in fuzzed:
            modes = [schemathesis.GenerationMode.POSITIVE]
            if len(operation.body) or len(operation.query):
                # Invalid path parameters alone are slow to generate and all end in a 404.
                modes.append(schemathesis.GenerationMode.NEGATIVE)
            for mode in modes:
                check = settings(
                    max_examples=4,
                    deadline=None,
                    database=None,
                    derandomize=True,
                    suppress_health_check=list(HealthCheck),
                )(given(case=operation.as_strategy(generation_mode=mode))(no_server_error))
                try:
                    check()
                except Unsatisfiable:
                    # No invalid request exists for an operation without inputs.
                    assert mode is schemathesis.GenerationMode.NEGATIVE, operation.label
    finally:
        asgi.shutdown_lifespans()  # schemathesis keeps an app's lifespan running otherwise

    statuses = {status for _, _, status in seen}
    assert statuses & {200, 201}
    assert statuses & {400, 404}


def test_project_settings_set_a_budget_and_keep_env_values_private(
    api: Api, project_id: str
) -> None:
    changed = api.request(
        "PATCH",
        f"/api/v1/projects/{project_id}/settings",
        json={"budget": {"usd": 2.5}, "env": {"ANTHROPIC_API_KEY": "sk-secret"}},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["settings"]["env"] == ["ANTHROPIC_API_KEY"]

    shown = api.get(f"/api/v1/projects/{project_id}").json()
    assert shown["budget"] == {
        "usd": 2.5,
        "tokens": None,
        "spent": {"input_tokens": 0, "output_tokens": 0, "tokens": 0, "cost_usd": 0.0, "runs": 0},
        "exceeded": False,
    }
    assert "sk-secret" not in json.dumps(shown)

    bad = api.request(
        "PATCH", f"/api/v1/projects/{project_id}/settings", json={"budget": {"usd": -1}}
    )
    assert error_of(bad, 400) == "invalid_setting"
    removed = api.request("PATCH", f"/api/v1/projects/{project_id}/settings", json={"budget": None})
    assert "budget" not in removed.json()["settings"]
