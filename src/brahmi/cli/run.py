"""``brahmi validate`` and ``brahmi run``: check a plan, or run it to the end in process."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Group
from rich.text import Text

from brahmi import errors
from brahmi.cli.common import EXIT_FAILED, EXIT_INVALID, handle_errors, open_brahmi, stderr, stdout
from brahmi.cli.plaintable import print_table
from brahmi.cli.render import task_label, task_summary, tasks_table
from brahmi.domain.status import TaskStatus

if TYPE_CHECKING:
    from brahmi.config import Settings
    from brahmi.domain.models import EventRecord, TaskRecord
    from brahmi.service import Brahmi

#: Seconds between refreshes of the live view.
REFRESH_S = 0.2
#: Runs with more tasks than this show only their running and failed tasks live.
FULL_VIEW_MAX_TASKS = 60
#: Rows per status in the view of a large run.
LARGE_VIEW_ROWS = 20

SKILLS_HELP = (
    "A folder of skill folders (or one skill folder) to add to the built-in skills; "
    "DIR=owner/repo files them under that owner/repo (default: local/ and the folder's name). "
    "Repeatable."
)


def _settings(
    skills: list[str], executor: str | None = None, concurrency: int | None = None
) -> Settings:
    from brahmi.config import load_settings

    settings = load_settings().with_(skill_dirs=tuple(skills), forced_executor=executor)
    if concurrency is not None:
        settings = settings.with_(concurrency=concurrency)
    return settings


@handle_errors
def validate(
    plan: Path = typer.Argument(
        ..., help='The plan: a JSON list of task specs or {"tasks": [...]}.'
    ),
    skills: list[str] = typer.Option([], "--skills", help=SKILLS_HELP),
    json_output: bool = typer.Option(False, "--json", help="Print {valid, problems, warnings}."),
) -> None:
    """Check a plan without storing anything: exit 0 when valid, 2 when not.

    Every problem is reported at once, each with its path (tasks[2].logical_dependencies[0]),
    a stable code and a message.
    """
    from brahmi.service import load_plan

    brahmi = open_brahmi(_settings(skills))
    try:
        batch = brahmi.validate_batch(load_plan(plan))
    finally:
        brahmi.close()
    if json_output:
        print(
            json.dumps(
                {"valid": True, "problems": [], "warnings": [w.to_dict() for w in batch.warnings]},
                indent=2,
            )
        )
        return
    for warning in batch.warnings:
        stderr.print(f"[yellow]warning[/] {warning.path}: {warning.message}", highlight=False)
    stdout.print(
        f"[green]valid[/]: {len(batch.tasks)} task(s) in the {batch.dialect.value} dialect",
        highlight=False,
    )


@handle_errors
def run(
    plan: Path | None = typer.Argument(None, help="The plan to run. Optional with --resume."),
    project: Path = typer.Option(
        Path(), "--project", help="The project workspace: agents run in this folder."
    ),
    skills: list[str] = typer.Option([], "--skills", help=SKILLS_HELP),
    executor: str | None = typer.Option(
        None, "--executor", help="Run every task with this runtime (e.g. noop for a dry run)."
    ),
    concurrency: int | None = typer.Option(
        None, "--concurrency", min=1, help="Agent runs at once (default BRAHMI_CONCURRENCY or 4)."
    ),
    resume: bool = typer.Option(
        False,
        "--resume",
        help="Finish unfinished work instead of submitting again: with PLAN, reuse the batch "
        "an earlier run of the same plan created; without, finish the project's open tasks.",
    ),
    json_output: bool = typer.Option(False, "--json", help="Print the final state as JSON."),
    no_workers: bool = typer.Option(
        False,
        "--no-workers",
        help="Submit and wait while workers elsewhere (brahmi worker) run the tasks.",
    ),
) -> None:
    """Submit a plan and run it to the end in this process, showing every task live.

    With --no-workers this process runs nothing: it submits the plan and shows progress
    while `brahmi worker` processes on any machine sharing the database run it.

    Exit 0 when every task completed, 1 when any failed, was cancelled or is blocked, 2 for
    an invalid plan (nothing is stored then). Completed tasks are never run again: if this
    command is killed, `brahmi run --resume` (or any later run on the same BRAHMI_HOME)
    finishes what was left.
    """
    if plan is None and not resume:
        raise errors.InvalidPlan("give a PLAN to run, or --resume to finish unfinished work")
    import asyncio

    from brahmi.service import load_plan

    brahmi = open_brahmi(_settings(skills, executor, concurrency))
    try:
        if executor:
            brahmi.runtimes.get(executor)
        proj = brahmi.project_for(project)
        scope = _Scope(project_id=proj.id)
        if plan is not None:
            created = brahmi.create_tasks_batch(
                proj.id, load_plan(plan), source=f"plan:{plan}", reuse_identical=resume
            )
            scope.batch_id = created.batch_id
            for warning in created.warnings:
                stderr.print(
                    f"[yellow]warning[/] {warning.path}: {warning.message}", highlight=False
                )
            if created.reused and not json_output:
                stderr.print(
                    "resuming the batch an earlier run of this plan created", highlight=False
                )
        else:
            scope.task_ids = {
                t.id for t in brahmi.list_tasks(project_id=proj.id) if not t.status.is_settled
            }
        if no_workers and not json_output and not _live_workers(brahmi):
            stderr.print(
                "no live workers yet: start `brahmi worker` where the tasks should run",
                highlight=False,
            )
        final = asyncio.run(_drive(brahmi, scope, json_output, run_worker=not no_workers))
    finally:
        brahmi.close()
    if json_output:
        print(
            json.dumps(
                {"batch_id": scope.batch_id, "tasks": [task_summary(t) for t in final]},
                indent=2,
                default=str,
            )
        )
    else:
        _print_outcome(final)
    if any(t.status is not TaskStatus.COMPLETED for t in final if t.parent_id is None):
        raise typer.Exit(EXIT_FAILED)


@dataclass
class _Scope:
    """Which tasks a run waits for: one batch, or a set of task ids."""

    project_id: str
    batch_id: str | None = None
    task_ids: set[str] | None = None

    def tasks(self, brahmi: Brahmi, status: TaskStatus | None = None) -> list[TaskRecord]:
        if self.batch_id is not None:
            return brahmi.list_tasks(batch_id=self.batch_id, status=status)
        wanted = self.task_ids or set()
        found = brahmi.list_tasks(project_id=self.project_id, status=status)
        return [t for t in found if t.id in wanted]

    def counts(self, brahmi: Brahmi, *, top_level: bool = False) -> dict[TaskStatus, int]:
        if self.batch_id is not None:
            return brahmi.store.status_counts(batch_id=self.batch_id, top_level=top_level)
        counts: dict[TaskStatus, int] = {}
        for task in self.tasks(brahmi):
            if not (top_level and task.parent_id):
                counts[task.status] = counts.get(task.status, 0) + 1
        return counts

    def settled(self, brahmi: Brahmi) -> bool:
        """Every top-level task settled (sub-tasks after a failed sibling wait, planned)."""
        return all(status.is_settled for status in self.counts(brahmi, top_level=True))


def _live_workers(brahmi: Brahmi) -> int:
    return len(brahmi.store.live_workers(now=time.time(), stale_after_s=brahmi.settings.lease_s))


async def _drive(
    brahmi: Brahmi, scope: _Scope, quiet: bool, *, run_worker: bool = True
) -> list[TaskRecord]:
    """Run a worker (unless ``run_worker`` is False: workers elsewhere do) until every
    task in scope is settled; show progress meanwhile."""
    import asyncio

    from rich.live import Live

    stop = asyncio.Event()
    idle = asyncio.Event()
    running: asyncio.Task[object]
    if run_worker:
        worker = brahmi.worker()
        worker.on_idle.append(idle.set)  # look at once when the worker runs nothing
        running = asyncio.create_task(worker.run(stop), name="brahmi-worker")
    else:
        running = asyncio.create_task(stop.wait(), name="brahmi-wait")
    live = sys.stdout.isatty() and not quiet
    printer = _EventPrinter(brahmi, scope) if not live and not quiet else None
    try:
        with (
            Live(_view(brahmi, scope), console=stdout, refresh_per_second=8)
            if live
            else _nothing() as view
        ):
            while True:
                idle.clear()
                if scope.settled(brahmi) or running.done():
                    break
                if view is not None:
                    view.update(_view(brahmi, scope))
                if printer is not None:
                    printer.flush()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(idle.wait(), REFRESH_S)
            if view is not None:
                view.update(_view(brahmi, scope))
    finally:
        stop.set()
        await running
    if printer is not None:
        printer.flush()
    return scope.tasks(brahmi)


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _view(brahmi: Brahmi, scope: _Scope) -> Group:
    """The live view: every task of a small run; for a large one, what runs or failed."""
    counts = scope.counts(brahmi)
    total = sum(counts.values())
    summary = "  ".join(f"{status.value}: {n}" for status, n in sorted(counts.items()))
    if total <= FULL_VIEW_MAX_TASKS:
        shown = scope.tasks(brahmi)
    else:
        shown = [
            task
            for status in (TaskStatus.RUNNING, TaskStatus.FAILED)
            for task in scope.tasks(brahmi, status)[:LARGE_VIEW_ROWS]
        ]
        summary = f"{total} tasks  {summary}  (showing running and failed tasks)"
    return Group(tasks_table(shown, now=time.time()), Text(summary, style="dim"))


class _EventPrinter:
    """Line-per-change progress for logs and pipes, read from the event log."""

    def __init__(self, brahmi: Brahmi, scope: _Scope) -> None:
        self.brahmi = brahmi
        self.scope = scope
        self.after = brahmi.store.last_event_id()
        self.known = {t.id: t for t in scope.tasks(brahmi)}

    def _task(self, task_id: str) -> TaskRecord | None:
        if task_id not in self.known:  # a sub-task added while the run goes on
            task = self.brahmi.store.get_task(task_id)
            in_scope = (
                task.batch_id == self.scope.batch_id
                if self.scope.batch_id is not None
                else task.parent_id in self.known
            )
            if not in_scope:
                return None
            self.known[task_id] = task
        return self.known[task_id]

    def flush(self) -> None:
        lines: list[str] = []
        for event in self.brahmi.store.events(
            after_id=self.after, project_id=self.scope.project_id
        ):
            self.after = event.id
            if event.task_id is None:
                continue
            line = self._line(event)
            if line:
                stamp = time.strftime("%H:%M:%S", time.localtime(event.created_at))
                lines.append(f"{stamp} {line}\n")
        if lines:
            # Plain text for logs and pipes, written at once: through Rich, each line cost
            # about a millisecond of rendering.
            stdout.file.write("".join(lines))
            stdout.file.flush()

    def _line(self, event: EventRecord) -> str | None:
        assert event.task_id is not None
        if event.kind not in ("status_changed", "verdict", "rebuild", "agent_finished"):
            return None
        task = self._task(event.task_id)
        if task is None:
            return None
        head = f"[{task_label(task, self.known)}] {task.task_name}:"
        data = event.data
        if event.kind == "verdict":
            score = f", score {data['score']}" if data.get("score") is not None else ""
            return f"{head} verdict {data.get('verdict')} (turn {data.get('turn')}{score})"
        if event.kind == "rebuild":
            return f"{head} rebuild {data.get('turn')} with the QA feedback"
        if event.kind == "agent_finished":
            return f"{head} agent finished; its {data.get('subtasks')} sub-task(s) run next"
        attempt = f" (attempt {data['attempt']})" if data.get("attempt") else ""
        error = f"  {data['error']}" if data.get("error") else ""
        return f"{head} {data.get('to')}{attempt}{error}"


def _print_outcome(tasks: list[TaskRecord]) -> None:
    by_id = {task.id: task for task in tasks}
    if not sys.stdout.isatty():
        print_table(stdout, tasks_table(tasks, now=time.time()))
    done = sum(t.status is TaskStatus.COMPLETED for t in tasks)
    if done == len(tasks):
        stdout.print(f"[green]all {done} task(s) completed[/]", highlight=False)
    else:
        stdout.print(f"[red]{done} of {len(tasks)} task(s) completed[/]", highlight=False)
        for task in tasks:
            if task.status is not TaskStatus.COMPLETED:
                stdout.print(
                    f"  [{task_label(task, by_id)}] {task.task_name}: {task.status.value}"
                    f" — {task.error or ''}  (brahmi tasks show {task.id})",
                    highlight=False,
                    markup=False,
                )
    for url in public_urls(tasks):
        stdout.print(f"PUBLIC_URL: {url}", highlight=False, markup=False)


def public_urls(tasks: list[TaskRecord]) -> list[str]:
    """The public URLs completed tasks reported (a deployment's ``PUBLIC_URL`` or
    ``public_url`` output, DESIGN §11), in task order, each once."""
    urls: list[str] = []
    for task in tasks:
        outputs = task.outputs or {}
        url = outputs.get("PUBLIC_URL") or outputs.get("public_url")
        if task.status is TaskStatus.COMPLETED and isinstance(url, str) and url not in urls:
            urls.append(url)
    return urls


__all__ = ["EXIT_INVALID", "run", "validate"]
