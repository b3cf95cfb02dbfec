"""Components: what is built from the repository and run (DESIGN §11).

One detector per ecosystem, each reading a folder with a manifest: Python
(``pyproject.toml``, ``requirements*.txt``; FastAPI, Starlette, Flask, Django,
aiohttp), Node (``package.json``; Next, Vite, React, Angular, Express, Fastify, Koa,
NestJS, Hono), Go (``go.mod``) and Dockerfiles (``EXPOSE``, ``ENV``, ``CMD``), giving
the start command, port, install/build commands and static output folder they show.
Commands are strings ``shlex.split`` reads; one that needs a shell is left out.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from brahmi.metadata.sources import ProjectFiles, name_of, own_sources, slug

#: Client libraries that mean "this code talks to that database".
DATABASE_CLIENTS = {
    "postgres": {"psycopg", "psycopg2", "psycopg2-binary", "asyncpg", "pg", "postgres"}
    | {"github.com/lib/pq", "github.com/jackc/pgx/v5", "github.com/jackc/pgx/v4"},
    "redis": {"redis", "ioredis", "aioredis", "github.com/redis/go-redis/v9"}
    | {"github.com/go-redis/redis/v8"},
    "mongodb": {"pymongo", "motor", "mongoose", "mongodb", "go.mongodb.org/mongo-driver"},
}
#: Servers in an image listen on every interface; local deployment binds loopback instead.
ALL_INTERFACES = "0.0.0.0"  # noqa: S104
_SHELL_OPERATORS = re.compile(r"&&|\|\||[;|<>`]|\$\(")


#: Where a command or port came from; a later source of higher rank replaces it.
FRAMEWORK, CODE, DOCKERFILE, COMPOSE = 1, 2, 3, 4
_PORT_FLAG = re.compile(r"(--port[= ]|-p[= ]|-l[= ]|--listen[= ]|0\.0\.0\.0:)\d{2,5}\b")


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
    #: Rank (:data:`FRAMEWORK` … :data:`COMPOSE`) of where ``cmd`` and ``port`` came from.
    cmd_rank: int = 0
    port_rank: int = 0

    def offer_cmd(self, cmd: str | None, rank: int) -> None:
        """Take ``cmd`` unless what is there came from a higher-ranked source."""
        if cmd and rank >= self.cmd_rank:
            self.cmd, self.cmd_rank = cmd, rank

    def offer_port(self, port: int | None, rank: int) -> None:
        """Take ``port`` unless what is there came from a higher-ranked source."""
        if port and 0 < port < 65536 and rank >= self.port_rank:
            self.port, self.port_rank = port, rank

    def settle(self) -> None:
        """Once every source is read: a ``PORT`` default from the code beats a
        framework's default port, and a command Brahmi composed listens on the port."""
        default = self.env.get("PORT")
        if default and default.isdigit() and self.port_rank <= CODE:
            self.offer_port(int(default), CODE)
        if self.cmd and self.port and self.cmd_rank == FRAMEWORK:
            self.cmd = _PORT_FLAG.sub(rf"\g<1>{self.port}", self.cmd)


def command_of(value: Any) -> str | None:
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


_MANIFESTS = ("pyproject.toml", "package.json", "go.mod", "Dockerfile", "manage.py")


def component_folders(files: ProjectFiles) -> list[str]:
    """Folders holding a manifest, shallowest first."""
    folders: set[str] = set()
    for path in files.paths:
        if path.name in _MANIFESTS or re.fullmatch(r"requirements[\w.-]*\.txt", path.name):
            folders.add(str(path.parent))
    return sorted(folders, key=lambda f: (len(PurePosixPath(f).parts), f))


def component_at(files: ProjectFiles, folder: str, owners: list[str]) -> Component | None:
    """The component in ``folder`` (a folder with a manifest), or None when it holds
    nothing runnable. ``owners`` are every component folder, deepest first."""
    join = (lambda n: n) if folder == "." else (lambda n: f"{folder}/{n}")
    component: Component | None = None
    if files.exists(join("package.json")):
        component = _node(files, folder, join, owners)
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
        component = Component(folder, name_of(folder, files), "backend", "docker")
    if component is None:
        return None
    _dockerfile(files, component, join)
    return component


def docker_component(files: ProjectFiles, folder: str, owners: list[str]) -> Component | None:
    """A component run from the Dockerfile in ``folder`` (a compose build context)."""
    join = (lambda n: n) if folder == "." else (lambda n: f"{folder}/{n}")
    if not files.exists(join("Dockerfile")):
        return None
    component = Component(folder, name_of(folder, files), "backend", "docker")
    _dockerfile(files, component, join)
    return component


def _dockerfile(files: ProjectFiles, component: Component, join: Callable[[str], str]) -> None:
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
        elif op == "EXPOSE":
            number = rest.split()[0].split("/")[0]
            if number.isdigit():
                component.offer_port(int(number), DOCKERFILE)
        elif op == "ENV":
            for key, value in _dockerfile_env(rest).items():
                value = _relative_to(value, workdir)
                component.env.setdefault(key, value)
        elif op in ("CMD", "ENTRYPOINT"):
            try:
                parsed = json.loads(rest)
            except ValueError:
                parsed = rest
            cmd = command_of(parsed) or cmd
    component.offer_cmd(cmd, DOCKERFILE)


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


_JS = frozenset({".js", ".mjs", ".cjs", ".ts"})
_JS_PORT = re.compile(r"\.listen\(\s*(\d{2,5})\b|\bPORT\s*(?:\|\||\?\?)\s*['\"]?(\d{2,5})\b")


def _node(
    files: ProjectFiles, folder: str, join: Callable[[str], str], owners: list[str]
) -> Component | None:
    try:
        manifest = json.loads(files.read(join("package.json")) or "")
    except ValueError:
        return None
    if not isinstance(manifest, Mapping) or "workspaces" in manifest:
        return None  # not a package, or the root of a monorepo: its packages are found
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
    name = name_of(folder, files)
    component = Component(folder, name, "backend", "node", install_command=install)
    component.build_command = build
    component.databases_used = clients(deps)
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
            component.offer_port(3000, FRAMEWORK)
            component.offer_cmd("npx next start -p 3000", FRAMEWORK)
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
        cmd = command_of(start) if isinstance(start, str) else None
        if not cmd and isinstance(manifest.get("main"), str):
            cmd = shlex.join(["node", manifest["main"]])
        if not cmd and "start" in scripts:
            cmd = f"{tool} start"
        component.offer_cmd(cmd, FRAMEWORK)
        component.offer_port(3000, FRAMEWORK)
        for path in own_sources(files, folder, owners, _JS):
            match = _JS_PORT.search(files.read(path) or "")
            if match:
                component.offer_port(int(match.group(1) or match.group(2)), CODE)
                break
    return component


def _frontend(component: Component, output: str) -> None:
    component.kind = "frontend"
    component.output_path = output
    component.offer_port(3000, FRAMEWORK)
    component.offer_cmd("npx serve -s . -l 3000", FRAMEWORK)


def _go(
    files: ProjectFiles, folder: str, join: Callable[[str], str], owners: list[str]
) -> Component | None:
    mod = files.read(join("go.mod")) or ""
    name = name_of(folder, files)
    sources = own_sources(files, folder, owners, frozenset({".go"}))
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
    component.offer_cmd(f"./bin/{binary}", FRAMEWORK)
    component.offer_port(8080, FRAMEWORK)
    for framework in ("gin-gonic/gin", "labstack/echo", "gofiber/fiber", "go-chi/chi"):
        if framework in mod:
            component.framework = framework.split("/")[1]
            break
    component.framework = component.framework or "net/http"
    component.databases_used = clients(
        dict.fromkeys(re.findall(r"^\s*(?:require\s+)?(\S+)\s+v", mod, re.M))
    )
    for path in sources:
        match = re.search(r'"(?:[\w.]*)?:(\d{2,5})"', files.read(path) or "")
        if match:
            component.offer_port(int(match.group(1)), CODE)
            break
    return component


def _python_deps(
    files: ProjectFiles, folder: str, join: Callable[[str], str]
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
    files: ProjectFiles, folder: str, join: Callable[[str], str], owners: list[str]
) -> Component | None:
    deps, install = _python_deps(files, folder, join)
    name = name_of(folder, files)
    component = Component(folder, name, "backend", "python", install_command=install)
    component.databases_used = clients(dict.fromkeys(deps))
    sources = own_sources(files, folder, owners, frozenset({".py"}))
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
        component.offer_port(8000, FRAMEWORK)
        found = find(r"^(\w+)\s*(?::\s*\w+\s*)?=\s*(?:fastapi\.)?(?:FastAPI|Starlette)\(")
        if found:
            mod, app_dir = module(found[0])
            argv = ["uvicorn", f"{mod}:{found[1]}", "--host", ALL_INTERFACES, "--port", "8000"]
            if app_dir:
                argv[2:2] = ["--app-dir", app_dir]
            component.offer_cmd(shlex.join(argv), FRAMEWORK)
    elif "django" in deps or files.exists(join("manage.py")):
        component.framework = "django"
        component.offer_port(8000, FRAMEWORK)
        if files.exists(join("manage.py")):
            component.offer_cmd("python manage.py runserver 0.0.0.0:8000", FRAMEWORK)
    elif "flask" in deps:
        component.framework = "flask"
        component.offer_port(5000, FRAMEWORK)
        found = find(r"^(\w+)\s*=\s*(?:flask\.)?Flask\(")
        if found:
            mod, app_dir = module(found[0])
            argv = ["flask", "--app", f"{mod}:{found[1]}", "run", "--host", ALL_INTERFACES]
            component.offer_cmd(shlex.join([*argv, "--port", "5000"]), FRAMEWORK)
            if app_dir:
                component.env.setdefault("PYTHONPATH", app_dir)
    elif "aiohttp" in deps:
        component.framework = "aiohttp"
        component.offer_port(8080, FRAMEWORK)
        found = find(r"^\s*(?:aiohttp\.)?web\.run_app\((\w*)")
        if found:
            mod, app_dir = module(found[0])
            component.offer_cmd(shlex.join(["python", "-m", mod]), FRAMEWORK)
            if app_dir:
                component.env.setdefault("PYTHONPATH", app_dir)
    else:
        return None
    main = next((p for p in sorted(texts) if p.name == "__main__.py"), None)
    if main is not None and not component.cmd:
        mod, app_dir = module(main.parent / "__init__.py")
        component.offer_cmd(shlex.join(["python", "-m", mod]), FRAMEWORK)
        if app_dir:
            component.env.setdefault("PYTHONPATH", app_dir)
    for text in texts.values():
        match = re.search(
            r"(?:run|serve|run_app)\([^)]*?\bport\s*=\s*(\d{2,5})\b", text, re.S
        ) or re.search(r"--port[= ](\d{2,5})\b", text)
        if match:
            component.offer_port(int(match.group(1)), CODE)
            break
    return component


def clients(deps: Mapping[str, Any]) -> set[str]:
    """The database types whose client libraries are among ``deps``."""
    names = {str(d).lower() for d in deps}
    return {kind for kind, libraries in DATABASE_CLIENTS.items() if names & libraries}
