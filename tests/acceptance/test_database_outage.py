"""A database that goes away and comes back (issue 8 "bad input"), with real processes.

``brahmi serve`` (with its in-process worker) reaches PostgreSQL through a TCP proxy in this
test; stopping the proxy drops every connection and refuses new ones, as a restarting
server does. While it is down REST answers 503 ``store_unavailable``; work stored meanwhile
by another client is run once the database is back, and nothing is lost.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from brahmi.config import Settings
from brahmi.domain.models import TaskStatus
from brahmi.service import Brahmi
from tests.acceptance.processes import stop
from tests.acceptance.test_serve import free_port

pytestmark = pytest.mark.postgres
WAIT_S = 60.0
SKILL = "brahmi/builtin/run-command"


class Proxy:
    """Forwards 127.0.0.1:``port`` to a PostgreSQL server until stopped."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        """Refuse new connections and cut every open one."""
        if self._listener is not None:
            with contextlib.suppress(OSError):  # wakes the accept() blocked in its thread
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                self._open += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)


def wait_for(predicate: Callable[[], bool], what: str, log: Path) -> None:
    deadline = time.monotonic() + WAIT_S
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting until {what}\n{log.read_text(errors='replace')}")
        time.sleep(0.1)


@pytest.fixture
def proxy(postgres_url: str) -> Iterator[Proxy]:
    url = make_url(postgres_url)
    running = Proxy((url.host or "127.0.0.1", url.port or 5432))
    running.start()
    yield running
    running.stop()


def spec(uid: int) -> dict[str, object]:
    return {
        "unique_id": uid,
        "task_name": f"Step {uid}",
        "description": "a step",
        "skill_id": SKILL,
        "task_order": 1,
        "inputs": {"command": ["true"]},
        "logical_dependencies": [uid - 1] if uid > 1 else [],
    }


@pytest.mark.timeout(180)
def test_a_database_outage_gets_503s_and_loses_no_task(
    brahmi_exe: Path, postgres_url: str, proxy: Proxy, tmp_path: Path
) -> None:
    via_proxy = make_url(postgres_url).set(host="127.0.0.1", port=proxy.port)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRAHMI_")}
    env.update(
        BRAHMI_HOME=str(tmp_path / "server-home"),
        BRAHMI_DATABASE_URL=via_proxy.render_as_string(hide_password=False),
        BRAHMI_LEASE_S="3",
        BRAHMI_HEARTBEAT_S="0.5",
        BRAHMI_POLL_S="0.2",
    )
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(brahmi_exe), "serve", "--port", str(port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    direct = Brahmi(
        Settings(home=tmp_path / "client-home", database_url=postgres_url, forced_executor="noop")
    )
    try:

        def answers() -> bool:
            try:
                return httpx.get(f"{base}/api/v1/projects", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(answers, "the server answers", log)
        workspace = tmp_path / "WS"
        workspace.mkdir()
        project_id = direct.project_for(workspace).id
        before = direct.create_tasks_batch(project_id, [spec(i) for i in range(1, 6)])

        def settled(batch_id: str) -> bool:
            tasks = direct.list_tasks(batch_id=batch_id)
            return all(t.status is TaskStatus.COMPLETED for t in tasks)

        wait_for(lambda: settled(before.batch_id), "the first batch ran", log)

        proxy.stop()
        down = httpx.get(f"{base}/api/v1/projects/{project_id}/tasks", timeout=30)
        assert down.status_code == 503
        assert down.json()["error"] == "store_unavailable"
        during = direct.create_tasks_batch(project_id, [spec(i) for i in range(1, 6)])
        time.sleep(2.0)  # the outage lasts: the worker retries with backoff meanwhile
        assert server.poll() is None, log.read_text(errors="replace")
        proxy.start()

        wait_for(lambda: settled(during.batch_id), "the batch stored during the outage ran", log)
        up = httpx.get(f"{base}/api/v1/projects/{project_id}/tasks", timeout=30)
        assert up.status_code == 200
        assert len(up.json()["tasks"]) == 10
    finally:
        direct.close()
        stop(server)
