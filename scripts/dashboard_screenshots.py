"""Screenshots of the dashboard for the README: a real ``brahmi serve`` runs a small plan
(a QA loop that fails once, sub-tasks, a failure, a task still running) and Debian's
Chromium photographs each page.

    python scripts/dashboard_screenshots.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.acceptance.dashboard_support import (  # noqa: E402
    PYTEST_CRITIQUE,
    chromium,
    command,
    make_workspace,
)
from tests.acceptance.test_serve import start_server  # noqa: E402

#: Prints a line of progress every 0.4 s until the file ``go`` exists (bounded).
SERVE_PY = """\
import pathlib, sys, time
steps = ["starting the service on :8080", "waiting for the health check", "GET /health 200",
         "GET /products 200 (12 items)", "POST /checkout 201", "p95 latency 41 ms"]
for i in range(600):
    if pathlib.Path("go").exists():
        break
    print(f"[smoke] {steps[i % len(steps)]}", file=sys.stderr, flush=True)
    time.sleep(0.4)
"""


def plan() -> list[dict[str, Any]]:
    return [
        command(1, "Build: write the value", ["python", "tools/build.py"]),
        {
            "unique_id": 2,
            "skill_id": PYTEST_CRITIQUE,
            "task_name": "QA: run the unit tests",
            "task_order": 2,
            "logical_dependencies": [1],
            "inputs": {
                "critiques_tasks": [1],
                "original_prompt": "The value file says fixed.",
                "user_expectations": ["value.txt says fixed"],
            },
            "validation_criteria": {
                "critical": ["Every test passes"],
                "expected": ["No test is skipped"],
                "nice_to_have": [],
            },
            "timeout_seconds": 120,
        },
        command(3, "Package: build the wheel", ["python", "-c", "print('built')"], 2),
        command(4, "Smoke test: start the service", ["python", "tools/serve.py"], 3),
        command(
            5,
            "Docs: write the changelog",
            ["python", "-c", "import sys; sys.exit('CHANGELOG.md.tpl is missing')"],
            2,
        ),
        command(6, "Publish the release", ["python", "-c", "print('published')"], 4, 5),
        command(7, "Migrate the database", ["python", "-c", "print('migrated')"], 2),
    ]


def wait_for(url: str, task_id: str, statuses: set[str], timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if httpx.get(f"{url}/api/v1/tasks/{task_id}", timeout=10).json()["status"] in statuses:
            return
        time.sleep(0.1)
    raise TimeoutError(f"task {task_id} did not reach {statuses}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    brahmi_exe = Path(sys.executable).with_name("brahmi")
    with tempfile.TemporaryDirectory(prefix="brahmi-shots-") as temp:
        root = Path(temp)
        server = start_server(brahmi_exe, root / "home", root, "--workers", "4")
        try:
            shoot(server.url, root, args.out)
        finally:
            server.stop()


def shoot(url: str, root: Path, out: Path) -> None:
    shop = make_workspace(root / "shop")
    (shop / "tools" / "serve.py").write_text(SERVE_PY, encoding="utf-8")
    project = httpx.post(f"{url}/api/v1/projects", json={"workspace": str(shop)}, timeout=10)
    project_id = project.json()["project_id"]
    batch = httpx.post(
        f"{url}/api/v1/projects/{project_id}/tasks/batch", json={"tasks": plan()}, timeout=30
    ).json()
    ids = batch["task_ids"]
    for n, name in enumerate(["Create the tables", "Copy the rows", "Check the counts"], 1):
        httpx.post(
            f"{url}/api/v1/tasks/{ids['7']}/subtasks",
            json={
                "task": {
                    "task_name": name,
                    "skill_id": "brahmi/builtin/run-command",
                    "inputs": {"command": ["python", "-c", f"print({n})"]},
                }
            },
            timeout=10,
        ).raise_for_status()
    docs = make_workspace(root / "docs-site")
    other = httpx.post(f"{url}/api/v1/projects", json={"workspace": str(docs)}, timeout=10)
    httpx.post(
        f"{url}/api/v1/projects/{other.json()['project_id']}/tasks/batch",
        json={"tasks": [command(1, "Build the site", ["python", "-c", "print('ok')"])]},
        timeout=10,
    ).raise_for_status()
    httpx.post(
        f"{url}/api/v1/projects/{project_id}/messages",
        json={"text": "How is the release going?", "planner": "template"},
        timeout=10,
    ).raise_for_status()
    wait_for(url, ids["4"], {"running"})
    wait_for(url, ids["5"], {"failed"})
    wait_for(url, ids["7"], {"completed"})
    time.sleep(2.5)  # a few transcript lines of the running smoke test

    with chromium() as browser:
        for name, path, width, full, ready in [
            ("projects", "/", 1280, False, ".card .chip"),
            ("project-graph", f"/projects/{project_id}", 1280, False, "#main[data-rendered]"),
            ("project-list-phone", f"/projects/{project_id}", 390, False, "#task-rows tr"),
            ("task-qa-loop", f"/tasks/{ids['2']}", 1280, True, "#history"),
            ("task-running", f"/tasks/{ids['4']}", 1280, False, "#transcript:has-text('[smoke]')"),
            ("planner", f"/projects/{project_id}/planner", 1280, False, ".role-planner"),
            ("skills", "/skills?q=test", 1280, False, "#results button.result"),
        ]:
            page = browser.new_page(
                viewport={"width": width, "height": 860 if width > 500 else 800}
            )
            page.goto(f"{url}{path}")
            page.wait_for_selector(ready)
            if name == "skills":
                page.click("#results button.result >> nth=0")
                page.wait_for_selector("#skill pre.body")
            page.wait_for_timeout(600)
            target = out / f"{name}.png"
            page.screenshot(path=str(target), full_page=full)
            print(f"{target} {target.stat().st_size // 1024} KB")  # noqa: T201
            page.close()
    (shop / "go").touch()


if __name__ == "__main__":
    main()
