"""``brahmi tasks``: list, show and cancel tasks."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.panel import Panel
from rich.table import Table

from brahmi import errors
from brahmi.cli.common import handle_errors, open_brahmi, stdout
from brahmi.cli.plaintable import print_table
from brahmi.cli.render import status_text, task_detail, task_summary, tasks_table
from brahmi.domain.status import TaskStatus

if TYPE_CHECKING:
    from brahmi.domain.models import HistoryRecord

app = typer.Typer(
    help="Inspect and control tasks.", no_args_is_help=True, rich_markup_mode="markdown"
)

#: Lines of the newest transcript ``tasks show`` prints.
TRANSCRIPT_TAIL_LINES = 20


@app.command("list")
@handle_errors
def list_(
    status: TaskStatus | None = typer.Option(None, "--status", help="Only tasks in this status."),
    project: Path | None = typer.Option(None, "--project", help="Only this project's tasks."),
    json_output: bool = typer.Option(False, "--json", help='Print {"tasks": [...]} as JSON.'),
) -> None:
    """List tasks in (task_order, creation) order."""
    brahmi = open_brahmi()
    try:
        project_id = brahmi.project_for(project).id if project else None
        tasks = brahmi.list_tasks(project_id=project_id, status=status)
    finally:
        brahmi.close()
    if json_output:
        print(json.dumps({"tasks": [task_summary(t) for t in tasks]}, indent=2, default=str))
        return
    if not tasks:
        stdout.print("no tasks")
        return
    print_table(stdout, tasks_table(tasks, now=time.time()))


@app.command("show")
@handle_errors
def show(
    task_id: str = typer.Argument(..., help="The task's id (or a unique prefix of it)."),
    json_output: bool = typer.Option(False, "--json", help="Print the task as JSON."),
) -> None:
    """Show one task: inputs, outputs, error, attempts with their transcripts, every QA
    verdict and feedback turn, and its sub-tasks."""
    brahmi = open_brahmi()
    try:
        task = brahmi.get_task(brahmi.store.resolve_task_id(task_id))
        attempts = brahmi.store.attempts_for(task.id)
        history = brahmi.store.history_for(task.id)
        subtasks = brahmi.store.subtasks_of(task.id) if task.has_subtasks else []
        usage = brahmi.usage.totals(task_id=task.id)
    finally:
        brahmi.close()
    detail = task_detail(task, attempts, history, subtasks, usage.to_dict())
    if json_output:
        print(json.dumps(detail, indent=2, default=str))
        return
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("task", f"{task.task_name}  [dim]{task.id}[/]")
    head.add_row("status", status_text(task.status))
    head.add_row("skill", f"{task.skill_id} {task.skill_version or ''}")
    head.add_row("batch id", f"{task.batch_key or '-'} (order {task.task_order})")
    head.add_row(
        "runs",
        f"{task.attempts} attempt(s); {task.rebuilds} rebuild(s) (loop limit {task.max_rebuilds})",
    )
    head.add_row("depends on", ", ".join(task.dependencies) or "-")
    head.add_row(
        "usage",
        f"{usage.input_tokens:,} in + {usage.output_tokens:,} out tokens, "
        f"${usage.cost_usd:.4f} over {usage.runs} run(s)",
    )
    if task.session_ref:
        head.add_row("session", task.session_ref)
    if task.error:
        head.add_row("error", f"[red]{task.error}[/] [dim]({task.error_code})[/]")
    stdout.print(head)
    if task.parent_id:
        head.add_row("sub-task of", f"{task.parent_id} (position {task.position})")
    if task.pending_resume:
        head.add_row("resume", f"waiting to run with: {task.pending_resume.get('message')}")
    if task.description:
        stdout.print(Panel(task.description, title="description", title_align="left"))
    stdout.print(_json_panel("inputs", task.inputs))
    if task.outputs is not None:
        stdout.print(_json_panel("outputs", task.outputs))
    if subtasks:
        table = Table(title="sub-tasks", title_justify="left")
        for column in ("#", "task", "status", "att", "error"):
            table.add_column(column, overflow="fold")
        for sub in subtasks:
            table.add_row(
                str(sub.position),
                sub.task_name,
                status_text(sub.status),
                str(sub.attempts),
                sub.error or "",
            )
        stdout.print(table)
    for turn in history:
        stdout.print(_history_panel(turn))
    if attempts:
        table = Table(title="attempts", title_justify="left")
        for column in ("#", "status", "executor", "time", "error", "transcript"):
            table.add_column(column, overflow="fold")
        for a in attempts:
            took = f"{a.finished_at - a.started_at:.1f}s" if a.finished_at else ""
            table.add_row(
                str(a.number),
                a.status,
                a.executor or "",
                took,
                a.error or "",
                a.transcript_path or "",
            )
        stdout.print(table)
        newest = attempts[-1].transcript_path
        if newest and Path(newest).is_file():
            lines = Path(newest).read_text(encoding="utf-8", errors="replace").splitlines()
            tail = "\n".join(lines[-TRANSCRIPT_TAIL_LINES:])
            stdout.print(
                Panel(
                    tail,
                    title=f"transcript (last {TRANSCRIPT_TAIL_LINES} lines)",
                    title_align="left",
                )
            )


@app.command("retry")
@handle_errors
def retry(task_id: str = typer.Argument(..., help="The task's id (or a unique prefix).")) -> None:
    """Run a failed, blocked or cancelled task again, and what it blocked.

    A blocked task is retried through the failed task that blocks it; a sub-task through
    its parent, which resumes at its first sub-task not completed. Start a worker
    (`brahmi run --resume`) to run them.
    """
    brahmi = open_brahmi()
    try:
        task = brahmi.retry_task(brahmi.store.resolve_task_id(task_id))
    finally:
        brahmi.close()
    stdout.print(f"{task.id} {task.task_name}: ", status_text(task.status))


@app.command("resume")
@handle_errors
def resume(
    task_id: str = typer.Argument(..., help="The task's id (or a unique prefix)."),
    message: str = typer.Option(
        ..., "--message", "-m", help="What the agent should do now, or the question (qa)."
    ),
    mode: str = typer.Option(
        "continue", "--mode", help="continue: run the task again; qa: ask its agent a question."
    ),
    timeout: float | None = typer.Option(
        None, "--timeout", min=1, help="qa: seconds to wait for the answer (default 300)."
    ),
    json_output: bool = typer.Option(False, "--json", help="qa: print the answer as JSON."),
) -> None:
    """Act on a finished task (resume_task).

    `--mode continue` runs the task again, in its agent session where its runtime has one
    (claude-code resumes it; the command runtime gets the message on stdin). New outputs
    replace the old (kept in its history); completed tasks downstream run again. Start a
    worker (`brahmi run --resume`) to run it.

    `--mode qa` asks the task's agent session a question and prints the answer; nothing
    changes (claude-code forks the session read-only). Sessions live on the machine that
    ran the agent, so ask from there.
    """
    if mode not in ("continue", "qa"):
        raise errors.InvalidTransition(f"--mode must be continue or qa, not {mode!r}")
    brahmi = open_brahmi()
    try:
        resolved = brahmi.store.resolve_task_id(task_id)
        if mode == "qa":
            answer = brahmi.ask_task(resolved, message, timeout_s=timeout)
        else:
            task = brahmi.resume_task(resolved, message, "continue")
    finally:
        brahmi.close()
    if mode == "qa":
        if json_output:
            print(json.dumps(answer.to_dict(), indent=2))
        else:
            print(answer.answer)
        return
    stdout.print(f"{task.id} {task.task_name}: ", status_text(task.status))


@app.command("cancel")
@handle_errors
def cancel(task_id: str = typer.Argument(..., help="The task's id (or a unique prefix).")) -> None:
    """Cancel a task that has not finished; a running attempt is stopped, dependents blocked."""
    brahmi = open_brahmi()
    try:
        task = brahmi.cancel_task(brahmi.store.resolve_task_id(task_id))
    finally:
        brahmi.close()
    stdout.print(f"{task.id} {task.task_name}: ", status_text(task.status))


def _history_panel(turn: HistoryRecord) -> Panel:
    data = dict(turn.data)
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(turn.created_at))
    if turn.kind == "verdict":
        title = f"QA turn {turn.turn}: verdict {data.get('verdict')}"
        shown: object = {k: data.get(k) for k in ("score", "summary", "feedback_for_rebuild")}
    elif turn.kind == "rebuild":
        title = f"rebuild {turn.turn}: feedback from QA task {data.get('qa_task_id')}"
        shown = data.get("feedback_for_rebuild")
    elif turn.kind == "resume":
        title = f"resumed ({data.get('mode')}): {data.get('message')}"
        shown = {"previous_outputs": data.get("previous_outputs")}
    else:
        title = f"{turn.kind}"
        shown = data
    return _json_panel(f"{title}  [dim]{when}[/]", shown)


def _json_panel(title: str, value: object) -> Panel:
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    from rich.syntax import Syntax  # Pygments: loaded only when JSON is shown

    return Panel(Syntax(text, "json", word_wrap=True), title=title, title_align="left")
