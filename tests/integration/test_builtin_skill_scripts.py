"""The built-in command skills' steps (``brahmi.steps``), run as the command runtime runs
them: ``{python} -P -m brahmi.steps.<name>`` in the workspace.

Each step gets the runtime's request as JSON on stdin, runs real programs in a workspace
under ``tmp_path`` and must answer with exactly one JSON object on stdout.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from brahmi.metadata.files import validate_text
from brahmi.skills.catalog import BUILTIN_OWNER_REPO
from brahmi.skills.skill import load_skill

REPO = Path(__file__).resolve().parents[2]
BUILTIN = REPO / "src" / "brahmi" / "skills" / "builtin"
QUICKSTART = REPO / "examples" / "quickstart"
SCRIPT_TIMEOUT_S = 120


def step_argv(skill: str) -> list[str]:
    """The built-in skill's ``brahmi-command``, split and filled in as the runtime does."""
    command = load_skill(BUILTIN / skill, BUILTIN_OWNER_REPO).command
    assert command is not None
    return [part.replace("{python}", sys.executable) for part in shlex.split(command)]


def run_skill(
    skill: str, inputs: dict[str, Any], workdir: Path, resume: dict[str, str] | None = None
) -> tuple[dict[str, Any], str]:
    """Run a built-in skill's step like the command runtime; return its JSON and stderr."""
    skill_dir = BUILTIN / skill
    request = {
        "task": {
            "id": "00000000-0000-4000-8000-000000000001",
            "task_name": f"Run {skill}",
            "description": "",
            "skill_id": f"brahmi/builtin/{skill}",
            "inputs": inputs,
            "validation_criteria": {"critical": [], "expected": [], "nice_to_have": []},
            "attempt": 1,
            "rebuilds": 0,
            "parent": None,
        },
        "skill": {"full_id": f"brahmi/builtin/{skill}", "path": str(skill_dir)},
        "system_prompt": "",
        "prompt": "",
        "workdir": str(workdir),
        "resume": resume,
    }
    proc = subprocess.run(
        step_argv(skill),
        input=json.dumps(request),
        capture_output=True,
        encoding="utf-8",
        cwd=workdir,
        timeout=SCRIPT_TIMEOUT_S,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert isinstance(result, dict)
    assert set(result) <= {"outputs", "error"}
    return result, proc.stderr


def write_project(root: Path, tests: dict[str, str]) -> Path:
    """A tiny pytest project: its own ini section, so pytest roots here, plus test files."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\ntestpaths = ["tests"]\n', encoding="utf-8"
    )
    (root / "tests").mkdir(exist_ok=True)
    for name, body in tests.items():
        (root / "tests" / name).write_text(textwrap.dedent(body), encoding="utf-8")
    return root


PASSING_TESTS = """\
    def test_adds():
        assert 1 + 1 == 2

    def test_joins():
        assert "-".join("ab") == "a-b"
"""

ONE_FAILING_TEST = """\
    def test_adds():
        assert 1 + 1 == 2

    def test_finds_an_object():
        found = object()
        assert found is None
"""


# run-command


def test_builtin_command_skills_run_their_step_module() -> None:
    assert step_argv("run-command")[1:] == ["-P", "-m", "brahmi.steps.run_command"]
    assert step_argv("pytest-critique")[1:] == ["-P", "-m", "brahmi.steps.pytest_critique"]


def test_a_brahmi_folder_in_the_workspace_does_not_replace_the_step(tmp_path: Path) -> None:
    shadow = tmp_path / "brahmi"
    shadow.mkdir()
    (shadow / "__init__.py").write_text("raise SystemExit('the workspace copy ran')\n")

    result, _ = run_skill("run-command", {"command": ["python", "-c", "print('ok')"]}, tmp_path)

    assert "error" not in result
    assert result["outputs"]["output_tail"] == "ok\n"


def test_successful_command_reports_exit_code_duration_and_output(tmp_path: Path) -> None:
    command = ["python", "-c", "import sys; print('built'); print('warned', file=sys.stderr)"]

    result, transcript = run_skill("run-command", {"command": command}, tmp_path)

    assert "error" not in result
    outputs = result["outputs"]
    assert outputs["command"] == command
    assert outputs["exit_code"] == 0
    assert isinstance(outputs["duration_seconds"], float)
    assert outputs["duration_seconds"] >= 0
    assert "built\n" in outputs["output_tail"]
    assert "warned\n" in outputs["output_tail"]
    assert "built" in transcript


def test_command_runs_in_the_workspace_with_python_and_extra_environment(
    tmp_path: Path,
) -> None:
    code = (
        "import os, pathlib, sys; "
        "pathlib.Path('made.txt').write_text(os.environ['GREETING']); "
        "print(sys.executable)"
    )

    result, _ = run_skill(
        "run-command", {"command": ["python", "-c", code], "env": {"GREETING": "hello"}}, tmp_path
    )

    assert "error" not in result
    assert (tmp_path / "made.txt").read_text() == "hello"
    assert result["outputs"]["output_tail"].strip() == sys.executable


def test_non_zero_exit_is_an_error_that_keeps_the_outputs(tmp_path: Path) -> None:
    command = ["python", "-c", "print('half done'); raise SystemExit(3)"]

    result, _ = run_skill("run-command", {"command": command}, tmp_path)

    assert result["error"] == "command exited with code 3"
    assert result["outputs"]["exit_code"] == 3
    assert "half done" in result["outputs"]["output_tail"]


def test_missing_program_is_an_error_naming_it(tmp_path: Path) -> None:
    result, _ = run_skill("run-command", {"command": ["brahmi-no-such-program", "-x"]}, tmp_path)

    assert "brahmi-no-such-program" in result["error"]
    assert result["outputs"]["exit_code"] is None


@pytest.mark.parametrize(
    "inputs",
    [{}, {"command": "ls -l"}, {"command": []}, {"command": ["python", 3]}],
    ids=["missing", "string", "empty", "not-strings"],
)
def test_malformed_command_is_an_error_before_anything_runs(
    tmp_path: Path, inputs: dict[str, Any]
) -> None:
    result, _ = run_skill("run-command", inputs, tmp_path)

    assert "inputs.command" in result["error"]
    assert result["outputs"] == {}


def test_output_tail_keeps_only_the_last_lines(tmp_path: Path) -> None:
    command = ["python", "-c", "for i in range(500): print(f'line {i}')"]

    result, transcript = run_skill("run-command", {"command": command}, tmp_path)

    tail = result["outputs"]["output_tail"].splitlines()
    assert len(tail) == 50
    assert tail[-1] == "line 499"
    assert "line 0\n" in transcript


def test_a_question_to_a_command_is_refused_without_running_it(tmp_path: Path) -> None:
    command = ["python", "-c", "open('ran.txt', 'w').close()"]

    result, _ = run_skill(
        "run-command", {"command": command}, tmp_path, resume={"message": "why?", "mode": "qa"}
    )

    assert "no agent session" in result["error"]
    assert not (tmp_path / "ran.txt").exists()


# pytest-critique


def test_passing_suite_gives_a_pass_verdict_with_counts(tmp_path: Path) -> None:
    project = write_project(tmp_path / "project", {"test_ok.py": PASSING_TESTS})

    result, transcript = run_skill("pytest-critique", {}, project)

    assert "error" not in result
    outputs = result["outputs"]
    assert outputs["verdict"] == "pass"
    assert outputs["score"] == 100
    assert (outputs["tests_total"], outputs["tests_passed"], outputs["tests_failed"]) == (2, 2, 0)
    assert (outputs["tests_errored"], outputs["tests_skipped"]) == (0, 0)
    assert outputs["exit_code"] == 0
    assert "feedback_for_rebuild" not in outputs
    assert "2 passed" in transcript


def test_failing_test_becomes_an_issue_with_its_location(tmp_path: Path) -> None:
    project = write_project(tmp_path / "project", {"test_mixed.py": ONE_FAILING_TEST})

    result, _ = run_skill("pytest-critique", {}, project)

    outputs = result["outputs"]
    assert outputs["verdict"] == "fail"
    assert (outputs["tests_total"], outputs["tests_passed"], outputs["tests_failed"]) == (2, 1, 1)
    assert outputs["score"] == 50
    feedback = outputs["feedback_for_rebuild"]
    [issue] = feedback["issues"]
    assert issue["what"] == "tests/test_mixed.py::test_finds_an_object"
    assert issue["location"] == "tests/test_mixed.py:6"
    assert "is None" in issue["actual"]
    assert issue["severity"] == "high"
    assert feedback["tests_failing"] == ["tests/test_mixed.py::test_finds_an_object"]
    assert feedback["what_doesnt_work"] == feedback["tests_failing"]
    assert feedback["what_works"] == ["tests/test_mixed.py::test_adds"]


def test_the_same_failures_give_equal_issues_on_every_run(tmp_path: Path) -> None:
    project = write_project(
        tmp_path / "project",
        {"test_b.py": ONE_FAILING_TEST, "test_a.py": "def test_breaks():\n    assert [] == [1]\n"},
    )

    first, _ = run_skill("pytest-critique", {}, project)
    second, _ = run_skill("pytest-critique", {}, project)

    issues = first["outputs"]["feedback_for_rebuild"]["issues"]
    assert [issue["what"] for issue in issues] == [
        "tests/test_a.py::test_breaks",
        "tests/test_b.py::test_finds_an_object",
    ]
    assert issues == second["outputs"]["feedback_for_rebuild"]["issues"]


def test_unimportable_test_module_becomes_an_issue(tmp_path: Path) -> None:
    project = write_project(tmp_path / "project", {"test_broken.py": "import no_such_module\n"})

    result, _ = run_skill("pytest-critique", {}, project)

    outputs = result["outputs"]
    assert outputs["verdict"] == "fail"
    [issue] = outputs["feedback_for_rebuild"]["issues"]
    assert issue["what"] == "tests/test_broken.py"
    assert issue["location"] == "tests/test_broken.py:1"
    assert "no_such_module" in issue["actual"]


def test_suite_without_tests_fails_with_one_issue(tmp_path: Path) -> None:
    project = write_project(tmp_path / "project", {"helpers.py": "VALUE = 1\n"})

    result, _ = run_skill("pytest-critique", {}, project)

    outputs = result["outputs"]
    assert outputs["verdict"] == "fail"
    assert outputs["tests_total"] == 0
    assert outputs["exit_code"] == 5
    [issue] = outputs["feedback_for_rebuild"]["issues"]
    assert issue["actual"] == "pytest collected no tests"


@pytest.mark.parametrize(
    ("test_command", "expected"),
    [
        ("python -m pytest --no-such-option", "exit code 4"),
        (["brahmi-no-such-pytest"], "brahmi-no-such-pytest"),
    ],
    ids=["usage-error", "missing-program"],
)
def test_pytest_that_cannot_run_is_an_error_not_a_verdict(
    tmp_path: Path, test_command: str | list[str], expected: str
) -> None:
    project = write_project(tmp_path / "project", {"test_ok.py": PASSING_TESTS})

    result, _ = run_skill("pytest-critique", {"test_command": test_command}, project)

    assert expected in result["error"]
    assert "verdict" not in result["outputs"]


def test_critique_leaves_no_files_in_the_workspace(tmp_path: Path) -> None:
    project = write_project(tmp_path / "project", {"test_mixed.py": ONE_FAILING_TEST})
    before = sorted(project.rglob("*"))

    run_skill("pytest-critique", {}, project)

    assert sorted(project.rglob("*")) == before


def test_quickstart_project_passes_its_own_critique(tmp_path: Path) -> None:
    project = copy_quickstart(tmp_path)

    result, _ = run_skill("pytest-critique", {}, project)

    assert "error" not in result
    outputs = result["outputs"]
    assert outputs["verdict"] == "pass", outputs["summary"]
    assert outputs["tests_passed"] >= 10


def test_quickstart_plan_runs_end_to_end_with_the_builtin_skills(tmp_path: Path) -> None:
    project = copy_quickstart(tmp_path)
    plan = json.loads((project / "plan.json").read_text(encoding="utf-8"))

    for task in sorted(plan["tasks"], key=lambda task: task["task_order"]):
        skill = task["skill_id"].removeprefix("brahmi/builtin/")
        result, _ = run_skill(skill, task["inputs"], project)
        assert "error" not in result, (task["task_name"], result)

    assert (project / "dist" / "textstats.pyz").is_file()
    assert "reading time" in result["outputs"]["output_tail"]


def copy_quickstart(tmp_path: Path) -> Path:
    """A clean copy of the quickstart project, so the repository stays untouched."""
    ignore = shutil.ignore_patterns("__pycache__", "dist", ".pytest_cache")
    return Path(shutil.copytree(QUICKSTART, tmp_path / "quickstart", ignore=ignore))


# -- aramb-metadata-generate and local-deployment (DESIGN §11) ------------------------------

FASTAPI_APP = """\
import os

from fastapi import FastAPI

app = FastAPI()
DATABASE_URL = os.environ["DATABASE_URL"]
API_TOKEN = os.getenv("API_TOKEN")
"""


def test_metadata_generate_writes_a_valid_aramb_toml_and_lists_its_services(
    tmp_path: Path,
) -> None:
    project = tmp_path / "shop"
    (project / "app").mkdir(parents=True)
    (project / "app" / "main.py").write_text(FASTAPI_APP, encoding="utf-8")
    (project / "requirements.txt").write_text("fastapi\nuvicorn\n", encoding="utf-8")

    result, stderr = run_skill("aramb-metadata-generate", {"project_path": "."}, project)

    assert "error" not in result, stderr
    outputs = result["outputs"]
    assert outputs["aramb_toml"] == "aramb.toml"
    assert outputs["problems"] == []
    assert [s["type"] for s in outputs["services"]] == ["build", "backend"]
    text = (project / "aramb.toml").read_text(encoding="utf-8")
    assert 'key = "API_TOKEN"' in text  # a secret, by its name, with no value
    assert validate_text(text, "aramb.toml") == []
    again, _ = run_skill("aramb-metadata-generate", {}, project)
    assert again["outputs"]["changed"] is False


def test_metadata_generate_refuses_a_project_path_outside_the_workspace(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    result, _ = run_skill("aramb-metadata-generate", {"project_path": "../elsewhere"}, workspace)
    assert "leaves the project workspace" in result["error"]
    assert not (tmp_path / "elsewhere" / "aramb.toml").exists()


def test_metadata_generate_fails_with_the_reason_when_nothing_can_be_derived(
    tmp_path: Path,
) -> None:
    result, _ = run_skill("aramb-metadata-generate", {}, tmp_path)
    assert result["error"]
    assert not (tmp_path / "aramb.toml").exists()


EXITING_BACKEND = """\
[[services]]
uniqueIdentifier = 100
name = "api"
type = "backend"
applicationID = "{applicationID}"

[services.configuration.settings]
image = "example/api:1"
cmd = "python -c 'import sys; print(\\"cannot start: no config\\"); sys.exit(3)'"
commandPort = 8000
publicNet = true
"""


def test_local_deployment_failure_fails_the_task_with_the_service_and_its_last_log_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "aramb.toml").write_text(EXITING_BACKEND, encoding="utf-8")
    monkeypatch.setenv("BRAHMI_HOME", str(tmp_path / "home"))
    result, _ = run_skill("local-deployment", {"health_timeout_seconds": 20}, tmp_path)
    assert result["outputs"]["status"] == "failed"
    assert result["outputs"]["PUBLIC_URL"] is None
    assert result["outputs"]["failed_service"] in ("api", 100, "100")
    assert result["outputs"]["error_code"] == "service_exited"
    assert "cannot start: no config" in result["error"]


def test_local_deployment_rejects_a_file_that_breaks_a_rule_before_starting_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BRAHMI_HOME", str(tmp_path / "home"))
    (tmp_path / "aramb.toml").write_text(
        EXITING_BACKEND.replace("uniqueIdentifier = 100", "uniqueIdentifier = 7"),
        encoding="utf-8",
    )
    result, _ = run_skill("local-deployment", {}, tmp_path)
    assert result["outputs"]["error_code"] == "invalid_metadata"
    assert any(p["code"] == "id_not_sequential" for p in result["outputs"]["problems"])
