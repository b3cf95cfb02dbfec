"""Many workers on one PostgreSQL, under faults (DESIGN §3, §9; issue 8).

Real processes on a real PostgreSQL (skipped without ``BRAHMI_TEST_DATABASE_URL``): three
``brahmi worker`` processes, one of them killed with SIGKILL mid-run; ``brahmi serve
--no-workers`` killed while it stores a batch; a worker stopped with SIGTERM. Leases are
short (``BRAHMI_LEASE_S``) so a dead worker's tasks come back within seconds. Every check
reads the database itself: the attempts table says how often each task recorded a result.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from tests.acceptance.test_serve import free_port

pytestmark = pytest.mark.postgres

#: Lease, heartbeat and poll periods of the workers under test, in seconds.
FAST = {"BRAHMI_LEASE_S": "3", "BRAHMI_HEARTBEAT_S": "0.5", "BRAHMI_POLL_S": "0.2"}
#: Bound for everything to finish, in seconds.
SETTLE_S = 240.0
NOOP_SKILL = "acme/faults/noop-step"
NAP_SKILL = "acme/faults/nap"
NAP_SCRIPT = """\
import json, sys, time
request = json.load(sys.stdin)
seconds = float(request["task"]["inputs"]["seconds"])
time.sleep(seconds)
print(json.dumps({"outputs": {"slept": seconds}}))
"""


def write_skills(root: Path) -> Path:
    """``noop-step`` (the noop runtime) and ``nap`` (a command that sleeps)."""
    noop = root / "noop-step"
    noop.mkdir(parents=True)
    (noop / "SKILL.md").write_text(
        "---\nname: noop-step\ndescription: Does nothing, at once (a fault-test step).\n"
        "metadata:\n  brahmi-runtime: noop\n---\n\n# noop-step\n\nNothing to do.\n",
        encoding="utf-8",
    )
    nap = root / "nap"
    (nap / "scripts").mkdir(parents=True)
    (nap / "SKILL.md").write_text(
        "---\nname: nap\ndescription: Sleeps inputs.seconds, then succeeds.\nmetadata:\n"
        "  brahmi-runtime: command\n"
        '  brahmi-command: "{python} {skill_dir}/scripts/run.py"\n'
        "---\n\n# nap\n\nSleep.\n",
        encoding="utf-8",
    )
    (nap / "scripts" / "run.py").write_text(NAP_SCRIPT, encoding="utf-8")
    return root


def task(uid: int, skill: str, *deps: int, **inputs: Any) -> dict[str, Any]:
    return {
        "unique_id": uid,
        "task_name": f"Fault step {uid}",
        "description": "a step of the fault test",
        "skill_id": skill,
        "task_order": 1,
        "inputs": inputs,
        "logical_dependencies": list(deps),
        "timeout_seconds": 60,
    }


def noop_fan_batch(roots: int, fan: int, start: int = 1) -> list[dict[str, Any]]:
    """``roots`` noop tasks, each with ``fan`` - 1 noop dependents."""
    specs = []
    uid = start
    for _ in range(roots):
        root = uid
        specs.append(task(root, NOOP_SKILL))
        uid += 1
        for _ in range(fan - 1):
            specs.append(task(uid, NOOP_SKILL, root))
            uid += 1
    return specs


@dataclass
class Cluster:
    """Processes sharing one PostgreSQL database."""

    exe: Path
    url: str
    root: Path
    skills: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def env(self, name: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BRAHMI_")}
        env.update(FAST)
        env["BRAHMI_DATABASE_URL"] = self.url
        env["BRAHMI_HOME"] = str(self.root / f"home-{name}")  # one per "machine"
        return env

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.root / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            [str(self.exe), *args],
            env=self.env(name),
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.procs.append(proc)
        return proc

    def worker(self, name: str, concurrency: int = 4) -> subprocess.Popen[bytes]:
        return self.start(
            name,
            "worker",
            "--concurrency",
            str(concurrency),
            "--skills",
            f"{self.skills}=acme/faults",
        )

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
            for p in sorted(self.root.glob("*.log"))
        )

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


@pytest.fixture
def cluster(brahmi_exe: Path, postgres_url: str, tmp_path: Path) -> Iterator[Cluster]:
    (tmp_path / "WS").mkdir()
    group = Cluster(brahmi_exe, postgres_url, tmp_path, write_skills(tmp_path / "skills"))
    yield group
    group.stop_all()


@pytest.fixture
def db(postgres_url: str) -> Iterator[Engine]:
    engine = create_engine(postgres_url)
    yield engine
    engine.dispose()


def scalar(db: Engine, sql: str, **params: Any) -> Any:
    with db.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def wait_for(predicate: Callable[[], bool], what: str, cluster: Cluster, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting until {what}\n{cluster.logs()}")
        time.sleep(0.1)


def worker_id_of(db: Engine, pid: int) -> str | None:
    value = scalar(db, "SELECT id FROM workers WHERE pid = :pid AND stopped_at IS NULL", pid=pid)
    return None if value is None else str(value)


@pytest.mark.timeout(360)
def test_three_workers_finish_every_task_once_though_one_is_killed_mid_run(
    cluster: Cluster, db: Engine
) -> None:
    noops = noop_fan_batch(roots=20, fan=100)  # 2,000 noop tasks
    naps = [task(2001 + i, NAP_SKILL, seconds=0.4) for i in range(50)]
    plan = cluster.root / "plan.json"
    plan.write_text(json.dumps(naps + noops), encoding="utf-8")
    workers = [cluster.worker(f"worker-{i}") for i in range(3)]
    wait_for(
        lambda: scalar(db, "SELECT count(*) FROM workers WHERE stopped_at IS NULL") == 3,
        "three workers registered",
        cluster,
        60,
    )
    submit = cluster.start(
        "submit",
        "run",
        str(plan),
        "--project",
        "WS",
        "--no-workers",
        "--json",
        "--skills",
        f"{cluster.skills}=acme/faults",
    )
    victim = workers[0]
    victim_id: list[str] = []

    def victim_holds_a_nap() -> bool:
        if not victim_id:
            found = worker_id_of(db, victim.pid)
            if found is None:
                return False
            victim_id.append(found)
        held = scalar(
            db,
            "SELECT count(*) FROM tasks WHERE status = 'running' AND lease_owner = :owner "
            "AND skill_id = :skill",
            owner=victim_id[0],
            skill=NAP_SKILL,
        )
        return bool(held)

    wait_for(victim_holds_a_nap, "the victim runs a nap task", cluster, 120)
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)
    killed_holding = scalar(
        db,
        "SELECT count(*) FROM tasks WHERE status = 'running' AND lease_owner = :owner",
        owner=victim_id[0],
    )

    try:
        assert submit.wait(SETTLE_S) == 0, cluster.logs()
    except subprocess.TimeoutExpired:
        pytest.fail(f"the run did not settle\n{cluster.logs()}")

    assert killed_holding >= 1
    assert scalar(db, "SELECT count(*) FROM tasks") == 2050
    assert scalar(db, "SELECT count(*) FROM tasks WHERE status <> 'completed'") == 0
    # No task recorded a result twice; every task recorded exactly one.
    assert scalar(db, "SELECT count(*) FROM attempts WHERE status = 'succeeded'") == 2050
    assert (
        scalar(
            db,
            "SELECT count(*) FROM (SELECT task_id FROM attempts WHERE status = 'succeeded' "
            "GROUP BY task_id HAVING count(*) > 1) AS twice",
        )
        == 0
    )
    # The killed worker's attempts were fenced out (expired), and their tasks ran again.
    assert (
        scalar(
            db,
            "SELECT count(*) FROM attempts WHERE worker_id = :owner AND status = 'expired'",
            owner=victim_id[0],
        )
        == killed_holding
    )
    assert scalar(db, "SELECT count(*) FROM attempts WHERE status = 'running'") == 0
    assert scalar(db, "SELECT count(DISTINCT batch_id) FROM tasks") == 1
    # The two surviving workers both did work (the claims spread over processes).
    assert scalar(db, "SELECT count(DISTINCT worker_id) FROM attempts") == 3


@pytest.mark.timeout(240)
def test_a_server_killed_while_storing_a_batch_leaves_it_wholly_absent(
    cluster: Cluster, db: Engine
) -> None:
    # Skills registered in the shared database, as a team would (`brahmi skills add`).
    added = cluster.start("skills-add", "skills", "add", str(cluster.skills), "--as", "acme/faults")
    assert added.wait(60) == 0, cluster.logs()
    port = free_port()
    server = cluster.start("serve", "serve", "--no-workers", "--port", str(port))
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: _answers(f"{url}/healthz"), "the server answers", cluster, 60)
    project = httpx.post(
        f"{url}/api/v1/projects", json={"workspace": str(cluster.root / "WS")}, timeout=30
    )
    assert project.status_code in (200, 201), project.text
    project_id = project.json()["project_id"]
    big = noop_fan_batch(roots=50, fan=200)  # 10,000 tasks: storing takes a while
    posted: list[httpx.Response | Exception] = []

    def post() -> None:
        try:
            posted.append(
                httpx.post(
                    f"{url}/api/v1/projects/{project_id}/tasks/batch",
                    json={"tasks": big},
                    timeout=120,
                )
            )
        except httpx.HTTPError as exc:
            posted.append(exc)

    sender = threading.Thread(target=post)
    sender.start()
    wait_for(
        lambda: bool(
            scalar(
                db,
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND xact_start IS NOT NULL "
                "AND query ILIKE 'INSERT INTO tasks%'",
            )
        ),
        "the server is inserting the batch",
        cluster,
        60,
    )
    server.send_signal(signal.SIGKILL)
    server.wait(10)
    sender.join(60)

    assert posted and isinstance(posted[0], Exception), posted
    wait_for(
        lambda: (
            scalar(
                db,
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND xact_start IS NOT NULL",
            )
            == 0
        ),
        "the killed server's transaction is gone",
        cluster,
        30,
    )
    assert scalar(db, "SELECT count(*) FROM batches") == 0
    assert scalar(db, "SELECT count(*) FROM tasks") == 0
    assert scalar(db, "SELECT count(*) FROM task_dependencies") == 0

    # A new server takes the same batch whole, and a worker runs it to the end.
    port = free_port()
    cluster.start("serve-again", "serve", "--no-workers", "--port", str(port))
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: _answers(f"{url}/healthz"), "the new server answers", cluster, 60)
    small = noop_fan_batch(roots=2, fan=50)
    created = httpx.post(
        f"{url}/api/v1/projects/{project_id}/tasks/batch", json={"tasks": small}, timeout=60
    )
    assert created.status_code in (200, 201), created.text
    assert scalar(db, "SELECT count(*) FROM tasks") == len(small)
    cluster.worker("worker")
    wait_for(
        lambda: scalar(db, "SELECT count(*) FROM tasks WHERE status = 'completed'") == len(small),
        "the worker ran the batch",
        cluster,
        120,
    )


@pytest.mark.timeout(120)
def test_sigterm_hands_running_tasks_back_and_the_worker_leaves_the_list(
    cluster: Cluster, db: Engine, brahmi_exe: Path
) -> None:
    plan = cluster.root / "plan.json"
    plan.write_text(json.dumps([task(i, NAP_SKILL, seconds=60) for i in (1, 2)]), "utf-8")
    worker = cluster.worker("worker", concurrency=2)
    submit = cluster.start(
        "submit",
        "run",
        str(plan),
        "--project",
        "WS",
        "--no-workers",
        "--skills",
        f"{cluster.skills}=acme/faults",
    )
    wait_for(
        lambda: scalar(db, "SELECT count(*) FROM tasks WHERE status = 'running'") == 2,
        "both naps run",
        cluster,
        60,
    )
    listed = subprocess.run(
        [str(brahmi_exe), "workers", "--json"],
        env=cluster.env("lister"),
        capture_output=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    shown = json.loads(listed.stdout)["workers"]
    assert [(w["pid"], w["running"], w["runtimes"]) for w in shown] == [
        (worker.pid, 2, ["command", "noop"])
    ]

    started = time.monotonic()
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(30) == 0, cluster.logs()
    assert time.monotonic() - started < 15

    assert scalar(db, "SELECT count(*) FROM tasks WHERE status = 'ready'") == 2
    assert scalar(db, "SELECT count(*) FROM attempts WHERE status = 'released'") == 2
    assert scalar(db, "SELECT count(*) FROM workers WHERE stopped_at IS NULL") == 0
    submit.send_signal(signal.SIGTERM)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.TransportError:
        return False
