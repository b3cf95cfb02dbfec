"""Latency of ``create_tasks_batch`` over MCP and REST, and ``get_task`` requests/s.

A real ``brahmi serve --no-workers`` runs as a subprocess on a free loopback port with a
fresh BRAHMI_HOME (so client and server do not share a GIL). After a warm-up, the client
sends ``--calls`` batches of ``--batch`` tasks (two layers of 25, each task of the second
layer on two of the first, the built-in run-command skill) one after another:

- **MCP/HTTP**: the official ``mcp.Client`` over streamable HTTP to ``/mcp``, one session.
- **REST**: ``POST /api/v1/projects/{id}/tasks/batch`` with a keep-alive ``httpx.Client``.

Each call's wall time is measured on the client, from send to parsed reply; the batch is
committed to SQLite (WAL) before the reply. Then ``GET /api/v1/tasks/{id}`` is sent for
``--seconds`` by one client and by ``--concurrency`` concurrent ones.

For where the time goes, the same work is timed in this process without HTTP: the service
call ``Brahmi.create_tasks_batch`` alone, and the MCP tool through the SDK's in-memory
client (``mcp.Client(build_mcp(...))``, no HTTP).

    python -m benchmarks.api_latency [--calls 200] [--batch 50] [--seconds 3]
                                     [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from mcp import Client

from benchmarks._shapes import LAYER_WIDTH, layered_tasks
from brahmi.config import Settings
from brahmi.mcp.server import build_mcp
from brahmi.service import Brahmi

#: The target: median latency of a 50-task create_tasks_batch, milliseconds.
TARGET_P50_MS = 25.0
WARMUP = 20


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    """The ``q``-quantile (0–1) by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def summary(name: str, seconds: list[float]) -> str:
    ms = [s * 1000 for s in seconds]
    return (
        f"{name:<38} p50 {statistics.median(ms):7.2f} ms   p99 {percentile(ms, 0.99):7.2f} ms"
        f"   mean {statistics.fmean(ms):7.2f} ms   n={len(ms)}"
    )


def start_server(home: Path, workspace: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``brahmi serve --no-workers --project WORKSPACE`` on a free port; waits for /healthz."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRAHMI_")}
    env["BRAHMI_HOME"] = str(home)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "brahmi",
            "serve",
            "--no-workers",
            "--project",
            str(workspace),
            "--port",
            str(port),
        ],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"brahmi serve exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise SystemExit("brahmi serve did not answer /healthz within 30 s")
        time.sleep(0.05)


async def timed_async(call: Callable[[], Awaitable[Any]], n: int) -> list[float]:
    for _ in range(WARMUP):
        await call()
    out = []
    for _ in range(n):
        started = time.perf_counter()
        await call()
        out.append(time.perf_counter() - started)
    return out


def timed(call: Callable[[], Any], n: int) -> list[float]:
    for _ in range(WARMUP):
        call()
    out = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        out.append(time.perf_counter() - started)
    return out


def mcp_http(url: str, tasks: list[dict[str, Any]], n: int) -> list[float]:
    async def run() -> list[float]:
        async with Client(f"{url}/mcp") as client:

            async def call() -> None:
                result = await client.call_tool("create_tasks_batch", {"tasks": tasks})
                assert not result.is_error, result.content
                assert isinstance(result.structured_content, dict)
                assert len(result.structured_content["task_ids"]) == len(tasks)

            return await timed_async(call, n)

    return asyncio.run(run())


def rest(url: str, project_id: str, tasks: list[dict[str, Any]], n: int) -> list[float]:
    with httpx.Client(base_url=url, timeout=30) as http:

        def call() -> None:
            response = http.post(f"/api/v1/projects/{project_id}/tasks/batch", json=tasks)
            assert response.status_code == 201, response.text
            assert len(response.json()["task_ids"]) == len(tasks)

        return timed(call, n)


def get_task_rate(url: str, task_id: str, seconds: float, concurrency: int) -> float:
    """``GET /api/v1/tasks/{id}`` per second with ``concurrency`` clients in a loop."""

    async def run() -> float:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as http:
            path = f"/api/v1/tasks/{task_id}"
            for _ in range(WARMUP):
                (await http.get(path)).raise_for_status()
            done = 0
            deadline = time.perf_counter() + seconds

            async def client() -> None:
                nonlocal done
                while time.perf_counter() < deadline:
                    response = await http.get(path)
                    assert response.status_code == 200, response.text
                    done += 1

            started = time.perf_counter()
            await asyncio.gather(*(client() for _ in range(concurrency)))
            return done / (time.perf_counter() - started)

    return asyncio.run(run())


def in_process(tasks: list[dict[str, Any]], n: int) -> tuple[list[float], list[float], list[float]]:
    """The service call alone, the MCP tool in memory (no HTTP), and get_task alone."""
    with tempfile.TemporaryDirectory() as root:
        workspace = Path(root) / "ws"
        workspace.mkdir()
        brahmi = Brahmi(Settings(home=Path(root) / "home", forced_executor="noop"))
        try:
            project_id = brahmi.project_for(workspace).id
            created: list[str] = []

            def service() -> None:
                created.append(brahmi.create_tasks_batch(project_id, tasks).task_ids["1"])

            service_s = timed(service, n)

            async def run() -> list[float]:
                async with Client(build_mcp(brahmi, project_id)) as client:

                    async def call() -> None:
                        result = await client.call_tool("create_tasks_batch", {"tasks": tasks})
                        assert not result.is_error, result.content

                    return await timed_async(call, n)

            memory_s = asyncio.run(run())
            get_s = timed(lambda: brahmi.get_task(created[0]), n)
            return service_s, memory_s, get_s
        finally:
            brahmi.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="measured calls per surface")
    parser.add_argument("--batch", type=int, default=50, help="tasks per batch")
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of get_task runs")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent get_task clients")
    args = parser.parse_args()
    tasks = layered_tasks(args.batch)
    layers = -(-args.batch // LAYER_WIDTH)
    print(
        f"create_tasks_batch of {args.batch} tasks ({layers} layers), {args.calls} calls "
        f"after {WARMUP} warm-up calls; SQLite WAL; client and `brahmi serve` in two processes"
    )

    with tempfile.TemporaryDirectory() as root:
        workspace = Path(root) / "ws"
        workspace.mkdir()
        proc, url = start_server(Path(root) / "home", workspace)
        try:
            project_id = httpx.get(f"{url}/api/v1/projects", timeout=5).json()["projects"][0][
                "project_id"
            ]
            over_mcp = mcp_http(url, tasks, args.calls)
            over_rest = rest(url, project_id, tasks, args.calls)
            task_id = httpx.get(
                f"{url}/api/v1/projects/{project_id}/tasks", params={"status": "ready"}, timeout=30
            ).json()["tasks"][0]["task_id"]
            one = get_task_rate(url, task_id, args.seconds, 1)
            many = get_task_rate(url, task_id, args.seconds, args.concurrency)
        finally:
            proc.terminate()
            proc.wait(15)

    service_s, memory_s, get_s = in_process(tasks, args.calls)

    print(summary("MCP over HTTP (/mcp)", over_mcp))
    print(summary("REST (POST .../tasks/batch)", over_rest))
    print(summary("in process: MCP tool, no HTTP", memory_s))
    print(summary("in process: Brahmi.create_tasks_batch", service_s))
    print(
        f"get_task over REST: {one:8.0f} req/s (1 client), {many:8.0f} req/s ({args.concurrency})"
    )
    print(summary("in process: Brahmi.get_task", get_s))
    for name, values in (("MCP/HTTP", over_mcp), ("REST", over_rest)):
        p50 = statistics.median(values) * 1000
        verdict = "meets" if p50 <= TARGET_P50_MS else "MISSES"
        print(f"{name}: p50 {p50:.2f} ms {verdict} the {TARGET_P50_MS:g} ms target")


if __name__ == "__main__":
    main()
