"""planner sessions, triggers, conversation, and the batches planners created

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21 22:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "planner_sessions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("planner_skill_id", sa.String(length=255), nullable=False),
        sa.Column("session_ref", sa.String(length=255), nullable=True),
        sa.Column("current_trigger_id", sa.Integer(), nullable=True),
        sa.Column("lease_owner", sa.String(length=255), nullable=True),
        sa.Column("lease_expires_at", sa.Float(), nullable=True),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_planner_sessions_project_id_projects"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_planner_sessions")),
    )
    op.create_index(
        "ix_planner_sessions_project_skill",
        "planner_sessions",
        ["project_id", "planner_skill_id"],
        unique=True,
    )
    op.create_table(
        "planner_triggers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("task_id", sa.String(length=36), nullable=True),
        sa.Column("task_status", sa.String(length=16), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("deliveries", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=True),
        sa.Column("finished_at", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["planner_sessions.id"],
            name=op.f("fk_planner_triggers_session_id_planner_sessions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_planner_triggers")),
    )
    op.create_index(
        "ix_planner_triggers_session", "planner_triggers", ["session_id", "status", "id"]
    )
    op.create_table(
        "planner_messages",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("trigger_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["planner_sessions.id"],
            name=op.f("fk_planner_messages_session_id_planner_sessions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_planner_messages")),
    )
    op.create_index("ix_planner_messages_session", "planner_messages", ["session_id", "id"])
    op.create_index("ix_planner_messages_project", "planner_messages", ["project_id", "id"])
    op.create_table(
        "planner_batches",
        sa.Column("batch_id", sa.String(length=36), nullable=False),
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("trigger_id", sa.Integer(), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batches.id"], name=op.f("fk_planner_batches_batch_id_batches")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["planner_sessions.id"],
            name=op.f("fk_planner_batches_session_id_planner_sessions"),
        ),
        sa.PrimaryKeyConstraint("batch_id", name=op.f("pk_planner_batches")),
    )
    op.create_index("ix_planner_batches_trigger", "planner_batches", ["trigger_id", "content_hash"])
    op.create_index("ix_planner_batches_session", "planner_batches", ["session_id"])
    with op.batch_alter_table("tokens") as batch:
        batch.add_column(sa.Column("planner_session_id", sa.String(length=36), nullable=True))


def downgrade() -> None:

    with op.batch_alter_table("tokens") as batch:
        batch.drop_column("planner_session_id")

    op.drop_index("ix_planner_batches_session", table_name="planner_batches")
    op.drop_index("ix_planner_batches_trigger", table_name="planner_batches")
    op.drop_table("planner_batches")
    op.drop_index("ix_planner_messages_project", table_name="planner_messages")
    op.drop_index("ix_planner_messages_session", table_name="planner_messages")
    op.drop_table("planner_messages")
    op.drop_index("ix_planner_triggers_session", table_name="planner_triggers")
    op.drop_table("planner_triggers")
    op.drop_index("ix_planner_sessions_project_skill", table_name="planner_sessions")
    op.drop_table("planner_sessions")
