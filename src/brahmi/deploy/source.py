"""Building and running from source, for the local target: commands, tools, installs.

A build service's steps are its ``installCommand`` and ``buildCommand`` (argument strings
split with ``shlex``), or what its folder shows (a Node ``package.json``). A service's
``PATH`` starts with its virtualenvs and ``node_modules/.bin``, then the folder of the
Python running Brahmi. An install step records a digest of its inputs, so it runs again
only when they change.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

from brahmi import errors
from brahmi.deploy.plan import ServiceEntry

#: Settings that name a build's install and build commands, and its output folder.
INSTALL_KEYS = ("installCommand", "install_command")
BUILD_KEYS = ("buildCommand", "build_command")
OUTPUT_KEYS = ("outputPath", "outputDir", "outputDirectory", "output_dir", "distDir")
#: The keys of install steps: skipped when their inputs did not change since the last.
INSTALLS = frozenset({*(f"settings.{k}" for k in INSTALL_KEYS), "install (package.json)"})
INSTALL_MARKER = ".brahmi-install"
#: Files whose content decides whether an install must run again.
INSTALL_INPUTS = (
    "requirements*.txt",
    "pyproject.toml",
    "setup.py",
    "setup.cfg",
    "package.json",
    "package-lock.json",
    "go.sum",
)
#: Where a Node build leaves its static files, in the order looked for.
NODE_OUTPUTS = ("dist", "build", "out")


def build_steps(
    settings: dict[str, Any], folder: Path, entry: ServiceEntry
) -> list[tuple[str, list[str]]]:
    """The install and build commands of a build service, as argument lists: from its
    settings when named, else what its folder shows (a Node ``package.json``)."""
    steps: list[tuple[str, list[str]]] = []
    for keys in (INSTALL_KEYS, BUILD_KEYS):
        for key in keys:
            value = settings.get(key)
            if isinstance(value, str) and value.strip():
                try:
                    steps.append((f"settings.{key}", shlex.split(value)))
                except ValueError as exc:
                    raise errors.InvalidMetadata(
                        f"service {entry.id} ({entry.name}): settings.{key}: {exc}",
                        service=entry.name,
                        key=f"settings.{key}",
                    ) from None
                break
            if isinstance(value, list) and value:
                steps.append((f"settings.{key}", [str(a) for a in value]))
                break
    if steps or not (folder / "package.json").is_file():
        return steps
    try:
        manifest = json.loads((folder / "package.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return steps
    if not (folder / "node_modules").is_dir():
        ci = (folder / "package-lock.json").is_file()
        steps.append(("install (package.json)", ["npm", "ci" if ci else "install"]))
    scripts = manifest.get("scripts") if isinstance(manifest, dict) else None
    if isinstance(scripts, dict) and "build" in scripts:
        steps.append(("build (package.json)", ["npm", "run", "build"]))
    return steps


def is_pip(argv: list[str]) -> bool:
    name = Path(argv[0]).name if argv else ""
    return name in ("pip", "pip3") or (name.startswith("python") and argv[1:3] == ["-m", "pip"])


def inputs_digest(argv: list[str], folder: Path) -> str:
    """What an install depends on: its arguments and the dependency files' contents."""
    digest = hashlib.sha256(json.dumps(argv).encode())
    for pattern in INSTALL_INPUTS:
        for path in sorted(folder.glob(pattern)):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def tool_path(folder: Path, project: Path) -> list[Path]:
    """Folders put before ``PATH``: the service's and the project's virtualenvs and
    ``node_modules/.bin``, then the interpreter running Brahmi (so ``python`` and
    ``uvicorn`` resolve as they do for Brahmi)."""
    out: list[Path] = []
    for base in dict.fromkeys([folder, project]):
        out += [base / ".venv" / "bin", base / "venv" / "bin", base / "node_modules" / ".bin"]
    out.append(Path(sys.executable).parent)
    return out


def program(name: str, cwd: Path, path: str) -> str | None:
    """The executable ``name`` runs, or None: a bare name is looked up on ``path``; a
    relative path is taken from ``cwd``."""
    if os.sep in name:
        candidate = Path(name) if Path(name).is_absolute() else cwd / name
        return str(candidate) if os.access(candidate, os.X_OK) else None
    return shutil.which(name, path=path)


#: Static file servers ``npx`` would download from npm to run.
NPX_STATIC_SERVERS = frozenset({"serve", "http-server", "live-server"})


def builtin_static_reason(
    argv: list[str] | None, cwd: Path, project: Path, path: str
) -> str | None:
    """Why a frontend's files should be served by :mod:`brahmi.deploy.static` rather than
    its ``cmd``, or None to run the ``cmd``: no command, a program not installed, or
    ``npx`` fetching a static server that is not in ``node_modules``."""
    if not argv:
        return "it has no cmd"
    if program(argv[0], cwd, path) is None:
        return f"{argv[0]!r} is not installed"
    if Path(argv[0]).name == "npx":
        package = next((a for a in argv[1:] if not a.startswith("-")), "")
        installed = any(
            (base / "node_modules" / ".bin" / package).exists() for base in (cwd, project)
        )
        if package in NPX_STATIC_SERVERS and not installed:
            return f"npx would download {package!r} from npm"
    return None
