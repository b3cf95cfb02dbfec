"""Row conversions and graph look-ups shared by the store's operations."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection

from brahmi.domain.models import TaskRecord, TaskStatus
from brahmi.store import tables as t

_DEPENDENCIES_OF = select(t.task_dependencies.c.task_id, t.task_dependencies.c.depends_on_id).where(
    t.task_dependencies.c.task_id.in_(bindparam("p_ids", expanding=True))
)
_DEPENDENTS_OF = select(t.task_dependencies.c.depends_on_id, t.task_dependencies.c.task_id).where(
    t.task_dependencies.c.depends_on_id.in_(bindparam("p_ids", expanding=True))
)
#: SQLite's default limit on bound parameters is far above this; PostgreSQL's too.
CHUNK = 900


def task_record(row: Mapping[Any, Any], dependencies: Iterable[str] = ()) -> TaskRecord:
    """A :class:`TaskRecord` from a ``tasks`` row mapping."""
    data = dict(row)
    data["status"] = TaskStatus(data["status"])
    data["dependencies"] = tuple(dependencies)
    return TaskRecord(**data)


def chunks(items: Sequence[str], size: int = CHUNK) -> Iterable[Sequence[str]]:
    """``items`` in slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def dependencies_of(conn: Connection, task_ids: Sequence[str]) -> dict[str, list[str]]:
    """For each of ``task_ids``, the ids of the tasks it depends on."""
    found: dict[str, list[str]] = defaultdict(list)
    for chunk in chunks(task_ids):
        for task_id, depends_on in conn.execute(_DEPENDENCIES_OF, {"p_ids": list(chunk)}):
            found[task_id].append(depends_on)
    return found


def dependents_map(conn: Connection, root: str) -> dict[str, list[str]]:
    """For ``root`` and every task downstream of it, the tasks that depend on it."""
    result: dict[str, list[str]] = {root: []}
    frontier = [root]
    while frontier:
        found: list[str] = []
        for chunk in chunks(frontier):
            for upstream, downstream in conn.execute(_DEPENDENTS_OF, {"p_ids": list(chunk)}):
                result[upstream].append(downstream)
                if downstream not in result:
                    result[downstream] = []
                    found.append(downstream)
        frontier = found
    return result


def upstream_of(conn: Connection, start: Sequence[str]) -> set[str]:
    """Every task that ``start`` depends on, directly or not."""
    seen: set[str] = set()
    frontier = list(start)
    while frontier:
        found: set[str] = set()
        for chunk in chunks(frontier):
            found.update(d for _, d in conn.execute(_DEPENDENCIES_OF, {"p_ids": list(chunk)}))
        frontier = list(found - seen)
        seen |= found
    return seen
