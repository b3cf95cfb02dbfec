"""``brahmi projects``: list projects, show their usage and budget, change their settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from brahmi.cli.common import handle_errors, open_brahmi, stdout

app = typer.Typer(
    help="Projects: their settings, usage and budgets.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


@app.command("show")
@handle_errors
def show(
    project: Path = typer.Option(Path(), "--project", help="The project's workspace folder."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show a project's settings (env names only), token and USD usage, and budget."""
    brahmi = open_brahmi()
    try:
        record = brahmi.project_for(project)
        usage = brahmi.usage.totals(project_id=record.id)
        budget = brahmi.usage.budget(record.id)
    finally:
        brahmi.close()
    settings = dict(record.settings)
    if "env" in settings:
        settings["env"] = sorted(settings["env"])  # names only: values may be secrets
    data = {
        "project_id": record.id,
        "name": record.name,
        "workspace": record.workspace,
        "settings": settings,
        "usage": usage.to_dict(),
        "budget": budget.to_dict() if budget.usd is not None or budget.tokens is not None else None,
    }
    if json_output:
        print(json.dumps(data, indent=2))
        return
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("project", f"{record.name}  [dim]{record.id}[/]")
    grid.add_row("workspace", record.workspace)
    grid.add_row(
        "usage",
        f"{usage.input_tokens:,} in + {usage.output_tokens:,} out tokens, "
        f"${usage.cost_usd:.4f} over {usage.runs} run(s)",
    )
    grid.add_row(
        "budget",
        (budget.describe() + (" [red]SPENT[/]" if budget.exceeded else ""))
        if data["budget"]
        else "none",
    )
    grid.add_row("settings", json.dumps(settings))
    stdout.print(grid, highlight=False)


@app.command("configure")
@handle_errors
def configure(
    project: Path = typer.Option(Path(), "--project", help="The project's workspace folder."),
    budget_usd: float | None = typer.Option(
        None, "--budget-usd", min=0, help="Stop new agent runs once the project spent this (USD)."
    ),
    budget_tokens: int | None = typer.Option(
        None, "--budget-tokens", min=0, help="Stop new agent runs after this many tokens."
    ),
    no_budget: bool = typer.Option(False, "--no-budget", help="Remove the budget."),
    executor: str | None = typer.Option(
        None, "--executor", help="Runtime for skills that name none."
    ),
    permission_mode: str | None = typer.Option(
        None,
        "--permission-mode",
        help="claude-code permission mode: acceptEdits (default), dontAsk, "
        "bypassPermissions, plan, default.",
    ),
    allowed_tools: str | None = typer.Option(
        None,
        "--allowed-tools",
        help='claude-code tools allowed without asking, e.g. "Read Edit Write Bash(pytest *)" '
        "(a skill's allowed-tools wins).",
    ),
    model: str | None = typer.Option(None, "--model", help="claude-code model, e.g. sonnet."),
    max_turns: int | None = typer.Option(
        None, "--max-turns", min=1, help="Most agent turns per run (default 100)."
    ),
    env: list[str] = typer.Option(
        [], "--env", help="NAME=VALUE for the project's agents (repeatable)."
    ),
) -> None:
    """Change a project's settings: budget, default runtime, claude-code options, env.

    The budget counts tokens (input + output) and USD over every agent run, question and
    planner turn of the project; once either limit is reached no new agent run starts
    (tasks fail with `budget_exceeded`, and a correctness loop ends). Raise it and
    `brahmi tasks retry` to go on.
    """
    brahmi = open_brahmi()
    try:
        record = brahmi.project_for(project)
        changes: dict[str, Any] = {}
        if no_budget:
            changes["budget"] = None
        elif budget_usd is not None or budget_tokens is not None:
            current = dict(record.settings.get("budget") or {})
            if budget_usd is not None:
                current["usd"] = budget_usd
            if budget_tokens is not None:
                current["tokens"] = budget_tokens
            changes["budget"] = current
        if executor is not None:
            changes["executor"] = executor
        options = dict(record.settings.get("runtime_options") or {})
        for key, value in (
            ("permission_mode", permission_mode),
            ("allowed_tools", allowed_tools),
            ("model", model),
            ("max_turns", max_turns),
        ):
            if value is not None:
                options[key] = value
        if options != (record.settings.get("runtime_options") or {}):
            changes["runtime_options"] = options
        if env:
            values = dict(record.settings.get("env") or {})
            for item in env:
                name, sep, value = item.partition("=")
                if not sep or not name:
                    raise typer.BadParameter(f"--env wants NAME=VALUE, not {item!r}")
                values[name] = value
            changes["env"] = values
        updated = brahmi.configure_project(record.id, changes) if changes else record
    finally:
        brahmi.close()
    stdout.print(
        f"project {updated.name} ({updated.id}): {', '.join(sorted(changes)) or 'nothing'} changed",
        highlight=False,
    )
