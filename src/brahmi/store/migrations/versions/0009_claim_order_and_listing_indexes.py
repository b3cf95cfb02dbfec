"""claims read ready tasks in order from an index; a project's tasks listed page by page

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 15:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_claim")
        batch_op.create_index(
            "ix_tasks_claim",
            ["status", "task_order", "created_at", "id", "run_after"],
            unique=False,
        )
        batch_op.create_index(
            "ix_tasks_project_order",
            ["project_id", "task_order", "created_at", "id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_project_order")
        batch_op.drop_index("ix_tasks_claim")
        batch_op.create_index(
            "ix_tasks_claim", ["status", "run_after", "task_order", "created_at"], unique=False
        )
