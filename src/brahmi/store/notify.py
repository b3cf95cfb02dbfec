"""PostgreSQL ``LISTEN/NOTIFY``: waking idle workers when tasks become ready (DESIGN §9).

Migration 0006 installs statement-level triggers on ``tasks`` that ``pg_notify`` the
:data:`CHANNEL` whenever an INSERT or UPDATE leaves a row ``ready``; the notification is
sent when (and only if) that transaction commits, so it is exactly as durable as the state
change. A :class:`ReadyListener` holds one connection per worker process in a thread and
calls back on every notification. Polling stays the fallback: a lost connection only makes
a worker wait for its next poll, and the listener reconnects with backoff.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from collections.abc import Set as AbstractSet

from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

#: The channel the triggers notify.
CHANNEL = "brahmi_ready"
#: Seconds between reconnection attempts: the first, and the most.
RECONNECT_S = (0.5, 10.0)


class ReadyListener:
    """A thread that calls ``on_ready`` whenever tasks become ready in the database.

    Args:
        url: The SQLAlchemy URL of a PostgreSQL database (``postgresql+psycopg://…``).
        on_ready: Called from the listener's thread; it must be thread-safe (such as
            :meth:`brahmi.engine.worker.Worker.wake`). Also called after every
            (re)connection, since notifications sent meanwhile were missed.
        own_backends: The server process ids of this process's own connections. Their
            notifications are skipped: a worker claims what its own transaction made
            ready in that same transaction, and waking it again only costs an empty claim.
    """

    def __init__(
        self,
        url: str,
        on_ready: Callable[[], None],
        own_backends: AbstractSet[int] = frozenset(),
    ) -> None:
        self._conninfo = (
            make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        )
        self._on_ready = on_ready
        self._own = own_backends
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="brahmi-listen", daemon=True)
        #: Set once the first LISTEN is in place (tests and benchmarks wait on it).
        self.listening = threading.Event()

    def start(self) -> None:
        """Start listening in the background."""
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop listening; returns within about a second."""
        self._stop.set()
        self._thread.join(timeout_s)

    def nudge(self) -> None:
        """Nothing to do: notifications arrive as they are sent (the SQLite watcher reads
        sooner when nudged)."""

    def _run(self) -> None:
        import psycopg

        delay, most = RECONNECT_S
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    delay = RECONNECT_S[0]
                    self._on_ready()
                    while not self._stop.is_set():
                        for notify in conn.notifies(timeout=1.0):
                            if notify.pid not in self._own:
                                self._on_ready()
            except psycopg.Error as exc:
                log.warning("LISTEN %s failed (%s); polling until it reconnects", CHANNEL, exc)
                self._stop.wait(delay)
                delay = min(delay * 2, most)
