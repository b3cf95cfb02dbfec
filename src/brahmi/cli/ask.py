"""``brahmi ask``: talk to a project's planner from the shell (DESIGN §7, §8).

The message is stored with its trigger, then the planner actor runs in this process (on
the embedded database, no server needed) until the message is handled, and the planner's
replies are printed. With ``--wait`` a worker runs too, and the conversation and task
progress are printed live until the work the message started is done. A ``brahmi serve``
on the same database may handle the message instead; ``ask`` then just prints the replies.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from brahmi.cli.common import EXIT_FAILED, handle_errors, open_brahmi, stdout
from brahmi.cli.run import SKILLS_HELP, _settings

if TYPE_CHECKING:
    from brahmi.service import Brahmi, MessagePosted

#: Seconds between looks at the conversation and the tasks.
REFRESH_S = 0.1


@handle_errors
def ask(
    text: str = typer.Argument(..., help="What you want, or a question about the work."),
    project: Path = typer.Option(
        Path(), "--project", help="The project workspace (default: this folder)."
    ),
    planner: str | None = typer.Option(
        None,
        "--planner",
        help="The planner: template (built-in, no LLM), a planner skill's name or full_id. "
        "Default: the project's latest planner, else brahmi/builtin/default-planner.",
    ),
    wait: bool = typer.Option(
        False,
        "--wait",
        help="Also run the tasks here and print the conversation and task progress live "
        "until the work this message started is done.",
    ),
    executor: str | None = typer.Option(
        None, "--executor", help="Run every task with this runtime (e.g. noop for a dry run)."
    ),
    skills: list[str] = typer.Option([], "--skills", help=SKILLS_HELP),
) -> None:
    """Send a message to the project's planner and print its reply.

    The planner answers a question from the finished tasks' outputs, or plans the work as
    tasks (which `--wait`, `brahmi serve` or `brahmi run --resume` then run). Exit 0 when
    the planner handled the message (and, with `--wait`, every task it started completed),
    1 when the planner failed or a task did not complete, 2 for an empty or oversized
    message.
    """
    brahmi = open_brahmi(_settings(skills, executor))
    try:
        if executor:
            brahmi.runtimes.get(executor)
        project_id = brahmi.project_for(project).id
        posted = brahmi.post_message(project_id, text, planner=planner)
        stdout.print(f"[dim]planner: {posted.session.planner_skill_id}[/]", highlight=False)
        import asyncio

        ok = asyncio.run(_converse(brahmi, posted, wait))
    finally:
        brahmi.close()
    if not ok:
        raise typer.Exit(EXIT_FAILED)


@dataclass
class _Progress:
    """What has been printed so far."""

    after_message: int
    after_event: int
    statuses: dict[str, str] = field(default_factory=dict)
    failed: bool = False


async def _converse(brahmi: Brahmi, posted: MessagePosted, wait: bool) -> bool:
    """Run the planner (and, with ``wait``, a worker) until done; True when all went well."""
    import asyncio

    from brahmi.planner.actor import PlannerActor

    session = posted.session
    store = brahmi.planner_store
    progress = _Progress(posted.message.id, brahmi.store.last_event_id())
    # Only this session's triggers: other projects' planners wait for their own ask or serve.
    actor = PlannerActor(brahmi, poll_interval_s=REFRESH_S, session_id=session.id)
    stop = asyncio.Event()
    brahmi.on_trigger.append(actor.wake)
    tasks = [asyncio.create_task(actor.run(stop), name="brahmi-planner")]
    if wait:
        worker = brahmi.worker()
        brahmi.on_change.append(worker.wake)
        tasks.append(asyncio.create_task(worker.run(stop), name="brahmi-worker"))
    try:
        while not any(t.done() for t in tasks):
            _print_new(brahmi, session.id, progress, wait)
            if _finished(brahmi, posted, wait):
                break
            await asyncio.sleep(REFRESH_S)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        brahmi.on_trigger.remove(actor.wake)
        if wait:
            brahmi.on_change.remove(worker.wake)
    _print_new(brahmi, session.id, progress, wait)
    trigger = store.get_trigger(posted.trigger.id)
    return trigger.status == "done" and not progress.failed


def _finished(brahmi: Brahmi, posted: MessagePosted, wait: bool) -> bool:
    """The message handled; with ``wait``, also every task the session started since then
    settled and every trigger about them handled."""
    store = brahmi.planner_store
    trigger = store.get_trigger(posted.trigger.id)
    if trigger.status in ("pending", "handling"):
        return False
    if not wait or trigger.status != "done":
        return True
    started = [b for b, t in store.session_batches(posted.session.id) if (t or 0) >= trigger.id]
    for batch_id in started:
        counts = brahmi.store.status_counts(batch_id=batch_id, top_level=True)
        if not all(status.is_settled for status in counts):
            return False
    return not store.has_unfinished_triggers(posted.session.id)


def _print_new(brahmi: Brahmi, session_id: str, progress: _Progress, wait: bool) -> None:
    for message in brahmi.planner_store.messages(
        session_id=session_id, after_id=progress.after_message
    ):
        progress.after_message = message.id
        if message.role == "user":
            continue
        style = "bold cyan" if message.role == "planner" else "bold yellow"
        stdout.print(f"[{style}]{message.role}>[/] ", end="", highlight=False)
        stdout.print(message.text, highlight=False, markup=False)
    if not wait:
        return
    session_tasks = set(brahmi.planner_store.session_task_ids(session_id))
    for event in brahmi.store.events(after_id=progress.after_event):
        progress.after_event = event.id
        if event.kind != "status_changed" or event.task_id not in session_tasks:
            continue
        new = str(event.data.get("to"))
        task = brahmi.get_task(event.task_id)
        if new in ("failed", "cancelled", "blocked"):
            progress.failed = True
        stamp = time.strftime("%H:%M:%S", time.localtime(event.created_at))
        error = f"  {event.data['error']}" if event.data.get("error") else ""
        stdout.print(
            f"{stamp} [{task.task_order}] {task.task_name}: {new}{error}",
            highlight=False,
            markup=False,
        )


__all__ = ["ask"]
