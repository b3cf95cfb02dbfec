"""REST for watching work (issue 14): the caller's access, live workers, a project's graph
in one read, a transcript as it is written, and the skill index's sources and problems.

The dashboard reads through these and the routes of :mod:`brahmi.api.routes`; like them,
each checks the caller's scope and calls the service.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Query

from brahmi import errors
from brahmi.api.access import BrahmiDep, ScopeDep, require_readable, task_in_scope
from brahmi.views import task_view

#: The largest transcript offset asked for, bytes (a file offset is a signed 64-bit number).
MAX_OFFSET = 2**62

router = APIRouter(prefix="/api/v1")


@router.get("/access", tags=["access"])
def access(scope: ScopeDep) -> dict[str, Any]:
    """What the caller may do: the one project it is limited to (null: every project) and
    whether it may only read. The dashboard hides actions a caller may not take."""
    return {
        "project_id": scope.project_id,
        "read_only": scope.read_only or scope.task_id is not None,
    }


@router.get("/events/cursor", tags=["events"])
def event_cursor(brahmi: BrahmiDep, scope: ScopeDep) -> dict[str, int]:
    """The id of the newest event: read it before reading state, then follow
    ``/events?after=`` it, and no change falls between the two."""
    return {"last_event_id": brahmi.store.last_event_id()}


@router.get("/workers", tags=["workers"])
def workers(brahmi: BrahmiDep, scope: ScopeDep) -> dict[str, Any]:
    """Live workers (as ``brahmi workers --json``): host, pid, runtimes, runs held,
    heartbeat. Agents' and planners' tokens may not list them."""
    if scope.task_id is not None or scope.planner_session_id is not None:
        raise errors.Forbidden("this token may not list workers")
    found = brahmi.store.live_workers(now=time.time(), stale_after_s=brahmi.settings.lease_s)
    return {"workers": [w.to_dict() for w in found]}


@router.get("/projects/{project_id}/graph", tags=["tasks"])
def graph(project_id: str, brahmi: BrahmiDep, scope: ScopeDep) -> dict[str, Any]:
    """Every task of the project in one read, each with its ``dependencies`` and the tasks
    it ``critiques`` (a QA task's targets), and ``last_event_id``: follow
    ``/events?after=last_event_id`` to keep the picture current without a gap."""
    require_readable(brahmi, scope, project_id)
    last_event_id = brahmi.store.last_event_id()  # before the read: nothing falls between
    critiques: dict[str, list[str]] = {}
    for qa_id, target_id in brahmi.store.critique_edges(project_id):
        critiques.setdefault(qa_id, []).append(target_id)
    tasks = []
    for task in brahmi.store.list_tasks(project_id=project_id):
        view = task_view(task, brief=True)
        view["dependencies"] = list(task.dependencies)
        view["critiques"] = critiques.get(task.id, [])
        tasks.append(view)
    return {"last_event_id": last_event_id, "tasks": tasks}


@router.get("/tasks/{task_id}/transcript", tags=["tasks"])
def transcript(
    task_id: str,
    brahmi: BrahmiDep,
    scope: ScopeDep,
    attempt_id: str | None = None,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict[str, Any]:
    """A piece of the transcript of ``attempt_id`` (default: the newest attempt, running or
    not) from byte ``offset``; ask again from ``next_offset`` while ``running`` is true.
    ``{"attempt_id": null, …}`` when the task has not run yet."""
    task_in_scope(brahmi, scope, task_id)
    chunk = brahmi.read_transcript(task_id, attempt_id=attempt_id, offset=offset)
    if chunk is None:
        return {
            "attempt_id": None,
            "number": None,
            "offset": offset,
            "next_offset": offset,
            "text": "",
            "running": False,
        }
    return chunk.to_dict()


@router.get("/skill-index", tags=["skills"])
def skill_index(brahmi: BrahmiDep, scope: ScopeDep) -> dict[str, Any]:
    """The skill sources (built-ins first) and the problems found while indexing them."""
    return {
        "sources": [s.to_dict() for s in brahmi.registry.sources()],
        "problems": [
            {"file": file, "message": message} for file, message in brahmi.registry.problems
        ],
    }
