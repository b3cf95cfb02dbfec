"""What a project holds, read from its files (DESIGN §11): the input of ``generate``.

:func:`scan` walks the project folder (bounded: no symlinks, no ``node_modules``,
``.venv``, ``.git``…, files up to :data:`MAX_FILE_BYTES`) and finds

- compose files: services, images, ports, environment, ``depends_on``, databases by
  image (PostgreSQL, Redis, MongoDB);
- components, one per folder with a manifest: Python (``pyproject.toml``,
  ``requirements*.txt``; FastAPI, Flask, Django, aiohttp, Starlette), Node
  (``package.json``; Vite, Next, React, Angular, Express, Fastify, Koa, NestJS), Go
  (``go.mod``) and Dockerfiles, each with its start command, port, install/build
  commands, static output folder and health path when the files show them;
- the environment variables the code reads (``os.environ[...]``, ``os.environ.get``,
  ``os.getenv``, ``process.env.X``, ``os.Getenv``), with their defaults.

Everything here reads; nothing writes. Rules about what the file must say are in
:mod:`brahmi.metadata.rules`; turning this into services is :mod:`brahmi.metadata.generate`.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

#: Folders never entered.
SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "node_modules",
        ".venv",
        "venv",
        "env",
        "__pycache__",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".tox",
        ".nox",
        "dist",
        "build",
        "out",
        ".next",
        ".nuxt",
        ".svelte-kit",
        "target",
        "vendor",
        "coverage",
        ".idea",
        ".vscode",
        ".brahmi",
        "site-packages",
    }
)
#: Files larger than this are not read.
MAX_FILE_BYTES = 512 * 1024
#: At most this many files are looked at.
MAX_FILES = 5000
MAX_DEPTH = 8
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
#: Client libraries that mean "this code talks to that database".
DATABASE_CLIENTS = {
    "postgres": {"psycopg", "psycopg2", "psycopg2-binary", "asyncpg", "pg", "postgres"}
    | {"github.com/lib/pq", "github.com/jackc/pgx/v5", "github.com/jackc/pgx/v4"},
    "redis": {"redis", "ioredis", "aioredis", "github.com/redis/go-redis/v9"}
    | {"github.com/go-redis/redis/v8"},
    "mongodb": {"pymongo", "motor", "mongoose", "mongodb", "go.mongodb.org/mongo-driver"},
}
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
#: Servers in an image listen on every interface; local deployment binds loopback instead.
ALL_INTERFACES = "0.0.0.0"  # noqa: S104
_SHELL_OPERATORS = re.compile(r"&&|\|\||[;|<>`]|\$\(")


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
class Component:
    """Something built from the repository and run: a backend or a frontend.

    ``path`` is relative to the project (POSIX, ``.`` for the root); commands are
    strings ``shlex.split`` reads; ``env`` maps each variable the code reads (or the
    compose file, Dockerfile or ``.env.example`` sets) to its default (None when none).
    """

    path: str
    name: str
    kind: str  # "backend" | "frontend"
    language: str  # "python" | "node" | "go" | "docker"
    framework: str | None = None
    cmd: str | None = None
    port: int | None = None
    install_command: str | None = None
    build_command: str | None = None
    output_path: str | None = None
    health_path: str | None = None
    dockerfile: str | None = None
    env: dict[str, str | None] = field(default_factory=dict)
    build_time_env: list[str] = field(default_factory=list)
    depends_on: list[str] = field(default_factory=list)
    databases_used: set[str] = field(default_factory=set)


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


class _Files:
    """The project's files, walked once, bounded and without leaving the folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.paths: list[PurePosixPath] = []
        self.truncated = False
        base = len(root.parts)
        for folder, dirs, names in os.walk(root, followlinks=False):
            here = Path(folder)
            depth = len(here.parts) - base
            dirs[:] = sorted(
                d
                for d in dirs
                if d not in SKIP_DIRS
                and not d.endswith(".egg-info")
                and not (here / d).is_symlink()
                and depth < MAX_DEPTH
            )
            for name in sorted(names):
                path = here / name
                if path.is_symlink() or not path.is_file():
                    continue
                if len(self.paths) >= MAX_FILES:
                    self.truncated = True
                    return
                self.paths.append(PurePosixPath(path.relative_to(root).as_posix()))

    def read(self, rel: PurePosixPath | str) -> str | None:
        """The text of a file inside the project, or None (missing, too big, binary)."""
        path = self.root / str(rel)
        try:
            if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_FILE_BYTES:
                return None
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None

    def exists(self, rel: str) -> bool:
        return PurePosixPath(rel) in self._set

    @property
    def _set(self) -> set[PurePosixPath]:
        cached: set[PurePosixPath] | None = getattr(self, "_cache", None)
        if cached is None:
            cached = set(self.paths)
            self._cache = cached
        return cached

    def in_folder(self, folder: str, suffixes: frozenset[str]) -> Iterator[PurePosixPath]:
        prefix = PurePosixPath(folder)
        for path in self.paths:
            if path.suffix in suffixes and (folder == "." or prefix in path.parents):
                yield path


def scan(root: Path) -> ProjectScan:
    """Read what the project at ``root`` holds (see the module docstring).

    Args:
        root: The project folder.

    Returns:
        The components, databases and other services found, with warnings.
    """
    root = root.resolve()
    files = _Files(root)
    result = ProjectScan(root=root)
    if files.truncated:
        result.warnings.append(f"only the first {MAX_FILES} files of the project were read")
    result.repo_url, result.branch = _git_origin(root)
    compose = _compose(files, result)
    folders = _component_folders(files)
    owners = sorted(folders, key=lambda f: -len(PurePosixPath(f).parts))
    by_path: dict[str, Component] = {}
    for folder in folders:
        component = _component(files, folder, owners)
        if component is not None:
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
            component = by_path.get(context) or _docker_component(files, context, owners)
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
    _add_client_databases(result)
    for component in result.components:
        if component.kind == "backend" and not component.cmd:
            result.warnings.append(f"{component.name}: no start command found; set cmd by hand")
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


def _compose(files: _Files, result: ProjectScan) -> list[ComposeService]:
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
    svc.command = _command(raw.get("command"))
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
    return re.sub(r"\$\{[A-Za-z_]\w*(?::?-([^}]*))?\}", lambda m: m.group(1) or "", value)


def _container_port(port: Any) -> int | None:
    if isinstance(port, int):
        return port
    if isinstance(port, Mapping):
        target = port.get("target")
        return target if isinstance(target, int) else None
    text = str(port).split("/")[0]
    last = text.rsplit(":", 1)[-1].split("-")[0]
    return int(last) if last.isdigit() else None


def _command(value: Any) -> str | None:
    """A command as one string ``shlex.split`` reads, or None when it needs a shell."""
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        if value[:2] in (["sh", "-c"], ["/bin/sh", "-c"]):
            return None
        return shlex.join(value)
    if isinstance(value, str) and value.strip():
        if _SHELL_OPERATORS.search(value) or "$" in value:
            return None
        try:
            shlex.split(value)
        except ValueError:
            return None
        return value.strip()
    return None


def _apply_compose(component: Component, svc: ComposeService) -> None:
    component.name = slug(svc.name) or component.name
    if svc.command:
        component.cmd = svc.command
    if svc.port:
        component.port = svc.port
    if svc.dockerfile:
        component.dockerfile = svc.dockerfile
    for key, value in svc.environment.items():
        component.env[key] = value
    component.depends_on = list(svc.depends_on)


# -- components ------------------------------------------------------------------------

_MANIFESTS = ("pyproject.toml", "package.json", "go.mod", "Dockerfile", "manage.py")


def _component_folders(files: _Files) -> list[str]:
    folders: set[str] = set()
    for path in files.paths:
        if path.name in _MANIFESTS or re.fullmatch(r"requirements[\w.-]*\.txt", path.name):
            folders.add(str(path.parent))
    return sorted(folders, key=lambda f: (len(PurePosixPath(f).parts), f))


def _name_of(folder: str, files: _Files) -> str:
    raw = files.root.name if folder == "." else PurePosixPath(folder).name
    return slug(raw) or "app"


def slug(text: str) -> str:
    """A service name: lowercase letters, digits and ``-``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40]


def _own_sources(
    files: _Files, folder: str, owners: list[str], suffixes: frozenset[str]
) -> list[PurePosixPath]:
    """Source files of ``folder`` not inside a deeper component folder."""
    out = []
    for path in files.in_folder(folder, suffixes):
        owner = next((o for o in owners if o == "." or PurePosixPath(o) in path.parents), ".")
        if owner == folder:
            out.append(path)
    return out[:400]


def _component(files: _Files, folder: str, owners: list[str]) -> Component | None:
    join = (lambda n: n) if folder == "." else (lambda n: f"{folder}/{n}")
    component: Component | None = None
    if files.exists(join("package.json")):
        component = _node(files, folder, join)
    if component is None and files.exists(join("go.mod")):
        component = _go(files, folder, join, owners)
    if component is None and (
        files.exists(join("pyproject.toml"))
        or files.exists(join("manage.py"))
        or any(
            p.parent == PurePosixPath(folder) and p.name.startswith("requirements")
            for p in files.paths
            if p.suffix == ".txt"
        )
    ):
        component = _python(files, folder, join, owners)
    if component is None and files.exists(join("Dockerfile")):
        component = Component(folder, _name_of(folder, files), "backend", "docker")
    if component is None:
        return None
    _dockerfile(files, component, join)
    _env(files, component, owners)
    return component


def _docker_component(files: _Files, folder: str, owners: list[str]) -> Component | None:
    join = (lambda n: n) if folder == "." else (lambda n: f"{folder}/{n}")
    if not files.exists(join("Dockerfile")):
        return None
    component = Component(folder, _name_of(folder, files), "backend", "docker")
    _dockerfile(files, component, join)
    _env(files, component, owners)
    return component


def _dockerfile(files: _Files, component: Component, join: Callable[[str], str]) -> None:
    name = component.dockerfile or "Dockerfile"
    text = files.read(join(name))
    if text is None:
        return
    component.dockerfile = name
    workdir = "/"
    cmd: str | None = None
    for raw in re.sub(r"\\\n", " ", text).splitlines():
        words = raw.strip().split(None, 1)
        if len(words) < 2:
            continue
        op, rest = words[0].upper(), words[1].strip()
        if op == "WORKDIR":
            workdir = rest if rest.startswith("/") else f"{workdir.rstrip('/')}/{rest}"
        elif op == "EXPOSE" and not component.port:
            number = rest.split()[0].split("/")[0]
            if number.isdigit():
                component.port = int(number)
        elif op == "ENV":
            for key, value in _dockerfile_env(rest).items():
                value = _relative_to(value, workdir)
                component.env.setdefault(key, value)
        elif op in ("CMD", "ENTRYPOINT"):
            try:
                parsed = json.loads(rest)
            except ValueError:
                parsed = rest
            cmd = _command(parsed) or cmd
    if cmd and not component.cmd:
        component.cmd = cmd


def _dockerfile_env(rest: str) -> dict[str, str]:
    try:
        words = shlex.split(rest)
    except ValueError:
        return {}
    if words and "=" not in words[0] and len(words) >= 2:
        return {words[0]: " ".join(words[1:])}
    out = {}
    for word in words:
        key, sep, value = word.partition("=")
        if sep and re.fullmatch(r"[A-Za-z_]\w*", key):
            out[key] = value
    return out


def _relative_to(value: str, workdir: str) -> str:
    """``/app/src`` under ``WORKDIR /app`` is ``src`` (paths in the image, seen from
    the build folder); other values unchanged."""
    base = workdir.rstrip("/")
    if base and ":" not in value and value.startswith(f"{base}/"):
        return value[len(base) + 1 :]
    return value


def _node(files: _Files, folder: str, join: Callable[[str], str]) -> Component | None:
    try:
        manifest = json.loads(files.read(join("package.json")) or "")
    except ValueError:
        return None
    if not isinstance(manifest, Mapping):
        return None
    deps: dict[str, Any] = {}
    for key in ("dependencies", "devDependencies"):
        if isinstance(manifest.get(key), Mapping):
            deps.update(manifest[key])
    scripts = manifest.get("scripts") if isinstance(manifest.get("scripts"), Mapping) else {}
    assert isinstance(scripts, Mapping)
    if files.exists(join("pnpm-lock.yaml")):
        tool, install = "pnpm", "pnpm install --frozen-lockfile"
    elif files.exists(join("yarn.lock")):
        tool, install = "yarn", "yarn install --frozen-lockfile"
    elif files.exists(join("package-lock.json")):
        tool, install = "npm", "npm ci"
    else:
        tool, install = "npm", "npm install"
    run = "yarn" if tool == "yarn" else f"{tool} run"
    build = f"{run} build" if "build" in scripts else None
    name = _name_of(folder, files)
    component = Component(folder, name, "backend", "node", install_command=install)
    component.build_command = build
    component.databases_used = _clients(deps)
    configs = " ".join(
        files.read(p) or ""
        for p in files.paths
        if p.parent == PurePosixPath(folder) and re.match(r"(vite|next)\.config\.", p.name)
    )
    if "next" in deps:
        static = "output: 'export'" in configs or 'output: "export"' in configs
        static = static or "next export" in str(scripts.get("build", ""))
        component.framework = "next"
        if static:
            _frontend(component, "out")
        else:
            component.port = 3000
            component.cmd = "npx next start -p 3000"
    elif "vite" in deps:
        out = re.search(r"outDir\s*:\s*['\"]([^'\"]+)['\"]", configs)
        component.framework = "vite"
        _frontend(component, out.group(1) if out else "dist")
    elif "react-scripts" in deps:
        component.framework = "react-scripts"
        _frontend(component, "build")
    elif "@angular/core" in deps:
        component.framework = "angular"
        _frontend(component, f"dist/{manifest.get('name') or name}")
    else:
        servers = ("express", "fastify", "koa", "@nestjs/core", "@hapi/hapi", "hono")
        framework = next((s for s in servers if s in deps), None)
        if framework is None and "start" not in scripts:
            return None
        component.framework = framework or "node"
        start = scripts.get("start")
        component.cmd = _command(start) if isinstance(start, str) else None
        if not component.cmd and isinstance(manifest.get("main"), str):
            component.cmd = shlex.join(["node", manifest["main"]])
        if not component.cmd and "start" in scripts:
            component.cmd = f"{tool} start"
        component.port = 3000
    return component


def _frontend(component: Component, output: str) -> None:
    component.kind = "frontend"
    component.output_path = output
    component.port = 3000
    component.cmd = "npx serve -s . -l 3000"


def _go(
    files: _Files, folder: str, join: Callable[[str], str], owners: list[str]
) -> Component | None:
    mod = files.read(join("go.mod")) or ""
    name = _name_of(folder, files)
    sources = _own_sources(files, folder, owners, frozenset({".go"}))
    mains: list[PurePosixPath] = []
    for path in sources:
        text = files.read(path) or ""
        if re.search(r"^package main\b", text, re.M) and re.search(r"^func main\(", text, re.M):
            mains.append(path.parent)
    if not mains:
        return None
    base = PurePosixPath(folder)
    main = min(mains, key=lambda p: (len(p.parts), str(p)))
    rel = "." if main == base else f"./{main.relative_to(base).as_posix()}"
    binary = slug(main.name) if rel != "." else name
    component = Component(folder, name, "backend", "go", install_command="go mod download")
    component.build_command = f"go build -o bin/{binary} {rel}"
    component.cmd = f"./bin/{binary}"
    for framework in ("gin-gonic/gin", "labstack/echo", "gofiber/fiber", "go-chi/chi"):
        if framework in mod:
            component.framework = framework.split("/")[1]
            break
    component.framework = component.framework or "net/http"
    component.databases_used = _clients(
        dict.fromkeys(re.findall(r"^\s*(?:require\s+)?(\S+)\s+v", mod, re.M))
    )
    for path in sources:
        match = re.search(r'"(?:[\w.]*)?:(\d{2,5})"', files.read(path) or "")
        if match:
            component.port = int(match.group(1))
            break
    component.port = component.port or 8080
    return component


def _python_deps(
    files: _Files, folder: str, join: Callable[[str], str]
) -> tuple[set[str], str | None]:
    deps: set[str] = set()
    install: str | None = None
    requirement_files = sorted(
        p
        for p in files.paths
        if p.parent == PurePosixPath(folder) and re.fullmatch(r"requirements[\w.-]*\.txt", p.name)
    )
    for path in requirement_files:
        for line in (files.read(path) or "").splitlines():
            deps.add(_requirement_name(line))
    if files.exists(join("requirements.txt")):
        install = "pip install -r requirements.txt"
    elif requirement_files:
        install = f"pip install -r {requirement_files[0].name}"
    text = files.read(join("pyproject.toml"))
    if text:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            data = {}
        project = data.get("project", {})
        for line in project.get("dependencies", []) if isinstance(project, Mapping) else []:
            deps.add(_requirement_name(str(line)))
        poetry = data.get("tool", {}).get("poetry", {}).get("dependencies", {})
        if isinstance(poetry, Mapping):
            deps.update(_requirement_name(str(k)) for k in poetry)
        install = install or "pip install ."
    deps.discard("")
    return deps, install


def _requirement_name(line: str) -> str:
    match = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9_.-]*)", line.split("#", maxsplit=1)[0])
    return match.group(1).lower().replace("_", "-") if match else ""


def _python(
    files: _Files, folder: str, join: Callable[[str], str], owners: list[str]
) -> Component | None:
    deps, install = _python_deps(files, folder, join)
    name = _name_of(folder, files)
    component = Component(folder, name, "backend", "python", install_command=install)
    component.databases_used = _clients(dict.fromkeys(deps))
    sources = _own_sources(files, folder, owners, frozenset({".py"}))
    base = PurePosixPath(folder)
    texts = {p: files.read(p) or "" for p in sources}

    def module(path: PurePosixPath) -> tuple[str, str | None]:
        rel = path.relative_to(base).with_suffix("")
        parts = list(rel.parts)
        app_dir = None
        if parts and parts[0] == "src" and len(parts) > 1:
            parts, app_dir = parts[1:], "src"
        if parts[-1] == "__init__":
            parts = parts[:-1]
        return ".".join(parts), app_dir

    def find(pattern: str) -> tuple[PurePosixPath, str] | None:
        regex = re.compile(pattern, re.M)
        for path in sorted(texts, key=lambda p: (len(p.parts), str(p))):
            match = regex.search(texts[path])
            if match:
                return path, match.group(1)
        return None

    if "fastapi" in deps or "starlette" in deps:
        component.framework = "fastapi" if "fastapi" in deps else "starlette"
        component.port = 8000
        found = find(r"^(\w+)\s*(?::\s*\w+\s*)?=\s*(?:fastapi\.)?(?:FastAPI|Starlette)\(")
        if found:
            mod, app_dir = module(found[0])
            argv = ["uvicorn", f"{mod}:{found[1]}", "--host", ALL_INTERFACES, "--port", "8000"]
            if app_dir:
                argv[2:2] = ["--app-dir", app_dir]
            component.cmd = shlex.join(argv)
    elif "django" in deps or files.exists(join("manage.py")):
        component.framework = "django"
        component.port = 8000
        if files.exists(join("manage.py")):
            component.cmd = "python manage.py runserver 0.0.0.0:8000"
    elif "flask" in deps:
        component.framework = "flask"
        component.port = 5000
        found = find(r"^(\w+)\s*=\s*(?:flask\.)?Flask\(")
        if found:
            mod, app_dir = module(found[0])
            argv = ["flask", "--app", f"{mod}:{found[1]}", "run", "--host", ALL_INTERFACES]
            component.cmd = shlex.join([*argv, "--port", "5000"])
            if app_dir:
                component.env.setdefault("PYTHONPATH", app_dir)
    elif "aiohttp" in deps:
        component.framework = "aiohttp"
        component.port = 8080
        found = find(r"^\s*(?:aiohttp\.)?web\.run_app\((\w*)")
        if found:
            mod, app_dir = module(found[0])
            component.cmd = shlex.join(["python", "-m", mod])
            if app_dir:
                component.env.setdefault("PYTHONPATH", app_dir)
    else:
        return None
    main = next((p for p in sorted(texts) if p.name == "__main__.py"), None)
    if main is not None and not component.cmd:
        mod, app_dir = module(main.parent / "__init__.py")
        component.cmd = shlex.join(["python", "-m", mod])
        if app_dir:
            component.env.setdefault("PYTHONPATH", app_dir)
    for text in texts.values():
        match = re.search(
            r"(?:run|serve|run_app)\([^)]*?\bport\s*=\s*(\d{2,5})\b", text, re.S
        ) or re.search(r"--port[= ](\d{2,5})\b", text)
        if match:
            component.port = int(match.group(1))
            break
    if component.port and component.cmd:
        component.cmd = re.sub(r"(--port )\d+", rf"\g<1>{component.port}", component.cmd)
    return component


def _clients(deps: Mapping[str, Any]) -> set[str]:
    names = {str(d).lower() for d in deps}
    return {kind for kind, clients in DATABASE_CLIENTS.items() if names & clients}


# -- environment -----------------------------------------------------------------------


def _env(files: _Files, component: Component, owners: list[str]) -> None:
    """The variables the component's code reads, with defaults, and ``.env.example``."""
    found: dict[str, str | None] = {}
    health: set[str] = set()
    for path in _own_sources(files, component.path, owners, SOURCE_SUFFIXES):
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
