"""The ``command`` runtime: a program speaks JSON on stdin and stdout (DESIGN §6).

``metadata.brahmi-command`` is split like a shell would (``shlex``) but never run through
a shell. ``{skill_dir}`` becomes the skill's folder (also ``BRAHMI_SKILL_DIR``) and
``{python}`` the interpreter running Brahmi. The program runs in the project workspace, in
its own session, so a timeout or cancellation can end its whole process group.

stdin: ``{"task": {...}, "skill": {"full_id", "path"}, "system_prompt", "prompt",
"workdir", "resume"}``. stdout: ``{"outputs": {...}, "error"?: str, "usage"?: {...}}``.
A non-zero exit or unparsable stdout fails the run; stderr is the transcript.

Limits (issue 17): stdout beyond :data:`MAX_STDOUT_BYTES` ends the process group and fails
the run with ``agent_output_too_large``; stderr beyond :data:`MAX_TRANSCRIPT_BYTES` is
drained but not kept; when the program exits, whatever of its group is left is killed.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import json
import os
import shlex
import signal
import sys
import time
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
#: How much of the end of stderr is kept for that quote, in bytes.
STDERR_TAIL_BYTES = 4096
#: Most stderr written to an attempt's transcript, in bytes; the rest is drained unread.
MAX_TRANSCRIPT_BYTES = 16 * 1024 * 1024
#: Seconds between looks at whether the program exited while its pipes are still open.
EXIT_POLL_S = 0.1
#: Bytes read from a pipe at once.
CHUNK_BYTES = 65536


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
            )
        except FileNotFoundError as exc:
            raise RuntimeUnavailable(f"cannot run {argv[0]!r}: program not found") from exc
        except PermissionError as exc:
            raise RuntimeUnavailable(f"cannot run {argv[0]!r}: {exc.strerror}") from exc
        if request.on_process is not None:
            request.on_process(process.pid)
        try:
            output = await _communicate(process, json.dumps(_stdin(request)).encode(), transcript)
        except asyncio.CancelledError:
            await stop_process_group(process)
            transcript.write("\n[brahmi] run stopped: process group terminated\n")
            raise
        duration = time.monotonic() - started
        code = process.returncode
        assert code is not None
        if output.stdout_overflow:
            return AgentResult(
                ok=False,
                error=f"stdout exceeded {MAX_STDOUT_BYTES // 2**20} MiB, the command runtime's "
                "limit; the process group was ended (write large results to files in the "
                "workspace and name them in outputs)",
                error_code="agent_output_too_large",
                duration_s=duration,
            )
        if code < 0:
            raise RuntimeCrashed(f"{argv[0]} was killed by signal {-code}")
        text = output.stdout.decode("utf-8", errors="replace")
        if code != 0:
            tail = output.tail()
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


class _Output:
    """What a run said: stdout up to :data:`MAX_STDOUT_BYTES`, the end of stderr."""

    def __init__(self) -> None:
        self.stdout = bytearray()
        self.stdout_overflow = False
        self.stderr_tail = bytearray()
        self.stderr_bytes = 0

    def tail(self) -> str:
        """The last :data:`STDERR_TAIL_LINES` lines of stderr (at most a few KiB)."""
        text = self.stderr_tail.decode("utf-8", errors="replace")
        return "".join(text.splitlines(keepends=True)[-STDERR_TAIL_LINES:]).strip()


async def _communicate(
    process: asyncio.subprocess.Process, payload: bytes, transcript: Transcript
) -> _Output:
    """Feed stdin, read stdout and stderr in chunks until the process (leader) exits.

    Memory stays bounded whatever the program writes: stdout beyond
    :data:`MAX_STDOUT_BYTES` ends the process group (``stdout_overflow``); stderr goes to
    the transcript up to :data:`MAX_TRANSCRIPT_BYTES` and is drained past it. Once the
    leader exits, what is left of its group is killed, so a child holding the pipes open
    neither keeps the run waiting nor outlives it.
    """
    assert process.stdin and process.stdout and process.stderr
    output = _Output()

    async def feed() -> None:
        assert process.stdin
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            process.stdin.write(payload)
            await process.stdin.drain()
        process.stdin.close()

    async def pump_stderr() -> None:
        assert process.stderr
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        while chunk := await process.stderr.read(CHUNK_BYTES):
            output.stderr_bytes += len(chunk)
            output.stderr_tail += chunk
            del output.stderr_tail[:-STDERR_TAIL_BYTES]
            if output.stderr_bytes <= MAX_TRANSCRIPT_BYTES:
                transcript.write(decoder.decode(chunk))
            elif output.stderr_bytes - len(chunk) <= MAX_TRANSCRIPT_BYTES:
                transcript.write(
                    f"\n[brahmi] stderr beyond {MAX_TRANSCRIPT_BYTES // 2**20} MiB is not kept\n"
                )
            else:
                transcript.touch()

    async def read_stdout() -> None:
        assert process.stdout
        while chunk := await process.stdout.read(CHUNK_BYTES):
            transcript.touch()
            if len(output.stdout) + len(chunk) > MAX_STDOUT_BYTES:
                output.stdout_overflow = True
                _kill_group(process.pid)
                return
            output.stdout += chunk

    readers = asyncio.gather(feed(), pump_stderr(), read_stdout())
    try:
        # ``process.wait()`` also waits for the pipes to close (Python 3.11), which a child
        # holding them open would delay forever: watch the return code instead.
        while not readers.done() and process.returncode is None:
            await asyncio.wait({readers}, timeout=EXIT_POLL_S)
        if process.returncode is not None:
            # Children that outlive the leader end with it (they may hold the pipes open).
            _kill_group(process.pid)
        await readers
        await process.wait()
        _kill_group(process.pid)
    finally:
        if not readers.done():
            readers.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await readers
    return output


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


async def stop_process_group(process: asyncio.subprocess.Process) -> None:
    """SIGTERM the process's group, wait :data:`KILL_GRACE_S`, then SIGKILL it.

    A group whose leader already exited is killed at once (its children are what is left).
    """
    if process.returncode is not None:
        _kill_group(process.pid)
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(asyncio.shield(process.wait()), KILL_GRACE_S)
    except TimeoutError:
        _kill_group(process.pid)
        await process.wait()
    # Children that ignored SIGTERM may outlive the leader; end the group for good.
    _kill_group(process.pid)


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
