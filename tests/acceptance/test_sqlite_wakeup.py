"""A ``brahmi worker`` process on the embedded SQLite database is woken by another process's
batch (DESIGN §9; store/sqlite_watch.py), not by its poll.

The worker polls once a minute (``BRAHMI_POLL_S=60``): after its first look finds nothing,
only its watcher of ``PRAGMA data_version`` can make it claim the batch this test stores
from its own process within the test's bound.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from brahmi.config import Settings
from brahmi.domain.models import TaskStatus
from brahmi.service import Brahmi
from tests.acceptance.processes import stop

#: Seconds within which the worker must have run the batch (its poll is 60 s).
WAKE_BOUND_S = 10.0
NOOP_SKILL_MD = (
    "---\nname: noop-step\ndescription: Does nothing, at once (a test step).\n"
    "metadata:\n  brahmi-runtime: noop\n---\n\n# noop-step\n\nNothing to do.\n"
)


def step(uid: int, *deps: int) -> dict[str, object]:
    return {
        "unique_id": uid,
        "task_name": f"Step {uid}",
        "description": "a step stored by another process",
        "skill_id": "acme/wake/noop-step",
        "task_order": 1,
        "inputs": {},
        "logical_dependencies": list(deps),
    }


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "skills" / "noop-step").mkdir(parents=True)
    (tmp_path / "skills" / "noop-step" / "SKILL.md").write_text(NOOP_SKILL_MD, encoding="utf-8")
    return tmp_path


@pytest.fixture
def worker(brahmi_exe: Path, home: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRAHMI_")}
    env |= {"BRAHMI_HOME": str(home / "home"), "BRAHMI_POLL_S": "60"}
    log = (home / "worker.log").open("wb")
    proc = subprocess.Popen(
        [
            str(brahmi_exe),
            "worker",
            "--runtime",
            "noop",
            "--skills",
            f"{home / 'skills'}=acme/wake",
        ],
        env=env,
        cwd=home,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    yield proc
    stop(proc)


def test_a_batch_stored_by_another_process_runs_before_the_worker_polls(
    worker: subprocess.Popen[bytes], home: Path
) -> None:
    settings = Settings(home=home / "home", skill_dirs=(f"{home / 'skills'}=acme/wake",))
    brahmi = Brahmi(settings)
    try:
        deadline = time.monotonic() + 60
        while not brahmi.store.live_workers(now=time.time(), stale_after_s=settings.lease_s):
            assert worker.poll() is None, (home / "worker.log").read_text()
            assert time.monotonic() < deadline, "the worker never registered"
            time.sleep(0.05)
        time.sleep(0.5)  # past its first claim: from now on it waits for its poll

        project = brahmi.project_for(home)
        batch = brahmi.create_tasks_batch(project.id, [step(1), step(2, 1)])
        stored = time.monotonic()
        statuses: set[TaskStatus] = set()
        while time.monotonic() - stored < WAKE_BOUND_S:
            statuses = {brahmi.get_task(i).status for i in batch.task_ids.values()}
            if statuses == {TaskStatus.COMPLETED}:
                break
            time.sleep(0.05)

        assert statuses == {TaskStatus.COMPLETED}, (home / "worker.log").read_text()
    finally:
        brahmi.close()
