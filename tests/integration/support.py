"""Helpers the engine-level integration tests share: specs, batches, and running them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from brahmi.domain.models import TaskRecord
from brahmi.planner.actor import PlannerActor
from brahmi.service import Brahmi
from brahmi.testing import run_until_settled

SKILL = "brahmi/builtin/run-command"
#: Seconds a batch may take to settle before a test fails.
WAIT_S = 10.0


def spec(uid: int, name: str, *deps: int, order: int = 1, **extra: Any) -> dict[str, Any]:
    """A snake_case task spec of the run-command skill (the tests run it on their runtime)."""
    return {
        "unique_id": uid,
        "task_name": name,
        "description": f"Do {name}.",
        "skill_id": SKILL,
        "task_order": order,
        "inputs": extra.pop("inputs", {}),
        "logical_dependencies": list(deps),
        **extra,
    }


def create(
    brahmi: Brahmi, workspace: Path, specs: list[dict[str, Any]]
) -> tuple[str, dict[str, str]]:
    """Store a batch in the workspace's project; its id and the ids of its tasks by key."""
    created = brahmi.create_tasks_batch(brahmi.project_for(workspace).id, specs)
    return created.batch_id, created.task_ids


def settle(brahmi: Brahmi, batch_id: str, *, top_level: bool = False) -> dict[str, TaskRecord]:
    """Run a worker until the batch settles; its tasks (or only the top-level ones) by name."""
    tasks = asyncio.run(run_until_settled(brahmi, batch_id, timeout_s=WAIT_S))
    return {t.task_name: t for t in tasks if not (top_level and t.parent_id is not None)}


async def drive(
    brahmi: Brahmi,
    done: Callable[[], bool],
    *,
    workers: bool = True,
    timeout_s: float = 20.0,
    poll_s: float = 0.02,
) -> None:
    """Run a planner actor (and a worker) of ``brahmi`` until ``done()`` is true.

    Raises:
        TimeoutError: After ``timeout_s`` seconds; an actor's or worker's own error first.
    """
    actor = PlannerActor(brahmi, poll_interval_s=poll_s)
    stop = asyncio.Event()
    brahmi.on_trigger.append(actor.wake)
    running = [asyncio.create_task(actor.run(stop))]
    if workers:
        running.append(asyncio.create_task(brahmi.worker().run(stop)))
    try:
        async with asyncio.timeout(timeout_s):
            while not done():
                for task in running:
                    if task.done():
                        task.result()
                await asyncio.sleep(poll_s)
    finally:
        stop.set()
        await asyncio.gather(*running)
        brahmi.on_trigger.remove(actor.wake)
