"""examples/loop: the correctness loop turning on real pytest feedback, then stalling.

The example's library has a genuine bug its tests catch; its build step (byte-compiling)
cannot fix it. So QA fails, the build is rebuilt with the feedback, QA fails again with the
same issues, and the loop stops as ``rebuild_stalled``: exactly what that stop is for.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.acceptance.conftest import Cli, _output

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "loop"
FAILING_TEST = "tests/test_money.py::test_split_bill_parts_add_up_to_the_total"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the loop example to run the plan in."""
    target = tmp_path / "loop"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    return target


def test_the_loop_turns_on_real_pytest_feedback_and_stops_as_rebuild_stalled(
    cli: Cli, project: Path
) -> None:
    proc = cli("run", project / "plan.json", "--project", project)
    assert proc.returncode == 1, _output(proc)
    assert re.search(r"\[2\] QA: run the billing tests: verdict fail \(turn 1", proc.stdout)
    assert re.search(r"\[1\] Build: byte-compile billing: rebuild 1 with the QA", proc.stdout)
    assert re.search(r"\[2\] QA: run the billing tests: verdict fail \(turn 2", proc.stdout)

    tasks = {t["unique_id"]: t for t in cli.json("tasks", "list")["tasks"]}
    build, qa, report = tasks[1], tasks[2], tasks[3]
    assert (build["status"], build["attempts"], build["rebuilds"]) == ("completed", 2, 1)
    assert (qa["status"], qa["attempts"]) == ("failed", 2)
    assert report["status"] == "blocked"
    # A script tells the stop reasons apart without parsing prose.
    assert (qa["error_code"], report["error_code"]) == ("rebuild_stalled", "blocked")

    shown = cli.json("tasks", "show", qa["task_id"])
    assert shown["error_code"] == "rebuild_stalled"
    verdicts = [h for h in shown["history"] if h["kind"] == "verdict"]
    assert [(v["turn"], v["verdict"]) for v in verdicts] == [(1, "fail"), (2, "fail")]
    for verdict in verdicts:
        issues = verdict["feedback_for_rebuild"]["issues"]
        assert [issue["what"] for issue in issues] == [FAILING_TEST]
        assert issues[0]["location"].startswith("tests/test_money.py:")

    built = cli.json("tasks", "show", build["task_id"])
    rebuilds = [h for h in built["history"] if h["kind"] == "rebuild"]
    assert len(rebuilds) == 1
    assert rebuilds[0]["qa_task_id"] == qa["task_id"]
    assert built["inputs"]["feedback_for_rebuild"]["issues"][0]["what"] == FAILING_TEST

    readable = cli("tasks", "show", qa["task_id"])
    assert readable.returncode == 0, _output(readable)
    assert "QA turn 1: verdict fail" in readable.stdout
    assert "QA turn 2: verdict fail" in readable.stdout


def test_fixing_the_bug_and_retrying_the_qa_task_completes_the_plan(
    cli: Cli, project: Path
) -> None:
    assert cli("run", project / "plan.json", "--project", project).returncode == 1
    money = project / "src" / "billing" / "money.py"
    money.write_text(
        money.read_text(encoding="utf-8").replace(
            "    return [share] * people  # BUG: the remainder (total_cents % people) is lost",
            "    extra = total_cents % people\n"
            "    return [share + 1] * extra + [share] * (people - extra)",
        ),
        encoding="utf-8",
    )
    qa = next(t for t in cli.json("tasks", "list")["tasks"] if t["unique_id"] == 2)
    assert cli("tasks", "retry", qa["task_id"]).returncode == 0

    finished = cli.json("run", "--resume", "--project", project)
    assert {t["unique_id"]: t["status"] for t in finished["tasks"]} == {
        2: "completed",
        3: "completed",
    }
