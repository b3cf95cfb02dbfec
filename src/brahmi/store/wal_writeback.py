"""SQLite: writing the write-ahead log to disk while the worker runs (DESIGN §9).

With ``synchronous=NORMAL`` a commit writes its pages to the WAL file without waiting for
the disk, and every ~1,000 pages a checkpoint syncs the WAL before it copies the pages
into the database file. That sync found about 4 MB waiting, and the worker's commit
stalled for it: 15–18 ms every ~90 hops of a chain on the EPYC machine of
``benchmarks/README.md`` (a quarter of a hop's time), about 5 ms on the Xeon.

A :class:`WalWriteback` thread syncs the WAL (``fdatasync``) every
:data:`WRITEBACK_INTERVAL_S` while it grows, on its own file descriptor, off the worker's
event loop. The same bytes reach the disk, while the worker goes on, and the checkpoint's
sync finds little left. Nothing is made less durable: a commit waits for exactly what it
waited for before, and what it wrote reaches the disk sooner.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

#: Seconds between two syncs of a WAL that changed, and the most between two looks at a
#: WAL that did not (the wait doubles while nothing changes).
WRITEBACK_INTERVAL_S = (0.01, 0.2)
#: ``fdatasync`` where the platform has it (not macOS), else ``fsync``.
_sync: Callable[[int], None] = getattr(os, "fdatasync", os.fsync)


class WalWriteback:
    """A thread that syncs the SQLite WAL file ``<database>-wal`` while it changes.

    Args:
        database: The SQLite database file.
        interval_s: Seconds between two syncs while the WAL changes, and the most between
            two looks while it does not (see :data:`WRITEBACK_INTERVAL_S`).
    """

    def __init__(
        self, database: str, interval_s: tuple[float, float] = WRITEBACK_INTERVAL_S
    ) -> None:
        self._path = f"{database}-wal"
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="brahmi-writeback", daemon=True)
        #: How many syncs ran (for tests and benchmarks).
        self.syncs = 0

    def start(self) -> None:
        """Start in the background."""
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop; returns once a sync in progress, if any, is done."""
        self._stop.set()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        first, most = self._interval_s
        wait = first
        fd: int | None = None
        seen: tuple[int, int] | None = None
        failing = False  # warned of an error, not yet followed by a sync
        try:
            while not self._stop.wait(wait):
                try:
                    if fd is None:
                        fd = os.open(self._path, os.O_RDONLY)
                    state = os.fstat(fd)
                    if state.st_nlink == 0:  # the last connection closed: the WAL went away
                        os.close(fd)
                        fd, seen = None, None
                        continue
                    now = (state.st_size, state.st_mtime_ns)
                    if now == seen:
                        wait = min(wait * 2, most)
                        continue
                    seen, wait = now, first
                    _sync(fd)
                    self.syncs += 1
                    failing = False
                except FileNotFoundError:  # no connection has the database open yet
                    wait = most
                except OSError as exc:
                    if not failing:  # once, not every retry
                        log.warning("writing back %s failed (%s); retrying", self._path, exc)
                    failing, wait = True, most
        finally:
            if fd is not None:
                os.close(fd)
