"""Write and check ``aramb.toml``: the ``brahmi/builtin/aramb-metadata-generate`` step.

What ``brahmi metadata generate DIR --write`` then ``brahmi metadata validate`` do
(DESIGN §11), as a task: derive the services from the project's files, merge them into an
existing ``aramb.toml`` without renumbering, write it, and report::

    {"outputs": {"aramb_toml", "services", "problems", "warnings", "changed"},
     "error"?: "aramb.toml breaks N rule(s): ..."}

A result that breaks a rule is not written, and the task fails with every problem listed.
"""

from __future__ import annotations

import sys
from typing import Any

from brahmi import errors
from brahmi.metadata import generate as metadata
from brahmi.steps import protocol
from brahmi.steps.protocol import StepResult

STEP = "aramb-metadata-generate"


def run(request: dict[str, Any]) -> StepResult:
    """Generate, write and validate the project's ``aramb.toml``.

    Args:
        request: The command runtime's request; ``task.inputs.project_path`` (default
            ``"."``) names the folder inside the workspace.

    Returns:
        The outputs; an error when nothing could be derived or the result breaks a rule.

    Raises:
        InputError: When ``project_path`` leaves the workspace or is not a folder.
    """
    protocol.refuse_questions(request, STEP, "generate the file again")
    inputs = protocol.task_inputs(request)
    workdir = protocol.request_workdir(request)
    folder = protocol.project_folder(workdir, inputs.get("project_path"))
    relative = folder.relative_to(workdir.resolve()) / metadata.FILE_NAME
    try:
        result = metadata.generate(folder)
    except errors.BrahmiError as exc:
        return StepResult(
            {"aramb_toml": str(relative), "services": [], "problems": []}, exc.message
        )
    problems = [problem.to_dict() for problem in result.problems]
    outputs = {
        "aramb_toml": str(relative),
        "services": [
            {"id": s.get("uniqueIdentifier"), "name": s.get("name"), "type": s.get("type")}
            for s in result.services
        ],
        "problems": problems,
        "warnings": result.warnings,
        "changed": result.changed,
    }
    for warning in result.warnings:
        protocol.log(STEP, f"warning: {warning}")
    if problems:
        listed = "; ".join(
            f"{p.get('key') or 'file'}: {p['message']} [{p['code']}]" for p in problems
        )
        return StepResult(outputs, f"aramb.toml breaks {len(problems)} rule(s): {listed}")
    if result.changed:
        metadata.write(folder, result)
        protocol.log(STEP, f"wrote {relative} ({len(result.services)} service(s))")
    else:
        protocol.log(STEP, f"{relative} is up to date ({len(result.services)} service(s))")
    return StepResult(outputs)


if __name__ == "__main__":
    sys.exit(protocol.main(STEP, run))
