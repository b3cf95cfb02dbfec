"""a page of one status in listing order: ix_tasks_project_status ends with the order

``GET …/tasks?status=failed&limit=100`` walked ``ix_tasks_project_order`` until it had its
page: the whole project for a rare status (21 ms at 100,000 tasks, growing with the
project). ``ix_tasks_project_status`` (project, status, runtime) gains the listing order
(``task_order``, ``created_at``, ``id``), so a page of one status reads, for each runtime,
its first rows in order. It still leads with (project, status, runtime) and covers
``/metrics``' count of tasks by status and runtime, and a task still has one entry in it.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 20:20:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_project_status")
        batch_op.create_index(
            "ix_tasks_project_status",
            ["project_id", "status", "runtime", "task_order", "created_at", "id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_project_status")
        batch_op.create_index(
            "ix_tasks_project_status", ["project_id", "status", "runtime"], unique=False
        )
