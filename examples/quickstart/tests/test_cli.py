"""The textstats command line."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from textstats.cli import main


def test_table_reports_the_counts_of_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    essay = tmp_path / "essay.txt"
    essay.write_text("One two three. Four five!\n", encoding="utf-8")
    assert main([str(essay)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(str(essay))
    assert "words            5" in out
    assert "sentences        2" in out
    assert "reading time     2 s" in out


def test_json_output_has_one_object_per_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text("Hello world.", encoding="utf-8")
    second.write_text("", encoding="utf-8")
    assert main(["--json", "--wpm", "120", str(first), str(second)]) == 0
    reports = json.loads(capsys.readouterr().out)
    assert [(r["file"], r["words"]) for r in reports] == [(str(first), 2), (str(second), 0)]
    assert reports[0]["reading_time_s"] == 1


def test_text_is_read_from_stdin_without_files(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("Read me. Please."))
    assert main([]) == 0
    assert capsys.readouterr().out.startswith("stdin\n  words            3")


def test_a_missing_file_is_an_error_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(tmp_path / "missing.txt")]) == 1
    assert "textstats: cannot read" in capsys.readouterr().err


def test_a_speed_that_is_not_positive_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--wpm", "0"])
    assert exited.value.code == 2
