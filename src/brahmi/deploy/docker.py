"""The Docker engine, driven through the ``docker`` client as a subprocess (§11).

Used by the local target when ``docker info`` answers: build services with a Dockerfile
become ``docker build``; backends from those images and databases with no server here
become containers on the host's network. Environment values reach ``docker run`` through its own
environment (``-e KEY``), never its argument list, so secrets never show in ``ps``.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

#: How long ``docker info`` may take to say whether an engine answers, seconds.
INFO_TIMEOUT_S = 5.0
#: How long ``docker run``/``rm``/``inspect``/``logs`` may take, seconds.
CALL_TIMEOUT_S = 60.0
#: How long ``docker run`` may take, pulling its image included, seconds.
PULL_TIMEOUT_S = 600.0
#: The port each database listens on by default.
DEFAULT_PORTS = {"postgres": 5432, "redis": 6379, "mongodb": 27017}


def engine_available(timeout_s: float = INFO_TIMEOUT_S) -> tuple[bool, str]:
    """Whether a Docker engine answers ``docker info``, and if not why."""
    exe = shutil.which("docker")
    if exe is None:
        return False, "no docker client on PATH"
    try:
        proc = _captured([exe, "info", "--format", "{{.ServerVersion}}"], timeout_s)
    except subprocess.TimeoutExpired:
        return False, f"docker info did not answer within {timeout_s:g} s"
    except OSError as exc:
        return False, f"docker could not run: {exc}"
    if proc.returncode != 0:
        said = (proc.stderr or proc.stdout).strip().splitlines()
        return False, f"no Docker engine answers ({said[-1] if said else 'docker info failed'})"
    return True, f"Docker engine {proc.stdout.strip()}"


def build(
    folder: Path, tag: str, log: Path, timeout_s: float, dockerfile: Path | None = None
) -> int:
    """``docker build -t TAG [-f DOCKERFILE] FOLDER``, output appended to ``log``; its
    exit code."""
    argv = ["docker", "build", "-t", tag]
    if dockerfile is not None:
        argv += ["-f", str(dockerfile)]
    with log.open("ab") as out:
        try:
            return subprocess.run(
                [*argv, str(folder)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=timeout_s,
                check=False,
            ).returncode
        except subprocess.TimeoutExpired:
            return -9


def run(
    image: str,
    env: Mapping[str, str],
    command: Sequence[str] = (),
    base_env: Mapping[str, str] | None = None,
    timeout_s: float = PULL_TIMEOUT_S,
) -> str:
    """Start a detached container on the host's network; returns its id.

    On the host's network a container is like a local process: it listens on the port it
    is given (``PORT``) on 127.0.0.1, and reaches a database on 127.0.0.1 by the URL in
    the file, so both modes resolve the same values.

    Raises:
        RuntimeError: With docker's own message when the container does not start (or
            ``docker run`` took longer than ``timeout_s``, pulling the image included).
    """
    argv = ["docker", "run", "-d", "--network", "host"]
    for key in env:
        argv += ["-e", key]
    argv += [image, *command]
    try:
        proc = _captured(argv, timeout_s, env={**(base_env or {}), **env})
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"docker run did not return within {timeout_s:g} s") from None
    except OSError as exc:
        raise RuntimeError(f"docker could not run: {exc}") from None
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip() or f"docker run exited {proc.returncode}")
    return proc.stdout.strip()


def running(container: str) -> bool:
    """Whether the container runs now."""
    proc = _call(["docker", "inspect", "-f", "{{.State.Running}}", container])
    return proc is not None and proc.returncode == 0 and proc.stdout.strip() == "true"


def logs(container: str, lines: int) -> str:
    """The container's last ``lines`` lines of output."""
    proc = _call(["docker", "logs", "--tail", str(lines), container])
    if proc is None:
        return ""
    return (proc.stdout + proc.stderr).strip()


def remove(container: str) -> None:
    """Stop and remove the container (no error when it is gone)."""
    _call(["docker", "rm", "-f", container])


def _call(argv: list[str]) -> subprocess.CompletedProcess[str] | None:
    """``argv`` run as :func:`_captured` within :data:`CALL_TIMEOUT_S`; None when it could
    not run or took longer."""
    try:
        return _captured(argv, CALL_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired):
        return None


def _captured(
    argv: Sequence[str], timeout_s: float, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a docker command with no stdin and its output captured as text.

    Raises:
        subprocess.TimeoutExpired: It took longer than ``timeout_s``.
        OSError: It could not start.
    """
    return subprocess.run(
        list(argv),
        env=None if env is None else dict(env),
        capture_output=True,
        encoding="utf-8",
        errors="replace",
        timeout=timeout_s,
        check=False,
        stdin=subprocess.DEVNULL,
    )
