"""The command runtime's protocol, once, for Brahmi's built-in steps (DESIGN §6).

A step is a module run as ``{python} -P -m brahmi.steps.<name>`` in the project workspace.
Brahmi's ``command`` runtime gives it one JSON object on stdin (``task``, ``skill``,
``system_prompt``, ``prompt``, ``workdir``, ``resume``) and reads one on stdout::

    {"outputs": {...}, "error"?: "why the run failed"}

stderr is the attempt's transcript. A step exits 0 whenever it could write that object.

A step module needs only this::

    from brahmi.steps import protocol

    def handle(request: dict[str, Any]) -> protocol.StepResult:
        inputs = protocol.task_inputs(request)
        workdir = protocol.request_workdir(request)
        done = protocol.run_process(["make"], workdir, protocol.child_env())
        failed = f"make exited with code {done.exit_code}" if done.exit_code else None
        return protocol.StepResult({"exit_code": done.exit_code}, failed)

    if __name__ == "__main__":
        sys.exit(protocol.main("my-step", handle))

Only the standard library is used here, and little of it (no dataclasses): a step starts
about as fast as a bare script.
"""

from __future__ import annotations

import collections
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import threading

#: How much of a child's output :attr:`ProcessResult.tail` keeps: lines, then characters.
TAIL_LINES = 50
TAIL_CHARS = 4000
#: Program names replaced by the interpreter running Brahmi (and its virtualenv).
PYTHON_NAMES = frozenset({"python", "python3"})
#: Seconds a child has to stop after SIGTERM on ``timeout_s`` before it is killed.
TERMINATE_GRACE_S = 5.0


class InputError(Exception):
    """The request or the task's inputs cannot be used; the message says why.

    :func:`main` turns it into ``{"outputs": {}, "error": <message>}``.
    """


class StepResult(NamedTuple):
    """What a step answers: its outputs, and why it failed (None when it did not)."""

    outputs: dict[str, Any]
    error: str | None = None


class ProcessResult(NamedTuple):
    """How a child process ended (:func:`run_process`)."""

    #: The exit code; negative when the process was killed by that signal.
    exit_code: int
    #: The end of its combined stdout and stderr (:data:`TAIL_LINES`, :data:`TAIL_CHARS`).
    tail: str
    #: Wall-clock seconds from start to exit, rounded to milliseconds.
    duration_s: float
    #: True when :func:`run_process` stopped it at ``timeout_s``.
    timed_out: bool = False


def main(step: str, handle: Callable[[dict[str, Any]], StepResult]) -> int:
    """Run one step: read the request on stdin, call ``handle``, write the result on stdout.

    Args:
        step: The step's name, for the transcript and crash messages (``run-command``).
        handle: Turns the request into the step's result; may raise :class:`InputError`.

    Returns:
        0, the process's exit status: a failure is reported in the result's ``error``.
    """
    _utf8_stderr()
    try:
        result = handle(read_request())
    except InputError as exc:
        result = StepResult({}, str(exc))
    except Exception as exc:  # the runtime must still get one JSON object
        log(step, f"unexpected {type(exc).__name__}: {exc}")
        result = StepResult({}, f"{step} crashed: {type(exc).__name__}: {exc}")
    emit(result.outputs, result.error)
    return 0


def read_request(raw: bytes | None = None) -> dict[str, Any]:
    """Parse the runtime's request: one JSON object.

    Args:
        raw: The request's bytes; None reads all of stdin.

    Raises:
        InputError: When it is not a JSON object.
    """
    if raw is None:
        raw = sys.stdin.buffer.read()
    try:
        request = json.loads(raw or b"null")
    except ValueError as exc:
        raise InputError(f"stdin is not valid JSON: {exc}") from exc
    if not isinstance(request, dict):
        raise InputError("stdin must hold one JSON object (the command runtime's request)")
    return request


def emit(outputs: Mapping[str, Any], error: str | None = None) -> None:
    """Write the step's answer on stdout: ``{"outputs": ..., "error"?: ...}`` and a newline."""
    result: dict[str, Any] = {"outputs": dict(outputs)}
    if error is not None:
        result["error"] = error
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


def refuse_questions(request: Mapping[str, Any], step: str, instead: str) -> None:
    """Refuse ``resume_task(mode="qa")``: a step has no agent session to ask.

    Args:
        request: The runtime's request.
        step: The step's name, for the message.
        instead: What a ``continue`` does instead (``run the command again``).

    Raises:
        InputError: When the request asks a question.
    """
    resume = request.get("resume")
    if isinstance(resume, dict) and resume.get("mode") == "qa":
        raise InputError(
            f"{step} has no agent session to answer questions; "
            f"resume with mode 'continue' to {instead}"
        )


def task_inputs(request: Mapping[str, Any]) -> dict[str, Any]:
    """The task's ``inputs`` (an empty dict when it has none).

    Raises:
        InputError: When ``task`` or ``task.inputs`` is not a JSON object.
    """
    task = request.get("task") or {}
    if not isinstance(task, dict):
        raise InputError("task must be a JSON object")
    inputs = task.get("inputs") or {}
    if not isinstance(inputs, dict):
        raise InputError("task.inputs must be a JSON object")
    return inputs


def request_workdir(request: Mapping[str, Any]) -> Path:
    """The project workspace: the request's ``workdir``, else the current folder.

    Raises:
        InputError: When it is not a directory.
    """
    workdir = Path(request.get("workdir") or Path.cwd())
    if not workdir.is_dir():
        raise InputError(f"workdir {str(workdir)!r} is not a directory")
    return workdir


def project_folder(workdir: Path, relative: Any, key: str = "project_path") -> Path:
    """The folder an input names inside the workspace (default the workspace itself).

    Raises:
        InputError: When the input is not a string, leaves the workspace (``..``, an
            absolute path elsewhere, a symlink out) or is not a directory.
    """
    if relative in (None, ""):
        relative = "."
    if not isinstance(relative, str):
        raise InputError(f"inputs.{key} must be a path (a string), not {relative!r}")
    root = workdir.resolve()
    folder = (root / relative).resolve()
    if folder != root and root not in folder.parents:
        raise InputError(f"inputs.{key} {relative!r} leaves the project workspace {root}")
    if not folder.is_dir():
        raise InputError(f"inputs.{key} {relative!r} is not a folder in {root}")
    return folder


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment with ``PYTHONUNBUFFERED=1``, then ``extra`` over it.

    Unbuffered, Python children print as they go instead of when their pipe buffer fills.
    """
    return {**os.environ, "PYTHONUNBUFFERED": "1", **(extra or {})}


def resolve_python(argv: Sequence[str]) -> list[str]:
    """``argv`` with a leading ``python``/``python3`` replaced by this interpreter."""
    if argv and argv[0] in PYTHON_NAMES:
        return [sys.executable, *argv[1:]]
    return list(argv)


def run_process(
    argv: Sequence[str],
    cwd: Path,
    env: Mapping[str, str],
    timeout_s: float | None = None,
) -> ProcessResult:
    """Run ``argv`` (never through a shell), echoing its combined output to stderr line by
    line as it comes, and keep the tail.

    The child stays in the step's process group: the command runtime starts the step in a
    group of its own and stops a run (timeout, idle limit, cancel) by signalling that
    group, which stops the child with it.

    Args:
        argv: The program and its arguments (see :func:`resolve_python`).
        cwd: Its working directory.
        env: Its whole environment (see :func:`child_env`).
        timeout_s: Seconds after which the child gets SIGTERM, then SIGKILL after
            :data:`TERMINATE_GRACE_S`; None waits for as long as it runs.

    Returns:
        Its exit code, output tail, duration, and whether it was stopped at ``timeout_s``.

    Raises:
        OSError: When the program cannot be started (``FileNotFoundError`` when it does
            not exist, ``PermissionError`` when it is not executable).
    """
    import threading  # only here: a step that runs no process starts without it

    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    started = time.monotonic()
    timed_out = threading.Event()
    with subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        encoding="utf-8",
        errors="replace",
    ) as proc:
        timer = None
        if timeout_s is not None:
            timer = threading.Timer(timeout_s, _stop, args=(proc, timed_out))
            timer.daemon = True
            timer.start()
        try:
            for line in proc.stdout or ():
                sys.stderr.write(line)
                sys.stderr.flush()
                tail.append(line[-TAIL_CHARS:])
        finally:
            if timer is not None:
                timer.cancel()
    return ProcessResult(
        exit_code=proc.returncode,
        tail="".join(tail)[-TAIL_CHARS:],
        duration_s=round(time.monotonic() - started, 3),
        timed_out=timed_out.is_set(),
    )


def log(step: str, message: str) -> None:
    """Write one line for people to the transcript (stderr), prefixed ``[step]``."""
    sys.stderr.write(f"[{step}] {message}\n")
    sys.stderr.flush()


def _stop(proc: subprocess.Popen[str], timed_out: threading.Event) -> None:
    timed_out.set()
    proc.terminate()
    try:
        proc.wait(TERMINATE_GRACE_S)
    except subprocess.TimeoutExpired:
        proc.kill()


def _utf8_stderr() -> None:
    # The transcript is read as UTF-8 whatever the locale of the machine running Brahmi.
    if isinstance(sys.stderr, io.TextIOWrapper):
        sys.stderr.reconfigure(encoding="utf-8", errors="replace")


__all__ = [
    "PYTHON_NAMES",
    "TAIL_CHARS",
    "TAIL_LINES",
    "InputError",
    "ProcessResult",
    "StepResult",
    "child_env",
    "emit",
    "log",
    "main",
    "read_request",
    "refuse_questions",
    "request_workdir",
    "resolve_python",
    "run_process",
    "task_inputs",
]
