"""The planner actor under crashes (issue 17; DESIGN §7): ``brahmi serve`` SIGKILLed at
random moments just after a message reached it, while the template planner handles it,
then started again, round after round.

Afterwards the database must show that no trigger was lost (each is ``done``) and none was
handled twice with a visible effect: at most one batch and exactly one planner reply per
user message, whatever the number of deliveries.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from brahmi.planner.actor import PlannerActor
from brahmi.service import Brahmi
from brahmi.testing import PlannerTurn, ScriptedRuntime
from tests.acceptance.test_serve import free_port
from tests.integration.support import drive
from tests.integration.test_planner import llm, planner_dir

pytestmark = pytest.mark.faults
__all__ = ["llm", "planner_dir"]  # fixtures of the planner's integration tests

ROUNDS = 4
SEED = 7
WAIT_S = 60.0
REQUEST = "Build a todo API with create and list endpoints (request {n})."


class Server:
    """One ``brahmi serve --no-workers`` on a BRAHMI_HOME, restartable."""

    def __init__(self, exe: Path, root: Path) -> None:
        self.exe = exe
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("BRAHMI_")}
        self.env["BRAHMI_HOME"] = str(root / "home")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with (self.root / "serve.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [str(self.exe), "serve", "--no-workers", "--port", str(self.port)],
                env=self.env,
                cwd=self.root,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + WAIT_S
        while not self._answers():
            assert self.proc.poll() is None, self.log()
            assert time.monotonic() < deadline, self.log()
            time.sleep(0.05)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def log(self) -> str:
        return (self.root / "serve.log").read_text(errors="replace")[-4000:]

    def _answers(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False


@pytest.mark.timeout(240)
def test_a_server_killed_while_planning_loses_no_trigger_and_repeats_no_effect(
    brahmi_exe: Path, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    server = Server(brahmi_exe, tmp_path)
    db_path = tmp_path / "home" / "brahmi.db"
    posted: list[int] = []
    caught_handling = 0
    try:
        for n in range(ROUNDS):
            server.start()
            workspace = tmp_path / f"ws-{n}"
            workspace.mkdir()
            project = httpx.post(
                f"{server.url}/api/v1/projects", json={"workspace": str(workspace)}, timeout=30
            )
            assert project.status_code in (200, 201), project.text
            reply = httpx.post(
                f"{server.url}/api/v1/projects/{project.json()['project_id']}/messages",
                json={"text": REQUEST.format(n=n), "planner": "template"},
                timeout=30,
            )
            assert reply.status_code == 202, reply.text
            posted.append(reply.json()["trigger_id"])
            time.sleep(rng.uniform(0.0, 0.25))  # the fault's moment, not a wait for state
            server.kill()
            with sqlite3.connect(db_path) as db:
                caught_handling += db.execute(
                    "SELECT count(*) FROM planner_triggers WHERE status = 'handling'"
                ).fetchone()[0]
        server.start()  # the last start: it wakes every session with unfinished work
        deadline = time.monotonic() + WAIT_S
        while True:
            with sqlite3.connect(db_path) as db:
                open_ = db.execute(
                    "SELECT count(*) FROM planner_triggers WHERE status IN ('pending', 'handling')"
                ).fetchone()[0]
            if not open_:
                break
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.1)
    finally:
        server.stop()

    db = sqlite3.connect(db_path)
    try:
        triggers = dict(db.execute("SELECT id, status FROM planner_triggers").fetchall())
        batches = Counter(
            t for (t,) in db.execute("SELECT trigger_id FROM planner_batches").fetchall()
        )
        replies = Counter(
            t
            for (t,) in db.execute(
                "SELECT trigger_id FROM planner_messages WHERE role = 'planner'"
            ).fetchall()
        )
        users = db.execute("SELECT count(*) FROM planner_messages WHERE role = 'user'").fetchone()
        task_batches = db.execute("SELECT count(*) FROM batches").fetchone()[0]
        integrity = db.execute("PRAGMA integrity_check").fetchall()
    finally:
        db.close()

    print(f"{ROUNDS} kills, {caught_handling} while a trigger was being handled")
    assert integrity == [("ok",)]
    assert users == (ROUNDS,)
    assert {t: triggers.get(t) for t in posted} == dict.fromkeys(posted, "done")
    assert set(triggers.values()) == {"done"}, triggers
    for trigger in posted:
        assert batches[trigger] == 1, (trigger, batches)
        assert replies[trigger] == 1, (trigger, replies)
    assert max(replies.values()) == 1, replies
    assert task_batches == ROUNDS


def test_a_stopping_actor_cuts_a_hanging_turn_short_and_the_next_delivers_it_again(
    llm: Brahmi, runtime: ScriptedRuntime, workspace: Path
) -> None:
    """SIGTERM on ``brahmi serve`` stops its actor: a turn that hangs (an LLM planner that
    cannot reach its API) is cut short after the grace, not waited for up to the turn's
    time limit; its trigger is delivered again by the next actor, once."""
    project_id = llm.project_for(workspace).id
    posted = llm.post_message(project_id, "Build it", planner="scripted-planner")
    started = asyncio.Event()

    async def hang(turn: PlannerTurn) -> None:
        started.set()
        await asyncio.Event().wait()

    async def reply(turn: PlannerTurn) -> None:
        await turn.call("user_response", message="Planned once.")

    runtime.enqueue_turns(hang, reply)

    async def first_actor() -> None:
        stop = asyncio.Event()
        actor = PlannerActor(llm, poll_interval_s=0.02, stop_grace_s=0.2)
        running = asyncio.create_task(actor.run(stop))
        await asyncio.wait_for(started.wait(), WAIT_S)
        stop.set()
        await asyncio.wait_for(running, WAIT_S)  # a bound, not a timing assertion

    asyncio.run(first_actor())
    trigger = llm.planner_store.get_trigger(posted.trigger.id)
    assert (trigger.status, trigger.deliveries) == ("handling", 1)

    asyncio.run(
        drive(
            llm,
            lambda: not llm.planner_store.has_unfinished_triggers(posted.session.id),
            workers=False,
        )
    )
    trigger = llm.planner_store.get_trigger(posted.trigger.id)
    assert (trigger.status, trigger.deliveries) == ("done", 2)
    replies = [m.text for m in llm.conversation(project_id) if m.role == "planner"]
    assert replies == ["Planned once."]
