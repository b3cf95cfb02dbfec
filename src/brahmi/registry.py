"""The skill registry (DESIGN §1, §2, §8): every skill Brahmi can bind a task to.

Four kinds of source feed it: the built-in set shipped in the package (always there,
re-indexed whenever the package's skills change), sources added with ``brahmi skills add``
(a folder, or a git repository cloned under ``BRAHMI_HOME`` at a pinned commit), the
skills a project workspace ships in ``.agents/skills`` and ``.claude/skills`` (full_ids
``project/<project>/<name>``, re-indexed when they change), and folders given to one
command with ``--skills DIR`` (read for that command only).

Conflict rule: a full_id belongs to the source that provided it first (the built-ins
first of all); a later source's skill with the same full_id is reported as
``duplicate_full_id`` and skipped. ``brahmi/builtin`` is the built-ins' alone: no added
source may take it as its owner/repo, so a built-in added by a later release is never
shadowed. For short names (seed 001's ``backend-critique``), a skill of any other source
is preferred over a built-in of the same name.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from brahmi import errors
from brahmi.skills import discovery, sources
from brahmi.skills.catalog import BUILTIN_DIR, BUILTIN_OWNER_REPO, SkillCatalog, SkillSource
from brahmi.skills.skill import Skill
from brahmi.skills.sources import Scan
from brahmi.skills.validate import SkillProblem
from brahmi.store.skills import IndexOutcome, SkillIndex, SourceRecord

#: How long a skill read from the database is reused before it is read again, in seconds.
CACHE_S = 5.0
BUILTIN_LOCATION = "builtin:brahmi"
#: The owner of every project's skills: ``project/<project name>/<skill>``.
PROJECT_OWNER = "project"


@dataclass(frozen=True, slots=True)
class SkillHit:
    """One ``search_skills`` result (DESIGN §8)."""

    full_id: str
    name: str
    description: str
    category: str | None
    tags: tuple[str, ...]
    version: str
    source: str
    runtime: str | None = None
    rank: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """As returned to planners and printed by ``brahmi skills search --json``."""
        return {
            "full_id": self.full_id,
            "name": self.name,
            "description": self.description,
            "category": self.category,
            "tags": list(self.tags),
            "version": self.version,
            "source": self.source,
            "runtime": self.runtime,
        }


class SkillRegistry:
    """The built-in skills, the registered sources and ``--skills`` folders, indexed.

    Args:
        index: The database index.
        home: ``BRAHMI_HOME``; git sources are cloned under ``home/skills``.
        extra: Folders for this process only (``--skills DIR[=owner/repo]``).
    """

    def __init__(self, index: SkillIndex, home: Path, extra: Iterable[SkillSource] = ()) -> None:
        self.index = index
        self.home = home
        self._overlay = SkillCatalog(list(extra))
        self._cache: dict[str, tuple[float, Skill]] = {}
        self._synced = False
        #: ``location → fingerprint`` of the project skill folders this process last read.
        self._project_marks: dict[str, str] = {}

    # -- the catalog interface (batch validation, the engine) ------------------------------

    def full_ids(self) -> frozenset[str]:
        """Every full_id a task may name."""
        self.sync_builtins()
        return frozenset(self.index.full_ids() | set(self._overlay.skills))

    def find(self, full_id: str) -> Skill | None:
        """The skill with this full_id, or None."""
        self.sync_builtins()
        cached = self._cache.get(full_id)
        now = time.monotonic()
        if cached is not None and now - cached[0] < CACHE_S:
            return cached[1]
        row = self.index.get(full_id)
        skill = _skill_of(row) if row is not None else self._overlay.skills.get(full_id)
        if skill is not None:
            self._cache[full_id] = (now, skill)
        return skill

    def get(self, full_id: str) -> Skill:
        """The skill with this full_id.

        Raises:
            SkillNotFound: When there is none.
        """
        skill = self.find(full_id)
        if skill is None:
            raise errors.SkillNotFound(f"no skill has the id {full_id!r}", skill_id=full_id)
        return skill

    @property
    def problems(self) -> list[tuple[str, str]]:
        """``(file, message)`` for every skill that could not be indexed or read."""
        self.sync_builtins()
        found = [(p["file"], f"{p['message']} [{p['code']}]") for p in self.index.problems()]
        return found + list(self._overlay.problems)

    # -- sources ---------------------------------------------------------------------------

    def sync_builtins(self) -> None:
        """Index the built-in skills if this package's differ from the indexed ones."""
        if self._synced:
            return
        self._synced = True
        scan = sources.scan(BUILTIN_DIR, BUILTIN_OWNER_REPO)
        source = next((s for s in self.index.sources() if s.location == BUILTIN_LOCATION), None)
        wanted = {s.full_id: s.version for s in scan.skills}
        if source is not None and self.index.versions(source.id) == wanted:
            return
        source = self.index.upsert_source(
            kind="builtin",
            location=BUILTIN_LOCATION,
            owner_repo=BUILTIN_OWNER_REPO,
            path=str(BUILTIN_DIR),
            ref=None,
            commit=None,
            now=time.time(),
        )
        self.index.replace_skills(source, scan.skills, scan.problems, now=time.time())

    def sources(self) -> list[SourceRecord]:
        """Every registered source, the built-ins first."""
        self.sync_builtins()
        return self.index.sources()

    def add(
        self, location: str, *, owner_repo: str | None = None, ref: str | None = None
    ) -> tuple[SourceRecord, IndexOutcome]:
        """Register a folder or git repository and index its skills.

        Args:
            location: A folder of skill folders, one skill folder, or a git URL.
            owner_repo: The ``owner/repo`` of its full_ids (default: ``local/<folder>``, or
                the URL's last two parts).
            ref: For git: the branch, tag or commit to pin (default: the remote's HEAD).

        Raises:
            InvalidSkill: A folder that does not exist, a bad owner/repo (or the built-ins'),
                a git owner/repo another source already has, a failed clone.
        """
        self.sync_builtins()
        known = self.index.sources()
        if sources.is_git_url(location):
            repo = _own_owner_repo(owner_repo or sources.owner_repo_from_url(location))
            dest = self.home / "skills" / repo.replace("/", "__")
            # The clone folder is named after owner/repo: never clone over another source's.
            holder = next(
                (s for s in known if s.path == str(dest) and s.location != location), None
            )
            if holder is not None:
                raise errors.InvalidSkill(
                    f"{repo} already names the source {holder.location}; choose another --as"
                )
            previous = next((s for s in known if s.location == location), None)
            commit = sources.git_clone(location, dest, ref)
            if previous is not None and previous.kind == "git" and previous.path != str(dest):
                shutil.rmtree(previous.path, ignore_errors=True)  # re-added under a new --as
            record = self.index.upsert_source(
                kind="git",
                location=location,
                owner_repo=repo,
                path=str(dest),
                ref=ref,
                commit=commit,
                now=time.time(),
            )
        else:
            folder = Path(location).expanduser().resolve()
            if not folder.is_dir():
                raise errors.InvalidSkill(f"{location} is not a folder")
            if ref:
                raise errors.InvalidSkill("--ref applies to git sources only")
            repo = _own_owner_repo(owner_repo or f"local/{folder.name}")
            record = self.index.upsert_source(
                kind="local",
                location=str(folder),
                owner_repo=repo,
                path=str(folder),
                ref=None,
                commit=None,
                now=time.time(),
            )
        return record, self._reindex(record)

    def update(self, source: str | None = None) -> list[tuple[SourceRecord, IndexOutcome]]:
        """Pull git sources and re-index (one source, or all but the built-ins).

        Raises:
            SkillNotFound: When ``source`` names no registered source.
            InvalidSkill: When a pull fails.
        """
        chosen = (
            [self.resolve_source(source)]
            if source
            else [s for s in self.sources() if s.kind != "builtin"]
        )
        results = []
        for record in chosen:
            if record.kind == "git":
                commit = sources.git_update(Path(record.path), record.ref)
                record = self.index.upsert_source(
                    kind=record.kind,
                    location=record.location,
                    owner_repo=record.owner_repo,
                    path=record.path,
                    ref=record.ref,
                    commit=commit,
                    now=time.time(),
                )
            results.append((record, self._reindex(record)))
        self._cache.clear()
        return results

    def sync_project(self, workspace: Path, name: str) -> IndexOutcome | None:
        """Index the skills a project workspace ships, if they changed since last read.

        The workspace's ``.agents/skills`` and ``.claude/skills`` are the project's source
        (full_ids ``project/<name>/<skill>``). Change is told cheaply: the paths, sizes and
        modification times of their files, compared with what this process saw last; only
        on a change (or the first look) are they read, and only a difference from the
        index is written. A skill whose name another source's skill also has is indexed
        with a ``name_collision`` warning: both stay, each under its full_id.

        Args:
            workspace: The project's folder (absolute).
            name: The project's name (its owner/repo is ``project/<name>``, with characters
                other than letters, digits and ``._-`` as ``-``).

        Returns:
            What re-indexing did, or None when nothing changed.
        """
        location = f"project:{workspace}"
        # The skill folders found (a symlinked one included) and the stat of their files.
        found = discovery.discover_project(workspace)
        mark = discovery.fingerprint(found.folders)
        if self._project_marks.get(location) == mark:
            return None
        self._project_marks[location] = mark
        known = next((s for s in self.index.sources() if s.location == location), None)
        if not discovery.project_skill_roots(workspace):
            if known is not None:  # the workspace no longer ships skills
                self.index.remove_source(known.id)
                self._cache.clear()
            return None
        self.sync_builtins()
        owner_repo = project_owner_repo(name)
        scan = self._project_scan(workspace, owner_repo, known.id if known else None)
        if (
            known is not None
            and known.owner_repo == owner_repo
            and self.index.versions(known.id) == {s.full_id: s.version for s in scan.skills}
            and [_problem_key(p) for p in self.index.problems(known.id)]
            == [_problem_key(p.to_dict()) for p in scan.problems]
        ):
            return None  # indexed as it is (by this process earlier, or another one)
        record = self.index.upsert_source(
            kind="project",
            location=location,
            owner_repo=owner_repo,
            path=str(workspace),
            ref=None,
            commit=None,
            now=time.time(),
        )
        self._cache.clear()
        return self.index.replace_skills(record, scan.skills, scan.problems, now=time.time())

    def _project_scan(self, workspace: Path, owner_repo: str, source_id: str | None) -> Scan:
        """A project's skills, with a ``name_collision`` warning for each name another
        source's skill has too."""
        scan = sources.scan_project(workspace, owner_repo)
        others = self.index.named([s.name for s in scan.skills], besides=source_id)
        for skill in scan.skills:
            if skill.name in others:
                scan.problems.append(
                    SkillProblem(
                        str(skill.path / "SKILL.md"),
                        None,
                        "name_collision",
                        f"{skill.full_id} has the name of {', '.join(others[skill.name])}; "
                        "both are indexed, name the one meant by its full_id",
                        "warning",
                    )
                )
        return scan

    def remove(self, source: str) -> tuple[SourceRecord, int]:
        """Forget a source and its skills (a git clone's folder is deleted).

        Raises:
            SkillNotFound: When ``source`` names no registered source.
            InvalidSkill: For the built-in source.
        """
        record = self.resolve_source(source)
        if record.kind == "builtin":
            raise errors.InvalidSkill("the built-in skills cannot be removed")
        if record.kind == "project":
            raise errors.InvalidSkill(
                f"{record.owner_repo} is the skills of the project at {record.path}: "
                "they follow its .agents/skills and .claude/skills folders"
            )
        removed = self.index.remove_source(record.id)
        if record.kind == "git":
            shutil.rmtree(record.path, ignore_errors=True)
        self._cache.clear()
        return record, removed

    def resolve_source(self, name: str) -> SourceRecord:
        """The source whose id, location or owner/repo is ``name``.

        Raises:
            SkillNotFound: When none (or several) match.
        """
        candidates = [
            s
            for s in self.sources()
            if name in (s.id, s.location, s.owner_repo)
            or (
                not sources.is_git_url(name)
                and s.location == str(Path(name).expanduser().resolve())
            )
        ]
        if len(candidates) != 1:
            known = ", ".join(s.location for s in self.sources()) or "none"
            what = "no source" if not candidates else "several sources"
            raise errors.SkillNotFound(f"{what} match {name!r} (sources: {known})", source=name)
        return candidates[0]

    def _reindex(self, record: SourceRecord) -> IndexOutcome:
        path = Path(record.path)
        if not path.exists():
            problem = SkillProblem(
                record.path, None, "source_missing", "the source's folder is gone"
            )
            return self.index.replace_skills(record, [], [problem], now=time.time())
        if record.kind == "project":
            scan = self._project_scan(path, record.owner_repo, record.id)
        else:
            scan = sources.scan(path, record.owner_repo, commit=record.commit)
        self._cache.clear()
        return self.index.replace_skills(record, scan.skills, scan.problems, now=time.time())

    # -- search ----------------------------------------------------------------------------

    def search(
        self,
        *,
        category: str | None = None,
        tag: str | None = None,
        q: str | None = None,
        limit: int = 20,
    ) -> list[SkillHit]:
        """``search_skills(category?, tag?, q?)``: exact filters, ranked text, best first."""
        self.sync_builtins()
        rows = self.index.search(category=category, tag=tag, q=q, limit=limit)
        hits = [
            SkillHit(
                full_id=r["full_id"],
                name=r["name"],
                description=r["description"],
                category=r["category"],
                tags=tuple(r["tags"]),
                version=r["version"],
                source=r["source"],
                runtime=r["runtime"],
                rank=r.get("rank"),
            )
            for r in rows
        ]
        return hits + self._overlay_hits(category, tag, q, limit - len(hits))

    def _overlay_hits(
        self, category: str | None, tag: str | None, q: str | None, limit: int
    ) -> list[SkillHit]:
        found: list[SkillHit] = []
        words = (q or "").lower().split()
        for skill in self._overlay.skills.values():
            if limit <= len(found):
                break
            if category and (skill.category or "").lower() != category.strip().lower():
                continue
            if tag and tag.strip().lower() not in {t.lower() for t in skill.tags}:
                continue
            haystack = f"{skill.name} {skill.description} {' '.join(skill.tags)}".lower()
            if words and not any(w in haystack for w in words):
                continue
            found.append(
                SkillHit(
                    skill.full_id,
                    skill.name,
                    skill.description,
                    skill.category,
                    skill.tags,
                    skill.version,
                    f"--skills {skill.path.parent}",
                    skill.runtime,
                )
            )
        return found


def _own_owner_repo(value: str) -> str:
    """``value`` if an added source may file its skills under it.

    Raises:
        InvalidSkill: When it is not ``owner/repo``, or it is the built-ins' or projects'.
    """
    repo = sources.check_owner_repo(value)
    if repo == BUILTIN_OWNER_REPO:
        raise errors.InvalidSkill(f"{BUILTIN_OWNER_REPO} belongs to the built-in skills")
    if repo.split("/")[0] == PROJECT_OWNER:
        raise errors.InvalidSkill(f"{PROJECT_OWNER}/… belongs to the skills projects ship")
    return repo


def project_owner_repo(name: str) -> str:
    """``project/<name>``, with characters other than letters, digits and ``._-`` as ``-``."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "workspace"
    return f"{PROJECT_OWNER}/{slug}"


def _problem_key(problem: dict[str, Any]) -> tuple[Any, ...]:
    return (problem["file"], problem["line"], problem["code"], problem["message"])


def _skill_of(row: dict[str, Any]) -> Skill:
    return Skill(
        full_id=row["full_id"],
        name=row["name"],
        description=row["description"],
        path=Path(row["path"]),
        body=row["body"],
        version=row["version"],
        category=row["category"],
        tags=tuple(row["tags"]),
        license=row["license"],
        runtime=row["runtime"],
        command=row["command"],
        metadata=dict(row["skill_metadata"]),
        resources=tuple(row["resources"]),
        commit=row["commit"],
    )
