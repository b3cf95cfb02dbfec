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
import itertools
import json
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from brahmi.agents.base import (
    AgentRequest,
    AgentResult,
    AgentRuntime,
    ConversationRequest,
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


class ToolCallFailed(Exception):
    """A scripted planner's tool call came back as a tool error (its text is the message)."""


class PlannerTurn:
    """What a scripted planner turn sees: its request, and Brahmi's MCP tools.

    ``call`` goes through the official MCP client to Brahmi's real MCP server
    (:func:`brahmi.mcp.server.build_mcp`), scoped to the request's project and planner
    session, exactly as an agent planner's tools are.
    """

    def __init__(self, request: ConversationRequest, client: Any) -> None:
        self.request = request
        self._client = client
        #: ``(tool, arguments, structured result or error text)`` of each call.
        self.calls: list[tuple[str, dict[str, Any], Any]] = []

    async def call(self, tool: str, **arguments: Any) -> dict[str, Any]:
        """Call a tool; its structured result.

        Raises:
            ToolCallFailed: The tool answered with an error (its text).
        """
        result = await self._client.call_tool(tool, arguments)
        if result.is_error:
            text = "\n".join(getattr(c, "text", "") for c in result.content)
            self.calls.append((tool, arguments, text))
            raise ToolCallFailed(text)
        content = result.structured_content
        if not isinstance(content, dict):
            content = json.loads("".join(getattr(c, "text", "") for c in result.content))
        self.calls.append((tool, arguments, content))
        return dict(content)


#: A scripted planner turn: given the turn, returns its result (None for a plain success).
TurnStep = Callable[[PlannerTurn], Awaitable[AgentResult | None]] | Fail | Crash | Unavailable


class ScriptedRuntime(AgentRuntime):
    """A runtime whose answers are scripted per task name, and whose planner turns are
    scripted in order.

    Steps queued for a task name are used one per run, in order; a task with nothing
    queued gets ``default`` (empty outputs, or ``{"verdict": "pass"}`` for a QA task).
    Planner turns (:meth:`converse`) play :meth:`enqueue_turns` steps in order; a turn with
    nothing queued does nothing and succeeds. A turn's tools need :attr:`brahmi`, the
    service its MCP server calls.

    Attributes:
        calls: Every request received, in order.
        cancelled: Task names of runs that were stopped (timeout, cancel, lost lease).
        conversations: Every planner turn's request, in order.
        turns: Every planner turn played, with its tool calls.
        brahmi: The :class:`~brahmi.service.Brahmi` whose MCP tools planner turns call.
    """

    name = "scripted"

    def __init__(self) -> None:
        self._queues: dict[str, deque[Step]] = defaultdict(deque)
        self.calls: list[AgentRequest] = []
        self.cancelled: list[str] = []
        self.default: dict[str, Any] | None = None
        self._turns: deque[TurnStep] = deque()
        self.conversations: list[ConversationRequest] = []
        self.turns: list[PlannerTurn] = []
        self.brahmi: Any = None
        self._sessions = itertools.count(1)

    def enqueue_turns(self, *steps: TurnStep) -> None:
        """Queue what the next planner turns do: an async callable taking a
        :class:`PlannerTurn` (returning an :class:`AgentResult`, or None for success),
        :class:`Fail`, :class:`Crash` or :class:`Unavailable`."""
        self._turns.extend(steps)

    async def converse(self, request: ConversationRequest) -> AgentResult:
        """Play the next scripted planner turn, with Brahmi's MCP tools at hand.

        The result resumes the request's agent session, or starts ``scripted-session-N``.
        """
        from mcp import Client

        from brahmi.mcp.server import build_mcp

        self.conversations.append(request)
        session_ref = request.session_ref or f"scripted-session-{next(self._sessions)}"
        step: TurnStep | None = self._turns.popleft() if self._turns else None
        request.transcript.write(f"scripted planner turn\n{request.prompt}\n")
        if isinstance(step, Fail):
            return AgentResult(ok=False, error=step.error, error_code=step.error_code)
        if isinstance(step, Crash):
            raise RuntimeCrashed(step.error)
        if isinstance(step, Unavailable):
            raise RuntimeUnavailable(step.error)
        result: AgentResult | None = None
        if step is not None:
            if self.brahmi is None:
                raise RuntimeUnavailable("ScriptedRuntime.brahmi is not set: no tools to call")
            server = build_mcp(
                self.brahmi, request.project_id, planner_session_id=request.planner_session_id
            )
            async with Client(server) as client:
                turn = PlannerTurn(request, client)
                self.turns.append(turn)
                result = await step(turn)
        if result is None:
            return AgentResult(ok=True, session_ref=session_ref, usage=Usage(100, 50, 0.01))
        if result.session_ref is None:
            return AgentResult(
                ok=result.ok,
                outputs=result.outputs,
                error=result.error,
                error_code=result.error_code,
                session_ref=session_ref,
                usage=result.usage,
            )
        return result

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
