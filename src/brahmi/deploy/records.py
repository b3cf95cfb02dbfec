"""Where deployments are recorded: one JSON file per project under ``BRAHMI_HOME``.

``BRAHMI_HOME/deployments/<folder name>-<hash of its path>/`` holds ``deployment.json``
(the :class:`~brahmi.deploy.base.Deployment` record), ``logs/<service>.log`` and a lock
file, so ``status``, ``logs`` and ``stop`` work from another shell and two deploys of one
project never overlap. JSON rather than a table: no migration, and the record is only ever
read whole, by project.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

from brahmi.deploy.base import Deployment

RECORD = "deployment.json"


def state_dir(home: Path, project_dir: Path) -> Path:
    """The folder of ``project_dir``'s deployment (not created)."""
    resolved = project_dir.resolve()
    digest = hashlib.sha256(str(resolved).encode()).hexdigest()[:12]
    slug = "".join(c if c.isalnum() or c in "-_." else "-" for c in resolved.name) or "root"
    return home / "deployments" / f"{slug}-{digest}"


def load(folder: Path) -> Deployment | None:
    """The recorded deployment in ``folder``, or None when there is none."""
    try:
        data = json.loads((folder / RECORD).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    return Deployment.from_record(data)


def save(folder: Path, deployment: Deployment) -> None:
    """Write the record atomically (a reader never sees half a file)."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{RECORD}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(deployment.to_record(), indent=2), encoding="utf-8")
    tmp.replace(folder / RECORD)


@contextlib.contextmanager
def locked(folder: Path) -> Iterator[None]:
    """Hold the project's deployment lock: one deploy or stop at a time."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def file_hash(data: bytes) -> str:
    """The SHA-256 of a file's bytes, as recorded."""
    return hashlib.sha256(data).hexdigest()
