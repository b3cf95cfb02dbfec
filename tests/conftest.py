"""Shared fixtures: a Brahmi instance on a real SQLite file in a temp folder.

A test module runs on both backends by overriding ``database_url`` with
``either_database`` (PostgreSQL skips without ``BRAHMI_TEST_DATABASE_URL``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from brahmi.config import Settings
from brahmi.service import Brahmi
from brahmi.testing import ScriptedRuntime, registry_with
from tests.fakes.anthropic_api import FakeAnthropicAPI
from tests.postgres import postgres_databases, postgres_url

__all__ = ["postgres_databases", "postgres_url"]


@pytest.fixture
def database_url() -> str | None:
    """The database URL of a test: None (SQLite under BRAHMI_HOME) unless a module overrides it."""
    return None


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def either_database(request: pytest.FixtureRequest) -> str | None:
    """None for SQLite, then the URL of a fresh PostgreSQL database (skips without one)."""
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def settings(tmp_path: Path, database_url: str | None) -> Settings:
    """Settings for an isolated BRAHMI_HOME, with fast polling and the scripted runtime."""
    return Settings(
        home=tmp_path / "home",
        database_url=database_url,
        forced_executor="scripted",
        concurrency=4,
        poll_interval_s=0.02,
        heartbeat_interval_s=0.1,
        lease_s=5.0,
    )


@pytest.fixture
def runtime() -> ScriptedRuntime:
    """The scripted runtime the engine uses in these tests."""
    return ScriptedRuntime()


@pytest.fixture
def brahmi(settings: Settings, runtime: ScriptedRuntime) -> Iterator[Brahmi]:
    """A Brahmi on a real SQLite file whose tasks run on ``runtime``."""
    instance = Brahmi(settings, runtimes=registry_with(runtime))
    yield instance
    instance.close()


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """An empty project workspace."""
    folder = tmp_path / "workspace"
    folder.mkdir()
    return folder


@pytest.fixture
def anthropic_api() -> Iterator[FakeAnthropicAPI]:
    """A local fake of the Anthropic Messages API (see tests/fakes/anthropic_api.py)."""
    api = FakeAnthropicAPI().start()
    yield api
    api.stop()
