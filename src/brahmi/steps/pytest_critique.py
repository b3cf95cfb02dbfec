"""Run a project's pytest suite and turn the result into a Brahmi QA verdict: the
``brahmi/builtin/pytest-critique`` step.

Brahmi's ``command`` runtime gives this step its request (one JSON object) on stdin. The
step runs ``task.inputs.test_command`` (default ``python -m pytest``) in the workspace with
``-q -p no:cacheprovider -o junit_family=xunit1 --junitxml=<temp file>``, streams pytest's
output to stderr as it comes, reads the JUnit XML and prints one JSON object on stdout::

    {"outputs": {"verdict", "score", "summary", "tests_total", "tests_passed",
                 "tests_failed", "tests_errored", "tests_skipped", "exit_code",
                 "output_tail", "feedback_for_rebuild"?}}

or ``{"outputs": {...}, "error": "..."}`` when pytest could not run at all. The issues in
``feedback_for_rebuild`` are sorted by test id and carry no timings or memory addresses, so
the same failures give the same feedback on every run (Brahmi compares turns to detect a
stalled correctness loop). The step exits 0 whenever it could write its JSON.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath
from typing import Any

from brahmi.steps import protocol
from brahmi.steps.protocol import InputError, StepResult

STEP = "pytest-critique"
DEFAULT_TEST_COMMAND = ("python", "-m", "pytest")
#: Caps that keep the verdict small however large the suite.
WHAT_WORKS_MAX = 50
ACTUAL_LINES_MAX = 5
ACTUAL_CHARS_MAX = 600
#: pytest exit codes: tests ran (some may have failed), or none were collected.
PYTEST_RAN = frozenset({0, 1, 2, 5})

# A traceback entry's location line, e.g. "tests/test_x.py:12: AssertionError" or
# "src/pkg/mod.py:4: in helper".
_LOCATION_RE = re.compile(r"^(?P<path>[^\s:<>][^\s:]*):(?P<line>\d+):(?: |$)", re.MULTILINE)
_ADDRESS_RE = re.compile(r"\b0x[0-9a-fA-F]{6,}\b")


@dataclass(frozen=True, slots=True)
class CaseResult:
    """One ``<testcase>`` of the JUnit report."""

    test_id: str
    #: "passed", "failed", "errored" or "skipped".
    outcome: str
    message: str = ""
    details: str = ""
    location: str = ""


def critique(request: dict[str, Any]) -> StepResult:
    """Run the suite named by the task and build the verdict.

    Args:
        request: The command runtime's request (``task``, ``workdir``, ``resume``…).

    Returns:
        The verdict's outputs, or an error when pytest could not run.

    Raises:
        InputError: When the task's inputs or the request cannot be used.
    """
    protocol.refuse_questions(request, STEP, "run the suite again")
    inputs = protocol.task_inputs(request)
    command = parse_test_command(inputs.get("test_command"))
    workdir = protocol.request_workdir(request)

    with tempfile.TemporaryDirectory(prefix="brahmi-pytest-critique-") as tmp:
        junit_path = Path(tmp) / "junit.xml"
        argv = [
            *protocol.resolve_python(command),
            "-q",
            "-p",
            "no:cacheprovider",
            # xunit1 is the JUnit flavour that records each test's file and line.
            "-o",
            "junit_family=xunit1",
            f"--junitxml={junit_path}",
        ]
        log(f"$ {shlex.join(argv)}    (in {workdir})")
        # No __pycache__ folders in the workspace under review.
        env = protocol.child_env({"PYTHONDONTWRITEBYTECODE": "1"})
        try:
            done = protocol.run_process(argv, workdir, env)
        except FileNotFoundError:
            raise InputError(f"program not found: {command[0]!r}") from None
        except OSError as exc:
            raise InputError(f"cannot start {command[0]!r}: {exc}") from exc
        exit_code, tail = done.exit_code, done.tail
        log(f"exit code {exit_code}")
        report = junit_path.read_bytes() if junit_path.is_file() else None

    if report is None or exit_code not in PYTEST_RAN:
        return StepResult(
            {"exit_code": exit_code, "output_tail": tail}, _could_not_run(argv, exit_code, tail)
        )
    try:
        results = parse_junit(report)
    except ET.ParseError as exc:
        return StepResult(
            {"exit_code": exit_code, "output_tail": tail},
            f"pytest wrote a JUnit report that is not valid XML: {exc}",
        )
    return StepResult(verdict(results, exit_code, tail))


def parse_test_command(value: object) -> list[str]:
    """Check ``inputs.test_command``: a list of strings or a string split like a shell.

    Raises:
        InputError: When it has another shape or is empty.
    """
    if value is None:
        return list(DEFAULT_TEST_COMMAND)
    if isinstance(value, str):
        try:
            value = shlex.split(value)
        except ValueError as exc:
            raise InputError(f"inputs.test_command cannot be split: {exc}") from exc
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(item, str) and item for item in value)
    ):
        raise InputError(
            "inputs.test_command must be a non-empty list of strings or a string, "
            f'e.g. ["python", "-m", "pytest", "tests"], not {json.dumps(value)}'
        )
    return list(value)


def parse_junit(report: bytes) -> list[CaseResult]:
    """Read every ``<testcase>`` of a pytest JUnit report, sorted by test id.

    Raises:
        ET.ParseError: When the report is not XML.
    """
    root = ET.fromstring(report)  # noqa: S314 - a report pytest just wrote for us
    results = [_test_result(case) for case in root.iter("testcase")]
    return sorted(results, key=lambda result: result.test_id)


def _test_result(case: ET.Element) -> CaseResult:
    test_id = _test_id(case)
    for outcome, tag in (("failed", "failure"), ("errored", "error")):
        element = case.find(tag)
        if element is not None:
            details = element.text or ""
            return CaseResult(
                test_id=test_id,
                outcome=outcome,
                message=element.get("message", ""),
                details=details,
                location=_crash_location(details) or _declared_location(case),
            )
    if case.find("skipped") is not None:
        return CaseResult(test_id=test_id, outcome="skipped")
    return CaseResult(test_id=test_id, outcome="passed")


def _test_id(case: ET.Element) -> str:
    """Rebuild pytest's node id (``tests/test_x.py::TestK::test_y[p]``) from a testcase.

    pytest writes ``classname`` as the node id's path with ``/`` turned into ``.`` and
    ``.py`` dropped, followed by any class names; ``name`` is the function (with its
    parameters). A collection error has an empty classname and names the module.
    """
    file = case.get("file", "")
    classname = case.get("classname", "")
    name = case.get("name", "")
    if not file:
        return f"{classname}::{name}" if classname else name
    if not classname:
        return file
    module = file.removesuffix(".py").replace("/", ".").replace("\\", ".")
    classes = classname.removeprefix(module).lstrip(".") if classname.startswith(module) else ""
    return "::".join([file, *filter(None, classes.split(".")), name])


def _crash_location(details: str) -> str:
    """The deepest ``file:line`` of the traceback that lies in the workspace.

    Frames in the standard library or site-packages are printed with absolute paths; the
    workspace's own files are relative, and the last of those is where a fix belongs.
    """
    found = ""
    for match in _LOCATION_RE.finditer(details):
        path = match["path"]
        if PurePosixPath(path).is_absolute() or PureWindowsPath(path).is_absolute():
            continue
        found = f"{PurePath(path).as_posix()}:{match['line']}"
    return found


def _declared_location(case: ET.Element) -> str:
    file = case.get("file", "")
    line = case.get("line")
    # JUnit's line is pytest's 0-based line of the test's definition.
    return f"{file}:{int(line) + 1}" if file and line and line.isdigit() else file


def _actual(result: CaseResult) -> str:
    """What went wrong, in a few lines: the failure message or the traceback's E-lines."""
    text = result.message
    if not text or text == "collection failure":
        error_lines = [
            line[1:].strip() for line in result.details.splitlines() if line.startswith("E ")
        ]
        text = "\n".join(error_lines) or result.details.strip()
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    short = "\n".join(lines[:ACTUAL_LINES_MAX])[:ACTUAL_CHARS_MAX]
    return _ADDRESS_RE.sub("0x…", short) or f"the test {result.outcome}"


def verdict(results: list[CaseResult], exit_code: int, tail: str) -> dict[str, Any]:
    """Build the QA outputs (DESIGN §5) from the parsed report.

    The suite passes when no test failed or errored and at least one passed; skipped
    tests are counted but decide nothing.
    """
    by_outcome: dict[str, list[CaseResult]] = {
        "passed": [],
        "failed": [],
        "errored": [],
        "skipped": [],
    }
    for result in results:
        by_outcome[result.outcome].append(result)
    passed, failed = by_outcome["passed"], by_outcome["failed"]
    errored, skipped = by_outcome["errored"], by_outcome["skipped"]
    broken = sorted(failed + errored, key=lambda result: result.test_id)
    decided = len(passed) + len(broken)
    counts = {
        "tests_total": len(results),
        "tests_passed": len(passed),
        "tests_failed": len(failed),
        "tests_errored": len(errored),
        "tests_skipped": len(skipped),
    }
    score = round(100 * len(passed) / decided) if decided else 0
    counted = (
        f"{len(passed)} passed, {len(failed)} failed, {len(errored)} errored, "
        f"{len(skipped)} skipped of {len(results)} tests"
    )

    issues = [_issue(result) for result in broken]
    if not passed and not broken:
        summary = f"No test ran ({counted}); the suite proves nothing."
        issues = [
            {
                "what": "test suite",
                "expected": "at least one test is collected and runs",
                "actual": "pytest collected no tests"
                if not results
                else "every collected test was skipped",
                "location": ".",
                "suggestion": "Add tests (test_*.py files with test_* functions) where pytest "
                "looks for them, or point inputs.test_command at the suite.",
                "severity": "high",
            }
        ]
    elif broken:
        shown = ", ".join(result.test_id for result in broken[:5])
        more = f" and {len(broken) - 5} more" if len(broken) > 5 else ""
        summary = f"{len(broken)} of {decided} tests did not pass ({counted}): {shown}{more}."
    elif exit_code not in (0, 5):
        summary = f"Every test passed but pytest exited with code {exit_code} ({counted})."
        issues = [
            {
                "what": "pytest run",
                "expected": "pytest exits with code 0",
                "actual": f"pytest exited with code {exit_code} although every test passed",
                "location": ".",
                "suggestion": "Read the end of pytest's output (output_tail): a plugin or a "
                "session-level check failed the run.",
                "severity": "high",
            }
        ]
    else:
        summary = f"All {len(passed)} tests passed ({counted})."

    outputs: dict[str, Any] = {
        "verdict": "fail" if issues else "pass",
        "score": score,
        "summary": summary,
        **counts,
        "exit_code": exit_code,
        "output_tail": tail,
    }
    if issues:
        failing = [result.test_id for result in broken]
        outputs["feedback_for_rebuild"] = {
            "summary": summary,
            "issues": issues,
            "tests_written": [],
            "tests_failing": failing,
            "files_reviewed": [],
            "what_works": [result.test_id for result in passed[:WHAT_WORKS_MAX]],
            "what_doesnt_work": failing,
        }
    return outputs


def _issue(result: CaseResult) -> dict[str, str]:
    expected = "the test passes"
    if result.outcome == "failed":
        suggestion = (
            f"Make {result.test_id} pass: fix the code under test, or the test if its "
            f"expectation is wrong. `python -m pytest {result.test_id}` shows the traceback."
        )
    elif "::" in result.test_id:
        suggestion = (
            f"{result.test_id} errored outside its body (in a fixture, setup or teardown): "
            f"fix what that code needs. `python -m pytest {result.test_id}` shows the traceback."
        )
    else:
        expected = "the module imports and pytest collects its tests"
        suggestion = (
            f"pytest could not import {result.test_id}: fix the import or syntax error so "
            f"its tests can be collected. `python -m pytest {result.test_id}` shows the traceback."
        )
    return {
        "what": result.test_id,
        "expected": expected,
        "actual": _actual(result),
        "location": result.location,
        "suggestion": suggestion,
        "severity": "high",
    }


def _could_not_run(argv: list[str], exit_code: int, tail: str) -> str:
    if "No module named pytest" in tail:
        reason = f"pytest is not installed for {argv[0]}"
    elif exit_code == 4:
        reason = "pytest rejected its command line or configuration (exit code 4)"
    elif exit_code == 3:
        reason = "pytest hit an internal error (exit code 3)"
    else:
        reason = f"{argv[0]} exited with code {exit_code} without writing a JUnit report"
    last = "\n".join(tail.strip().splitlines()[-15:])
    return f"the tests could not run: {reason}. Last output:\n{last}"


def log(message: str) -> None:
    """Write one line for people to the transcript (stderr)."""
    protocol.log(STEP, message)


if __name__ == "__main__":
    sys.exit(protocol.main(STEP, critique))
