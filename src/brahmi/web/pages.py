"""The dashboard's pages: shells rendered by Jinja2 that carry no data but ids; the page's
script reads everything through ``/api/v1`` with the caller's token (DESIGN §8).

Every page and static file is sent with a Content-Security-Policy that allows scripts from
this server only (no inline script, no inline handlers), so text from tasks, transcripts
or skills can never run as code. An unknown id gets a page that says so, with a 404.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from brahmi import __version__, errors
from brahmi.service import Brahmi

STATIC_DIR = Path(__file__).parent / "static"
#: What a page may load: everything from this server, nothing inline, no frames.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; worker-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
#: Paths that are never dashboard pages: their 404s stay JSON.
_NOT_PAGES = ("/api/", "/mcp", "/healthz", "/docs", "/openapi.json", "/redoc", "/metrics")

_templates = Environment(
    loader=PackageLoader("brahmi.web", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
router = APIRouter(include_in_schema=False)


def render(template: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    """``template`` rendered with ``context`` (autoescaped), with the security headers."""
    html = _templates.get_template(template).render(version=__version__, **context)
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)


def not_found(what: str, ident: str) -> HTMLResponse:
    """The page for an unknown ``what`` (``project``, ``task``, ``page``) with id ``ident``."""
    return render("not_found.html", status_code=404, what=what, ident=ident, title="Not found")


def _brahmi(request: Request) -> Brahmi:
    brahmi: Brahmi = request.app.state.brahmi
    return brahmi


@router.get("/", response_class=HTMLResponse)
def projects_page() -> HTMLResponse:
    """Projects: task counts, usage against budget, planner sessions, live workers."""
    return render("projects.html", page="projects", title="Projects")


@router.get("/projects/{project_id}", response_class=HTMLResponse)
def project_page(project_id: str, request: Request) -> HTMLResponse:
    """A project's task graph and task list, live."""
    try:
        project = _brahmi(request).get_project(project_id)
    except errors.ProjectNotFound:
        return not_found("project", project_id)
    return render("project.html", page="project", title="Project", project_id=project.id)


@router.get("/projects/{project_id}/planner", response_class=HTMLResponse)
def planner_page(project_id: str, request: Request) -> HTMLResponse:
    """A project's planner conversation, live, with a box to send a message."""
    try:
        project = _brahmi(request).get_project(project_id)
    except errors.ProjectNotFound:
        return not_found("project", project_id)
    return render("planner.html", page="planner", title="Planner", project_id=project.id)


@router.get("/tasks/{task_id}", response_class=HTMLResponse)
def task_page(task_id: str, request: Request) -> HTMLResponse:
    """One task: inputs, criteria, outputs, attempts, loop turns, sub-tasks, transcript."""
    try:
        task = _brahmi(request).get_task(task_id)
    except errors.TaskNotFound:
        return not_found("task", task_id)
    return render(
        "task.html", page="task", title="Task", task_id=task.id, project_id=task.project_id
    )


@router.get("/skills", response_class=HTMLResponse)
def skills_page() -> HTMLResponse:
    """Skill search, a skill's body and resources, the index's sources and problems."""
    return render("skills.html", page="skills", title="Skills")


class _Secured:
    """Adds :data:`SECURITY_HEADERS` (and revalidation) to every response of ``app``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                headers.append((b"cache-control", b"no-cache"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_secured)


async def _not_found_page(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    path = request.url.path
    if exc.status_code == 404 and not path.startswith(_NOT_PAGES):
        return not_found("page", path)
    return await http_exception_handler(request, exc)


def mount(app: FastAPI) -> None:
    """Serve the dashboard from ``app``: the pages, ``/static``, and HTML 404 pages for
    unknown paths outside the API."""
    app.include_router(router)
    app.mount("/static", _Secured(StaticFiles(directory=STATIC_DIR)), name="static")
    app.add_exception_handler(StarletteHTTPException, _not_found_page)


__all__ = ["CONTENT_SECURITY_POLICY", "SECURITY_HEADERS", "mount", "not_found", "render"]
