"""What a deployment target is, and what deploying returns (DESIGN §11).

A target brings the services of a :class:`~brahmi.deploy.plan.Plan` up and returns a
:class:`Deployment`. The deployment is recorded as JSON (see :mod:`brahmi.deploy.records`)
so that ``status``, ``logs`` and ``stop`` work later from another process: everything a
target needs to find what it started (pids, process-start ticks, container ids, log files)
lives in the deployment's :class:`ServiceState` list.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Literal

from brahmi.deploy.plan import Plan

#: A deployment as a whole.
DeploymentStatus = Literal["deployed", "failed", "stopped", "degraded"]


@dataclass(slots=True)
class ServiceState:
    """One service of a deployment and where it runs.

    ``state`` is ``running`` (a process or container of ours), ``external`` (a server
    already on this machine, e.g. a database), ``built`` (a build service), ``exited``
    (it died on its own) or ``stopped`` (we stopped it).
    """

    id: int
    name: str
    type: str
    state: str
    #: Process id (and process group id) of a service run from source.
    pid: int | None = None
    #: The process's start time in clock ticks since boot, so a reused pid is never killed.
    start_ticks: int | None = None
    #: Container id of a service run by Docker.
    container: str | None = None
    #: The port it listens on, on 127.0.0.1.
    port: int | None = None
    url: str | None = None
    #: A build service's output folder (``${N.outputs.PATH}``).
    path: str | None = None
    #: A build service's image (``${N.outputs.IMAGE_URL}``).
    image: str | None = None
    #: Its log file.
    log: str | None = None
    #: How it ended, when it exited.
    exit_code: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The public view: ``{"id", "name", "type", "state", "pid"|"container", "port",
        "url"}`` plus ``path``/``image`` for build services."""
        out: dict[str, Any] = {"id": self.id, "name": self.name, "type": self.type}
        out["state"] = self.state
        if self.container is not None:
            out["container"] = self.container
        else:
            out["pid"] = self.pid
        out["port"] = self.port
        out["url"] = self.url
        for key in ("path", "image", "exit_code"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


@dataclass(slots=True)
class Deployment:
    """A deployment of one project on one target, as recorded."""

    target: str
    project_dir: str
    status: DeploymentStatus
    public_url: str | None
    services: list[ServiceState]
    deployed_at: str
    #: SHA-256 of the aramb.toml that was deployed.
    file_hash: str = ""
    application_id: str = ""
    #: ``source`` or ``docker`` for the local target.
    mode: str = ""
    images_built: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: The public service's id.
    public_service: int | None = None
    #: The health probes that passed, ``GET http://127.0.0.1:P/health → 200``.
    checks: list[str] = field(default_factory=list)

    def service(self, name_or_id: str) -> ServiceState | None:
        """The service with this name or ``uniqueIdentifier``, if any."""
        for svc in self.services:
            if name_or_id in (svc.name, str(svc.id)):
                return svc
        return None

    def to_dict(self) -> dict[str, Any]:
        """The public shape: ``{"status", "public_url", "images_built", "services",
        "target", "mode", "deployed_at", "project_dir", "warnings", "checks"}``."""
        return {
            "status": self.status,
            "public_url": self.public_url,
            "images_built": list(self.images_built),
            "services": [svc.to_dict() for svc in self.services],
            "target": self.target,
            "mode": self.mode,
            "deployed_at": self.deployed_at,
            "project_dir": self.project_dir,
            "warnings": list(self.warnings),
            "checks": list(self.checks),
        }

    def to_record(self) -> dict[str, Any]:
        """Everything, for the JSON record (no secret values: none are held here)."""
        return asdict(self)

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> Deployment:
        """Read back :meth:`to_record`'s output (unknown keys are ignored)."""
        known = {f.name for f in fields(cls)}
        svc_known = {f.name for f in fields(ServiceState)}
        values = {k: v for k, v in data.items() if k in known}
        values["services"] = [
            ServiceState(**{k: v for k, v in svc.items() if k in svc_known})
            for svc in data.get("services", [])
        ]
        return cls(**values)


@dataclass(frozen=True, slots=True)
class DeployRequest:
    """What a target needs to deploy: the plan and where things go."""

    plan: Plan
    #: The project folder (absolute); every path of the file stays inside it.
    project_dir: Path
    #: This deployment's folder under ``BRAHMI_HOME/deployments`` (log files go here).
    state_dir: Path
    #: Longest wait for the services to answer, seconds.
    timeout_s: float = 30.0
    #: Longest time for each install or build command, seconds.
    build_timeout_s: float = 900.0
    #: The deploying environment: empty secrets are filled from it by name.
    environ: Mapping[str, str] = field(default_factory=dict)
    file_hash: str = ""


class DeployTarget(ABC):
    """Where services are brought up. Plug-ins register in the ``brahmi.deploy_targets``
    entry-point group (see :mod:`brahmi.deploy.registry`)."""

    #: The name users pass to ``brahmi deploy --target``.
    name: ClassVar[str]

    @abstractmethod
    def available(self) -> tuple[bool, str]:
        """Whether this target can deploy here, and if not why (a sentence)."""

    @abstractmethod
    def deploy(self, request: DeployRequest) -> Deployment:
        """Bring every service up and wait until the public one answers.

        Raises:
            DeployFailed: (or a subclass) after stopping everything it started; the error
                names the service and carries ``logs_tail``.
        """

    @abstractmethod
    def status(self, deployment: Deployment) -> Deployment:
        """The deployment with each service's state checked now."""

    @abstractmethod
    def logs(self, deployment: Deployment, service: ServiceState, lines: int) -> str:
        """The last ``lines`` lines of a service's output."""

    @abstractmethod
    def stop(self, deployment: Deployment) -> Deployment:
        """Stop every service it started (idempotent); returns the stopped deployment."""
