"""What the dashboard's browser tests and benchmark share: Debian's Chromium driven by
Playwright (never a downloaded browser), a workspace with small deterministic scripts, and
plans built from them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

#: Debian's Chromium (``apt-get install chromium``); Playwright never downloads one.
CHROMIUM = Path(os.environ.get("BRAHMI_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
RUN_COMMAND = "brahmi/builtin/run-command"
PYTEST_CRITIQUE = "brahmi/builtin/pytest-critique"
XSS_NAME = "<script>alert(1)</script>"

#: A build step that writes a wrong value on its first run and the right one after.
BUILD_PY = """\
import pathlib, sys
runs = pathlib.Path(".runs")
n = int(runs.read_text()) + 1 if runs.exists() else 1
runs.write_text(str(n))
print(f"build run {n}", file=sys.stderr, flush=True)
pathlib.Path("value.txt").write_text("fixed" if n >= 2 else "broken")
"""
TEST_VALUE_PY = """\
import pathlib


def test_value_is_fixed():
    assert pathlib.Path("value.txt").read_text() == "fixed"
"""
#: Says it started, then waits (bounded) until the file named by argv[1] exists.
WAIT_PY = """\
import pathlib, sys, time
print(f"working on {sys.argv[1]}", file=sys.stderr, flush=True)
deadline = time.monotonic() + 120
while not pathlib.Path(sys.argv[1]).exists():
    if time.monotonic() > deadline:
        sys.exit("gave up waiting")
    time.sleep(0.05)
print("released", file=sys.stderr, flush=True)
"""


def make_workspace(root: Path) -> Path:
    """A workspace folder with ``tools/build.py``, ``tools/wait.py`` and one test."""
    (root / "tools").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "tools" / "build.py").write_text(BUILD_PY, encoding="utf-8")
    (root / "tools" / "wait.py").write_text(WAIT_PY, encoding="utf-8")
    (root / "tests" / "test_value.py").write_text(TEST_VALUE_PY, encoding="utf-8")
    return root


def command(uid: int, name: str, argv: list[str], *deps: int) -> dict[str, Any]:
    """A run-command task."""
    return {
        "unique_id": uid,
        "skill_id": RUN_COMMAND,
        "task_name": name,
        "task_order": uid,
        "logical_dependencies": list(deps),
        "inputs": {"command": argv},
        "timeout_seconds": 120,
    }


def loop_plan() -> list[dict[str, Any]]:
    """Build → QA (fails once, passes after the rebuild) → a task named like a script
    that waits for the file ``go`` → a report."""
    return [
        command(1, "Build: write the value", ["python", "tools/build.py"]),
        {
            "unique_id": 2,
            "skill_id": PYTEST_CRITIQUE,
            "task_name": "QA: test the value",
            "task_order": 2,
            "logical_dependencies": [1],
            "inputs": {
                "critiques_tasks": [1],
                "original_prompt": "The value file says fixed.",
                "user_expectations": ["value.txt says fixed"],
            },
            "validation_criteria": {"critical": ["tests pass"], "expected": [], "nice_to_have": []},
            "timeout_seconds": 120,
        },
        command(3, XSS_NAME, ["python", "tools/wait.py", "go"], 2),
        command(4, "Report: done", ["python", "-c", "print('done')"], 3),
    ]


def wide_plan(size: int) -> list[dict[str, Any]]:
    """``size`` tasks in layers of 20, each depending on two tasks of the layer above."""
    tasks = []
    for uid in range(1, size + 1):
        deps = [d for d in (uid - 20, uid - 19) if d >= 1 and (d - 1) // 20 == (uid - 21) // 20]
        tasks.append(command(uid, f"Step {uid}: part {(uid - 1) % 20 + 1}", ["true"], *deps))
    return tasks


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium (Playwright's ``Browser``) started from :data:`CHROMIUM`."""
    from playwright.sync_api import sync_playwright

    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
