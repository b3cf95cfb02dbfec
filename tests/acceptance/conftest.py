"""The real ``brahmi`` command as a subprocess, with an isolated BRAHMI_HOME per test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

#: Upper bound for one command; the example plans run in a few seconds.
CLI_TIMEOUT_S = 90.0


@dataclass(frozen=True)
class Cli:
    """Runs ``brahmi`` with one environment and working directory."""

    exe: Path
    env: dict[str, str]
    cwd: Path

    def __call__(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        """Run ``brahmi ARGS``; stdout and stderr are pipes, never a TTY."""
        return subprocess.run(
            [str(self.exe), *map(str, args)],
            env=self.env,
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            encoding="utf-8",
            timeout=CLI_TIMEOUT_S,
            check=False,
        )

    def json(self, *args: str | Path, exit_code: int = 0) -> Any:
        """Run ``brahmi ARGS --json``, check the exit code and parse stdout."""
        proc = self(*args, "--json")
        assert proc.returncode == exit_code, _output(proc)
        return json.loads(proc.stdout)


def _output(proc: subprocess.CompletedProcess[str]) -> str:
    return f"exit {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"


@pytest.fixture(scope="session")
def brahmi_exe() -> Path:
    """The ``brahmi`` console script of the interpreter running the tests."""
    exe = Path(sys.executable).with_name("brahmi")
    if not exe.is_file():
        pytest.fail(f"no brahmi console script at {exe}: install the package (pip install -e .)")
    return exe


@pytest.fixture
def cli(brahmi_exe: Path, tmp_path: Path) -> Cli:
    """``brahmi`` with a fresh BRAHMI_HOME in ``tmp_path``, run from ``tmp_path``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRAHMI_")}
    env["BRAHMI_HOME"] = str(tmp_path / "brahmi-home")
    return Cli(brahmi_exe, env, tmp_path)
