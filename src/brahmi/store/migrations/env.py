"""Alembic environment: Brahmi passes the connection in ``config.attributes``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from brahmi.store.tables import is_declared, metadata


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Leave the full-text index tables (created by hand in 0003) out of autogenerate."""
    return type_ != "table" or name is None or is_declared(name)


config = context.config
connection = config.attributes.get("connection")

if connection is None:  # e.g. `alembic -x url=... upgrade head` from a checkout
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    with create_engine(str(url)).begin() as own:
        context.configure(
            connection=own,
            target_metadata=metadata,
            render_as_batch=True,
            include_name=include_name,
        )
        context.run_migrations()
else:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,
        include_name=include_name,
    )
    context.run_migrations()
