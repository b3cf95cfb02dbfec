"""Worker identities, and telling when a worker on this host has died.

An id is ``host:pid:nonce``. A lease held by a process of this host that no longer exists
can be taken back at once instead of waiting for it to run out: that is how a killed
``brahmi run`` is resumed without delay.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterable


def new_worker_id() -> str:
    """A fresh id for a worker of this process."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def dead_local_owners(owners: Iterable[str]) -> list[str]:
    """The worker ids among ``owners`` whose process on this host no longer runs."""
    host = socket.gethostname()
    dead = []
    for owner in owners:
        parts = owner.rsplit(":", 2)
        if len(parts) != 3 or parts[0] != host or not parts[1].isdigit():
            continue
        pid = int(parts[1])
        if pid != os.getpid() and not _alive(pid):
            dead.append(owner)
    return dead


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
