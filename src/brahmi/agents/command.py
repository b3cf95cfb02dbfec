"""The ``command`` runtime: a program speaks JSON on stdin and stdout (DESIGN §6).

``metadata.brahmi-command`` is split like a shell would (``shlex``) but never run through
a shell. ``{skill_dir}`` becomes the skill's folder (also ``BRAHMI_SKILL_DIR``) and
``{python}`` the interpreter running Brahmi. The program runs in the project workspace, in
its own session, so a timeout or cancellation can end its whole process group.

stdin: ``{"task": {...}, "skill": {"full_id", "path"}, "system_prompt", "prompt",
"workdir", "resume"}``. stdout: ``{"outputs": {...}, "error"?: str, "usage"?: {...}}``.
A non-zero exit or unparsable stdout fails the run; stderr is the transcript.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import signal
import sys
import time
from collections import deque
from typing import Any

from brahmi.agents.base import (
    AgentRequest,
    AgentResult,
    AgentRuntime,
    RuntimeCrashed,
    RuntimeUnavailable,
    Transcript,
    Usage,
)

#: Seconds between SIGTERM and SIGKILL when a run is stopped.
KILL_GRACE_S = 5.0
#: Largest stdout accepted from a command, in bytes.
MAX_STDOUT_BYTES = 16 * 1024 * 1024
#: How many of the last stderr lines a failed run's error quotes.
STDERR_TAIL_LINES = 8


class CommandRuntime(AgentRuntime):
    """Runs a skill's ``brahmi-command``."""

    name = "command"

    async def run(self, request: AgentRequest) -> AgentResult:
        """Run the command once; see the module docstring for the protocol."""
        argv = command_argv(request)
        env = {
            **os.environ,
            **request.env,
            "BRAHMI_SKILL_DIR": str(request.skill.path),
            "BRAHMI_ATTEMPT_ID": request.attempt_id,
        }
        started = time.monotonic()
        transcript = request.transcript
        transcript.write(f"$ {shlex.join(argv)}\n")
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=request.workdir,
                env=env,
                start_new_session=True,
                limit=MAX_STDOUT_BYTES,
            )
        except FileNotFoundError as exc:
            raise RuntimeUnavailable(f"cannot run {argv[0]!r}: program not found") from exc
        except PermissionError as exc:
            raise RuntimeUnavailable(f"cannot run {argv[0]!r}: {exc.strerror}") from exc
        if request.on_process is not None:
            request.on_process(process.pid)
        stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        try:
            stdout = await _communicate(
                process, json.dumps(_stdin(request)).encode(), transcript, stderr_tail
            )
        except asyncio.CancelledError:
            await stop_process_group(process)
            transcript.write("\n[brahmi] run stopped: process group terminated\n")
            raise
        duration = time.monotonic() - started
        code = process.returncode
        assert code is not None
        if code < 0:
            raise RuntimeCrashed(f"{argv[0]} was killed by signal {-code}")
        text = stdout.decode("utf-8", errors="replace")
        if code != 0:
            tail = "".join(stderr_tail).strip()
            return AgentResult(
                ok=False,
                error=f"command exited with code {code}" + (f": {tail}" if tail else ""),
                error_code="agent_exit",
                duration_s=duration,
            )
        return _parse_stdout(text, duration)


def command_argv(request: AgentRequest) -> list[str]:
    """The argument list of the skill's command, placeholders replaced.

    Raises:
        RuntimeUnavailable: When the skill has no ``brahmi-command`` or it does not split.
    """
    skill = request.skill
    if not skill.command:
        raise RuntimeUnavailable(
            f"skill {skill.full_id} has no metadata.brahmi-command for the command runtime"
        )
    try:
        parts = shlex.split(skill.command)
    except ValueError as exc:
        raise RuntimeUnavailable(
            f"skill {skill.full_id}: brahmi-command does not parse: {exc}"
        ) from exc
    if not parts:
        raise RuntimeUnavailable(f"skill {skill.full_id}: brahmi-command is empty")
    values = {"skill_dir": str(skill.path), "python": sys.executable}
    return [_substitute(part, values) for part in parts]


def _substitute(part: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        part = part.replace("{" + key + "}", value)
    return part


def _stdin(request: AgentRequest) -> dict[str, Any]:
    task = request.task
    parent = request.parent
    return {
        "task": {
            "id": task.id,
            "task_name": task.task_name,
            "description": task.description,
            "skill_id": task.skill_id,
            "inputs": task.inputs,
            "validation_criteria": task.validation_criteria,
            "attempt": request.attempt,
            "rebuilds": task.rebuilds,
            "parent": None
            if parent is None
            else {
                "id": parent.id,
                "task_name": parent.task_name,
                "description": parent.description,
                "inputs": parent.inputs,
            },
        },
        "skill": {"full_id": request.skill.full_id, "path": str(request.skill.path)},
        "system_prompt": request.system_prompt,
        "prompt": request.prompt,
        "workdir": str(request.workdir),
        "resume": None
        if request.resume is None
        else {"message": request.resume.message, "mode": request.resume.mode},
    }


async def _communicate(
    process: asyncio.subprocess.Process,
    payload: bytes,
    transcript: Transcript,
    stderr_tail: deque[str],
) -> bytes:
    assert process.stdin and process.stdout and process.stderr

    async def feed() -> None:
        assert process.stdin
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            process.stdin.write(payload)
            await process.stdin.drain()
        process.stdin.close()

    async def pump_stderr() -> None:
        assert process.stderr
        while line := await process.stderr.readline():
            text = line.decode("utf-8", errors="replace")
            transcript.write(text)
            stderr_tail.append(text)

    async def read_stdout() -> bytes:
        assert process.stdout
        chunks: list[bytes] = []
        size = 0
        while chunk := await process.stdout.read(65536):
            transcript.touch()
            size += len(chunk)
            if size <= MAX_STDOUT_BYTES:
                chunks.append(chunk)
        return b"".join(chunks)

    _, _, stdout = await asyncio.gather(feed(), pump_stderr(), read_stdout())
    await process.wait()
    return stdout


async def stop_process_group(process: asyncio.subprocess.Process) -> None:
    """SIGTERM the process's group, wait :data:`KILL_GRACE_S`, then SIGKILL it."""
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(asyncio.shield(process.wait()), KILL_GRACE_S)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
    # Children that ignored SIGTERM may outlive the leader; end the group for good.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def _parse_stdout(text: str, duration: float) -> AgentResult:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return AgentResult(
            ok=False,
            error=f"stdout is not one JSON object ({exc.msg} at line {exc.lineno})",
            error_code="agent_output_invalid",
            duration_s=duration,
        )
    if not isinstance(data, dict) or not isinstance(data.get("outputs", {}), dict):
        return AgentResult(
            ok=False,
            error='stdout must be a JSON object with "outputs": {...}',
            error_code="agent_output_invalid",
            duration_s=duration,
        )
    outputs = data.get("outputs") or {}
    usage = _usage(data.get("usage"))
    error = data.get("error")
    if error:
        return AgentResult(
            ok=False,
            outputs=outputs,
            error=str(error),
            error_code="agent_failed",
            usage=usage,
            duration_s=duration,
        )
    return AgentResult(ok=True, outputs=outputs, usage=usage, duration_s=duration)


def _usage(raw: Any) -> Usage:
    if not isinstance(raw, dict):
        return Usage()
    try:
        return Usage(
            int(raw.get("input_tokens", 0) or 0),
            int(raw.get("output_tokens", 0) or 0),
            float(raw.get("cost_usd", 0.0) or 0.0),
        )
    except (TypeError, ValueError):
        return Usage()
