"""The SQLite WAL is written back in the background while a worker runs (store/wal_writeback.py):
syncs while the log grows, none while it does not, and a setting that turns it off."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from brahmi.config import Settings, load_settings
from brahmi.errors import BrahmiError
from brahmi.service import Brahmi
from brahmi.store import wal_writeback
from brahmi.store.wal_writeback import WalWriteback
from tests.integration.support import create, spec

WAIT_S = 10.0


def wait_until(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


@pytest.fixture
def wal_database(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    database = sqlite3.connect(tmp_path / "brahmi.db", isolation_level=None)
    database.execute("PRAGMA journal_mode=WAL")
    database.execute("PRAGMA synchronous=NORMAL")
    database.execute("CREATE TABLE notes (body TEXT)")
    with contextlib.closing(database):
        yield database


@pytest.fixture
def writeback(wal_database: sqlite3.Connection, tmp_path: Path) -> Iterator[WalWriteback]:
    """A started writeback of ``wal_database``, once it synced the WAL it found."""
    started = WalWriteback(str(tmp_path / "brahmi.db"), (0.01, 0.05))
    started.start()
    try:
        wait_until(lambda: started.syncs >= 1, "the WAL written before it started")
        yield started
    finally:
        started.stop()


def test_the_wal_is_synced_while_it_grows_and_left_alone_while_it_does_not(
    wal_database: sqlite3.Connection, writeback: WalWriteback
) -> None:
    quiet = writeback.syncs
    time.sleep(0.3)
    assert writeback.syncs == quiet, "synced a WAL that did not change"

    wal_database.execute("INSERT INTO notes VALUES ('one')")
    wait_until(lambda: writeback.syncs > quiet, "a growing WAL was not synced")


def test_a_wal_that_goes_away_and_comes_back_is_followed(
    wal_database: sqlite3.Connection, writeback: WalWriteback, tmp_path: Path
) -> None:
    wal_database.close()  # the last connection: SQLite checkpoints and deletes the WAL
    assert not (tmp_path / "brahmi.db-wal").exists()
    again = sqlite3.connect(tmp_path / "brahmi.db", isolation_level=None)
    with contextlib.closing(again):
        again.execute("PRAGMA journal_mode=WAL")
        before = writeback.syncs
        again.execute("INSERT INTO notes VALUES ('two')")
        wait_until(lambda: writeback.syncs > before, "the new WAL was not synced")


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads /proc/self/fd")
def test_a_worker_writes_its_wal_back_while_it_runs(
    settings: Settings, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[str] = []
    sync = wal_writeback._sync

    def recording(fd: int) -> None:
        synced.append(str(Path(f"/proc/self/fd/{fd}").readlink()))
        sync(fd)

    monkeypatch.setattr(wal_writeback, "_sync", recording)
    brahmi = Brahmi(settings.with_(forced_executor="noop"))
    try:
        _, ids = create(
            brahmi,
            workspace,
            [spec(i, f"Step {i}", *([i - 1] if i > 1 else [])) for i in range(1, 201)],
        )

        async def run() -> None:
            worker = brahmi.worker()
            stop = asyncio.Event()
            running = asyncio.create_task(worker.run(stop))
            while brahmi.get_task(ids["200"]).status.value != "completed":
                await asyncio.sleep(0.01)
            stop.set()
            await running

        asyncio.run(asyncio.wait_for(run(), WAIT_S * 3))
    finally:
        brahmi.close()

    assert synced, "the worker never wrote its WAL back"
    assert set(synced) == {str((settings.home / "brahmi.db-wal").resolve())}


def test_the_writeback_can_be_turned_off(brahmi: Brahmi) -> None:
    assert load_settings({"BRAHMI_WAL_WRITEBACK_S": "0"}).wal_writeback_s == 0
    assert load_settings({}).wal_writeback_s == 0.01
    with pytest.raises(BrahmiError, match="0 \\(off\\) or positive"):
        load_settings({"BRAHMI_WAL_WRITEBACK_S": "-1"})
    assert brahmi.store.wal_writeback(0) is None
    assert isinstance(brahmi.store.wal_writeback(0.01), WalWriteback)
