"""Real PostgreSQL for tests: one migrated template, one fresh database per test.

``BRAHMI_TEST_DATABASE_URL`` names a server and a database the tests may connect to
(``postgresql+psycopg://postgres@127.0.0.1:5432/test``); ``.ci/run`` sets it when a server
answers on 127.0.0.1:5432. Without it, PostgreSQL tests skip with that reason. The template
is migrated once per test session; each test gets ``CREATE DATABASE … TEMPLATE …`` (a file
copy, milliseconds) and the database is dropped after the test.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from brahmi.store.database import create_db_engine, upgrade

ENV = "BRAHMI_TEST_DATABASE_URL"
SKIP_REASON = (
    f"{ENV} is not set (a PostgreSQL URL, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)"
)


def server_url() -> str | None:
    """The test server's URL from the environment, or None."""
    return os.environ.get(ENV) or None


class PostgresDatabases:
    """Creates and drops databases on the test server."""

    def __init__(self, url: str) -> None:
        self.url = make_url(url)
        self.admin = create_engine(self.url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        self.template = f"brahmi_tpl_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        self.execute(f'CREATE DATABASE "{self.template}"')
        engine = create_db_engine(self.url_of(self.template))
        try:
            upgrade(engine)
        finally:
            engine.dispose()

    def url_of(self, name: str) -> str:
        """The SQLAlchemy URL of database ``name`` on the server."""
        return self.url.set(database=name).render_as_string(hide_password=False)

    def create(self) -> str:
        """A new migrated database; returns its name."""
        name = f"brahmi_t_{uuid.uuid4().hex[:12]}"
        self.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        return name

    def drop(self, name: str) -> None:
        """Drop a database, ending any connection still open to it."""
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        """Drop the template and let go of the server."""
        self.drop(self.template)
        self.admin.dispose()

    def execute(self, sql: str) -> None:
        """Run one statement on the server (outside a transaction)."""
        with self.admin.connect() as conn:
            conn.execute(text(sql))


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[PostgresDatabases]:
    """The session's database factory; skips when no test server is configured."""
    url = server_url()
    if url is None:
        pytest.skip(SKIP_REASON)
    databases = PostgresDatabases(url)
    yield databases
    databases.close()


@pytest.fixture
def postgres_url(postgres_databases: PostgresDatabases) -> Iterator[str]:
    """The URL of a fresh, migrated PostgreSQL database, dropped after the test."""
    name = postgres_databases.create()
    yield postgres_databases.url_of(name)
    postgres_databases.drop(name)
