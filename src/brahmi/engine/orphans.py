"""Stopping the agents of a worker that died.

An agent runs in its own process group so that a timeout can stop it with its children.
The price: when its worker is killed (kill -9, a crash), the agent keeps running. The
worker that takes the task back stops that group, but only after checking, through
``/proc/<pid>/environ``, that the process really is that attempt's agent
(``BRAHMI_ATTEMPT_ID``), so a reused pid is never signalled.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from pathlib import Path

log = logging.getLogger(__name__)


def is_agent_of(pid: int, attempt_id: str) -> bool:
    """Whether process ``pid`` on this host is the agent of ``attempt_id``."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return f"BRAHMI_ATTEMPT_ID={attempt_id}".encode() in environ.split(b"\0")


def stop_orphan(pid: int, attempt_id: str) -> bool:
    """SIGKILL the process group of ``attempt_id``'s agent if it still runs here.

    Returns:
        True when a group was signalled.
    """
    if not is_agent_of(pid, attempt_id):
        return False
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
        log.warning("stopped the orphaned agent of attempt %s (process group %d)", attempt_id, pid)
        return True
    return False
