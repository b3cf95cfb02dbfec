"""The rules of ``aramb.toml`` (DESIGN §11), as pure functions over the parsed document.

:func:`check` reports every broken rule, each with a stable code, the service and the
dotted key; it never stops at the first. It is the one rulebook: ``brahmi metadata
validate`` and ``brahmi deploy`` (:func:`brahmi.deploy.plan.parse`) both apply it.
No I/O here: :mod:`brahmi.metadata.files` reads files and adds line numbers.
"""

from __future__ import annotations

import functools
import re
import shlex
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from brahmi.metadata.model import (
    APPLICATION_ID,
    FIRST_ID,
    FORBIDDEN_SETTINGS,
    OUTPUT_KEYS,
    REFERENCE_KINDS,
    REQUIRED_SETTINGS,
    SERVICE_TYPES,
    MetadataProblem,
    Reference,
    Service,
)

#: A key whose name contains one of these (any case) is a secret.
SECRET_NAME_WORDS = (
    "PASSWORD",
    "PASSWD",
    "PWD",
    "SECRET",
    "TOKEN",
    "API_KEY",
    "PRIVATE",
    "CREDENTIAL",
    "JWT",
    "OAUTH",
)
#: Settings that name a folder or file inside the project (they cannot leave it).
PATH_SETTINGS = ("buildPath", "outputPath", "dockerfile")
#: Settings holding a command: a string ``shlex.split`` reads, or a list of strings.
COMMAND_SETTINGS = ("cmd", "installCommand", "buildCommand")
#: Names: short, lowercase, DNS-label-like.
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_CANDIDATE = re.compile(r"\$\{([^}]*)\}")
_REFERENCE = re.compile(r"^(\d+)\.([A-Za-z_]+)\.([A-Za-z_][A-Za-z0-9_]*)$")
_LOOKS_LIKE_REFERENCE = re.compile(r"^\s*\d|\.(vars|secrets|outputs)\b")
#: ``scheme://user:password@host``: the password part.
_URL_PASSWORD = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/@:\s]*:([^/@\s]+)@")


def is_secret_name(key: str) -> bool:
    """True when ``key`` names a secret: it contains one of :data:`SECRET_NAME_WORDS`
    in any case (``DB_PASSWORD``, ``githubToken``, ``STRIPE_API_KEY``)."""
    upper = key.upper()
    return any(word in upper for word in SECRET_NAME_WORDS)


def parse_references(text: str) -> list[Reference]:
    """Every ``${N.kind.KEY}`` in ``text``, in order.

    ``${…}`` that does not look like a service reference (``${PORT}``, a shell-style
    variable) is not returned; one that does but is malformed (``${api.vars.X}``,
    ``${101.outputs}``, ``${101.env.X}``) is returned with ``well_formed=False``.

    Args:
        text: Any value from the file.

    Returns:
        The references found; empty when none.
    """
    if "${" not in text:
        return []
    return list(_references(text))


@functools.lru_cache(maxsize=4096)
def _references(text: str) -> tuple[Reference, ...]:
    found: list[Reference] = []
    for match in _CANDIDATE.finditer(text):
        inner = match.group(1).strip()
        parsed = _REFERENCE.match(inner)
        if parsed and parsed.group(2) in REFERENCE_KINDS:
            found.append(
                Reference(
                    match.group(0), int(parsed.group(1)), parsed.group(2), parsed.group(3), True
                )
            )
        elif _LOOKS_LIKE_REFERENCE.search(inner):
            parts = inner.split(".")
            head = parts[0].strip()
            found.append(
                Reference(
                    match.group(0),
                    int(head) if head.isdigit() else None,
                    parts[1] if len(parts) > 1 else "",
                    ".".join(parts[2:]),
                    False,
                )
            )
    return tuple(found)


def read_services(document: Mapping[str, Any]) -> list[Service]:
    """The ``[[services]]`` entries, read leniently (see :class:`Service`); entries that
    are not tables are skipped. No checks: use :func:`check` for those."""
    raw = document.get("services")
    if not isinstance(raw, list):
        return []
    return [_service(i, item) for i, item in enumerate(raw) if isinstance(item, Mapping)]


def check(document: Mapping[str, Any]) -> list[MetadataProblem]:
    """Every broken rule of DESIGN §11 in a parsed ``aramb.toml``.

    Checks: ids 100, 101, … in file order and unique; names present, lowercase and
    unique; types from the list; ``applicationID`` the literal ``"{applicationID}"``;
    per-type required and forbidden settings; no ``image`` with ``repoUrl``; setting
    value shapes (ports, lists, commands ``shlex`` can split, paths inside the project);
    vars and secrets as ``{key, value}`` with unique keys; secret-looking names and
    embedded passwords in vars; literal secret values; every reference naming an
    existing, lower-numbered service and key; ``[config_status]``'s shape.

    Args:
        document: The file as ``tomllib.loads`` returns it.

    Returns:
        The problems in file order (empty when the file is valid); ``line`` is None
        here (:func:`brahmi.metadata.files.validate_file` fills it in).
    """
    out: list[MetadataProblem] = []
    raw = document.get("services")
    if raw is None or (isinstance(raw, list) and not raw):
        out.append(MetadataProblem("no_services", "the file has no [[services]]", key="services"))
        raw = []
    elif not isinstance(raw, list):
        out.append(
            MetadataProblem("bad_value", "services must be an array of tables", key="services")
        )
        raw = []
    services: list[Service] = []
    for index, item in enumerate(raw):
        where = f"services[{index}]"
        if not isinstance(item, Mapping):
            out.append(
                MetadataProblem(
                    "bad_value", f"{where} is not a table", service_index=index, key=where
                )
            )
            continue
        service = _service(index, item)
        services.append(service)
        out.extend(_check_entry(service, item))
    by_id = _check_ids(services, out)
    for service in services:
        out.extend(_check_references(service, by_id))
    out.extend(_check_config_status(document.get("config_status"), by_id))
    return sorted(out, key=_order)


def _order(problem: MetadataProblem) -> int:
    """File-level problems first, then by service, ``config_status`` last (stable)."""
    if problem.service_index is not None:
        return problem.service_index
    return 1 << 30 if (problem.key or "").startswith("config_status") else -1


def _service(index: int, item: Mapping[str, Any]) -> Service:
    ident = item.get("uniqueIdentifier")
    name = item.get("name")
    kind = item.get("type")
    config = item.get("configuration")
    config = config if isinstance(config, Mapping) else {}
    settings = config.get("settings")
    return Service(
        index=index,
        unique_identifier=ident if isinstance(ident, int) and not isinstance(ident, bool) else None,
        name=name if isinstance(name, str) else None,
        type=kind if isinstance(kind, str) else None,
        settings=settings if isinstance(settings, Mapping) else {},
        vars=tuple(_pairs(config.get("vars"))),
        secrets=tuple(_pairs(config.get("secrets"))),
    )


def _pairs(raw: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(raw, list):
        for item in raw:
            if isinstance(item, Mapping) and isinstance(item.get("key"), str):
                yield item["key"], item.get("value")


class _Where:
    """Builds problems for one service."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.prefix = f"services[{service.index}]"
        label = service.name or f"#{service.index}"
        if service.unique_identifier is not None:
            label = f"{label} ({service.unique_identifier})"
        self.label = f"service {label}"
        self.problems: list[MetadataProblem] = []

    def add(self, code: str, message: str, key: str = "") -> None:
        self.problems.append(
            MetadataProblem(
                code,
                f"{self.label}: {message}",
                service_index=self.service.index,
                service_id=self.service.unique_identifier,
                key=f"{self.prefix}.{key}" if key else self.prefix,
            )
        )


def _check_entry(service: Service, item: Mapping[str, Any]) -> list[MetadataProblem]:
    where = _Where(service)
    ident = item.get("uniqueIdentifier")
    if ident is None:
        where.add("missing_field", "uniqueIdentifier is missing", "uniqueIdentifier")
    elif service.unique_identifier is None:
        where.add(
            "bad_value", f"uniqueIdentifier must be an integer, not {ident!r}", "uniqueIdentifier"
        )
    name = item.get("name")
    if name is None:
        where.add("missing_field", "name is missing", "name")
    elif not isinstance(name, str) or not _NAME.match(name):
        where.add(
            "bad_name",
            f"name {name!r} must be short and lowercase (letters, digits, '-', '_', '.')",
            "name",
        )
    kind = item.get("type")
    if kind is None:
        where.add("missing_field", "type is missing", "type")
    elif kind not in SERVICE_TYPES:
        where.add("unknown_type", f"type {kind!r} is not one of {', '.join(SERVICE_TYPES)}", "type")
    app_id = item.get("applicationID")
    if app_id is None:
        where.add(
            "missing_field", f'applicationID is missing (use "{APPLICATION_ID}")', "applicationID"
        )
    elif app_id != APPLICATION_ID:
        where.add(
            "bad_application_id",
            f'applicationID must be the literal "{APPLICATION_ID}", not {app_id!r}',
            "applicationID",
        )
    config = item.get("configuration")
    if config is not None and not isinstance(config, Mapping):
        where.add("bad_value", "configuration must be a table", "configuration")
        config = {}
    config = config or {}
    settings = config.get("settings")
    if settings is not None and not isinstance(settings, Mapping):
        where.add("bad_value", "configuration.settings must be a table", "configuration.settings")
    _check_pairs(where, config.get("vars"), "vars")
    _check_pairs(where, config.get("secrets"), "secrets")
    _check_type_rules(where, service)
    _check_settings(where, service.settings)
    _check_values(where, service)
    return where.problems


def _check_pairs(where: _Where, raw: Any, kind: str) -> None:
    path = f"configuration.{kind}"
    if raw is None:
        return
    if not isinstance(raw, list):
        where.add("bad_value", f"{path} must be an array of {{key, value}} tables", path)
        return
    seen: set[str] = set()
    for j, item in enumerate(raw):
        at = f"{path}[{j}]"
        if not isinstance(item, Mapping):
            where.add("bad_value", f"{at} must be a {{key, value}} table", at)
            continue
        key = item.get("key")
        if key is None:
            where.add("missing_field", f"{at} has no key", f"{at}.key")
        elif not isinstance(key, str) or not key.strip():
            where.add("bad_value", f"{at}.key must be a non-empty string, not {key!r}", f"{at}.key")
        elif key in seen:
            where.add("duplicate_key", f"{kind} key {key} appears twice", f"{at}.key")
        else:
            seen.add(key)
        if "value" not in item:
            where.add("missing_field", f"{at} ({key}) has no value", f"{at}.value")
        elif not isinstance(item["value"], str | int | float | bool):
            where.add(
                "bad_value", f"{at}.value ({key}) must be a string or a number", f"{at}.value"
            )
    if kind == "secrets":
        both = where.service.var_keys() & where.service.secret_keys()
        for key in sorted(both):
            where.add("duplicate_key", f"{key} is both a var and a secret", path)


def _check_type_rules(where: _Where, service: Service) -> None:
    kind = service.type or ""
    settings = service.settings
    for key in REQUIRED_SETTINGS.get(kind, ()):
        if key not in settings:
            where.add(
                "missing_field",
                f"a {kind} service needs configuration.settings.{key}",
                f"configuration.settings.{key}",
            )
    forbidden = FORBIDDEN_SETTINGS.get(kind, ())
    for key in forbidden:
        if key in settings:
            where.add(
                "forbidden_field",
                f"a {kind} service cannot have configuration.settings.{key}",
                f"configuration.settings.{key}",
            )
    if kind == "build":
        for pairs, name in ((service.vars, "vars"), (service.secrets, "secrets")):
            if pairs:
                where.add(
                    "forbidden_field",
                    f"a build service takes no {name} ({', '.join(k for k, _ in pairs)})",
                    f"configuration.{name}",
                )
    both = "image" in settings and "repoUrl" in settings
    if both and not ({"image", "repoUrl"} & set(forbidden)):
        where.add(
            "image_and_repo_url",
            "a service cannot have both image and repoUrl",
            "configuration.settings.repoUrl",
        )


def _check_settings(where: _Where, settings: Mapping[str, Any]) -> None:
    def bad(key: str, why: str) -> None:
        value = settings[key]
        where.add("bad_value", f"{key} {why}, not {value!r}", f"configuration.settings.{key}")

    for key in ("image", "staticPath"):
        value = settings.get(key)
        if key in settings and (not isinstance(value, str) or not value.strip()):
            bad(key, "must be a non-empty string")
    for key in ("repoUrl", "healthCheckPath"):
        if key in settings and not isinstance(settings[key], str):
            bad(key, "must be a string")
    health = settings.get("healthCheckPath")
    if isinstance(health, str) and not health.startswith("/"):
        bad("healthCheckPath", "must be a URL path starting with '/'")
    if "installationId" in settings and (
        not isinstance(settings["installationId"], str | int)
        or isinstance(settings["installationId"], bool)
    ):
        bad("installationId", "must be a string or an integer")
    if "commandPort" in settings and not _is_port(settings["commandPort"]):
        bad("commandPort", "must be a port number (1-65535) or a reference")
    if "publicNet" in settings and not isinstance(settings["publicNet"], bool):
        bad("publicNet", "must be true or false")
    branches = settings.get("targetBranches")
    if "targetBranches" in settings and not (
        isinstance(branches, list)
        and branches
        and all(isinstance(b, str) and b.strip() for b in branches)
    ):
        bad("targetBranches", "must be a non-empty list of branch names")
    for key in COMMAND_SETTINGS:
        if key in settings and not _is_command(settings[key]):
            bad(key, "must be a command (a string shlex can split, or a list of strings)")
    for key in PATH_SETTINGS:
        value = settings.get(key)
        if key not in settings:
            continue
        if not isinstance(value, str) or not value.strip():
            bad(key, "must be a path inside the project")
        elif not is_inside_path(value):
            where.add(
                "bad_path",
                f"{key} {value!r} leaves the project folder (absolute or '..')",
                f"configuration.settings.{key}",
            )
    static = settings.get("staticPath")
    if isinstance(static, str) and not parse_references(static) and not is_inside_path(static):
        where.add(
            "bad_path",
            f"staticPath {static!r} leaves the project folder (absolute or '..')",
            "configuration.settings.staticPath",
        )


def is_inside_path(value: str) -> bool:
    """True when ``value`` is a relative path that stays inside its folder (no leading
    ``/`` or ``~``, no ``..`` part)."""
    text = value.strip().replace("\\", "/")
    if text.startswith(("/", "~")) or re.match(r"^[A-Za-z]:", text):
        return False
    return ".." not in text.split("/")


def _is_port(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return 1 <= value <= 65535
    if isinstance(value, str):
        refs = parse_references(value)
        if refs and value.strip() == refs[0].text and len(refs) == 1:
            return True
        return value.isdigit() and 1 <= int(value) <= 65535
    return False


def _is_command(value: Any) -> bool:
    if isinstance(value, list):
        return bool(value) and all(isinstance(v, str) for v in value)
    return isinstance(value, str) and _splits(value)


@functools.lru_cache(maxsize=1024)
def _splits(value: str) -> bool:
    """True when ``shlex.split`` reads ``value`` into at least one word."""
    try:
        return bool(shlex.split(value))
    except ValueError:
        return False


def _check_values(where: _Where, service: Service) -> None:
    for j, (key, value) in enumerate(service.vars):
        at = f"configuration.vars[{j}]"
        if is_secret_name(key):
            where.add(
                "secret_in_vars",
                f"var {key} names a secret; move it to secrets with an empty value",
                f"{at}.key",
            )
        elif isinstance(value, str):
            if any(r.kind == "secrets" for r in parse_references(value)):
                where.add(
                    "secret_in_vars",
                    f"var {key} takes a secret's value; make it a secret",
                    f"{at}.value",
                )
            elif has_literal_password(value):
                where.add(
                    "secret_in_vars",
                    f"var {key} holds a URL with a password; make it a secret",
                    f"{at}.value",
                )
    for j, (key, value) in enumerate(service.secrets):
        if not is_literal_secret(value):
            continue
        where.add(
            "literal_secret",
            f"secret {key} has a literal value; leave it empty or refer to another "
            "service's secret",
            f"configuration.secrets[{j}].value",
        )


def is_literal_secret(value: Any) -> bool:
    """True when a secret's value is a literal: not empty and holding no reference."""
    if value is None or value == "":
        return False
    if not isinstance(value, str):
        return True
    return not any(r.well_formed for r in parse_references(value))


def has_literal_password(value: str) -> bool:
    """True when ``value`` is a URL whose password part is written out
    (``postgresql://app:hunter2@db/app``), not a reference."""
    match = _URL_PASSWORD.match(value.strip())
    if not match:
        return False
    password = match.group(1)
    return bool(_CANDIDATE.sub("", password))


def _check_ids(services: Sequence[Service], out: list[MetadataProblem]) -> dict[int, Service]:
    by_id: dict[int, Service] = {}
    names: dict[str, Service] = {}
    for position, service in enumerate(services):
        where = _Where(service)
        ident = service.unique_identifier
        if ident is not None:
            expected = FIRST_ID + service.index
            if ident in by_id:
                where.add(
                    "duplicate_id",
                    f"uniqueIdentifier {ident} is already used by service "
                    f"{by_id[ident].name or by_id[ident].index}",
                    "uniqueIdentifier",
                )
            elif ident != expected:
                where.add(
                    "id_not_sequential",
                    f"uniqueIdentifier is {ident}; service {position + 1} of the file must be "
                    f"{expected} (ids are 100, 101, … in file order)",
                    "uniqueIdentifier",
                )
            by_id.setdefault(ident, service)
        if service.name:
            if service.name in names:
                where.add("duplicate_name", f"name {service.name!r} is used twice", "name")
            names.setdefault(service.name, service)
        out.extend(where.problems)
    return by_id


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)


def _check_references(service: Service, by_id: Mapping[int, Service]) -> list[MetadataProblem]:
    where = _Where(service)
    places: list[tuple[str, Any]] = [
        (f"configuration.settings.{key}", value) for key, value in service.settings.items()
    ]
    places += [(f"configuration.vars[{j}].value", v) for j, (_, v) in enumerate(service.vars)]
    places += [(f"configuration.secrets[{j}].value", v) for j, (_, v) in enumerate(service.secrets)]
    own = service.unique_identifier
    for key, value in places:
        for text in _strings(value):
            for ref in parse_references(text):
                _check_reference(where, key, ref, own, by_id)
    return where.problems


def _check_reference(
    where: _Where, key: str, ref: Reference, own: int | None, by_id: Mapping[int, Service]
) -> None:
    if not ref.well_formed or ref.service_id is None:
        where.add(
            "bad_reference",
            f"{ref.text} is not a reference: use ${{N.vars.KEY}}, ${{N.secrets.KEY}}, "
            "${N.outputs.IMAGE_URL} or ${N.outputs.PATH}",
            key,
        )
        return
    target = by_id.get(ref.service_id)
    if target is None:
        where.add(
            "bad_reference", f"{ref.text} names service {ref.service_id}, which does not exist", key
        )
        return
    if own is not None and ref.service_id >= own:
        where.add(
            "forward_reference",
            f"{ref.text} names service {ref.service_id}, which is not numbered lower than {own}",
            key,
        )
    label = (
        f"service {target.name} ({ref.service_id})" if target.name else f"service {ref.service_id}"
    )
    if ref.kind == "vars" and ref.key not in target.var_keys():
        where.add("bad_reference", f"{ref.text}: {label} has no var {ref.key}", key)
    elif ref.kind == "secrets" and ref.key not in target.secret_keys():
        where.add("bad_reference", f"{ref.text}: {label} has no secret {ref.key}", key)
    elif ref.kind == "outputs":
        if ref.key not in OUTPUT_KEYS:
            where.add(
                "bad_reference",
                f"{ref.text}: outputs are IMAGE_URL and PATH, not {ref.key}",
                key,
            )
        elif target.type != "build":
            where.add(
                "bad_reference",
                f"{ref.text}: {label} is a {target.type}, and only build services have outputs",
                key,
            )


def _check_config_status(raw: Any, by_id: Mapping[int, Service]) -> list[MetadataProblem]:
    if raw is None:
        return []
    if not isinstance(raw, Mapping):
        return [MetadataProblem("bad_value", "config_status must be a table", key="config_status")]
    out: list[MetadataProblem] = []
    status = raw.get("status")
    if status is not None and not isinstance(status, str):
        out.append(
            MetadataProblem(
                "bad_value", "config_status.status must be a string", key="config_status.status"
            )
        )
    incomplete = raw.get("incomplete")
    if incomplete is None:
        return out
    if not isinstance(incomplete, list):
        return [
            *out,
            MetadataProblem(
                "bad_value",
                "config_status.incomplete must be a list of uniqueIdentifiers",
                key="config_status.incomplete",
            ),
        ]
    for j, ident in enumerate(incomplete):
        if not isinstance(ident, int) or isinstance(ident, bool) or ident not in by_id:
            out.append(
                MetadataProblem(
                    "bad_reference",
                    f"config_status.incomplete names {ident!r}, which is not a service's "
                    "uniqueIdentifier",
                    key=f"config_status.incomplete[{j}]",
                )
            )
    return out
