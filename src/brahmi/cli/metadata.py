"""``brahmi metadata validate|generate``: check and derive ``aramb.toml`` (DESIGN §11).

Exit codes: 0 valid (or generated cleanly), 1 problems, 2 a file that is not TOML or a
path that cannot be read.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.markup import escape

from brahmi import errors
from brahmi.cli.common import EXIT_FAILED, EXIT_INVALID, handle_errors, stderr, stdout

if TYPE_CHECKING:
    from brahmi.metadata.model import MetadataProblem

app = typer.Typer(
    help="aramb.toml, the file describing a project's services (DESIGN §11).",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
_UNREADABLE = (errors.MetadataNotToml, errors.MetadataUnreadable)


@app.command("validate")
def validate(
    file: Path = typer.Argument(..., help="The aramb.toml to check."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Check an aramb.toml against every rule of DESIGN §11 and list each broken one
    with its code, service, key and line. `--json` prints `{"valid", "file",
    "problems": [{"code", "message", "service", "key", "line"}]}`. Exits 0 when valid,
    1 with problems, 2 when the file is not TOML or cannot be read."""
    from brahmi.metadata import files

    try:
        problems = files.validate_file(file)
    except _UNREADABLE as exc:
        if json_output:
            body = {
                "code": exc.code,
                "message": exc.message,
                "service": None,
                "key": None,
                "line": exc.fields.get("line"),
            }
            print(json.dumps({"valid": False, "file": str(file), "problems": [body]}, indent=2))
            raise typer.Exit(EXIT_INVALID) from None
        _unreadable(exc)
    if json_output:
        body_all = {"valid": not problems, "file": str(file), "problems": _dicts(problems)}
        print(json.dumps(body_all, indent=2))
    elif not problems:
        stdout.print(f"{escape(str(file))}: valid", highlight=False)
    else:
        stdout.print(f"{escape(str(file))}: {len(problems)} problem(s)", highlight=False)
        _print_problems(problems)
    if problems:
        raise typer.Exit(EXIT_FAILED)


@app.command("generate")
@handle_errors
def generate(
    directory: Path = typer.Argument(..., help="The project folder."),
    write: bool = typer.Option(False, "--write", help="Write DIR/aramb.toml."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Derive aramb.toml from what the project holds: compose files, Dockerfiles,
    Python/Node/Go manifests and frameworks, ports, start commands and the environment
    variables the code reads (secrets by name, always empty). Merges into an existing
    aramb.toml without renumbering or dropping anything. Prints the diff (or the whole
    file when there is none yet); nothing is written without `--write`, and nothing when
    the result would not validate. `--json` prints `{"aramb_toml", "services",
    "problems", "warnings", "written", "path", "diff"}`. Exits 0, 1 when the result has
    problems, 2 when the existing aramb.toml is not TOML or DIR cannot be read."""
    from brahmi.metadata import generate as gen

    try:
        result = gen.generate(directory)
    except _UNREADABLE as exc:
        if json_output:
            print(json.dumps(exc.to_dict(), indent=2))
            raise typer.Exit(EXIT_INVALID) from None
        _unreadable(exc)
    written = False
    if write and result.changed and not result.problems:
        gen.write(directory, result)
        written = True
    path = str(directory / gen.FILE_NAME)
    if json_output:
        body: dict[str, Any] = {
            "aramb_toml": result.text,
            "services": result.services,
            "problems": _dicts(result.problems),
            "warnings": result.warnings,
            "written": written,
            "path": path,
            "diff": result.diff,
        }
        print(json.dumps(body, indent=2))
    else:
        for warning in result.warnings:
            stderr.print(f"[yellow]warning[/]: {escape(warning)}", highlight=False)
        if write and not result.problems:
            what = "wrote" if written else "unchanged:"
            count = len(result.services)
            stdout.print(f"{what} {escape(path)} ({count} services)", highlight=False)
        elif result.existed:
            print(result.diff or f"{path}: no change", end="" if result.diff else "\n")
        else:
            print(result.text, end="")
        if result.problems:
            stderr.print(
                f"[bold red]the result breaks {len(result.problems)} rule(s)[/]"
                + ("; nothing was written" if write else ""),
                highlight=False,
            )
            _print_problems(result.problems, stderr)
    if result.problems:
        raise typer.Exit(EXIT_FAILED)


def _unreadable(exc: errors.BrahmiError) -> NoReturn:
    stderr.print(f"[bold red]error[/] [dim]({exc.code})[/]: {escape(exc.message)}")
    raise typer.Exit(EXIT_INVALID)


def _print_problems(problems: Sequence[MetadataProblem], console: Any = stdout) -> None:
    for problem in problems:
        console.print(
            f"  [red]{problem.code}[/] [dim]{escape(problem.location())}[/]: "
            f"{escape(problem.message)}",
            highlight=False,
        )


def _dicts(problems: Sequence[MetadataProblem]) -> list[dict[str, Any]]:
    return [p.to_dict() for p in problems]
