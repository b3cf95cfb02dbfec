"""What REST and MCP both show of a task, and the limits both apply (DESIGN §8).

Below both surfaces (beside :mod:`brahmi.service`), so that :mod:`brahmi.api.routes` and
:mod:`brahmi.mcp.server` each depend only downward and show a task the same way.
"""

from __future__ import annotations

from typing import Any

from brahmi.domain.models import TaskRecord

#: Most tasks one batch may hold, over MCP and REST (larger batches are rejected whole).
MAX_BATCH_TASKS = 10_000


def task_view(
    task: TaskRecord, *, brief: bool = False, subtasks: list[TaskRecord] | None = None
) -> dict[str, Any]:
    """A task as the tools and REST return it.

    Args:
        task: The task to show.
        brief: Only the summary fields (ids, name, status, skill, order, counters, error),
            as lists show them.
        subtasks: The task's sub-tasks, shown brief under ``subtasks`` (full view only).

    Returns:
        A JSON-ready dict; ``unique_id`` is the batch key, an int when it is digits.
    """
    view: dict[str, Any] = {
        "task_id": task.id,
        "unique_id": int(task.batch_key)
        if task.batch_key and task.batch_key.isdigit()
        else task.batch_key,
        "task_name": task.task_name,
        "status": task.status.value,
        "skill_id": task.skill_id,
        "task_order": task.task_order,
        "parent_id": task.parent_id,
        "position": task.position,
        "attempts": task.attempts,
        "rebuilds": task.rebuilds,
        "error": task.error,
        "error_code": task.error_code,
    }
    if brief:
        return view
    view.update(
        {
            "description": task.description,
            "inputs": task.inputs,
            "outputs": task.outputs,
            "validation_criteria": task.validation_criteria,
            "dependencies": list(task.dependencies),
            "skill_version": task.skill_version,
            "subtasks_completed": task.subtasks_completed,
            "subtasks": [task_view(s, brief=True) for s in subtasks or []],
        }
    )
    return view


__all__ = ["MAX_BATCH_TASKS", "task_view"]
