"""skill registry: sources, skills, tags, problems, and the SQLite full-text index

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 20:09:51.759788
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "skill_sources",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("owner_repo", sa.String(length=255), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("ref", sa.String(length=255), nullable=True),
        sa.Column("commit", sa.String(length=64), nullable=True),
        sa.Column("added_at", sa.Float(), nullable=False),
        sa.Column("indexed_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_skill_sources")),
    )
    with op.batch_alter_table("skill_sources", schema=None) as batch_op:
        batch_op.create_index("ix_skill_sources_location", ["location"], unique=True)

    op.create_table(
        "skill_problems",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source_id", sa.String(length=36), nullable=False),
        sa.Column("file", sa.Text(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=True),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["skill_sources.id"],
            name=op.f("fk_skill_problems_source_id_skill_sources"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_skill_problems")),
    )
    with op.batch_alter_table("skill_problems", schema=None) as batch_op:
        batch_op.create_index("ix_skill_problems_source", ["source_id"], unique=False)

    op.create_table(
        "skills",
        sa.Column("full_id", sa.String(length=255), nullable=False),
        sa.Column("source_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=True),
        sa.Column("category_key", sa.String(length=64), nullable=True),
        sa.Column(
            "tags",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=False,
        ),
        sa.Column("version", sa.String(length=128), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("runtime", sa.String(length=64), nullable=True),
        sa.Column("command", sa.Text(), nullable=True),
        sa.Column("license", sa.String(length=255), nullable=True),
        sa.Column("commit", sa.String(length=64), nullable=True),
        sa.Column(
            "skill_metadata",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=False,
        ),
        sa.Column(
            "resources",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=False,
        ),
        sa.Column("indexed_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"], ["skill_sources.id"], name=op.f("fk_skills_source_id_skill_sources")
        ),
        sa.PrimaryKeyConstraint("full_id", name=op.f("pk_skills")),
    )
    with op.batch_alter_table("skills", schema=None) as batch_op:
        batch_op.create_index("ix_skills_category", ["category_key"], unique=False)
        batch_op.create_index("ix_skills_name", ["name"], unique=False)
        batch_op.create_index("ix_skills_source", ["source_id"], unique=False)

    op.create_table(
        "skill_tags",
        sa.Column("full_id", sa.String(length=255), nullable=False),
        sa.Column("tag", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["full_id"], ["skills.full_id"], name=op.f("fk_skill_tags_full_id_skills")
        ),
        sa.PrimaryKeyConstraint("full_id", "tag", name=op.f("pk_skill_tags")),
    )
    with op.batch_alter_table("skill_tags", schema=None) as batch_op:
        batch_op.create_index("ix_skill_tags_tag", ["tag", "full_id"], unique=False)
    if op.get_bind().dialect.name == "sqlite":
        # Ranked full-text search for search_skills q (DESIGN §8): one index over name,
        # description and tags, searched first, and one over the bodies, searched only when
        # the first finds too few. PostgreSQL gets its own with the PostgreSQL backend.
        op.execute(
            "CREATE VIRTUAL TABLE skills_fts USING fts5("
            "full_id UNINDEXED, name, description, tags, tokenize = 'porter unicode61')"
        )
        op.execute(
            "CREATE VIRTUAL TABLE skills_fts_body USING fts5("
            "full_id UNINDEXED, body, tokenize = 'porter unicode61')"
        )
        # bm25 weights (full_id unindexed): name 10, description 4, tags 6.
        op.execute(
            "INSERT INTO skills_fts (skills_fts, rank) VALUES ('rank', 'bm25(0.0, 10.0, 4.0, 6.0)')"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS skills_fts_body")
        op.execute("DROP TABLE IF EXISTS skills_fts")

    with op.batch_alter_table("skill_tags", schema=None) as batch_op:
        batch_op.drop_index("ix_skill_tags_tag")

    op.drop_table("skill_tags")
    with op.batch_alter_table("skills", schema=None) as batch_op:
        batch_op.drop_index("ix_skills_source")
        batch_op.drop_index("ix_skills_name")
        batch_op.drop_index("ix_skills_category")

    op.drop_table("skills")
    with op.batch_alter_table("skill_problems", schema=None) as batch_op:
        batch_op.drop_index("ix_skill_problems_source")

    op.drop_table("skill_problems")
    with op.batch_alter_table("skill_sources", schema=None) as batch_op:
        batch_op.drop_index("ix_skill_sources_location")

    op.drop_table("skill_sources")
