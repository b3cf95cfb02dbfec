"""100,000 tasks in one project: worker and server memory, tasks/s, paginated listing.

On a fresh ``BRAHMI_HOME`` (SQLite), stores a layered graph of ``--tasks`` tasks, ``--width``
per layer (task j of a layer on tasks j and j+1 of the layer before), in batches of
10,000 (the most one batch holds; each batch's first layer depends on the previous batch's
last layer by task id). Then starts one real ``brahmi worker --concurrency C --runtime
noop`` process and one ``brahmi serve --no-workers``, and while the worker runs the graph:

- samples both processes' resident memory (``VmRSS``, and the peak ``VmHWM`` at the end);
- times ``GET /api/v1/projects/{id}/tasks?limit=100`` from a client, alternately the first
  page and a page deep in the listing (through ``next_cursor``).

tasks/s is counted from the database: tasks ÷ (last ``finished_at`` − first
``started_at``), so the worker's start-up is left out. The same is done first for a
500-task graph (20 layers of 25, the ``layered`` shape) with the same kind of worker
process, for the comparison the issue asks for (within 20 %).

    python -m benchmarks.scale [--tasks 100000] [--width 1000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from benchmarks._shapes import SKILL, layered
from benchmarks.api_latency import free_port, percentile
from brahmi.config import Settings
from brahmi.service import Brahmi

BRAHMI = str(Path(sys.executable).with_name("brahmi"))
BATCH = 10_000


def graph_batches(total: int, width: int) -> list[list[dict[str, Any]]]:
    """The layered graph as batches of whole layers; a batch's first layer names the
    previous batch's last layer by ``"prev:<j>"`` placeholders (ids filled in later)."""
    per_batch = max(width, (BATCH // width) * width)
    batches = []
    for start in range(0, total, per_batch):
        size = min(per_batch, total - start)
        tasks = []
        for n in range(size):
            layer, j = divmod(n, width)
            uid = n + 1
            spec: dict[str, Any] = {
                "unique_id": uid,
                "task_name": f"task {start + uid}",
                "skill_id": SKILL,
                "task_order": 1,
                "inputs": {"command": ["true"]},
                "logical_dependencies": [],
            }
            if layer > 0:
                before = (layer - 1) * width
                spec["logical_dependencies"] = sorted(
                    {before + j + 1, before + (j + 1) % width + 1}
                )
            elif start > 0:
                spec["dependencies"] = [f"prev:{j}", f"prev:{(j + 1) % width}"]
            tasks.append(spec)
        batches.append(tasks)
    return batches


def store_graph(brahmi: Brahmi, project_id: str, total: int, width: int) -> float:
    """Store the graph; seconds it took."""
    started = time.perf_counter()
    previous: list[str] = []
    for tasks in graph_batches(total, width):
        for spec in tasks:
            if "dependencies" in spec:
                spec["dependencies"] = sorted(
                    {previous[int(d.split(":")[1])] for d in spec["dependencies"]}
                )
        created = brahmi.create_tasks_batch(project_id, tasks)
        ids = [created.task_ids[str(spec["unique_id"])] for spec in tasks]
        previous = ids[-width:]
    return time.perf_counter() - started


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """A process's resident memory (``VmRSS``) or its peak (``VmHWM``), MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


@contextlib.contextmanager
def process(command: list[str], home: Path, log: str) -> Iterator[subprocess.Popen[bytes]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRAHMI_")}
    env["BRAHMI_HOME"] = str(home)
    env["BRAHMI_POLL_S"] = "0.05"
    with (home / log).open("wb") as errors:
        proc = subprocess.Popen(
            command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors
        )
        try:
            yield proc
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


def counts(database: Path) -> tuple[int, int, float | None, float | None]:
    """(tasks, completed, first started_at, last finished_at)."""
    with contextlib.closing(sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True)) as c:
        row = c.execute(
            "SELECT count(*), sum(status = 'completed'), min(started_at), max(finished_at) "
            "FROM tasks"
        ).fetchone()
    return int(row[0]), int(row[1] or 0), row[2], row[3]


def run_graph(total: int, width: int, concurrency: int, serve: bool) -> dict[str, Any]:
    """Store and run one graph on a fresh home; its figures."""
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        brahmi = Brahmi(Settings(home=home, forced_executor="noop"))
        try:
            project = brahmi.project_for(home)
            brahmi.registry.sources()  # index the built-ins before the clock
            stored_s = store_graph(brahmi, project.id, total, width)
        finally:
            brahmi.close()
        figures: dict[str, Any] = {"tasks": total, "store_s": stored_s}
        database = home / "brahmi.db"
        worker_cmd = [BRAHMI, "worker", "--concurrency", str(concurrency), "--runtime", "noop"]
        with contextlib.ExitStack() as stack:
            server = None
            url = ""
            if serve:
                port = free_port()
                server = stack.enter_context(
                    process(
                        [
                            BRAHMI,
                            "serve",
                            "--no-workers",
                            "--project",
                            str(home),
                            "--port",
                            str(port),
                        ],
                        home,
                        "serve.log",
                    )
                )
                url = f"http://127.0.0.1:{port}"
                _wait_for(url)
            worker = stack.enter_context(process(worker_cmd, home, "worker.log"))
            samples: dict[str, list[float]] = {"worker": [], "server": []}
            pages: dict[str, list[float]] = {"first page": [], "deep page": []}
            stop = threading.Event()
            lister = (
                threading.Thread(target=_list_pages, args=(url, project.id, pages, stop))
                if serve
                else None
            )
            if lister is not None:
                lister.start()
            deadline = time.monotonic() + 3600
            try:
                while True:
                    n, done, _, _ = counts(database)
                    samples["worker"].append(rss_mb(worker.pid))
                    if server is not None:
                        samples["server"].append(rss_mb(server.pid))
                    if done == n:
                        break
                    if worker.poll() is not None or time.monotonic() > deadline:
                        raise SystemExit(f"the worker stopped with {done} of {n} done")
                    time.sleep(0.5)
            finally:
                stop.set()
                if lister is not None:
                    lister.join()
            figures["worker_peak_mb"] = rss_mb(worker.pid, "VmHWM")
            figures["worker_rss_mb"] = max(samples["worker"])
            if server is not None:
                figures["server_peak_mb"] = rss_mb(server.pid, "VmHWM")
                figures["server_rss_mb"] = max(samples["server"])
            figures["pages"] = pages
        n, done, first, last = counts(database)
        assert first is not None and last is not None
        figures["run_s"] = last - first
        figures["tasks_per_s"] = n / (last - first)
        return figures


def _wait_for(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise SystemExit("brahmi serve did not answer /healthz")


def _list_pages(
    url: str, project_id: str, pages: dict[str, list[float]], stop: threading.Event
) -> None:
    """Time the first page and a deep page of the listing, alternately, until stopped."""
    endpoint = f"{url}/api/v1/projects/{project_id}/tasks"
    with httpx.Client(timeout=30) as client:
        cursor = None
        for _ in range(50):  # walk 5,000 tasks in, for a cursor deep in the listing
            cursor = client.get(endpoint, params={"limit": 100, **_c(cursor)}).json()["next_cursor"]
        while not stop.is_set():
            for name, params in (("first page", {}), ("deep page", _c(cursor))):
                started = time.perf_counter()
                reply = client.get(endpoint, params={"limit": 100, **params})
                pages[name].append(time.perf_counter() - started)
                assert reply.status_code == 200, reply.text
            time.sleep(0.2)


def _c(cursor: str | None) -> dict[str, str]:
    return {"cursor": cursor} if cursor else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--width", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    small = run_graph(len(layered()), 25, args.concurrency, serve=False)
    print(
        f"500 tasks (layered 20x25), worker process: {small['tasks_per_s']:.0f} tasks/s, "
        f"worker peak RSS {small['worker_peak_mb']:.0f} MB"
    )
    big = run_graph(args.tasks, args.width, args.concurrency, serve=True)
    ratio = big["tasks_per_s"] / small["tasks_per_s"]
    print(
        f"{args.tasks:,} tasks (layered width {args.width}): stored in {big['store_s']:.1f} s; "
        f"ran in {big['run_s']:.1f} s = {big['tasks_per_s']:.0f} tasks/s "
        f"({ratio:.0%} of the 500-task figure; target within 20 %)"
    )
    print(
        f"worker RSS max {big['worker_rss_mb']:.0f} MB (peak {big['worker_peak_mb']:.0f}); "
        f"server RSS max {big['server_rss_mb']:.0f} MB (peak {big['server_peak_mb']:.0f}); "
        "target <= 200 MB"
    )
    for name, seconds in big["pages"].items():
        ms = [1000 * s for s in seconds]
        if ms:
            print(
                f"GET .../tasks?limit=100, {name}: p50 {statistics.median(ms):.1f} ms, "
                f"p99 {percentile(ms, 0.99):.1f} ms, max {max(ms):.1f} ms, n={len(ms)}"
            )


if __name__ == "__main__":
    main()
