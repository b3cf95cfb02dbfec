"""Finding the skill folders of a source the way Agent Skills clients do (DESIGN §1).

A source is searched breadth-first for folders holding a ``SKILL.md``, at most
:data:`MAX_DEPTH` folders down. Skipped: hidden folders (except ``.agents/skills`` and
``.claude/skills``), ``node_modules``, virtualenvs (a folder holding ``pyvenv.cfg``) and
build output (:data:`SKIPPED_FOLDERS`). A skill folder is not searched further: its
subfolders are its resources. Folders named ``skills`` are searched before their
siblings, so the skills of a large source are found where authors put them even when the
search stops at :data:`MAX_FOLDERS` folders without skills or :data:`MAX_ENTRIES` entries.

A symlink is followed only while it stays inside the source; one that leads out, that
loops back to a folder above it, or that cannot be resolved is reported and skipped.

A repository publishing a Claude Code plugin marketplace
(``.claude-plugin/marketplace.json``) is read from it: the skill paths its plugins list,
or each plugin's ``skills/`` folder when it lists none.
"""

from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from brahmi.skills.validate import Severity, SkillProblem, SkillReport, validate_skill

#: How many folders below the source a skill folder may be (``a/b/c/d/e/f/SKILL.md``).
MAX_DEPTH = 6
#: Folders without a skill a search lists at most; it stops there and says so.
MAX_FOLDERS = 10_000
#: Folder entries (files and folders) a search reads at most, over all folders.
MAX_ENTRIES = 200_000
#: Bytes of ``marketplace.json`` read at most.
MAX_MANIFEST_BYTES = 1024 * 1024
#: Folders never searched: dependencies, virtualenvs and build output.
SKIPPED_FOLDERS = frozenset(
    {
        "node_modules",
        "bower_components",
        "venv",
        "site-packages",
        "__pycache__",
        "build",
        "dist",
        "target",
        "out",
    }
)
#: Hidden folders searched, and the one subfolder of each that is.
HIDDEN_SKILL_HOMES = (".agents", ".claude")
MANIFEST = Path(".claude-plugin") / "marketplace.json"


@dataclass(slots=True)
class Discovery:
    """The skill folders found in one source, in the order found, and what got in the way."""

    folders: list[Path] = field(default_factory=list)
    problems: list[SkillProblem] = field(default_factory=list)


def discover(root: Path, *, manifest: bool = True) -> Discovery:
    """The skill folders of the source at ``root``.

    Args:
        root: One skill folder, or a folder (a repository) with skills somewhere inside.
        manifest: Read ``.claude-plugin/marketplace.json`` when present.

    Returns:
        ``root`` alone when it holds a SKILL.md; else the skill folders the marketplace
        manifest lists (when it lists any), else those a search finds.
    """
    if _is_file(root / "SKILL.md"):
        return Discovery([root])
    if manifest and (root / MANIFEST).is_file():
        found = _from_manifest(root)
        if found.folders:
            return found
        walked = _Walk(root).run([root])
        walked.problems[:0] = found.problems
        return walked
    return _Walk(root).run([root])


def validate_path(path: Path, *, spec: bool = False) -> list[SkillReport]:
    """Validate a skill folder, or every skill folder a search of a folder finds."""
    return [validate_skill(folder, spec=spec) for folder in discover(path).folders]


def discover_project(workspace: Path) -> Discovery:
    """The skill folders of a project workspace: under ``.agents/skills`` and
    ``.claude/skills`` only (in that order), never the rest of the workspace."""
    return _Walk(workspace).run(project_skill_roots(workspace))


def project_skill_roots(workspace: Path) -> list[Path]:
    """The workspace's skill folders that exist: ``.agents/skills``, ``.claude/skills``."""
    return [
        workspace / home / "skills"
        for home in HIDDEN_SKILL_HOMES
        if (workspace / home / "skills").is_dir()
    ]


def fingerprint(folders: Iterable[Path], *, max_files: int = 10_000) -> str:
    """A cheap mark of ``folders`` and their files (paths, sizes and modification times,
    no content read): it changes when a folder or file is added, removed or written."""
    marks: list[str] = []
    for folder in folders:
        marks.append(str(folder))
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for name in sorted(filenames):
                try:
                    stat = (Path(dirpath) / name).stat()
                except OSError:
                    continue
                marks.append(f"{dirpath}/{name}:{stat.st_size}:{stat.st_mtime_ns}")
                if len(marks) >= max_files:
                    return "\n".join(marks)
    return "\n".join(marks)


class _Walk:
    """One breadth-first search of a source, with its limits."""

    def __init__(self, root: Path) -> None:
        self.root = root
        try:
            self.root_real = root.resolve(strict=True)
        except (OSError, RuntimeError):
            self.root_real = root.absolute()
        self.found = Discovery()
        self.seen: set[Path] = set()
        #: Folders listed that were not skills (skill folders are what a search is for).
        self.searched = 0
        self.entries = 0
        self.stopped = False

    def run(self, starts: list[Path]) -> Discovery:
        queue: deque[tuple[Path, Path, int]] = deque()
        for start in starts:
            real = self._inside(start, self.root_real)
            if real is not None:
                depth = len(start.relative_to(self.root).parts) if start != self.root else 0
                self.seen.add(real)
                queue.append((start, real, depth))
        while queue and not self.stopped:
            folder, real, depth = queue.popleft()
            if self.searched >= MAX_FOLDERS:
                self._stop(f"the search stopped after {MAX_FOLDERS:,} folders without skills")
                break
            for child, child_real in self._children(folder, real, depth):
                queue.append((child, child_real, depth + 1))
        return self.found

    def _children(self, folder: Path, real: Path, depth: int) -> list[tuple[Path, Path]]:
        """Record ``folder`` if it is a skill; else the subfolders to search next."""
        try:
            with os.scandir(folder) as listing:
                entries = []
                for entry in listing:
                    self.entries += 1
                    if self.entries > MAX_ENTRIES:
                        self._stop(f"the search stopped after {MAX_ENTRIES:,} folder entries")
                        return []
                    entries.append(entry)
        except OSError as exc:
            self._problem(folder, "unreadable_folder", f"cannot list the folder: {exc.strerror}")
            return []
        names = {e.name for e in entries}
        if "SKILL.md" in names and _is_file(folder / "SKILL.md"):
            self.found.folders.append(folder)
            return []
        self.searched += 1
        if "pyvenv.cfg" in names or depth >= MAX_DEPTH:
            return []
        children: list[tuple[Path, Path]] = []
        for entry in sorted(entries, key=_search_order):
            child_real = self._child(entry, real)
            if child_real is None or child_real[1] in self.seen:
                continue
            self.seen.add(child_real[1])
            children.append(child_real)
        return children

    def _child(self, entry: os.DirEntry[str], parent_real: Path) -> tuple[Path, Path] | None:
        """The folder to search for this entry and its real path, or None to skip it."""
        name = entry.name
        try:
            if name.startswith("."):
                if name not in HIDDEN_SKILL_HOMES:
                    return None
                path = Path(entry.path) / "skills"  # only the skills folder of .agents, .claude
                if entry.is_symlink() or path.is_symlink():
                    target = self._symlink_target(path, parent_real)
                    return None if target is None else (path, target)
                return (path, parent_real / name / "skills") if path.is_dir() else None
            if name in SKIPPED_FOLDERS:
                return None
            path = Path(entry.path)
            if entry.is_symlink():
                target = self._symlink_target(path, parent_real)
                return None if target is None else (path, target)
            return (path, parent_real / name) if entry.is_dir(follow_symlinks=False) else None
        except OSError as exc:
            self._problem(Path(entry.path), "unreadable_folder", f"cannot read: {exc.strerror}")
            return None

    def _symlink_target(self, path: Path, parent_real: Path) -> Path | None:
        """Where a symlinked folder leads, if the search may follow it (reported if not)."""
        target = self._real(path)
        if target is None or not target.is_dir():
            return None
        if not target.is_relative_to(self.root_real):
            self._problem(
                path, "symlink_outside", f"a symlink out of the source (to {target}); not followed"
            )
            return None
        if parent_real.is_relative_to(target):
            self._problem(
                path, "symlink_loop", "a symlink to a folder above it (a loop); not followed"
            )
            return None
        return target

    def _real(self, path: Path) -> Path | None:
        """``path`` with every symlink resolved; None (a loop reported) when it cannot be.
        A dangling symlink is no folder and is passed over in silence."""
        try:
            return path.resolve(strict=True)
        except FileNotFoundError:
            return None
        except (OSError, RuntimeError):  # ELOOP, or pathlib's "Symlink loop"
            self._problem(path, "symlink_loop", "a symlink that loops; not followed")
            return None

    def _inside(self, path: Path, root_real: Path) -> Path | None:
        real = self._real(path)
        if real is None:
            return None
        if not real.is_relative_to(root_real):
            self._problem(path, "symlink_outside", f"leads out of the source (to {real})")
            return None
        return real

    def _stop(self, why: str) -> None:
        self.stopped = True
        self._problem(
            self.root,
            "source_too_large",
            f"{why}; skills in folders not reached are not indexed "
            "(add the folder that holds the skills instead)",
        )

    def _problem(self, path: Path, code: str, message: str) -> None:
        self.found.problems.append(SkillProblem(str(path), None, code, message, "warning"))


def _search_order(entry: os.DirEntry[str]) -> tuple[int, str]:
    """``skills`` folders first (where authors put skills), then by name."""
    first = entry.name == "skills" or entry.name in HIDDEN_SKILL_HOMES
    return (0 if first else 1, entry.name)


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:
        return False


# -- the Claude Code plugin marketplace ----------------------------------------------------


def _from_manifest(root: Path) -> Discovery:
    """The skill folders ``.claude-plugin/marketplace.json`` lists, in its order.

    Shape: ``{"plugins": [{"name", "source": "./", "skills": ["./skills/xlsx", ...]}]}``.
    A plugin without ``skills`` contributes its ``skills/`` folder; a plugin whose
    ``source`` is not a path in this repository (a git or GitHub source) is skipped with
    a warning; a listed path that is missing or leads out of the repository is an error.
    """
    found = Discovery()
    file = root / MANIFEST
    data = _read_manifest(file, found)
    if data is None:
        return found
    try:
        root_real = root.resolve(strict=True)
    except (OSError, RuntimeError):
        return found
    plugins = data.get("plugins")
    if not isinstance(plugins, list):
        _manifest_problem(found, file, "invalid_manifest", "has no list of plugins", "warning")
        return found
    for plugin in plugins:
        if not isinstance(plugin, dict):
            continue
        name = plugin.get("name", "?")
        source = plugin.get("source", "./")
        if not isinstance(source, str):
            _manifest_problem(
                found,
                file,
                "manifest_external_source",
                f"plugin {name!r} comes from outside this repository; its skills are not read",
                "warning",
            )
            continue
        skills = plugin.get("skills")
        listed = [skills] if isinstance(skills, str) else skills
        base = root / source
        paths = (
            [base / str(p) for p in listed]
            if isinstance(listed, list)
            else [base / "skills"]
            if (base / "skills").is_dir()
            else []
        )
        for path in paths:
            try:
                real = path.resolve(strict=True)
            except (OSError, RuntimeError):
                _manifest_problem(
                    found,
                    file,
                    "manifest_path_missing",
                    f"plugin {name!r} lists {path}, which does not exist",
                )
                continue
            if not real.is_relative_to(root_real):
                _manifest_problem(
                    found,
                    file,
                    "path_escapes",
                    f"plugin {name!r} lists {path}, which leads out of the repository",
                )
                continue
            if real in {f.resolve() for f in found.folders}:
                continue
            sub = _Walk(root).run([path]) if not _is_file(path / "SKILL.md") else None
            if sub is None:
                found.folders.append(path)
            else:
                found.folders.extend(f for f in sub.folders if f not in found.folders)
                found.problems.extend(sub.problems)
    return found


def _read_manifest(file: Path, found: Discovery) -> dict[str, Any] | None:
    try:
        with file.open("rb") as handle:
            raw = handle.read(MAX_MANIFEST_BYTES + 1)
    except OSError as exc:
        _manifest_problem(
            found, file, "invalid_manifest", f"cannot be read: {exc.strerror}", "warning"
        )
        return None
    if len(raw) > MAX_MANIFEST_BYTES:
        _manifest_problem(
            found,
            file,
            "invalid_manifest",
            f"is over {MAX_MANIFEST_BYTES:,} bytes; not read",
            "warning",
        )
        return None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        _manifest_problem(found, file, "invalid_manifest", f"is not valid JSON: {exc}", "warning")
        return None
    if not isinstance(data, dict):
        _manifest_problem(found, file, "invalid_manifest", "is not a JSON object", "warning")
        return None
    return data


def _manifest_problem(
    found: Discovery, file: Path, code: str, message: str, severity: Severity = "error"
) -> None:
    found.problems.append(SkillProblem(str(file), None, code, f"the manifest {message}", severity))
