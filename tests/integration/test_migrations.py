"""The Alembic migrations build exactly the schema the code declares, on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from brahmi.store import database
from brahmi.store.tables import is_declared, metadata
from tests.postgres import PostgresDatabases


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database: a new SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield database.sqlite_url(tmp_path / "brahmi.db")
        return
    databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
    name = f"brahmi_empty_{abs(hash(request.node.nodeid)) % 10**8}"
    databases.drop(name)
    databases.execute(f'CREATE DATABASE "{name}"')
    yield databases.url_of(name)
    databases.drop(name)


def test_upgrading_an_empty_database_matches_the_declared_tables(empty_url: str) -> None:
    engine = database.create_db_engine(empty_url)
    try:
        database.upgrade(engine)
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={"include_name": lambda name, kind, _: kind != "table" or is_declared(name)},
            )
            diff = compare_metadata(context, metadata)
        assert diff == []
        assert database.current_revision(engine) == database.head_revision()
    finally:
        engine.dispose()


def test_ensure_schema_migrates_once_and_then_leaves_the_database_alone(empty_url: str) -> None:
    engine = database.create_db_engine(empty_url)
    try:
        assert database.current_revision(engine) is None
        database.ensure_schema(engine)
        tables = set(inspect(engine).get_table_names())
        assert {"projects", "tasks", "task_dependencies", "attempts", "events", "batches"} <= tables
        assert {"skills", "skill_sources", "skill_tags", "skills_fts", "workers"} <= tables
        database.ensure_schema(engine)
        assert database.current_revision(engine) == database.head_revision()
    finally:
        engine.dispose()


def test_downgrading_to_the_previous_revision_and_back_works(empty_url: str) -> None:
    engine = database.create_db_engine(empty_url)
    try:
        database.upgrade(engine)
        from alembic import command

        config = database._alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "-1")
        assert database.current_revision(engine) != database.head_revision()
        database.upgrade(engine)
        assert "workers" in set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    engine = database.create_db_engine(database.sqlite_url(tmp_path / "brahmi.db"))
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()
