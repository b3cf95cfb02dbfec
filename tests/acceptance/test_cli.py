"""The real ``brahmi`` command, run as a process the way a person or a script runs it.

Every test gets its own ``BRAHMI_HOME`` under ``tmp_path`` (and none of the caller's other
``BRAHMI_*`` settings), runs the console script installed next to the interpreter, and
reads only what the command prints and exits with.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer

from brahmi.cli.app import app
from tests.acceptance.conftest import Cli, _output

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "examples" / "quickstart"
QUICKSTART_PLAN = QUICKSTART / "plan.json"
#: Upper bound for one command; the quickstart plan runs in a few seconds.
CLI_TIMEOUT_S = 90.0
TASK_FIELDS = {
    "task_id",
    "unique_id",
    "task_name",
    "status",
    "attempts",
    "rebuilds",
    "outputs",
    "error",
    "error_code",
    "parent_id",
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the quickstart project to run the plan in."""
    target = tmp_path / "quickstart"
    shutil.copytree(
        QUICKSTART,
        target,
        ignore=shutil.ignore_patterns(
            "dist", "__pycache__", ".pytest_cache", ".mypy_cache", "*.pyc"
        ),
    )
    return target


def write_plan(path: Path, tasks: list[dict[str, Any]]) -> Path:
    """Write ``tasks`` as a plan file."""
    path.write_text(json.dumps({"tasks": tasks}, indent=2), encoding="utf-8")
    return path


def run_command_task(uid: int, command: list[str], deps: list[int]) -> dict[str, Any]:
    """A snake_case task spec for the built-in run-command skill."""
    return {
        "unique_id": uid,
        "task_name": f"step {uid}",
        "skill_id": "brahmi/builtin/run-command",
        "task_order": uid,
        "logical_dependencies": deps,
        "inputs": {"command": command},
    }


def by_key(tasks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Tasks by their batch id, as a string."""
    assert all(isinstance(task["unique_id"], int) for task in tasks)  # as the plan wrote it
    return {str(task["unique_id"]): task for task in tasks}


# -- brahmi validate ------------------------------------------------------------------------


def test_validate_accepts_the_quickstart_plan(cli: Cli) -> None:
    proc = cli("validate", QUICKSTART_PLAN)
    assert proc.returncode == 0, _output(proc)
    assert "valid" in proc.stdout

    assert cli.json("validate", QUICKSTART_PLAN) == {
        "valid": True,
        "problems": [],
        "warnings": [],
    }


def test_validate_reports_every_problem_of_an_invalid_plan_at_once(
    cli: Cli, tmp_path: Path
) -> None:
    first = run_command_task(1, ["true"], [2])
    second = run_command_task(2, ["true"], [1])
    second["colour"] = "red"
    third = run_command_task(3, ["true"], [])
    third["skill_id"] = "brahmi/builtin/run-comand"
    plan = write_plan(tmp_path / "invalid.json", [first, second, third])

    reply = cli.json("validate", plan, exit_code=2)

    assert reply["valid"] is False
    problems = {p["code"]: p for p in reply["problems"]}
    assert set(problems) == {"dependency_cycle", "unknown_key", "unknown_skill"}
    for problem in reply["problems"]:
        assert set(problem) == {"path", "code", "message"}
        assert problem["message"]
    assert problems["unknown_key"]["path"] == "tasks[1].colour"
    assert "colour" in problems["unknown_key"]["message"]
    assert problems["unknown_skill"]["path"] == "tasks[2].skill_id"
    assert "brahmi/builtin/run-command" in problems["unknown_skill"]["message"]
    assert problems["dependency_cycle"]["path"].startswith("tasks[")
    assert re.search(r"1 → 2 → 1|2 → 1 → 2", problems["dependency_cycle"]["message"])

    proc = cli("validate", plan)
    assert proc.returncode == 2, _output(proc)
    assert "invalid_batch" in proc.stderr
    for problem in reply["problems"]:
        assert problem["path"] in proc.stderr


def test_validate_names_line_and_column_of_a_json_syntax_error(cli: Cli, tmp_path: Path) -> None:
    plan = tmp_path / "broken.json"
    plan.write_text('[\n  {"unique_id": 1,,}\n]\n', encoding="utf-8")

    proc = cli("validate", plan)
    assert proc.returncode == 2, _output(proc)
    assert "invalid_plan" in proc.stderr
    assert f"{plan}:2:19" in proc.stderr

    reply = cli.json("validate", plan, exit_code=2)
    assert reply["error"] == "invalid_plan"
    assert f"{plan}:2:19" in reply["message"]


def test_validate_of_a_missing_file_exits_2(cli: Cli, tmp_path: Path) -> None:
    proc = cli("validate", tmp_path / "no-such-plan.json")
    assert proc.returncode == 2, _output(proc)
    assert "invalid_plan" in proc.stderr
    assert "no-such-plan.json" in proc.stderr

    assert cli.json("validate", tmp_path / "no-such-plan.json", exit_code=2)["error"] == (
        "invalid_plan"
    )


# -- brahmi run -----------------------------------------------------------------------------


def test_run_builds_tests_and_packages_the_quickstart_project(cli: Cli, project: Path) -> None:
    reply = cli.json("run", QUICKSTART_PLAN, "--project", project)

    tasks = reply["tasks"]
    assert len(tasks) == 4
    for task in tasks:
        assert set(task) == TASK_FIELDS
        assert task["status"] == "completed", task
        assert task["error"] is None
        assert task["error_code"] is None
        assert task["attempts"] == 1
        assert task["rebuilds"] == 0
    named = by_key(tasks)
    for key in ("1", "3", "4"):
        assert named[key]["outputs"]["exit_code"] == 0, named[key]
    qa = named["2"]["outputs"]
    assert qa["verdict"] == "pass"
    assert qa["tests_total"] > 0
    assert qa["tests_failed"] == 0
    assert (project / "dist" / "textstats.pyz").is_file()
    assert "words" in named["4"]["outputs"]["output_tail"].lower()


def test_run_without_json_on_a_pipe_prints_a_line_per_status_change_and_a_summary(
    cli: Cli, project: Path
) -> None:
    proc = cli("run", QUICKSTART_PLAN, "--project", project)
    assert proc.returncode == 0, _output(proc)

    changes: dict[str, list[str]] = {}
    for line in proc.stdout.splitlines():
        found = re.match(r"^\d\d:\d\d:\d\d \[(\d+)\] .+: (\w+)", line)
        if found and found[2] != "verdict":  # QA verdict lines sit beside the status lines
            changes.setdefault(found[1], []).append(found[2])
    assert set(changes) == {"1", "2", "3", "4"}, proc.stdout
    for key, statuses in changes.items():
        assert statuses[-2:] == ["running", "completed"], (key, proc.stdout)
    for key in ("2", "3", "4"):
        assert changes[key][0] == "ready", (key, proc.stdout)
    assert "all 4 task(s) completed" in proc.stdout
    assert re.search(r"\[2\] QA: run the test suite: verdict pass \(turn 1", proc.stdout)
    assert "\x1b[" not in proc.stdout


def test_run_reports_a_failed_build_and_blocks_its_dependents(cli: Cli, tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    plan = write_plan(
        tmp_path / "failing.json",
        [
            run_command_task(1, ["python", "-c", "import sys; sys.exit(3)"], []),
            run_command_task(2, ["python", "-c", "print('never')"], [1]),
            run_command_task(3, ["python", "-c", "print('never')"], [2]),
        ],
    )

    proc = cli("run", plan, "--project", workspace)
    assert proc.returncode == 1, _output(proc)
    assert "0 of 3 task(s) completed" in proc.stdout

    named = by_key(cli.json("tasks", "list")["tasks"])
    assert named["1"]["status"] == "failed"
    assert "exited with code 3" in named["1"]["error"]
    assert named["1"]["outputs"]["exit_code"] == 3
    assert named["1"]["attempts"] == 1
    assert cli.json("tasks", "show", named["1"]["task_id"])["error_code"] == "agent_failed"
    assert named["1"]["error_code"] == "agent_failed"
    for key in ("2", "3"):
        assert named[key]["status"] == "blocked"
        assert named[key]["error_code"] == "blocked"
        assert named[key]["attempts"] == 0
        assert named["1"]["task_id"] in named[key]["error"]


def test_run_json_names_each_tasks_stop_reason_by_code(cli: Cli, tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    plan = write_plan(
        tmp_path / "failing.json",
        [
            run_command_task(1, ["python", "-c", "import sys; sys.exit(3)"], []),
            run_command_task(2, ["python", "-c", "print('never')"], [1]),
        ],
    )

    ran = cli.json("run", plan, "--project", workspace, exit_code=1)

    assert {t["unique_id"]: t["error_code"] for t in ran["tasks"]} == {
        1: "agent_failed",
        2: "blocked",
    }


def test_run_with_the_noop_executor_runs_no_command(cli: Cli, project: Path) -> None:
    reply = cli.json("run", QUICKSTART_PLAN, "--project", project, "--executor", "noop")

    named = by_key(reply["tasks"])
    assert [t["status"] for t in reply["tasks"]] == ["completed"] * 4
    for key in ("1", "3", "4"):
        assert named[key]["outputs"] == {}
    assert named["2"]["outputs"] == {"verdict": "pass"}
    assert not (project / "dist").exists()


def test_run_with_an_unknown_executor_stores_nothing(cli: Cli, project: Path) -> None:
    reply = cli.json(
        "run", QUICKSTART_PLAN, "--project", project, "--executor", "nope", exit_code=1
    )

    assert reply["error"] == "executor_not_found"
    assert cli.json("tasks", "list") == {"tasks": []}


def test_run_of_an_invalid_plan_stores_nothing(cli: Cli, tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    valid = run_command_task(1, ["true"], [])
    dangling = run_command_task(2, ["true"], [9])
    plan = write_plan(tmp_path / "invalid.json", [valid, dangling])

    reply = cli.json("run", plan, "--project", workspace, exit_code=2)
    assert [p["code"] for p in reply["problems"]] == ["unknown_reference"]
    proc = cli("run", plan, "--project", workspace)
    assert proc.returncode == 2, _output(proc)
    assert "invalid_batch" in proc.stderr
    assert "tasks[1].logical_dependencies[0]" in proc.stderr

    assert cli.json("tasks", "list") == {"tasks": []}


def test_run_without_a_plan_or_resume_exits_2(cli: Cli) -> None:
    proc = cli("run")
    assert proc.returncode == 2, _output(proc)
    assert "invalid_plan" in proc.stderr


# -- brahmi tasks ---------------------------------------------------------------------------


def test_tasks_list_and_show_agree_on_every_task_of_a_run(cli: Cli, project: Path) -> None:
    ran = cli.json("run", QUICKSTART_PLAN, "--project", project)["tasks"]
    listed = cli.json("tasks", "list")["tasks"]
    assert listed == ran

    transcripts = Path(cli.env["BRAHMI_HOME"]) / "transcripts"
    for task in listed:
        shown = cli.json("tasks", "show", task["task_id"])
        assert {key: shown[key] for key in TASK_FIELDS} == task
        history = shown["attempt_history"]
        assert len(history) == task["attempts"] == 1
        transcript = Path(history[0]["transcript_path"])
        assert transcript.is_file()
        assert transcript.is_relative_to(transcripts)
        assert history[0]["executor"] == "command"


def test_tasks_show_accepts_a_unique_prefix_of_the_id(cli: Cli, project: Path) -> None:
    ran = cli.json("run", QUICKSTART_PLAN, "--project", project, "--executor", "noop")["tasks"]
    task = ran[1]

    shown = cli.json("tasks", "show", task["task_id"][:8])
    assert shown["task_id"] == task["task_id"]

    proc = cli("tasks", "show", task["task_id"][:8])
    assert proc.returncode == 0, _output(proc)
    assert task["task_name"] in proc.stdout


def test_tasks_show_of_an_unknown_id_exits_1_with_task_not_found(cli: Cli) -> None:
    proc = cli("tasks", "show", "00000000-dead-beef-0000-000000000000")
    assert proc.returncode == 1, _output(proc)
    assert "task_not_found" in proc.stderr
    assert proc.stdout == ""

    reply = cli.json("tasks", "show", "00000000-dead-beef", exit_code=1)
    assert reply["error"] == "task_not_found"


def test_tasks_list_of_a_fresh_home_is_empty(cli: Cli) -> None:
    assert cli.json("tasks", "list") == {"tasks": []}
    proc = cli("tasks", "list")
    assert proc.returncode == 0, _output(proc)
    assert "no tasks" in proc.stdout


# -- --help ---------------------------------------------------------------------------------


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every command under ``command`` (Typer's Click objects), with its path of names."""
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _commands(sub, (*path, name))


COMMANDS = dict(_commands(typer.main.get_command(app)))


def _flat(text: str) -> str:
    """Help text without Rich's box drawing and line breaks."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


@pytest.mark.parametrize("path", list(COMMANDS), ids=lambda p: " ".join(("brahmi", *p)))
def test_help_exits_0_and_describes_every_option(cli: Cli, path: tuple[str, ...]) -> None:
    command = COMMANDS[path]
    proc = cli(*path, "--help")
    assert proc.returncode == 0, _output(proc)
    text = _flat(proc.stdout)
    assert f"Usage: brahmi {' '.join(path)}".rstrip() in text
    assert command.help or command.short_help, f"brahmi {' '.join(path)} has no help text"
    for name in getattr(command, "commands", {}):
        assert name in text
    for param in command.params:
        described = getattr(param, "help", None)
        assert described, f"{param.name} of brahmi {' '.join(path)} has no help text"
        assert _flat(described) in text, (param.name, proc.stdout)
        for opt in param.opts if param.param_type_name == "option" else ():
            assert opt in text, (opt, proc.stdout)
