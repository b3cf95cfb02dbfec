"""The Alembic migrations build exactly the schema the code declares, on both backends."""

from __future__ import annotations

import contextlib
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

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


def _sqlite_schema(path: Path) -> dict[str, object]:
    """Every table's columns, foreign keys and indexes, the full-text tables' definitions
    and settings, and the stamped revision of a SQLite file; column order left out (the
    migrations add later columns at the end of their table)."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        schema: dict[str, object] = {}
        for kind, name, sql in conn.execute("SELECT type, name, sql FROM sqlite_master"):
            if kind == "index":
                schema[f"index {name}"] = sql
                continue
            if kind != "table" or name.startswith("sqlite_"):
                continue
            columns = sorted(r[1:] for r in conn.execute(f"PRAGMA table_info('{name}')"))
            keys = sorted(r[2:] for r in conn.execute(f"PRAGMA foreign_key_list('{name}')"))
            indexes = sorted(
                (r[1], r[2], r[3], [c[2] for c in conn.execute(f"PRAGMA index_info('{r[1]}')")])
                for r in conn.execute(f"PRAGMA index_list('{name}')")
            )
            schema[f"table {name}"] = (columns, keys, indexes, sql if "VIRTUAL" in sql else None)
        schema["fts settings"] = conn.execute("SELECT * FROM skills_fts_config").fetchall()
        schema["revision"] = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    return schema


def test_a_new_sqlite_file_gets_the_schema_the_migrations_build(tmp_path: Path) -> None:
    migrated = database.create_db_engine(database.sqlite_url(tmp_path / "migrated.db"))
    created = database.create_db_engine(database.sqlite_url(tmp_path / "created.db"))
    try:
        database.upgrade(migrated)
        database.ensure_schema(created)  # a new file: created from the models and stamped
        assert _sqlite_schema(tmp_path / "migrated.db") == _sqlite_schema(tmp_path / "created.db")
        assert database.current_revision(created) == database.head_revision()
        with created.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={"include_name": lambda name, kind, _: kind != "table" or is_declared(name)},
            )
            assert compare_metadata(context, metadata) == []
    finally:
        migrated.dispose()
        created.dispose()


def _postgres_indexes(url: str) -> dict[str, str]:
    """Each index of the declared tables: its name → PostgreSQL's own definition of it
    (columns, uniqueness and a partial index's ``WHERE``, which Alembic's comparison
    leaves out)."""
    engine = database.create_db_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT tablename, indexname, indexdef FROM pg_indexes"
                    " WHERE schemaname = 'public'"
                )
            ).all()
    finally:
        engine.dispose()
    return {
        name: sql for table, name, sql in rows if table != "alembic_version" and is_declared(table)
    }


@pytest.mark.postgres
def test_postgresql_indexes_after_the_migrations_are_the_declared_ones(
    postgres_databases: PostgresDatabases,
) -> None:
    migrated = postgres_databases.create()  # the session's template: every migration run
    created = f"brahmi_created_{uuid.uuid4().hex[:12]}"
    postgres_databases.execute(f'CREATE DATABASE "{created}"')
    try:
        engine = database.create_db_engine(postgres_databases.url_of(created))
        try:
            metadata.create_all(engine)
        finally:
            engine.dispose()
        declared = _postgres_indexes(postgres_databases.url_of(created))
        assert "WHERE ((status)::text = 'ready'::text)" in declared["ix_tasks_ready"]
        assert _postgres_indexes(postgres_databases.url_of(migrated)) == declared
    finally:
        postgres_databases.drop(created)
        postgres_databases.drop(migrated)


def test_the_head_revision_brahmi_knows_is_the_migrations_head() -> None:
    assert database.head_revision() == database.HEAD_REVISION


def test_an_older_sqlite_file_is_migrated_not_recreated(tmp_path: Path) -> None:
    engine = database.create_db_engine(database.sqlite_url(tmp_path / "brahmi.db"))
    try:
        database.upgrade(engine, "0006")
        database.ensure_schema(engine)
        assert database.current_revision(engine) == database.HEAD_REVISION
        assert "planner_sessions" in set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
