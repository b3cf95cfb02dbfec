"""The claude-code runtime's rules that need no CLI: tools, the stream, usage, budgets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from brahmi.agents.base import Transcript
from brahmi.agents.claude_cli import StreamState
from brahmi.agents.claude_code import DEFAULT_ALLOWED_TOOLS, tool_policy
from brahmi.config import Settings, load_settings
from brahmi.store.usage import Budget, UsageTotals


def skill(tmp_path: Path, frontmatter: str = "") -> Path:
    folder = tmp_path / "demo"
    folder.mkdir()
    (folder / "SKILL.md").write_text(
        f"---\nname: demo\ndescription: A demo.\n{frontmatter}---\n\nBody.\n", encoding="utf-8"
    )
    return folder


def test_a_skills_allowed_tools_are_the_only_built_in_tools_its_agent_has(
    tmp_path: Path,
) -> None:
    folder = skill(tmp_path, 'allowed-tools: "Read Grep Bash(pytest *)"\n')
    builtin, allowed = tool_policy(folder, {"allowed_tools": ["Write"]})
    assert builtin == ("Read", "Grep", "Bash")
    assert allowed == ("Read", "Grep", "Bash(pytest *)")


def test_without_allowed_tools_the_project_option_or_the_default_applies(
    tmp_path: Path,
) -> None:
    folder = skill(tmp_path)
    assert tool_policy(folder, {}) == (None, DEFAULT_ALLOWED_TOOLS)
    assert tool_policy(folder, {"allowed_tools": "Read Edit"}) == (None, ("Read", "Edit"))


def test_usage_is_this_runs_share_of_the_sessions_cost(tmp_path: Path) -> None:
    state = StreamState()
    transcript = Transcript(tmp_path / "t.log")
    result = {
        "type": "result",
        "subtype": "success",
        "session_id": "s-1",
        "num_turns": 3,
        "total_cost_usd": 0.5,
        "usage": {
            "input_tokens": 100,
            "cache_creation_input_tokens": 20,
            "cache_read_input_tokens": 30,
            "output_tokens": 7,
        },
        "result": "ok",
    }
    state.feed(json.dumps(result), transcript)
    transcript.close()
    usage = state.usage(prior_session_cost_usd=0.2)
    assert (usage.input_tokens, usage.output_tokens, usage.turns) == (150, 7, 3)
    assert usage.cost_usd == pytest.approx(0.3)
    assert usage.session_cost_usd == 0.5
    assert state.session_id == "s-1" and state.final_text == "ok"


def test_a_budget_is_spent_when_either_limit_is_reached() -> None:
    spent = UsageTotals(input_tokens=900, output_tokens=100, cost_usd=0.4, runs=2)
    assert Budget(usd=None, tokens=1000, spent=spent).exceeded
    assert Budget(usd=0.4, tokens=None, spent=spent).exceeded
    assert not Budget(usd=1.0, tokens=5000, spent=spent).exceeded
    assert not Budget(usd=None, tokens=None, spent=spent).exceeded


def test_the_tool_server_gets_the_database_and_skill_folders_of_this_instance(
    tmp_path: Path,
) -> None:
    settings = Settings(home=tmp_path, database_url="postgresql://x/y", skill_dirs=("/a=o/r", "/b"))
    env = settings.tool_env()
    assert env == {
        "BRAHMI_HOME": str(tmp_path),
        "BRAHMI_DATABASE_URL": "postgresql://x/y",
        "BRAHMI_SKILL_DIRS": "/a=o/r\n/b",
    }
    assert load_settings(env).skill_dirs == ("/a=o/r", "/b")
