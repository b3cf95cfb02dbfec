"""Agent process abuse on the ``command`` runtime (issue 17; DESIGN §3, §6).

Each test runs one task through the real ``brahmi run`` whose agent misbehaves: it ignores
SIGTERM, leaves children behind, floods stdout or stderr, never prints JSON, or prints a
large JSON document. The run must end within its limits with a clear error and a stable
code, every process of the agent's group must be gone afterwards, and the peak resident
memory of the ``brahmi`` process (``VmHWM`` in ``/proc``) must stay bounded.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.faults

#: Bound for a whole ``brahmi run`` of one abusive task, in seconds.
RUN_DEADLINE_S = 90.0
#: The most the ``brahmi`` process may hold resident, whatever its agent does (bytes).
RSS_BOUND = 200 * 1024 * 1024
OWNER = "acme/abuse"

# Every script records the pids of its process group in pids.json in the workspace first.
PIDS = """\
import json, os, subprocess, sys
request = json.load(sys.stdin)
workdir = request["workdir"]
def record(**pids):
    path = os.path.join(workdir, "pids.json")
    with open(path + ".tmp", "w") as f:
        json.dump(pids, f)
    os.replace(path + ".tmp", path)
"""
IGNORES_SIGTERM = (
    PIDS
    + """\
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"])
record(leader=os.getpid(), child=child.pid)
time.sleep(120)
"""
)
# The grandchild is detached from the pipes, so nothing waits for it: only killing the
# group ends it.
LEAVES_CHILDREN = (
    PIDS
    + """\
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"],
    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
record(leader=os.getpid(), child=child.pid)
print(json.dumps({"outputs": {"child": child.pid}}))
"""
)
# The child keeps the leader's stdout open after the leader exits.
CHILD_HOLDS_STDOUT = (
    PIDS
    + """\
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
record(leader=os.getpid(), child=child.pid)
print(json.dumps({"outputs": {"child": child.pid}}))
"""
)
FLOODS_STDOUT = (
    PIDS
    + """\
record(leader=os.getpid())
block = b"x" * (1 << 20)
for _ in range(1024):  # 1 GiB
    sys.stdout.buffer.write(block)
"""
)
FLOODS_STDERR = (
    PIDS
    + """\
record(leader=os.getpid())
block = b"y" * (1 << 20)
for _ in range(1024):  # 1 GiB, not one newline
    sys.stderr.buffer.write(block)
print(json.dumps({"outputs": {}}))
"""
)
NEVER_JSON = (
    PIDS
    + """\
record(leader=os.getpid())
for i in range(1000):
    print(f"working on step {i}... all good")
"""
)
BIG_JSON = (
    PIDS
    + """\
record(leader=os.getpid())
print(json.dumps({"outputs": {"blob": "z" * (10 * 1024 * 1024)}}))
"""
)


@dataclass
class Outcome:
    """What one abusive run left behind."""

    task: dict[str, Any]
    pids: dict[str, int]
    peak_rss: int
    exit_code: int
    transcript_bytes: int


def peak_rss(pid: int) -> int:
    """``VmHWM`` (peak resident set) of ``pid`` in bytes, 0 once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def gone(pid: int) -> bool:
    """True when ``pid`` no longer runs (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def run_abuse(brahmi_exe: Path, root: Path, script: str, timeout_s: int = 30) -> Outcome:
    """Run one task of a command skill running ``script`` through ``brahmi run``."""
    skill = root / "skills" / "abuser"
    (skill / "scripts").mkdir(parents=True)
    (skill / "SKILL.md").write_text(
        "---\nname: abuser\ndescription: An agent that misbehaves.\nmetadata:\n"
        "  brahmi-runtime: command\n"
        '  brahmi-command: "{python} {skill_dir}/scripts/run.py"\n---\n\n# abuser\n',
        encoding="utf-8",
    )
    (skill / "scripts" / "run.py").write_text(textwrap.dedent(script), encoding="utf-8")
    workspace = root / "workspace"
    workspace.mkdir()
    plan = root / "plan.json"
    spec = {
        "unique_id": 1,
        "task_name": "Misbehave",
        "description": "an abusive agent",
        "skill_id": f"{OWNER}/abuser",
        "task_order": 1,
        "timeout_seconds": timeout_s,
    }
    plan.write_text(json.dumps({"tasks": [spec]}), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRAHMI_")}
    env["BRAHMI_HOME"] = str(root / "home")
    out = root / "run.out"
    with out.open("wb") as sink, (root / "run.err").open("wb") as errors:
        proc = subprocess.Popen(
            [
                str(brahmi_exe),
                "run",
                str(plan),
                "--project",
                str(workspace),
                "--json",
                "--skills",
                f"{root / 'skills'}={OWNER}",
            ],
            env=env,
            cwd=root,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=errors,
        )
    peak = 0
    deadline = time.monotonic() + RUN_DEADLINE_S
    try:
        while proc.poll() is None:
            if time.monotonic() > deadline:
                pytest.fail(f"brahmi run did not end within {RUN_DEADLINE_S} s")
            peak = max(peak, peak_rss(proc.pid))
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert json.loads(out.read_text(encoding="utf-8"))["tasks"], "brahmi run printed no task"
    db = sqlite3.connect(root / "home" / "brahmi.db")
    try:
        row = db.execute("SELECT status, error, error_code, outputs FROM tasks").fetchone()
    finally:
        db.close()
    task = dict(zip(("status", "error", "error_code", "outputs"), row, strict=True))
    task["outputs"] = json.loads(task["outputs"]) if task["outputs"] else None
    pids_file = workspace / "pids.json"
    pids = json.loads(pids_file.read_text(encoding="utf-8")) if pids_file.exists() else {}
    transcripts = list((root / "home").rglob("attempt-*.log"))
    return Outcome(
        task=task,
        pids=pids,
        peak_rss=peak,
        exit_code=proc.returncode,
        transcript_bytes=sum(p.stat().st_size for p in transcripts),
    )


def assert_group_gone(outcome: Outcome) -> None:
    """Every process the agent recorded has ended (polled: reaping takes a moment)."""
    assert outcome.pids, "the agent never recorded its pids"
    deadline = time.monotonic() + 10
    while not all(gone(pid) for pid in outcome.pids.values()):
        assert time.monotonic() < deadline, f"still running: {outcome.pids}"
        time.sleep(0.05)


@pytest.fixture
def abuse(brahmi_exe: Path, tmp_path: Path) -> Any:
    def run(script: str, timeout_s: int = 30) -> Outcome:
        outcome = run_abuse(brahmi_exe, tmp_path, script, timeout_s)
        try:
            assert_group_gone(outcome)
        finally:
            for pid in outcome.pids.values():
                if not gone(pid):
                    os.kill(pid, 9)
        assert outcome.peak_rss < RSS_BOUND, f"peak RSS {outcome.peak_rss / 2**20:.0f} MiB"
        return outcome

    return run


@pytest.mark.timeout(120)
def test_an_agent_that_ignores_sigterm_is_killed_at_its_timeout_with_its_children(
    abuse: Any,
) -> None:
    outcome = abuse(IGNORES_SIGTERM, timeout_s=2)

    assert outcome.exit_code == 1
    assert outcome.task["status"] == "failed"
    assert outcome.task["error_code"] == "timeout"
    assert outcome.task["error"] == "timeout after 2 s"


@pytest.mark.timeout(120)
def test_children_that_outlive_a_successful_agent_are_ended_with_its_group(abuse: Any) -> None:
    outcome = abuse(LEAVES_CHILDREN)

    assert outcome.task["status"] == "completed", outcome.task
    assert outcome.task["outputs"] == {"child": outcome.pids["child"]}


@pytest.mark.timeout(120)
def test_a_child_holding_stdout_open_does_not_keep_the_run_waiting(abuse: Any) -> None:
    outcome = abuse(CHILD_HOLDS_STDOUT, timeout_s=60)

    assert outcome.task["status"] == "completed", outcome.task
    assert outcome.task["outputs"] == {"child": outcome.pids["child"]}


@pytest.mark.timeout(120)
def test_a_gigabyte_on_stdout_stops_the_agent_at_the_cap_with_a_clear_error(abuse: Any) -> None:
    outcome = abuse(FLOODS_STDOUT, timeout_s=60)

    assert outcome.task["status"] == "failed"
    assert outcome.task["error_code"] == "agent_output_too_large"
    assert "16 MiB" in outcome.task["error"]


@pytest.mark.timeout(120)
def test_a_gigabyte_on_stderr_without_newlines_is_drained_and_the_transcript_cut(
    abuse: Any,
) -> None:
    outcome = abuse(FLOODS_STDERR, timeout_s=60)

    assert outcome.task["status"] == "completed", outcome.task
    assert 16 * 1024 * 1024 <= outcome.transcript_bytes < 17 * 1024 * 1024


@pytest.mark.timeout(120)
def test_an_agent_that_never_prints_json_fails_with_agent_output_invalid(abuse: Any) -> None:
    outcome = abuse(NEVER_JSON)

    assert outcome.task["status"] == "failed"
    assert outcome.task["error_code"] == "agent_output_invalid"
    assert "not one JSON object" in outcome.task["error"]


@pytest.mark.timeout(120)
def test_ten_megabytes_of_json_within_the_cap_is_accepted(abuse: Any) -> None:
    outcome = abuse(BIG_JSON)

    assert outcome.task["status"] == "completed", outcome.task.get("error")
    assert len(outcome.task["outputs"]["blob"]) == 10 * 1024 * 1024
