"""Brahmi's MCP tools (DESIGN §8): the planner protocol of the seeds.

Tool and argument names are exactly the seeds': ``search_skills``, ``create_tasks_batch``,
``create_task``, ``create_subtask``, ``resume_task``, ``get_task``, ``list_tasks``,
``user_response``. Each tool parses its arguments, calls one :class:`~brahmi.service.Brahmi`
function and returns structured content (and readable text). Brahmi's errors become tool
errors in one place (:func:`_tool_error`), listing every problem of a rejected batch.

Which project and what a caller may touch come from the transport: over HTTP, the ASGI
layer (:mod:`brahmi.api.app`) checks the bearer token and passes the project and scope in
headers it sets itself; over stdio (``brahmi mcp``) the project is the one the command was
started with and the caller is local.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Collection
from typing import Any, TypeVar

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from brahmi import errors
from brahmi.agents.base import PLANNER_TOOLS as ALL_TOOLS
from brahmi.domain.access import LOCAL, Scope
from brahmi.domain.models import TaskRecord, TaskStatus
from brahmi.service import Brahmi
from brahmi.views import MAX_BATCH_TASKS, task_view

#: Headers the ASGI layer sets (after removing any a client sent).
PROJECT_HEADER = "x-brahmi-project"
SCOPE_HEADER = "x-brahmi-scope"
#: Seconds between progress reports while a question waits for its answer.
PROGRESS_INTERVAL_S = 5.0
#: The planner session acting (``/projects/{id}/sessions/{session_id}/mcp``, DESIGN §7).
SESSION_HEADER = "x-brahmi-planner-session"
T = TypeVar("T")

INSTRUCTIONS = """\
Brahmi runs task graphs for you. Find skills with search_skills and use each result's
full_id as a task's skill_id. Create a whole plan at once with create_tasks_batch: give each
task a unique_id (1, 2, …) and name its dependencies in logical_dependencies; a QA task
names the tasks it judges in inputs.critiques_tasks and must end with a "verdict" of
"pass" or "fail" (with feedback_for_rebuild on fail): Brahmi then rebuilds the critiqued
tasks with that feedback and runs QA again. Brahmi tells you when each task finishes.
"""


def build_mcp(
    brahmi: Brahmi,
    default_project_id: str | None,
    *,
    default_scope: Scope = LOCAL,
    tools: Collection[str] | None = None,
    planner_session_id: str | None = None,
) -> MCPServer:
    """The MCP server of one Brahmi instance.

    Args:
        brahmi: The instance whose service functions the tools call.
        default_project_id: The project for calls that name none (``/mcp``, stdio).
        default_scope: What a caller whose transport carries no scope may do: everything
            (:data:`~brahmi.domain.access.LOCAL`) for ``brahmi mcp``, an agent's scope for
            ``brahmi mcp --task`` (issue 6).
        tools: Only these tools are offered (default: all eight).
        planner_session_id: The planner session acting when a call names none (stdio
            ``brahmi mcp --planner-session``): its batches and tasks report back to the
            session, and ``user_response`` appends to its conversation (DESIGN §7).

    Raises:
        ValueError: When ``tools`` names a tool that does not exist.
    """
    server: MCPServer = MCPServer(
        "brahmi", instructions=INSTRUCTIONS, version="0.1.0", log_level="WARNING"
    )

    def context(ctx: Context | None) -> tuple[str, Scope]:
        headers = _headers(ctx)
        project_id = headers.get(PROJECT_HEADER) or default_project_id
        if not project_id:
            raise ToolError("no project: use /projects/{project_id}/mcp or start with --project")
        raw_scope = headers.get(SCOPE_HEADER)
        scope = Scope(**json.loads(raw_scope)) if raw_scope else default_scope
        if not scope.can_read(project_id):
            raise _tool_error(errors.Forbidden(f"this token may not use project {project_id}"))
        return project_id, scope

    def writable(ctx: Context | None) -> str:
        project_id, scope = context(ctx)
        if not scope.can_write(project_id):
            raise _tool_error(
                errors.Forbidden(
                    "this token may not create or change tasks (read-only or agent token)"
                )
            )
        return project_id

    def session_of(ctx: Context | None) -> str | None:
        return _headers(ctx).get(SESSION_HEADER) or planner_session_id

    def owned(task: TaskRecord, project_id: str) -> TaskRecord:
        if task.project_id != project_id:
            raise ToolError(f"task {task.id} belongs to another project [task_not_found]")
        return task

    @server.tool()
    def search_skills(
        category: str | None = None,
        tag: str | None = None,
        q: str | None = None,
        ctx: Context | None = None,
    ) -> dict[str, Any]:
        """Find skills to bind tasks to. `category` (development, testing, critique,
        deployment, planner…) and `tag` (backend, frontend, metadata…) match exactly, any
        case; `q` ranks free text. Use a result's `full_id` as a task's `skill_id`."""
        project_id, _ = context(ctx)

        hits = _call(lambda: brahmi.search_skills(project_id, category, tag, q))
        return {"skills": [h.to_dict() for h in hits]}

    @server.tool()
    def create_tasks_batch(
        tasks: list[dict[str, Any]], ctx: Context | None = None
    ) -> dict[str, Any]:
        """Create a plan's tasks at once, atomically (all or none). Each task: unique_id
        (1, 2, …), task_name (3–255 chars), skill_id (a full_id from search_skills),
        description, task_order, logical_dependencies (unique_ids, or ids of existing tasks),
        inputs (a QA task's inputs.critiques_tasks names what it judges), validation_criteria
        {critical, expected, nice_to_have}, timeout_seconds. uniqueId/logicalDependencies and
        the task_order dialect are accepted too. Returns each unique_id's task id."""
        project_id = writable(ctx)
        if len(tasks) > MAX_BATCH_TASKS:
            raise _tool_error(errors.InvalidBatch.too_large(len(tasks), MAX_BATCH_TASKS))
        session_id = session_of(ctx)
        created = _call(
            lambda: brahmi.create_tasks_batch(
                project_id, tasks, source="mcp", planner_session_id=session_id
            )
        )
        return created.to_dict()

    @server.tool()
    def create_task(
        skill_id: str,
        task_name: str,
        description: str = "",
        task_order: int = 1,
        inputs: dict[str, Any] | None = None,
        validation_criteria: dict[str, list[str]] | None = None,
        timeout_seconds: int | None = None,
        dependencies: list[str] | None = None,
        ctx: Context | None = None,
    ) -> dict[str, Any]:
        """Create one task; `dependencies` are ids of existing tasks. Use it for a parent
        whose work you then split with create_subtask."""
        project_id = writable(ctx)
        spec: dict[str, Any] = {
            "skill_id": skill_id,
            "task_name": task_name,
            "description": description,
            "task_order": task_order,
            "inputs": inputs or {},
        }
        if validation_criteria is not None:
            spec["validation_criteria"] = validation_criteria
        if timeout_seconds is not None:
            spec["timeout_seconds"] = timeout_seconds
        if dependencies:
            spec["dependencies"] = dependencies
        session_id = session_of(ctx)
        return task_view(
            _call(
                lambda: brahmi.create_task(
                    project_id, spec, source="mcp", planner_session_id=session_id
                )
            )
        )

    @server.tool()
    def create_subtask(
        parent_task_id: str,
        task: dict[str, Any] | None = None,
        task_name: str | None = None,
        description: str | None = None,
        skill_id: str | None = None,
        inputs: dict[str, Any] | None = None,
        validation_criteria: dict[str, list[str]] | None = None,
        timeout_seconds: int | None = None,
        position: int | None = None,
        after: str | None = None,
        ctx: Context | None = None,
    ) -> dict[str, Any]:
        """Add a sub-task to a task (one level; no dependencies of its own). Sub-tasks run one
        after another in position order; a failed one keeps the earlier ones' results, and a
        retry resumes there. skill_id defaults to the parent's. Give the spec as `task` or
        as separate fields; `position` (1-based) or `after` (a sibling id) inserts."""
        project_id, scope = context(ctx)
        parent = owned(_call(lambda: brahmi.get_task(parent_task_id)), project_id)
        if not scope.can_add_subtask(project_id, parent.id):
            raise _tool_error(errors.Forbidden("this token may not add sub-tasks to that task"))
        spec = dict(task or {})
        for key, value in (
            ("task_name", task_name),
            ("description", description),
            ("skill_id", skill_id),
            ("inputs", inputs),
            ("validation_criteria", validation_criteria),
            ("timeout_seconds", timeout_seconds),
        ):
            if value is not None:
                spec[key] = value
        spec_position = spec.pop("position", None)
        spec_after = spec.pop("after", None)
        created = _call(
            lambda: brahmi.create_subtask(
                parent.id,
                spec,
                position=position if position is not None else spec_position,
                after=after or spec_after,
            )
        )
        return task_view(created)

    @server.tool()
    async def resume_task(
        task_id: str, message: str, mode: str = "continue", ctx: Context | None = None
    ) -> dict[str, Any]:
        """Act on a finished task: mode "continue" runs it again with `message` (new outputs
        replace the old; completed work after it runs again); mode "qa" asks its agent
        session the question `message` and returns {"answer"}, changing nothing (waits at
        most a few minutes, reporting progress)."""
        project_id = writable(ctx)
        owned(_call(lambda: brahmi.get_task(task_id)), project_id)
        if mode != "qa":
            return task_view(_call(lambda: brahmi.resume_task(task_id, message, mode)))
        asking = asyncio.ensure_future(brahmi.ask_task_async(task_id, message))
        waited = 0.0
        limit = brahmi.settings.question_timeout_s
        while not asking.done():
            done, _ = await asyncio.wait({asking}, timeout=PROGRESS_INTERVAL_S)
            if done:
                break
            waited += PROGRESS_INTERVAL_S
            if ctx is not None:
                with contextlib.suppress(Exception):  # a client without progress support
                    await ctx.report_progress(
                        waited, limit, f"waiting for the agent's answer ({waited:g} s)"
                    )
        try:
            return asking.result().to_dict()
        except errors.BrahmiError as exc:
            raise _tool_error(exc) from None

    @server.tool()
    def get_task(task_id: str, ctx: Context | None = None) -> dict[str, Any]:
        """One task: status, inputs, outputs, error, attempts, rebuilds, sub-tasks."""
        project_id, _ = context(ctx)
        found = owned(_call(lambda: brahmi.get_task(task_id)), project_id)
        subtasks = brahmi.store.subtasks_of(found.id) if found.has_subtasks else []
        return task_view(found, subtasks=subtasks)

    @server.tool()
    def list_tasks(
        status: str | None = None,
        parent_task_id: str | None = None,
        ctx: Context | None = None,
    ) -> dict[str, Any]:
        """The project's tasks (each parent followed by its sub-tasks), optionally only
        those in one `status` (planned, ready, running, completed, failed, cancelled,
        blocked) or the sub-tasks of one parent."""
        project_id, _ = context(ctx)
        wanted = _status(status)
        tasks = _call(
            lambda: brahmi.store.list_tasks(
                project_id=project_id, status=wanted, parent_id=parent_task_id
            )
        )
        return {"tasks": [task_view(t, brief=True) for t in tasks]}

    @server.tool()
    def user_response(message: str, ctx: Context | None = None) -> dict[str, Any]:
        """Reply to the person you plan for; they see it in the conversation."""
        project_id = writable(ctx)
        session_id = session_of(ctx)
        entry = _call(
            lambda: brahmi.record_user_response(project_id, message, planner_session_id=session_id)
        )
        return {"delivered": True, "message_id": entry.id, "session_id": entry.session_id}

    if tools is not None:
        offered = set(ALL_TOOLS)
        unknown = set(tools) - offered
        if unknown:
            raise ValueError(f"no such Brahmi tool: {', '.join(sorted(unknown))}")
        for name in offered - set(tools):
            server.remove_tool(name)
    return server


def _call(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except errors.BrahmiError as exc:
        raise _tool_error(exc) from None


def _tool_error(exc: errors.BrahmiError) -> ToolError:
    """One place where Brahmi's errors become tool errors: the code and every problem."""
    if isinstance(exc, errors.InvalidBatch):
        lines = [f"{exc.code}: {len(exc.problems)} problem(s); nothing was stored."]
        lines += [f"- {p.path}: {p.message} [{p.code}]" for p in exc.problems]
        return ToolError("\n".join(lines))
    return ToolError(f"{exc.message} [{exc.code}]")


def _status(value: str | None) -> TaskStatus | None:
    if value is None:
        return None
    try:
        return TaskStatus(value.strip().lower())
    except ValueError:
        known = ", ".join(s.value for s in TaskStatus)
        raise ToolError(f"status must be one of {known} [invalid_status]") from None


def _headers(ctx: Context | None) -> dict[str, str]:
    if ctx is None:
        return {}
    try:
        headers = ctx.headers
    except (ValueError, LookupError, AttributeError):
        return {}
    return {k.lower(): v for k, v in (headers or {}).items()}


__all__ = [
    "PROJECT_HEADER",
    "SCOPE_HEADER",
    "SESSION_HEADER",
    "build_mcp",
]
