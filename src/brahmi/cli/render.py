"""How tasks look on the terminal and in ``--json`` output."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text

from brahmi.domain.status import TaskStatus

if TYPE_CHECKING:
    from brahmi.domain.models import AttemptRecord, HistoryRecord, TaskRecord

STATUS_STYLES = {
    TaskStatus.PLANNED: "dim",
    TaskStatus.READY: "cyan",
    TaskStatus.RUNNING: "bold yellow",
    TaskStatus.COMPLETED: "green",
    TaskStatus.FAILED: "bold red",
    TaskStatus.CANCELLED: "magenta",
    TaskStatus.BLOCKED: "red",
}


def task_summary(task: TaskRecord) -> dict[str, Any]:
    """The fields ``brahmi run --json`` and ``brahmi tasks list --json`` print per task."""
    return {
        "task_id": task.id,
        "unique_id": _unique_id(task),
        "task_name": task.task_name,
        "status": task.status.value,
        "attempts": task.attempts,
        "rebuilds": task.rebuilds,
        "outputs": task.outputs,
        "error": task.error,
        # Why it stopped, for scripts (``max_rebuilds_exceeded``, ``rebuild_stalled``…).
        "error_code": task.error_code,
        "parent_id": task.parent_id,
    }


def task_detail(
    task: TaskRecord,
    attempts: list[AttemptRecord],
    history: list[HistoryRecord] | None = None,
    subtasks: list[TaskRecord] | None = None,
    usage: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything ``brahmi tasks show --json`` prints about one task: its fields, every
    attempt, every turn of its history (verdicts, rebuilds with their feedback, resumes,
    retries) and its sub-tasks."""
    return {
        **task_summary(task),
        "project_id": task.project_id,
        "user_id": task.user_id,
        "parent_id": task.parent_id,
        "batch_id": task.batch_id,
        "skill_id": task.skill_id,
        "skill_version": task.skill_version,
        "description": task.description,
        "task_order": task.task_order,
        "inputs": task.inputs,
        "validation_criteria": task.validation_criteria,
        "timeout_seconds": task.timeout_seconds,
        "max_attempts": task.max_attempts,
        "max_rebuilds": task.max_rebuilds,
        "is_qa": task.is_qa,
        "dependencies": list(task.dependencies),
        "session_ref": task.session_ref,
        "usage": usage,
        "created_at": task.created_at,
        "started_at": task.started_at,
        "finished_at": task.finished_at,
        "attempt_history": [
            {
                "attempt_id": a.id,
                "number": a.number,
                "status": a.status,
                "worker_id": a.worker_id,
                "executor": a.executor,
                "skill_version": a.skill_version,
                "error": a.error,
                "transcript_path": a.transcript_path,
                "process_id": a.process_id,
                "usage": a.usage,
                "started_at": a.started_at,
                "finished_at": a.finished_at,
            }
            for a in attempts
        ],
        "position": task.position,
        "subtasks_completed": task.subtasks_completed,
        "pending_resume": task.pending_resume,
        "history": [
            {"kind": h.kind, "turn": h.turn, "created_at": h.created_at, **h.data}
            for h in history or []
        ],
        "subtasks": [
            {
                "task_id": sub.id,
                "position": sub.position,
                "task_name": sub.task_name,
                "status": sub.status.value,
                "attempts": sub.attempts,
                "rebuilds": sub.rebuilds,
                "error": sub.error,
            }
            for sub in subtasks or []
        ],
    }


def status_text(status: TaskStatus) -> Text:
    """The status, coloured."""
    return Text(status.value, style=STATUS_STYLES[status])


def tasks_table(tasks: list[TaskRecord], *, now: float, title: str | None = None) -> Table:
    """One row per task: id, name, skill, status, attempts, time, and a note."""
    table = Table(title=title, expand=False, show_lines=False, title_justify="left")
    table.add_column("id", style="bold", no_wrap=True)
    table.add_column("task")
    table.add_column("skill", style="dim", no_wrap=True, overflow="ellipsis", max_width=36)
    table.add_column("status", no_wrap=True)
    table.add_column("att", justify="right")
    table.add_column("rb", justify="right")
    table.add_column("time", justify="right", no_wrap=True)
    table.add_column("note", no_wrap=True, overflow="ellipsis", max_width=50)
    by_id = {task.id: task for task in tasks}
    for task in tasks:
        table.add_row(
            task_label(task, by_id),
            ("  " if task.parent_id else "") + task.task_name,
            task.skill_id,
            status_text(task.status),
            str(task.attempts),
            str(task.rebuilds) if task.rebuilds else "",
            _elapsed(task, now),
            _note(task),
        )
    return table


def task_label(task: TaskRecord, by_id: Mapping[str, TaskRecord]) -> str:
    """How a task is named in tables and progress lines: its batch id (``2``), a sub-task
    as its parent's label and position (``1.3``), else the start of its id."""
    if task.parent_id is not None:
        parent = by_id.get(task.parent_id)
        prefix = task_label(parent, by_id) if parent else task.parent_id[:8]
        return f"{prefix}.{task.position}"
    return task.batch_key or task.id[:8]


def _unique_id(task: TaskRecord) -> int | str | None:
    """The task's id in its batch as the planner wrote it (batch ids are integers)."""
    key = task.batch_key
    return int(key) if key is not None and key.isdigit() else key


def _elapsed(task: TaskRecord, now: float) -> str:
    if task.started_at is None:
        return ""
    end = task.finished_at if task.finished_at is not None else now
    return f"{max(0.0, end - task.started_at):.1f}s"


def _note(task: TaskRecord) -> str:
    if task.error and task.status is not TaskStatus.COMPLETED:
        return task.error.splitlines()[0][:200]
    if task.outputs:
        if "verdict" in task.outputs:
            return f"verdict: {task.outputs['verdict']}"
        return _clip(json.dumps(task.outputs, default=str), 60)
    return ""


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
