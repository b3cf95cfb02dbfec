"""The files of a project, walked once and safely (DESIGN §11): what detection reads.

No symlinks are followed (a link in the project never leads out of it), folders like
``node_modules``, ``.venv`` and ``.git`` are never entered, and files past
:data:`MAX_FILE_BYTES` are never read.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

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


class ProjectFiles:
    """The project's files, walked once, bounded and without leaving the folder.

    Attributes:
        root: The project folder (resolved).
        paths: Every regular file inside it, relative, in walk order.
        truncated: True when the walk stopped at :data:`MAX_FILES`.
    """

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
        """The text of a file inside the project, or None (missing, too big, binary, or
        outside the project: ``rel`` may come from a compose file, e.g. ``../Dockerfile``)."""
        path = self.root / str(rel)
        try:
            if not path.resolve().is_relative_to(self.root.resolve()):
                return None
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


def name_of(folder: str, files: ProjectFiles) -> str:
    raw = files.root.name if folder == "." else PurePosixPath(folder).name
    return slug(raw) or "app"


def slug(text: str) -> str:
    """A service name: lowercase letters, digits and ``-``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40]


def own_sources(
    files: ProjectFiles, folder: str, owners: list[str], suffixes: frozenset[str]
) -> list[PurePosixPath]:
    """Source files of ``folder`` not inside a deeper component folder."""
    out = []
    for path in files.in_folder(folder, suffixes):
        owner = next((o for o in owners if o == "." or PurePosixPath(o) in path.parents), ".")
        if owner == folder:
            out.append(path)
    return out[:400]
