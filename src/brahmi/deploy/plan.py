"""From a parsed ``aramb.toml`` to concrete services (DESIGN §11). Pure: no I/O.

:func:`parse` checks the file with the metadata validator (:func:`brahmi.metadata.rules.check`:
the one rulebook, so what ``brahmi metadata validate`` accepts deploys) and returns a
:class:`Plan`; :func:`resolve` fills
``"{applicationID}"`` and the ``${N.vars.KEY}`` / ``${N.secrets.KEY}`` /
``${N.outputs.IMAGE_URL}`` / ``${N.outputs.PATH}`` references in id order, once build
outputs and ports are known, into :class:`ResolvedService` values.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from brahmi import errors
from brahmi.metadata import model, rules

#: Every service type the file format knows.
SERVICE_TYPES = model.SERVICE_TYPES
#: Types that run as a server process or container.
RUNNABLE = frozenset({"backend", "frontend"})
DATABASES = frozenset({"postgres", "redis", "mongodb"})
APP_ID = model.APPLICATION_ID
#: ``${N.vars.KEY}``, ``${N.secrets.KEY}``, ``${N.outputs.KEY}``.
REFERENCE = re.compile(r"\$\{(\d+)\.(vars|secrets|outputs)\.([A-Za-z_][A-Za-z0-9_]*)\}")
#: A command binding every interface is bound to loopback instead.
ALL_INTERFACES = "0.0.0.0"  # noqa: S104
LOOPBACK = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class ServiceEntry:
    """One ``[[services]]`` entry as written."""

    id: int
    name: str
    type: str
    settings: Mapping[str, Any]
    vars: tuple[tuple[str, str], ...] = ()
    secrets: tuple[tuple[str, str], ...] = ()
    #: Its position in the file, from 0.
    index: int = 0

    @property
    def command_port(self) -> int | None:
        """``settings.commandPort`` as an int, when it is one."""
        port = self.settings.get("commandPort")
        if isinstance(port, int) and not isinstance(port, bool):
            return port
        if isinstance(port, str) and port.isdigit():
            return int(port)
        return None

    def output_source(self, key: str) -> int | None:
        """The build service whose output ``key`` a setting names wholly
        (``image = "${101.outputs.IMAGE_URL}"`` gives 101 for ``image``)."""
        value = self.settings.get(key)
        if isinstance(value, str):
            match = REFERENCE.fullmatch(value.strip())
            if match and match.group(2) == "outputs":
                return int(match.group(1))
        return None


@dataclass(frozen=True, slots=True)
class Plan:
    """The services of one file, checked and in id order."""

    application_id: str
    services: tuple[ServiceEntry, ...]
    #: Things worth saying that do not stop a deployment (``[config_status]``, …).
    warnings: tuple[str, ...] = ()

    def get(self, service_id: int) -> ServiceEntry:
        """The service with this id (KeyError when none)."""
        for svc in self.services:
            if svc.id == service_id:
                return svc
        raise KeyError(service_id)

    def public_service(self) -> ServiceEntry | None:
        """The service whose URL is the deployment's public URL: the frontend with
        ``publicNet`` (else the last frontend), else the backend with ``publicNet``
        (else the last backend)."""
        for kind in ("frontend", "backend"):
            candidates = [s for s in self.services if s.type == kind]
            public = [s for s in candidates if s.settings.get("publicNet") is True]
            if public or candidates:
                return (public or candidates)[-1]
        return None


@dataclass(slots=True)
class ResolvedService:
    """A service with every reference filled in, ready to start."""

    entry: ServiceEntry
    settings: dict[str, Any]
    vars: dict[str, str]
    secrets: dict[str, str]
    #: The port it listens on (allocated), for backends and frontends.
    port: int | None = None
    #: ``cmd`` as an argument list, the port and loopback substituted; None without one.
    argv: list[str] | None = None
    #: Secrets still empty after filling from the environment (names only).
    empty_secrets: list[str] = field(default_factory=list)

    @property
    def id(self) -> int:
        return self.entry.id

    @property
    def name(self) -> str:
        return self.entry.name

    def env(self) -> dict[str, str]:
        """The service's own environment: vars, secrets, and ``PORT`` when it has one."""
        env = {**self.vars, **self.secrets}
        if self.port is not None:
            env["PORT"] = str(self.port)
        return env


def parse(document: Mapping[str, Any], application_id: str) -> Plan:
    """Check ``document`` (a parsed ``aramb.toml``) for what deploying needs.

    Args:
        document: The file as ``tomllib`` returns it.
        application_id: Replaces ``"{applicationID}"`` (from ``APPLICATION_ID``).

    Returns:
        The plan, services in id order.

    Raises:
        InvalidMetadata: Listing every problem found, each naming the service and key;
            ``problems`` holds them as ``{"code", "message", "service", "key"}``
            (``service`` the ``uniqueIdentifier``, ``key`` the dotted path
            ``services[2].configuration.vars[0].value``), as the metadata validator does.
    """
    checked = [p.to_dict() for p in rules.check(document)]
    if checked:
        raise _invalid(
            [{k: p.get(k) for k in ("code", "message", "service", "key")} for p in checked]
        )
    problems: list[dict[str, Any]] = []

    def problem(key: str, code: str, message: str, service: int | None = None) -> None:
        problems.append({"code": code, "message": message, "service": service, "key": key})

    raw = document.get("services")
    if not isinstance(raw, list) or not raw:
        problem("services", "no_services", "the file declares no [[services]]")
        raise _invalid(problems)
    entries: list[ServiceEntry] = []
    for index, item in enumerate(raw):
        where = f"services[{index}]"
        if not isinstance(item, Mapping):
            problem(where, "bad_value", f"{where} is not a table")
            continue
        entry = _entry(item, index, problem)
        if entry is not None:
            entries.append(entry)
    if problems:
        raise _invalid(problems)
    warnings: list[str] = []
    status = document.get("config_status")
    if isinstance(status, Mapping) and status.get("status") not in (None, "complete"):
        message = status.get("message") or "the file says it is incomplete"
        warnings.append(f"config_status: {message}")
    return Plan(application_id, tuple(sorted(entries, key=lambda e: e.id)), tuple(warnings))


def resolve(
    plan: Plan,
    outputs: Mapping[int, Mapping[str, str]],
    ports: Mapping[int, int],
    secret_values: Mapping[str, str] | None = None,
) -> list[ResolvedService]:
    """Fill every reference, in id order, for every service but the build ones.

    Args:
        plan: From :func:`parse`.
        outputs: ``{build id: {"IMAGE_URL": ..., "PATH": ...}}`` of the builds done.
        ports: ``{service id: port}`` allocated for backends and frontends; the
            service's ``commandPort`` is replaced by it in its command and values.
        secret_values: Fills a secret whose value is empty, by key (the deploying
            environment).

    Returns:
        One :class:`ResolvedService` per non-build service, in id order.

    Raises:
        InvalidMetadata: A reference to an output no build produced.
    """
    fill = secret_values or {}
    done: dict[int, ResolvedService] = {}
    result: list[ResolvedService] = []
    for entry in plan.services:

        def sub(value: Any, where: str, entry: ServiceEntry = entry) -> Any:
            return _substitute(value, plan, done, outputs, entry, where)

        variables = {k: str(sub(v, f"vars.{k}")) for k, v in entry.vars}
        secrets: dict[str, str] = {}
        empty: list[str] = []
        for key, value in entry.secrets:
            resolved = str(sub(value, f"secrets.{key}"))
            if not resolved:
                resolved = fill.get(key, "")
            if not resolved:
                empty.append(key)
            secrets[key] = resolved
        settings = {k: sub(v, f"settings.{k}") for k, v in entry.settings.items()}
        service = ResolvedService(entry, settings, variables, secrets, empty_secrets=empty)
        done[entry.id] = service
        if entry.type == "build":
            continue
        port = ports.get(entry.id)
        if port is not None:
            service.port = port
            _rebind(service, entry.command_port, port)
        cmd = settings.get("cmd")
        if isinstance(cmd, str) and cmd.strip():
            service.argv = split_command(cmd, entry.command_port, port)
        elif isinstance(cmd, list) and cmd:
            service.argv = [_replace_port(str(a), entry.command_port, port) for a in cmd if str(a)]
        result.append(service)
    return result


def build_settings(plan: Plan, entry: ServiceEntry) -> dict[str, Any]:
    """A build service's settings with ``"{applicationID}"`` filled (builds take no
    references to other services)."""
    return {k: _app_id(v, plan.application_id) for k, v in entry.settings.items()}


def split_command(cmd: str, command_port: int | None, port: int | None) -> list[str]:
    """``cmd`` split like a shell would (never run by one), with ``command_port``
    replaced by ``port`` and ``0.0.0.0`` by ``127.0.0.1`` in each argument.

    Raises:
        ValueError: When ``cmd`` does not split (an unclosed quote).
    """
    return [_replace_port(arg, command_port, port) for arg in shlex.split(cmd)]


def references(value: str) -> list[tuple[int, str, str]]:
    """The ``(service id, kind, key)`` references in a string."""
    return [(int(m.group(1)), m.group(2), m.group(3)) for m in REFERENCE.finditer(value)]


def _entry(item: Mapping[str, Any], index: int, problem: Any) -> ServiceEntry | None:
    where = f"services[{index}]"
    ident = item.get("uniqueIdentifier")
    if not isinstance(ident, int) or isinstance(ident, bool):
        problem(f"{where}.uniqueIdentifier", "bad_value", f"{where} needs an integer id")
        return None
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        problem(f"{where}.name", "missing_field", f"{where} ({ident}) needs a name", ident)
        return None
    label = f"service {ident} ({name})"
    kind = item.get("type")
    if kind not in SERVICE_TYPES:
        known = ", ".join(sorted(SERVICE_TYPES))
        problem(
            f"{where}.type", "unknown_type", f"{label}: type {kind!r} is not one of {known}", ident
        )
        return None
    config = item.get("configuration", {})
    settings = config.get("settings", {}) if isinstance(config, Mapping) else None
    if not isinstance(settings, Mapping):
        problem(f"{where}.configuration", "bad_value", f"{label}: settings is not a table", ident)
        return None
    pairs: dict[str, tuple[tuple[str, str], ...]] = {}
    for part in ("vars", "secrets"):
        items = config.get(part, [])
        found: list[tuple[str, str]] = []
        for n, kv in enumerate(items if isinstance(items, list) else [None]):
            path = f"{where}.configuration.{part}[{n}]"
            if not (isinstance(kv, Mapping) and isinstance(kv.get("key"), str)):
                problem(path, "bad_value", f"{label}: {part}[{n}] needs a string key", ident)
                continue
            value = kv.get("value", "")
            if not isinstance(value, str | int | float | bool):
                problem(path, "bad_value", f"{label}: {part}.{kv['key']} is not a scalar", ident)
                continue
            found.append((kv["key"], _scalar(value)))
        pairs[part] = tuple(found)
    return ServiceEntry(ident, name, kind, dict(settings), pairs["vars"], pairs["secrets"], index)


def _substitute(
    value: Any,
    plan: Plan,
    done: Mapping[int, ResolvedService],
    outputs: Mapping[int, Mapping[str, str]],
    entry: ServiceEntry,
    where: str,
) -> Any:
    if isinstance(value, list):
        return [_substitute(v, plan, done, outputs, entry, where) for v in value]
    if isinstance(value, Mapping):
        return {k: _substitute(v, plan, done, outputs, entry, where) for k, v in value.items()}
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        ref_id, kind, key = int(match.group(1)), match.group(2), match.group(3)
        if kind == "outputs":
            produced = outputs.get(ref_id, {})
            if key not in produced:
                raise errors.InvalidMetadata(
                    f"service {entry.id} ({entry.name}): {where}: {match.group(0)} names an "
                    f"output that build {ref_id} did not produce",
                    service=entry.name,
                    key=where,
                )
            return produced[key]
        source = done[ref_id]
        return (source.vars if kind == "vars" else source.secrets)[key]

    return REFERENCE.sub(one, _app_id(value, plan.application_id))


def _app_id(value: Any, application_id: str) -> Any:
    if isinstance(value, str):
        return value.replace(APP_ID, application_id)
    if isinstance(value, list):
        return [_app_id(v, application_id) for v in value]
    if isinstance(value, Mapping):
        return {k: _app_id(v, application_id) for k, v in value.items()}
    return value


def _rebind(service: ResolvedService, command_port: int | None, port: int) -> None:
    """Point the service's own values at its allocated port."""
    if command_port is None:
        return
    for values in (service.vars, service.secrets):
        for key, value in values.items():
            if value == str(command_port):
                values[key] = str(port)
            elif re.search(rf"(?:localhost|127\.0\.0\.1|0\.0\.0\.0):{command_port}(?!\d)", value):
                values[key] = _replace_port(value, command_port, port)


def _replace_port(arg: str, command_port: int | None, port: int | None) -> str:
    arg = arg.replace(ALL_INTERFACES, LOOPBACK)
    if command_port is None or port is None:
        return arg
    return re.sub(rf"(?<![\d.]){command_port}(?![\d.])", str(port), arg)


def _scalar(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _invalid(problems: list[dict[str, Any]]) -> errors.InvalidMetadata:
    lines = "\n".join(f"  - {p['key']}: {p['message']} [{p['code']}]" for p in problems)
    return errors.InvalidMetadata(
        f"aramb.toml cannot be deployed ({len(problems)} problem(s)):\n{lines}",
        problems=problems,
        key=problems[0]["key"],
    )
