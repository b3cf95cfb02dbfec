"""A skill: a folder with a ``SKILL.md`` (YAML frontmatter + Markdown body), DESIGN §1.

Both frontmatter conventions are read: the aramb one (``category`` and ``tags`` at the top
level, tags a list) and the Agent Skills specification's (``metadata.category`` and
``metadata.tags``, a comma-separated string). Brahmi's own hints live under ``metadata``
as ``brahmi-*`` keys (DESIGN §6).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from brahmi import errors
from brahmi.skills.validate import RESOURCE_DIRS, SkillReport, validate_skill


@dataclass(frozen=True, slots=True)
class Skill:
    """A parsed, valid skill.

    Attributes:
        full_id: ``owner/repo/name``.
        path: The skill's folder.
        body: The Markdown after the frontmatter: the agent's system prompt.
        version: Content hash of SKILL.md and its resources (``sha256:`` + 16 hex digits).
        runtime: ``metadata.brahmi-runtime``, when the skill names one.
        command: ``metadata.brahmi-command``, for the command runtime.
    """

    full_id: str
    name: str
    description: str
    path: Path
    body: str
    version: str
    category: str | None = None
    tags: tuple[str, ...] = ()
    license: str | None = None
    runtime: str | None = None
    command: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    resources: tuple[str, ...] = ()
    #: The git commit of a git source, else None.
    commit: str | None = None


def load_skill(
    folder: Path,
    owner_repo: str,
    *,
    commit: str | None = None,
    report: SkillReport | None = None,
) -> Skill:
    """Read and check the skill in ``folder`` (see :mod:`brahmi.skills.validate`).

    Args:
        folder: A folder holding ``SKILL.md``.
        owner_repo: The ``owner/repo`` part of the full_id.
        commit: The git commit the folder was read at, for git sources; it becomes part of
            the skill's version.
        report: The folder's validation report, when the caller already has it.

    Raises:
        InvalidSkill: With every error, when the skill breaks a rule of DESIGN §1.
    """
    report = report or validate_skill(folder)
    if not report.ok or report.frontmatter is None or report.name is None:
        raise errors.InvalidSkill(
            "; ".join(str(p) for p in report.errors),
            problems=[p.to_dict() for p in report.errors],
        )
    data = report.frontmatter.data
    metadata = data.get("metadata") or {}
    name = report.name
    category = data.get("category", metadata.get("category"))
    tags_raw = data.get("tags", metadata.get("tags", ()))
    if isinstance(tags_raw, str):
        tags = tuple(t.strip() for t in tags_raw.split(",") if t.strip())
    else:
        tags = tuple(str(t).strip() for t in tags_raw or () if str(t).strip())
    resources = _resources(folder)
    runtime = metadata.get("brahmi-runtime")
    command = metadata.get("brahmi-command")
    version = _content_hash(folder, resources)
    if commit:
        version = f"{version}+git:{commit[:12]}"
    return Skill(
        full_id=f"{owner_repo}/{name}",
        name=name,
        description=str(data["description"]).strip(),
        path=folder,
        body=report.frontmatter.body,
        version=version,
        category=str(category).strip() if category is not None else None,
        tags=tags,
        license=str(data["license"]) if data.get("license") is not None else None,
        runtime=str(runtime) if runtime is not None else None,
        command=str(command) if command is not None else None,
        metadata=dict(metadata),
        resources=resources,
        commit=commit,
    )


def _resources(folder: Path) -> tuple[str, ...]:
    """Relative paths of the files under scripts/, references/ and assets/ (validation has
    already refused symlinks and anything resolving outside the folder)."""
    found: list[str] = []
    for sub in RESOURCE_DIRS:
        base = folder / sub
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            if "__pycache__" in path.parts or not path.is_file():
                continue
            found.append(path.relative_to(folder).as_posix())
    return tuple(found)


def _content_hash(folder: Path, resources: tuple[str, ...]) -> str:
    digest = hashlib.sha256()
    for rel in ("SKILL.md", *resources):
        digest.update(rel.encode())
        digest.update(b"\0")
        with (folder / rel).open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        digest.update(b"\0")
    return "sha256:" + digest.hexdigest()[:16]
