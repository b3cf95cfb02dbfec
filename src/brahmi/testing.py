"""Test support shipped with Brahmi: a scripted runtime at the LLM boundary.

:class:`ScriptedRuntime` stands where an agent would: tests say in advance what each task's
runs return (``enqueue``), the engine runs them through the real registry, and ``calls``
records every request (prompt included) for assertions::

    runtime = ScriptedRuntime()
    runtime.enqueue("QA: test it", {"verdict": "fail", "feedback_for_rebuild": {...}},
                    {"verdict": "pass"})
    brahmi = Brahmi(settings, runtimes=registry_with(runtime))
"""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from brahmi.agents.base import (
    AgentRequest,
    AgentResult,
    AgentRuntime,
    RuntimeCrashed,
    RuntimeUnavailable,
    Usage,
)
from brahmi.agents.registry import RuntimeRegistry


@dataclass(frozen=True, slots=True)
class Fail:
    """A run the agent reports as failed (``outputs.status == "failed"`` semantics)."""

    error: str = "scripted failure"
    outputs: dict[str, Any] = field(default_factory=dict)
    error_code: str = "agent_failed"


@dataclass(frozen=True, slots=True)
class Crash:
    """An infrastructure failure: the runtime broke down (retried with backoff)."""

    error: str = "scripted crash"


@dataclass(frozen=True, slots=True)
class Unavailable:
    """The runtime cannot run here (not retried)."""

    error: str = "scripted runtime unavailable"


@dataclass(frozen=True, slots=True)
class Hang:
    """A run that produces nothing for ``seconds`` (then, if not stopped, ``then``)."""

    seconds: float
    then: dict[str, Any] = field(default_factory=dict)


Step = (
    dict[str, Any]
    | Fail
    | Crash
    | Unavailable
    | Hang
    | Callable[[AgentRequest], Awaitable[AgentResult]]
)


class ScriptedRuntime(AgentRuntime):
    """A runtime whose answers are scripted per task name.

    Steps queued for a task name are used one per run, in order; a task with nothing
    queued gets ``default`` (empty outputs, or ``{"verdict": "pass"}`` for a QA task).

    Attributes:
        calls: Every request received, in order.
        cancelled: Task names of runs that were stopped (timeout, cancel, lost lease).
    """

    name = "scripted"

    def __init__(self) -> None:
        self._queues: dict[str, deque[Step]] = defaultdict(deque)
        self.calls: list[AgentRequest] = []
        self.cancelled: list[str] = []
        self.default: dict[str, Any] | None = None

    def enqueue(self, task_name: str, *steps: Step) -> None:
        """Queue what the next runs of the task called ``task_name`` return.

        A step is an outputs dict (success), :class:`Fail`, :class:`Crash`,
        :class:`Unavailable`, :class:`Hang`, or an async callable taking the request.
        """
        self._queues[task_name].extend(steps)

    def calls_for(self, task_name: str) -> list[AgentRequest]:
        """The requests received for the task called ``task_name``."""
        return [c for c in self.calls if c.task.task_name == task_name]

    async def run(self, request: AgentRequest) -> AgentResult:
        """Play the next scripted step for this task."""
        self.calls.append(request)
        queue = self._queues.get(request.task.task_name)
        if queue:
            step: Step = queue.popleft()
        elif self.default is not None:
            step = dict(self.default)
        else:
            step = {"verdict": "pass"} if request.task.is_qa else {}
        try:
            return await self._play(step, request)
        except asyncio.CancelledError:
            self.cancelled.append(request.task.task_name)
            raise

    async def _play(self, step: Step, request: AgentRequest) -> AgentResult:
        if isinstance(step, dict):
            request.transcript.write(f"scripted outputs for {request.task.task_name}\n")
            return AgentResult(ok=True, outputs=step, usage=Usage(10, 20, 0.001))
        if isinstance(step, Fail):
            return AgentResult(
                ok=False, outputs=step.outputs, error=step.error, error_code=step.error_code
            )
        if isinstance(step, Crash):
            raise RuntimeCrashed(step.error)
        if isinstance(step, Unavailable):
            raise RuntimeUnavailable(step.error)
        if isinstance(step, Hang):
            await asyncio.sleep(step.seconds)
            return AgentResult(ok=True, outputs=step.then)
        return await step(request)


def registry_with(*runtimes: AgentRuntime) -> RuntimeRegistry:
    """The real runtime registry, with ``runtimes`` registered under their names."""
    registry = RuntimeRegistry()
    for runtime in runtimes:
        registry.register(runtime)
    return registry


async def run_until_settled(
    brahmi: Any, batch_id: str, *, timeout_s: float = 30.0, poll_s: float = 0.01
) -> list[Any]:
    """Run a worker of ``brahmi`` until every top-level task of the batch is settled.

    Sub-tasks are not counted: those after a failed sibling stay ``planned`` (waiting for a
    retry of their parent) while the parent itself has settled.

    Args:
        brahmi: A :class:`brahmi.service.Brahmi`.
        batch_id: The batch to wait for.
        timeout_s: Give up (``TimeoutError``) after this many seconds.
        poll_s: How often to look at the batch's state.

    Returns:
        The batch's tasks, as stored when they had all settled.
    """
    worker = brahmi.worker()
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                counts = brahmi.store.status_counts(batch_id=batch_id, top_level=True)
                if all(status.is_settled for status in counts) or running.done():
                    break
                await asyncio.sleep(poll_s)
    finally:
        stop.set()
        await running
    return list(brahmi.list_tasks(batch_id=batch_id))
