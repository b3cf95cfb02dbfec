"""The protocol every built-in step shares (``brahmi.steps.protocol``): real child
processes, and a step module run as the command runtime runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from brahmi.steps import protocol

STEP_TIMEOUT_S = 60


def test_run_process_keeps_the_tail_of_combined_output_and_the_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = "import sys\nfor i in range(80): print(i)\nprint('last', file=sys.stderr)\nsys.exit(3)"

    done = protocol.run_process(
        protocol.resolve_python(["python", "-c", script]), tmp_path, protocol.child_env()
    )

    assert done.exit_code == 3
    assert not done.timed_out
    assert done.tail.splitlines()[-1] == "last"
    assert len(done.tail.splitlines()) == protocol.TAIL_LINES
    assert "0\n1\n" in capsys.readouterr().err  # echoed to the transcript as it came


def test_run_process_stops_a_child_at_its_timeout(tmp_path: Path) -> None:
    argv = protocol.resolve_python(["python", "-c", "import time; time.sleep(600)"])

    done = protocol.run_process(argv, tmp_path, protocol.child_env(), timeout_s=0.5)

    assert done.timed_out
    assert done.exit_code < 0


def test_run_process_raises_when_the_program_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        protocol.run_process(["no-such-program-brahmi"], tmp_path, protocol.child_env())


def test_child_env_adds_unbuffered_output_and_the_extra_names_win() -> None:
    env = protocol.child_env({"PYTHONUNBUFFERED": "0", "BRAHMI_STEP_X": "y"})
    assert (env["PYTHONUNBUFFERED"], env["BRAHMI_STEP_X"]) == ("0", "y")
    assert protocol.child_env()["PYTHONUNBUFFERED"] == "1"


@pytest.mark.parametrize(
    ("request_json", "error"),
    [
        ("not json", "stdin is not valid JSON"),
        ("[1, 2]", "stdin must hold one JSON object"),
        ('{"task": {"inputs": [1]}}', "task.inputs must be a JSON object"),
        (
            '{"task": {"inputs": {"command": ["true"]}}, "workdir": "/no/such/folder"}',
            "is not a directory",
        ),
        ('{"resume": {"mode": "qa", "message": "why?"}}', "no agent session"),
    ],
)
def test_a_step_answers_bad_requests_with_one_error_object_and_exit_0(
    tmp_path: Path, request_json: str, error: str
) -> None:
    proc = subprocess.run(
        [sys.executable, "-P", "-m", "brahmi.steps.run_command"],
        input=request_json,
        capture_output=True,
        encoding="utf-8",
        cwd=tmp_path,
        timeout=STEP_TIMEOUT_S,
        check=False,
    )

    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["outputs"] == {}
    assert error in result["error"]


def test_emit_writes_outputs_and_only_a_given_error(capsys: pytest.CaptureFixture[str]) -> None:
    protocol.emit({"a": 1})
    protocol.emit({}, "broke")
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line) for line in lines] == [
        {"outputs": {"a": 1}},
        {"outputs": {}, "error": "broke"},
    ]
