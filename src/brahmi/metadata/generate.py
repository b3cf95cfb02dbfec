"""``brahmi metadata generate``: derive ``aramb.toml`` from a project (DESIGN §11).

:func:`generate` turns what :func:`brahmi.metadata.detect.scan` found into services
(databases, then a ``build`` service before each backend and frontend it feeds, then
templates), and merges them into the existing file with ``tomlkit`` so comments, order,
numbers and every value a person wrote survive: services are matched by name (then by
``buildPath``, or by type when there is one of it), new ones get the next ids, and a
matched service only gains the settings, vars and secrets it lacks. Secrets are always
empty or references. Nothing is written here but by :func:`write`.
"""

from __future__ import annotations

import difflib
import os
import re
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import tomlkit
from tomlkit.items import AoT, Table

from brahmi import errors
from brahmi.metadata import detect, files, frameworks, rules
from brahmi.metadata.model import (
    APPLICATION_ID,
    FIRST_ID,
    FORBIDDEN_SETTINGS,
    MetadataProblem,
)

FILE_NAME = "aramb.toml"
HEADER = (
    "aramb.toml: the services of this project (DESIGN §11).",
    "Drafted by `brahmi metadata generate`; check it with `brahmi metadata validate aramb.toml`.",
)
#: Keys a backend may read for a database's own var or secret, by the database's key.
DATABASE_ALIASES: Mapping[str, tuple[str, ...]] = {
    "POSTGRES_DB": ("POSTGRES_DB", "DB_NAME", "DATABASE_NAME", "PGDATABASE", "POSTGRES_DATABASE"),
    "POSTGRES_USER": ("POSTGRES_USER", "DB_USER", "DATABASE_USER", "PGUSER", "POSTGRES_USERNAME"),
    "POSTGRES_PASSWORD": ("POSTGRES_PASSWORD", "DB_PASSWORD", "DATABASE_PASSWORD", "PGPASSWORD"),
    "MONGO_INITDB_ROOT_USERNAME": ("MONGO_INITDB_ROOT_USERNAME", "MONGO_USER", "MONGODB_USER"),
    "MONGO_INITDB_ROOT_PASSWORD": ("MONGO_INITDB_ROOT_PASSWORD", "MONGO_PASSWORD"),
    "MONGO_INITDB_DATABASE": ("MONGO_INITDB_DATABASE", "MONGO_DB", "MONGODB_DB"),
}
#: ``${@name@.`` in a draft stands for ``${<name's id>.``.
_SYMBOL = re.compile(r"\$\{@([^@]+)@\.")


@dataclass
class Draft:
    """One service as generated, before ids: references are ``${@name@.kind.KEY}``."""

    name: str
    type: str
    settings: dict[str, Any] = field(default_factory=dict)
    vars: list[tuple[str, str]] = field(default_factory=list)
    secrets: list[tuple[str, str]] = field(default_factory=list)
    source: str = ""
    #: For a build service: the backend or frontend it builds for.
    feeds: str | None = None


@dataclass(frozen=True)
class GeneratedMetadata:
    """What :func:`generate` produced.

    Attributes:
        text: The whole new ``aramb.toml``.
        services: One summary per service of the new file, in order:
            ``{"uniqueIdentifier", "name", "type", "status", "source"}`` where status is
            ``new``, ``updated`` (gained fields) or ``kept``.
        problems: :func:`brahmi.metadata.rules.check` of ``text`` (empty unless the
            existing file already broke a rule the merge cannot mend).
        diff: Unified diff from the existing file (from nothing when there was none).
        warnings: Guesses and things a person must look at.
        existed: Whether ``aramb.toml`` existed before.
        existing_text: The existing file's text ('' when none).
    """

    text: str
    services: list[dict[str, Any]]
    problems: list[MetadataProblem]
    diff: str
    warnings: list[str]
    existed: bool
    existing_text: str = ""

    @property
    def changed(self) -> bool:
        """True when ``text`` differs from the existing file."""
        return self.text != self.existing_text


def generate(project_dir: Path, existing_text: str | None = None) -> GeneratedMetadata:
    """Derive ``aramb.toml`` for the project at ``project_dir`` (reads only).

    Args:
        project_dir: The project folder.
        existing_text: The current file to merge into; None reads
            ``project_dir/aramb.toml`` when it exists.

    Returns:
        The new file, its services, problems, diff and warnings.

    Raises:
        MetadataUnreadable: ``project_dir`` is not a folder, or the existing file
            cannot be read or merged into.
        MetadataNotToml: The existing file is not TOML (it is left as it is).
        NoServicesFound: Neither the existing file nor the project holds a service.
    """
    if not project_dir.is_dir():
        raise errors.MetadataUnreadable(f"{project_dir} is not a folder", path=str(project_dir))
    existed = existing_text is not None
    if existing_text is None:
        target = project_dir / FILE_NAME
        if target.exists() or target.is_symlink():
            existing_text = files.read_text(_safe_target(project_dir))
            existed = True
    existing_text = existing_text or ""
    if existing_text:
        files.parse(existing_text, FILE_NAME)  # MetadataNotToml before anything else
    scan = detect.scan(project_dir)
    drafts = draft_services(scan)
    warnings = list(scan.warnings)
    document = tomlkit.parse(existing_text) if existing_text.strip() else _new_document()
    statuses = _merge(document, drafts, warnings)
    if not statuses:
        raise errors.NoServicesFound(
            f"no service found in {project_dir}: no compose file, Dockerfile, or Python, Node "
            "or Go server or web app",
            path=str(project_dir),
        )
    text = _spaced(tomlkit.dumps(document))
    text = _config_status(document, text, warnings)
    problems = files.validate_text(text, FILE_NAME)
    summaries = []
    for service in rules.read_services(tomllib_loads(text)):
        status, source = statuses.get(service.index, ("kept", "existing"))
        summaries.append(
            {
                "uniqueIdentifier": service.unique_identifier,
                "name": service.name,
                "type": service.type,
                "status": status,
                "source": source,
            }
        )
    diff = "".join(
        difflib.unified_diff(
            existing_text.splitlines(keepends=True),
            text.splitlines(keepends=True),
            fromfile=f"a/{FILE_NAME}" if existed else "/dev/null",
            tofile=f"b/{FILE_NAME}",
        )
    )
    return GeneratedMetadata(text, summaries, problems, diff, warnings, existed, existing_text)


def write(project_dir: Path, result: GeneratedMetadata) -> Path:
    """Write ``result.text`` to ``project_dir/aramb.toml`` atomically, keeping an existing
    file's permissions (a new file gets ``0o644``).

    Returns:
        The path written.

    Raises:
        MetadataUnreadable: ``aramb.toml`` is a symlink leading out of the project.
    """
    target = _safe_target(project_dir)
    fd, tmp = tempfile.mkstemp(prefix=".aramb.", suffix=".toml", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(result.text)
        # mkstemp makes the file 0600; the file a person reads and commits should not be.
        Path(tmp).chmod(_mode_of(target))
        Path(tmp).replace(target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def _mode_of(target: Path) -> int:
    """The permission bits ``target`` has, or ``0o644`` for a new file."""
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        return 0o644


def _safe_target(project_dir: Path) -> Path:
    root = project_dir.resolve()
    target = (project_dir / FILE_NAME).resolve()
    if target.parent != root:
        raise errors.MetadataUnreadable(
            f"{project_dir / FILE_NAME} leads out of the project folder; refusing to use it",
            path=str(project_dir / FILE_NAME),
        )
    return target


def tomllib_loads(text: str) -> dict[str, Any]:
    """``tomllib.loads`` through :func:`brahmi.metadata.files.parse`."""
    return files.parse(text, FILE_NAME)


# -- drafting --------------------------------------------------------------------------


def draft_services(scan: detect.ProjectScan) -> list[Draft]:
    """The services a scan implies, in the order of the file: databases, then each
    backend and frontend after its build service, then templates."""
    taken: set[str] = set()

    def unique(name: str) -> str:
        base, n = name or "service", 2
        while name in taken or not name:
            name, n = f"{base}-{n}", n + 1
        taken.add(name)
        return name

    drafts: list[Draft] = []
    databases: list[Draft] = []
    for db in scan.databases:
        draft = _database(db, unique(db.name))
        databases.append(draft)
        drafts.append(draft)
    components = sorted(scan.components, key=lambda c: (c.kind != "backend", c.path))
    for component in components:
        # Reserve the component's own name before its build service's.
        name = unique(component.name)
        build = _build(component, unique(f"{name}-build"), scan)
        build.feeds = name
        drafts.append(build)
        drafts.append(_runnable(component, name, build.name, databases, scan))
    for other in scan.others:
        settings: dict[str, Any] = {"image": other.image}
        if other.port:
            settings["commandPort"] = other.port
        if other.command:
            settings["cmd"] = other.command
        drafts.append(Draft(unique(other.name), "template", settings, source="compose"))
    return drafts


def _database(db: detect.Database, name: str) -> Draft:
    draft = Draft(name, db.type, {"image": db.image}, source=db.source)
    if db.port:
        draft.settings["commandPort"] = db.port
    for key, value in db.environment.items():
        if rules.is_secret_name(key) or rules.has_literal_password(value):
            draft.secrets.append((key, ""))
        else:
            draft.vars.append((key, value))
    keys = set(db.environment)
    trust = db.environment.get("POSTGRES_HOST_AUTH_METHOD") == "trust"
    if db.type == "postgres" and "POSTGRES_PASSWORD" not in keys and not trust:
        draft.secrets.append(("POSTGRES_PASSWORD", ""))
    mongo_user = db.type == "mongodb" and "MONGO_INITDB_ROOT_USERNAME" in keys
    if mongo_user and "MONGO_INITDB_ROOT_PASSWORD" not in keys:
        draft.secrets.append(("MONGO_INITDB_ROOT_PASSWORD", ""))
    return draft


def _build(component: frameworks.Component, name: str, scan: detect.ProjectScan) -> Draft:
    settings: dict[str, Any] = {
        "repoUrl": scan.repo_url,
        "buildPath": component.path,
        "targetBranches": [scan.branch],
        "installationId": "",
    }
    if component.install_command:
        settings["installCommand"] = component.install_command
    if component.build_command:
        settings["buildCommand"] = component.build_command
    if component.output_path:
        settings["outputPath"] = component.output_path
    if component.dockerfile:
        settings["dockerfile"] = component.dockerfile
    return Draft(name, "build", settings, source=f"{component.language} in {component.path}")


def _runnable(
    component: frameworks.Component,
    name: str,
    build: str,
    databases: list[Draft],
    scan: detect.ProjectScan,
) -> Draft:
    source = f"{component.framework or component.language} in {component.path}"
    port = component.port or (3000 if component.kind == "frontend" else 8000)
    if component.kind == "frontend":
        settings: dict[str, Any] = {"staticPath": f"${{@{build}@.outputs.PATH}}"}
    else:
        settings = {"image": f"${{@{build}@.outputs.IMAGE_URL}}"}
    kind = component.kind
    if component.cmd:
        settings["cmd"] = component.cmd
    else:
        kind = "template"
        scan.warnings.append(
            f"{name}: no start command found, so it is a template service; set its type "
            f"to {component.kind} and its cmd by hand"
        )
    settings["commandPort"] = port
    settings["publicNet"] = True
    if component.health_path:
        settings["healthCheckPath"] = component.health_path
    draft = Draft(name, kind, settings, source=source)
    nearby = [d for d in databases if d.name in component.depends_on] or databases
    for key, default in component.env.items():
        value = default or ""
        if key == "PORT" and not value:
            value = str(port)
        if key == "NODE_ENV" and not value:
            value = "production"
        wired = _wire(key, nearby)
        url_of = _database_url_type(key)
        target = next((d for d in nearby if d.type == url_of), None) if url_of else None
        if target is not None and not value:
            if target.secrets:
                # The URL would carry the database's password: an empty secret.
                draft.secrets.append((key, ""))
                continue
            value = _database_url(target)
        secret = rules.is_secret_name(key) or rules.has_literal_password(value)
        if secret:
            draft.secrets.append((key, wired if wired and ".secrets." in wired else ""))
        else:
            draft.vars.append((key, wired if wired and ".vars." in wired else value))
    return draft


_DATABASE_URL_KEY = re.compile(
    r"^(?:(?P<postgres>DATABASE|DB|POSTGRES|POSTGRESQL|PG|SQLALCHEMY_DATABASE)"
    r"|(?P<redis>REDIS|CACHE)|(?P<mongodb>MONGO|MONGODB))_?(?:URL|URI|DSN)$"
)


def _database_url_type(key: str) -> str | None:
    """The database type a ``DATABASE_URL``-like key points at, else None."""
    match = _DATABASE_URL_KEY.match(key.upper())
    return match.lastgroup if match else None


def _database_url(db: Draft) -> str:
    """A URL for a database without a password, naming its vars by reference."""
    port = db.settings.get("commandPort") or detect.DEFAULT_DATABASE_PORT[db.type]
    keys = dict(db.vars)
    if db.type == "postgres":
        user = f"${{@{db.name}@.vars.POSTGRES_USER}}" if "POSTGRES_USER" in keys else "postgres"
        name = f"${{@{db.name}@.vars.POSTGRES_DB}}" if "POSTGRES_DB" in keys else "postgres"
        return f"postgresql://{user}@{db.name}:{port}/{name}"
    if db.type == "redis":
        return f"redis://{db.name}:{port}/0"
    return f"mongodb://{db.name}:{port}"


def _wire(key: str, databases: list[Draft]) -> str | None:
    """A reference to a database's var or secret this key stands for, when one has it."""
    for db_key, aliases in DATABASE_ALIASES.items():
        if key not in aliases:
            continue
        for db in databases:
            if db_key in dict(db.vars):
                return f"${{@{db.name}@.vars.{db_key}}}"
            if db_key in dict(db.secrets):
                return f"${{@{db.name}@.secrets.{db_key}}}"
    return None


# -- merging ---------------------------------------------------------------------------


def _new_document() -> tomlkit.TOMLDocument:
    document = tomlkit.document()
    for line in HEADER:
        document.add(tomlkit.comment(line))
    document.add(tomlkit.nl())
    return document


def _merge(
    document: tomlkit.TOMLDocument, drafts: list[Draft], warnings: list[str]
) -> dict[int, tuple[str, str]]:
    """Merge ``drafts`` into ``document`` in place.

    Returns:
        ``{service index: (status, source)}`` for every service of the merged file.
    """
    services = document.get("services")
    if services is None:
        services = tomlkit.aot()
        _insert_services(document, services)
    if not isinstance(services, AoT):
        raise errors.MetadataUnreadable(
            "services in the existing aramb.toml is not an array of [[services]] tables; "
            "cannot merge into it"
        )
    existing: list[Table] = list(services)
    statuses: dict[int, tuple[str, str]] = {i: ("kept", "existing") for i in range(len(existing))}
    matches = _match(existing, drafts)
    drafts = [d for d in drafts if not _served(d, matches, existing)]
    ids: dict[str, int | None] = {}
    ints = [int(i) for t in existing if isinstance(i := t.get("uniqueIdentifier"), int)]
    next_id = max([FIRST_ID + len(existing), *[i + 1 for i in ints]])
    for draft in drafts:
        index = matches.get(draft.name)
        if index is not None:
            ident = existing[index].get("uniqueIdentifier")
            ids[draft.name] = int(ident) if isinstance(ident, int) else None
        else:
            ids[draft.name] = next_id
            next_id += 1
    for draft in drafts:
        index = matches.get(draft.name)
        own = ids[draft.name]
        resolved, broken = _resolved(draft, ids, own)
        if index is None:
            assert own is not None
            services.append(_table(resolved, own))
            statuses[len(services) - 1] = ("new", draft.source)
            added = broken
        else:
            added = _fill(existing[index], resolved)
            if added:
                statuses[index] = ("updated", draft.source)
        for where in sorted(added & broken):
            warnings.append(
                f"{draft.name}: {where} would refer to a service numbered after it; left "
                "empty: fill it in by hand"
            )
    return statuses


def _served(draft: Draft, matches: Mapping[str, int], existing: list[Table]) -> bool:
    """True for a build draft whose backend or frontend exists already and takes its
    image or static files from elsewhere (a person's choice: no build is added)."""
    if draft.feeds is None or draft.name in matches or draft.feeds not in matches:
        return False
    config = existing[matches[draft.feeds]].get("configuration")
    settings = config.get("settings") if isinstance(config, Mapping) else None
    if not isinstance(settings, Mapping):
        return False
    return bool(settings.get("image") or settings.get("staticPath"))


def _insert_services(document: tomlkit.TOMLDocument, services: AoT) -> None:
    """Add ``services`` before ``[config_status]`` when the file has one."""
    status = document.get("config_status")
    if status is None:
        document.append("services", services)
        return
    rest = document.pop("config_status")
    document.append("services", services)
    document.append("config_status", rest)


def _match(existing: list[Table], drafts: list[Draft]) -> dict[str, int]:
    """``{draft name: index of the existing service it is}``."""
    matched: dict[str, int] = {}
    used: set[int] = set()
    names = {str(t.get("name")): i for i, t in enumerate(existing)}
    for draft in drafts:
        if draft.name in names and names[draft.name] not in used:
            matched[draft.name] = names[draft.name]
            used.add(names[draft.name])

    def settings(table: Table) -> Mapping[str, Any]:
        config = table.get("configuration")
        found = config.get("settings") if isinstance(config, Mapping) else None
        return found if isinstance(found, Mapping) else {}

    for draft in drafts:
        if draft.name in matched:
            continue
        free = [i for i in range(len(existing)) if i not in used]
        same_type = [i for i in free if existing[i].get("type") == draft.type]
        if draft.type == "build":
            path = _norm(str(draft.settings.get("buildPath", ".")))
            hits = [
                i
                for i in same_type
                if _norm(str(settings(existing[i]).get("buildPath", "."))) == path
            ]
        else:
            alike = [d for d in drafts if d.type == draft.type and d.name not in matched]
            hits = same_type if len(same_type) == 1 and len(alike) == 1 else []
        if hits:
            matched[draft.name] = hits[0]
            used.add(hits[0])
    return matched


def _norm(path: str) -> str:
    return str(PurePosixPath(path.strip() or "."))


def _resolved(
    draft: Draft, ids: Mapping[str, int | None], own: int | None
) -> tuple[Draft, set[str]]:
    """``draft`` with ``${@name@.…}`` turned into ``${id.…}``, and the places
    (``settings.image``, ``vars.KEY``, ``secrets.KEY``) whose reference would not name a
    lower-numbered service: those are emptied."""
    broken: set[str] = set()

    def fix(value: Any, where: str) -> Any:
        if not isinstance(value, str) or "${@" not in value:
            return value
        bad = False

        def sub(match: re.Match[str]) -> str:
            nonlocal bad
            target = ids.get(match.group(1))
            if target is None or own is None or target >= own:
                bad = True
                return match.group(0)
            return f"${{{target}."

        result = _SYMBOL.sub(sub, value)
        if bad:
            broken.add(where)
            return ""
        return result

    resolved = Draft(
        draft.name,
        draft.type,
        {k: fix(v, f"settings.{k}") for k, v in draft.settings.items()},
        [(k, fix(v, f"vars.{k}")) for k, v in draft.vars],
        [(k, fix(v, f"secrets.{k}")) for k, v in draft.secrets],
        draft.source,
    )
    return resolved, broken


def _kv(key: str, value: str) -> Table:
    item = tomlkit.table()
    item.add("key", key)
    item.add("value", value)
    return item


def _table(draft: Draft, ident: int) -> Table:
    service = tomlkit.table()
    service.add("uniqueIdentifier", ident)
    service.add("name", draft.name)
    service.add("type", draft.type)
    service.add("applicationID", APPLICATION_ID)
    service.add(tomlkit.nl())
    config = tomlkit.table(is_super_table=True)
    settings = tomlkit.table()
    for key, value in draft.settings.items():
        settings.add(key, value)
    if draft.vars or draft.secrets:
        settings.add(tomlkit.nl())
    config.add("settings", settings)
    for kind, pairs in (("vars", draft.vars), ("secrets", draft.secrets)):
        if pairs:
            array = tomlkit.aot()
            for key, value in pairs:
                array.append(_kv(key, value))
            config.add(kind, array)
    service.add("configuration", config)
    return service


def _fill(table: Table, draft: Draft) -> set[str]:
    """Add what ``table`` lacks from ``draft``; never change a value.

    Returns:
        What was added: ``settings.KEY``, ``vars.KEY``, ``secrets.KEY``.
    """
    added: set[str] = set()
    config = table.get("configuration")
    if config is None:
        config = tomlkit.table(is_super_table=True)
        table.add("configuration", config)
    if not isinstance(config, Table):
        return added
    settings = config.get("settings")
    if settings is None:
        settings = tomlkit.table()
        config.add("settings", settings)
    kind = str(table.get("type", ""))
    if isinstance(settings, Table):
        for key, value in draft.settings.items():
            if key not in settings and key not in FORBIDDEN_SETTINGS.get(kind, ()):
                if value == "" and key in ("image", "staticPath"):
                    continue
                settings.add(key, value)
                added.add(f"settings.{key}")
    if kind == "build":
        return added
    present: set[str] = set()
    for name in ("vars", "secrets"):
        items = config.get(name)
        if isinstance(items, list):
            present |= {str(i.get("key")) for i in items if isinstance(i, Mapping)}
    for name, pairs in (("vars", draft.vars), ("secrets", draft.secrets)):
        missing = [(k, v) for k, v in pairs if k not in present]
        if not missing:
            continue
        items = config.get(name)
        if items is None:
            items = tomlkit.aot()
            config.add(name, items)
        if not isinstance(items, AoT):
            continue
        for key, value in missing:
            items.append(_kv(key, value))
            added.add(f"{name}.{key}")
    return added


# -- the finishing touches -------------------------------------------------------------


def _spaced(text: str) -> str:
    """A blank line before each ``services`` or ``config_status`` table header that
    directly follows a value (tomlkit appends without one)."""
    lines = text.splitlines()
    out: list[str] = []
    for line in lines:
        header = line.startswith(("[[services", "[services", "[config_status]"))
        if header and out and out[-1].strip() and not out[-1].lstrip().startswith("#"):
            out.append("")
        out.append(line)
    return "\n".join(out).rstrip("\n") + "\n"


def _config_status(document: tomlkit.TOMLDocument, text: str, warnings: list[str]) -> str:
    """Say in ``[config_status]`` which services still need a person: empty secrets,
    an unknown ``repoUrl`` or ``installationId``. An existing table keeps its words and
    gains the new ids in ``incomplete``."""
    services = rules.read_services(tomllib_loads(text))
    missing: dict[int, list[str]] = {}
    for service in services:
        if service.unique_identifier is None:
            continue
        todo = [f"secret {k}" for k, v in service.secrets if v == ""]
        if service.type == "build":
            todo += [
                key for key in ("repoUrl", "installationId") if service.settings.get(key) == ""
            ]
        if todo:
            missing[service.unique_identifier] = todo
    if not missing:
        return text
    status = document.get("config_status")
    if isinstance(status, Table):
        incomplete = status.get("incomplete")
        if isinstance(incomplete, list):
            for ident in sorted(missing):
                if ident not in incomplete:
                    incomplete.append(ident)
        return _spaced(tomlkit.dumps(document))
    if status is not None:
        return text
    parts = [
        f"{next(s.name for s in services if s.unique_identifier == i)} ({i}): {', '.join(t)}"
        for i, t in sorted(missing.items())
    ]
    table = tomlkit.table()
    table.add("status", "incomplete")
    table.add("incomplete", sorted(missing))
    table.add("message", "Fill in before deploying: " + "; ".join(parts) + ".")
    document.add("config_status", table)
    warnings.append("incomplete: " + "; ".join(parts))
    return _spaced(tomlkit.dumps(document))
