"""REST under ``/api/v1``: the same operations as the MCP tools, plus projects, skills and
events (DESIGN §8). Each route checks the caller's scope, calls one service function and
returns JSON; errors go through the app's one exception handler."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query, Request
from pydantic import BaseModel, Field
from sse_starlette.sse import EventSourceResponse

from brahmi import errors
from brahmi.api.access import (
    BrahmiDep,
    ScopeDep,
    require_person,
    require_readable,
    require_writable,
    task_in_scope,
)
from brahmi.domain.models import TaskStatus
from brahmi.store.tasks import TaskKey, task_key
from brahmi.views import MAX_BATCH_TASKS, task_view

router = APIRouter(prefix="/api/v1")
#: Seconds between polls of the event log by an open event stream.
EVENT_POLL_S = 0.2


# -- projects -------------------------------------------------------------------------------


class ProjectIn(BaseModel):
    """A project to create (or find): its workspace folder on the server's machine."""

    workspace: str = Field(description="Absolute path of the workspace folder.")


@router.get("/projects", tags=["projects"])
def list_projects(brahmi: BrahmiDep, scope: ScopeDep) -> dict[str, Any]:
    """Every project the caller may read."""
    return {"projects": [_project(p) for p in brahmi.list_projects() if scope.can_read(p.id)]}


@router.post("/projects", status_code=201, tags=["projects"])
def create_project(body: ProjectIn, brahmi: BrahmiDep, scope: ScopeDep) -> dict[str, Any]:
    """Register a workspace folder as a project (the existing one when already known)."""
    if scope.project_id is not None or scope.read_only or scope.task_id is not None:
        raise errors.Forbidden("this token may not create projects")
    return _project(brahmi.project_for(Path(body.workspace)))


@router.get("/projects/{project_id}", tags=["projects"])
def get_project(project_id: str, brahmi: BrahmiDep, scope: ScopeDep) -> dict[str, Any]:
    """One project, with its task counts by status."""
    require_readable(brahmi, scope, project_id)
    counts = brahmi.store.status_counts(project_id=project_id)
    budget = brahmi.usage.budget(project_id)
    return {
        **_project(brahmi.get_project(project_id)),
        "tasks": {s.value: n for s, n in counts.items()},
        "usage": brahmi.usage.totals(project_id=project_id).to_dict(),
        "budget": budget.to_dict() if budget.usd is not None or budget.tokens is not None else None,
    }


class ProjectSettingsIn(BaseModel):
    """Project settings to change; a key set to null is removed, one left out is kept."""

    env: dict[str, str] | None = Field(None, description="Environment for the agents.")
    executor: str | None = Field(None, description="Runtime for skills that name none.")
    runtime_options: dict[str, Any] | None = Field(
        None, description="e.g. permission_mode, allowed_tools, model, max_turns (claude-code)."
    )
    budget: dict[str, float | None] | None = Field(
        None, description='{"usd": number, "tokens": integer}: no new agent run past either.'
    )


@router.patch("/projects/{project_id}/settings", tags=["projects"])
def configure_project(
    project_id: str, body: ProjectSettingsIn, brahmi: BrahmiDep, scope: ScopeDep
) -> dict[str, Any]:
    """Change a project's settings (issue 6): budget, default runtime, runtime options, env.
    A person's call: an agent's or a planner's token gets 403."""
    require_person(brahmi, scope, project_id)
    changes = body.model_dump(exclude_unset=True)
    return _project(brahmi.configure_project(project_id, changes))


def _project(project: Any) -> dict[str, Any]:
    settings = dict(project.settings)
    if "env" in settings:
        settings["env"] = sorted(settings["env"])  # names only: the values may be secrets
    return {
        "project_id": project.id,
        "name": project.name,
        "workspace": project.workspace,
        "settings": settings,
        "created_at": project.created_at,
    }


# -- tasks ----------------------------------------------------------------------------------


@router.post("/projects/{project_id}/tasks/batch", status_code=201, tags=["tasks"])
def create_tasks_batch(
    project_id: str,
    brahmi: BrahmiDep,
    scope: ScopeDep,
    body: Annotated[Any, Body(description='{"tasks": [...]} or the list itself, any dialect.')],
) -> dict[str, Any]:
    """``create_tasks_batch``: all tasks or none; 400 ``invalid_batch`` lists every problem."""
    require_writable(brahmi, scope, project_id)
    tasks = body.get("tasks") if isinstance(body, dict) else body
    if isinstance(tasks, list) and len(tasks) > MAX_BATCH_TASKS:
        raise errors.InvalidBatch.too_large(len(tasks), MAX_BATCH_TASKS)
    return brahmi.create_tasks_batch(project_id, tasks, source="api").to_dict()


@router.post("/projects/{project_id}/tasks", status_code=201, tags=["tasks"])
def create_task(
    project_id: str,
    brahmi: BrahmiDep,
    scope: ScopeDep,
    body: Annotated[dict[str, Any], Body(description="One task spec; dependencies are task ids.")],
) -> dict[str, Any]:
    """``create_task``."""
    require_writable(brahmi, scope, project_id)
    return task_view(brahmi.create_task(project_id, body, source="api"))


@router.get("/projects/{project_id}/tasks", tags=["tasks"])
def list_tasks(
    project_id: str,
    brahmi: BrahmiDep,
    scope: ScopeDep,
    status: TaskStatus | None = None,
    parent_task_id: str | None = None,
    batch_id: str | None = None,
    limit: Annotated[
        int | None,
        Query(ge=1, le=MAX_PAGE, description="At most this many tasks, and a next_cursor."),
    ] = None,
    cursor: Annotated[
        str | None, Query(description="The next_cursor of the previous page.")
    ] = None,
) -> dict[str, Any]:
    """The project's tasks, each parent followed by its sub-tasks, filtered as asked.

    With ``limit``, one page in (task_order, creation, id) order and ``next_cursor``: pass
    it as ``cursor`` for the next page (null after the last).
    """
    require_readable(brahmi, scope, project_id)
    after = _decode_cursor(cursor) if cursor is not None else None
    page = limit or (MAX_PAGE if after is not None else None)
    tasks = brahmi.store.list_tasks(
        project_id=project_id,
        status=status,
        parent_id=parent_task_id,
        batch_id=batch_id,
        limit=page + 1 if page is not None else None,
        after=after,
    )
    if page is None:
        return {"tasks": [task_view(t, brief=True) for t in tasks]}
    more = len(tasks) > page
    tasks = tasks[:page]
    return {
        "tasks": [task_view(t, brief=True) for t in tasks],
        "next_cursor": _encode_cursor(task_key(tasks[-1])) if more else None,
    }


#: The most tasks one page of ``GET /projects/{id}/tasks`` holds.
MAX_PAGE = 1000


def _encode_cursor(key: TaskKey) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> TaskKey:
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        order, created, task_id = raw
        if isinstance(order, bool) or not isinstance(order, int) or abs(order) >= 2**63:
            raise TypeError(order)  # a task_order is a 64-bit integer in the database
        return int(order), float(created), str(task_id)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise errors.InvalidCursor("cursor is not a next_cursor this listing returned") from exc


@router.get("/tasks/{task_id}", tags=["tasks"])
def get_task(task_id: str, brahmi: BrahmiDep, scope: ScopeDep) -> dict[str, Any]:
    """One task with its sub-tasks, attempts and history (verdicts, rebuilds, resumes)."""
    task = task_in_scope(brahmi, scope, task_id)
    subtasks = brahmi.store.subtasks_of(task.id) if task.has_subtasks else []
    view = task_view(task, subtasks=subtasks)
    view["attempt_history"] = [
        {
            "attempt_id": a.id,
            "number": a.number,
            "status": a.status,
            "executor": a.executor,
            "error": a.error,
            "usage": a.usage,
            "started_at": a.started_at,
            "finished_at": a.finished_at,
        }
        for a in brahmi.store.attempts_for(task.id)
    ]
    view["history"] = [
        {"kind": h.kind, "turn": h.turn, "created_at": h.created_at, **h.data}
        for h in brahmi.store.history_for(task.id)
    ]
    view["usage"] = brahmi.usage.totals(task_id=task.id).to_dict()
    view["session_ref"] = task.session_ref
    return view


class SubtaskIn(BaseModel):
    """``create_subtask``: the sub-task spec and where it goes."""

    task: dict[str, Any] = Field(description="task_name, description, skill_id, inputs…")
    position: int | None = Field(None, ge=1)
    after: str | None = None


@router.post("/tasks/{task_id}/subtasks", status_code=201, tags=["tasks"])
def create_subtask(
    task_id: str, body: SubtaskIn, brahmi: BrahmiDep, scope: ScopeDep
) -> dict[str, Any]:
    """``create_subtask``: one level, run in position order after earlier siblings."""
    parent = task_in_scope(brahmi, scope, task_id)
    if not scope.can_add_subtask(parent.project_id, parent.id):
        raise errors.Forbidden(f"this token may not add sub-tasks to task {task_id}")
    return task_view(
        brahmi.create_subtask(parent.id, body.task, position=body.position, after=body.after)
    )


@router.post("/tasks/{task_id}/retry", tags=["tasks"])
def retry_task(task_id: str, brahmi: BrahmiDep, scope: ScopeDep) -> dict[str, Any]:
    """Run a failed, blocked or cancelled task again, with what it blocked."""
    task_in_scope(brahmi, scope, task_id, write=True)
    return task_view(brahmi.retry_task(task_id))


@router.post("/tasks/{task_id}/cancel", tags=["tasks"])
def cancel_task(task_id: str, brahmi: BrahmiDep, scope: ScopeDep) -> dict[str, Any]:
    """Cancel a task that has not finished; its dependents become blocked."""
    task_in_scope(brahmi, scope, task_id, write=True)
    return task_view(brahmi.cancel_task(task_id))


class ResumeIn(BaseModel):
    """``resume_task``."""

    message: str
    mode: str = "continue"
    #: ``qa`` only: the longest wait for the answer, in seconds (default 300).
    timeout_s: float | None = Field(None, gt=0, le=3600)


@router.post("/tasks/{task_id}/resume", tags=["tasks"])
def resume_task(task_id: str, body: ResumeIn, brahmi: BrahmiDep, scope: ScopeDep) -> dict[str, Any]:
    """``resume_task``: ``continue`` runs a finished task again with a message and returns
    the task; ``qa`` asks the task's agent session a question and returns
    ``{"answer", "usage", …}``, changing nothing (a bounded wait: 504 past it)."""
    task_in_scope(brahmi, scope, task_id, write=True)
    if body.mode == "qa":
        return brahmi.ask_task(task_id, body.message, timeout_s=body.timeout_s).to_dict()
    return task_view(brahmi.resume_task(task_id, body.message, body.mode))


# -- planner messages (DESIGN §7) -----------------------------------------------------------


class MessageIn(BaseModel):
    """A person's message to the project's planner."""

    text: str = Field(description="The message (1–100,000 characters).")
    planner: str | None = Field(
        None,
        description="The planner: a full_id, a short name, or template; default the "
        "project's (its latest session's, else brahmi/builtin/default-planner).",
    )


@router.post("/projects/{project_id}/messages", status_code=202, tags=["planner"])
def post_message(
    project_id: str, body: MessageIn, brahmi: BrahmiDep, scope: ScopeDep
) -> dict[str, Any]:
    """Post a message to the planner: stored with its trigger; the planner actor of
    ``brahmi serve`` answers it. Replies appear in ``GET .../messages`` and as
    ``user_response`` events on the event stream. A person's call: a planner's token
    (which answers with ``user_response``) gets 403."""
    require_person(brahmi, scope, project_id)
    return brahmi.post_message(project_id, body.text, planner=body.planner).to_dict()


@router.get("/projects/{project_id}/messages", tags=["planner"])
def list_messages(
    project_id: str,
    brahmi: BrahmiDep,
    scope: ScopeDep,
    after: Annotated[int, Query(ge=0)] = 0,
    session_id: str | None = None,
) -> dict[str, Any]:
    """The conversation, oldest first: the person's messages (``user``), the planner's
    replies (``planner``) and Brahmi's notices (``brahmi``), after message id ``after``."""
    require_readable(brahmi, scope, project_id)
    messages = brahmi.conversation(project_id, session_id=session_id, after_id=after)
    return {"messages": [m.to_dict() for m in messages]}


@router.get("/projects/{project_id}/planner/sessions", tags=["planner"])
def list_sessions(project_id: str, brahmi: BrahmiDep, scope: ScopeDep) -> dict[str, Any]:
    """The project's planner sessions with their usage, and each session's triggers."""
    require_readable(brahmi, scope, project_id)
    store = brahmi.planner_store
    return {
        "sessions": [
            {
                "session_id": s.id,
                "planner": s.planner_skill_id,
                "session_ref": s.session_ref,
                "busy": s.current_trigger_id is not None,
                "last_error": s.last_error,
                "usage": {
                    "input_tokens": s.input_tokens,
                    "output_tokens": s.output_tokens,
                    "cost_usd": s.cost_usd,
                },
                "triggers": [tr.to_dict() for tr in store.triggers(s.id)],
            }
            for s in store.sessions(project_id)
        ]
    }


@router.post("/projects/{project_id}/planner/wake_up", status_code=202, tags=["planner"])
def wake_up(project_id: str, brahmi: BrahmiDep, scope: ScopeDep) -> dict[str, Any]:
    """Queue a ``wake_up`` trigger for each of the project's sessions with unfinished work."""
    require_writable(brahmi, scope, project_id)
    return {"triggers": [tr.to_dict() for tr in brahmi.wake_up(project_id)]}


# -- skills ---------------------------------------------------------------------------------


@router.get("/skills/search", tags=["skills"])
def search_skills(
    brahmi: BrahmiDep,
    scope: ScopeDep,
    category: str | None = None,
    tag: str | None = None,
    q: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
) -> dict[str, Any]:
    """``search_skills``: exact category and tag (any case), ranked free text."""
    hits = brahmi.registry.search(category=category, tag=tag, q=q, limit=limit)
    return {"skills": [h.to_dict() for h in hits]}


@router.get("/skills/{full_id:path}", tags=["skills"])
def get_skill(full_id: str, brahmi: BrahmiDep, scope: ScopeDep) -> dict[str, Any]:
    """One skill: metadata, version, resources and body."""
    skill = brahmi.registry.get(full_id)
    return {
        "full_id": skill.full_id,
        "name": skill.name,
        "description": skill.description,
        "category": skill.category,
        "tags": list(skill.tags),
        "version": skill.version,
        "runtime": skill.runtime,
        "resources": list(skill.resources),
        "body": skill.body,
    }


# -- events ---------------------------------------------------------------------------------


@router.get("/events", tags=["events"])
async def events(
    request: Request,
    brahmi: BrahmiDep,
    scope: ScopeDep,
    project_id: str,
    after: int = 0,
    last_event_id: Annotated[str | None, Header()] = None,
) -> EventSourceResponse:
    """The project's events as Server-Sent Events, oldest first, then live; each carries
    its id, so a client that reconnects with ``Last-Event-ID`` misses nothing."""
    require_readable(brahmi, scope, project_id)
    start = int(last_event_id) if last_event_id and last_event_id.isdigit() else after

    async def stream() -> AsyncIterator[dict[str, Any]]:
        cursor = start
        while not await request.is_disconnected():
            batch = brahmi.store.events(after_id=cursor, project_id=project_id, limit=500)
            for event in batch:
                cursor = event.id
                yield {
                    "id": str(event.id),
                    "event": event.kind,
                    "data": json.dumps(
                        {
                            "id": event.id,
                            "kind": event.kind,
                            "task_id": event.task_id,
                            "data": event.data,
                            "created_at": event.created_at,
                        }
                    ),
                }
            if not batch:
                await asyncio.sleep(EVENT_POLL_S)

    return EventSourceResponse(stream(), ping=15)
