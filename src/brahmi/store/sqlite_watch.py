"""SQLite: waking idle workers when another process makes tasks ready (DESIGN §9).

SQLite has no ``LISTEN/NOTIFY``. What it has is ``PRAGMA data_version``: a number, read
from the WAL index in shared memory without a lock or a transaction, that changes whenever
another connection (of this process or another) commits. A :class:`DataVersionWatcher`
holds one read-only connection in a thread, reads that number every
:data:`WATCH_INTERVAL_S`, and only when it changed asks whether a task is ready that the
worker could claim (the claim's own conditions, one row from the ready index). Only then
is ``on_ready`` called, so a busy database wakes an idle worker for work it can take, not
for every commit. While its worker has runs in flight it reads less often (the worker looks
at the database as each run ends), and the worker nudges it when no run is left.

It has the interface of :class:`~brahmi.store.notify.ReadyListener`. Polling
(``BRAHMI_POLL_S``) stays the fallback, and a worker's own process still wakes it
directly.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from sqlalchemy import bindparam, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.sql.elements import BindParameter

from brahmi.store import tables as t

log = logging.getLogger(__name__)

#: Seconds between two readings of ``data_version``: while the database changes, and the
#: most (after a quiet spell the wait doubles from the first to the most). Each reading
#: costs about 0.1 ms of CPU, mostly the thread's wake-up: every 5 ms that is 2 % of a
#: core, every 50 ms 0.2 %. So what other processes make ready is seen within 5 ms while
#: they commit, and within 50 ms after a quiet spell (the poll, ``BRAHMI_POLL_S``, is
#: 0.5 s by default).
WATCH_INTERVAL_S = (0.005, 0.05)
#: Seconds without a change after which the readings slow down.
QUIET_S = 1.0
#: Seconds between attempts to open the database again after an error: the first, the most.
REOPEN_S = (0.5, 10.0)


def _ready_query(runtimes: Sequence[str] | None) -> tuple[str, list[object]]:
    """The SQL asking whether a task is claimable now (ready, its backoff over, and of one
    of ``runtimes`` unless None: the claim's own conditions, store/claims.py), with its
    parameters in order; the first, ``run_after``'s bound, is set at each look.

    Compiled once per set of runtimes in a process (compiling it cost a worker's start
    0.4–0.8 ms); each call returns its own list of parameters.
    """
    sql, params = _compiled_ready_query(None if runtimes is None else tuple(runtimes))
    return sql, list(params)


@functools.lru_cache(maxsize=32)
def _compiled_ready_query(runtimes: tuple[str, ...] | None) -> tuple[str, tuple[object, ...]]:
    now: BindParameter[float] = bindparam("p_now", 0.0)
    query = select(t.tasks.c.id).where(t.IS_READY & (t.tasks.c.run_after <= now))
    if runtimes is not None:
        query = query.where(t.tasks.c.runtime.in_(list(runtimes)))
    compiled = query.limit(1).compile(
        dialect=sqlite.dialect(), compile_kwargs={"render_postcompile": True}
    )
    names = compiled.positiontup or []
    assert names and names[0] == "p_now", names
    return str(compiled), tuple(compiled.params[name] for name in names)


class DataVersionWatcher:
    """A thread that calls ``on_ready`` when another connection's commit leaves a task
    ready that a worker serving ``runtimes`` could claim.

    Args:
        path: The SQLite database file.
        on_ready: Called from the watcher's thread; it must be thread-safe (such as
            :meth:`brahmi.engine.worker.Worker.wake`). Also called once the watcher has
            opened the database if a task is claimable then, as a catch-up.
        runtimes: The runtimes the worker serves; None for all.
        busy: Whether the worker has runs in flight. A busy worker looks at the database
            again as each run ends, and the changes are mostly its own: the watcher then
            reads every ``interval_s[1]`` seconds, at about a tenth of the cost.
        interval_s: Seconds between two readings of ``data_version``: while the database
            changes, and the most (see :data:`WATCH_INTERVAL_S`).
    """

    def __init__(
        self,
        path: str,
        on_ready: Callable[[], None],
        runtimes: Sequence[str] | None = None,
        busy: Callable[[], bool] = lambda: False,
        interval_s: tuple[float, float] = WATCH_INTERVAL_S,
    ) -> None:
        self._path = path
        self._on_ready = on_ready
        self._busy = busy
        self._interval_s = interval_s
        self._sql, self._params = _ready_query(runtimes)
        self._stop = threading.Event()
        #: Set by stop() and nudge(): ends the wait between two readings early.
        self._nudged = threading.Event()
        self._thread = threading.Thread(target=self._run, name="brahmi-watch", daemon=True)
        #: Set once the database is open, its first reading and catch-up done (tests and
        #: benchmarks wait on it).
        self.listening = threading.Event()

    def start(self) -> None:
        """Start watching in the background."""
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop watching; returns once the reading in progress, if any, is done."""
        self._stop.set()
        self._nudged.set()
        self._thread.join(timeout_s)

    def nudge(self) -> None:
        """The worker has no run left: read now, and every ``interval_s[0]`` seconds while
        the database changes (a busy worker's watcher reads only every ``interval_s[1]``).
        Safe from any thread."""
        self._nudged.set()

    def _run(self) -> None:
        delay, most = REOPEN_S
        while not self._stop.is_set():
            try:
                # mode=rw: a database file that went away is an error, never created anew.
                uri = f"{Path(self._path).resolve().as_uri()}?mode=rw"
                with contextlib.closing(sqlite3.connect(uri, uri=True)) as conn:
                    conn.execute("PRAGMA query_only=ON")
                    self._watch(conn)
            except Exception as exc:  # nothing ends the thread: the worker would only poll
                if isinstance(exc, sqlite3.Error):
                    log.warning(
                        "watching %s failed (%s); polling until it reopens", self._path, exc
                    )
                else:
                    log.exception("watching %s failed; polling until it reopens", self._path)
                self._stop.wait(delay)
                delay = min(delay * 2, most)
            else:
                delay = REOPEN_S[0]

    def _watch(self, conn: sqlite3.Connection) -> None:
        """Read ``data_version`` until stopped; when it changed and a task is claimable,
        call ``on_ready``."""
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        if self._claimable(conn):  # made ready before the first reading
            self._on_ready()
        self.listening.set()
        first, most = self._interval_s
        wait, changed = first, time.monotonic()
        while True:
            if self._nudged.wait(wait):
                self._nudged.clear()
                if self._stop.is_set():
                    return
                wait = first
            now = conn.execute("PRAGMA data_version").fetchone()[0]
            if now == version:
                if time.monotonic() - changed > QUIET_S:
                    wait = min(wait * 2, most)
                continue
            version, changed = now, time.monotonic()
            wait = most if self._busy() else first
            if self._claimable(conn):
                self._on_ready()

    def _claimable(self, conn: sqlite3.Connection) -> bool:
        self._params[0] = time.time()
        return conn.execute(self._sql, self._params).fetchone() is not None
