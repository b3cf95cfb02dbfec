"""Opening the database: SQLite (WAL) by default, PostgreSQL by URL (DESIGN §9).

SQLite runs in WAL mode with ``synchronous=NORMAL``: a committed transaction survives a
crash of the process; after a power loss the last commits may be lost, never the file's
consistency. Write transactions begin with ``BEGIN IMMEDIATE`` so that two processes on
one file queue for the write lock instead of failing half-way.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import InterfaceError, OperationalError

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
        if url.startswith("sqlite"):
            engine = create_engine(
                url,
                connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_S},
                pool_size=8,
                max_overflow=8,
            )
            _configure_sqlite(engine)
            return engine
        return create_engine(url, pool_pre_ping=True, pool_size=8, max_overflow=8)
    except ImportError as exc:  # a driver that is not installed
        raise errors.StoreUnavailable(f"cannot open {url!r}: {exc}") from exc


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
        immediate = connection.get_execution_options().get("sqlite_immediate", True)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


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


def ensure_schema(engine: Engine) -> None:
    """Migrate the database when it is behind this version of Brahmi."""
    if current_revision(engine) != head_revision():
        upgrade(engine)


def _alembic_config() -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config
