"""The claude-code runtime against the real Claude Code CLI, with only the model faked.

The CLI bundled in ``claude-agent-sdk`` runs as a real subprocess in the project workspace,
with ``HOME`` in a temp folder; ``ANTHROPIC_BASE_URL`` points at the scripted fake of the
Messages API (tests/fakes/anthropic_api.py). Brahmi's tools reach it through a real
``brahmi mcp --task`` stdio server on the same SQLite file.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from brahmi.agents.claude_cli import find_cli
from brahmi.config import Settings
from brahmi.domain.models import TaskRecord, TaskStatus
from brahmi.service import Brahmi
from brahmi.testing import run_until_settled
from tests.fakes.anthropic_api import FakeAnthropicAPI, text, tool_use

pytestmark = pytest.mark.skipif(
    find_cli() is None,
    reason="the Claude Code CLI is not installed: pip install 'brahmi[claude]'",
)

S = TaskStatus
OWNER_REPO = "acme/agents"
#: The model's price table gives $3/M input and $15/M output tokens for this model.
BUILDER_BODY = "You are the BUILDER-SKILL-MARKER. Build what the task asks."
CRITIC_BODY = "You are the CRITIC-SKILL-MARKER. Judge the work."


def write_skill(root: Path, name: str, body: str, extra: str = "") -> None:
    """A claude-code skill ``root/name``."""
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "SKILL.md").write_text(
        f"---\nname: {name}\ndescription: A test skill, {name}.\n{extra}metadata:\n"
        f"  brahmi-runtime: claude-code\n---\n\n{body}\n",
        encoding="utf-8",
    )


@pytest.fixture
def brahmi(settings: Settings, tmp_path: Path) -> Iterator[Brahmi]:
    """A Brahmi whose skills run on the real claude-code runtime."""
    root = tmp_path / "skills"
    write_skill(root, "builder", BUILDER_BODY)
    write_skill(root, "critic", CRITIC_BODY, 'allowed-tools: "Read Grep Glob"\n')
    instance = Brahmi(settings.with_(skill_dirs=(f"{root}={OWNER_REPO}",), forced_executor=None))
    assert instance.catalog.problems == []
    yield instance
    instance.close()


@pytest.fixture
def project_id(
    brahmi: Brahmi, workspace: Path, anthropic_api: FakeAnthropicAPI, tmp_path: Path
) -> str:
    """The workspace's project, its agents pointed at the fake API."""
    project = brahmi.project_for(workspace)
    brahmi.configure_project(project.id, {"env": anthropic_api.env(tmp_path / "agent-home")})
    return project.id


def spec(uid: int, name: str, skill: str = "builder", *deps: int, **extra: Any) -> dict[str, Any]:
    """A task spec of one of the test skills."""
    return {
        "unique_id": uid,
        "task_name": name,
        "description": f"Do {name}.",
        "skill_id": f"{OWNER_REPO}/{skill}",
        "logical_dependencies": list(deps),
        **extra,
    }


def run(
    brahmi: Brahmi, project_id: str, specs: list[dict[str, Any]], timeout_s: float = 90
) -> dict[str, TaskRecord]:
    """Store a batch and run it to a settled state; its tasks by name."""
    batch = brahmi.create_tasks_batch(project_id, specs)
    tasks = asyncio.run(run_until_settled(brahmi, batch.batch_id, timeout_s=timeout_s))
    return {t.task_name: t for t in tasks}


def fenced(outputs: dict[str, Any]) -> str:
    """A final message ending with the outputs in a fenced json block."""
    return f"Done.\n```json\n{json.dumps(outputs)}\n```"


def test_agent_edits_a_file_in_the_workspace_and_ends_with_its_outputs(
    brahmi: Brahmi, project_id: str, workspace: Path, anthropic_api: FakeAnthropicAPI
) -> None:
    target = workspace / "greet.py"
    anthropic_api.reply(
        tool_use("Write", {"file_path": str(target), "content": "print('hello')\n"})
    )
    anthropic_api.reply(text(fenced({"files": ["greet.py"], "status": "done"})))

    tasks = run(brahmi, project_id, [spec(1, "Write the greeter")])

    task = tasks["Write the greeter"]
    assert task.status is S.COMPLETED, task.error
    assert task.outputs == {"files": ["greet.py"], "status": "done"}
    assert target.read_text() == "print('hello')\n"
    assert task.session_ref
    first = anthropic_api.requests[0]
    assert BUILDER_BODY in anthropic_api.system_text(0)
    assert "# Task: Write the greeter" in json.dumps(first["messages"])
    assert "Output contract" in json.dumps(first["messages"])
    totals = brahmi.usage.totals(task_id=task.id)
    assert (totals.input_tokens, totals.output_tokens, totals.runs) == (200, 40, 1)
    assert totals.cost_usd == pytest.approx(200 * 3e-6 + 40 * 15e-6)
    [attempt] = brahmi.store.attempts_for(task.id)
    assert attempt.usage is not None and attempt.usage["turns"] == 2
    transcript = Path(attempt.transcript_path or "").read_text()
    assert "-> Write" in transcript and "[claude] success" in transcript
