"""The Alembic migrations build exactly the schema the code declares."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from brahmi.store import database
from brahmi.store.tables import is_declared, metadata


def test_upgrading_an_empty_database_matches_the_declared_tables(tmp_path: Path) -> None:
    engine = database.create_db_engine(database.sqlite_url(tmp_path / "brahmi.db"))
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


def test_ensure_schema_migrates_once_and_then_leaves_the_database_alone(tmp_path: Path) -> None:
    engine = database.create_db_engine(database.sqlite_url(tmp_path / "brahmi.db"))
    try:
        assert database.current_revision(engine) is None
        database.ensure_schema(engine)
        tables = set(inspect(engine).get_table_names())
        assert {"projects", "tasks", "task_dependencies", "attempts", "events", "batches"} <= tables
        assert {"skills", "skill_sources", "skill_tags", "skills_fts"} <= tables
        database.ensure_schema(engine)
        assert database.current_revision(engine) == database.head_revision()
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
