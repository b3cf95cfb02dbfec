"""Inserting many rows at once, at the driver's speed.

``conn.execute(insert(table), rows)`` processes every parameter of every row in Python;
for a 10,000-task batch that is most of the time spent storing it. ``bulk_insert``
compiles the INSERT once for the connection's dialect, encodes JSON columns with the
standard library, and hands the rows to the driver's ``executemany`` on the cursor of the
caller's connection, inside its transaction (errors wrapped as SQLAlchemy's, see
:mod:`brahmi.store.driver`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import JSON, Table, insert
from sqlalchemy.engine import Connection

from brahmi.store.driver import cursor_of, wrapped

_POSITIONAL = {"qmark", "numeric", "format", "numeric_dollar"}


def bulk_insert(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (all with the same keys) into ``table``.

    JSON columns are encoded here; a None there becomes SQL NULL, as the table's types
    store it.
    """
    if not rows:
        return
    columns = list(rows[0])
    encoded, compiled = _compiled(conn, table, tuple(columns))
    if conn.dialect.paramstyle in _POSITIONAL:
        order = [columns.index(c) for c in (compiled.positiontup or columns)]
        params: list[Any] = [_encode(row, columns, encoded) for row in rows]
        if order != list(range(len(columns))):
            params = [tuple(p[i] for i in order) for p in params]
    else:
        params = [dict(zip(columns, _encode(r, columns, encoded), strict=True)) for r in rows]
    cursor = cursor_of(conn)
    try:
        cursor.executemany(compiled.string, params)
    except conn.dialect.loaded_dbapi.Error as exc:
        raise wrapped(conn, exc, compiled.string, params) from exc
    finally:
        cursor.close()


_CACHE: dict[tuple[str, str, tuple[str, ...]], tuple[list[bool], Any]] = {}


def _compiled(conn: Connection, table: Table, columns: tuple[str, ...]) -> tuple[list[bool], Any]:
    """Which columns are JSON, and the INSERT compiled for this dialect (built once)."""
    key = (conn.dialect.name, table.name, columns)
    if key not in _CACHE:
        encoded = [isinstance(table.c[c].type, JSON) for c in columns]
        _CACHE[key] = (
            encoded,
            insert(table).compile(dialect=conn.dialect, column_keys=list(columns)),
        )
    return _CACHE[key]


def _encode(row: Mapping[str, Any], columns: list[str], encoded: list[bool]) -> tuple[Any, ...]:
    dumps = json.dumps
    return tuple(
        (None if (v := row[c]) is None else dumps(v)) if e else row[c]
        for c, e in zip(columns, encoded, strict=True)
    )
