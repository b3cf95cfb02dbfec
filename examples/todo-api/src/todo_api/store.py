"""Where the todos live: PostgreSQL when ``DATABASE_URL`` is set, else memory."""

from __future__ import annotations

import itertools
import os
import threading
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Todo:
    id: int
    title: str
    done: bool

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "done": self.done}


class Store(Protocol):
    def add(self, title: str) -> Todo: ...
    def list(self) -> list[Todo]: ...
    def get(self, todo_id: int) -> Todo | None: ...
    def set_done(self, todo_id: int, done: bool) -> Todo | None: ...
    def delete(self, todo_id: int) -> bool: ...
    def ping(self) -> str: ...


class MemoryStore:
    """Todos in a dict, for tests and for running without a database."""

    def __init__(self) -> None:
        self._todos: dict[int, Todo] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def add(self, title: str) -> Todo:
        with self._lock:
            todo = Todo(next(self._ids), title, False)
            self._todos[todo.id] = todo
            return todo

    def list(self) -> list[Todo]:
        return sorted(self._todos.values(), key=lambda t: t.id)

    def get(self, todo_id: int) -> Todo | None:
        return self._todos.get(todo_id)

    def set_done(self, todo_id: int, done: bool) -> Todo | None:
        with self._lock:
            todo = self._todos.get(todo_id)
            if todo is None:
                return None
            self._todos[todo_id] = Todo(todo.id, todo.title, done)
            return self._todos[todo_id]

    def delete(self, todo_id: int) -> bool:
        with self._lock:
            return self._todos.pop(todo_id, None) is not None

    def ping(self) -> str:
        return "memory"


class PostgresStore:
    """Todos in a PostgreSQL table (created when missing)."""

    def __init__(self, url: str, table: str = "todos") -> None:
        import psycopg
        from psycopg import sql

        self._sql = sql
        self._table = sql.Identifier(table)
        self._conn = psycopg.connect(url, autocommit=True)
        self._lock = threading.Lock()
        self._execute(
            "CREATE TABLE IF NOT EXISTS {table} "
            "(id SERIAL PRIMARY KEY, title TEXT NOT NULL, done BOOLEAN NOT NULL DEFAULT FALSE)"
        )

    def _execute(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run ``query`` with ``{table}`` replaced by the quoted table name."""
        statement = self._sql.SQL(query).format(table=self._table)  # type: ignore[arg-type]
        with self._lock, self._conn.cursor() as cur:
            cur.execute(statement, params)
            return cur.fetchall() if cur.description else []

    def add(self, title: str) -> Todo:
        (row,) = self._execute(
            "INSERT INTO {table} (title) VALUES (%s) RETURNING id, title, done", (title,)
        )
        return Todo(*row)

    def list(self) -> list[Todo]:
        rows = self._execute("SELECT id, title, done FROM {table} ORDER BY id")
        return [Todo(*row) for row in rows]

    def get(self, todo_id: int) -> Todo | None:
        rows = self._execute("SELECT id, title, done FROM {table} WHERE id = %s", (todo_id,))
        return Todo(*rows[0]) if rows else None

    def set_done(self, todo_id: int, done: bool) -> Todo | None:
        rows = self._execute(
            "UPDATE {table} SET done = %s WHERE id = %s RETURNING id, title, done",
            (done, todo_id),
        )
        return Todo(*rows[0]) if rows else None

    def delete(self, todo_id: int) -> bool:
        return bool(self._execute("DELETE FROM {table} WHERE id = %s RETURNING id", (todo_id,)))

    def ping(self) -> str:
        self._execute("SELECT 1")
        return "postgres"


def from_environment() -> Store:
    """PostgreSQL when ``DATABASE_URL`` is set (table ``TODO_TABLE``, default ``todos``)."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        return MemoryStore()
    return PostgresStore(url, os.environ.get("TODO_TABLE", "todos"))
