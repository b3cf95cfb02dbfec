"""``brahmi agents check``: which agent runtimes can run here, and what is missing."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.markup import escape

from brahmi import errors
from brahmi.cli.common import handle_errors, stdout

app = typer.Typer(
    help="Agent runtimes (executors).", no_args_is_help=True, rich_markup_mode="markdown"
)


@app.command("check")
@handle_errors
def check(json_output: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the agent runtimes installed here, their versions, and for each one that
    cannot run what is missing and the fix (e.g. `pip install 'brahmi[claude]'`, or
    `export ANTHROPIC_API_KEY=…`). Exits 1 when the default runtime cannot run."""
    from brahmi.agents.registry import RuntimeRegistry
    from brahmi.config import load_settings

    settings = load_settings()
    registry = RuntimeRegistry()
    rows: list[dict[str, Any]] = []
    for name in registry.names():
        try:
            runtime = registry.get(name)
        except errors.ExecutorNotFound as exc:
            rows.append({"name": name, "ok": False, "version": None, "problem": exc.message})
            continue
        problem = runtime.check()
        rows.append(
            {"name": name, "ok": problem is None, "version": runtime.version(), "problem": problem}
        )
    default = settings.default_executor
    default_ok = any(r["name"] == default and r["ok"] for r in rows)
    if json_output:
        print(json.dumps({"default": default, "runtimes": rows}, indent=2))
    else:
        for row in rows:
            mark = "[green]ok[/]     " if row["ok"] else "[red]missing[/]"
            star = " (default)" if row["name"] == default else ""
            version = f" [dim]{escape(row['version'])}[/]" if row["version"] else ""
            stdout.print(f"{mark} {row['name']}{star}{version}", highlight=False)
            if row["problem"]:
                stdout.print(f"         fix: {escape(row['problem'])}", highlight=False)
    if not default_ok:
        raise typer.Exit(1)
