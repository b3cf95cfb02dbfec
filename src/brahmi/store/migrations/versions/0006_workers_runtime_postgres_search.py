"""workers, the runtime of each task, PostgreSQL full-text search of skills

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21 22:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

#: The weighted document of a skill (name A; tags and description B; body C) and its head
#: (A and B only): a search ranks skills whose head matches above body-only matches.
PG_SKILLS_FTS = """
CREATE TABLE skills_fts (
    full_id VARCHAR(255) PRIMARY KEY,
    head tsvector NOT NULL,
    document tsvector NOT NULL
)
"""
PG_SKILLS_FTS_INDEX = "CREATE INDEX skills_fts_document ON skills_fts USING gin (document)"
PG_SKILLS_FTS_FILL = """
INSERT INTO skills_fts (full_id, head, document)
SELECT full_id, head,
    head || setweight(to_tsvector('english', body) || to_tsvector('simple', body), 'C')
FROM (
    SELECT full_id, body,
        setweight(to_tsvector('english', n) || to_tsvector('simple', n), 'A')
        || setweight(to_tsvector('english', d) || to_tsvector('simple', d), 'B') AS head
    FROM (
        SELECT full_id, body, name || ' ' || replace(name, '-', ' ') AS n,
            tags::text || ' ' || description AS d
        FROM skills
    ) AS raw
) AS s
"""

#: Wake idle workers (``LISTEN brahmi_ready``, store/notify.py) when a statement leaves a
#: task ready; the notification is delivered when its transaction commits.
PG_NOTIFY_FUNCTION = """
CREATE FUNCTION brahmi_notify_ready() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_rows WHERE status = 'ready') THEN
        PERFORM pg_notify('brahmi_ready', '');
    END IF;
    RETURN NULL;
END
$$
"""
PG_NOTIFY_TRIGGERS = [
    f"CREATE TRIGGER tasks_ready_{event.lower()} AFTER {event} ON tasks "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION brahmi_notify_ready()"
    for event in ("INSERT", "UPDATE")
]


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("runtime", sa.String(length=64), nullable=True))
    op.create_table(
        "workers",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column(
            "runtimes", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True
        ),
        sa.Column("concurrency", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("heartbeat_at", sa.Float(), nullable=False),
        sa.Column("stopped_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workers")),
    )
    op.create_index("ix_workers_heartbeat_at", "workers", ["heartbeat_at"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_SKILLS_FTS)
        op.execute(PG_SKILLS_FTS_INDEX)
        op.execute(PG_SKILLS_FTS_FILL)
        op.execute(PG_NOTIFY_FUNCTION)
        for trigger in PG_NOTIFY_TRIGGERS:
            op.execute(trigger)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER tasks_ready_insert ON tasks")
        op.execute("DROP TRIGGER tasks_ready_update ON tasks")
        op.execute("DROP FUNCTION brahmi_notify_ready()")
        op.execute("DROP TABLE skills_fts")
    op.drop_index("ix_workers_heartbeat_at", table_name="workers")
    op.drop_table("workers")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("runtime")
