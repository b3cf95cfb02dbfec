"""The ``brahmi`` command (Typer + Rich): the root app and its sub-commands, assembled.

The helpers every sub-command uses (error mapping, consoles, exit codes, opening Brahmi)
live in :mod:`brahmi.cli.common`, so sub-command modules never import this one.
"""

from __future__ import annotations

import logging
import sys

import typer

from brahmi import __version__
from brahmi.cli.common import freeze_startup

app = typer.Typer(
    name="brahmi",
    help="Brahmi: run skill-driven agent task graphs durably, with QA correctness loops.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)


def version_callback(value: bool) -> None:
    """``--version``: print the version and exit."""
    if value:
        print(f"brahmi {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=version_callback, is_eager=True, help="Print the version."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log what the engine does."),
) -> None:
    """Brahmi keeps its state in BRAHMI_HOME (default: the user data folder) or in the
    database named by BRAHMI_DATABASE_URL."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _register() -> None:
    from brahmi.cli import (
        agents,
        ask,
        db,
        deploy,
        metadata,
        projects,
        run,
        serve,
        skills,
        tasks,
        worker,
    )

    app.command("ask")(ask.ask)
    app.command("validate")(run.validate)
    app.command("run")(run.run)
    app.add_typer(tasks.app, name="tasks")
    app.add_typer(skills.app, name="skills")
    app.command("serve")(serve.serve)
    app.command("mcp")(serve.mcp)
    app.command("worker")(worker.worker)
    app.command("workers")(worker.workers)
    app.add_typer(serve.tokens_app, name="tokens")
    app.add_typer(db.app, name="db")
    app.add_typer(agents.app, name="agents")
    app.add_typer(projects.app, name="projects")
    app.add_typer(metadata.app, name="metadata")
    app.add_typer(deploy.app, name="deploy")


_register()


def main() -> None:
    """Console-script entry point."""
    freeze_startup(whole_process=True)  # Typer, Rich and the sub-commands are imported
    app()
