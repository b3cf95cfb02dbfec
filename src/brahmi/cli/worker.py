"""``brahmi worker`` and ``brahmi workers``: running workers alone, and seeing them (§9)."""

from __future__ import annotations

import json
import signal
import time
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from brahmi import errors
from brahmi.cli.common import handle_errors, open_brahmi, stderr, stdout
from brahmi.cli.run import SKILLS_HELP

if TYPE_CHECKING:
    from brahmi.agents.registry import RuntimeRegistry
    from brahmi.engine.worker import Worker


@handle_errors
def worker(
    concurrency: int | None = typer.Option(
        None, "--concurrency", min=1, help="Agent runs at once (default BRAHMI_CONCURRENCY or 4)."
    ),
    skills: list[str] = typer.Option([], "--skills", help=SKILLS_HELP),
    runtime: list[str] = typer.Option(
        [],
        "--runtime",
        help="Claim only tasks of this runtime (repeatable). Default: every runtime that "
        "can run on this machine, so one without claude never claims a claude-code task.",
    ),
) -> None:
    """Run workers alone: claim ready tasks from the database and run them until stopped.

    Start as many as you like, on any machine that reaches the database
    (BRAHMI_DATABASE_URL, PostgreSQL; run `brahmi db upgrade` once first). SIGTERM or
    Ctrl-C stops cleanly: runs in progress are stopped and their tasks handed back to be
    claimed again. A worker killed outright loses nothing either: its leases run out
    (BRAHMI_LEASE_S, default 30 s) and its tasks are claimed by others.
    """
    from brahmi.config import load_settings

    settings = load_settings().with_(skill_dirs=tuple(skills))
    if concurrency is not None:
        settings = settings.with_(concurrency=concurrency)
    brahmi = open_brahmi(settings)
    try:
        runtimes = _servable(brahmi.runtimes, runtime)
        brahmi.settings = brahmi.settings.with_(worker_runtimes=tuple(runtimes))
        one = brahmi.worker()
        stdout.print(
            f"brahmi worker {one.id}: runtimes {', '.join(runtimes)}; "
            f"{brahmi.settings.concurrency} run(s) at once",
            highlight=False,
        )
        import asyncio

        asyncio.run(_run_until_signalled(one))
    finally:
        brahmi.close()
    stdout.print(f"brahmi worker {one.id} stopped", highlight=False)


def _servable(registry: RuntimeRegistry, wanted: list[str]) -> list[str]:
    """The runtimes to claim for: ``wanted`` (each checked), else every one that can run.

    Raises:
        ExecutorNotFound: A named runtime is unknown or cannot run here.
    """
    if wanted:
        for name in wanted:
            problem = registry.get(name).check()
            if problem:
                raise errors.ExecutorNotFound(
                    f"the runtime {name!r} cannot run here: {problem}", executor=name
                )
        return sorted(set(wanted))
    usable = []
    for name in registry.names():
        try:
            if registry.get(name).check() is None:
                usable.append(name)
        except errors.ExecutorNotFound:
            continue
    return usable


async def _run_until_signalled(one: Worker) -> None:
    import asyncio

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await one.run(stop)


@handle_errors
def workers(
    json_output: bool = typer.Option(False, "--json", help='Print {"workers": [...]} as JSON.'),
) -> None:
    """List live workers: where they run, what they claim, their last heartbeat.

    A worker is live when it has not stopped and was heard from within one lease period
    (BRAHMI_LEASE_S); a killed worker drops off the list once that passes.
    """
    brahmi = open_brahmi()
    try:
        now = time.time()
        found = brahmi.store.live_workers(now=now, stale_after_s=brahmi.settings.lease_s)
    finally:
        brahmi.close()
    if json_output:
        print(json.dumps({"workers": [w.to_dict() for w in found]}, indent=2))
        return
    if not found:
        stderr.print("no live workers", highlight=False)
        return
    table = Table("worker", "host", "pid", "runtimes", "runs", "heartbeat", "up")
    for w in found:
        table.add_row(
            w.id,
            w.host,
            str(w.pid),
            ", ".join(w.runtimes) if w.runtimes is not None else "any",
            f"{w.running}/{w.concurrency}",
            f"{max(0.0, now - w.heartbeat_at):.1f} s ago",
            f"{max(0.0, now - w.started_at):.0f} s",
        )
    stdout.print(table)
