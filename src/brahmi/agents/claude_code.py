"""The ``claude-code`` runtime: Claude Code, headless, with Brahmi's tools (DESIGN §6).

Each run starts the Claude Code CLI (see :mod:`brahmi.agents.claude_cli`) in the project
workspace, in its own process group, with:

- Claude Code's own system prompt with the skill's body appended;
- the rendered task on stdin as the prompt;
- Brahmi's MCP tools from a stdio server, ``brahmi mcp --task ID --tool NAME…``, scoped to
  the task (it may read its project, search skills and add sub-tasks under its own task,
  nothing else), offering only ``request.tools``;
- the permission mode and tools from the project's ``runtime_options`` and the skill's
  ``allowed-tools`` (see :func:`tool_policy`);
- ``--resume`` of the task's session for ``resume_task``: ``continue`` resumes it with the
  message; ``qa`` forks it read-only (Read, Glob, Grep and Brahmi's read tools) so the
  question leaves the session as it was.

Sessions live on the machine that ran the agent (under ``$HOME/.claude``): a resume on
another machine fails with ``no_session``.

The final JSON object of the agent's last message becomes the outputs (DESIGN §6); usage
is the run's tokens and its share of the session's cost (the CLI reports session totals).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from brahmi.agents.base import (
    AgentRequest,
    AgentResult,
    AgentRuntime,
    ConversationRequest,
    RuntimeCrashed,
    RuntimeUnavailable,
    Transcript,
)
from brahmi.agents.claude_cli import (
    INSTALL_HINT,
    QUIET_ENV,
    StreamState,
    cli_version,
    find_cli,
    has_credentials,
    sdk_version,
)
from brahmi.agents.command import stop_process_group
from brahmi.agents.outputs import last_json_object

#: The MCP server name Brahmi's tools appear under (``mcp__brahmi__create_subtask``…).
SERVER = "brahmi"
#: Agent turns a run may take unless the skill (``brahmi-max-turns``) or project says.
DEFAULT_MAX_TURNS = 100
#: Built-in tools a task's agent may use without asking, unless configured otherwise.
DEFAULT_ALLOWED_TOOLS = ("Read", "Edit", "Write", "Glob", "Grep", "Bash", "TodoWrite")
#: The permission mode of task runs unless the project sets ``permission_mode``.
DEFAULT_PERMISSION_MODE = "acceptEdits"
#: Built-in tools that cannot change anything: a question's and a planner's.
READ_ONLY_TOOLS = ("Read", "Glob", "Grep")
#: Brahmi tools that change nothing.
READ_ONLY_BRAHMI_TOOLS = ("search_skills", "get_task", "list_tasks")
#: Seconds between SIGINT (Claude Code saves its session) and ending the process group.
INTERRUPT_GRACE_S = 3.0
#: stderr lines a crash's error quotes.
STDERR_TAIL_LINES = 8
#: Variables the tool server needs to open Brahmi's database (``Settings.tool_env``).
TOOL_SERVER_VARIABLES = ("BRAHMI_HOME", "BRAHMI_DATABASE_URL", "BRAHMI_SKILL_DIRS")
#: The most bytes one stream line may hold (a tool result can be large).
MAX_LINE_BYTES = 64 * 1024 * 1024


@dataclass(slots=True)
class _Launch:
    """One start of the CLI, whatever asked for it."""

    prompt: str
    system_append: str | None
    workdir: Path
    transcript: Transcript
    env: dict[str, str]
    tool_env: dict[str, str]
    mcp_args: list[str]
    brahmi_tools: tuple[str, ...]
    builtin_tools: tuple[str, ...] | None
    allowed_tools: tuple[str, ...]
    permission_mode: str
    max_turns: int
    model: str | None = None
    resume: str | None = None
    fork: bool = False
    prior_cost_usd: float = 0.0
    on_process: Callable[[int], None] | None = None
    setting_sources: str = ""
    disallowed_tools: tuple[str, ...] = field(default_factory=tuple)
    #: USD this run may still spend (the project's budget); None: no limit.
    max_budget_usd: float | None = None


class ClaudeCodeRuntime(AgentRuntime):
    """Runs tasks and planner turns with the Claude Code CLI; see the module docstring."""

    name = "claude-code"

    async def run(self, request: AgentRequest) -> AgentResult:
        """Run one attempt of a task, or answer a question about it (``resume.mode == "qa"``).

        Raises:
            RuntimeUnavailable: No CLI here, or the API refused the credentials.
            RuntimeCrashed: The CLI died without a result.
            asyncio.CancelledError: After ending the CLI's process group.
        """
        options = request.runtime_options
        resume = request.resume
        question = resume is not None and resume.mode == "qa"
        tool_args = ["--task", request.task.id]
        if question:
            assert resume is not None
            if not resume.session_ref:
                return AgentResult(
                    ok=False, error="the task has no agent session", error_code="no_session"
                )
            brahmi_tools = tuple(t for t in request.tools if t in READ_ONLY_BRAHMI_TOOLS)
            launch = _Launch(
                prompt=resume.message,
                system_append=None,
                workdir=request.workdir,
                transcript=request.transcript,
                env=request.env,
                tool_env=request.tool_env,
                mcp_args=tool_args,
                brahmi_tools=brahmi_tools,
                builtin_tools=READ_ONLY_TOOLS,
                allowed_tools=READ_ONLY_TOOLS,
                permission_mode="dontAsk",
                max_turns=request.max_turns or DEFAULT_MAX_TURNS,
                model=_str(options.get("model")),
                resume=resume.session_ref,
                fork=True,
                prior_cost_usd=resume.session_cost_usd,
                on_process=request.on_process,
                max_budget_usd=request.max_budget_usd,
            )
            return await _run(launch, parse_outputs=False)
        builtin, allowed = tool_policy(request.skill.path, options)
        launch = _Launch(
            prompt=request.prompt,
            system_append=request.system_prompt or None,
            workdir=request.workdir,
            transcript=request.transcript,
            env=request.env,
            tool_env=request.tool_env,
            mcp_args=tool_args,
            brahmi_tools=request.tools,
            builtin_tools=builtin,
            allowed_tools=allowed,
            permission_mode=_str(options.get("permission_mode")) or DEFAULT_PERMISSION_MODE,
            max_turns=request.max_turns or _int(options.get("max_turns")) or DEFAULT_MAX_TURNS,
            model=_str(options.get("model")),
            resume=resume.session_ref if resume is not None else None,
            prior_cost_usd=resume.session_cost_usd if resume is not None else 0.0,
            on_process=request.on_process,
            disallowed_tools=tuple(_list(options.get("disallowed_tools"))),
            max_budget_usd=request.max_budget_usd,
            setting_sources=_str(options.get("setting_sources")) or "",
        )
        result = await _run(launch, parse_outputs=True)
        if launch.resume and result.error_code == "no_session":
            # The session is on another machine (or was deleted): the prompt holds the
            # whole task and the message, so a fresh session can still do the work.
            request.transcript.write(
                f"[brahmi] {result.error}; continuing in a new session instead\n"
            )
            launch.resume = None
            launch.prior_cost_usd = 0.0
            result = await _run(launch, parse_outputs=True)
        return result

    async def converse(self, request: ConversationRequest) -> AgentResult:
        """Run one planner turn (DESIGN §7): the planner skill appended to Claude Code's
        system prompt, ``request.tools`` from ``brahmi mcp --project-id P
        --planner-session S``, read-only built-in tools, resuming ``session_ref``.

        ``outputs`` holds the last JSON object of the reply, if any; ``message`` the reply.

        Raises:
            As for :meth:`run`.
        """
        options = request.runtime_options
        launch = _Launch(
            prompt=request.prompt,
            system_append=request.system_prompt or None,
            workdir=request.workdir,
            transcript=request.transcript,
            env=request.env,
            tool_env=request.tool_env,
            mcp_args=[
                "--project-id",
                request.project_id,
                "--planner-session",
                request.planner_session_id,
            ],
            brahmi_tools=request.tools,
            builtin_tools=READ_ONLY_TOOLS,
            allowed_tools=READ_ONLY_TOOLS,
            permission_mode="dontAsk",
            max_turns=request.max_turns or _int(options.get("max_turns")) or DEFAULT_MAX_TURNS,
            model=_str(options.get("model")),
            resume=request.session_ref,
            prior_cost_usd=request.session_cost_usd,
            on_process=request.on_process,
            max_budget_usd=request.max_budget_usd,
        )
        return await _run(launch, parse_outputs=False)

    def check(self) -> str | None:
        """None when the CLI is here and a key is set, else what is missing and the fix."""
        cli = find_cli()
        if cli is None:
            return f"the Claude Code CLI is not installed: {INSTALL_HINT}"
        if not has_credentials(dict(os.environ)):
            return (
                "no Anthropic credentials: export ANTHROPIC_API_KEY=sk-ant-… (or put it in "
                "the project's env), or log in once with `claude login`"
            )
        return None

    def version(self) -> str | None:
        """The CLI's version and the SDK's, or None without a CLI."""
        cli = find_cli()
        if cli is None:
            return None
        sdk = sdk_version()
        text = cli_version(cli) or "unknown version"
        return f"{text}; claude-agent-sdk {sdk}" if sdk else text


def tool_policy(
    skill_dir: Path, options: dict[str, Any]
) -> tuple[tuple[str, ...] | None, tuple[str, ...]]:
    """Which built-in tools a task's agent has, and which it may use without asking.

    The skill's ``allowed-tools`` (Agent Skills frontmatter, e.g. ``"Read Grep Bash"``)
    wins: only those tools exist and all are allowed. Otherwise the project's
    ``runtime_options.allowed_tools`` (default :data:`DEFAULT_ALLOWED_TOOLS`) are allowed
    and Claude Code's other tools exist but need a permission the headless run cannot
    grant (except edits under ``acceptEdits``).

    Returns:
        ``(builtin, allowed)``: ``builtin`` None means Claude Code's default set.
    """
    declared = _skill_allowed_tools(skill_dir)
    if declared:
        return tuple(dict.fromkeys(t.split("(", 1)[0] for t in declared)), tuple(declared)
    configured = _list(options.get("allowed_tools"))
    return None, tuple(configured) if configured else DEFAULT_ALLOWED_TOOLS


def _skill_allowed_tools(skill_dir: Path) -> list[str]:
    from brahmi.skills.validate import validate_skill

    try:
        report = validate_skill(skill_dir)
    except OSError:
        return []
    if report.frontmatter is None:
        return []
    return _list(report.frontmatter.data.get("allowed-tools"))


async def _run(launch: _Launch, *, parse_outputs: bool) -> AgentResult:
    cli = find_cli()
    if cli is None:
        raise RuntimeUnavailable(f"the Claude Code CLI is not installed: {INSTALL_HINT}")
    scratch = Path(tempfile.mkdtemp(prefix="brahmi-claude-"))
    try:
        argv = _argv(cli, launch, scratch)
        return await _execute(argv, launch, parse_outputs=parse_outputs)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _argv(cli: Path, launch: _Launch, scratch: Path) -> list[str]:
    """The command line; the system prompt and MCP config go in files in ``scratch``
    (private to this user), so neither a long skill nor a database URL is in ``ps``."""
    # Without tool_env the server falls back to this process's own settings.
    server_env = {
        key: value
        for key, value in {**os.environ, **launch.tool_env}.items()
        if key in TOOL_SERVER_VARIABLES and value
    }
    server_args = ["-m", "brahmi", "mcp", *launch.mcp_args]
    for tool in launch.brahmi_tools:
        server_args += ["--tool", tool]
    config = {
        "mcpServers": {
            SERVER: {
                "type": "stdio",
                "command": sys.executable,
                "args": server_args,
                "env": server_env,
            }
        }
    }
    config_file = scratch / "mcp.json"
    _write_private(config_file, json.dumps(config, ensure_ascii=False))
    brahmi_names = [f"mcp__{SERVER}__{tool}" for tool in launch.brahmi_tools]
    argv = [
        str(cli),
        "-p",
        "--output-format",
        "stream-json",
        "--verbose",
        "--permission-mode",
        launch.permission_mode,
        "--mcp-config",
        str(config_file),
        "--strict-mcp-config",
        "--setting-sources",
        launch.setting_sources,
        "--max-turns",
        str(launch.max_turns),
        "--allowedTools",
        ",".join([*launch.allowed_tools, *brahmi_names]),
    ]
    if launch.builtin_tools is not None:
        argv += ["--tools", ",".join(launch.builtin_tools)]
    if launch.disallowed_tools:
        argv += ["--disallowedTools", ",".join(launch.disallowed_tools)]
    if launch.system_append:
        prompt_file = scratch / "append-system-prompt.md"
        _write_private(prompt_file, launch.system_append)
        argv += ["--append-system-prompt-file", str(prompt_file)]
    if launch.model:
        argv += ["--model", launch.model]
    if launch.max_budget_usd is not None:
        # The CLI compares the session's total (earlier runs of a resumed one included).
        limit = launch.max_budget_usd + (launch.prior_cost_usd if launch.resume else 0.0)
        argv += ["--max-budget-usd", f"{limit:.6f}"]
    if launch.resume:
        argv += ["--resume", launch.resume]
        if launch.fork:
            argv.append("--fork-session")
    return argv


async def _execute(argv: list[str], launch: _Launch, *, parse_outputs: bool) -> AgentResult:
    env = {**os.environ, **QUIET_ENV, **launch.env}
    # The agent's shell must not hold the database URL; its tool server gets it (above).
    env["BRAHMI_DATABASE_URL"] = ""
    transcript = launch.transcript
    transcript.write(f"$ {shlex.join(argv)}  < prompt ({len(launch.prompt)} chars)\n")
    started = time.monotonic()
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=launch.workdir,
            env=env,
            start_new_session=True,
            limit=MAX_LINE_BYTES,
        )
    except FileNotFoundError as exc:
        if not launch.workdir.is_dir():
            raise RuntimeUnavailable(f"the workspace {launch.workdir} does not exist") from exc
        raise RuntimeUnavailable(f"cannot run {argv[0]}: {INSTALL_HINT}") from exc
    except PermissionError as exc:
        raise RuntimeUnavailable(f"cannot run {argv[0]}: {exc.strerror}") from exc
    if launch.on_process is not None:
        launch.on_process(process.pid)
    state = StreamState()
    stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
    try:
        await asyncio.gather(
            _feed(process, launch.prompt),
            _read_stdout(process, state, transcript),
            _read_stderr(process, transcript, stderr_tail),
        )
        await process.wait()
    except asyncio.CancelledError:
        await _interrupt(process)
        transcript.write("\n[brahmi] run stopped: Claude Code interrupted, process group ended\n")
        raise
    finally:
        # Background commands the agent left behind share its process group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
    duration = time.monotonic() - started
    return _result(process.returncode, state, stderr_tail, launch, duration, parse_outputs)


def _result(
    code: int | None,
    state: StreamState,
    stderr_tail: deque[str],
    launch: _Launch,
    duration: float,
    parse_outputs: bool,
) -> AgentResult:
    result = state.result
    if result is None:
        tail = "".join(stderr_tail).strip()
        raise RuntimeCrashed(
            f"Claude Code exited with code {code} without a result" + (f": {tail}" if tail else "")
        )
    usage = state.usage(launch.prior_cost_usd)
    session = state.session_id
    text = state.final_text
    common: dict[str, Any] = {
        "session_ref": session,
        "usage": usage,
        "duration_s": duration,
        "message": text,
    }
    if result.get("is_error") or result.get("subtype") != "success":
        problem = _error_text(result, text)
        status = result.get("api_error_status")
        if status in (401, 403):
            raise RuntimeUnavailable(
                f"the Anthropic API refused the credentials ({status}): {problem}; set "
                "ANTHROPIC_API_KEY"
            )
        if launch.resume and "No conversation found" in problem:
            return AgentResult(
                ok=False,
                error=f"session {launch.resume} is not on this machine (sessions live where "
                "the agent ran)",
                error_code="no_session",
                **common,
            )
        if result.get("subtype") == "error_max_budget_usd":
            return AgentResult(
                ok=False,
                error="the project's budget ran out during the run "
                f"(${launch.max_budget_usd or 0.0:.4f} was left)",
                error_code="budget_exceeded",
                **common,
            )
        if result.get("subtype") == "error_max_turns":
            return AgentResult(
                ok=False,
                error=f"the agent used its {launch.max_turns} turns without finishing",
                error_code="max_turns_exceeded",
                **common,
            )
        return AgentResult(
            ok=False, error=f"Claude Code failed: {problem}", error_code="agent_error", **common
        )
    outputs = last_json_object(text) or {}
    if parse_outputs and not outputs:
        return AgentResult(
            ok=False,
            error="the agent's final message holds no JSON object of outputs",
            error_code="agent_output_invalid",
            **common,
        )
    return AgentResult(ok=True, outputs=outputs, **common)


def _error_text(result: dict[str, Any], text: str) -> str:
    parts = [str(e) for e in result.get("errors") or []]
    if isinstance(result.get("result"), str) and result["result"]:
        parts.append(result["result"])
    elif text:
        parts.append(text)
    return "; ".join(parts) or str(result.get("subtype"))


async def _feed(process: asyncio.subprocess.Process, prompt: str) -> None:
    assert process.stdin is not None
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        process.stdin.write(prompt.encode("utf-8"))
        await process.stdin.drain()
    process.stdin.close()


async def _read_stdout(
    process: asyncio.subprocess.Process, state: StreamState, transcript: Transcript
) -> None:
    assert process.stdout is not None
    while line := await process.stdout.readline():
        state.feed(line.decode("utf-8", errors="replace"), transcript)


async def _read_stderr(
    process: asyncio.subprocess.Process, transcript: Transcript, tail: deque[str]
) -> None:
    assert process.stderr is not None
    while line := await process.stderr.readline():
        text = line.decode("utf-8", errors="replace")
        transcript.write(f"[stderr] {text}")
        tail.append(text)


async def _interrupt(process: asyncio.subprocess.Process) -> None:
    """SIGINT the CLI (it saves its session), then end its whole process group."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGINT)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(process.wait()), INTERRUPT_GRACE_S)
    await stop_process_group(process)


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def _str(value: Any) -> str | None:
    return str(value) if value else None


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


#: One tool in a list: a name, optionally with a rule in parentheses (``Bash(git *)``).
_TOOL = re.compile(r"[^\s,()]+(?:\([^)]*\))?")


def _list(value: Any) -> list[str]:
    """Tools given as a list, or a string separated by spaces or commas."""
    if isinstance(value, str):
        return _TOOL.findall(value)
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return []
