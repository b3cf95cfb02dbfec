"""``brahmi serve``, ``brahmi mcp`` and ``brahmi tokens``: the server and its access."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import typer

from brahmi import errors
from brahmi.cli.common import handle_errors, open_brahmi, stdout

tokens_app = typer.Typer(
    help="Bearer tokens for the REST API and MCP.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)

#: The default port of ``brahmi serve``.
DEFAULT_PORT = 8421


@handle_errors
def serve(
    project: Path | None = typer.Option(
        None, "--project", help="The project /mcp serves (a workspace folder)."
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(DEFAULT_PORT, "--port", min=1, max=65535, help="Port to listen on."),
    workers: int = typer.Option(
        4,
        "--workers",
        min=0,
        help="Agent runs at once in this process; 0 (or --no-workers) for none.",
    ),
    no_workers: bool = typer.Option(False, "--no-workers", help="Serve the API and MCP only."),
    no_planner: bool = typer.Option(
        False,
        "--no-planner",
        help="Do not run the planner actor here; planner messages then wait for another "
        "brahmi serve or brahmi ask.",
    ),
    allowed_host: list[str] = typer.Option(
        [],
        "--allowed-host",
        help="A Host header MCP accepts besides loopback (host:port). Repeatable.",
    ),
) -> None:
    """Serve the dashboard (/), REST (/api/v1, OpenAPI at /docs), MCP (streamable HTTP
    at /mcp and /projects/ID/mcp), /healthz, in-process workers, and the planner actor (it wakes
    every planner session with unfinished work at start, then answers messages posted to
    /api/v1/projects/ID/messages).

    Listens on 127.0.0.1 by default. On any other address it refuses to start until a
    token exists (`brahmi tokens create`), and then every call needs one.
    """
    import uvicorn

    from brahmi.api.app import create_app

    brahmi = open_brahmi()
    # Agents on this machine reach the server on loopback even when it listens everywhere.
    reach = "127.0.0.1" if host in ("0.0.0.0", "::") else _url_host(host)  # noqa: S104
    brahmi.settings = brahmi.settings.with_(server_url=f"http://{reach}:{port}")
    if not _loopback(host) and not brahmi.tokens.people_tokens_exist():
        raise errors.Forbidden(
            f"refusing to listen on {host} without tokens: create one with "
            "`brahmi tokens create` (every call will then need it), or serve on 127.0.0.1"
        )
    project_id = brahmi.project_for(project).id if project else None
    app = create_app(
        brahmi,
        default_project_id=project_id,
        workers=0 if no_workers else workers,
        allowed_hosts=list(allowed_host),
        planner=not no_planner,
    )
    stdout.print(
        f"brahmi serving on http://{_url_host(host)}:{port} "
        f"(MCP at /mcp{' for ' + str(project) if project else ''}; REST at /api/v1; "
        f"{'no workers' if no_workers or workers == 0 else f'{workers} worker slot(s)'})",
        highlight=False,
    )
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", lifespan="on")
    finally:
        brahmi.close()


@handle_errors
def mcp(
    project: Path = typer.Option(Path(), "--project", help="The project the tools act on."),
    project_id: str | None = typer.Option(
        None, "--project-id", help="The project by id instead of by folder."
    ),
    task: str | None = typer.Option(
        None,
        "--task",
        help="Serve one task's agent: read its project, search skills, add sub-tasks under "
        "this task only; nothing else may change.",
    ),
    tool: list[str] = typer.Option(
        [], "--tool", help="Offer only this tool (repeatable); default: all eight."
    ),
    planner_session: str | None = typer.Option(
        None,
        "--planner-session",
        help="Act as this planner session (its project; its batches report back to it and "
        "user_response goes to its conversation). Planner runtimes pass it.",
    ),
) -> None:
    """Serve Brahmi's MCP tools over stdio, for MCP clients that launch a command.

    The claude-code runtime starts `brahmi mcp --task ID --tool …` for each agent run, so
    the agent's tools are scoped to its own task (DESIGN §6).
    """
    from brahmi.domain.access import LOCAL, Scope
    from brahmi.mcp.server import build_mcp

    brahmi = open_brahmi()
    try:
        scope = LOCAL
        if planner_session is not None and task is None and project_id is None:
            chosen = brahmi.planner_store.get_session(planner_session).project_id
        elif task is not None:
            owner = brahmi.get_task(task)
            scope = Scope(project_id=owner.project_id, task_id=owner.id)
            chosen = owner.project_id
        elif project_id is not None:
            chosen = brahmi.get_project(project_id).id
            scope = Scope(project_id=chosen)
        else:
            chosen = brahmi.project_for(project).id
        try:
            server = build_mcp(
                brahmi,
                chosen,
                default_scope=scope,
                tools=tool or None,
                planner_session_id=planner_session,
            )
        except ValueError as exc:
            raise errors.BrahmiError(str(exc)) from None
        server.run("stdio")
    finally:
        brahmi.close()


@tokens_app.command("create")
@handle_errors
def create_token(
    project: str | None = typer.Option(
        None, "--project", help="Limit the token to one project (its id or workspace folder)."
    ),
    read_only: bool = typer.Option(False, "--read-only", help="The token may only read."),
    label: str | None = typer.Option(None, "--label", help="A name to recognise it by."),
) -> None:
    """Create a bearer token; its secret is printed once and stored only as a hash."""
    brahmi = open_brahmi()
    try:
        project_id = None
        if project:
            folder = Path(project).expanduser()
            project_id = (
                brahmi.project_for(folder).id if folder.is_dir() else brahmi.get_project(project).id
            )
        secret, record = brahmi.tokens.create(
            now=brahmi.clock.now(), project_id=project_id, read_only=read_only, label=label
        )
    finally:
        brahmi.close()
    stdout.print(f"token {record.id} created; its secret (shown once):", highlight=False)
    print(secret)


@tokens_app.command("list")
@handle_errors
def list_tokens(json_output: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List tokens for people (agents' and planners' per-run tokens are left out); secrets
    are never shown."""
    brahmi = open_brahmi()
    try:
        records = [
            r for r in brahmi.tokens.list() if r.task_id is None and r.planner_session_id is None
        ]
    finally:
        brahmi.close()
    rows = [
        {
            "id": r.id,
            "label": r.label,
            "project_id": r.project_id,
            "read_only": r.read_only,
            "revoked": r.revoked,
            "created_at": r.created_at,
        }
        for r in records
    ]
    if json_output:
        print(json.dumps({"tokens": rows}, indent=2))
        return
    for row in rows:
        stdout.print(
            f"{row['id']}  {row['label'] or '-'}  project={row['project_id'] or 'all'}  "
            f"{'read-only' if row['read_only'] else 'read-write'}"
            f"{'  REVOKED' if row['revoked'] else ''}",
            highlight=False,
        )


@tokens_app.command("revoke")
@handle_errors
def revoke_token(token_id: str = typer.Argument(..., help="The token's id.")) -> None:
    """Revoke a token; calls with it fail from now on."""
    brahmi = open_brahmi()
    try:
        if not brahmi.tokens.revoke(token_id):
            raise errors.BrahmiError(f"no token has the id {token_id!r}")
    finally:
        brahmi.close()
    stdout.print(f"token {token_id} revoked", highlight=False)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
