"""Run one command in the project workspace for Brahmi's ``command`` runtime.

Reads the runtime's request (one JSON object) on stdin, runs ``task.inputs.command`` as an
argument list (never through a shell) with the workspace as its working directory, streams
what the command prints to stderr as it comes (Brahmi keeps stderr as the transcript), and
prints one JSON object on stdout::

    {"outputs": {"command", "exit_code", "duration_seconds", "output_tail"},
     "error"?: "command exited with code N"}

The script exits 0 whenever it could write that object; a failed command is reported in
``error``, not in this script's exit status.
"""

from __future__ import annotations

import collections
import io
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

#: How much of the command's output ``outputs.output_tail`` keeps.
TAIL_LINES = 50
TAIL_CHARS = 4000
#: Program names replaced by the interpreter running Brahmi (and its virtualenv).
PYTHON_NAMES = frozenset({"python", "python3"})


class InputError(Exception):
    """The request or the task's inputs cannot be used; the message says why."""


def main() -> int:
    """Read the request on stdin, run the command, write the result on stdout."""
    _utf8_stderr()
    try:
        result = run(read_request(sys.stdin.buffer.read()))
    except InputError as exc:
        result = {"outputs": {}, "error": str(exc)}
    except Exception as exc:  # the runtime must still get one JSON object
        log(f"run-command: unexpected {type(exc).__name__}: {exc}")
        result = {"outputs": {}, "error": f"run-command crashed: {type(exc).__name__}: {exc}"}
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


def read_request(raw: bytes) -> dict[str, Any]:
    """Parse the runtime's stdin: one JSON object.

    Raises:
        InputError: When stdin is not a JSON object.
    """
    try:
        request = json.loads(raw or b"null")
    except ValueError as exc:
        raise InputError(f"stdin is not valid JSON: {exc}") from exc
    if not isinstance(request, dict):
        raise InputError("stdin must hold one JSON object (the command runtime's request)")
    return request


def run(request: dict[str, Any]) -> dict[str, Any]:
    """Run the task's command and describe how it went.

    Args:
        request: The command runtime's request (``task``, ``workdir``, ``resume``…).

    Returns:
        ``{"outputs": {...}}``, with ``"error"`` when the command failed or could not start.

    Raises:
        InputError: When the task's inputs or the request cannot be used.
    """
    resume = request.get("resume")
    if isinstance(resume, dict) and resume.get("mode") == "qa":
        raise InputError(
            "run-command has no agent session to answer questions; "
            "resume with mode 'continue' to run the command again"
        )
    task = request.get("task") or {}
    if not isinstance(task, dict):
        raise InputError("task must be a JSON object")
    inputs = task.get("inputs") or {}
    if not isinstance(inputs, dict):
        raise InputError("task.inputs must be a JSON object")
    command = parse_command(inputs.get("command"))
    env = child_env(inputs.get("env"))
    workdir = Path(request.get("workdir") or Path.cwd())
    if not workdir.is_dir():
        raise InputError(f"workdir {str(workdir)!r} is not a directory")

    argv = resolve_python(command)
    log(f"$ {shlex.join(argv)}    (in {workdir})")
    started = time.monotonic()
    try:
        exit_code, tail = stream(argv, workdir, env)
    except FileNotFoundError:
        return _not_started(command, f"program not found: {command[0]!r}")
    except PermissionError:
        return _not_started(command, f"program is not executable: {command[0]!r}")
    except OSError as exc:
        return _not_started(command, f"cannot start {command[0]!r}: {exc}")
    duration_s = round(time.monotonic() - started, 3)
    outputs = {
        "command": command,
        "exit_code": exit_code,
        "duration_seconds": duration_s,
        "output_tail": tail,
    }
    log(f"exit code {exit_code} after {duration_s} s")
    if exit_code == 0:
        return {"outputs": outputs}
    if exit_code < 0:
        return {"outputs": outputs, "error": f"command was killed by signal {-exit_code}"}
    return {"outputs": outputs, "error": f"command exited with code {exit_code}"}


def parse_command(value: object) -> list[str]:
    """Check ``inputs.command``: a non-empty list of strings.

    Raises:
        InputError: When it is missing or has another shape.
    """
    if value is None:
        raise InputError(
            "inputs.command is missing: give the program and its arguments as a list, "
            'e.g. ["python", "-m", "compileall", "src"]'
        )
    if not isinstance(value, list) or not value:
        raise InputError(
            "inputs.command must be a non-empty list of strings (program, then arguments), "
            f"not {json.dumps(value)}"
        )
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise InputError(f"inputs.command[{index}] must be a string, not {json.dumps(item)}")
    if not value[0].strip():
        raise InputError("inputs.command[0] (the program) must not be empty")
    return list(value)


def child_env(extra: object) -> dict[str, str]:
    """The command's environment: this process's, plus ``inputs.env``.

    ``PYTHONUNBUFFERED=1`` is set (unless ``inputs.env`` says otherwise) so Python programs
    print as they go instead of when their pipe buffer fills.

    Raises:
        InputError: When ``inputs.env`` is not an object of strings.
    """
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if extra is None:
        return env
    if not isinstance(extra, dict):
        raise InputError("inputs.env must be an object mapping names to string values")
    for key, value in extra.items():
        if not isinstance(value, str):
            raise InputError(f"inputs.env.{key} must be a string, not {json.dumps(value)}")
        env[key] = value
    return env


def resolve_python(command: list[str]) -> list[str]:
    """Replace a leading ``python``/``python3`` with the interpreter running this script."""
    if command[0] in PYTHON_NAMES:
        return [sys.executable, *command[1:]]
    return list(command)


def stream(argv: list[str], workdir: Path, env: dict[str, str]) -> tuple[int, str]:
    """Run ``argv``, echo its combined output to stderr line by line, return its status.

    The child stays in this process's group, so when Brahmi stops the run (timeout,
    cancel) by signalling the group, the command stops with it.

    Returns:
        The exit code (negative: killed by that signal) and the tail of the output.

    Raises:
        OSError: When the program cannot be started.
    """
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    with subprocess.Popen(
        argv,
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        encoding="utf-8",
        errors="replace",
    ) as proc:
        for line in proc.stdout or ():
            sys.stderr.write(line)
            sys.stderr.flush()
            tail.append(line[-TAIL_CHARS:])
    return proc.returncode, "".join(tail)[-TAIL_CHARS:]


def _not_started(command: list[str], error: str) -> dict[str, Any]:
    log(error)
    outputs = {"command": command, "exit_code": None, "duration_seconds": 0.0, "output_tail": ""}
    return {"outputs": outputs, "error": error}


def log(message: str) -> None:
    """Write one line for people to the transcript (stderr)."""
    sys.stderr.write(f"[run-command] {message}\n")
    sys.stderr.flush()


def _utf8_stderr() -> None:
    # The transcript is read as UTF-8 whatever the locale of the machine running Brahmi.
    if isinstance(sys.stderr, io.TextIOWrapper):
        sys.stderr.reconfigure(encoding="utf-8", errors="replace")


if __name__ == "__main__":
    sys.exit(main())
