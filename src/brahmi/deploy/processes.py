"""Supervised service processes for the local target: start, watch, probe, stop.

Each service runs in its own session (so its process group is its pid) with an argument
list, never a shell, its output appended to a log file. A process is identified by its pid
*and* its start time in clock ticks (``/proc/<pid>/stat``), so a pid the kernel reused is
never mistaken for ours or killed.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

#: How long a stopped group has after SIGTERM before SIGKILL, seconds.
TERM_GRACE_S = 5.0
#: One probe request's timeout, seconds.
PROBE_TIMEOUT_S = 2.0
#: Variables of the deploying environment a service inherits; nothing else leaks in.
INHERITED = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR")
INHERITED_PREFIXES = ("PYENV_", "NVM_")
#: Processes handed over alive: kept referenced so no "still running" warning fires.
_DETACHED: list[subprocess.Popen[bytes]] = []


@dataclass(frozen=True, slots=True)
class Started:
    """A process we started: its pid (= process group id) and start ticks."""

    pid: int
    start_ticks: int | None
    proc: subprocess.Popen[bytes] | None = None


def base_env(environ: Mapping[str, str], extra_path: Sequence[Path] = ()) -> dict[str, str]:
    """The environment every service starts from: a few system variables of ``environ``,
    ``PYTHONUNBUFFERED`` (logs appear as written), and ``extra_path`` before ``PATH``."""
    env = {k: v for k, v in environ.items() if k in INHERITED or k.startswith(INHERITED_PREFIXES)}
    path = [str(p) for p in extra_path if p.is_dir()]
    env["PATH"] = os.pathsep.join([*path, env.get("PATH", os.defpath)])
    env["PYTHONUNBUFFERED"] = "1"
    return env


def spawn(argv: Sequence[str], cwd: Path, env: Mapping[str, str], log: Path) -> Started:
    """Start ``argv`` in its own session, stdout and stderr appended to ``log``.

    Raises:
        OSError: When the program cannot be run (FileNotFoundError when it is missing).
    """
    with log.open("ab") as out:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Started(proc.pid, start_ticks(proc.pid), proc)


def detach(started: Started) -> None:
    """Hand a running process over: it outlives this Brahmi process."""
    if started.proc is not None:
        _DETACHED.append(started.proc)


def run_step(
    argv: Sequence[str], cwd: Path, env: Mapping[str, str], log: Path, timeout_s: float
) -> int:
    """Run a build step to completion in its own session, output appended to ``log``.

    Returns:
        Its exit code; -9 when it ran past ``timeout_s`` and its group was killed.

    Raises:
        OSError: When the program cannot be run.
    """
    started = spawn(argv, cwd, env, log)
    assert started.proc is not None
    try:
        return started.proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        kill_group(started)
        return -9
    except BaseException:
        # Interrupted (SIGTERM turned into KeyboardInterrupt by a stopping deploy): the
        # step runs in a session of its own, so nothing else would ever stop it.
        kill_group(started)
        raise


def start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, or None (no /proc, gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its end.
    rest = stat[stat.rfind(")") + 2 :].split()
    try:
        return int(rest[19])
    except (IndexError, ValueError):
        return None


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return stat[stat.rfind(")") + 2 :].startswith("Z")


def alive(pid: int, ticks: int | None) -> bool:
    """Whether the process we recorded as (``pid``, ``ticks``) still runs."""
    _reap(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # not ours any more: the pid was reused by another user
    if _is_zombie(pid):
        return False
    now = start_ticks(pid)
    return ticks is None or now is None or now == ticks


def group_alive(pgid: int) -> bool:
    """Whether any process of the group still runs (zombies aside)."""
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            pid = int(entry.name)
            if os.getpgid(pid) == pgid and not _is_zombie(pid):
                return True
    return False


def kill_group(started: Started, grace_s: float = TERM_GRACE_S) -> None:
    """SIGTERM the process group, wait up to ``grace_s``, then SIGKILL; reap our child.

    A group whose leader is alive with another start time is not ours and is left alone.
    """
    pid = started.pid
    leader_alive = _leader_present(pid)
    if leader_alive and not alive(pid, started.start_ticks):
        return  # the pid was reused: not our process
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and group_alive(pid):
        _reap(pid)
        time.sleep(0.05)
    if group_alive(pid):
        _signal_group(pid, signal.SIGKILL)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and group_alive(pid):
            _reap(pid)
            time.sleep(0.05)
    if started.proc is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            started.proc.wait(timeout=grace_s)
    _reap(pid)


def _leader_present(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return not _is_zombie(pid)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _reap(pid: int) -> None:
    """Collect our own exited child, if it is one (a no-op for others' processes)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def exit_code(started: Started) -> int | None:
    """The exit code of a child we hold, once it exited; else None."""
    if started.proc is None:
        return None
    return started.proc.poll()


def free_port(taken: set[int]) -> int:
    """A port free on 127.0.0.1 now, not in ``taken`` (which it joins)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in taken:
            taken.add(port)
            return port


def port_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    """Whether something accepts TCP connections at ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def http_status(port: int, path: str, timeout_s: float = PROBE_TIMEOUT_S) -> int | None:
    """The status of ``GET http://127.0.0.1:port/path`` (no proxy), or None on no answer."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    try:
        conn.request("GET", path, headers={"User-Agent": "brahmi-deploy-probe"})
        return conn.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def tail(log: Path | str | None, lines: int = 40, max_bytes: int = 64_000) -> str:
    """The last ``lines`` lines of a log file ('' when there is none)."""
    if not log:
        return ""
    try:
        with Path(log).open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - max_bytes))
            data = handle.read()
    except OSError:
        return ""
    text = data.decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])
