"""``brahmi ask`` as a real subprocess on the embedded database (DESIGN §7, §8): the
template planner plans, runs and reports without a server; questions are answered from
outputs; bad input exits 2 and stores nothing."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.acceptance.conftest import Cli, _output

REQUEST = "Build a todo API with create and list endpoints."


def conversation(cli: Cli) -> list[tuple[str, str]]:
    db = Path(cli.env["BRAHMI_HOME"]) / "brahmi.db"
    with sqlite3.connect(db) as conn:
        return list(conn.execute("SELECT role, text FROM planner_messages ORDER BY id"))


def test_ask_with_the_template_planner_plans_runs_reports_and_answers(cli: Cli) -> None:
    workspace = cli.cwd / "app"
    workspace.mkdir()

    done = cli(
        "ask",
        "--project",
        workspace,
        "--planner",
        "template",
        "--wait",
        "--executor",
        "noop",
        REQUEST,
    )
    asked = cli("ask", "--project", workspace, "Which framework did you use?")
    listed = cli("tasks", "list", "--project", workspace, "--json")

    assert done.returncode == 0, _output(done)
    assert "planner: brahmi/builtin/template-planner" in done.stdout
    assert "Planned 4 tasks for this backend request" in done.stdout
    assert "Deploy backend services: completed" in done.stdout
    assert "All 4 tasks are done" in done.stdout
    assert asked.returncode == 0, _output(asked)
    assert "None of the tasks reported the framework yet." in asked.stdout
    assert listed.returncode == 0, _output(listed)
    tasks = json.loads(listed.stdout)["tasks"]
    assert [t["status"] for t in tasks] == ["completed"] * 4  # the question created nothing
    roles = [role for role, _ in conversation(cli)]
    assert roles == ["user", "planner", "planner", "user", "planner"]


def test_ask_refuses_an_empty_message_and_an_unknown_planner(cli: Cli) -> None:
    empty = cli("ask", "   ")
    unknown = cli("ask", "--planner", "nope", "Build it")

    assert empty.returncode == 2, _output(empty)
    assert "invalid_message" in empty.stderr
    assert unknown.returncode == 1, _output(unknown)
    assert "planner_not_found" in unknown.stderr
    assert "brahmi/builtin/template-planner" in unknown.stderr


def test_ask_help_explains_the_command(cli: Cli) -> None:
    shown = cli("ask", "--help")
    assert shown.returncode == 0
    assert "--planner" in shown.stdout and "--wait" in shown.stdout


def test_the_readme_planner_example_runs_as_written(cli: Cli) -> None:
    import re
    import shlex

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Talking to a planner", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, flags=re.DOTALL)
    assert block is not None
    commands = [shlex.split(line) for line in block.group(1).splitlines() if line.strip()]
    assert [c[:2] for c in commands] == [["brahmi", "ask"], ["brahmi", "ask"]]

    outputs = [cli(*command[1:]) for command in commands]

    for proc in outputs:
        assert proc.returncode == 0, _output(proc)
    assert "All 4 tasks are done" in outputs[0].stdout
    # noop deployments report no URL: the answer says so instead of inventing one.
    assert "None of the tasks reported the public url yet." in outputs[1].stdout
