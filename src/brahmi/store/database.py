"""Opening the database: SQLite (WAL) by default, PostgreSQL by URL (DESIGN §9).

SQLite runs in WAL mode with ``synchronous=NORMAL``: a committed transaction survives a
crash of the process; after a power loss the last commits may be lost, never the file's
consistency. Write transactions begin with ``BEGIN IMMEDIATE`` so that two processes on
one file queue for the write lock instead of failing half-way.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, InterfaceError, NoSuchModuleError, OperationalError

from brahmi import errors

#: How long a SQLite connection waits for another writer, in seconds.
SQLITE_BUSY_TIMEOUT_S = 30.0
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
#: What a database that is down, restarting or unreachable raises mid-operation: workers
#: back off and retry, REST answers 503 (DESIGN §9, issue 8 "bad input").
OUTAGE_ERRORS: tuple[type[Exception], ...] = (
    OperationalError,
    InterfaceError,
    errors.StoreUnavailable,
)


def sqlite_url(path: Path) -> str:
    """The SQLAlchemy URL of a SQLite file."""
    return f"sqlite:///{path}"


def create_db_engine(url: str) -> Engine:
    """Create an engine for ``url`` with Brahmi's connection settings.

    Args:
        url: ``sqlite:///PATH`` or ``postgresql+psycopg://…``.

    Raises:
        StoreUnavailable: When the URL's driver is not installed.
    """
    try:
        make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise errors.StoreUnavailable(
            f"{url!r} is not a database URL; use postgresql+psycopg://USER@HOST:PORT/DB"
        ) from exc
    try:
        if url.startswith("sqlite"):
            engine = create_engine(
                url,
                connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_S},
                pool_size=8,
                max_overflow=8,
            )
            _configure_sqlite(engine)
            return engine
        from brahmi.store.tables import declare_postgresql_options

        declare_postgresql_options()
        return create_engine(url, pool_pre_ping=True, pool_size=8, max_overflow=8)
    except NoSuchModuleError as exc:  # postgres://, mysql://…
        raise errors.StoreUnavailable(
            f"{_safe(url)} names a database Brahmi does not use; "
            "use postgresql+psycopg://USER@HOST:PORT/DB"
        ) from exc
    except ImportError as exc:  # a driver that is not installed
        raise errors.StoreUnavailable(
            f"cannot open {_safe(url)}: {exc} (pip install 'psycopg[binary]')"
        ) from exc


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself (the documented pysqlite recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        raw = connection.connection.driver_connection
        assert isinstance(raw, sqlite3.Connection)
        if raw.in_transaction:  # begun by transaction() below, on the driver
            return
        immediate = connection._execution_options.get("sqlite_immediate", True)
        # Straight to the driver: through exec_driver_sql, BEGIN cost as much as a statement.
        raw.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")


def reading(engine: Engine) -> Connection:
    """A connection for reads only: on SQLite its transaction starts with a plain (deferred)
    ``BEGIN`` instead of ``BEGIN IMMEDIATE``, so it takes no write lock and never waits for
    a writer (WAL readers see the last commit). Use ``engine.begin()`` for anything that
    writes.
    """
    return engine.execution_options(sqlite_immediate=False).connect()


@contextlib.contextmanager
def transaction(connection: Connection) -> Iterator[Connection]:
    """A write transaction on a connection the caller keeps: committed when the block
    ends, rolled back if it raises (as ``engine.begin()``, without the pool's checkout).

    On SQLite the transaction is begun and ended on the driver's connection itself
    (``BEGIN IMMEDIATE`` … ``COMMIT``): SQLAlchemy's own begin and commit, with their
    events, cost a worker's hop as much as two of its statements. A statement run
    through SQLAlchemy inside the block joins the transaction (SQLAlchemy then ends it).
    """
    raw = connection.connection.driver_connection
    if not isinstance(raw, sqlite3.Connection) or connection.in_transaction():
        with connection.begin():
            yield connection
        return
    raw.execute("BEGIN IMMEDIATE")
    try:
        yield connection
    except BaseException:
        if connection.in_transaction():
            connection.rollback()
        else:
            raw.rollback()
        raise
    if connection.in_transaction():
        connection.commit()
    else:
        raw.commit()


def writing(
    engine: Engine, connection: Connection | None = None
) -> contextlib.AbstractContextManager[Connection]:
    """A write transaction: :func:`transaction` on ``connection``, a connection the caller
    keeps open outside a transaction (a worker's), else ``engine.begin()`` on one from the
    pool."""
    return engine.begin() if connection is None else transaction(connection)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply Alembic migrations up to ``revision`` (``brahmi db upgrade``).

    Raises:
        StoreUnavailable: When the database cannot be reached.
    """
    from alembic import command

    config = _alembic_config()
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    except OperationalError as exc:
        raise errors.StoreUnavailable(f"cannot migrate the database: {exc.orig}") from exc


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None when it was never migrated."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    """The newest revision this version of Brahmi ships."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


#: The newest revision of ``migrations/versions``, known without loading the scripts
#: (tests check that it is the scripts' head).
HEAD_REVISION = "0011"
#: The SQLite full-text indexes of the skill registry, which the table models leave out:
#: what migration 0003 creates.
SQLITE_FTS_DDL = (
    "CREATE VIRTUAL TABLE skills_fts USING fts5("
    "full_id UNINDEXED, name, description, tags, tokenize = 'porter unicode61')",
    "CREATE VIRTUAL TABLE skills_fts_body USING fts5("
    "full_id UNINDEXED, body, tokenize = 'porter unicode61')",
    "INSERT INTO skills_fts (skills_fts, rank) VALUES ('rank', 'bm25(0.0, 10.0, 4.0, 6.0)')",
)


def ensure_schema(engine: Engine) -> None:
    """Bring the database to this version of Brahmi's schema.

    A SQLite file at the head revision is left alone after one query (Alembic is not even
    imported); a new, empty one is created in one transaction from the table models and
    stamped with the head revision, the same schema the migrations build (a test compares
    the two); one at an older revision is migrated.
    """
    if engine.dialect.name == "sqlite":
        with engine.begin() as conn:
            found = _sqlite_revision(conn)
            if found == HEAD_REVISION:
                return
            if found is None and _sqlite_is_empty(conn):
                _create_sqlite_schema(conn)
                return
    if _reach(engine) != head_revision():
        upgrade(engine)


def _sqlite_revision(conn: Connection) -> str | None:
    raw = conn.connection.driver_connection
    assert raw is not None
    if not raw.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
    ).fetchone():
        return None
    row = raw.execute("SELECT version_num FROM alembic_version").fetchone()
    return None if row is None else str(row[0])


def _sqlite_is_empty(conn: Connection) -> bool:
    raw = conn.connection.driver_connection
    assert raw is not None
    return bool(raw.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0)


def _create_sqlite_schema(conn: Connection) -> None:
    """The head schema in a new SQLite file, in ``conn``'s transaction, stamped as head."""
    from brahmi.store.tables import metadata

    metadata.create_all(conn, checkfirst=False)
    raw = conn.connection.driver_connection
    assert raw is not None
    for statement in SQLITE_FTS_DDL:
        raw.execute(statement)
    # What Alembic's stamp writes.
    raw.execute(
        "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
        "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
    )
    raw.execute("INSERT INTO alembic_version (version_num) VALUES (?)", (HEAD_REVISION,))


def require_schema(engine: Engine) -> None:
    """Check that a shared database (PostgreSQL) is at this version's revision.

    Shared databases are never migrated behind an operator's back: many processes open
    them, and a migration is a deliberate step (``brahmi db upgrade``).

    Raises:
        StoreUnavailable: With a one-line message: the database cannot be reached, or is
            not at this version's revision (run ``brahmi db upgrade``).
    """
    found, head = _reach(engine), head_revision()
    if found != head:
        at = f"at revision {found}" if found else "not migrated"
        raise errors.StoreUnavailable(
            f"the database {_safe(str(engine.url))} is {at}; this Brahmi needs revision "
            f"{head}: run `brahmi db upgrade`"
        )


def _reach(engine: Engine) -> str | None:
    """The current revision, or a one-line StoreUnavailable when the server cannot be
    reached."""
    try:
        return current_revision(engine)
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise errors.StoreUnavailable(
            f"cannot reach the database {_safe(str(engine.url))}: {reason} "
            "(check BRAHMI_DATABASE_URL and that the server runs)"
        ) from exc


def _safe(url: str) -> str:
    """A URL with its password hidden, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "the database URL"


def _alembic_config() -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config
