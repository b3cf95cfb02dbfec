"""What a project holds, read from its files (DESIGN §11): the input of ``generate``.

:func:`scan` walks the project folder (see :mod:`brahmi.metadata.sources`) and finds

- compose files: services, images, ports, environment, ``depends_on``, databases by
  image (PostgreSQL, Redis, MongoDB);
- components, one per folder with a manifest (:mod:`brahmi.metadata.frameworks`);
- the environment variables the code reads (``os.environ[...]``, ``os.environ.get``,
  ``os.getenv``, ``process.env.X``, ``os.Getenv``), with their defaults, and the
  health path its routes show;
- databases the code's client libraries need when no compose file names them.

Everything here reads; nothing writes. Rules about what the file must say are in
:mod:`brahmi.metadata.rules`; turning this into services is :mod:`brahmi.metadata.generate`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from brahmi.metadata import frameworks
from brahmi.metadata.frameworks import Component, command_of
from brahmi.metadata.sources import MAX_FILE_BYTES, MAX_FILES, ProjectFiles, own_sources, slug

COMPOSE_FILES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
SOURCE_SUFFIXES = frozenset({".py", ".js", ".mjs", ".cjs", ".ts", ".tsx", ".jsx", ".go"})
ENV_EXAMPLES = (".env.example", ".env.sample", ".env.template", ".env.dist")
#: Variables every process has; reading them is not configuration.
AMBIENT_ENV = frozenset(
    {"PATH", "HOME", "PWD", "OLDPWD", "SHELL", "TERM", "LANG", "TMPDIR", "TEMP", "TMP", "USER"}
    | {"HOSTNAME", "LOGNAME", "CI"}
)
#: Prefixes a frontend bundler bakes in at build time.
BUILD_TIME_PREFIXES = ("VITE_", "NEXT_PUBLIC_", "REACT_APP_", "PUBLIC_", "NUXT_PUBLIC_")
#: Image name -> database type; default image with a major version.
DATABASE_IMAGES = {
    "postgres": "postgres",
    "postgis": "postgres",
    "pgvector": "postgres",
    "timescaledb": "postgres",
    "redis": "redis",
    "valkey": "redis",
    "redis-stack": "redis",
    "mongo": "mongodb",
    "mongodb": "mongodb",
}
DEFAULT_DATABASE_IMAGE = {"postgres": "postgres:16", "redis": "redis:7", "mongodb": "mongo:7"}
DEFAULT_DATABASE_PORT = {"postgres": 5432, "redis": 6379, "mongodb": 27017}
_HEALTH_PATHS = ("/health", "/healthz", "/api/health", "/healthcheck", "/livez", "/readyz")
_HEALTH = re.compile(r"""["'`](/(?:api/)?(?:health|healthz|healthcheck|livez|readyz))["'`]""")
_PY_ENV = re.compile(
    r"""(?:\bos\.environ|(?<![.\w])environ)\s*(?:\[\s*|\.get\(\s*)["']([A-Za-z_]\w*)["']"""
    r"""(?:\s*,\s*(?:["']([^"'\n]*)["']|(\d+)))?"""
    r"""|\b(?:os\.)?getenv\(\s*["']([A-Za-z_]\w*)["'](?:\s*,\s*(?:["']([^"'\n]*)["']|(\d+)))?"""
)
_JS_ENV = re.compile(
    r"""process\.env(?:\.([A-Za-z_]\w*)|\[\s*["']([A-Za-z_]\w*)["']\s*\])"""
    r"""(?:\s*(?:\|\||\?\?)\s*(?:["'`]([^"'`\n]*)["'`]|(\d+)))?"""
)
_META_ENV = re.compile(r"import\.meta\.env\.([A-Za-z_]\w*)")
_GO_ENV = re.compile(r"""os\.(?:Getenv|LookupEnv)\(\s*"([A-Za-z_]\w*)"\s*\)""")


@dataclass
class ComposeService:
    """One service of a compose file."""

    name: str
    image: str | None = None
    build_context: str | None = None
    dockerfile: str | None = None
    command: str | None = None
    port: int | None = None
    environment: dict[str, str] = field(default_factory=dict)
    depends_on: list[str] = field(default_factory=list)


@dataclass
class Database:
    """A database the project needs (from a compose file or a client library)."""

    name: str
    type: str
    image: str
    port: int | None = None
    environment: dict[str, str] = field(default_factory=dict)
    source: str = "compose"


@dataclass
class OtherService:
    """A compose service with an image Brahmi cannot classify (a ``template``)."""

    name: str
    image: str
    port: int | None = None
    command: str | None = None


@dataclass
class ProjectScan:
    """Everything :func:`scan` found."""

    root: Path
    components: list[Component] = field(default_factory=list)
    databases: list[Database] = field(default_factory=list)
    others: list[OtherService] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    repo_url: str = ""
    branch: str = "main"


def scan(root: Path) -> ProjectScan:
    """Read what the project at ``root`` holds (see the module docstring).

    Args:
        root: The project folder.

    Returns:
        The components, databases and other services found, with warnings.
    """
    root = root.resolve()
    files = ProjectFiles(root)
    result = ProjectScan(root=root)
    if files.truncated:
        result.warnings.append(f"only the first {MAX_FILES} files of the project were read")
    result.repo_url, result.branch = _git_origin(root)
    compose = _compose(files, result)
    folders = frameworks.component_folders(files)
    owners = sorted(folders, key=lambda f: -len(PurePosixPath(f).parts))
    by_path: dict[str, Component] = {}
    for folder in folders:
        component = frameworks.component_at(files, folder, owners)
        if component is not None:
            _env(files, component, owners)
            by_path[folder] = component
    for svc in compose:
        if svc.build_context is not None:
            context = _inside(svc.build_context)
            if context is None:
                result.warnings.append(
                    f"compose service {svc.name}: build context {svc.build_context!r} is "
                    "outside the project; skipped"
                )
                continue
            component = by_path.get(context)
            if component is None:
                component = frameworks.docker_component(files, context, owners)
                if component is not None:
                    _env(files, component, owners)
            if component is None:
                result.warnings.append(
                    f"compose service {svc.name}: nothing runnable found in {context}"
                )
                continue
            _apply_compose(component, svc)
            by_path[context] = component
        elif svc.image:
            kind = database_type(svc.image)
            if kind:
                result.databases.append(
                    Database(
                        slug(svc.name) or kind,
                        kind,
                        _with_tag(svc.image, kind),
                        svc.port if svc.port != DEFAULT_DATABASE_PORT[kind] else None,
                        dict(svc.environment),
                    )
                )
            else:
                result.others.append(
                    OtherService(slug(svc.name) or "service", svc.image, svc.port, svc.command)
                )
                result.warnings.append(
                    f"compose service {svc.name} ({svc.image}) is neither a database nor "
                    "built here; it is a template service: check it"
                )
    result.components = list(by_path.values())
    for component in result.components:
        component.settle()
    _add_client_databases(result)
    for component in result.components:
        if component.build_time_env:
            result.warnings.append(
                f"{component.name}: {', '.join(sorted(component.build_time_env))} are read at "
                "build time by the bundler; build services take no vars, so set them in the "
                "build environment"
            )
    return result


def database_type(image: str) -> str | None:
    """``postgres``, ``redis`` or ``mongodb`` for a database image name, else None
    (``postgres:16-alpine`` -> ``postgres``, ``bitnami/redis`` -> ``redis``)."""
    name = image.split("@", maxsplit=1)[0].rsplit("/", 1)[-1].split(":", maxsplit=1)[0].lower()
    return DATABASE_IMAGES.get(name)


def _with_tag(image: str, kind: str) -> str:
    """The image with an explicit version (``postgres`` -> ``postgres:16``)."""
    last = image.rsplit("/", 1)[-1]
    if ":" in last and not last.endswith(":latest"):
        return image
    base = image.removesuffix(":latest")
    return f"{base}:{DEFAULT_DATABASE_IMAGE[kind].split(':')[1]}"


def _inside(rel: str) -> str | None:
    """A project-relative folder as POSIX (``.`` for the root), None when it leaves."""
    text = rel.strip().replace("\\", "/") or "."
    if text.startswith(("/", "~")):
        return None
    parts: list[str] = []
    for part in text.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                return None
            parts.pop()
        else:
            parts.append(part)
    return "/".join(parts) or "."


def _git_origin(root: Path) -> tuple[str, str]:
    """``(clone URL of origin without credentials, current branch)`` from ``.git``."""
    url, branch = "", "main"
    git = root / ".git"
    if git.is_symlink() or not git.is_dir():
        return url, branch
    try:
        config = (git / "config").read_text(encoding="utf-8")[:MAX_FILE_BYTES]
        match = re.search(r'\[remote "origin"\][^\[]*?\burl\s*=\s*(\S+)', config)
        if match:
            url = re.sub(r"^(\w+://)[^/@]*@", r"\1", match.group(1))
        head = (git / "HEAD").read_text(encoding="utf-8").strip()
        if head.startswith("ref: refs/heads/"):
            branch = head.removeprefix("ref: refs/heads/")
    except (OSError, UnicodeDecodeError):
        pass
    return url, branch


# -- compose ---------------------------------------------------------------------------


def _compose(files: ProjectFiles, result: ProjectScan) -> list[ComposeService]:
    for name in COMPOSE_FILES:
        if not files.exists(name):
            continue
        text = files.read(name)
        try:
            data = yaml.safe_load(text or "")
        except yaml.YAMLError as exc:
            result.warnings.append(f"{name} is not valid YAML ({exc}); ignored")
            return []
        services = data.get("services") if isinstance(data, Mapping) else None
        if not isinstance(services, Mapping):
            return []
        return [
            _compose_service(str(key), value)
            for key, value in services.items()
            if isinstance(value, Mapping)
        ]
    return []


def _compose_service(name: str, raw: Mapping[str, Any]) -> ComposeService:
    svc = ComposeService(name=name)
    if isinstance(raw.get("image"), str):
        svc.image = raw["image"]
    build = raw.get("build")
    if isinstance(build, str):
        svc.build_context = build
    elif isinstance(build, Mapping):
        svc.build_context = str(build.get("context", "."))
        if isinstance(build.get("dockerfile"), str):
            svc.dockerfile = build["dockerfile"]
    svc.command = command_of(raw.get("command"))
    for port in raw.get("ports") or raw.get("expose") or []:
        number = _container_port(port)
        if number:
            svc.port = number
            break
    env = raw.get("environment")
    if isinstance(env, Mapping):
        svc.environment = {str(k): "" if v is None else str(v) for k, v in env.items()}
    elif isinstance(env, list):
        for item in env:
            key, _, value = str(item).partition("=")
            svc.environment[key.strip()] = value
    svc.environment = {k: _compose_value(v) for k, v in svc.environment.items() if k}
    deps = raw.get("depends_on")
    if isinstance(deps, Mapping | list):
        svc.depends_on = [slug(str(k)) for k in deps]
    return svc


def _compose_value(value: str) -> str:
    """Compose interpolation: ``${X:-default}`` gives its default, ``${X}`` nothing."""
    return re.sub(
        r"\$\{[A-Za-z_]\w*(?::?([-?+])([^}]*))?\}",
        lambda m: m.group(2) if m.group(1) == "-" else "",
        value,
    )


def _container_port(port: Any) -> int | None:
    if isinstance(port, int):
        return port
    if isinstance(port, Mapping):
        target = port.get("target")
        return target if isinstance(target, int) else None
    text = str(port).split("/")[0]
    last = text.rsplit(":", 1)[-1].split("-")[0]
    return int(last) if last.isdigit() else None


def _apply_compose(component: Component, svc: ComposeService) -> None:
    component.name = slug(svc.name) or component.name
    component.offer_cmd(svc.command, frameworks.COMPOSE)
    component.offer_port(svc.port, frameworks.COMPOSE)
    if svc.dockerfile:
        component.dockerfile = svc.dockerfile
    for key, value in svc.environment.items():
        component.env[key] = value
    component.depends_on = list(svc.depends_on)


# -- environment -----------------------------------------------------------------------


def _env(files: ProjectFiles, component: Component, owners: list[str]) -> None:
    """The variables the component's code reads, with defaults, and ``.env.example``."""
    found: dict[str, str | None] = {}
    health: set[str] = set()
    for path in own_sources(files, component.path, owners, SOURCE_SUFFIXES):
        if _is_test(path):
            continue
        text = files.read(path)
        if not text:
            continue
        health.update(_HEALTH.findall(text))
        if path.suffix == ".py":
            for m in _PY_ENV.finditer(text):
                key = m.group(1) or m.group(4)
                default = next(
                    (g for g in (m.group(2), m.group(3), m.group(5), m.group(6)) if g is not None),
                    None,
                )
                _note(found, key, default)
        elif path.suffix == ".go":
            for m in _GO_ENV.finditer(text):
                _note(found, m.group(1), None)
        else:
            for m in _JS_ENV.finditer(text):
                key = m.group(1) or m.group(2)
                default = m.group(3) if m.group(3) is not None else m.group(4)
                _note(found, key, default)
            for m in _META_ENV.finditer(text):
                if m.group(1) not in ("MODE", "DEV", "PROD", "SSR", "BASE_URL"):
                    component.build_time_env.append(m.group(1))
    folder = "" if component.path == "." else f"{component.path}/"
    for name in ENV_EXAMPLES:
        for line in (files.read(f"{folder}{name}") or "").splitlines():
            match = re.match(r"^\s*(?:export\s+)?([A-Za-z_]\w*)\s*=\s*(.*)$", line)
            if match:
                value = match.group(2).strip().strip("'\"")
                _note(found, match.group(1), value if value else None)
    for key, default in found.items():
        if key in AMBIENT_ENV:
            continue
        if component.kind == "frontend" or key.startswith(BUILD_TIME_PREFIXES):
            if key.startswith(BUILD_TIME_PREFIXES) and key not in component.build_time_env:
                component.build_time_env.append(key)
            continue
        if key not in component.env or component.env[key] in (None, ""):
            component.env[key] = default if default is not None else component.env.get(key)
    component.build_time_env = sorted(set(component.build_time_env))
    if component.kind == "frontend":
        component.env = {}
    for candidate in _HEALTH_PATHS:
        if candidate in health:
            component.health_path = candidate
            break


_TEST_DIRS = frozenset({"tests", "test", "__tests__", "testdata", "e2e", "spec"})


def _is_test(path: PurePosixPath) -> bool:
    """Test code: what it reads from the environment is not the service's configuration."""
    name = path.name
    return (
        bool(_TEST_DIRS & set(path.parts[:-1]))
        or name == "conftest.py"
        or name.startswith("test_")
        or bool(re.search(r"_test\.(py|go)$|\.(test|spec)\.[jt]sx?$", name))
    )


def _note(found: dict[str, str | None], key: str, default: str | None) -> None:
    if found.get(key) is None:
        found[key] = default


def _add_client_databases(result: ProjectScan) -> None:
    present = {db.type for db in result.databases}
    for component in result.components:
        for kind in sorted(component.databases_used - present):
            name = {"postgres": "db", "redis": "cache", "mongodb": "mongo"}[kind]
            taken = {db.name for db in result.databases} | {c.name for c in result.components}
            while name in taken:
                name = f"{name}-{kind}"
            result.databases.append(
                Database(name, kind, DEFAULT_DATABASE_IMAGE[kind], source="client library")
            )
            present.add(kind)
            result.warnings.append(
                f"{component.name} uses a {kind} client library and no compose file names "
                f"one: added {name} ({DEFAULT_DATABASE_IMAGE[kind]})"
            )
