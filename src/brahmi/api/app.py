"""One ASGI app: REST under ``/api/v1``, MCP at ``/mcp`` and ``/projects/{id}/mcp``,
``/healthz``, ``/metrics`` (Prometheus), and (optionally) in-process workers (DESIGN §8, §9).

Access (issue 5, :mod:`brahmi.api.access`): the same check guards REST and MCP; for MCP its
result travels to the tools in headers this layer sets after removing any a client sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from brahmi import __version__, errors
from brahmi.api import metrics, observe, routes
from brahmi.api.access import caller_scope
from brahmi.api.errors import STATUS, status_for
from brahmi.mcp.server import PROJECT_HEADER, SCOPE_HEADER, SESSION_HEADER, build_mcp
from brahmi.service import Brahmi
from brahmi.store import outages
from brahmi.store.database import OUTAGE_ERRORS
from brahmi.web import pages

log = logging.getLogger(__name__)

#: Largest request body accepted, in bytes.
MAX_BODY_BYTES = 5 * 1024 * 1024
_MCP_PATH = re.compile(
    r"^/(?:projects/(?P<project>[^/]+)/(?:sessions/(?P<session>[^/]+)/)?)?mcp/?$"
)


class _Gateway:
    """Routes MCP paths to the MCP app (with the caller's project and scope), the rest to
    the REST app; refuses bodies over :data:`MAX_BODY_BYTES`."""

    def __init__(self, rest: FastAPI, brahmi: Brahmi) -> None:
        self.rest = rest
        self.brahmi = brahmi
        self.mcp_app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.rest(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        length = headers.get("content-length")
        if length is None:
            # A chunked body has no length up front: read it (up to the limit) first.
            body = await _read_capped(receive, MAX_BODY_BYTES)
            if body is None:
                await _too_large(send)
                return
            receive = _replay(body, receive)
        elif length.isdigit() and int(length) > MAX_BODY_BYTES:
            await _too_large(send)
            return
        match = _MCP_PATH.match(scope["path"])
        if match is None:
            await self.rest(scope, receive, send)
            return
        if self.mcp_app is None:
            await _json(send, 503, {"error": "starting", "message": "the MCP endpoint is starting"})
            return
        client = scope.get("client")
        try:
            access = caller_scope(self.brahmi, headers, client[0] if client else None)
            project_id = match["project"] or self.rest.state.default_project_id
            if project_id:
                self.brahmi.get_project(project_id)
            session_id = match["session"] or access.planner_session_id
            if access.planner_session_id not in (None, session_id):
                raise errors.Forbidden("this planner token acts for another planner session")
            if session_id is not None:
                # A planner session's tools (DESIGN §7): the caller must be able to change
                # the project the session belongs to.
                session = self.brahmi.planner_store.get_session(session_id)
                if session.project_id != project_id:
                    raise errors.SessionNotFound(
                        f"planner session {session_id} belongs to another project",
                        session_id=session_id,
                    )
                if not access.can_write(session.project_id):
                    raise errors.Forbidden("this token may not act as a planner of this project")
        except errors.BrahmiError as exc:
            await _json(send, status_for(exc), exc.to_dict())
            return
        kept = [(k, v) for k, v in scope["headers"] if not k.lower().startswith(b"x-brahmi-")]
        if project_id:
            kept.append((PROJECT_HEADER.encode(), project_id.encode()))
        if session_id is not None:
            kept.append((SESSION_HEADER.encode(), session_id.encode()))
        kept.append(
            (
                SCOPE_HEADER.encode(),
                json.dumps(
                    {
                        "project_id": access.project_id,
                        "read_only": access.read_only,
                        "task_id": access.task_id,
                        "planner_session_id": access.planner_session_id,
                    }
                ).encode(),
            )
        )
        await self.mcp_app({**scope, "headers": kept, "path": "/", "raw_path": b"/"}, receive, send)


async def _read_capped(receive: Receive, limit: int) -> list[Message] | None:
    """The request's messages up to the end of its body; None when the body exceeds
    ``limit`` bytes."""
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages
        size += len(message.get("body", b""))
        if size > limit:
            return None
        if not message.get("more_body", False):
            return messages


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A ``receive`` that gives ``messages`` first, then what ``receive`` gives."""
    pending = list(messages)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed


async def _too_large(send: Send) -> None:
    await _json(
        send,
        413,
        {"error": "payload_too_large", "message": f"bodies are limited to {MAX_BODY_BYTES} bytes"},
    )


async def _json(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def create_app(
    brahmi: Brahmi,
    *,
    default_project_id: str | None = None,
    workers: int = 0,
    allowed_hosts: list[str] | None = None,
    planner: bool = False,
) -> ASGIApp:
    """The ASGI app of ``brahmi serve``.

    Args:
        brahmi: The instance every route and tool calls.
        default_project_id: The project ``/mcp`` serves (``brahmi serve --project``).
        workers: Agent runs at once in the in-process worker; 0 runs no worker.
        allowed_hosts: Host headers the MCP endpoint accepts besides loopback ones
            (DNS-rebinding protection), e.g. ``["brahmi.internal:8421"]``.
        planner: Run the planner actor in process (DESIGN §7): at start it queues a
            ``wake_up`` for every session with unfinished work, then handles triggers.
    """
    mcp_server: MCPServer = build_mcp(brahmi, default_project_id)
    gateway: _Gateway

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The MCP app is rebuilt at each start: its session manager runs only once.
        security = TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*", *(allowed_hosts or [])],
            allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
        )
        gateway.mcp_app = mcp_server.streamable_http_app(
            streamable_http_path="/", transport_security=security, json_response=True
        )
        stop = asyncio.Event()
        worker_task = None
        if workers > 0:
            worker = brahmi.worker()
            worker.settings = worker.settings.with_(concurrency=workers)
            brahmi.on_change.append(worker.wake)
            worker_task = asyncio.create_task(worker.run(stop), name="brahmi-worker")
        actor_task = None
        if planner:
            from brahmi.planner.actor import PlannerActor

            actor = PlannerActor(brahmi)
            brahmi.on_trigger.append(actor.wake)
            await asyncio.to_thread(brahmi.wake_up)
            actor_task = asyncio.create_task(actor.run(stop), name="brahmi-planner")
        try:
            async with mcp_server.session_manager.run():
                yield
        finally:
            stop.set()
            if worker_task is not None:
                await worker_task
                brahmi.on_change.remove(worker.wake)
            if actor_task is not None:
                await actor_task
                brahmi.on_trigger.remove(actor.wake)
            gateway.mcp_app = None

    app = FastAPI(
        title="Brahmi",
        version=__version__,
        description="Task graphs for skill-driven agent work: batches, the correctness loop, "
        "sub-tasks, skills and events. The same operations are MCP tools at /mcp.",
        lifespan=lifespan,
    )
    app.state.brahmi = brahmi
    app.state.default_project_id = default_project_id

    @app.exception_handler(errors.BrahmiError)
    async def _brahmi_error(_request: Request, exc: errors.BrahmiError) -> JSONResponse:
        return JSONResponse(exc.to_dict(), status_code=status_for(exc))

    async def _outage(_request: Request, exc: Exception) -> JSONResponse:
        # The database went away mid-request (down, restarting): nothing was committed.
        unavailable = errors.StoreUnavailable(
            "the database is unavailable; nothing was changed, try again shortly"
        )
        log.warning("request failed, database unavailable: %s", exc)
        outages.count("api")
        return JSONResponse(
            unavailable.to_dict(), status_code=status_for(unavailable), headers={"Retry-After": "2"}
        )

    for outage in OUTAGE_ERRORS:
        if not issubclass(outage, errors.BrahmiError):
            app.add_exception_handler(outage, _outage)

    @app.exception_handler(RequestValidationError)
    async def _bad_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {
                "path": ".".join(str(p) for p in error.get("loc", ())),
                "code": str(error.get("type", "invalid")),
                "message": str(error.get("msg", "")),
            }
            for error in exc.errors()
        ]
        return JSONResponse({"error": "invalid_request", "problems": problems}, status_code=400)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """Liveness: 200 with the version when the server answers."""
        return {"status": "ok", "version": __version__}

    app.include_router(routes.router)
    app.include_router(metrics.router)
    app.include_router(observe.router)
    # The dashboard: pages at /, /projects/ID, /tasks/ID, /skills; assets at /static.
    pages.mount(app)
    gateway = _Gateway(app, brahmi)
    return gateway


__all__ = ["MAX_BODY_BYTES", "STATUS", "create_app"]
