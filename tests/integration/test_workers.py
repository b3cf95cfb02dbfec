"""Workers on a shared database: runtimes on tasks, claims by runtime, the worker registry,
and (on PostgreSQL) LISTEN/NOTIFY. Each test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Connection

from brahmi.config import Settings
from brahmi.domain.models import TaskStatus
from brahmi.service import Brahmi
from brahmi.testing import ScriptedRuntime, registry_with
from tests.integration.support import create, settle, spec

S = TaskStatus
WAIT_S = 10.0


@pytest.fixture
def database_url(either_database: str | None) -> str | None:
    """Every test here runs on SQLite and on PostgreSQL."""
    return either_database


def test_a_new_task_stores_the_runtime_it_will_run_with(brahmi: Brahmi, workspace: Path) -> None:
    _, ids = create(brahmi, workspace, [spec(1, "One"), spec(2, "Two", 1)])

    assert {brahmi.get_task(i).runtime for i in ids.values()} == {"scripted"}


def test_a_subtask_stores_its_runtime_too(brahmi: Brahmi, workspace: Path) -> None:
    _, ids = create(brahmi, workspace, [spec(1, "Parent")])

    sub = brahmi.create_subtask(ids["1"], {"task_name": "Child", "description": "Do it."})

    assert sub.runtime == "scripted"


def test_a_worker_claims_only_tasks_of_the_runtimes_it_serves(
    brahmi: Brahmi, workspace: Path
) -> None:
    _, ids = create(brahmi, workspace, [spec(i, f"Task {i}") for i in range(1, 4)])
    store = brahmi.store
    now = time.time()

    assert store.claim("elsewhere", 10, now=now, lease_s=30, runtimes=["claude-code"]) == []
    assert store.claim("elsewhere", 10, now=now, lease_s=30, runtimes=[]) == []
    claimed = store.claim("here", 10, now=now, lease_s=30, runtimes=["noop", "scripted"])

    assert sorted(c.task.id for c in claimed) == sorted(ids.values())


def test_a_worker_without_the_runtime_leaves_the_batch_to_one_that_has_it(
    settings: Settings, runtime: ScriptedRuntime, workspace: Path
) -> None:
    lacking = Brahmi(settings.with_(worker_runtimes=("noop",)), runtimes=registry_with(runtime))
    able = Brahmi(settings.with_(worker_runtimes=("scripted",)), runtimes=registry_with(runtime))
    try:
        batch_id, ids = create(able, workspace, [spec(1, "Alpha"), spec(2, "Beta", 1)])

        async def lacking_worker_idles() -> None:
            stop = asyncio.Event()
            running = asyncio.create_task(lacking.worker().run(stop))
            await asyncio.sleep(0.3)
            stop.set()
            await running

        asyncio.run(lacking_worker_idles())
        assert runtime.calls == []
        assert lacking.get_task(ids["1"]).status is S.READY

        tasks = settle(able, batch_id)
        assert {t.status for t in tasks.values()} == {S.COMPLETED}
    finally:
        lacking.close()
        able.close()


def test_a_running_worker_is_listed_live_with_its_heartbeat_and_gone_once_stopped(
    brahmi: Brahmi, settings: Settings
) -> None:
    worker = brahmi.worker()
    worker.settings = worker.settings.with_(
        worker_runtimes=("scripted",), heartbeat_interval_s=0.05
    )
    seen: list[float] = []

    async def scenario() -> None:
        stop = asyncio.Event()
        running = asyncio.create_task(worker.run(stop))
        deadline = time.monotonic() + WAIT_S
        while len(seen) < 2 and time.monotonic() < deadline:
            live = brahmi.store.live_workers(now=time.time(), stale_after_s=settings.lease_s)
            mine = [w for w in live if w.id == worker.id]
            if mine and (not seen or mine[0].heartbeat_at > seen[-1]):
                assert mine[0].runtimes == ["scripted"]
                assert mine[0].concurrency == settings.concurrency
                seen.append(mine[0].heartbeat_at)
            await asyncio.sleep(0.02)
        stop.set()
        await running

    asyncio.run(scenario())

    assert len(seen) == 2, "the heartbeat never advanced"
    live = brahmi.store.live_workers(now=time.time(), stale_after_s=settings.lease_s)
    assert worker.id not in {w.id for w in live}


def test_a_worker_not_heard_from_within_the_staleness_limit_is_not_live(brahmi: Brahmi) -> None:
    store = brahmi.store
    store.register_worker("gone", host="h", pid=1, runtimes=None, concurrency=2, now=100.0)
    store.register_worker("here", host="h", pid=2, runtimes=None, concurrency=2, now=100.0)
    store.touch_worker("here", now=140.0)

    live = store.live_workers(now=150.0, stale_after_s=30.0)

    assert [w.id for w in live] == ["here"]
    assert live[0].runtimes is None


def test_a_worker_registered_again_under_its_id_is_live_again(brahmi: Brahmi) -> None:
    store = brahmi.store
    store.register_worker("w", host="h", pid=1, runtimes=["a"], concurrency=2, now=100.0)
    store.worker_stopped("w", now=110.0)
    assert store.live_workers(now=115.0, stale_after_s=30.0) == []

    store.register_worker("w", host="h2", pid=7, runtimes=None, concurrency=4, now=120.0)

    [again] = store.live_workers(now=125.0, stale_after_s=30.0)
    assert (again.id, again.host, again.pid, again.runtimes, again.concurrency) == (
        "w",
        "h2",
        7,
        None,
        4,
    )
    assert (again.started_at, again.heartbeat_at, again.stopped_at) == (120.0, 120.0, None)


def outside_a_transaction(*, connection: Connection) -> bool:
    """Whether the driver's connection under ``connection`` is in no transaction."""
    raw = connection.connection.dbapi_connection
    if isinstance(raw, sqlite3.Connection):
        return not raw.in_transaction
    import psycopg

    assert isinstance(raw, psycopg.Connection)
    return raw.info.transaction_status is psycopg.pq.TransactionStatus.IDLE


def test_a_workers_own_connection_answers_as_the_pool_does_and_is_left_outside_a_transaction(
    brahmi: Brahmi, workspace: Path
) -> None:
    """A worker registers, looks for leases and backoffs, reads its project and stops on
    the connection its Recorder keeps: what it writes is committed, what it reads is what
    a connection from the pool reads, and none of it leaves a transaction open (a SQLite
    read takes no lock there; PostgreSQL's are committed)."""
    store = brahmi.store
    _, ids = create(brahmi, workspace, [spec(1, "Ready"), spec(2, "Waiting", 1)])
    project = brahmi.project_for(workspace)
    recorder = store.recorder()
    try:
        recorder.on_connection(
            store.register_worker, "w", host="h", pid=1, runtimes=None, concurrency=2, now=100.0
        )
        assert recorder.on_connection(outside_a_transaction)
        assert [w.id for w in store.live_workers(now=105.0, stale_after_s=30.0)] == ["w"]

        assert recorder.on_connection(store.get_project, project.id) == project
        assert recorder.next_run_after() == store.next_run_after() is not None
        assert recorder.on_connection(store.running_lease_owners) == {}
        [claim] = recorder.claim("w", 2, now=time.time(), lease_s=30.0)
        assert claim.task.id == ids["1"]
        assert recorder.on_connection(store.running_lease_owners) == {"w": [ids["1"]]}
        assert recorder.on_connection(outside_a_transaction)

        recorder.on_connection(store.worker_stopped, "w", now=110.0)
        assert recorder.on_connection(outside_a_transaction)
        assert store.live_workers(now=115.0, stale_after_s=30.0) == []
    finally:
        recorder.close()


@pytest.mark.postgres
@pytest.mark.parametrize("either_database", ["postgresql"], indirect=True)
def test_storing_a_ready_task_notifies_a_listener(
    brahmi: Brahmi, settings: Settings, workspace: Path
) -> None:
    woken = threading.Event()
    listener = brahmi.store.ready_listener(woken.set)
    assert listener is not None
    listener.start()
    elsewhere = Brahmi(settings)  # another client: its own connections
    try:
        assert listener.listening.wait(WAIT_S)
        assert woken.wait(WAIT_S)  # the catch-up call after connecting
        woken.clear()
        create(elsewhere, workspace, [spec(1, "Planned later", 2), spec(2, "Ready now")])
        assert woken.wait(WAIT_S), "no notification arrived"
    finally:
        listener.stop()
        elsewhere.close()


@pytest.mark.postgres
@pytest.mark.parametrize("either_database", ["postgresql"], indirect=True)
def test_a_listener_skips_what_its_own_process_made_ready(brahmi: Brahmi, workspace: Path) -> None:
    # A worker claims what its own transaction made ready in that transaction; waking it
    # for its own commits only cost an empty claim per step (half a chain's throughput).
    woken = threading.Event()
    listener = brahmi.store.ready_listener(woken.set)
    assert listener is not None
    listener.start()
    try:
        assert listener.listening.wait(WAIT_S)
        assert woken.wait(WAIT_S)
        woken.clear()
        create(brahmi, workspace, [spec(1, "Ready now")])
        assert not woken.wait(1.0)
    finally:
        listener.stop()


@pytest.mark.postgres
@pytest.mark.parametrize("either_database", ["postgresql"], indirect=True)
def test_a_dependency_completed_elsewhere_notifies_the_listener(
    brahmi: Brahmi, settings: Settings, workspace: Path
) -> None:
    _, ids = create(brahmi, workspace, [spec(1, "First"), spec(2, "Second", 1)])
    woken = threading.Event()
    elsewhere = Brahmi(settings)  # the listening "process" is this one
    listener = elsewhere.store.ready_listener(woken.set)
    assert listener is not None
    listener.start()
    try:
        assert listener.listening.wait(WAIT_S)
        claimed = brahmi.store.claim("w", 1, now=time.time(), lease_s=30)
        assert [c.task.id for c in claimed] == [ids["1"]]
        woken.clear()
        from brahmi.domain import lifecycle
        from brahmi.store.claims import AttemptResult

        outcome = lifecycle.after_success({"ok": True}, is_qa=False)
        result = AttemptResult(claimed[0].task, claimed[0].attempt_id, outcome)
        assert brahmi.store.finish_attempt(result, now=time.time())[0]
        assert woken.wait(WAIT_S), "no notification when the dependent became ready"
        assert brahmi.get_task(ids["2"]).status is S.READY
    finally:
        listener.stop()
        elsewhere.close()


@contextlib.contextmanager
def watched(
    brahmi: Brahmi, settings: Settings, runtimes: list[str]
) -> Iterator[tuple[threading.Event, Brahmi]]:
    """A started SQLite watcher of ``brahmi``'s database for a worker serving ``runtimes``,
    and another client of the database (its own connections, as another process would
    have): the event the watcher sets, and that client."""
    woken = threading.Event()
    watcher = brahmi.store.ready_listener(woken.set, runtimes)
    watcher.start()
    elsewhere = Brahmi(settings)
    try:
        assert watcher.listening.wait(WAIT_S)
        yield woken, elsewhere
    finally:
        watcher.stop()
        elsewhere.close()


@pytest.mark.parametrize("either_database", ["sqlite"], indirect=True)
def test_a_ready_task_stored_elsewhere_wakes_a_sqlite_watcher(
    brahmi: Brahmi, settings: Settings, workspace: Path
) -> None:
    with watched(brahmi, settings, ["scripted"]) as (woken, elsewhere):
        assert not woken.wait(0.2)  # nothing claimable yet: no catch-up call
        create(elsewhere, workspace, [spec(1, "Ready now"), spec(2, "Planned", 1)])
        assert woken.wait(WAIT_S), "the commit of a ready task did not wake the watcher"


@pytest.mark.parametrize("either_database", ["sqlite"], indirect=True)
def test_a_sqlite_watcher_catches_up_on_a_task_made_ready_before_it_started(
    brahmi: Brahmi, workspace: Path
) -> None:
    create(brahmi, workspace, [spec(1, "Ready before")])
    woken = threading.Event()
    watcher = brahmi.store.ready_listener(woken.set)
    watcher.start()
    try:
        assert woken.wait(WAIT_S), "no catch-up call for a task already claimable"
    finally:
        watcher.stop()


@pytest.mark.parametrize("either_database", ["sqlite"], indirect=True)
def test_a_sqlite_watcher_sleeps_through_commits_that_leave_nothing_it_could_claim(
    brahmi: Brahmi, settings: Settings, workspace: Path
) -> None:
    with watched(brahmi, settings, ["claude-code"]) as (woken, elsewhere):
        # Ready, but of a runtime this worker does not serve; then claimed elsewhere.
        create(elsewhere, workspace, [spec(1, "Not mine")])
        elsewhere.store.claim("other", 1, now=time.time(), lease_s=30)
        assert not woken.wait(0.5)


def layered_specs(layers: int, width: int) -> list[dict[str, object]]:
    """Task j of each layer depends on tasks j and j+1 (mod width) of the layer before."""
    specs = []
    for layer in range(layers):
        for j in range(width):
            uid = layer * width + j + 1
            deps = (
                []
                if layer == 0
                else sorted(
                    {(layer - 1) * width + j + 1, (layer - 1) * width + (j + 1) % width + 1}
                )
            )
            specs.append(spec(uid, f"Layer {layer} task {j}", *deps))
    return specs


def test_two_workers_completing_the_dependencies_of_one_task_at_once_both_promote_it(
    settings: Settings, workspace: Path
) -> None:
    # Two workers finishing a task's two dependencies in concurrent transactions must not
    # both conclude "the other one is still running" (on PostgreSQL, READ COMMITTED):
    # every task of a layered graph has two dependencies, so a lost promotion shows up
    # as a task left planned and the graph never settling.
    runtime = ScriptedRuntime()
    first = Brahmi(settings.with_(concurrency=8), runtimes=registry_with(runtime))
    second = Brahmi(settings.with_(concurrency=8), runtimes=registry_with(runtime))
    try:
        batch_id, _ = create(first, workspace, layered_specs(layers=12, width=10))
        done = threading.Event()

        def work(instance: Brahmi) -> None:
            async def until_done() -> None:
                stop = asyncio.Event()
                running = asyncio.create_task(instance.worker().run(stop))
                while not done.is_set():
                    await asyncio.sleep(0.02)
                stop.set()
                await running

            asyncio.run(until_done())

        threads = [threading.Thread(target=work, args=(b,)) for b in (first, second)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        try:
            while time.monotonic() < deadline:
                counts = first.store.status_counts(batch_id=batch_id)
                if counts.get(S.COMPLETED) == 120:
                    break
                time.sleep(0.05)
        finally:
            done.set()
            for thread in threads:
                thread.join(30)

        assert first.store.status_counts(batch_id=batch_id) == {S.COMPLETED: 120}
    finally:
        first.close()
        second.close()


def test_a_sqlite_watcher_never_creates_a_database_that_went_away(tmp_path: Path) -> None:
    from brahmi.store.sqlite_watch import DataVersionWatcher

    missing = tmp_path / "gone" / "brahmi.db"
    missing.parent.mkdir()
    watcher = DataVersionWatcher(str(missing), lambda: None)
    watcher.start()
    time.sleep(0.2)
    watcher.stop()

    assert not watcher.listening.is_set()
    assert list(missing.parent.iterdir()) == []


def test_sqlite_watchers_of_the_same_runtimes_keep_their_own_parameters() -> None:
    from brahmi.store.sqlite_watch import _ready_query

    sql, params = _ready_query(["a", "b"])
    first = list(params)
    params[0] = 123.0  # what a watcher does at each look
    again_sql, again = _ready_query(("a", "b"))

    assert again_sql == sql
    assert again == first
    assert first[:3] == [0.0, "a", "b"]


@pytest.mark.parametrize("either_database", ["sqlite"], indirect=True)
def test_a_busy_workers_watcher_reads_seldom_until_nudged(
    brahmi: Brahmi, settings: Settings, workspace: Path
) -> None:
    from brahmi.store.sqlite_watch import DataVersionWatcher

    woken = threading.Event()
    path = brahmi.store.engine.url.database
    assert path is not None
    elsewhere = Brahmi(settings)
    # Its first batch also indexes the skills (commits of their own): before the watcher.
    create(elsewhere, workspace, [spec(9, "Warm-up")])
    elsewhere.store.claim("other", 1, now=time.time(), lease_s=30)
    watcher = DataVersionWatcher(path, woken.set, busy=lambda: True, interval_s=(0.005, 60.0))
    watcher.start()
    try:
        assert watcher.listening.wait(WAIT_S)
        create(elsewhere, workspace, [spec(1, "First")])
        assert woken.wait(WAIT_S)  # read at the short interval, then busy: the long one
        woken.clear()
        create(elsewhere, workspace, [spec(2, "Second")])
        assert not woken.wait(0.5), "a busy worker's watcher read within its long interval"
        watcher.nudge()  # the worker has no run left
        assert woken.wait(WAIT_S), "a nudge did not make the watcher read"
    finally:
        watcher.stop()
        elsewhere.close()


@pytest.mark.parametrize("either_database", ["sqlite"], indirect=True)
def test_a_sqlite_watcher_outlives_a_failing_callback(
    brahmi: Brahmi, settings: Settings, workspace: Path
) -> None:
    calls: list[int] = []
    woken = threading.Event()

    def on_ready() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a broken callback")
        woken.set()

    create(brahmi, workspace, [spec(1, "Ready")])
    watcher = brahmi.store.ready_listener(on_ready)
    watcher.start()
    try:
        assert woken.wait(WAIT_S), "the watcher stopped after its callback raised"
    finally:
        watcher.stop()
