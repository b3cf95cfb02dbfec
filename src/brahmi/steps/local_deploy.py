"""Deploy ``aramb.toml`` on this machine: the ``brahmi/builtin/local-deployment`` step.

What ``brahmi deploy`` does (DESIGN §11), as a task: bring the project's services up on a
deployment target (``local`` by default), wait for the public service to answer, and
report::

    {"outputs": {"status", "public_url", "PUBLIC_URL", "images_built", "services",
                 "target"},
     "error"?: "why it failed, with the failing service's last log lines"}

The services outlive the step (each runs in its own session); ``brahmi deploy status``,
``logs`` and ``stop`` reach them from any shell. A SIGTERM (the task's timeout, a
cancellation) while deploying stops whatever was started.
"""

from __future__ import annotations

import signal
import sys
from typing import Any

from brahmi import errors
from brahmi.config import load_settings
from brahmi.deploy import api
from brahmi.steps import protocol
from brahmi.steps.protocol import InputError, StepResult

STEP = "local-deployment"
#: Longest wait for the public service when the task does not say, seconds.
DEFAULT_HEALTH_TIMEOUT_S = 60.0


def run(request: dict[str, Any]) -> StepResult:
    """Deploy the project's ``aramb.toml`` and report where it answers.

    Args:
        request: The command runtime's request. ``task.inputs``: ``project_path``
            (default ``"."``), ``target`` (default ``"local"``),
            ``health_timeout_seconds`` (default 60); the seeds' ``skip_build`` and
            ``push_registry`` are accepted and change nothing on the local target.

    Returns:
        The deployment's outputs; an error when it failed (nothing is left running).

    Raises:
        InputError: When an input has the wrong shape or the folder leaves the workspace.
    """
    protocol.refuse_questions(request, STEP, "deploy again")
    inputs = protocol.task_inputs(request)
    workdir = protocol.request_workdir(request)
    folder = protocol.project_folder(workdir, inputs.get("project_path"))
    target = inputs.get("target") or "local"
    if not isinstance(target, str):
        raise InputError(f"inputs.target must be a target's name, not {target!r}")
    timeout_s = inputs.get("health_timeout_seconds", DEFAULT_HEALTH_TIMEOUT_S)
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float) or timeout_s <= 0:
        raise InputError("inputs.health_timeout_seconds must be a positive number of seconds")
    protocol.log(STEP, f"deploying {folder} on the {target} target")
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        deployment = api.deploy_project(
            folder, target, timeout_s=float(timeout_s), home=load_settings().home
        )
    except errors.BrahmiError as exc:
        return _failed(exc, target)
    finally:
        signal.signal(signal.SIGTERM, previous)
    data = deployment.to_dict()
    for warning in deployment.warnings:
        protocol.log(STEP, f"warning: {warning}")
    protocol.log(STEP, f"PUBLIC_URL: {deployment.public_url}")
    return StepResult(
        {
            "status": data["status"],
            "public_url": data["public_url"],
            "PUBLIC_URL": data["public_url"],
            "images_built": data["images_built"],
            "services": data["services"],
            "target": data["target"],
        }
    )


def _failed(exc: errors.BrahmiError, target: str) -> StepResult:
    """The outputs and error of a deployment that did not come up."""
    partial = getattr(exc, "deployment", None)
    outputs: dict[str, Any] = {
        "status": "failed",
        "public_url": None,
        "PUBLIC_URL": None,
        "images_built": list(partial.images_built) if partial is not None else [],
        "services": [s.to_dict() for s in partial.services] if partial is not None else [],
        "target": target,
        "error_code": exc.code,
        "failed_service": exc.fields.get("service"),
    }
    if exc.fields.get("problems"):
        outputs["problems"] = exc.fields["problems"]
    message = f"{exc.code}: {exc.message}"
    tail = exc.fields.get("logs_tail")
    if tail and str(tail) not in exc.message:
        message += f"\nlast log lines:\n{tail}"
    protocol.log(STEP, message)
    return StepResult(outputs, message)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(protocol.main(STEP, run))
