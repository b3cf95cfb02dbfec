"""Running the engine's hottest statements at the driver's speed.

Every finished attempt runs the same handful of statements (claim, record the result,
close the attempt, promote dependents, log events). Through ``conn.execute`` each call pays
for a cache key, parameter processing and a result object, which together cost more than
SQLite takes to run the statement. :func:`execute` compiles a statement once per dialect
and runs it on the DBAPI cursor of the caller's connection, inside its transaction; driver
errors are wrapped as SQLAlchemy's (``sqlalchemy.exc.DBAPIError`` subclasses), as
``conn.execute`` would raise them.

The rows it returns are :class:`Record` mappings of the driver's own values: on SQLite,
JSON columns come back as text and booleans as integers. :func:`typed` converts a table's
rows back to Python values.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import JSON, Boolean, Table
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from brahmi.store.database import reading

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
    #: Their positions in ``names``.
    json_at: tuple[int, ...]
    #: The result's column names, once a first execution described them.
    columns: list[list[str]]


_CACHE: dict[tuple[str, int], _Compiled] = {}


def _default(value: object) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _encoder() -> Callable[[Any], str]:
    """``json.dumps`` with its default settings (the same text), faster: the standard
    library's C encoder, made once instead of once per value as ``json.dumps`` does (2.5
    µs a value instead of 0.75). Values are checked for cycles by the recursion limit
    instead of a table of the containers seen. Falls back to ``json.dumps``'s own
    encoder where the C one is missing."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return json.JSONEncoder().encode
    encode = make(
        None, _default, json.encoder.encode_basestring_ascii, None, ": ", ", ", False, False, True
    )
    join = "".join
    return lambda value: join(encode(value, 0))


#: ``json.dumps`` and ``json.loads`` with their default settings (the same text and
#: values), without the work ``json.dumps`` and ``json.loads`` repeat for every value.
dumps = _encoder()
loads = json.JSONDecoder().decode


class Record(dict[str, Any]):
    """One row: column name → value, also readable as attributes (``row.status``)."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def _mapping(self) -> Record:
        """The row as a mapping (itself), as SQLAlchemy rows offer it."""
        return self


@dataclass(frozen=True, slots=True)
class Result:
    """What a statement returned: its rows (all fetched) and the rows it changed."""

    rows: list[Record]
    rowcount: int

    def __iter__(self) -> Iterator[Record]:
        return iter(self.rows)

    def first(self) -> Record | None:
        """The first row, or None."""
        return self.rows[0] if self.rows else None


def execute(conn: Connection, statement: ClauseElement, params: Mapping[str, Any]) -> Result:
    """Run ``statement`` with ``params`` (bind name → value) in ``conn``'s transaction.

    ``statement`` must be built once (module level): it is cached by identity. Expanding
    binds (``IN`` lists) are not supported.

    Raises:
        KeyError: A bind of the statement has no value in ``params`` nor in the statement.
        sqlalchemy.exc.DBAPIError: As ``conn.execute`` would.
    """
    compiled = _CACHE.get((conn.dialect.name, id(statement))) or _compiled(conn, statement)
    values = {**compiled.defaults, **params} if compiled.defaults else params
    encoded = [values[n] for n in compiled.names]
    for i in compiled.json_at:
        if (v := encoded[i]) is not None:
            encoded[i] = dumps(v)
    driver_params: Any = (
        encoded if compiled.positional else dict(zip(compiled.names, encoded, strict=True))
    )
    cursor = cursor_of(conn)
    try:
        cursor.execute(compiled.sql, driver_params)
        rows: list[Record] = []
        if cursor.description is not None:
            if not compiled.columns:
                compiled.columns.append([d[0] for d in cursor.description])
            columns = compiled.columns[0]
            rows = [Record(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        return Result(rows, cursor.rowcount)
    except conn.dialect.loaded_dbapi.Error as exc:
        raise wrapped(conn, exc, compiled.sql, driver_params) from exc
    finally:
        cursor.close()


def read(
    conn: Connection | Engine, statement: ClauseElement, params: Mapping[str, Any]
) -> list[Record]:
    """The rows of a query (built once, as for :func:`execute`).

    Args:
        conn: A connection the caller keeps open outside a transaction (a worker's): on
            SQLite the query runs as a read of its own, with no ``BEGIN`` and no lock;
            elsewhere in a transaction of its own, committed at once. Or an engine: on a
            connection from the pool, for reading (:func:`~brahmi.store.database.reading`).

    Raises:
        sqlalchemy.exc.DBAPIError: As ``conn.execute`` would.
    """
    if isinstance(conn, Engine):
        with reading(conn) as pooled:
            return execute(pooled, statement, params).rows
    if conn.dialect.name == "sqlite":
        return execute(conn, statement, params).rows
    with conn.begin():
        return execute(conn, statement, params).rows


def execute_many(
    conn: Connection, statement: ClauseElement, params: Sequence[Mapping[str, Any]]
) -> None:
    """Run ``statement`` (one that returns no rows) once for each of ``params``, in one
    call to the driver's ``executemany`` (see :func:`execute` for the rules).

    Raises:
        KeyError: A bind of the statement has no value in a mapping nor in the statement.
        sqlalchemy.exc.DBAPIError: As ``conn.execute`` would.
    """
    if not params:
        return
    compiled = _CACHE.get((conn.dialect.name, id(statement))) or _compiled(conn, statement)
    rows: list[Any] = []
    for one in params:
        values = {**compiled.defaults, **one} if compiled.defaults else one
        encoded = [values[n] for n in compiled.names]
        for i in compiled.json_at:
            if (v := encoded[i]) is not None:
                encoded[i] = dumps(v)
        rows.append(
            encoded if compiled.positional else dict(zip(compiled.names, encoded, strict=True))
        )
    run_many(conn, compiled.sql, rows)


def run_many(conn: Connection, sql: str, rows: list[Any]) -> None:
    """The driver's ``executemany`` of ``sql`` over ``rows`` (each in the driver's
    paramstyle) in ``conn``'s transaction, errors raised as SQLAlchemy's."""
    cursor = cursor_of(conn)
    try:
        cursor.executemany(sql, rows)
    except conn.dialect.loaded_dbapi.Error as exc:
        raise wrapped(conn, exc, sql, rows) from exc
    finally:
        cursor.close()


def cursor_of(conn: Connection) -> Any:
    """A DBAPI cursor on ``conn``'s connection (in its transaction); close it after use."""
    # The driver's own connection (the pool's proxy would add a call per statement).
    raw = conn.connection.dbapi_connection
    assert raw is not None
    return raw.cursor()


def wrapped(conn: Connection, exc: Exception, sql: str, params: Any) -> Exception:
    """``exc``, raised by the driver, as SQLAlchemy would raise it."""
    return DBAPIError.instance(sql, params, exc, conn.dialect.loaded_dbapi.Error)


def _compiled(conn: Connection, statement: ClauseElement) -> _Compiled:
    key = (conn.dialect.name, id(statement))
    found = _CACHE.get(key)
    if found is None:
        compiled = cast(SQLCompiler, statement.compile(dialect=conn.dialect))
        positional = conn.dialect.paramstyle in _POSITIONAL
        binds = {name: bind for bind, name in compiled.bind_names.items()}
        names = tuple(compiled.positiontup or ()) if positional else tuple(binds)
        json_names = frozenset(name for name, b in binds.items() if isinstance(b.type, JSON))
        found = _Compiled(
            sql=compiled.string,
            names=names,
            positional=positional,
            defaults={name: b.value for name, b in binds.items() if not b.required},
            json=json_names,
            json_at=tuple(i for i, name in enumerate(names) if name in json_names),
            columns=[],
        )
        # Keep the statement alive with its entry, so its id is never reused.
        _CACHE[key] = found
        _KEEP.append(statement)
    return found


_KEEP: list[ClauseElement] = []


def typed(conn: Connection | Engine, table: Table, rows: list[Record]) -> list[Record]:
    """``rows`` of ``table`` read by :func:`execute`, with JSON and boolean columns decoded
    as ``conn.execute`` would have returned them (in place; also returned)."""
    if conn.dialect.name != "sqlite":
        return rows  # psycopg decodes JSONB and booleans itself
    json_columns, bool_columns = _decoders(table)
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
