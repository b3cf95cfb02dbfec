"""Deploying a project, and its status, logs and stop: what the CLI and skills call (§11).

Each function takes the project folder (or its ``aramb.toml``) and optionally ``home``
(``BRAHMI_HOME``, where :mod:`brahmi.deploy.records` keeps deployments; default: the
environment's, as :func:`brahmi.config.load_settings` finds it).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path

from brahmi import errors
from brahmi.config import load_settings
from brahmi.deploy import plan, records, registry
from brahmi.deploy.base import Deployment, DeployRequest

FILE_NAME = "aramb.toml"
#: Default wait for the public service to answer, seconds.
DEFAULT_TIMEOUT_S = 30.0


def project_file(path: Path) -> tuple[Path, Path]:
    """``(project folder, aramb.toml)`` for a folder or the file itself (absolute).

    Raises:
        InvalidMetadata: When there is no such file.
    """
    path = path.expanduser().resolve()
    file = path if path.is_file() else path / FILE_NAME
    if not file.is_file():
        raise errors.InvalidMetadata(f"no {FILE_NAME} at {file}", service="", key="")
    return file.parent, file


def load_plan(file: Path, application_id: str) -> tuple[plan.Plan, str]:
    """The checked plan of ``file`` and the file's SHA-256.

    Raises:
        InvalidMetadata: Not TOML, or a rule of the file broken (every problem the
            metadata validator reports, in ``problems``; see :func:`brahmi.deploy.plan.parse`).
    """
    data = file.read_bytes()
    try:
        document = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise errors.InvalidMetadata(f"{file} is not TOML: {exc}", service="", key="") from None
    return plan.parse(document, application_id), records.file_hash(data)


def deploy_project(
    project_dir: Path,
    target: str = "local",
    application_id: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    *,
    home: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Deployment:
    """Deploy the ``aramb.toml`` of ``project_dir`` on ``target``, replacing the
    project's previous deployment (stopped first, once the new file checks out).

    Args:
        project_dir: The project folder, or its ``aramb.toml``.
        target: A name from the ``brahmi.deploy_targets`` entry points.
        application_id: Fills ``"{applicationID}"``; default ``APPLICATION_ID`` from
            ``environ``, else the project folder's name.
        timeout_s: Longest wait for the services to answer.
        home: ``BRAHMI_HOME`` (default: from the environment, see :mod:`brahmi.config`).
        environ: The deploying environment (default ``os.environ``); empty secrets are
            filled from it by name.

    Returns:
        The deployment, recorded; its ``to_dict()`` is the public shape.

    Raises:
        InvalidMetadata: The file cannot be deployed as written. When the file itself
            breaks a rule, nothing was stopped or started; a value found wrong only while
            deploying (a path leaving the project, an output a build did not produce)
            comes after the previous deployment was stopped, and nothing new is left
            running.
        DeployTargetNotFound: No such target.
        DeployFailed: (or a subclass: ``service_not_deployable``, ``build_failed``,
            ``port_in_use``, ``service_exited``, ``health_check_failed``) with
            ``service``, ``key`` and ``logs_tail``; nothing is left running, and the
            failed deployment is recorded so its logs can be read.
    """
    env = os.environ if environ is None else environ
    project, file = project_file(project_dir)
    app_id = application_id or env.get("APPLICATION_ID") or project.name
    the_plan, digest = load_plan(file, app_id)
    chosen = registry.get(target)
    ok, reason = chosen.available()
    if not ok:
        raise errors.DeployFailed(f"the {target} target cannot deploy here: {reason}")
    folder = records.state_dir(_home(home), project)
    with records.locked(folder):
        _stop_recorded(folder)
        request = DeployRequest(
            plan=the_plan,
            project_dir=project,
            state_dir=folder,
            timeout_s=timeout_s,
            environ=dict(env),
            file_hash=digest,
        )
        try:
            deployment = chosen.deploy(request)
        except errors.DeployFailed as exc:
            if isinstance(exc.deployment, Deployment):
                records.save(folder, exc.deployment)
            raise
        records.save(folder, deployment)
        return deployment


def deployment_status(project_dir: Path, *, home: Path | None = None) -> Deployment:
    """The project's deployment with each service checked now.

    Raises:
        DeploymentNotFound: When the project was never deployed here.
    """
    _, deployment = _recorded(project_dir, home)
    return registry.get(deployment.target).status(deployment)


def deployment_logs(
    project_dir: Path, service: str, lines: int = 100, *, home: Path | None = None
) -> str:
    """The last ``lines`` lines of a service's log (its name or id).

    Raises:
        DeploymentNotFound: No deployment, or no such service in it.
    """
    _, deployment = _recorded(project_dir, home)
    found = deployment.service(service)
    if found is None:
        known = ", ".join(s.name for s in deployment.services)
        raise errors.DeploymentNotFound(
            f"the deployment has no service {service!r} (it has {known})", service=service
        )
    return registry.get(deployment.target).logs(deployment, found, lines)


def stop_deployment(project_dir: Path, *, home: Path | None = None) -> Deployment:
    """Stop every service of the project's deployment; the record stays, marked
    ``stopped``, so its logs can still be read. Stopping twice is harmless.

    Raises:
        DeploymentNotFound: When the project was never deployed here.
    """
    folder, _ = _recorded(project_dir, home)
    with records.locked(folder):
        deployment = records.load(folder)
        assert deployment is not None
        stopped = registry.get(deployment.target).stop(deployment)
        records.save(folder, stopped)
        return stopped


def _stop_recorded(folder: Path) -> None:
    previous = records.load(folder)
    if previous is not None and previous.status != "stopped":
        records.save(folder, registry.get(previous.target).stop(previous))


def _home(home: Path | None) -> Path:
    return home if home is not None else load_settings().home


def _recorded(project_dir: Path, home: Path | None) -> tuple[Path, Deployment]:
    home = _home(home)
    path = project_dir.expanduser().resolve()
    project = path.parent if path.is_file() else path
    folder = records.state_dir(home, project)
    deployment = records.load(folder)
    if deployment is None:
        raise errors.DeploymentNotFound(
            f"{project} has no deployment recorded in {home}", project=str(project)
        )
    return folder, deployment
