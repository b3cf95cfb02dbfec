"""Load: concurrent clients against one ``brahmi serve`` with workers (issue 17).

Starts ``brahmi serve`` on 127.0.0.1 (its in-process workers run every task on the
``noop`` runtime), creates ``--projects`` projects, opens one event stream (SSE) per
project, then runs ``--clients`` clients for ``--seconds``: four in five over REST, one in
five over MCP (streamable HTTP), each in a loop of create a batch of 5 tasks, list the
project's tasks, get one task. At the end it waits until every task settled and every
listener received every event of its project, then prints p50/p99 latency per operation,
errors (target 0), events delivered against the events table (in order, none twice) and
the server's resident memory.

    python -m benchmarks.load                # 50 clients, 60 s
    python -m benchmarks.load --soak         # 10 minutes
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx

SKILL_MD = (
    "---\nname: step\ndescription: Does nothing, at once (a load step).\nmetadata:\n"
    "  brahmi-runtime: noop\n---\n\n# step\n"
)
SKILL = "acme/load/step"
BATCH = 5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def batch(seq: int) -> list[dict[str, Any]]:
    return [
        {
            "unique_id": i,
            "task_name": f"load {seq}.{i}",
            "skill_id": SKILL,
            "task_order": 1,
            "logical_dependencies": [i - 1] if i > 1 else [],
        }
        for i in range(1, BATCH + 1)
    ]


class Stats:
    def __init__(self) -> None:
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.examples: list[str] = []

    async def time(self, op: str, call: Any) -> Any:
        started = time.perf_counter()
        try:
            result = await call
        except Exception as exc:
            self.errors[op] += 1
            if len(self.examples) < 5:
                self.examples.append(f"{op}: {exc!r}"[:300])
            return None
        self.latency[op].append(time.perf_counter() - started)
        return result


async def rest_client(base: str, project: str, stats: Stats, stop: float, n: int) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        seq = 0
        while time.monotonic() < stop:
            seq += 1

            async def create(seq: int = seq) -> Any:
                r = await http.post(
                    f"/api/v1/projects/{project}/tasks/batch", json=batch(n * 100000 + seq)
                )
                r.raise_for_status()
                return r.json()

            created = await stats.time("rest create_tasks_batch", create())

            async def listing() -> Any:
                r = await http.get(
                    f"/api/v1/projects/{project}/tasks", params={"status": "running"}
                )
                r.raise_for_status()
                return r.json()

            await stats.time("rest list_tasks", listing())
            if created:
                task_id = next(iter(created["task_ids"].values()))

                async def get(task_id: str = task_id) -> Any:
                    r = await http.get(f"/api/v1/tasks/{task_id}")
                    r.raise_for_status()
                    return r.json()

                await stats.time("rest get_task", get())


async def mcp_client(base: str, project: str, stats: Stats, stop: float, n: int) -> None:
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async with Client(streamable_http_client(f"{base}/projects/{project}/mcp")) as client:
        seq = 0
        while time.monotonic() < stop:
            seq += 1

            async def call(tool: str, **arguments: Any) -> Any:
                result = await client.call_tool(tool, arguments)
                if result.is_error:
                    raise RuntimeError(" ".join(getattr(c, "text", "") for c in result.content))
                return result.structured_content

            created = await stats.time(
                "mcp create_tasks_batch",
                call("create_tasks_batch", tasks=batch(n * 100000 + seq)),
            )
            await stats.time("mcp list_tasks", call("list_tasks", status="completed"))
            if created:
                task_id = next(iter(created["task_ids"].values()))
                await stats.time("mcp get_task", call("get_task", task_id=task_id))


async def listener(base: str, project: str, seen: list[int], ready: asyncio.Event) -> None:
    """Follow the project's event stream, recording every event id in order."""
    async with (
        httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(None)) as http,
        http.stream("GET", "/api/v1/events", params={"project_id": project}) as stream,
    ):
        ready.set()
        async for line in stream.aiter_lines():
            if line.startswith("id:"):
                seen.append(int(line[3:].strip()))


def events_of(db: Path, project: str) -> list[int]:
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(
            "SELECT id FROM events WHERE project_id = ? ORDER BY id", (project,)
        ).fetchall()
    finally:
        conn.close()
    return [r[0] for r in rows]


def unsettled(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(
            conn.execute(
                "SELECT count(*) FROM tasks WHERE status NOT IN ('completed','failed','cancelled')"
            ).fetchone()[0]
        )
    finally:
        conn.close()


async def run(args: argparse.Namespace, base: str, home: Path, pid: int) -> dict[str, Any]:
    stats = Stats()
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        projects = []
        for i in range(args.projects):
            folder = home.parent / f"ws-{i}"
            folder.mkdir()
            r = await http.post("/api/v1/projects", json={"workspace": str(folder)})
            r.raise_for_status()
            projects.append(r.json()["project_id"])
    seen: dict[str, list[int]] = {p: [] for p in projects}
    readies = [asyncio.Event() for _ in projects]
    listeners = [
        asyncio.create_task(listener(base, p, seen[p], ready))
        for p, ready in zip(projects, readies, strict=True)
    ]
    await asyncio.gather(*(r.wait() for r in readies))
    stop = time.monotonic() + args.seconds
    clients = []
    for n in range(args.clients):
        project = projects[n % len(projects)]
        kind = mcp_client if n % 5 == 4 else rest_client
        clients.append(kind(base, project, stats, stop, n))
    started = time.monotonic()
    await asyncio.gather(*clients)
    elapsed = time.monotonic() - started
    db = home / "brahmi.db"
    deadline = time.monotonic() + 300
    while unsettled(db) and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    expected = {p: events_of(db, p) for p in projects}
    while any(len(seen[p]) < len(expected[p]) for p in projects) and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    for task in listeners:
        task.cancel()
    await asyncio.gather(*listeners, return_exceptions=True)
    return {
        "stats": stats,
        "elapsed": elapsed,
        "expected": expected,
        "seen": seen,
        "rss": rss_mib(pid),
        "unsettled": unsettled(db),
    }


def report(args: argparse.Namespace, result: dict[str, Any]) -> int:
    stats: Stats = result["stats"]
    print(
        f"load: {args.clients} clients ({args.clients // 5} MCP), {args.projects} projects, "
        f"{result['elapsed']:.0f} s, one SSE listener per project"
    )
    every: list[float] = []
    for op in sorted(stats.latency):
        values = sorted(stats.latency[op])
        every += values
        p50 = statistics.median(values) * 1000
        p99 = values[min(len(values) - 1, int(len(values) * 0.99))] * 1000
        print(f"  {op:24s} {len(values):6d} calls  p50 {p50:7.1f} ms  p99 {p99:7.1f} ms")
    every.sort()
    if every:
        print(
            f"  {'all':24s} {len(every):6d} calls  p50 {statistics.median(every) * 1000:7.1f} "
            f"ms  p99 {every[int(len(every) * 0.99)] * 1000:7.1f} ms  "
            f"({len(every) / result['elapsed']:.0f} calls/s)"
        )
    errors = sum(stats.errors.values())
    print(f"  errors: {errors} {dict(stats.errors) or ''}")
    for example in stats.examples:
        print(f"    {example}")
    bad = 0
    delivered = total = 0
    for project, expected in result["expected"].items():
        seen = result["seen"][project]
        total += len(expected)
        delivered += len(seen)
        in_order = seen == sorted(set(seen))
        if seen != expected:
            bad += 1
            print(
                f"  listener {project[:8]}: {len(seen)} of {len(expected)} events, "
                f"in order without repeats: {in_order}"
            )
    print(
        f"  events: {delivered} delivered of {total} stored, "
        f"{len(result['expected']) - bad}/{len(result['expected'])} listeners got every "
        f"event in order"
    )
    print(f"  tasks not settled at the end: {result['unsettled']}")
    print(f"  server RSS at the end: {result['rss']:.0f} MiB")
    return int(errors > 0 or bad > 0 or result["unsettled"] > 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--projects", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--soak", action="store_true", help="run 10 minutes")
    parser.add_argument("--workers", type=int, default=8, help="serve's in-process workers")
    args = parser.parse_args()
    if args.soak:
        args.seconds = 600.0
    exe = Path(sys.executable).with_name("brahmi")
    with tempfile.TemporaryDirectory(prefix="brahmi-load-") as tmp:
        root = Path(tmp)
        (root / "skills" / "step").mkdir(parents=True)
        (root / "skills" / "step" / "SKILL.md").write_text(SKILL_MD, encoding="utf-8")
        home = root / "home"
        env = {k: v for k, v in os.environ.items() if not k.startswith("BRAHMI_")}
        env.update(BRAHMI_HOME=str(home), BRAHMI_SKILL_DIRS=f"{root / 'skills'}=acme/load")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        with (root / "serve.log").open("wb") as log:
            server = subprocess.Popen(
                [
                    str(exe),
                    "serve",
                    "--port",
                    str(port),
                    "--workers",
                    str(args.workers),
                    "--no-planner",
                ],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    sys.exit((root / "serve.log").read_text())
                time.sleep(0.1)
            result = asyncio.run(run(args, base, home, server.pid))
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
    print(
        f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
        f"command: python -m benchmarks.load {' '.join(sys.argv[1:])}".rstrip()
    )
    sys.exit(report(args, result))


if __name__ == "__main__":
    main()
