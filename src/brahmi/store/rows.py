"""Row conversions and graph look-ups shared by the store's operations."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import MISSING, fields
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
    """A :class:`TaskRecord` from a ``tasks`` row mapping.

    Built field by field through the slots, not by the frozen dataclass's ``__init__``,
    which sets its 40 fields with one ``object.__setattr__`` call each (about 20 µs, paid
    for every claimed task). Every field without a default must be in ``row`` (KeyError);
    columns the record has no field for are ignored.
    """
    record: TaskRecord = _new(TaskRecord)
    for name, default, set_field in _TASK_FIELDS:
        set_field(record, row[name] if default is MISSING else row.get(name, default))
    _set_status(record, TaskStatus(row["status"]))
    _set_dependencies(record, tuple(dependencies))
    return record


_new = object.__new__
#: Each field of TaskRecord: its name, its default (MISSING: none) and its slot's setter.
_SETTERS: dict[str, Any] = {f.name: getattr(TaskRecord, f.name).__set__ for f in fields(TaskRecord)}
_TASK_FIELDS: tuple[tuple[str, Any, Any], ...] = tuple(
    (f.name, f.default, _SETTERS[f.name])
    for f in fields(TaskRecord)
    if f.name not in ("status", "dependencies")
)
_set_status = _SETTERS["status"]
_set_dependencies = _SETTERS["dependencies"]


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
