"""``brahmi db``: the database schema."""

from __future__ import annotations

import typer

from brahmi.cli.common import handle_errors, stdout

app = typer.Typer(
    help="Manage Brahmi's database.", no_args_is_help=True, rich_markup_mode="markdown"
)


@app.command("upgrade")
@handle_errors
def upgrade(revision: str = typer.Argument("head", help="Alembic revision to upgrade to.")) -> None:
    """Apply the database migrations (SQLite under BRAHMI_HOME, or BRAHMI_DATABASE_URL)."""
    from brahmi.config import load_settings
    from brahmi.store import database

    settings = load_settings()
    if settings.database_url is None:
        settings.home.mkdir(parents=True, exist_ok=True)
    engine = database.create_db_engine(settings.url)
    try:
        database.upgrade(engine, revision)
        stdout.print(f"database at revision {database.current_revision(engine)}", highlight=False)
    finally:
        engine.dispose()
