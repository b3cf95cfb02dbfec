"""The README's commands and examples are the ones CI runs and the code accepts."""

from __future__ import annotations

import json
import re
from pathlib import Path

from brahmi.domain.batch import normalise_batch

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
CI = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
BUILTINS = {"brahmi/builtin/run-command", "brahmi/builtin/pytest-critique"}


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


def _setup_commands() -> list[str]:
    first = _blocks("bash")[0]
    return [line for line in first.splitlines() if line and not line.startswith("#")]


def test_readme_opens_with_the_two_setup_commands() -> None:
    run, test = _setup_commands()
    assert run.endswith(
        ".venv/bin/brahmi run examples/quickstart/plan.json --project examples/quickstart"
    )
    assert test.endswith(".venv/bin/pytest")
    assert README.index("```bash") < README.index("## What Brahmi is")


def test_ci_runs_every_step_of_the_readme_setup_commands() -> None:
    ci_lines = {line.replace(" --quiet", "").strip() for line in CI.splitlines()}
    for command in _setup_commands():
        for step in command.split(" && "):
            assert step.strip() in ci_lines, f"{step!r} is in the README but not in .ci/run"


def test_the_readme_plan_is_a_valid_batch() -> None:
    plan = json.loads(_blocks("json")[0])
    batch = normalise_batch(plan["tasks"], skills=BUILTINS)
    assert [t.key for t in batch.tasks] == ["1", "2"]
    assert batch.tasks[1].critiques


def test_the_quickstart_plan_is_a_valid_batch() -> None:
    plan = json.loads((ROOT / "examples" / "quickstart" / "plan.json").read_text("utf-8"))
    batch = normalise_batch(plan["tasks"], skills=BUILTINS)
    assert len(batch.tasks) == 4
