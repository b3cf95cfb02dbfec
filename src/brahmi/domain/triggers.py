"""Pure planner rules (DESIGN §7): which planner, what a message may be, and how a trigger
reads to the planner. No I/O: the service layer and the planner actor both apply them."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from brahmi import errors

#: The planner a project uses unless it names another.
DEFAULT_PLANNER = "brahmi/builtin/default-planner"
#: The built-in deterministic planner (``--planner template``).
TEMPLATE_PLANNER = "brahmi/builtin/template-planner"
#: The ``brahmi-runtime`` of planners Brahmi hosts in process (no agent runtime involved).
TEMPLATE_RUNTIME = "template"
#: Longest message accepted from a person or a planner, in characters.
MAX_MESSAGE_CHARS = 100_000
#: Outputs shown in a "## Task Completed" block are cut at this many characters.
MAX_OUTPUTS_CHARS = 20_000
#: Conversation entries a planner starting a new session is shown (the latest ones).
HISTORY_ENTRIES = 40
#: Characters of one conversation entry shown to a planner starting a new session.
HISTORY_ENTRY_CHARS = 2_000
_SPEAKERS = {"user": "Person", "planner": "You", "brahmi": "Brahmi"}


def check_message(text: Any) -> str:
    """``text`` if it is a message a planner conversation accepts, stripped of outer blanks.

    Raises:
        InvalidMessage: Not a string, empty (or only blanks), or over
            :data:`MAX_MESSAGE_CHARS` characters.
    """
    if not isinstance(text, str):
        raise errors.InvalidMessage("a message is text")
    stripped = text.strip()
    if not stripped:
        raise errors.InvalidMessage("the message is empty")
    if len(stripped) > MAX_MESSAGE_CHARS:
        raise errors.InvalidMessage(
            f"the message has {len(stripped)} characters; the limit is {MAX_MESSAGE_CHARS}",
            length=len(stripped),
            limit=MAX_MESSAGE_CHARS,
        )
    return stripped


def choose_planner(name: str | None, planners: Iterable[tuple[str, str]]) -> str:
    """The full_id of the planner skill ``name`` names.

    Args:
        name: None (the default planner), ``template``, a full_id, or a short name.
        planners: ``(full_id, name)`` of every skill of category ``planner``.

    Raises:
        PlannerNotFound: No planner matches, or a short name matches several (the known
            planners are listed).
    """
    known = list(planners)
    if name is None:
        name = DEFAULT_PLANNER
    wanted = name.strip()
    if wanted == TEMPLATE_RUNTIME:
        wanted = TEMPLATE_PLANNER
    full_ids = [full_id for full_id, _ in known]
    if wanted in full_ids:
        return wanted
    by_name = [full_id for full_id, short in known if short == wanted]
    if len(by_name) == 1:
        return by_name[0]
    listed = ", ".join(sorted(full_ids)) or "none"
    why = "names several planners" if by_name else "is not a planner skill"
    raise errors.PlannerNotFound(
        f"{name!r} {why} (category planner); known planners: {listed}", planner=name
    )


def render_user_message(text: str) -> str:
    """A ``user_message`` trigger as the planner reads it."""
    return f"## User Message\n\n{text}\n"


def render_task_completed(task: Mapping[str, Any]) -> str:
    """A ``task_completed`` trigger, like the seeds' "## Task Completed" block.

    Args:
        task: ``task_id``, ``task_name``, ``status``, ``outputs`` and, when it failed,
            ``error`` and ``error_code``.
    """
    outputs = json.dumps(task.get("outputs") or {}, indent=2, sort_keys=True, default=str)
    if len(outputs) > MAX_OUTPUTS_CHARS:
        outputs = outputs[:MAX_OUTPUTS_CHARS] + "\n… (cut; get_task shows all outputs)"
    lines = [
        "## Task Completed",
        "",
        f"**Task:** {task.get('task_name')}",
        f"**Task ID:** {task.get('task_id')}",
        f"**Status:** {task.get('status')}",
    ]
    if task.get("error"):
        lines.append(f"**Error:** {task['error']} ({task.get('error_code') or 'error'})")
    lines += ["**Outputs:**", "```json", outputs, "```", ""]
    return "\n".join(lines)


def render_wake_up(open_tasks: int) -> str:
    """A ``wake_up`` trigger: the planner checks the current state."""
    return (
        "## Wake Up\n\n"
        f"Brahmi is running again; {open_tasks} of your tasks have not settled yet. "
        "Check the current state with list_tasks and carry on.\n"
    )


def redelivery_note(deliveries: int) -> str:
    """What a trigger delivered again says first: its earlier handling was interrupted."""
    return (
        f"(Delivery {deliveries} of this trigger: handling it before was interrupted. "
        "Batches you create again with the same content return the tasks already created; "
        "check with list_tasks before creating anything new.)\n\n"
    )


def new_session_note(history: Sequence[tuple[str, str]]) -> str:
    """What a planner reads first when its earlier agent session could not be resumed (it
    lives on another machine): the conversation so far, so it can carry on.

    Args:
        history: ``(role, text)`` of the conversation's entries before this trigger, oldest
            first; roles ``user``, ``planner``, ``brahmi``. Only the last
            :data:`HISTORY_ENTRIES` are shown, each cut at :data:`HISTORY_ENTRY_CHARS`.
    """
    lines = [
        "(Your earlier session could not be resumed here: this is a new session. "
        "Check the current state with list_tasks before creating anything.)",
        "",
    ]
    shown = list(history)[-HISTORY_ENTRIES:]
    if shown:
        left_out = len(history) - len(shown)
        lines.append(
            "## Conversation so far" + (f" (last {len(shown)} entries)" if left_out else "")
        )
        lines.append("")
        for role, text in shown:
            if len(text) > HISTORY_ENTRY_CHARS:
                text = text[:HISTORY_ENTRY_CHARS] + "… (cut)"
            lines.append(f"**{_SPEAKERS.get(role, role)}:** {text}")
        lines.append("")
    return "\n".join(lines) + "\n"
