"""Time of a ``GET /metrics`` scrape with 10,000 tasks stored (issue 14; target ≤ 50 ms).

A fresh BRAHMI_HOME (SQLite, WAL) gets ``--tasks`` tasks in batches of 1,000: half of the
batches run to completion on the real engine first (the built-in ``scripted`` runtime
reports usage for every run; one task in ten is a QA task critiquing the one before, so
the history holds verdicts), so the attempts, events, usage and history tables are as a
real project leaves them; the other half is stored and left waiting (layered graphs:
ready and planned tasks). Then, with nothing else running:

- **over HTTP**: a real ``brahmi serve --no-workers`` on the same home (a subprocess, so
  the client does not share its GIL); the first scrape (it starts following the event
  log), then ``--scrapes`` scrapes one after another, each timed on the client from
  send to the whole body read;
- **in process**: the same registry's ``generate_latest()`` without HTTP, and the
  database part alone (``brahmi.store.metrics.totals``).

    python -m benchmarks.metrics_scrape [--tasks 10000] [--scrapes 100]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import generate_latest

from benchmarks._shapes import SKILL, layered_tasks
from benchmarks.api_latency import free_port, percentile
from brahmi.config import Settings
from brahmi.metrics import registry_for
from brahmi.service import Brahmi
from brahmi.store import metrics as queries
from brahmi.testing import ScriptedRuntime, registry_with, run_until_settled

#: The target: a scrape with 10,000 tasks stored, milliseconds.
TARGET_MS = 50.0
BATCH = 1_000


def run_batch(size: int) -> list[dict[str, Any]]:
    """``size`` tasks; every tenth is a QA task critiquing (and after) the one before."""
    tasks = []
    for uid in range(1, size + 1):
        qa = uid % 10 == 0
        tasks.append(
            {
                "unique_id": uid,
                "task_name": f"task {uid}",
                "description": "benchmark task",
                "skill_id": SKILL,
                "task_order": 2 if qa else 1,
                "logical_dependencies": [uid - 1] if qa else [],
                "inputs": {"critiques_tasks": [uid - 1]} if qa else {"command": ["true"]},
            }
        )
    return tasks


def fill(home: Path, workspace: Path, total: int) -> dict[str, int]:
    """Store ``total`` tasks, run half of them; the statuses stored, with their counts."""
    settings = Settings(home=home, forced_executor="scripted", concurrency=16)
    brahmi = Brahmi(settings, runtimes=registry_with(ScriptedRuntime()))
    try:
        project_id = brahmi.project_for(workspace).id
        batches = total // BATCH
        for index in range(batches):
            if index < batches // 2:
                created = brahmi.create_tasks_batch(project_id, run_batch(BATCH))
                asyncio.run(run_until_settled(brahmi, created.batch_id, timeout_s=600))
            else:
                brahmi.create_tasks_batch(project_id, layered_tasks(BATCH))
        counts: dict[str, int] = {}
        for (status, _runtime), n in queries.totals(brahmi.store.engine).tasks.items():
            counts[status] = counts.get(status, 0) + n
        return counts
    finally:
        brahmi.close()


def timed(call: Callable[[], Any], n: int) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        out.append(time.perf_counter() - started)
    return out


def summary(name: str, seconds: list[float]) -> str:
    ms = [s * 1000 for s in seconds]
    return (
        f"{name:<44} p50 {statistics.median(ms):7.2f} ms   p99 {percentile(ms, 0.99):7.2f} ms"
        f"   max {max(ms):7.2f} ms   n={len(ms)}"
    )


def over_http(home: Path, scrapes: int) -> tuple[float, list[float], int]:
    """First scrape, then ``scrapes`` timed scrapes of a real server; and the body size."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRAHMI_")}
    env["BRAHMI_HOME"] = str(home)
    proc = subprocess.Popen(
        [sys.executable, "-m", "brahmi", "serve", "--no-workers", "--port", str(port)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"brahmi serve exited with {proc.returncode}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("brahmi serve did not answer /healthz within 30 s")
            time.sleep(0.05)
        with httpx.Client(base_url=url, timeout=30) as http:

            def scrape() -> None:
                response = http.get("/metrics")
                assert response.status_code == 200, response.text

            [first] = timed(scrape, 1)
            size = len(http.get("/metrics").content)
            return first, timed(scrape, scrapes), size
    finally:
        proc.terminate()
        proc.wait(15)


def in_process(home: Path, scrapes: int) -> tuple[float, list[float], list[float]]:
    """First ``generate_latest``, then timed ones; and the database queries alone."""
    brahmi = Brahmi(Settings(home=home))
    try:
        registry = registry_for(brahmi)
        [first] = timed(lambda: generate_latest(registry), 1)
        scraped = timed(lambda: generate_latest(registry), scrapes)
        engine = brahmi.store.engine
        return first, scraped, timed(lambda: queries.totals(engine), scrapes)
    finally:
        brahmi.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000, help="tasks stored (×1,000)")
    parser.add_argument("--scrapes", type=int, default=100, help="timed scrapes per surface")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        home, workspace = Path(root) / "home", Path(root) / "ws"
        workspace.mkdir()
        started = time.perf_counter()
        counts = fill(home, workspace, args.tasks)
        print(
            f"{sum(counts.values())} tasks stored in {time.perf_counter() - started:.0f} s: "
            + ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        )
        first_http, http_s, size = over_http(home, args.scrapes)
        first_local, local_s, queries_s = in_process(home, args.scrapes)

    print(f"exposition: {size} bytes")
    print(f"{'first scrape over HTTP (starts following)':<44} {first_http * 1000:7.2f} ms")
    print(summary("GET /metrics over HTTP (brahmi serve)", http_s))
    print(f"{'first generate_latest in process':<44} {first_local * 1000:7.2f} ms")
    print(summary("in process: generate_latest(registry)", local_s))
    print(summary("in process: the database queries alone", queries_s))
    p50 = statistics.median(http_s) * 1000
    verdict = "meets" if p50 <= TARGET_MS else "MISSES"
    print(f"GET /metrics: p50 {p50:.2f} ms {verdict} the {TARGET_MS:g} ms target")


if __name__ == "__main__":
    main()
