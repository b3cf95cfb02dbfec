"""A skill: a folder with a ``SKILL.md`` (YAML frontmatter + Markdown body), DESIGN §1.

Both frontmatter conventions are read: the aramb one (``category`` and ``tags`` at the top
level, tags a list) and the Agent Skills specification's (``metadata.category`` and
``metadata.tags``, a comma-separated string). Brahmi's own hints live under ``metadata``
as ``brahmi-*`` keys (DESIGN §6).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from brahmi import errors

NAME_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
NAME_MAX = 64
DESCRIPTION_MAX = 1024
RESOURCE_DIRS = ("scripts", "references", "assets")


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


def split_frontmatter(text: str, source: str) -> tuple[dict[str, Any], str]:
    """Split a SKILL.md into its frontmatter mapping and its body.

    Raises:
        InvalidSkill: When the frontmatter is missing, unterminated, not YAML or not a mapping.
    """
    if not text.startswith("---"):
        raise errors.InvalidSkill(f"{source}: SKILL.md must start with '---' frontmatter")
    end = re.search(r"^---\s*$", text[3:], flags=re.MULTILINE)
    if end is None:
        raise errors.InvalidSkill(f"{source}: the frontmatter is not closed with '---'")
    raw = text[3 : 3 + end.start()]
    body = text[3 + end.end() :].lstrip("\n")
    try:
        data = yaml.safe_load(raw) or {}
    except yaml.YAMLError as exc:
        raise errors.InvalidSkill(f"{source}: the frontmatter is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise errors.InvalidSkill(f"{source}: the frontmatter must be a mapping")
    return data, body


def load_skill(folder: Path, owner_repo: str) -> Skill:
    """Read and check the skill in ``folder``.

    Args:
        folder: A folder holding ``SKILL.md``.
        owner_repo: The ``owner/repo`` part of the full_id.

    Raises:
        InvalidSkill: With the reason, when the skill breaks a rule of DESIGN §1.
    """
    skill_md = folder / "SKILL.md"
    try:
        text = skill_md.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise errors.InvalidSkill(f"{skill_md}: cannot read: {exc}") from exc
    data, body = split_frontmatter(text, str(skill_md))
    name = data.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name) or len(name) > NAME_MAX:
        raise errors.InvalidSkill(
            f"{skill_md}: name must be 1–{NAME_MAX} lowercase letters, digits and single "
            f"hyphens, not {name!r}"
        )
    if name != folder.name:
        raise errors.InvalidSkill(
            f"{skill_md}: name {name!r} differs from its folder {folder.name!r}"
        )
    description = data.get("description")
    if not isinstance(description, str) or not 1 <= len(description.strip()) <= DESCRIPTION_MAX:
        raise errors.InvalidSkill(f"{skill_md}: description must be 1–{DESCRIPTION_MAX} characters")
    metadata = data.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise errors.InvalidSkill(f"{skill_md}: metadata must be a mapping")
    category = data.get("category", metadata.get("category"))
    tags_raw = data.get("tags", metadata.get("tags", ()))
    if isinstance(tags_raw, str):
        tags = tuple(t.strip() for t in tags_raw.split(",") if t.strip())
    elif isinstance(tags_raw, list):
        tags = tuple(str(t).strip() for t in tags_raw if str(t).strip())
    else:
        tags = ()
    resources = _resources(folder)
    runtime = metadata.get("brahmi-runtime")
    command = metadata.get("brahmi-command")
    return Skill(
        full_id=f"{owner_repo}/{name}",
        name=name,
        description=description.strip(),
        path=folder,
        body=body,
        version=_content_hash(folder, resources),
        category=str(category) if category is not None else None,
        tags=tags,
        license=str(data["license"]) if data.get("license") is not None else None,
        runtime=str(runtime) if runtime is not None else None,
        command=str(command) if command is not None else None,
        metadata=dict(metadata),
        resources=resources,
    )


def _resources(folder: Path) -> tuple[str, ...]:
    """Relative paths of the files under scripts/, references/ and assets/.

    Symlinks and anything whose real path leaves the skill's folder are refused.
    """
    root = folder.resolve()
    found: list[str] = []
    for sub in RESOURCE_DIRS:
        base = folder / sub
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            if "__pycache__" in path.parts or not path.is_file():
                continue
            if path.is_symlink() or not path.resolve().is_relative_to(root):
                raise errors.InvalidSkill(f"{path}: resource points outside the skill's folder")
            found.append(path.relative_to(folder).as_posix())
    return tuple(found)


def _content_hash(folder: Path, resources: tuple[str, ...]) -> str:
    digest = hashlib.sha256()
    for rel in ("SKILL.md", *resources):
        digest.update(rel.encode())
        digest.update(b"\0")
        digest.update((folder / rel).read_bytes())
        digest.update(b"\0")
    return "sha256:" + digest.hexdigest()[:16]
