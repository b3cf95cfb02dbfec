"""The ``command`` runtime with real subprocesses (DESIGN §6, STYLE "Processes").

Each test writes small skills into ``tmp_path`` whose ``brahmi-command`` runs a Python
script, and runs a batch through a real worker on a real SQLite file.
"""

from __future__ import annotations

import asyncio
import json
import os
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from brahmi.config import Settings
from brahmi.domain import lifecycle
from brahmi.domain.models import TaskRecord, TaskStatus
from brahmi.service import Brahmi
from brahmi.testing import run_until_settled

S = TaskStatus
OWNER_REPO = "acme/skills"
PYTHON_COMMAND = "{python} {skill_dir}/scripts/run.py"

ECHO = """\
    import json, os, sys
    request = json.load(sys.stdin)
    print(json.dumps({
        "outputs": {
            "inputs": request["task"]["inputs"],
            "request": request,
            "argv": sys.argv[1:],
            "cwd": os.getcwd(),
            "env": {k: os.environ.get(k) for k in ("BRAHMI_TASK_ID", "BRAHMI_SKILL_DIR")},
        },
        "usage": {"input_tokens": 3, "output_tokens": 4, "cost_usd": 0.5},
    }))
"""
REPORTS_ERROR = """\
    import json, sys
    json.load(sys.stdin)
    print(json.dumps({"outputs": {"done": ["step 1"]}, "error": "could not reach step 2"}))
"""
EXITS_NON_ZERO = """\
    import sys
    sys.stdin.read()
    print("starting", file=sys.stderr)
    print("boom: the database is gone", file=sys.stderr)
    sys.exit(3)
"""
PRINTS_PROSE = """\
    import sys
    sys.stdin.read()
    print("All done, everything works!")
"""
KILLS_ITSELF_ONCE = """\
    import json, os, signal, sys
    request = json.load(sys.stdin)
    if request["task"]["attempt"] == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    print(json.dumps({"outputs": {"attempt": request["task"]["attempt"]}}))
"""
SPAWNS_AND_HANGS = """\
    import json, os, subprocess, sys, time
    request = json.load(sys.stdin)
    grandchild = subprocess.Popen(["sleep", "60"])
    pids = {"child": os.getpid(), "grandchild": grandchild.pid}
    path = os.path.join(request["workdir"], "pids.json")
    with open(path + ".tmp", "w") as f:
        json.dump(pids, f)
    os.replace(path + ".tmp", path)
    time.sleep(60)
"""


def write_skill(root: Path, name: str, script: str, command: str = PYTHON_COMMAND) -> None:
    """A skill folder ``root/name`` run by the command runtime with ``script``."""
    folder = root / name
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text(
        f"---\nname: {name}\ndescription: A test skill, {name}.\nmetadata:\n"
        f"  brahmi-runtime: command\n  brahmi-command: {json.dumps(command)}\n---\n\n"
        f"# {name}\n\nThe system prompt of {name}.\n",
        encoding="utf-8",
    )
    (folder / "scripts" / "run.py").write_text(textwrap.dedent(script), encoding="utf-8")


@pytest.fixture
def skills_dir(tmp_path: Path) -> Path:
    """A folder of command skills, one per behaviour."""
    root = tmp_path / "skills"
    write_skill(root, "echo-inputs", ECHO, PYTHON_COMMAND + " 'two words' '$HOME' ';ls'")
    write_skill(root, "reports-error", REPORTS_ERROR)
    write_skill(root, "exits-non-zero", EXITS_NON_ZERO)
    write_skill(root, "prints-prose", PRINTS_PROSE)
    write_skill(root, "kills-itself-once", KILLS_ITSELF_ONCE)
    write_skill(root, "spawns-and-hangs", SPAWNS_AND_HANGS)
    write_skill(root, "missing-program", "", "/nonexistent/brahmi-test-program {skill_dir}")
    return root


@pytest.fixture
def brahmi(settings: Settings, skills_dir: Path) -> Iterator[Brahmi]:
    """A Brahmi whose tasks run on the real runtimes the skills name."""
    instance = Brahmi(
        settings.with_(skill_dirs=(f"{skills_dir}={OWNER_REPO}",), forced_executor=None)
    )
    assert instance.catalog.problems == []
    yield instance
    instance.close()


def run_one(
    brahmi: Brahmi, workspace: Path, skill: str, inputs: dict[str, Any] | None = None, **extra: Any
) -> TaskRecord:
    """Run one task of ``skill`` to a settled state and return it."""
    project = brahmi.project_for(workspace)
    spec = {
        "unique_id": 1,
        "task_name": f"Run {skill}",
        "description": f"Exercise the {skill} skill.",
        "skill_id": f"{OWNER_REPO}/{skill}",
        "task_order": 1,
        "inputs": inputs or {},
        **extra,
    }
    batch = brahmi.create_tasks_batch(project.id, [spec])
    [task] = asyncio.run(run_until_settled(brahmi, batch.batch_id, timeout_s=30))
    assert isinstance(task, TaskRecord)
    return task


def transcript_of(brahmi: Brahmi, task_id: str) -> str:
    """The transcript of the task's last attempt."""
    path = brahmi.store.attempts_for(task_id)[-1].transcript_path
    assert path is not None
    return Path(path).read_text(encoding="utf-8")


def process_gone(pid: int) -> bool:
    """True when ``pid`` no longer runs (a zombie waiting for its reaper counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


# -- the protocol ------------------------------------------------------------------------


def test_the_command_gets_the_task_on_stdin_and_its_stdout_becomes_the_outputs(
    brahmi: Brahmi, workspace: Path
) -> None:
    inputs = {"framework": "fastapi", "ports": [8080], "note": "नमस्ते"}
    task = run_one(
        brahmi,
        workspace,
        "echo-inputs",
        inputs,
        validation_criteria={"critical": ["echoes"], "expected": [], "nice_to_have": []},
    )

    assert task.status is S.COMPLETED, task.error
    assert task.outputs is not None
    assert task.outputs["inputs"] == inputs
    request = task.outputs["request"]
    assert set(request) == {"task", "skill", "system_prompt", "prompt", "workdir", "resume"}
    assert request["task"]["id"] == task.id
    assert request["task"]["task_name"] == "Run echo-inputs"
    assert request["task"]["description"] == "Exercise the echo-inputs skill."
    assert request["task"]["skill_id"] == f"{OWNER_REPO}/echo-inputs"
    assert request["task"]["inputs"] == inputs
    assert request["task"]["validation_criteria"]["critical"] == ["echoes"]
    assert request["task"]["attempt"] == 1
    assert request["task"]["rebuilds"] == 0
    assert request["task"]["parent"] is None
    skill = brahmi.catalog.get(f"{OWNER_REPO}/echo-inputs")
    assert request["skill"] == {"full_id": skill.full_id, "path": str(skill.path)}
    assert request["system_prompt"] == skill.body
    assert "Run echo-inputs" in request["prompt"]
    assert "fastapi" in request["prompt"]
    assert request["workdir"] == str(workspace.resolve())
    assert request["resume"] is None
    assert Path(task.outputs["cwd"]).resolve() == workspace.resolve()
    assert task.outputs["env"] == {"BRAHMI_TASK_ID": task.id, "BRAHMI_SKILL_DIR": str(skill.path)}
    [attempt] = brahmi.store.attempts_for(task.id)
    assert attempt.executor == "command"
    assert attempt.usage == {"input_tokens": 3, "output_tokens": 4, "cost_usd": 0.5}


def test_inputs_and_command_arguments_never_reach_a_shell(brahmi: Brahmi, workspace: Path) -> None:
    hostile = {"cmd": '"; rm -rf /', "sub": "$(touch pwned)", "glob": "*", "tick": "`id`"}
    task = run_one(brahmi, workspace, "echo-inputs", hostile)

    assert task.status is S.COMPLETED, task.error
    assert task.outputs is not None
    assert task.outputs["inputs"] == hostile
    # The command line was split like a shell would, but nothing was expanded.
    assert task.outputs["argv"] == ["two words", "$HOME", ";ls"]
    assert not (workspace / "pwned").exists()


def test_an_error_on_stdout_fails_the_task_and_keeps_its_outputs(
    brahmi: Brahmi, workspace: Path
) -> None:
    task = run_one(brahmi, workspace, "reports-error")

    assert task.status is S.FAILED
    assert task.error == "could not reach step 2"
    assert task.error_code == "agent_failed"
    assert task.outputs == {"done": ["step 1"]}
    assert task.attempts == 1


def test_a_non_zero_exit_fails_the_task_with_the_end_of_stderr(
    brahmi: Brahmi, workspace: Path
) -> None:
    task = run_one(brahmi, workspace, "exits-non-zero")

    assert task.status is S.FAILED
    assert task.error_code == "agent_exit"
    assert task.error is not None
    assert "exited with code 3" in task.error
    assert "boom: the database is gone" in task.error
    assert task.attempts == 1
    transcript = transcript_of(brahmi, task.id)
    assert "starting" in transcript
    assert "boom: the database is gone" in transcript


def test_stdout_that_is_not_json_fails_with_agent_output_invalid(
    brahmi: Brahmi, workspace: Path
) -> None:
    task = run_one(brahmi, workspace, "prints-prose")

    assert task.status is S.FAILED
    assert task.error_code == "agent_output_invalid"
    assert task.attempts == 1


def test_a_command_killed_by_a_signal_is_an_infrastructure_failure_and_is_retried(
    brahmi: Brahmi, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lifecycle, "BACKOFF_BASE_S", 0.01)
    task = run_one(brahmi, workspace, "kills-itself-once")

    assert task.status is S.COMPLETED, task.error
    assert task.outputs == {"attempt": 2}
    attempts = brahmi.store.attempts_for(task.id)
    assert [a.status for a in attempts] == ["failed", "succeeded"]
    assert attempts[0].error is not None
    assert "signal 9" in attempts[0].error


def test_a_missing_program_fails_with_runtime_unavailable_and_is_not_retried(
    brahmi: Brahmi, workspace: Path
) -> None:
    task = run_one(brahmi, workspace, "missing-program")

    assert task.status is S.FAILED
    assert task.error_code == "runtime_unavailable"
    assert task.error is not None
    assert "/nonexistent/brahmi-test-program" in task.error
    assert task.attempts == 1


# -- stopping ----------------------------------------------------------------------------


def test_a_timeout_kills_the_whole_process_group(brahmi: Brahmi, workspace: Path) -> None:
    task = run_one(brahmi, workspace, "spawns-and-hangs", timeout_seconds=1)

    assert task.status is S.FAILED
    assert task.error == "timeout after 1 s"
    assert task.error_code == "timeout"
    pids = json.loads((workspace / "pids.json").read_text(encoding="utf-8"))
    deadline = time.monotonic() + 10
    while not all(process_gone(pid) for pid in pids.values()):
        assert time.monotonic() < deadline, f"still running: {pids}"
        time.sleep(0.01)
    assert "process group terminated" in transcript_of(brahmi, task.id)
