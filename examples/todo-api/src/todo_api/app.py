"""The HTTP API: ``/health`` and CRUD on ``/todos``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field

from todo_api.store import Store, from_environment


class NewTodo(BaseModel):
    title: str = Field(min_length=1, max_length=200)


class TodoUpdate(BaseModel):
    done: bool


def create_app(store: Store | None = None) -> FastAPI:
    """The API over ``store`` (default: from the environment, see ``store.from_environment``)."""
    app = FastAPI(title="todo-api")
    todos = store if store is not None else from_environment()

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok", "store": todos.ping()}

    @app.get("/todos")
    def list_todos() -> list[dict[str, Any]]:
        return [todo.to_dict() for todo in todos.list()]

    @app.post("/todos", status_code=201)
    def add_todo(body: NewTodo) -> dict[str, Any]:
        return todos.add(body.title).to_dict()

    @app.get("/todos/{todo_id}")
    def get_todo(todo_id: int) -> dict[str, Any]:
        todo = todos.get(todo_id)
        if todo is None:
            raise HTTPException(404, f"no todo {todo_id}")
        return todo.to_dict()

    @app.patch("/todos/{todo_id}")
    def update_todo(todo_id: int, body: TodoUpdate) -> dict[str, Any]:
        todo = todos.set_done(todo_id, body.done)
        if todo is None:
            raise HTTPException(404, f"no todo {todo_id}")
        return todo.to_dict()

    @app.delete("/todos/{todo_id}", status_code=204)
    def delete_todo(todo_id: int) -> None:
        if not todos.delete(todo_id):
            raise HTTPException(404, f"no todo {todo_id}")

    return app
