"""The API's behaviour, on the in-memory store."""

from __future__ import annotations

from fastapi.testclient import TestClient
from todo_api.app import create_app
from todo_api.store import MemoryStore


def client() -> TestClient:
    return TestClient(create_app(MemoryStore()))


def test_health_answers_ok() -> None:
    response = client().get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "store": "memory"}


def test_a_new_todo_is_listed_and_not_done() -> None:
    api = client()
    created = api.post("/todos", json={"title": "write the plan"})
    assert created.status_code == 201
    assert created.json() == {"id": 1, "title": "write the plan", "done": False}
    assert api.get("/todos").json() == [created.json()]


def test_marking_done_and_deleting() -> None:
    api = client()
    todo_id = api.post("/todos", json={"title": "ship it"}).json()["id"]
    assert api.patch(f"/todos/{todo_id}", json={"done": True}).json()["done"] is True
    assert api.delete(f"/todos/{todo_id}").status_code == 204
    assert api.get(f"/todos/{todo_id}").status_code == 404


def test_an_empty_title_is_rejected() -> None:
    assert client().post("/todos", json={"title": ""}).status_code == 422


def test_unknown_todo_is_404() -> None:
    api = client()
    assert api.patch("/todos/99", json={"done": True}).status_code == 404
    assert api.delete("/todos/99").status_code == 404
