"""Run one command in the project workspace: the ``brahmi/builtin/run-command`` step.

Runs ``task.inputs.command`` as an argument list (never through a shell) with the workspace
as its working directory, streams what the command prints to stderr as it comes (Brahmi
keeps stderr as the transcript), and prints one JSON object on stdout::

    {"outputs": {"command", "exit_code", "duration_seconds", "output_tail"},
     "error"?: "command exited with code N"}

The step exits 0 whenever it could write that object; a failed command is reported in
``error``, not in the step's exit status.
"""

from __future__ import annotations

import json
import shlex
import sys
from typing import Any

from brahmi.steps import protocol
from brahmi.steps.protocol import InputError, StepResult

STEP = "run-command"


def run(request: dict[str, Any]) -> StepResult:
    """Run the task's command and describe how it went.

    Args:
        request: The command runtime's request (``task``, ``workdir``, ``resume``…).

    Returns:
        The outputs, with an error when the command failed or could not start.

    Raises:
        InputError: When the task's inputs or the request cannot be used.
    """
    protocol.refuse_questions(request, STEP, "run the command again")
    inputs = protocol.task_inputs(request)
    command = parse_command(inputs.get("command"))
    env = protocol.child_env(parse_env(inputs.get("env")))
    workdir = protocol.request_workdir(request)

    argv = protocol.resolve_python(command)
    log(f"$ {shlex.join(argv)}    (in {workdir})")
    try:
        done = protocol.run_process(argv, workdir, env)
    except FileNotFoundError:
        return _not_started(command, f"program not found: {command[0]!r}")
    except PermissionError:
        return _not_started(command, f"program is not executable: {command[0]!r}")
    except OSError as exc:
        return _not_started(command, f"cannot start {command[0]!r}: {exc}")
    exit_code = done.exit_code
    outputs = {
        "command": command,
        "exit_code": exit_code,
        "duration_seconds": done.duration_s,
        "output_tail": done.tail,
    }
    log(f"exit code {exit_code} after {done.duration_s} s")
    if exit_code == 0:
        return StepResult(outputs)
    if exit_code < 0:
        return StepResult(outputs, f"command was killed by signal {-exit_code}")
    return StepResult(outputs, f"command exited with code {exit_code}")


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


def parse_env(extra: object) -> dict[str, str]:
    """Check ``inputs.env``: an object of strings added to the command's environment.

    ``PYTHONUNBUFFERED=1`` is set (see :func:`~brahmi.steps.protocol.child_env`) unless
    ``inputs.env`` says otherwise.

    Raises:
        InputError: When ``inputs.env`` is not an object of strings.
    """
    if extra is None:
        return {}
    if not isinstance(extra, dict):
        raise InputError("inputs.env must be an object mapping names to string values")
    for key, value in extra.items():
        if not isinstance(value, str):
            raise InputError(f"inputs.env.{key} must be a string, not {json.dumps(value)}")
    return dict(extra)


def _not_started(command: list[str], error: str) -> StepResult:
    log(error)
    outputs = {"command": command, "exit_code": None, "duration_seconds": 0.0, "output_tail": ""}
    return StepResult(outputs, error)


def log(message: str) -> None:
    """Write one line for people to the transcript (stderr)."""
    protocol.log(STEP, message)


if __name__ == "__main__":
    sys.exit(protocol.main(STEP, run))
