"""``brahmi run --resume`` after the ``brahmi`` process was killed in the middle of a plan.

The plan's three steps run a local command skill that appends a line to ``runs.log`` in the
workspace each time it starts and finishes. Step 2 waits for a flag file the test creates
only after it has killed ``brahmi`` with SIGKILL, so the kill always lands while step 2 runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

#: Upper bound for one ``brahmi`` command and for each wait below.
DEADLINE_S = 60.0
POLL_S = 0.05
SKILL_ID = "local/skills/log-step"
FLAG = "go.flag"

SKILL_MD = """\
---
name: log-step
description: Logs each start and finish to runs.log in the workspace; waits for inputs.wait_for.
metadata:
  brahmi-runtime: command
  brahmi-command: "{python} {skill_dir}/scripts/run.py"
---

Test skill: no LLM, only a log of its runs.
"""

SCRIPT = """\
import json
import os
import sys
import time
from pathlib import Path

request = json.load(sys.stdin)
task = request["task"]
step = task["inputs"]["step"]
workdir = Path(request["workdir"])


def note(event):
    line = f"{event} step={step} attempt={task['attempt']} pid={os.getpid()}\\n"
    with (workdir / "runs.log").open("a", encoding="utf-8") as log:
        log.write(line)


note("start")
flag = task["inputs"].get("wait_for")
if flag:
    deadline = time.monotonic() + 30  # the safety limit: never outlive the test by much
    while not (workdir / flag).exists():
        if time.monotonic() > deadline:
            print(json.dumps({"outputs": {}, "error": f"{flag} did not appear within 30 s"}))
            sys.exit(0)
        time.sleep(0.02)
note("done")
print(json.dumps({"outputs": {"step": step, "pid": os.getpid()}}))
"""


@dataclass(frozen=True)
class Setup:
    """Where the pieces of one test live."""

    exe: Path
    env: dict[str, str]
    cwd: Path
    plan: Path
    workspace: Path
    skills: Path

    def brahmi(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        """Run ``brahmi ARGS`` to the end."""
        return subprocess.run(
            [str(self.exe), *map(str, args)],
            env=self.env,
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            encoding="utf-8",
            timeout=DEADLINE_S,
            check=False,
        )

    def brahmi_json(self, *args: str | Path) -> Any:
        """Run ``brahmi ARGS --json``; it must exit 0."""
        proc = self.brahmi(*args, "--json")
        assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        return json.loads(proc.stdout)

    def runs(self) -> list[dict[str, str]]:
        """The lines of ``runs.log``: event, step, attempt and pid of each."""
        log = self.workspace / "runs.log"
        if not log.exists():
            return []
        return [
            dict(zip(("event", "step", "attempt", "pid"), m.groups(), strict=True))
            for m in re.finditer(
                r"^(\w+) step=(\d+) attempt=(\d+) pid=(\d+)$",
                log.read_text(encoding="utf-8"),
                flags=re.MULTILINE,
            )
        ]

    def count(self, event: str, step: int) -> int:
        """How often ``event`` was logged for ``step``."""
        return sum(r["event"] == event and r["step"] == str(step) for r in self.runs())


def wait_until(condition: Callable[[], object], what: str, timeout_s: float = DEADLINE_S) -> None:
    """Poll ``condition`` until it is true, failing after ``timeout_s`` seconds."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(POLL_S)


def is_running(pid: int) -> bool:
    """True while ``pid`` exists and, where ``/proc`` tells, is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except FileNotFoundError:
        return not Path("/proc/self").exists()
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    """A workspace, the log-step skill, and a plan of three chained steps."""
    exe = Path(sys.executable).with_name("brahmi")
    if not exe.is_file():
        pytest.fail(f"no brahmi console script at {exe}: install the package (pip install -e .)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRAHMI_")}
    env["BRAHMI_HOME"] = str(tmp_path / "brahmi-home")

    skill = tmp_path / "skills" / "log-step"
    (skill / "scripts").mkdir(parents=True)
    (skill / "SKILL.md").write_text(SKILL_MD, encoding="utf-8")
    (skill / "scripts" / "run.py").write_text(SCRIPT, encoding="utf-8")
    workspace = tmp_path / "workspace"
    workspace.mkdir()

    def step(uid: int, **inputs: Any) -> dict[str, Any]:
        return {
            "unique_id": uid,
            "task_name": f"step {uid}",
            "skill_id": SKILL_ID,
            "task_order": uid,
            "logical_dependencies": [uid - 1] if uid > 1 else [],
            "inputs": {"step": uid, **inputs},
            "timeout_seconds": 120,
        }

    plan = tmp_path / "plan.json"
    plan.write_text(
        json.dumps({"tasks": [step(1), step(2, wait_for=FLAG), step(3)]}), encoding="utf-8"
    )
    return Setup(exe, env, tmp_path, plan, workspace, skill.parent)


@pytest.fixture
def killed_during_step_2(setup: Setup) -> Iterator[int]:
    """Start ``brahmi run``, SIGKILL it while step 2 runs, then let step 2 go on.

    Yields the pid of step 2's first agent process. It runs in its own session, so killing
    ``brahmi`` does not end it: it survives as an orphan, still waiting for the flag. The
    run that resumes must stop it before it starts step 2 again; the tests create the flag
    only once the orphan is gone.
    """
    with (setup.cwd / "first-run.out").open("w", encoding="utf-8") as out:
        proc = subprocess.Popen(
            [
                str(setup.exe),
                "run",
                setup.plan,
                "--project",
                setup.workspace,
                "--skills",
                setup.skills,
            ],
            env=setup.env,
            cwd=setup.cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    orphan: int | None = None
    try:
        wait_until(
            lambda: setup.count("start", 2) == 1 or proc.poll() is not None,
            "step 2 to start",
        )
        assert proc.poll() is None, (setup.cwd / "first-run.out").read_text(encoding="utf-8")
        orphan = int(next(r["pid"] for r in setup.runs() if r["step"] == "2"))
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=DEADLINE_S) == -signal.SIGKILL
        assert setup.count("done", 1) == 1
        assert setup.count("start", 3) == 0
        assert is_running(orphan), "the agent of step 2 ended with brahmi"
        yield orphan
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=DEADLINE_S)
        if orphan is not None and is_running(orphan):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(orphan, signal.SIGKILL)


def resume(setup: Setup, orphan: int, *args: str | Path) -> Any:
    """Run ``brahmi ARGS --json``; once it has stopped the orphan, let step 2 finish."""
    with (setup.cwd / "resume.out").open("w", encoding="utf-8") as out:
        proc = subprocess.Popen(
            [str(setup.exe), *map(str, args), "--json"],
            env=setup.env,
            cwd=setup.cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.PIPE,
            encoding="utf-8",
        )
    try:
        wait_until(lambda: not is_running(orphan), "the resumed run to stop the orphaned agent")
        assert setup.count("done", 2) == 0, "the orphaned agent finished its work"
        (setup.workspace / FLAG).touch()
        _, err = proc.communicate(timeout=DEADLINE_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=DEADLINE_S)
    assert proc.returncode == 0, err
    return json.loads((setup.cwd / "resume.out").read_text(encoding="utf-8"))


def test_resume_after_a_kill_finishes_the_plan_without_rerunning_completed_tasks(
    setup: Setup, killed_during_step_2: int
) -> None:
    reply = resume(
        setup,
        killed_during_step_2,
        "run",
        setup.plan,
        "--resume",
        "--project",
        setup.workspace,
        "--skills",
        setup.skills,
    )

    tasks = {t["unique_id"]: t for t in reply["tasks"]}
    assert sorted(tasks) == [1, 2, 3]
    assert all(t["status"] == "completed" for t in tasks.values()), tasks
    assert tasks[1]["attempts"] == 1
    assert tasks[2]["attempts"] == 2
    assert tasks[3]["attempts"] == 1
    assert setup.count("start", 1) == 1
    assert setup.count("start", 2) == 2
    assert setup.count("start", 3) == 1
    assert tasks[2]["outputs"]["pid"] != killed_during_step_2
    assert setup.count("done", 2) == 1  # only the new attempt finished step 2

    history = setup.brahmi_json("tasks", "show", tasks[2]["task_id"])["attempt_history"]
    assert [a["status"] for a in history] == ["expired", "succeeded"]
    assert "stopped" in history[0]["error"]
    assert history[0]["process_id"] == killed_during_step_2

    proc = setup.brahmi(
        "run", setup.plan, "--resume", "--project", setup.workspace, "--skills", setup.skills
    )
    assert proc.returncode == 0, proc.stderr
    assert setup.count("start", 1) == 1
    assert setup.count("start", 3) == 1


def test_resume_without_a_plan_finishes_the_projects_unfinished_tasks(
    setup: Setup, killed_during_step_2: int
) -> None:
    reply = resume(
        setup,
        killed_during_step_2,
        "run",
        "--resume",
        "--project",
        setup.workspace,
        "--skills",
        setup.skills,
    )

    assert [(t["unique_id"], t["status"]) for t in reply["tasks"]] == [
        (2, "completed"),
        (3, "completed"),
    ]
    listed = setup.brahmi_json("tasks", "list")["tasks"]
    assert [(t["unique_id"], t["status"], t["attempts"]) for t in listed] == [
        (1, "completed", 1),
        (2, "completed", 2),
        (3, "completed", 1),
    ]
    assert setup.count("start", 1) == 1
    assert setup.count("done", 3) == 1
