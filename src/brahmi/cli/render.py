"""How tasks look on the terminal and in ``--json`` output."""

from __future__ import annotations

import json
from typing import Any

from rich.table import Table
from rich.text import Text

from brahmi.domain.models import AttemptRecord, TaskRecord, TaskStatus

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
    }


def task_detail(task: TaskRecord, attempts: list[AttemptRecord]) -> dict[str, Any]:
    """Everything ``brahmi tasks show --json`` prints about one task."""
    return {
        **task_summary(task),
        "error_code": task.error_code,
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
    table.add_column("time", justify="right", no_wrap=True)
    table.add_column("note", no_wrap=True, overflow="ellipsis", max_width=50)
    for task in tasks:
        table.add_row(
            _batch_key(task) or task.id[:8],
            task.task_name,
            task.skill_id,
            status_text(task.status),
            str(task.attempts),
            _elapsed(task, now),
            _note(task),
        )
    return table


def _batch_key(task: TaskRecord) -> str | None:
    return task.batch_key


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
