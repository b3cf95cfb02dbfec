"""usage: tokens and cost per agent run, question and planner turn

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "usage",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=True),
        sa.Column("attempt_id", sa.String(length=64), nullable=True),
        sa.Column("planner_session_id", sa.String(length=36), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("executor", sa.String(length=64), nullable=True),
        sa.Column("session_ref", sa.String(length=255), nullable=True),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("session_cost_usd", sa.Float(), nullable=True),
        sa.Column("turns", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_usage_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage")),
    )
    op.create_index("ix_usage_project", "usage", ["project_id"])
    op.create_index("ix_usage_task", "usage", ["task_id"])
    op.create_index("ix_usage_session", "usage", ["session_ref"])
    op.create_index("ix_usage_planner_session", "usage", ["planner_session_id"])


def downgrade() -> None:
    op.drop_index("ix_usage_planner_session", table_name="usage")
    op.drop_index("ix_usage_session", table_name="usage")
    op.drop_index("ix_usage_task", table_name="usage")
    op.drop_index("ix_usage_project", table_name="usage")
    op.drop_table("usage")
