"""The agent contract (DESIGN §6): what a runtime receives and what it returns.

A runtime is a class registered under the ``brahmi.executors`` entry-point group whose
``run`` takes an :class:`AgentRequest` and returns an :class:`AgentResult`. The engine
enforces time limits by cancelling ``run``; a runtime must then stop its process (group)
before letting the cancellation propagate.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TextIO

from brahmi.domain.models import TaskRecord
from brahmi.skills.skill import Skill

#: The tools a task's agent gets (DESIGN §6): scoped to its own task and project.
TASK_TOOLS: tuple[str, ...] = ("create_subtask", "search_skills", "get_task", "list_tasks")

#: The tools a planner gets (DESIGN §7, §8): every tool of Brahmi's MCP server.
PLANNER_TOOLS: tuple[str, ...] = (
    "search_skills",
    "create_tasks_batch",
    "create_task",
    "create_subtask",
    "resume_task",
    "get_task",
    "list_tasks",
    "user_response",
)


class RuntimeUnavailable(Exception):
    """The runtime cannot run here (program missing, not configured). Not retried."""


class RuntimeCrashed(Exception):
    """The runtime broke down for reasons outside the agent's work. Retried with backoff."""


@dataclass(frozen=True, slots=True)
class Usage:
    """What a run consumed."""

    input_tokens: int = 0
    output_tokens: int = 0
    #: What this run cost (USD); for a resumed session, only this run's share.
    cost_usd: float = 0.0
    #: Agent turns the run took, when the runtime counts them.
    turns: int | None = None
    #: The session's cost so far (USD), for runtimes whose sessions span runs: what the
    #: next resume of the session subtracts (issue 6).
    session_cost_usd: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """As stored on the attempt."""
        data: dict[str, Any] = {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": self.cost_usd,
        }
        if self.turns is not None:
            data["turns"] = self.turns
        if self.session_cost_usd is not None:
            data["session_cost_usd"] = self.session_cost_usd
        return data


@dataclass(frozen=True, slots=True)
class Resume:
    """A request to continue (or question) an earlier agent session (DESIGN §6)."""

    message: str
    #: ``continue`` or ``qa``.
    mode: str
    session_ref: str | None = None
    #: What the session cost so far (USD), so a runtime that reports session totals can
    #: give this run's share.
    session_cost_usd: float = 0.0


class Transcript:
    """The transcript file of one attempt; writing to it also counts as activity.

    The file is created on the first write that is not just a header, so a run that says
    nothing (the ``noop`` runtime) leaves no file behind. The engine's idle limit watches
    :attr:`last_activity` (``time.monotonic`` seconds).
    """

    def __init__(self, path: Path | Callable[[], Path]) -> None:
        self._path = path
        self._file: TextIO | None = None
        self._pending: list[str] = []
        self.last_activity = time.monotonic()

    @property
    def path(self) -> Path:
        """The file; a path given as a function is built on first use."""
        if not isinstance(self._path, Path):
            self._path = self._path()
        return self._path

    @property
    def exists(self) -> bool:
        """True once something was written to the file."""
        return self._file is not None

    def header(self, text: str) -> None:
        """Keep ``text`` to open the file with, if anything else is ever written."""
        self._pending.append(text)

    def write(self, text: str) -> None:
        """Append ``text`` and flush, so a crash keeps what was said."""
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")
            self._file.write("".join(self._pending))
            self._pending.clear()
        self._file.write(text)
        self._file.flush()
        self.touch()

    def touch(self) -> None:
        """Record activity without writing (e.g. a heartbeat from the agent)."""
        self.last_activity = time.monotonic()

    def close(self) -> None:
        """Close the file, if one was written."""
        if self._file is not None:
            self._file.close()


@dataclass(slots=True)
class AgentRequest:
    """Everything a runtime needs for one attempt (DESIGN §6).

    Attributes:
        task: The task as stored when it was claimed.
        parent: The parent task, for a sub-task.
        skill: The task's skill.
        system_prompt: The skill's body.
        prompt_source: The rendered task (see :mod:`brahmi.agents.prompt`), or a function
            that renders it: runtimes read :attr:`prompt`, rendered on first use, so a
            runtime that never reads it does not pay for it.
        workdir: The project workspace, the run's working directory.
        env: Extra environment variables (the project's, ``BRAHMI_*``); secrets included,
            so never log it.
        timeout_s: The run's wall-clock limit, enforced by the engine.
        attempt_id: This attempt's id.
        attempt: This attempt's number, from 1.
    """

    task: TaskRecord
    skill: Skill
    system_prompt: str
    prompt_source: str | Callable[[], str]
    workdir: Path
    transcript: Transcript
    attempt_id: str
    attempt: int
    timeout_s: float
    env: dict[str, str] = field(default_factory=dict)
    parent: TaskRecord | None = None
    resume: Resume | None = None
    #: Runtimes that start a process call this with its pid (its process group id), so a
    #: worker that dies can have its agent stopped by the one that takes over.
    on_process: Callable[[int], None] | None = None
    #: Brahmi's MCP tools the agent may call, scoped to this task (DESIGN §6).
    tools: tuple[str, ...] = TASK_TOOLS
    #: The most agent turns the run may take; None for the runtime's default.
    max_turns: int | None = None
    #: The project's options for runtimes (``project.settings["runtime_options"]``), e.g.
    #: ``permission_mode``, ``allowed_tools``, ``model`` for claude-code.
    runtime_options: dict[str, Any] = field(default_factory=dict)
    #: What is left of the project's USD budget; a runtime that can should stop the run
    #: there (AgentResult ``error_code="budget_exceeded"``). None: no budget.
    max_budget_usd: float | None = None
    #: Where a tool server started for the agent (``brahmi mcp``) finds this instance's
    #: database: :meth:`brahmi.config.Settings.tool_env`. Kept out of the agent's own
    #: environment (it may hold a database password).
    tool_env: dict[str, str] = field(default_factory=dict)

    @property
    def prompt(self) -> str:
        """The rendered task (rendered on first use when given as a function)."""
        if not isinstance(self.prompt_source, str):
            self.prompt_source = self.prompt_source()
        return self.prompt_source


@dataclass(slots=True)
class ConversationRequest:
    """One turn of a conversation that is not a task: a planner session's (DESIGN §7).

    The runtime runs the agent with ``system_prompt`` and ``prompt``, resuming
    ``session_ref`` when given, with Brahmi's MCP ``tools`` at hand (scoped to
    ``project_id`` and, for ``user_response``, to ``planner_session_id``), and returns an
    :class:`AgentResult` whose ``session_ref`` is the session to resume next turn.

    Attributes:
        project_id: The project the conversation belongs to.
        planner_session_id: The planner session this turn belongs to.
        system_prompt: The planner skill's body.
        prompt: The rendered trigger (a user message, a "## Task Completed" block…).
        workdir: The project workspace.
        transcript: Where the turn's messages go as they arrive.
        timeout_s: The turn's wall-clock limit (seconds).
        tools: Brahmi's MCP tools the agent may call.
        session_ref: The runtime's session to resume; None for the first turn.
        env: Extra environment variables; secrets included, so never log it.
        tool_env: As for :class:`AgentRequest`: pass ``settings.tool_env()`` so the
            runtime's tool server opens the same database.
        max_turns: The most agent turns; None for the runtime's default.
        session_cost_usd: What ``session_ref`` cost so far (USD; the last turn's
            ``usage.session_cost_usd``), so ``usage.cost_usd`` is this turn's share.
        on_process: Called with the agent's pid (its process group id).
        runtime_options: As for :class:`AgentRequest`.
        max_budget_usd: As for :class:`AgentRequest` (the planner passes what is left of
            the project's budget: ``Budget.remaining_usd``).
    """

    project_id: str
    planner_session_id: str
    system_prompt: str
    prompt: str
    workdir: Path
    transcript: Transcript
    timeout_s: float
    tools: tuple[str, ...] = PLANNER_TOOLS
    session_ref: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    max_turns: int | None = None
    session_cost_usd: float = 0.0
    on_process: Callable[[int], None] | None = None
    runtime_options: dict[str, Any] = field(default_factory=dict)
    max_budget_usd: float | None = None
    tool_env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AgentResult:
    """What a run produced.

    ``ok`` with ``outputs`` when the run succeeded; otherwise ``error`` says why and
    ``outputs`` holds whatever the agent gave.
    """

    ok: bool
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    #: Stable code for a failed run, e.g. ``agent_output_invalid``, ``agent_exit``.
    error_code: str | None = None
    session_ref: str | None = None
    usage: Usage = field(default_factory=Usage)
    duration_s: float = 0.0
    #: The agent's final message as text (a conversation's reply, a question's answer).
    message: str | None = None


class AgentRuntime(ABC):
    """A way of running agents: a plug-in in the ``brahmi.executors`` group."""

    #: The name tasks and skills use to pick this runtime.
    name: ClassVar[str]

    @abstractmethod
    async def run(self, request: AgentRequest) -> AgentResult:
        """Run one attempt.

        Raises:
            RuntimeUnavailable: The runtime cannot run here; the task fails with the reason.
            RuntimeCrashed: An infrastructure failure; the task is retried with backoff.
            asyncio.CancelledError: After stopping the agent, when the engine cancels.
        """

    async def converse(self, request: ConversationRequest) -> AgentResult:
        """Run one turn of a conversation (a planner's, DESIGN §7).

        Raises:
            RuntimeUnavailable: This runtime cannot host conversations (the default).
            RuntimeCrashed, asyncio.CancelledError: As for :meth:`run`.
        """
        raise RuntimeUnavailable(f"the {self.name} runtime cannot host a planner conversation")

    def check(self) -> str | None:
        """None when the runtime can run here, else what is missing and how to fix it."""
        return None

    def version(self) -> str | None:
        """The version of what the runtime runs (e.g. the Claude Code CLI), if it has one."""
        return None
