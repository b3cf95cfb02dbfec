"""Inserting many rows at once, at the driver's speed.

``conn.execute(insert(table), rows)`` processes every parameter of every row in Python;
for a 10,000-task batch that is most of the time spent storing it. ``bulk_insert``
compiles the INSERT once for the connection's dialect, encodes JSON columns with the
standard library, and hands the rows to the driver's ``executemany`` on the cursor of the
caller's connection, inside its transaction (errors wrapped as SQLAlchemy's, see
:mod:`brahmi.store.driver`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, Table, insert
from sqlalchemy.engine import Connection

from brahmi.store.driver import dumps, run_many

_POSITIONAL = {"qmark", "numeric", "format", "numeric_dollar"}


def bulk_insert(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (all with the same keys) into ``table``.

    JSON columns are encoded here; a None there becomes SQL NULL, as the table's types
    store it.
    """
    if not rows:
        return
    columns = tuple(rows[0])
    plan = _compiled(conn, table, columns)
    params: list[Any]
    if plan.positional:  # each row's values in the compiled statement's order
        params = [[row[c] for c in plan.order] for row in rows]
    else:
        params = [dict(row) for row in rows]
    if plan.json_at:
        for values in params:
            for key in plan.json_at:
                if (v := values[key]) is not None:
                    values[key] = dumps(v)
    run_many(conn, plan.compiled.string, params)


@dataclass(frozen=True, slots=True)
class _Plan:
    compiled: Any
    positional: bool
    #: The columns in the order the compiled statement binds them.
    order: tuple[str, ...]
    #: Where the JSON columns are in a row's parameters: indexes (positional) or names.
    json_at: tuple[Any, ...]


_CACHE: dict[tuple[str, str, tuple[str, ...]], _Plan] = {}


def _compiled(conn: Connection, table: Table, columns: tuple[str, ...]) -> _Plan:
    """The INSERT compiled for this dialect, and where its JSON values go (built once)."""
    key = (conn.dialect.name, table.name, columns)
    found = _CACHE.get(key)
    if found is None:
        compiled = insert(table).compile(dialect=conn.dialect, column_keys=list(columns))
        positional = conn.dialect.paramstyle in _POSITIONAL
        order = tuple(compiled.positiontup or columns) if positional else columns
        json_at: tuple[Any, ...] = tuple(
            (i if positional else c)
            for i, c in enumerate(order)
            if isinstance(table.c[c].type, JSON)
        )
        found = _CACHE[key] = _Plan(compiled, positional, order, json_at)
    return found
