"""fewer index pages per status change: partial indexes for ready and running tasks

Every change of a task's status rewrote its entry in three indexes led by status
(``ix_tasks_claim``, ``ix_tasks_project_status``, ``ix_tasks_status_runtime``), and every
event was filed in ``ix_events_task``, which no query of Brahmi reads. Now:

- ``ix_tasks_ready``: the claim order, on ready tasks only (``WHERE status = 'ready'``);
  ``ix_tasks_running``: running tasks by lease holder (``WHERE status = 'running'``). A
  change of status writes to them only into or out of those two statuses.
- ``ix_tasks_project_status`` gains ``runtime``: read whole, it covers ``/metrics``' count
  of tasks by status and runtime, so ``ix_tasks_status_runtime`` (0008) goes.
- ``ix_events_task`` goes.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 17:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_READY = sa.text("status = 'ready'")
_RUNNING = sa.text("status = 'running'")


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_claim")
        batch_op.drop_index("ix_tasks_status_runtime")
        batch_op.drop_index("ix_tasks_project_status")
        batch_op.create_index(
            "ix_tasks_ready",
            ["task_order", "created_at", "id", "run_after", "runtime"],
            unique=False,
            sqlite_where=_READY,
            postgresql_where=_READY,
        )
        batch_op.create_index(
            "ix_tasks_running",
            ["lease_owner"],
            unique=False,
            sqlite_where=_RUNNING,
            postgresql_where=_RUNNING,
        )
        batch_op.create_index(
            "ix_tasks_project_status", ["project_id", "status", "runtime"], unique=False
        )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_task")


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_task", ["task_id", "id"], unique=False)
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_project_status")
        batch_op.drop_index("ix_tasks_running")
        batch_op.drop_index("ix_tasks_ready")
        batch_op.create_index("ix_tasks_project_status", ["project_id", "status"], unique=False)
        batch_op.create_index("ix_tasks_status_runtime", ["status", "runtime"], unique=False)
        batch_op.create_index(
            "ix_tasks_claim",
            ["status", "task_order", "created_at", "id", "run_after"],
            unique=False,
        )
