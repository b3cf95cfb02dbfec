"""The ``local`` target: an ``aramb.toml`` brought up on this machine (DESIGN §11).

With a Docker engine (``docker info`` answers), build services with a Dockerfile become
images, and backends with an image and databases with no server here become containers on
the host's network (frontends serve their static files as processes). Without one, build
services run their install/build commands from source, backends and frontends run their
``cmd`` from source as supervised processes, and databases map to a server already on this
machine when the address in the file's values answers. Either way every service listens on
127.0.0.1, on a port allocated here and passed as ``PORT`` (the service's ``commandPort``
in its command and values is replaced by it), and the deployment is done only when the
public service answers an HTTP probe.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from brahmi import errors
from brahmi.deploy import docker, processes, source
from brahmi.deploy.base import Deployment, DeployRequest, DeployTarget, ServiceState
from brahmi.deploy.plan import (
    DATABASES,
    LOOPBACK,
    RUNNABLE,
    ResolvedService,
    ServiceEntry,
    build_settings,
    resolve,
)

#: Health paths tried, in order, when the file names none.
PROBE_PATHS = ("/health", "/healthz", "/")
#: Settings that name a service's health path.
HEALTH_KEYS = ("healthCheckPath", "healthcheckPath", "healthPath", "health_path")
#: URL schemes that name each database type.
SCHEMES = {
    "postgres": ("postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg2"),
    "redis": ("redis", "rediss"),
    "mongodb": ("mongodb", "mongodb+srv"),
}
_PORT_TAKEN = re.compile(r"address already in use|EADDRINUSE|errno 98", re.IGNORECASE)
#: How often the wait loop looks at the services, seconds.
POLL_S = 0.05
LOG_TAIL_LINES = 40


class LocalTarget(DeployTarget):
    """This machine: Docker when an engine answers, otherwise from source.

    ``BRAHMI_DEPLOY_MODE=source`` forces source even with an engine (``docker`` forces
    Docker, failing without one); the default is ``auto``.
    """

    name = "local"

    def __init__(self, mode: str | None = None) -> None:
        self.mode = mode or os.environ.get("BRAHMI_DEPLOY_MODE") or "auto"

    def available(self) -> tuple[bool, str]:
        if self.mode == "docker":
            return docker.engine_available()
        return True, "runs from source; Docker is used when an engine answers"

    def deploy(self, request: DeployRequest) -> Deployment:
        if self.mode == "source":
            use_docker = False
        else:
            use_docker, reason = docker.engine_available()
            if self.mode == "docker" and not use_docker:
                raise errors.ServiceNotDeployable(f"Docker was asked for, but {reason}")
        run = _Run(request, use_docker)
        try:
            return run.deploy()
        except errors.DeployFailed as exc:
            run.stop_all()
            exc.deployment = run.result("failed")
            raise
        except BaseException:
            run.stop_all()
            raise

    def status(self, deployment: Deployment) -> Deployment:
        changed = False
        for svc in deployment.services:
            if svc.state != "running":
                continue
            if svc.pid is not None:
                gone = not processes.alive(svc.pid, svc.start_ticks)
            else:
                gone = svc.container is not None and not docker.running(svc.container)
            if gone:
                svc.state, changed = "exited", True
        if changed and deployment.status == "deployed":
            deployment.status = "degraded"
        return deployment

    def logs(self, deployment: Deployment, service: ServiceState, lines: int) -> str:
        if service.container is not None and service.state != "stopped":
            return docker.logs(service.container, lines)
        return processes.tail(service.log, lines)

    def stop(self, deployment: Deployment) -> Deployment:
        for svc in reversed(deployment.services):
            if svc.pid is not None and svc.state in ("running", "exited"):
                processes.kill_group(processes.Started(svc.pid, svc.start_ticks))
                svc.state = "stopped"
            elif svc.container is not None and svc.state in ("running", "exited"):
                docker.remove(svc.container)
                svc.state = "stopped"
        deployment.status, deployment.public_url = "stopped", None
        return deployment


@dataclass
class _Process:
    state: ServiceState
    started: processes.Started | None
    #: Paths probed over HTTP (the public service), else None: a TCP connect suffices.
    probe_paths: tuple[str, ...] | None
    ready: bool = False
    last: str = "no answer yet"


@dataclass
class _Run:
    """One deployment in progress: what it started, so a failure stops all of it."""

    request: DeployRequest
    use_docker: bool
    states: dict[int, ServiceState] = field(default_factory=dict)
    running: list[_Process] = field(default_factory=list)
    outputs: dict[int, dict[str, str]] = field(default_factory=dict)
    build_dirs: dict[int, Path] = field(default_factory=dict)
    #: A build's virtualenv ``bin`` folder, first on ``PATH`` for it and its backends.
    env_bins: dict[int, Path] = field(default_factory=dict)
    images_built: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    public_url: str | None = None
    #: The probes that passed, ``GET http://127.0.0.1:P/health → 200``.
    checks: list[str] = field(default_factory=list)
    #: Database service name → the address it answers at here.
    hosts: dict[str, tuple[str, int]] = field(default_factory=dict)

    @property
    def project(self) -> Path:
        return self.request.project_dir

    @property
    def logs_dir(self) -> Path:
        return self.request.state_dir / "logs"

    def deploy(self) -> Deployment:
        plan = self.request.plan
        self.warnings += plan.warnings
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        for old in self.logs_dir.glob("*.log"):
            old.unlink()
        for entry in plan.services:
            self.states[entry.id] = ServiceState(entry.id, entry.name, entry.type, "pending")
            self.states[entry.id].log = str(self.logs_dir / f"{_safe(entry.name)}.log")
            if entry.type not in RUNNABLE | DATABASES | {"build"}:
                raise errors.ServiceNotDeployable(
                    f"service {entry.id} ({entry.name}): type {entry.type!r} cannot be "
                    "deployed on the local target (it runs backend, frontend, build, "
                    "postgres, redis and mongodb services)",
                    service=entry.name,
                    key="type",
                )
        for entry in plan.services:
            if entry.type == "build":
                self._build(entry)
        taken: set[int] = set()
        ports = {e.id: processes.free_port(taken) for e in plan.services if e.type in RUNNABLE}
        resolved = resolve(plan, self.outputs, ports, self.request.environ)
        public = plan.public_service()
        for svc in resolved:
            if svc.empty_secrets:
                names = ", ".join(svc.empty_secrets)
                self.warnings.append(f"service {svc.id} ({svc.name}): empty secret(s) {names}")
        for svc in resolved:
            if svc.entry.type in DATABASES:
                self._database(svc, resolved)
        for svc in resolved:
            _rehost(svc, self.hosts)
        for svc in resolved:
            if svc.entry.type in RUNNABLE:
                self._start(svc, public is not None and svc.id == public.id)
        self._wait()
        for proc in self.running:
            if proc.started is not None:
                processes.detach(proc.started)
        return self.result("deployed")

    def result(self, status: Any) -> Deployment:
        plan = self.request.plan
        public = plan.public_service()
        return Deployment(
            target=LocalTarget.name,
            project_dir=str(self.project),
            status=status,
            public_url=self.public_url if status == "deployed" else None,
            services=[self.states[e.id] for e in plan.services if e.id in self.states],
            deployed_at=datetime.now(UTC).isoformat(timespec="seconds"),
            file_hash=self.request.file_hash,
            application_id=plan.application_id,
            mode="docker" if self.use_docker else "source",
            images_built=list(self.images_built),
            warnings=list(self.warnings),
            public_service=public.id if public else None,
            checks=list(self.checks),
        )

    # -- build services ---------------------------------------------------------------

    def _build(self, entry: ServiceEntry) -> None:
        state = self.states[entry.id]
        settings = build_settings(self.request.plan, entry)
        folder = self._inside(entry, "settings.buildPath", settings.get("buildPath") or ".")
        if not folder.is_dir():
            raise errors.BuildFailed(
                f"service {entry.id} ({entry.name}): settings.buildPath {folder} is not a "
                "folder of the project",
                service=entry.name,
                key="settings.buildPath",
            )
        self.build_dirs[entry.id] = folder
        log = Path(str(state.log))
        image = f"{_safe(self.request.plan.application_id)}-{_safe(entry.name)}:local".lower()
        named = settings.get("dockerfile")
        dockerfile = (
            self._inside(entry, "settings.dockerfile", str(named), base=folder)
            if named
            else folder / "Dockerfile"
        )
        if self.use_docker and dockerfile.is_file():
            _header(log, f"docker build -t {image} -f {dockerfile} {folder}")
            code = docker.build(folder, image, log, self.request.build_timeout_s, dockerfile)
            if code != 0:
                raise self._failure(errors.BuildFailed, entry, "docker build", code, log)
            self.images_built.append(image)
            state.image = image
        else:
            steps = source.build_steps(settings, folder, entry)
            env_bin = self._python_env(entry, folder, steps, log)
            extra = [env_bin] if env_bin else []
            if env_bin:
                self.env_bins[entry.id] = env_bin
            env = processes.base_env(os.environ, [*extra, *source.tool_path(folder, self.project)])
            for key, argv in steps:
                marker = (
                    env_bin.parent / source.INSTALL_MARKER
                    if env_bin and key in source.INSTALLS
                    else None
                )
                digest = source.inputs_digest(argv, folder)
                if marker and marker.is_file() and marker.read_text() == digest:
                    _header(log, f"{shlex.join(argv)}: skipped, its inputs did not change")
                    continue
                _header(log, shlex.join(argv))
                self._step(entry, key, argv, folder, env, log)
                if marker:
                    marker.write_text(digest)
            image = f"source:{folder.relative_to(self.project)}"
        output = self._output_folder(entry, settings, folder)
        self.outputs[entry.id] = {"IMAGE_URL": image, "PATH": str(output)}
        state.state, state.path = "built", str(output)

    def _step(
        self,
        entry: ServiceEntry,
        key: str,
        argv: list[str],
        cwd: Path,
        env: dict[str, str],
        log: Path,
    ) -> None:
        try:
            code = processes.run_step(argv, cwd, env, log, self.request.build_timeout_s)
        except OSError as exc:
            raise errors.BuildFailed(
                f"service {entry.id} ({entry.name}): {key}: {argv[0]!r} cannot run: "
                f"{exc.strerror or exc}",
                service=entry.name,
                key=key,
            ) from None
        if code != 0:
            raise self._failure(errors.BuildFailed, entry, key, code, log)

    def _python_env(
        self, entry: ServiceEntry, folder: Path, steps: list[tuple[str, list[str]]], log: Path
    ) -> Path | None:
        """The ``bin`` folder of the virtualenv a pip install step installs into: the
        project's own (``.venv``/``venv`` in the build folder or the project), else one
        Brahmi keeps for this build under the deployment folder, so installing never
        touches the Python running Brahmi. None when no step runs pip."""
        if not any(key in source.INSTALLS and source.is_pip(argv) for key, argv in steps):
            return None
        for base in (folder, self.project):
            for name in (".venv", "venv"):
                if (base / name / "bin" / "python").exists():
                    return base / name / "bin"
        env_dir = self.request.state_dir / "envs" / _safe(entry.name)
        if not (env_dir / "bin" / "python").exists():
            argv = [sys.executable, "-m", "venv", str(env_dir)]
            _header(log, shlex.join(argv))
            self._step(entry, "install (virtualenv)", argv, folder, dict(os.environ), log)
        return env_dir / "bin"

    def _output_folder(self, entry: ServiceEntry, settings: dict[str, Any], folder: Path) -> Path:
        for key in source.OUTPUT_KEYS:
            if settings.get(key):
                return self._inside(entry, f"settings.{key}", str(settings[key]), base=folder)
        if (folder / "package.json").is_file():
            for name in source.NODE_OUTPUTS:
                if (folder / name).is_dir():
                    return folder / name
        return folder

    # -- databases --------------------------------------------------------------------

    def _database(self, svc: ResolvedService, everyone: list[ResolvedService]) -> None:
        kind = svc.entry.type
        state = self.states[svc.id]
        tried: list[str] = []
        for host, port in _database_addresses(svc, everyone):
            tried.append(f"{host}:{port}")
            if processes.port_open(host, port):
                state.state, state.port = "external", port
                state.url = f"{SCHEMES[kind][0]}://{host}:{port}"
                self.hosts[svc.name] = (host, port)
                return
        image = str(svc.settings.get("image") or "")
        if self.use_docker and image:
            port = docker.DEFAULT_PORTS[kind]
            try:
                container = docker.run(image, svc.env(), base_env=os.environ)
            except RuntimeError as exc:
                raise errors.ServiceNotDeployable(
                    f"service {svc.id} ({svc.name}): docker run {image} failed: {exc}",
                    service=svc.name,
                    key="settings.image",
                ) from None
            state.state, state.container, state.port = "running", container, port
            self.hosts[svc.name] = (LOOPBACK, port)
            state.url = f"{SCHEMES[kind][0]}://127.0.0.1:{port}"
            self.running.append(_Process(state, None, None))
            return
        raise errors.ServiceNotDeployable(
            f"service {svc.id} ({svc.name}): no {kind} server answers at "
            f"{', '.join(tried)}, and without a Docker engine the local target cannot start "
            f"{image or 'one'}; start a {kind} server there or point the URL in the "
            "file's vars at one",
            service=svc.name,
            key="type",
        )

    # -- backends and frontends -------------------------------------------------------

    def _start(self, svc: ResolvedService, public: bool) -> None:
        entry, state = svc.entry, self.states[svc.id]
        assert svc.port is not None
        state.port = svc.port
        state.url = f"http://127.0.0.1:{svc.port}"
        health = next((svc.settings[k] for k in HEALTH_KEYS if svc.settings.get(k)), None)
        paths = (str(health),) if health else PROBE_PATHS
        log = Path(str(state.log))
        image_build = entry.output_source("image")
        if self.use_docker:
            built = self.states[image_build].image if image_build is not None else None
            image = built or (None if image_build is not None else svc.settings.get("image"))
            if image:
                self._container(svc, state, str(image), public, paths)
                return
        cwd = self._service_folder(svc, image_build)
        extra = [self.env_bins[image_build]] if image_build in self.env_bins else []
        env = processes.base_env(os.environ, [*extra, *source.tool_path(cwd, self.project)])
        env.update(svc.env())
        argv = svc.argv
        if entry.type == "frontend":
            why = source.builtin_static_reason(argv, cwd, self.project, env["PATH"])
            if why:
                if argv:
                    self.warnings.append(
                        f"service {svc.id} ({svc.name}): {why}; Brahmi's static file server "
                        "serves its files instead"
                    )
                argv = [sys.executable, "-m", "brahmi.deploy.static", "--port", str(svc.port)]
                argv += ["--directory", str(cwd)]
        if not argv:
            raise errors.ServiceNotDeployable(
                f"service {svc.id} ({svc.name}): settings.cmd is needed to start a {entry.type}",
                service=svc.name,
                key="settings.cmd",
            )
        program = source.program(argv[0], cwd, env["PATH"])
        if program is None:
            raise errors.ServiceNotDeployable(
                f"service {svc.id} ({svc.name}): settings.cmd: {argv[0]!r} is not found "
                f"(PATH and {cwd})",
                service=svc.name,
                key="settings.cmd",
            )
        # The header shows the command as written: resolved values may hold secrets.
        written = svc.entry.settings.get("cmd") or shlex.join(argv)
        _header(log, f"{written}  (cwd {cwd}, port {svc.port})")
        try:
            started = processes.spawn([program, *argv[1:]], cwd, env, log)
        except OSError as exc:
            raise errors.ServiceNotDeployable(
                f"service {svc.id} ({svc.name}): settings.cmd cannot run: {exc.strerror or exc}",
                service=svc.name,
                key="settings.cmd",
            ) from None
        state.state, state.pid, state.start_ticks = "running", started.pid, started.start_ticks
        self.running.append(_Process(state, started, paths if public else None))
        if public:
            self.public_url = state.url

    def _container(
        self,
        svc: ResolvedService,
        state: ServiceState,
        image: str,
        public: bool,
        paths: tuple[str, ...],
    ) -> None:
        try:
            container = docker.run(image, svc.env(), svc.argv or (), base_env=os.environ)
        except RuntimeError as exc:
            raise errors.ServiceNotDeployable(
                f"service {svc.id} ({svc.name}): docker run {image} failed: {exc}",
                service=svc.name,
                key="settings.image",
            ) from None
        state.state, state.container = "running", container
        self.running.append(_Process(state, None, paths if public else None))
        if public:
            self.public_url = state.url

    def _service_folder(self, svc: ResolvedService, image_build: int | None) -> Path:
        entry = svc.entry
        if entry.type == "frontend" and svc.settings.get("staticPath"):
            folder = self._inside(entry, "settings.staticPath", str(svc.settings["staticPath"]))
            if not folder.is_dir():
                raise errors.ServiceNotDeployable(
                    f"service {svc.id} ({svc.name}): settings.staticPath {folder} is not a "
                    "folder (was the build run?)",
                    service=svc.name,
                    key="settings.staticPath",
                )
            return folder
        if image_build is not None:
            return self.build_dirs[image_build]
        return self.project

    # -- waiting ----------------------------------------------------------------------

    def _wait(self) -> None:
        deadline = time.monotonic() + self.request.timeout_s
        while True:
            for proc in self.running:
                self._check_exit(proc)
                if not proc.ready:
                    proc.ready = self._answers(proc)
            if all(p.ready for p in self.running):
                return
            if time.monotonic() >= deadline:
                break
            time.sleep(POLL_S)
        waiting = next(p for p in self.running if not p.ready)
        entry = self.request.plan.get(waiting.state.id)
        raise self._failure(
            errors.HealthCheckFailed,
            entry,
            "health",
            None,
            Path(str(waiting.state.log)),
            f"did not answer on 127.0.0.1:{waiting.state.port} within "
            f"{self.request.timeout_s:g} s ({waiting.last})",
        )

    def _check_exit(self, proc: _Process) -> None:
        if proc.started is None:
            if proc.state.container and not docker.running(proc.state.container):
                entry = self.request.plan.get(proc.state.id)
                log = Path(str(proc.state.log))
                raise self._failure(
                    errors.ServiceExited, entry, "settings.cmd", None, log, "container exited"
                )
            return
        code = processes.exit_code(proc.started)
        if code is None:
            return
        proc.state.state, proc.state.exit_code = "exited", code
        entry = self.request.plan.get(proc.state.id)
        log = Path(str(proc.state.log))
        tail = processes.tail(log, LOG_TAIL_LINES)
        if _PORT_TAKEN.search(tail):
            raise self._failure(
                errors.PortInUse,
                entry,
                "settings.cmd",
                code,
                log,
                f"exited with {code}: a port it listens on is already taken "
                f"(it was given PORT={proc.state.port})",
            )
        raise self._failure(
            errors.ServiceExited, entry, "settings.cmd", code, log, f"exited with {code} on start"
        )

    def _answers(self, proc: _Process) -> bool:
        port = proc.state.port
        assert port is not None
        if proc.probe_paths is None:
            ok = processes.port_open("127.0.0.1", port)
            proc.last = "port accepts connections" if ok else "port not open"
            return ok
        seen: list[str] = []
        for path in proc.probe_paths:
            status = processes.http_status(port, path)
            if status is None:
                proc.last = f"no HTTP answer on {', '.join(proc.probe_paths)}"
                return False
            if 200 <= status < 400:
                proc.last = f"GET {path} answered {status}"
                self.checks.append(f"GET {proc.state.url}{path} → {status}")
                return True
            seen.append(f"GET {path} → {status}")
        proc.last = "; ".join(seen)
        return False

    # -- helpers ----------------------------------------------------------------------

    def _inside(self, entry: ServiceEntry, key: str, value: str, base: Path | None = None) -> Path:
        """``value`` as a path inside the project (relative to ``base``, default the
        project root); an absolute path must already be inside."""
        root = self.project.resolve()
        path = Path(value)
        folder = (path if path.is_absolute() else (base or root) / path).resolve()
        if folder != root and root not in folder.parents:
            raise errors.InvalidMetadata(
                f"service {entry.id} ({entry.name}): {key} {value!r} leaves the project folder",
                service=entry.name,
                key=key,
            )
        return folder

    def _failure(
        self,
        kind: type[errors.DeployFailed],
        entry: ServiceEntry,
        key: str,
        code: int | None,
        log: Path,
        what: str | None = None,
    ) -> errors.DeployFailed:
        container = self.states[entry.id].container
        if container:
            tail = docker.logs(container, LOG_TAIL_LINES)
        else:
            tail = processes.tail(log, LOG_TAIL_LINES)
        what = what or f"exited with {code}"
        message = f"service {entry.id} ({entry.name}): {key} {what}"
        if tail:
            message += f"\n--- last lines of {log}\n{tail}"
        return kind(
            message, service=entry.name, key=key, exit_code=code, logs_tail=tail, log=str(log)
        )

    def stop_all(self) -> None:
        """Stop every process and container this run started."""
        for proc in reversed(self.running):
            if proc.started is not None:
                processes.kill_group(proc.started)
                if proc.state.state == "running":
                    proc.state.state = "stopped"
            elif proc.state.container:
                docker.remove(proc.state.container)
                proc.state.state = "stopped"


def _database_addresses(
    svc: ResolvedService, everyone: list[ResolvedService]
) -> list[tuple[str, int]]:
    """Where a server for this database may already answer: the URLs of its type in its
    own values, then in other services' values (a host named like the service, as in a
    compose file, is 127.0.0.1), else its default port on 127.0.0.1."""
    kind = svc.entry.type
    found: list[tuple[str, int]] = []
    for other in [svc, *[s for s in everyone if s is not svc]]:
        for value in [*other.vars.values(), *other.secrets.values()]:
            try:
                parts = urlsplit(value.strip())
                port = parts.port
            except ValueError:
                continue
            if parts.scheme.lower() in SCHEMES[kind] and parts.hostname:
                # A compose-style host named after the service is this machine here.
                host = LOOPBACK if parts.hostname == svc.name else parts.hostname
                address = (host, port or docker.DEFAULT_PORTS[kind])
                if address not in found:
                    found.append(address)
    default = ("127.0.0.1", svc.entry.command_port or docker.DEFAULT_PORTS[kind])
    if not found:
        found.append(default)
    return found


def _rehost(svc: ResolvedService, hosts: dict[str, tuple[str, int]]) -> None:
    """Point values naming a database service as a host (``postgresql://u@db:5432/x``,
    ``DB_HOST = "db"``, as compose files do) at where that database answers here."""
    for values in (svc.vars, svc.secrets):
        for key, value in values.items():
            if value in hosts and "HOST" in key.upper():
                values[key] = hosts[value][0]
                continue
            try:
                parts = urlsplit(value)
                target = hosts.get(parts.hostname or "") if parts.scheme else None
            except ValueError:
                continue
            if target is not None:
                user = parts.netloc.rpartition("@")[0]
                netloc = f"{user}@" if user else ""
                values[key] = parts._replace(netloc=f"{netloc}{target[0]}:{target[1]}").geturl()


def _header(log: Path, line: str) -> None:
    with log.open("a", encoding="utf-8") as out:
        out.write(f"# brahmi deploy: {line}\n")


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "service"
