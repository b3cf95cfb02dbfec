"""The database schema (DESIGN §1, §9), as SQLAlchemy Core tables.

Timestamps are Unix seconds (UTC) in ``*_at`` float columns: one representation on SQLite
and PostgreSQL, cheap to compare in claim queries. JSON columns become JSONB on PostgreSQL.
Transcripts are files referenced from ``attempts.transcript_path``, never stored here.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    event,
    literal_column,
)
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeEngine

from brahmi.domain.status import TaskStatus

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class _Jsonb(TypeDecorator[Any]):
    """PostgreSQL's JSONB (``none_as_null``), its dialect module imported only when a
    PostgreSQL engine first compiles or binds the column: importing
    ``sqlalchemy.dialects.postgresql`` up front cost every SQLite command ~20-30 ms."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        from sqlalchemy.dialects.postgresql import JSONB

        return dialect.type_descriptor(JSONB(none_as_null=True))


#: JSON (JSONB on PostgreSQL); Python None is stored as SQL NULL, not as JSON null.
Json = JSON(none_as_null=True).with_variant(_Jsonb(none_as_null=True), "postgresql")
Id = String(36)
#: Attempt ids are ``<task id>:<number>``.
AttemptId = String(64)

projects = Table(
    "projects",
    metadata,
    Column("id", Id, primary_key=True),
    Column("name", String(255), nullable=False),
    Column("workspace", Text, nullable=False, unique=True),
    Column("settings", Json, nullable=False, default=dict),
    Column("created_at", Float, nullable=False),
)

batches = Table(
    "batches",
    metadata,
    Column("id", Id, primary_key=True),
    Column("project_id", Id, ForeignKey("projects.id"), nullable=False),
    #: Where the batch came from: ``plan:<path>``, ``mcp``, ``api``…
    Column("source", Text, nullable=True),
    #: sha256 of the canonical JSON of the submitted specs (finds a resubmitted plan).
    Column("content_hash", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Index("ix_batches_project_hash", "project_id", "content_hash"),
)

tasks = Table(
    "tasks",
    metadata,
    Column("id", Id, primary_key=True),
    Column("project_id", Id, ForeignKey("projects.id"), nullable=False),
    Column("user_id", String(255), nullable=False),
    Column("parent_id", Id, ForeignKey("tasks.id"), nullable=True),
    Column("position", Integer, nullable=True),
    #: The batch the task was created in, and its id there (``unique_id`` or ``task_order``).
    Column("batch_id", Id, nullable=True),
    Column("batch_key", String(64), nullable=True),
    Column("skill_id", String(255), nullable=False),
    Column("skill_version", String(128), nullable=True),
    #: The runtime chosen when the task was created (DESIGN §6); a worker claims only the
    #: tasks whose runtime it has. NULL (older rows): chosen when it runs.
    Column("runtime", String(64), nullable=True),
    Column("task_name", String(255), nullable=False),
    Column("description", Text, nullable=False),
    Column("task_order", Integer, nullable=False),
    Column("inputs", Json, nullable=False),
    Column("validation_criteria", Json, nullable=False),
    Column("timeout_seconds", Integer, nullable=False),
    Column("max_attempts", Integer, nullable=False),
    Column("max_rebuilds", Integer, nullable=False),
    Column("is_qa", Boolean, nullable=False, default=False),
    Column("status", String(16), nullable=False),
    Column("outputs", Json, nullable=True),
    Column("error", Text, nullable=True),
    Column("error_code", String(64), nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("rebuilds", Integer, nullable=False, default=0),
    Column("session_ref", String(255), nullable=True),
    Column("subtasks_completed", Boolean, nullable=False, default=False),
    #: Whether sub-tasks were ever added (read on every completion, so kept on the row).
    Column("has_subtasks", Boolean, nullable=False, server_default="0"),
    #: ``attempts`` when the task was last reset (retry, rebuild, resume): the
    #: infrastructure-retry limit counts attempts since then.
    Column("attempt_base", Integer, nullable=False, server_default="0"),
    #: A ``resume_task`` message waiting for the next run: ``{"message", "mode"}``.
    Column("pending_resume", Json, nullable=True),
    #: The attempt that holds the lease; only it may record a result (fencing).
    Column("current_attempt_id", AttemptId, nullable=True),
    Column("lease_owner", String(255), nullable=True),
    Column("lease_expires_at", Float, nullable=True),
    #: Earliest time a ``ready`` task may be claimed (retry backoff).
    Column("run_after", Float, nullable=False, default=0.0),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("started_at", Float, nullable=True),
    Column("finished_at", Float, nullable=True),
    #: A project's tasks by status; read whole, it covers ``/metrics``' count of every
    #: task by status and runtime (migration 0010); a page of one status reads it in
    #: listing order for each runtime (migration 0011).
    Index(
        "ix_tasks_project_status",
        "project_id",
        "status",
        "runtime",
        "task_order",
        "created_at",
        "id",
    ),
    Index("ix_tasks_parent", "parent_id", "position"),
    Index("ix_tasks_batch", "batch_id"),
    #: A project's tasks page by page, in claim order (``GET …/tasks?limit=&cursor=``).
    Index("ix_tasks_project_order", "project_id", "task_order", "created_at", "id"),
)


def has_status(status: TaskStatus) -> ColumnElement[bool]:
    """``tasks.status = '<status>'``, the status written into the SQL as a literal (one of
    :class:`TaskStatus`' fixed values, never a caller's text).

    Queries meant for a partial index below test the status this way: a query reaches a
    partial index only through the same test (on SQLite, a term of its ``WHERE``). A bound
    parameter works too, but makes SQLite plan the statement again at every execution
    (118 µs instead of 51 for a claim), and a PostgreSQL generic plan of a prepared
    statement cannot use the index at all.
    """
    return tasks.c.status == literal_column(f"'{TaskStatus(status).value}'")


#: The predicates of ``ix_tasks_ready`` and ``ix_tasks_running``.
IS_READY = has_status(TaskStatus.READY)
IS_RUNNING = has_status(TaskStatus.RUNNING)

#: Ready tasks in claim order, so a claim reads its LIMIT rows instead of sorting every
#: ready task (``run_after`` and ``runtime`` filtered from the index, never a table lookup).
#: Partial: only a task's change into or out of ``ready`` writes to it, and it holds the
#: ready tasks only (migration 0010; it was ``ix_tasks_claim`` on every task, by status).
_READY_INDEX = Index(
    "ix_tasks_ready",
    tasks.c.task_order,
    tasks.c.created_at,
    tasks.c.id,
    tasks.c.run_after,
    tasks.c.runtime,
    sqlite_where=IS_READY,
)
#: Running tasks by lease holder: lease expiry and extension, a stopping worker's release,
#: each worker's count of held tasks. Partial, like ``ix_tasks_ready``.
_RUNNING_INDEX = Index("ix_tasks_running", tasks.c.lease_owner, sqlite_where=IS_RUNNING)


def declare_postgresql_options() -> None:
    """Give the partial indexes their PostgreSQL ``WHERE`` (idempotent).

    Declared when a PostgreSQL engine is made or PostgreSQL DDL is emitted, not at import:
    a ``postgresql_*`` option makes SQLAlchemy import the PostgreSQL dialect (~20 ms of
    every SQLite command's start-up).
    """
    for index, where in ((_READY_INDEX, IS_READY), (_RUNNING_INDEX, IS_RUNNING)):
        if index.dialect_kwargs.get("postgresql_where") is None:
            index.dialect_kwargs["postgresql_where"] = where


@event.listens_for(metadata, "before_create")
def _before_create(_target: MetaData, connection: Connection, **_kw: Any) -> None:
    if connection.dialect.name == "postgresql":
        declare_postgresql_options()


task_dependencies = Table(
    "task_dependencies",
    metadata,
    Column("task_id", Id, ForeignKey("tasks.id"), primary_key=True),
    Column("depends_on_id", Id, ForeignKey("tasks.id"), primary_key=True),
    Index("ix_task_dependencies_depends_on", "depends_on_id"),
)

task_critiques = Table(
    "task_critiques",
    metadata,
    Column("qa_task_id", Id, ForeignKey("tasks.id"), primary_key=True),
    Column("target_id", Id, ForeignKey("tasks.id"), primary_key=True),
    Index("ix_task_critiques_target", "target_id"),
)

attempts = Table(
    "attempts",
    metadata,
    Column("id", AttemptId, primary_key=True),
    Column("task_id", Id, ForeignKey("tasks.id"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("worker_id", String(255), nullable=False),
    Column("executor", String(64), nullable=True),
    #: ``running``, ``succeeded``, ``failed``, ``discarded`` (fenced out) or ``expired``.
    Column("status", String(16), nullable=False),
    Column("skill_version", String(128), nullable=True),
    Column("error", Text, nullable=True),
    Column("transcript_path", Text, nullable=True),
    #: The agent's process (and process group) id, to stop it if its worker dies.
    Column("process_id", Integer, nullable=True),
    Column("usage", Json, nullable=True),
    Column("started_at", Float, nullable=False),
    Column("finished_at", Float, nullable=True),
    Index("ix_attempts_task", "task_id", "number"),
    #: Covers ``/metrics``' count of attempts by status and executor (migration 0008).
    Index("ix_attempts_status_executor", "status", "executor"),
)

task_history = Table(
    "task_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("task_id", Id, ForeignKey("tasks.id"), nullable=False),
    #: ``verdict`` (a QA turn), ``rebuild`` (feedback received), ``resume``, ``retry``.
    Column("kind", String(16), nullable=False),
    #: The correctness-loop turn (1-based) for verdicts and rebuilds.
    Column("turn", Integer, nullable=True),
    Column("data", Json, nullable=False),
    Column("created_at", Float, nullable=False),
    Index("ix_task_history_task", "task_id", "id"),
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project_id", Id, nullable=True),
    Column("task_id", Id, nullable=True),
    #: ``task_created``, ``status_changed``, ``outputs``, ``verdict``, ``result_discarded``…
    Column("kind", String(64), nullable=False),
    Column("data", Json, nullable=False),
    Column("created_at", Float, nullable=False),
    Index("ix_events_project", "project_id", "id"),
)

skill_sources = Table(
    "skill_sources",
    metadata,
    Column("id", Id, primary_key=True),
    #: ``builtin``, ``local`` (a folder) or ``git`` (a clone under BRAHMI_HOME).
    Column("kind", String(16), nullable=False),
    #: The folder, or the git URL, as given.
    Column("location", Text, nullable=False),
    Column("owner_repo", String(255), nullable=False),
    #: Where the skills are read from (the folder, or the clone).
    Column("path", Text, nullable=False),
    Column("ref", String(255), nullable=True),
    Column("commit", String(64), nullable=True),
    Column("added_at", Float, nullable=False),
    Column("indexed_at", Float, nullable=True),
    Index("ix_skill_sources_location", "location", unique=True),
)

skills = Table(
    "skills",
    metadata,
    Column("full_id", String(255), primary_key=True),
    Column("source_id", Id, ForeignKey("skill_sources.id"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("description", Text, nullable=False),
    Column("category", String(64), nullable=True),
    #: Lower-cased category, for exact case-insensitive filtering.
    Column("category_key", String(64), nullable=True),
    Column("tags", Json, nullable=False),
    Column("version", String(128), nullable=False),
    Column("path", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("runtime", String(64), nullable=True),
    Column("command", Text, nullable=True),
    Column("license", String(255), nullable=True),
    Column("commit", String(64), nullable=True),
    Column("skill_metadata", Json, nullable=False),
    Column("resources", Json, nullable=False),
    Column("indexed_at", Float, nullable=False),
    Index("ix_skills_category", "category_key"),
    Index("ix_skills_name", "name"),
    Index("ix_skills_source", "source_id"),
)

skill_tags = Table(
    "skill_tags",
    metadata,
    Column("full_id", String(255), ForeignKey("skills.full_id"), primary_key=True),
    #: Lower-cased tag.
    Column("tag", String(128), primary_key=True),
    Index("ix_skill_tags_tag", "tag", "full_id"),
)

skill_problems = Table(
    "skill_problems",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source_id", Id, ForeignKey("skill_sources.id"), nullable=False),
    Column("file", Text, nullable=False),
    Column("line", Integer, nullable=True),
    Column("code", String(64), nullable=False),
    Column("message", Text, nullable=False),
    Index("ix_skill_problems_source", "source_id"),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", Id, primary_key=True),
    #: sha256 of the secret; the secret itself is shown once and never stored.
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("label", String(255), nullable=True),
    #: The one project the token may touch; NULL for every project.
    Column("project_id", Id, nullable=True),
    #: An agent's token: it may add sub-tasks under this task only.
    Column("task_id", Id, nullable=True),
    #: A planner's token (one turn): its calls act as this planner session (DESIGN §7).
    Column("planner_session_id", Id, nullable=True),
    Column("read_only", Boolean, nullable=False, default=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=True),
    Column("revoked", Boolean, nullable=False, default=False),
)

workers = Table(
    "workers",
    metadata,
    #: The id its leases carry (``host:pid:nonce``).
    Column("id", String(255), primary_key=True),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    #: The runtimes it claims tasks for; NULL for every runtime (in-process workers).
    Column("runtimes", Json, nullable=True),
    Column("concurrency", Integer, nullable=False),
    Column("started_at", Float, nullable=False),
    #: Its last heartbeat; a worker silent for longer than a lease is taken for dead.
    Column("heartbeat_at", Float, nullable=False),
    #: Set when it stopped cleanly.
    Column("stopped_at", Float, nullable=True),
    Index("ix_workers_heartbeat_at", "heartbeat_at"),
)

usage = Table(
    "usage",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project_id", Id, ForeignKey("projects.id"), nullable=False),
    Column("task_id", Id, nullable=True),
    Column("attempt_id", AttemptId, nullable=True),
    #: The planner session of a planner turn (filled by the planner actor), else NULL.
    Column("planner_session_id", Id, nullable=True),
    #: ``attempt`` (a task's run), ``question`` (resume_task qa) or ``planner`` (a turn).
    Column("kind", String(16), nullable=False),
    Column("executor", String(64), nullable=True),
    Column("session_ref", String(255), nullable=True),
    Column("input_tokens", Integer, nullable=False),
    Column("output_tokens", Integer, nullable=False),
    #: This run's cost in USD (its share, for a resumed session).
    Column("cost_usd", Float, nullable=False),
    #: The session's total cost in USD after this run, when the runtime reports one.
    Column("session_cost_usd", Float, nullable=True),
    Column("turns", Integer, nullable=True),
    Column("created_at", Float, nullable=False),
    Index("ix_usage_project", "project_id"),
    Index("ix_usage_task", "task_id"),
    Index("ix_usage_session", "session_ref"),
    Index("ix_usage_planner_session", "planner_session_id"),
)

planner_sessions = Table(
    "planner_sessions",
    metadata,
    Column("id", Id, primary_key=True),
    Column("project_id", Id, ForeignKey("projects.id"), nullable=False),
    #: The planner skill's full_id (one session per project and planner skill, DESIGN §7).
    Column("planner_skill_id", String(255), nullable=False),
    #: The planner agent's own session, resumed on each trigger.
    Column("session_ref", String(255), nullable=True),
    #: The trigger being handled; tools' batches are keyed by it (idempotent redelivery).
    Column("current_trigger_id", Integer, nullable=True),
    #: The planner actor that handles this session's triggers now (``host:pid:nonce``).
    Column("lease_owner", String(255), nullable=True),
    Column("lease_expires_at", Float, nullable=True),
    #: Usage of every turn so far.
    Column("input_tokens", Integer, nullable=False, default=0),
    Column("output_tokens", Integer, nullable=False, default=0),
    Column("cost_usd", Float, nullable=False, default=0.0),
    Column("last_error", Text, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Index("ix_planner_sessions_project_skill", "project_id", "planner_skill_id", unique=True),
)

planner_triggers = Table(
    "planner_triggers",
    metadata,
    #: Increasing: a session's triggers are handled in id order.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", Id, ForeignKey("planner_sessions.id"), nullable=False),
    #: ``user_message``, ``task_completed`` or ``wake_up``.
    Column("kind", String(32), nullable=False),
    #: The user message's conversation entry (``user_message``).
    Column("message_id", Integer, nullable=True),
    #: The task that settled and the status it reached (``task_completed``).
    Column("task_id", Id, nullable=True),
    Column("task_status", String(16), nullable=True),
    #: ``pending``, ``handling`` (delivered; delivered again if its handler died),
    #: ``done`` or ``failed``.
    Column("status", String(16), nullable=False),
    Column("deliveries", Integer, nullable=False, default=0),
    Column("error", Text, nullable=True),
    #: Usage of the planner turns that handled it (the usage of one planner request).
    Column("input_tokens", Integer, nullable=False, default=0),
    Column("output_tokens", Integer, nullable=False, default=0),
    Column("cost_usd", Float, nullable=False, default=0.0),
    Column("created_at", Float, nullable=False),
    Column("started_at", Float, nullable=True),
    Column("finished_at", Float, nullable=True),
    Index("ix_planner_triggers_session", "session_id", "status", "id"),
)

planner_messages = Table(
    "planner_messages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", Id, ForeignKey("planner_sessions.id"), nullable=False),
    Column("project_id", Id, nullable=False),
    #: ``user`` (the person), ``planner`` (``user_response``) or ``brahmi`` (a notice).
    Column("role", String(16), nullable=False),
    Column("text", Text, nullable=False),
    #: The trigger the message created (``user``) or was written while handling.
    Column("trigger_id", Integer, nullable=True),
    Column("created_at", Float, nullable=False),
    Index("ix_planner_messages_session", "session_id", "id"),
    Index("ix_planner_messages_project", "project_id", "id"),
)

planner_batches = Table(
    "planner_batches",
    metadata,
    #: A batch a planner session created through its tools: its top-level tasks report
    #: back to the session as ``task_completed`` triggers.
    Column("batch_id", Id, ForeignKey("batches.id"), primary_key=True),
    Column("session_id", Id, ForeignKey("planner_sessions.id"), nullable=False),
    #: The trigger being handled when it was created, and the content's hash: the same
    #: batch from a redelivered trigger returns the first one's ids.
    Column("trigger_id", Integer, nullable=True),
    Column("content_hash", String(64), nullable=False),
    Index("ix_planner_batches_trigger", "trigger_id", "content_hash"),
    Index("ix_planner_batches_session", "session_id"),
)

#: Tables the database has that the models do not declare: the full-text indexes of skills,
#: SQLite's FTS5 tables (``skills_fts``, ``skills_fts_body`` and their shadow tables,
#: migration 0003) or PostgreSQL's tsvector table (``skills_fts``, migration 0006).
#: Schema comparisons skip them.
FTS_TABLE = "skills_fts"


def is_declared(name: str) -> bool:
    """False for the full-text index tables, which live outside these models."""
    return not name.startswith(FTS_TABLE)
