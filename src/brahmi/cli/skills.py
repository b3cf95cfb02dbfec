"""``brahmi skills``: validate, add, update, remove, list, search and show skills."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.panel import Panel
from rich.table import Table

from brahmi.cli.common import EXIT_FAILED, handle_errors, open_brahmi, stderr, stdout

app = typer.Typer(
    help="The skill registry: SKILL.md folders and git repositories tasks bind to.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


@app.command("validate")
@handle_errors
def validate(
    path: Path = typer.Argument(..., help="A skill folder, or a folder of skill folders."),
    spec: bool = typer.Option(
        False, "--spec", help="Also report what the Agent Skills specification's validator rejects."
    ),
    json_output: bool = typer.Option(False, "--json", help="Print the reports as JSON."),
) -> None:
    """Check SKILL.md files: each problem with its file and line; exit 1 on any error.

    Finds skills as `skills add` does (any depth up to 6, a plugin marketplace manifest).
    Says which frontmatter convention each skill follows: aramb (category and tags at the top
    level) or the Agent Skills specification (metadata.category, metadata.tags). A name that
    differs from its folder, an over-long description or compatibility and unknown keys are
    warnings (the skill loads); with --spec they are errors, as the specification's
    validator has them.
    """
    from brahmi.skills.discovery import discover
    from brahmi.skills.validate import validate_skill

    found = discover(path)
    reports = [validate_skill(folder, spec=spec) for folder in found.folders]
    if not reports:
        _print_problems([p.to_dict() for p in found.problems])
        stderr.print(f"[red]error[/]: no SKILL.md at {path} or in its subfolders", highlight=False)
        raise typer.Exit(EXIT_FAILED)
    # Warnings alone leave a skill valid; an error of the search (a manifest path that is
    # missing) fails the run too.
    failed = any(r.errors for r in reports) or any(p.severity == "error" for p in found.problems)
    if json_output:
        print(
            json.dumps(
                {
                    "valid": not failed,
                    "skills": [r.to_dict() for r in reports],
                    "problems": [p.to_dict() for p in found.problems],
                },
                indent=2,
            )
        )
    else:
        _print_problems([p.to_dict() for p in found.problems])
        for report in reports:
            mark = (
                "[red]✗[/]"
                if report.errors
                else "[yellow]![/]"
                if report.problems
                else "[green]✓[/]"
            )
            stdout.print(
                f"{mark} {report.name or report.path.name}  [dim]{report.path} "
                f"({report.convention} convention)[/]",
                highlight=False,
            )
            for problem in report.problems:
                stdout.print(f"    {problem}", highlight=False, markup=False)
    if failed:
        raise typer.Exit(EXIT_FAILED)


@app.command("add")
@handle_errors
def add(
    location: str = typer.Argument(..., help="A folder of skills, one skill folder, or a git URL."),
    owner_repo: str | None = typer.Option(
        None, "--as", help="The owner/repo of its full_ids (default: local/FOLDER, or the URL's)."
    ),
    ref: str | None = typer.Option(None, "--ref", help="Git only: the branch, tag or commit."),
) -> None:
    """Register a source of skills and index them; a git URL is cloned into BRAHMI_HOME
    and its commit pinned. Malformed skills are reported and skipped."""
    brahmi = open_brahmi()
    try:
        record, outcome = brahmi.registry.add(location, owner_repo=owner_repo, ref=ref)
    finally:
        brahmi.close()
    pinned = f" at {record.commit[:12]}" if record.commit else ""
    stdout.print(
        f"added {record.location} as {record.owner_repo}{pinned}: {outcome.indexed} skill(s)",
        highlight=False,
    )
    _print_problems([p.to_dict() for p in outcome.problems])


@app.command("update")
@handle_errors
def update(
    source: str | None = typer.Argument(
        None, help="A source (its location, owner/repo or id); default: every source."
    ),
) -> None:
    """Pull git sources and re-index; re-read folders."""
    brahmi = open_brahmi()
    try:
        results = brahmi.registry.update(source)
    finally:
        brahmi.close()
    for record, outcome in results:
        pinned = f" at {record.commit[:12]}" if record.commit else ""
        stdout.print(f"{record.location}{pinned}: {outcome.indexed} skill(s)", highlight=False)
        _print_problems([p.to_dict() for p in outcome.problems])


@app.command("remove")
@handle_errors
def remove(
    source: str = typer.Argument(..., help="The source: its location, owner/repo or id."),
) -> None:
    """Forget a source and its skills (a git clone is deleted)."""
    brahmi = open_brahmi()
    try:
        record, removed = brahmi.registry.remove(source)
    finally:
        brahmi.close()
    stdout.print(f"removed {record.location}: {removed} skill(s)", highlight=False)


@app.command("list")
@handle_errors
def list_(
    problems: bool = typer.Option(
        False,
        "--problems",
        help="List what indexing found wrong: errors (the skill was skipped) and warnings "
        "(indexed anyway: a name that differs from its folder, an over-long description…).",
    ),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List the indexed skills (or, with --problems, the errors and warnings of indexing)."""
    brahmi = open_brahmi()
    try:
        if problems:
            found = brahmi.registry.index.problems()
            keys = ("source", "file", "line", "code", "severity", "message")
            rows = [{k: p[k] for k in keys} for p in found]
            hits = []
        else:
            rows = []
            hits = [h.to_dict() for h in brahmi.registry.search(limit=100_000)]
    finally:
        brahmi.close()
    if json_output:
        print(json.dumps({"problems": rows} if problems else {"skills": hits}, indent=2))
        return
    if problems:
        if not rows:
            stdout.print("no problems")
        _print_problems(rows)
        return
    _print_hits(hits)


@app.command("search")
@handle_errors
def search(
    category: str | None = typer.Option(None, "--category", help="Exact category."),
    tag: str | None = typer.Option(None, "--tag", help="Exact tag."),
    q: str | None = typer.Option(None, "--q", help="Free text, ranked."),
    limit: int = typer.Option(20, "--limit", min=1, help="At most this many results."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """search_skills: filter by category and tag (exact, any case), rank by text."""
    brahmi = open_brahmi()
    try:
        hits = [
            h.to_dict()
            for h in brahmi.registry.search(category=category, tag=tag, q=q, limit=limit)
        ]
    finally:
        brahmi.close()
    if json_output:
        print(json.dumps({"skills": hits}, indent=2))
        return
    _print_hits(hits)


@app.command("show")
@handle_errors
def show(
    full_id: str = typer.Argument(..., help="The skill's full_id (owner/repo/name)."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show one skill: its metadata, version, resources and body."""
    brahmi = open_brahmi()
    try:
        skill = brahmi.registry.get(full_id)
    finally:
        brahmi.close()
    data = {
        "full_id": skill.full_id,
        "name": skill.name,
        "description": skill.description,
        "category": skill.category,
        "tags": list(skill.tags),
        "version": skill.version,
        "commit": skill.commit,
        "runtime": skill.runtime,
        "command": skill.command,
        "path": str(skill.path),
        "resources": list(skill.resources),
        "metadata": skill.metadata,
        "body": skill.body,
    }
    if json_output:
        print(json.dumps(data, indent=2))
        return
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    for key in ("full_id", "description", "category", "tags", "version", "runtime", "path"):
        value = data[key]
        head.add_row(key, ", ".join(value) if isinstance(value, list) else str(value or "-"))
    head.add_row("resources", "\n".join(skill.resources) or "-")
    stdout.print(head)
    stdout.print(Panel(skill.body, title="body (the agent's system prompt)", title_align="left"))


def _print_hits(hits: list[dict[str, object]]) -> None:
    if not hits:
        stdout.print("no skills")
        return
    table = Table()
    for column in ("full_id", "category", "tags", "description"):
        table.add_column(column, overflow="fold")
    for hit in hits:
        tags = hit["tags"]
        table.add_row(
            str(hit["full_id"]),
            str(hit["category"] or ""),
            ", ".join(tags) if isinstance(tags, list) else "",
            str(hit["description"])[:120],
        )
    stdout.print(table)


def _print_problems(rows: list[dict[str, object]]) -> None:
    for row in rows:
        where = f"{row['file']}:{row['line']}" if row.get("line") else str(row["file"])
        mark = "[red]✗ error[/]" if row.get("severity") == "error" else "[yellow]! warning[/]"
        stderr.print(
            f"{mark} {where}: {row['message']} [dim]({row['code']})[/]",
            highlight=False,
        )
