"""The engine on a real SQLite file: scheduling, failures, limits, leases and events.

Agents are the scripted runtime of :mod:`brahmi.testing`; everything behind it (the store,
the worker, leases, transactions) is the real thing.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from brahmi import errors
from brahmi.agents.base import AgentRequest, AgentResult
from brahmi.config import Settings
from brahmi.domain import lifecycle
from brahmi.domain.models import TaskStatus
from brahmi.service import Brahmi
from brahmi.store.tasks import AttemptResult
from brahmi.testing import (
    Crash,
    Fail,
    Hang,
    ScriptedRuntime,
    Unavailable,
    registry_with,
    run_until_settled,
)
from tests.integration.support import create, settle, spec

S = TaskStatus
SKILL = "brahmi/builtin/run-command"
WAIT_S = 10.0


@pytest.fixture
def database_url(either_database: str | None) -> str | None:
    """Every test here runs on SQLite and on PostgreSQL."""
    return either_database


async def _settle(brahmi: Brahmi, batch_id: str) -> list[Any]:
    return await run_until_settled(brahmi, batch_id, timeout_s=WAIT_S)


@contextmanager
def another_brahmi(settings: Settings, runtime: ScriptedRuntime) -> Iterator[Brahmi]:
    """A second Brahmi over the same home, with other settings."""
    instance = Brahmi(settings, runtimes=registry_with(runtime))
    try:
        yield instance
    finally:
        instance.close()


async def wait_until(predicate: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> None:
    """Poll ``predicate`` until it holds, failing after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting until {what}")
        await asyncio.sleep(0.01)


def status_of(brahmi: Brahmi, task_id: str) -> TaskStatus:
    return brahmi.get_task(task_id).status


def names(requests: list[AgentRequest]) -> list[str]:
    return [r.task.task_name for r in requests]


def dead_pid() -> int:
    """The pid of a process of this host that has exited and been reaped."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# -- running a graph ---------------------------------------------------------------------


def test_a_snake_case_batch_runs_to_completion_in_dependency_order(
    brahmi: Brahmi, runtime: ScriptedRuntime, workspace: Path
) -> None:
    #   design → api ─┐
    #         └→ web ─┴→ release
    runtime.enqueue("Design the schema", {"tables": ["users"]})
    runtime.enqueue("Build the api", {"url": "http://api"})
    batch_id, ids = create(
        brahmi,
        workspace,
        [
            spec(1, "Design the schema", order=1),
            spec(2, "Build the api", 1, order=2),
            spec(3, "Build the web", 1, order=2),
            spec(4, "Release it", 2, 3, order=3),
        ],
    )
    assert status_of(brahmi, ids["1"]) is S.READY
    assert status_of(brahmi, ids["4"]) is S.PLANNED

    tasks = settle(brahmi, batch_id)

    assert {t.status for t in tasks.values()} == {S.COMPLETED}
    order = names(runtime.calls)
    assert sorted(order) == sorted(tasks)
    assert order[0] == "Design the schema"
    assert order[-1] == "Release it"
    assert tasks["Design the schema"].outputs == {"tables": ["users"]}
    assert tasks["Build the api"].outputs == {"url": "http://api"}
    assert tasks["Release it"].dependencies and set(tasks["Release it"].dependencies) == {
        ids["2"],
        ids["3"],
    }
    for task in tasks.values():
        assert task.attempts == 1
        assert task.finished_at is not None


def test_ready_tasks_start_in_task_order(
    settings: Settings, runtime: ScriptedRuntime, workspace: Path
) -> None:
    with another_brahmi(settings.with_(concurrency=1), runtime) as brahmi:
        batch_id, _ = create(
            brahmi,
            workspace,
            [
                spec(1, "Third by order", order=3),
                spec(2, "First by order", order=1),
                spec(3, "Fourth by order", order=4),
                spec(4, "Second by order", order=2),
            ],
        )
        tasks = settle(brahmi, batch_id)

    assert {t.status for t in tasks.values()} == {S.COMPLETED}
    assert names(runtime.calls) == [
        "First by order",
        "Second by order",
        "Third by order",
        "Fourth by order",
    ]


def test_among_equal_task_orders_the_earlier_created_task_starts_first(
    settings: Settings, runtime: ScriptedRuntime, workspace: Path
) -> None:
    with another_brahmi(settings.with_(concurrency=1), runtime) as brahmi:
        create(brahmi, workspace, [spec(1, "Created first", order=5)])
        later_batch, _ = create(brahmi, workspace, [spec(1, "Created second", order=5)])
        settle(brahmi, later_batch)

    assert names(runtime.calls) == ["Created first", "Created second"]


def test_tasks_of_equal_task_order_in_one_batch_start_in_the_order_listed(
    settings: Settings, runtime: ScriptedRuntime, workspace: Path
) -> None:
    listed = [f"Listed {n}" for n in ("one", "two", "three", "four", "five", "six")]
    with another_brahmi(settings.with_(concurrency=1), runtime) as brahmi:
        batch_id, _ = create(
            brahmi, workspace, [spec(uid, name) for uid, name in enumerate(listed, start=1)]
        )
        settle(brahmi, batch_id)

    assert names(runtime.calls) == listed


def test_independent_tasks_run_in_parallel_up_to_the_concurrency(
    settings: Settings, runtime: ScriptedRuntime, workspace: Path
) -> None:
    concurrency = 3
    active = 0
    peak = 0
    full = asyncio.Event()

    async def overlapping(request: AgentRequest) -> AgentResult:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        try:
            if active >= concurrency:
                full.set()
            # Hold every slot until all are taken, so a worker that ran too many at once
            # (or only one) would show it; the bound keeps a broken engine from hanging.
            await asyncio.wait_for(full.wait(), WAIT_S)
            for _ in range(10):  # give the worker turns to (wrongly) start more runs
                await asyncio.sleep(0)
            return AgentResult(ok=True, outputs={"peak_seen": peak})
        finally:
            active -= 1

    specs = [spec(i, f"Independent task {i}", order=1) for i in range(1, 8)]
    for s in specs:
        runtime.enqueue(s["task_name"], overlapping)
    with another_brahmi(settings.with_(concurrency=concurrency), runtime) as brahmi:
        batch_id, _ = create(brahmi, workspace, specs)
        tasks = settle(brahmi, batch_id)

    assert {t.status for t in tasks.values()} == {S.COMPLETED}
    assert peak == concurrency
    assert len(runtime.calls) == len(specs)


def test_a_worker_with_every_slot_taken_does_not_poll_the_database(
    settings: Settings, runtime: ScriptedRuntime, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # While ready tasks wait for a slot, the worker waits for a run to finish; it used to
    # look for the next ready task's backoff on every turn of its event loop meanwhile.
    async def slow(request: AgentRequest) -> AgentResult:
        for _ in range(50):  # many event-loop turns while holding the slot
            await asyncio.sleep(0)
        return AgentResult(ok=True, outputs={})

    specs = [spec(i, f"Queued task {i}") for i in range(1, 13)]
    for s in specs:
        runtime.enqueue(s["task_name"], slow)
    looks: list[float] = []
    with another_brahmi(settings.with_(concurrency=2), runtime) as brahmi:
        original = brahmi.store.next_run_after

        def counted(after: float = float("-inf"), **options: Any) -> float | None:
            looks.append(after)
            return original(after, **options)

        monkeypatch.setattr(brahmi.store, "next_run_after", counted)
        batch_id, _ = create(brahmi, workspace, specs)
        tasks = settle(brahmi, batch_id)

    assert {t.status for t in tasks.values()} == {S.COMPLETED}
    assert len(looks) <= 3, len(looks)


# -- failures ----------------------------------------------------------------------------


def test_an_agent_failure_fails_the_task_and_blocks_its_dependents_transitively(
    brahmi: Brahmi, runtime: ScriptedRuntime, workspace: Path
) -> None:
    runtime.enqueue("Build the api", Fail("compile error in api.py"))
    batch_id, ids = create(
        brahmi,
        workspace,
        [
            spec(1, "Build the api"),
            spec(2, "Test the api", 1),
            spec(3, "Deploy the api", 2),
            spec(4, "Write the docs"),
        ],
    )
    tasks = settle(brahmi, batch_id)

    failed = tasks["Build the api"]
    assert failed.status is S.FAILED
    assert failed.error == "compile error in api.py"
    assert failed.error_code == "agent_failed"
    assert failed.attempts == 1
    for name in ("Test the api", "Deploy the api"):
        assert tasks[name].status is S.BLOCKED
        assert tasks[name].error_code == "blocked"
        assert ids["1"] in (tasks[name].error or "")
    assert tasks["Write the docs"].status is S.COMPLETED
    assert sorted(names(runtime.calls)) == ["Build the api", "Write the docs"]


def test_a_crash_is_retried_with_backoff_and_then_succeeds(
    brahmi: Brahmi, runtime: ScriptedRuntime, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lifecycle, "BACKOFF_BASE_S", 0.01)
    runtime.enqueue("Flaky build", Crash("connection reset"), {"built": True})
    batch_id, ids = create(brahmi, workspace, [spec(1, "Flaky build"), spec(2, "After it", 1)])
    tasks = settle(brahmi, batch_id)

    task = tasks["Flaky build"]
    assert task.status is S.COMPLETED
    assert task.outputs == {"built": True}
    assert task.attempts == 2
    attempts = brahmi.store.attempts_for(ids["1"])
    assert [a.number for a in attempts] == [1, 2]
    assert [a.status for a in attempts] == ["failed", "succeeded"]
    assert attempts[0].error is not None
    assert "connection reset" in attempts[0].error
    assert attempts[0].finished_at is not None
    assert attempts[1].started_at >= attempts[0].finished_at + 0.01
    assert tasks["After it"].status is S.COMPLETED


def test_crashes_past_max_attempts_fail_the_task_as_infrastructure_failed(
    brahmi: Brahmi, runtime: ScriptedRuntime, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lifecycle, "BACKOFF_BASE_S", 0.01)
    runtime.enqueue("Doomed build", Crash(), Crash(), Crash(), {"never": "reached"})
    batch_id, ids = create(
        brahmi, workspace, [spec(1, "Doomed build", max_attempts=3), spec(2, "After it", 1)]
    )
    tasks = settle(brahmi, batch_id)

    task = tasks["Doomed build"]
    assert task.status is S.FAILED
    assert task.error_code == "infrastructure_failed"
    assert task.attempts == 3
    assert [a.status for a in brahmi.store.attempts_for(ids["1"])] == ["failed"] * 3
    assert tasks["After it"].status is S.BLOCKED


def test_an_unavailable_runtime_fails_the_task_at_once(
    brahmi: Brahmi, runtime: ScriptedRuntime, workspace: Path
) -> None:
    runtime.enqueue("Needs claude", Unavailable("no claude on PATH"), {"never": "reached"})
    batch_id, ids = create(brahmi, workspace, [spec(1, "Needs claude"), spec(2, "After it", 1)])
    tasks = settle(brahmi, batch_id)

    task = tasks["Needs claude"]
    assert task.status is S.FAILED
    assert task.error_code == "runtime_unavailable"
    assert task.error is not None
    assert "no claude on PATH" in task.error
    assert task.attempts == 1
    assert len(brahmi.store.attempts_for(ids["1"])) == 1
    assert tasks["After it"].status is S.BLOCKED


def test_a_task_whose_skill_is_unknown_at_run_time_fails_with_skill_not_found(
    brahmi: Brahmi, runtime: ScriptedRuntime, workspace: Path, tmp_path: Path
) -> None:
    skills = tmp_path / "skills"
    (skills / "passing-step").mkdir(parents=True)
    (skills / "passing-step" / "SKILL.md").write_text(
        "---\nname: passing-step\ndescription: A step that goes away.\n---\nBody.\n",
        encoding="utf-8",
    )
    brahmi.registry.add(str(skills), owner_repo="acme/skills")
    batch_id, _ = create(
        brahmi, workspace, [spec(1, "Orphaned task", skill_id="acme/skills/passing-step")]
    )
    brahmi.registry.remove("acme/skills")  # the skill went away after the batch was stored
    tasks = settle(brahmi, batch_id)

    task = tasks["Orphaned task"]
    assert task.status is S.FAILED
    assert task.error_code == "skill_not_found"
    assert task.attempts == 1
    assert runtime.calls == []


def test_a_qa_task_without_a_verdict_fails_with_qa_output_invalid(
    brahmi: Brahmi, runtime: ScriptedRuntime, workspace: Path
) -> None:
    runtime.enqueue("QA the api", {"summary": "looks good to me"})
    batch_id, _ = create(
        brahmi,
        workspace,
        [
            spec(1, "Build the api"),
            spec(2, "QA the api", 1, inputs={"critiques_tasks": [1]}),
        ],
    )
    tasks = settle(brahmi, batch_id)

    qa = tasks["QA the api"]
    assert qa.is_qa
    assert qa.status is S.FAILED
    assert qa.error_code == "qa_output_invalid"
    assert qa.outputs == {"summary": "looks good to me"}
    assert qa.attempts == 1
    assert tasks["Build the api"].status is S.COMPLETED


# -- time limits -------------------------------------------------------------------------


def test_a_run_past_its_timeout_is_stopped_and_fails_with_timeout(
    brahmi: Brahmi, runtime: ScriptedRuntime, workspace: Path
) -> None:
    runtime.enqueue("Slow task", Hang(60, then={"too": "late"}))
    batch_id, ids = create(brahmi, workspace, [spec(1, "Slow task", timeout_seconds=1)])
    started = time.monotonic()
    tasks = settle(brahmi, batch_id)

    task = tasks["Slow task"]
    assert task.status is S.FAILED
    assert task.error == "timeout after 1 s"
    assert task.error_code == "timeout"
    assert task.outputs is None
    assert runtime.cancelled == ["Slow task"]
    assert 1.0 <= time.monotonic() - started < 10
    assert [a.status for a in brahmi.store.attempts_for(ids["1"])] == ["failed"]


def test_a_run_silent_past_the_idle_limit_ends_with_idle_timeout(
    settings: Settings, runtime: ScriptedRuntime, workspace: Path
) -> None:
    runtime.enqueue("Hung agent", Hang(60))
    with another_brahmi(settings.with_(idle_timeout_s=0.3), runtime) as brahmi:
        batch_id, _ = create(brahmi, workspace, [spec(1, "Hung agent")])
        tasks = settle(brahmi, batch_id)

    task = tasks["Hung agent"]
    assert task.status is S.FAILED
    assert task.error_code == "idle_timeout"
    assert task.error is not None
    assert "0.3 s" in task.error
    assert runtime.cancelled == ["Hung agent"]


def test_runs_side_by_side_each_end_at_their_own_limit(
    settings: Settings, runtime: ScriptedRuntime, workspace: Path
) -> None:
    # One watchdog serves every run of a worker: each still ends at its own time limit
    # or idle limit, and a run that keeps writing output is left alone.
    def chatty(seconds: float) -> Callable[[AgentRequest], Any]:
        async def run(request: AgentRequest) -> AgentResult:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                request.transcript.write("still working\n")
                await asyncio.sleep(0.1)
            return AgentResult(ok=True, outputs={"done": True})

        return run

    runtime.enqueue("Quiet", Hang(60))
    runtime.enqueue("Chatty", chatty(1.6))
    runtime.enqueue("Chatty past its limit", chatty(60))
    specs = [
        spec(1, "Quiet", timeout_seconds=30),
        spec(2, "Chatty", timeout_seconds=30),
        spec(3, "Chatty past its limit", timeout_seconds=1),
    ]
    with another_brahmi(settings.with_(idle_timeout_s=0.8, concurrency=3), runtime) as brahmi:
        batch_id, _ = create(brahmi, workspace, specs)
        tasks = settle(brahmi, batch_id)

    assert tasks["Quiet"].status is S.FAILED
    assert tasks["Quiet"].error_code == "idle_timeout"
    assert tasks["Chatty"].status is S.COMPLETED
    assert tasks["Chatty past its limit"].status is S.FAILED
    assert tasks["Chatty past its limit"].error == "timeout after 1 s"
    assert sorted(runtime.cancelled) == ["Chatty past its limit", "Quiet"]


# -- leases, fencing and cancellation ----------------------------------------------------


def test_a_late_result_of_an_expired_attempt_is_discarded(brahmi: Brahmi, workspace: Path) -> None:
    _, ids = create(brahmi, workspace, [spec(1, "Leased task")])
    store = brahmi.store
    now = time.time()
    [claim] = store.claim("worker-a", 1, now=now, lease_s=5.0)
    assert claim.task.id == ids["1"]

    assert store.expire_leases(now=now + 10_000) == 1
    after_expiry = store.get_task(ids["1"])
    assert after_expiry.status is S.READY
    assert after_expiry.error_code == "infrastructure_retry"
    events_before = store.last_event_id()

    late = AttemptResult(
        task=claim.task,
        attempt_id=claim.attempt_id,
        outcome=lifecycle.Outcome(S.COMPLETED, {"late": True}),
    )
    recorded, claims = store.finish_attempt(late, now=now + 10_001)

    assert recorded is False
    assert claims == []
    task = store.get_task(ids["1"])
    assert task.status is S.READY
    assert task.outputs is None
    assert task.current_attempt_id == after_expiry.current_attempt_id
    assert task.updated_at == after_expiry.updated_at
    new_events = store.events(after_id=events_before)
    assert [e.kind for e in new_events] == ["result_discarded"]
    assert new_events[0].data["attempt_id"] == claim.attempt_id
    assert new_events[0].task_id == ids["1"]
    [attempt] = store.attempts_for(ids["1"])
    assert attempt.status == "discarded"


def test_cancelling_a_running_task_stops_its_run_and_blocks_its_dependents(
    brahmi: Brahmi, runtime: ScriptedRuntime, workspace: Path
) -> None:
    runtime.enqueue("Long build", Hang(60, then={"too": "late"}))
    _, ids = create(
        brahmi, workspace, [spec(1, "Long build"), spec(2, "Test it", 1), spec(3, "Ship it", 2)]
    )

    async def scenario() -> None:
        stop = asyncio.Event()
        running = asyncio.create_task(brahmi.worker().run(stop))
        try:
            await wait_until(lambda: status_of(brahmi, ids["1"]) is S.RUNNING, "it runs")
            cancelled = brahmi.cancel_task(ids["1"])
            assert cancelled.status is S.CANCELLED
            await wait_until(lambda: runtime.cancelled == ["Long build"], "the run is stopped")
        finally:
            stop.set()
            await running

    asyncio.run(scenario())

    task = brahmi.get_task(ids["1"])
    assert task.status is S.CANCELLED
    assert task.error_code == "cancelled"
    assert task.outputs is None
    assert status_of(brahmi, ids["2"]) is S.BLOCKED
    assert status_of(brahmi, ids["3"]) is S.BLOCKED
    [attempt] = brahmi.store.attempts_for(ids["1"])
    assert attempt.status == "cancelled"
    kinds = [e.kind for e in brahmi.store.events(task_id=ids["1"])]
    assert "outputs" not in kinds
    assert names(runtime.calls) == ["Long build"]


def test_a_result_arriving_after_a_cancel_is_never_recorded(
    settings: Settings, runtime: ScriptedRuntime, workspace: Path
) -> None:
    release = asyncio.Event()

    async def finishes_when_released(request: AgentRequest) -> AgentResult:
        await release.wait()
        return AgentResult(ok=True, outputs={"too": "late"})

    runtime.enqueue("Long build", finishes_when_released)
    # A heartbeat this slow never notices the cancel: the run itself reports back.
    with another_brahmi(settings.with_(heartbeat_interval_s=60.0), runtime) as brahmi:
        _, ids = create(brahmi, workspace, [spec(1, "Long build"), spec(2, "Test it", 1)])

        def discarded() -> bool:
            return any(e.kind == "result_discarded" for e in brahmi.store.events(task_id=ids["1"]))

        async def scenario() -> None:
            stop = asyncio.Event()
            running = asyncio.create_task(brahmi.worker().run(stop))
            try:
                await wait_until(lambda: status_of(brahmi, ids["1"]) is S.RUNNING, "it runs")
                brahmi.cancel_task(ids["1"])
                release.set()
                await wait_until(discarded, "the late result is discarded")
            finally:
                stop.set()
                await running

        asyncio.run(scenario())
        task = brahmi.get_task(ids["1"])
        attempts = brahmi.store.attempts_for(ids["1"])
        dependent = brahmi.get_task(ids["2"])

    assert task.status is S.CANCELLED
    assert task.outputs is None
    assert dependent.status is S.BLOCKED
    assert [a.status for a in attempts] == ["cancelled"]
    assert runtime.cancelled == []


def test_cancelling_a_finished_task_is_an_invalid_transition(
    brahmi: Brahmi, workspace: Path
) -> None:
    batch_id, ids = create(brahmi, workspace, [spec(1, "Quick task")])
    settle(brahmi, batch_id)
    assert status_of(brahmi, ids["1"]) is S.COMPLETED

    with pytest.raises(errors.InvalidTransition) as caught:
        brahmi.cancel_task(ids["1"])
    assert caught.value.code == "invalid_transition"
    assert status_of(brahmi, ids["1"]) is S.COMPLETED


def test_cancelling_an_unknown_task_is_task_not_found(brahmi: Brahmi) -> None:
    with pytest.raises(errors.TaskNotFound) as caught:
        brahmi.cancel_task("00000000-0000-4000-8000-000000000000")
    assert caught.value.code == "task_not_found"


def test_recover_takes_back_the_lease_of_a_killed_worker_on_this_host(
    brahmi: Brahmi, workspace: Path
) -> None:
    _, ids = create(brahmi, workspace, [spec(1, "Orphaned by a crash")])
    dead_owner = f"{socket.gethostname()}:{dead_pid()}:dead"
    [claim] = brahmi.store.claim(dead_owner, 1, now=time.time(), lease_s=3600.0)
    assert brahmi.get_task(ids["1"]).lease_owner == dead_owner

    taken = brahmi.worker().recover()

    assert taken == 1
    task = brahmi.get_task(ids["1"])
    assert task.status is S.READY
    assert task.lease_owner is None
    assert task.error_code == "infrastructure_retry"
    [attempt] = brahmi.store.attempts_for(ids["1"])
    assert attempt.id == claim.attempt_id
    assert attempt.status == "expired"


def test_recover_leaves_the_leases_of_live_workers_alone(brahmi: Brahmi, workspace: Path) -> None:
    _, ids = create(brahmi, workspace, [spec(1, "Held by someone else")])
    elsewhere = "another-host:1:abc"
    brahmi.store.claim(elsewhere, 1, now=time.time(), lease_s=3600.0)

    assert brahmi.worker().recover() == 0
    assert status_of(brahmi, ids["1"]) is S.RUNNING


def test_two_workers_on_one_database_never_claim_the_same_task(
    settings: Settings, runtime: ScriptedRuntime, workspace: Path
) -> None:
    noop = settings.with_(forced_executor="noop", concurrency=4)
    # 100 independent tasks, and 100 more each waiting on one of them.
    specs = [spec(i, f"Task number {i}") for i in range(1, 101)]
    specs += [spec(i, f"Task number {i}", i - 100, order=2) for i in range(101, 201)]
    with another_brahmi(noop, runtime) as first, another_brahmi(noop, runtime) as second:
        batch_id, ids = create(first, workspace, specs)
        failures: list[BaseException] = []

        def work(instance: Brahmi) -> None:
            try:
                asyncio.run(_settle(instance, batch_id))
            except BaseException as exc:
                failures.append(exc)

        threads = [threading.Thread(target=work, args=(b,)) for b in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in threads)
        assert failures == []

        tasks = first.list_tasks(batch_id=batch_id)
        attempts = {task_id: first.store.attempts_for(task_id) for task_id in ids.values()}

    assert len(tasks) == 200
    assert {t.status for t in tasks} == {S.COMPLETED}
    assert all(t.attempts == 1 for t in tasks)
    for task_id, rows in attempts.items():
        assert [a.status for a in rows] == ["succeeded"], task_id
    # Which worker took which task is up to the race (on a busy machine one worker may take
    # them all); what may never happen is a task claimed or recorded twice, checked above.
    assert runtime.calls == []  # the noop runtime ran them, not the scripted one


# -- events and transcripts --------------------------------------------------------------


def test_every_status_change_has_an_event_and_event_ids_increase(
    brahmi: Brahmi, runtime: ScriptedRuntime, workspace: Path
) -> None:
    runtime.enqueue("Breaks", Fail("nope"))
    batch_id, ids = create(
        brahmi,
        workspace,
        [
            spec(1, "Works"),
            spec(2, "After works", 1),
            spec(3, "Breaks"),
            spec(4, "After breaks", 3),
        ],
    )
    tasks = settle(brahmi, batch_id)
    events = brahmi.store.events()

    event_ids = [e.id for e in events]
    assert event_ids == sorted(set(event_ids))
    for task in tasks.values():
        mine = [e for e in events if e.task_id == task.id]
        assert mine[0].kind == "task_created"
        status = mine[0].data["status"]
        for change in (e for e in mine if e.kind == "status_changed"):
            assert change.data["from"] == status, task.task_name
            status = change.data["to"]
        assert status == task.status.value, task.task_name
    walked = [
        (e.data["from"], e.data["to"])
        for e in events
        if e.task_id == ids["1"] and e.kind == "status_changed"
    ]
    assert walked == [("ready", "running"), ("running", "completed")]
    blocked = [e for e in events if e.task_id == ids["4"] and e.kind == "status_changed"]
    assert [(e.data["from"], e.data["to"]) for e in blocked] == [("planned", "blocked")]


def test_results_recorded_together_promote_their_shared_dependents_once(
    brahmi: Brahmi, workspace: Path
) -> None:
    # Group commit: results that finish together share one transaction, and the
    # dependents they make ready are promoted once every result of it is recorded.
    _, ids = create(
        brahmi,
        workspace,
        [
            spec(1, "Left"),
            spec(2, "Right"),
            spec(3, "Third"),
            spec(4, "Needs both", 1, 2),
            spec(5, "Needs left", 1),
            spec(6, "Needs third", 3),
        ],
    )
    store = brahmi.store
    now = time.time()
    claims = store.claim("worker-a", 3, now=now, lease_s=30.0)
    assert sorted(c.task.id for c in claims) == sorted([ids["1"], ids["2"], ids["3"]])
    done = {
        c.task.id: AttemptResult(
            task=c.task, attempt_id=c.attempt_id, outcome=lifecycle.Outcome(S.COMPLETED, {})
        )
        for c in claims
    }
    events_before = store.last_event_id()

    recorded, _ = store.finish_attempts(
        [done[ids["1"]], done[ids["2"]]], now=now + 1, worker_id="worker-a"
    )

    assert recorded == [True, True]
    assert status_of(brahmi, ids["4"]) is S.READY
    assert status_of(brahmi, ids["5"]) is S.READY
    assert status_of(brahmi, ids["6"]) is S.PLANNED  # its dependency still runs
    promoted = [
        e.task_id
        for e in store.events(after_id=events_before)
        if e.kind == "status_changed" and e.data["to"] == "ready"
    ]
    assert sorted(promoted) == sorted([ids["4"], ids["5"]])


def test_an_attempt_that_writes_output_has_its_transcript_file_on_the_attempt_row(
    brahmi: Brahmi, runtime: ScriptedRuntime, workspace: Path
) -> None:
    runtime.enqueue("Talkative task", {"said": "plenty"})
    batch_id, ids = create(brahmi, workspace, [spec(1, "Talkative task")])
    settle(brahmi, batch_id)

    [attempt] = brahmi.store.attempts_for(ids["1"])
    assert attempt.status == "succeeded"
    assert attempt.transcript_path is not None
    transcript = Path(attempt.transcript_path)
    assert transcript.is_file()
    assert transcript.is_relative_to(brahmi.settings.transcripts_dir)
    text = transcript.read_text(encoding="utf-8")
    assert "scripted outputs for Talkative task" in text
    assert ids["1"] in text  # the header names the task
    assert attempt.executor == "scripted"
    assert attempt.usage == {"input_tokens": 10, "output_tokens": 20, "cost_usd": 0.001}
    assert attempt.skill_version is not None
    assert attempt.skill_version.startswith("sha256:")
    task = brahmi.get_task(ids["1"])
    assert task.skill_version == attempt.skill_version


def test_a_claimed_task_is_the_task_as_stored_json_and_booleans_decoded(
    brahmi: Brahmi, workspace: Path
) -> None:
    inputs = {"paths": ["a.py"], "strict": True, "limits": {"lines": 80}}
    _, ids = create(brahmi, workspace, [spec(1, "build", inputs=inputs)])

    (claim,) = brahmi.store.claim("worker-1", 1, now=time.time(), lease_s=30.0)

    assert claim.task == replace(brahmi.store.get_task(ids["1"]), dependencies=())
    assert claim.task.inputs == inputs
    assert claim.task.is_qa is False
    assert claim.task.has_subtasks is False


def test_a_claimed_attempt_names_its_runtime_while_it_runs(brahmi: Brahmi, workspace: Path) -> None:
    _, ids = create(brahmi, workspace, [spec(1, "build")])

    brahmi.store.claim("worker-1", 1, now=time.time(), lease_s=30.0)

    (attempt,) = brahmi.store.attempts_for(ids["1"])
    assert attempt.status == "running"
    assert attempt.executor == brahmi.store.get_task(ids["1"]).runtime == "scripted"
