"""Running the engine's hottest statements at the driver's speed.

Every finished attempt runs the same handful of statements (record the result, close the
attempt, promote dependents). Through ``conn.execute`` each call pays for a cache key, a
compiled-cache lookup and parameter processing, which together cost about as much as
SQLite takes to run the statement. :func:`execute` compiles a statement once per dialect
and hands its parameters to the driver through ``exec_driver_sql`` inside the caller's
transaction, so errors are still SQLAlchemy's and nothing else changes.

The rows it returns are the driver's own: on SQLite, JSON columns come back as text and
booleans as integers. :func:`typed` converts a table's rows back to Python values.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import JSON, Boolean, Table
from sqlalchemy.engine import Connection, CursorResult
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

_POSITIONAL = {"qmark", "numeric", "format", "numeric_dollar"}


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    #: Bind names, in the order the driver takes them for a positional paramstyle.
    names: tuple[str, ...]
    positional: bool
    #: Values bound inside the statement itself (e.g. ``.values(run_after=0.0)``).
    defaults: dict[str, Any]
    #: Binds whose values are encoded as JSON text.
    json: frozenset[str]


_CACHE: dict[tuple[str, int], _Compiled] = {}


def execute(
    conn: Connection, statement: ClauseElement, params: Mapping[str, Any]
) -> CursorResult[Any]:
    """Run ``statement`` with ``params`` (bind name → value) in ``conn``'s transaction.

    ``statement`` must be built once (module level): it is cached by identity. Expanding
    binds (``IN`` lists) are not supported.

    Raises:
        KeyError: A bind of the statement has no value in ``params`` nor in the statement.
        sqlalchemy.exc.DBAPIError: As ``conn.execute`` would.
    """
    compiled = _compiled(conn, statement)
    values = {**compiled.defaults, **params} if compiled.defaults else params
    dumps = json.dumps
    encoded = [
        dumps(v) if n in compiled.json and (v := values[n]) is not None else values[n]
        for n in compiled.names
    ]
    driver_params: Any = (
        tuple(encoded) if compiled.positional else dict(zip(compiled.names, encoded, strict=True))
    )
    return conn.exec_driver_sql(compiled.sql, driver_params)


def _compiled(conn: Connection, statement: ClauseElement) -> _Compiled:
    key = (conn.dialect.name, id(statement))
    found = _CACHE.get(key)
    if found is None:
        compiled = cast(SQLCompiler, statement.compile(dialect=conn.dialect))
        positional = conn.dialect.paramstyle in _POSITIONAL
        binds = {name: bind for bind, name in compiled.bind_names.items()}
        found = _Compiled(
            sql=compiled.string,
            names=tuple(compiled.positiontup or ()) if positional else tuple(binds),
            positional=positional,
            defaults={name: b.value for name, b in binds.items() if not b.required},
            json=frozenset(name for name, b in binds.items() if isinstance(b.type, JSON)),
        )
        # Keep the statement alive with its entry, so its id is never reused.
        _CACHE[key] = found
        _KEEP.append(statement)
    return found


_KEEP: list[ClauseElement] = []


def typed(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` of ``table`` read by :func:`execute`, with JSON and boolean columns decoded
    as ``conn.execute`` would have returned them (in place; also returned)."""
    if conn.dialect.name != "sqlite":
        return rows  # psycopg decodes JSONB and booleans itself
    json_columns, bool_columns = _decoders(table)
    loads = json.loads
    for row in rows:
        for name in json_columns:
            if (value := row.get(name)) is not None:
                row[name] = loads(value)
        for name in bool_columns:
            if (value := row.get(name)) is not None:
                row[name] = bool(value)
    return rows


_DECODERS: dict[str, tuple[list[str], list[str]]] = {}


def _decoders(table: Table) -> tuple[list[str], list[str]]:
    if table.name not in _DECODERS:
        _DECODERS[table.name] = (
            [c.name for c in table.columns if isinstance(c.type, JSON)],
            [c.name for c in table.columns if isinstance(c.type, Boolean)],
        )
    return _DECODERS[table.name]
