"""The dashboard in a real browser: how soon a change shows, and how fast a big graph loads.

A real ``brahmi serve --no-workers --no-planner`` runs on a free loopback port with a fresh
BRAHMI_HOME; Debian's Chromium (headless, through Playwright) opens its pages.

- **event → visible**: a project of ``--events`` independent tasks is open on its graph.
  One at a time, after a random pause of 0–250 ms, each task is cancelled over REST; the
  page's own MutationObserver stamps (``Date.now()``, in the animation frame after the
  node changed) when that task's node turns ``cancelled``. Latency = that stamp − the
  event's ``created_at`` (the server's clock when the transition's transaction ran, just
  before its commit; one machine, one clock). The server polls the event log every
  ``EVENT_POLL_S`` (0.2 s): about 100 ms of the median is that wait.
- **first render** of a ``--tasks``-task project (layers of 20, each task on two of the
  layer above): milliseconds from navigation to the data read, the task list drawn, the
  layout computed (in a Web Worker) and every node of the graph drawn; and the longest
  stall of the page's main thread meanwhile (a 50 ms timer's worst lateness), which says
  whether the page stayed responsive. Median of ``--repeat`` loads.

    python -m benchmarks.dashboard [--events 200] [--tasks 2000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from tests.acceptance.dashboard_support import chromium, command, wide_plan
from tests.acceptance.test_serve import Server, start_server

from brahmi.config import Settings
from brahmi.service import Brahmi

#: The target: median event → visible latency, milliseconds.
TARGET_P50_MS = 200.0

_OBSERVE = """() => {
  window.seenAt = {};
  const graph = document.querySelector("#graph");
  new MutationObserver((records) => {
    for (const r of records) {
      const node = r.target;
      const id = node.dataset && node.dataset.taskId;
      if (id && !(id in window.seenAt) && node.classList.contains("s-cancelled")) {
        window.seenAt[id] = null;
        requestAnimationFrame(() => { window.seenAt[id] = Date.now(); });
      }
    }
  }).observe(graph, { attributes: true, attributeFilter: ["class"], subtree: true });
}"""
_LAG = """
window.worstLagMs = 0;
(() => {
  let last = performance.now();
  setInterval(() => {
    const now = performance.now();
    window.worstLagMs = Math.max(window.worstLagMs, now - last - 50);
    last = now;
  }, 50);
})();
"""


def percentile(values: list[float], q: float) -> float:
    """The ``q``-quantile (0–1) by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def new_project(server: Server, folder: Path, tasks: list[dict[str, Any]]) -> dict[str, Any]:
    folder.mkdir(parents=True)
    project = httpx.post(f"{server.url}/api/v1/projects", json={"workspace": str(folder)})
    project_id = project.json()["project_id"]
    batch = httpx.post(
        f"{server.url}/api/v1/projects/{project_id}/tasks/batch",
        json={"tasks": tasks},
        timeout=120,
    )
    batch.raise_for_status()
    return {"project_id": project_id, "task_ids": batch.json()["task_ids"]}


def event_latency(server: Server, home: Path, root: Path, browser: Any, events: int) -> list[float]:
    """Milliseconds from each status change's event to its node showing it."""
    made = new_project(
        server, root / "latency", [command(i, f"Task {i}", ["true"]) for i in range(1, events + 1)]
    )
    project_id, ids = made["project_id"], made["task_ids"]
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{server.url}/projects/{project_id}")
    page.wait_for_selector("#main[data-rendered=graph]", timeout=120_000)
    page.wait_for_selector("#live:has-text('live')")
    page.evaluate(_OBSERVE)
    http = httpx.Client(base_url=server.url, timeout=30)
    for uid in range(1, events + 1):
        task_id = ids[str(uid)]
        # A random pause, so changes do not fall in step with the stream's polling.
        time.sleep(random.uniform(0, 0.25))
        http.post(f"/api/v1/tasks/{task_id}/cancel").raise_for_status()
        page.wait_for_function(
            "(id) => typeof window.seenAt[id] === 'number'", arg=task_id, timeout=30_000
        )
    seen: dict[str, float] = page.evaluate("window.seenAt")
    page.close()
    http.close()
    brahmi = Brahmi(Settings(home=home))
    try:
        committed = {
            e.task_id: e.created_at
            for e in brahmi.store.events(project_id=project_id, limit=100_000)
            if e.kind == "status_changed" and e.data.get("to") == "cancelled"
        }
    finally:
        brahmi.close()
    return [seen[task_id] - committed[task_id] * 1000 for task_id in ids.values()]


def first_render(
    server: Server, root: Path, browser: Any, size: int, repeat: int
) -> dict[str, list[float]]:
    """Per load: ms to data, list, layout, graph; and the worst main-thread stall."""
    project_id = new_project(server, root / "large", wide_plan(size))["project_id"]
    figures: dict[str, list[float]] = {
        "data read": [],
        "list drawn": [],
        "layout (worker)": [],
        "graph drawn": [],
        "worst stall": [],
    }
    for _ in range(repeat):
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.add_init_script(_LAG)
        page.goto(f"{server.url}/projects/{project_id}")
        page.wait_for_selector("#main[data-rendered=graph]", timeout=300_000)
        timing = page.evaluate("window.brahmiTiming")
        figures["data read"].append(timing["dataAt"])
        figures["list drawn"].append(timing["listDrawnAt"])
        figures["layout (worker)"].append(timing["layoutMs"])
        figures["graph drawn"].append(timing["graphDrawnAt"])
        figures["worst stall"].append(page.evaluate("window.worstLagMs"))
        assert page.locator("g.node").count() == size
        page.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    brahmi_exe = Path(sys.executable).with_name("brahmi")
    with tempfile.TemporaryDirectory(prefix="brahmi-dashboard-") as temp:
        root = Path(temp)
        home = root / "home"
        server = start_server(brahmi_exe, home, root, "--no-workers", "--no-planner")
        try:
            with chromium() as browser:
                started = time.perf_counter()
                latencies = event_latency(server, home, root, browser, args.events)
                took = time.perf_counter() - started
                render = first_render(server, root, browser, args.tasks, args.repeat)
        finally:
            server.stop()
    p50 = statistics.median(latencies)
    print(f"event → visible, {len(latencies)} events one at a time ({took:.1f} s in all):")
    print(
        f"  p50 {p50:.0f} ms   p99 {percentile(latencies, 0.99):.0f} ms   "
        f"min {min(latencies):.0f} ms   max {max(latencies):.0f} ms   "
        f"(target p50 ≤ {TARGET_P50_MS:.0f} ms: {'met' if p50 <= TARGET_P50_MS else 'MISSED'})"
    )
    print(f"first render of a {args.tasks:,}-task project, median of {args.repeat} loads:")
    for name, values in render.items():
        print(
            f"  {name:<16} {statistics.median(values):>8.0f} ms   (all: "
            f"{', '.join(f'{v:.0f}' for v in values)})"
        )


if __name__ == "__main__":
    main()
