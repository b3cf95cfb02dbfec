"""Settings, read from the environment with sensible defaults.

| variable | meaning | default |
| --- | --- | --- |
| ``BRAHMI_HOME`` | where the database, transcripts and skills live | the user data dir |
| ``BRAHMI_DATABASE_URL`` | a PostgreSQL URL instead of the embedded SQLite | unset |
| ``BRAHMI_CONCURRENCY`` | agent runs at once per worker | 4 |
| ``BRAHMI_EXECUTOR`` | runtime for skills that name none | ``claude-code`` |
| ``BRAHMI_IDLE_TIMEOUT`` | seconds without agent output before a run is ended | 900 |
| ``BRAHMI_LEASE_S`` | seconds a claim holds a task without a heartbeat | 30 |
| ``BRAHMI_HEARTBEAT_S`` | seconds between a worker's heartbeats | 2 |
| ``BRAHMI_POLL_S`` | seconds an idle worker waits before looking for work unasked | 0.5 |
| ``BRAHMI_SKILL_DIRS`` | extra skill folders (``DIR[=owner/repo]``), one per line | unset |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

from brahmi import errors


@dataclass(frozen=True, slots=True)
class Settings:
    """How this Brahmi process runs. Durations are seconds."""

    #: Folder for the SQLite database, transcripts and cloned skills.
    home: Path
    #: SQLAlchemy URL; None means SQLite at ``home/brahmi.db``.
    database_url: str | None = None
    #: Agent runs at once in one worker.
    concurrency: int = 4
    #: Runtime for tasks whose skill and project name none (DESIGN §6).
    default_executor: str = "claude-code"
    #: Runtime forced for every task (``brahmi run --executor``).
    forced_executor: str | None = None
    #: A run with no output for this long is ended (DESIGN §3).
    idle_timeout_s: float = 900.0
    #: How long a claim holds a task without a heartbeat.
    lease_s: float = 30.0
    #: How often a worker extends its leases and checks for cancellations.
    heartbeat_interval_s: float = 2.0
    #: How often an idle worker looks for work without being woken.
    poll_interval_s: float = 0.5
    #: How often a SQLite worker writes the growing WAL to disk in the background, so a
    #: checkpoint's sync does not stall it (store/wal_writeback.py); 0 turns it off.
    wal_writeback_s: float = 0.01
    #: Local skill folders (``DIR`` or ``DIR=owner/repo``).
    skill_dirs: tuple[str, ...] = field(default_factory=tuple)
    #: Where agents reach Brahmi's API and MCP while ``brahmi serve`` runs (``BRAHMI_URL``).
    server_url: str | None = None
    #: The runtimes a worker claims tasks for (``brahmi worker --runtime``); None: any.
    worker_runtimes: tuple[str, ...] | None = None
    #: The longest wait for an answer to ``resume_task(mode="qa")`` (DESIGN §8).
    question_timeout_s: float = 300.0

    @property
    def url(self) -> str:
        """The database URL in effect."""
        return self.database_url or f"sqlite:///{self.home / 'brahmi.db'}"

    @property
    def transcripts_dir(self) -> Path:
        """Where attempt transcripts are written."""
        return self.home / "transcripts"

    def tool_env(self) -> dict[str, str]:
        """The variables a tool server started for an agent (``brahmi mcp``) needs to open
        this database: ``BRAHMI_HOME`` and, when set, ``BRAHMI_DATABASE_URL``."""
        env = {"BRAHMI_HOME": str(self.home)}
        if self.database_url:
            env["BRAHMI_DATABASE_URL"] = self.database_url
        if self.skill_dirs:
            env["BRAHMI_SKILL_DIRS"] = "\n".join(self.skill_dirs)
        return env

    def with_(self, **changes: object) -> Settings:
        """A copy with some fields changed."""
        return replace(self, **changes)  # type: ignore[arg-type]


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from ``environ`` (default: the process environment).

    Raises:
        BrahmiError: ``invalid_setting`` when a number does not parse.
    """
    env = os.environ if environ is None else environ
    home = Path(env.get("BRAHMI_HOME") or _default_home()).expanduser()
    return Settings(
        home=home,
        database_url=env.get("BRAHMI_DATABASE_URL") or None,
        concurrency=_number(env, "BRAHMI_CONCURRENCY", 4, int),
        default_executor=env.get("BRAHMI_EXECUTOR") or "claude-code",
        idle_timeout_s=_number(env, "BRAHMI_IDLE_TIMEOUT", 900.0, float),
        lease_s=_number(env, "BRAHMI_LEASE_S", 30.0, float),
        heartbeat_interval_s=_number(env, "BRAHMI_HEARTBEAT_S", 2.0, float),
        poll_interval_s=_number(env, "BRAHMI_POLL_S", 0.5, float),
        wal_writeback_s=_number(env, "BRAHMI_WAL_WRITEBACK_S", 0.01, float, zero=True),
        skill_dirs=tuple(
            line for line in (env.get("BRAHMI_SKILL_DIRS") or "").splitlines() if line.strip()
        ),
    )


N = TypeVar("N", int, float)


def _number(
    env: Mapping[str, str], key: str, default: N, kind: type[N], *, zero: bool = False
) -> N:
    """``env[key]`` as a positive number (or 0 too, with ``zero``: "off"), ``default``
    when unset or empty."""
    raw = env.get(key)
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise errors.BrahmiError(f"{key}={raw!r} is not a number") from None
    if value < 0 or (value == 0 and not zero):
        wanted = "0 (off) or positive" if zero else "positive"
        raise errors.BrahmiError(f"{key} must be {wanted}, not {raw}")
    return value


def _default_home() -> str:
    """The user data folder (platformdirs, imported only when BRAHMI_HOME is not set)."""
    from platformdirs import user_data_dir

    return user_data_dir("brahmi", appauthor=False)
