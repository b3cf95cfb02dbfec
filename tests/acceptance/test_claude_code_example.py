"""examples/claude-code through the real ``brahmi`` command and the real Claude Code CLI.

Only the model is faked (tests/fakes/anthropic_api.py): Claude Code writes the feature
into a copy of the example, the critique runs the example's real test suite through its
Bash tool, and the person then reads usage, asks the build's session a question, and
checks the runtimes, all with the ``brahmi`` command.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from brahmi.agents.claude_cli import find_cli
from tests.acceptance.conftest import Cli, _output
from tests.fakes.anthropic_api import FakeAnthropicAPI, text, tool_use

pytestmark = pytest.mark.skipif(
    find_cli() is None,
    reason="the Claude Code CLI is not installed: pip install 'brahmi[claude]'",
)

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "claude-code"
TOP_WORDS = '''"""The most frequent words."""

from __future__ import annotations

from collections import Counter

from textstats.counts import words


def top_words(text: str, n: int = 3) -> list[tuple[str, int]]:
    """The ``n`` most frequent words as (word, count), most frequent first."""
    if n <= 0:
        return []
    counts = Counter(words(text))
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:n]
'''
TEST_TOP_WORDS = """from textstats.top import top_words


def test_top_words_most_frequent_first() -> None:
    assert top_words("b a b c a b", 2) == [("b", 3), ("a", 2)]
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the example for the agent to edit."""
    target = tmp_path / "textstats"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    return target


def fenced(outputs: dict[str, object]) -> str:
    return f"Finished.\n```json\n{json.dumps(outputs)}\n```"


def test_the_claude_code_example_builds_reviews_and_answers_questions(
    cli: Cli, project: Path, anthropic_api: FakeAnthropicAPI, tmp_path: Path
) -> None:
    agent_env = anthropic_api.env(tmp_path / "agent-home")
    configure = ["projects", "configure", "--project", project, "--budget-usd", "5"]
    for name, value in agent_env.items():
        configure += ["--env", f"{name}={value}"]
    proc = cli(*configure)
    assert proc.returncode == 0, _output(proc)

    anthropic_api.reply(
        tool_use(
            "Write", {"file_path": str(project / "src/textstats/top.py"), "content": TOP_WORDS}
        ),
        tool_use(
            "Write",
            {"file_path": str(project / "tests/test_top.py"), "content": TEST_TOP_WORDS},
        ),
    )
    anthropic_api.reply(
        text(fenced({"files_changed": ["src/textstats/top.py", "tests/test_top.py"]}))
    )
    anthropic_api.reply(
        tool_use("Bash", {"command": f"{sys.executable} -m pytest -q -p no:cacheprovider"})
    )
    anthropic_api.reply(text(fenced({"verdict": "pass", "score": 90, "summary": "tests pass"})))

    proc = cli("run", project / "plan.json", "--project", project)
    assert proc.returncode == 0, _output(proc)
    assert (project / "src/textstats/top.py").read_text() == TOP_WORDS
    pytest_output = anthropic_api.tool_results()[-1]
    assert "4 passed" in pytest_output

    tasks = {t["unique_id"]: t for t in cli.json("tasks", "list")["tasks"]}
    build = cli.json("tasks", "show", tasks[1]["task_id"])
    assert build["outputs"]["files_changed"] == ["src/textstats/top.py", "tests/test_top.py"]
    assert build["usage"]["runs"] == 1 and build["usage"]["input_tokens"] == 200
    assert build["usage"]["cost_usd"] == pytest.approx(0.0012)
    assert build["session_ref"]

    anthropic_api.reply(text("Ties sort alphabetically so the result is deterministic."))
    answer = cli.json(
        "tasks", "resume", tasks[1]["task_id"], "--mode", "qa", "-m", "Why sort ties?"
    )
    assert answer["answer"] == "Ties sort alphabetically so the result is deterministic."
    assert cli.json("tasks", "show", tasks[1]["task_id"])["status"] == "completed"

    shown = cli.json("projects", "show", "--project", project)
    assert shown["usage"]["runs"] == 3
    assert shown["budget"]["usd"] == 5.0 and not shown["budget"]["exceeded"]
    assert "ANTHROPIC_API_KEY" in shown["settings"]["env"]
    assert "sk-ant-fake-key" not in json.dumps(shown)


def test_agents_check_names_what_is_missing_and_the_fix(cli: Cli, tmp_path: Path) -> None:
    home = tmp_path / "empty-home"
    home.mkdir()
    bare = Cli(cli.exe, {**_without_keys(cli.env), "HOME": str(home)}, cli.cwd)
    proc = bare("agents", "check")
    assert proc.returncode == 1, _output(proc)
    assert "ANTHROPIC_API_KEY" in proc.stdout
    keyed = Cli(cli.exe, {**bare.env, "ANTHROPIC_API_KEY": "sk-ant-x"}, cli.cwd)
    report = keyed.json("agents", "check")
    runtimes = {r["name"]: r for r in report["runtimes"]}
    assert runtimes["claude-code"]["ok"] and "2." in runtimes["claude-code"]["version"]
    no_cli = Cli(cli.exe, {**keyed.env, "BRAHMI_CLAUDE_CLI": str(tmp_path / "nope")}, cli.cwd)
    proc = no_cli("agents", "check")
    assert proc.returncode == 1
    assert "pip install 'brahmi[claude]'" in proc.stdout


def _without_keys(env: dict[str, str]) -> dict[str, str]:
    return {
        k: v
        for k, v in env.items()
        if k not in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN")
    }
