"""Rendering a task as the prompt an agent reads (DESIGN §6).

The prompt holds the task's name and description, its inputs as JSON, its validation
criteria, a "Feedback from QA — attempt N" section after a failed verdict, the parent's
context for a sub-task, and the output contract.
"""

from __future__ import annotations

import json
from typing import Any

from brahmi.domain.models import TaskRecord

OUTPUT_CONTRACT = """\
## Output contract
When you are done, end your final message with ONE JSON object holding this task's
outputs, either as the whole message or in a fenced ```json block. Brahmi reads the last
JSON object of your final message. Report failure with "status": "failed" and an "error".
"""

QA_CONTRACT = """\
This is a QA task: your outputs MUST include "verdict": "pass" or "fail". On "fail",
include "feedback_for_rebuild": {"summary", "issues": [{"what", "expected", "actual",
"location", "suggestion", "severity"}], "tests_written", "tests_failing",
"files_reviewed", "what_works", "what_doesnt_work"} so the critiqued work can be rebuilt.
"""


def render_prompt(
    task: TaskRecord, parent: TaskRecord | None = None, *, resume_message: str | None = None
) -> str:
    """The prompt for one attempt of ``task``.

    Args:
        task: The task as claimed.
        parent: Its parent, when ``task`` is a sub-task.
        resume_message: The message of a ``resume_task(mode="continue")`` (DESIGN §6).
    """
    inputs = dict(task.inputs)
    feedback = inputs.pop("feedback_for_rebuild", None)
    parts = [
        f"# Task: {task.task_name}\n",
        f"Task id: `{task.id}` (Brahmi's tools take it, e.g. as `parent_task_id` of "
        "`create_subtask` to split this work into sub-tasks that run after you).\n",
    ]
    if task.description:
        parts.append(f"{task.description.strip()}\n")
    if parent is not None:
        parts.append(
            "## Parent task\n"
            f"This is a sub-task of **{parent.task_name}**.\n\n"
            f"{parent.description.strip()}\n\n"
            "Parent inputs:\n"
            f"{_json_block(parent.inputs)}"
        )
    parts.append(f"## Inputs\n{_json_block(inputs)}")
    criteria = _criteria(task.validation_criteria)
    if criteria:
        parts.append(f"## Validation criteria\n{criteria}")
    if feedback is not None:
        parts.append(
            f"## Feedback from QA — attempt {task.rebuilds + 1}\n"
            "A QA task judged the previous attempt and failed it. Fix what it found:\n\n"
            f"{_json_block(feedback)}"
        )
    if resume_message:
        parts.append(
            "## Message\n"
            "This task already ran; it is being continued with this message. Act on it and "
            "give the task's complete outputs again:\n\n"
            f"{resume_message.strip()}\n"
        )
    parts.append(OUTPUT_CONTRACT)
    if task.is_qa:
        parts.append(QA_CONTRACT)
    return "\n".join(parts)


def _json_block(value: Any) -> str:
    return "```json\n" + json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n```\n"


def _criteria(criteria: dict[str, list[str]]) -> str:
    labels = {"critical": "Critical", "expected": "Expected", "nice_to_have": "Nice to have"}
    lines: list[str] = []
    for key, label in labels.items():
        items = criteria.get(key) or []
        if items:
            lines.append(f"{label}:")
            lines.extend(f"- {item}" for item in items)
    return "\n".join(lines) + "\n" if lines else ""
