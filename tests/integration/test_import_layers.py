"""Imports point inward (DESIGN §10): the layer contracts in ``pyproject.toml``
(``[tool.importlinter]``), checked over ``src/brahmi`` by import-linter's own command.

The contracts are also shown to catch what they are for: a copy of the package with one
wrong import added must break them.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "pyproject.toml"
LINT_TIMEOUT_S = 120


def lint_imports(src: Path) -> subprocess.CompletedProcess[str]:
    """Run ``lint-imports`` on the ``brahmi`` package found in ``src``."""
    return subprocess.run(
        [
            str(Path(sys.executable).with_name("lint-imports")),
            "--config",
            str(CONFIG),
            "--no-cache",
            "--no-logo",
        ],
        cwd=src,  # lint-imports puts its working directory first on sys.path
        capture_output=True,
        encoding="utf-8",
        timeout=LINT_TIMEOUT_S,
        check=False,
    )


def test_every_import_in_the_package_points_inward_and_no_package_has_a_cycle() -> None:
    linted = lint_imports(REPO / "src")
    assert linted.returncode == 0, linted.stdout + linted.stderr
    assert "0 broken" in linted.stdout


@pytest.mark.parametrize(
    ("module", "wrong_import", "broken"),
    [
        # A pure rule reaching up into the store.
        ("domain/triggers.py", "import brahmi.store.tasks", "Imports point inward"),
        # The service layer reaching up into the planner (what issue 12 moved out).
        ("service.py", "import brahmi.planner.actor", "Imports point inward"),
        # REST taking what it shows from MCP (what views.py is for).
        ("api/routes.py", "import brahmi.mcp.server", "REST does not import MCP"),
        # A sub-command importing the app that assembles it: a cycle.
        ("cli/common.py", "import brahmi.cli.app", "No import cycles"),
        ("api/access.py", "import brahmi.api.app", "No import cycles"),
    ],
)
def test_a_wrong_import_breaks_the_contracts(
    tmp_path: Path, module: str, wrong_import: str, broken: str
) -> None:
    copy = tmp_path / "src" / "brahmi"
    shutil.copytree(REPO / "src" / "brahmi", copy, ignore=shutil.ignore_patterns("__pycache__"))
    target = copy / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{wrong_import}\n", "utf-8")

    linted = lint_imports(tmp_path / "src")

    assert linted.returncode == 1, linted.stdout + linted.stderr
    broken_lines = [line for line in linted.stdout.splitlines() if " BROKEN" in line]
    assert [line for line in broken_lines if line.startswith(broken)], linted.stdout


def test_commands_on_sqlite_do_not_import_the_postgresql_dialect() -> None:
    """SQLAlchemy's PostgreSQL dialect costs a command about 20 ms to import (issue 16):
    a command on the default SQLite database must not load it."""
    probe = (
        "import sys\n"
        "import brahmi.cli.app, brahmi.service, brahmi.engine.worker\n"
        "print(sorted(m for m in sys.modules if m.startswith('sqlalchemy.dialects.postgresql')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        encoding="utf-8",
        timeout=LINT_TIMEOUT_S,
        check=True,
    )
    assert done.stdout.strip() == "[]"
