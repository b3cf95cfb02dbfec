"""Stopping the ``brahmi`` processes a test started."""

from __future__ import annotations

import signal
import subprocess

#: Seconds a process gets to stop after SIGTERM, and again after SIGKILL.
STOP_S = 20.0


def stop(proc: subprocess.Popen[bytes]) -> int:
    """SIGTERM ``proc`` (if it still runs) and wait for it; SIGKILL it if it outlives
    :data:`STOP_S`. Returns its exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(STOP_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(STOP_S)
