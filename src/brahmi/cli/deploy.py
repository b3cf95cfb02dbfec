"""``brahmi deploy``: bring an aramb.toml up, and see, read and stop it (DESIGN §11).

``brahmi deploy [DIR]`` is ``brahmi deploy up [DIR]``: the group turns a first argument
that is not one of its commands into ``up``'s, so ``brahmi deploy``, ``brahmi deploy
./proj`` and ``brahmi deploy status`` all mean what they say (a project folder really
called ``status`` is ``brahmi deploy ./status``).
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from typer.core import TyperGroup

from brahmi import errors
from brahmi.cli.common import EXIT_FAILED, EXIT_INVALID, handle_errors, stderr, stdout


class _DeployGroup(TyperGroup):
    """Runs ``up`` when the first argument names no command."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # click's Context
        if not args or (args[0] not in self.commands and args[0] not in ctx.help_option_names):
            args = ["up", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_DeployGroup,
    help="Deploy a project's aramb.toml (`brahmi deploy [DIR]`), then see its `status`, "
    "read a service's `logs`, and `stop` it. Deployments are recorded in BRAHMI_HOME, so "
    "these work from any shell.",
    rich_markup_mode="markdown",
)

_DIR = typer.Argument(
    Path(),
    metavar="DIR",
    help="The project folder, or its aramb.toml (default: the current folder).",
    show_default=False,
)
_JSON = typer.Option(False, "--json", help="Print JSON.")


@app.command("up")
def up(
    project: Path = _DIR,
    target: str = typer.Option("local", "--target", help="Where to deploy (local: this machine)."),
    timeout_s: float = typer.Option(
        30.0, "--timeout", min=0.1, help="Seconds to wait for the services to answer."
    ),
    application_id: str | None = typer.Option(
        None,
        "--application-id",
        help="Fills {applicationID} (default: APPLICATION_ID, else the folder's name).",
    ),
    json_output: bool = _JSON,
) -> None:
    """Deploy DIR's aramb.toml (what `brahmi deploy [DIR]` runs).

    The local target builds the build services, starts databases, backends and frontends
    (Docker when an engine answers, otherwise from source as supervised processes on
    free 127.0.0.1 ports passed as PORT), and waits until the public service answers an
    HTTP probe (the file's `healthCheckPath`, else /health, /healthz, /). A previous
    deployment of the project is stopped first. Prints the services and ends with
    `PUBLIC_URL: http://127.0.0.1:PORT`; `--json` prints `{status, public_url,
    images_built, services, ...}`. Exits 0 deployed, 1 failed (nothing left running;
    the failing service's last log lines are shown), 2 when the file is invalid.
    """
    from brahmi.config import load_settings
    from brahmi.deploy import api

    # SIGTERM (a cancelled task's process group) unwinds like Ctrl-C: the services
    # started so far live in their own sessions and would otherwise outlive this process.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        deployment = api.deploy_project(
            project, target, application_id, timeout_s, home=load_settings().home
        )
    except errors.BrahmiError as exc:
        _failed(exc, json_output)
    finally:
        signal.signal(signal.SIGTERM, previous)
    if json_output:
        print(json.dumps(deployment.to_dict(), indent=2))
        return
    _print_services(deployment.to_dict())
    for warning in deployment.warnings:
        stderr.print(f"[yellow]warning[/]: {escape(warning)}", highlight=False)
    print(f"PUBLIC_URL: {deployment.public_url}")


@app.command("status")
@handle_errors
def status(project: Path = _DIR, json_output: bool = _JSON) -> None:
    """Show the project's deployment: each service's state (running, exited, external,
    built, stopped), pid or container, and URL. Exits 1 unless every service runs."""
    from brahmi.config import load_settings
    from brahmi.deploy import api

    deployment = api.deployment_status(project, home=load_settings().home)
    data = deployment.to_dict()
    if json_output:
        print(json.dumps(data, indent=2))
    else:
        stdout.print(
            f"{escape(data['status'])} on {data['target']} ({data['mode']}) since "
            f"{data['deployed_at']}",
            highlight=False,
        )
        _print_services(data)
        if data["public_url"]:
            print(f"PUBLIC_URL: {data['public_url']}")
    if deployment.status != "deployed":
        raise typer.Exit(EXIT_FAILED)


@app.command("logs")
@handle_errors
def logs(
    service: str = typer.Argument(..., help="The service's name or uniqueIdentifier."),
    project: Path = _DIR,
    lines: int = typer.Option(100, "--lines", "-n", min=1, help="How many lines, from the end."),
) -> None:
    """Print the last lines of a service's output (build services: their build output).
    Logs stay readable after a failure or a stop, until the next deploy."""
    from brahmi.config import load_settings
    from brahmi.deploy import api

    print(api.deployment_logs(project, service, lines, home=load_settings().home))


@app.command("stop")
@handle_errors
def stop(project: Path = _DIR, json_output: bool = _JSON) -> None:
    """Stop every service of the project's deployment (process groups are ended: SIGTERM,
    then SIGKILL). Stopping a stopped deployment does nothing."""
    from brahmi.config import load_settings
    from brahmi.deploy import api

    deployment = api.stop_deployment(project, home=load_settings().home)
    if json_output:
        print(json.dumps(deployment.to_dict(), indent=2))
    else:
        ended = [s.name for s in deployment.services if s.pid or s.container]
        stdout.print(
            f"stopped {escape(deployment.project_dir)}: {len(ended)} process(es) or "
            f"container(s) ended ({escape(', '.join(ended)) or 'none'})",
            highlight=False,
        )


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _failed(exc: errors.BrahmiError, json_output: bool) -> Any:
    code = EXIT_INVALID if isinstance(exc, errors.InvalidMetadata) else EXIT_FAILED
    if json_output:
        data: dict[str, Any] = {"status": "failed", "public_url": None, **exc.to_dict()}
        data["failed_service"] = exc.fields.get("service")
        partial = getattr(exc, "deployment", None)
        if partial is not None:
            data["images_built"] = partial.images_built
            data["services"] = [s.to_dict() for s in partial.services]
        print(json.dumps(data, indent=2))
    else:
        stderr.print(f"[bold red]error[/] [dim]({exc.code})[/]: {escape(exc.message)}")
    raise typer.Exit(code)


def _print_services(data: dict[str, Any]) -> None:
    for svc in data["services"]:
        where = svc.get("url") or svc.get("path") or ""
        who = f"pid {svc['pid']}" if svc.get("pid") else svc.get("container") or ""
        stdout.print(
            f"  {svc['id']} {escape(svc['name'])} ({svc['type']}): {svc['state']} "
            f"{escape(where)} [dim]{who}[/]".rstrip(),
            highlight=False,
        )
