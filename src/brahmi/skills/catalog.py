"""The skills Brahmi knows: the built-in set plus local folders (``--skills DIR``).

This is the small interface batch validation and the engine use (``full_ids``, ``get``).
The full registry with git sources and search replaces what sits behind it, not the
interface.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from brahmi import errors
from brahmi.skills import sources as skill_sources
from brahmi.skills.skill import Skill

BUILTIN_DIR = Path(__file__).parent / "builtin"
BUILTIN_OWNER_REPO = "brahmi/builtin"


@dataclass(frozen=True, slots=True)
class SkillSource:
    """A folder of skill folders and the ``owner/repo`` its skills are filed under."""

    path: Path
    owner_repo: str

    @classmethod
    def parse(cls, spec: str) -> SkillSource:
        """Read a ``--skills`` value: ``DIR`` or ``DIR=owner/repo``.

        Without ``=owner/repo`` the skills are ``local/<DIR name>/<skill>``.

        Raises:
            InvalidSkill: When ``owner/repo`` is not two non-empty parts.
        """
        path_text, sep, owner_repo = spec.partition("=")
        path = Path(path_text).expanduser()
        if not sep:
            owner_repo = f"local/{path.resolve().name}"
        parts = owner_repo.split("/")
        if len(parts) != 2 or not all(parts):
            raise errors.InvalidSkill(f"--skills {spec!r}: expected DIR or DIR=owner/repo")
        return cls(path, owner_repo)


class Skills(Protocol):
    """What batch validation and the engine need of the skills: the small interface both
    the registry (:class:`brahmi.registry.SkillRegistry`) and an in-memory catalog offer."""

    def full_ids(self) -> frozenset[str]:
        """Every full_id a task may name."""

    def find(self, full_id: str) -> Skill | None:
        """The skill with this full_id, or None."""

    def get(self, full_id: str) -> Skill:
        """The skill with this full_id; raises :class:`~brahmi.errors.SkillNotFound`."""


class SkillCatalog:
    """Every skill from a list of sources, with what could not be read.

    A malformed skill is recorded in :attr:`problems` and skipped; it never stops the
    others from loading. A later source's skill replaces an earlier one with the same
    full_id.
    """

    def __init__(self, sources: Iterable[SkillSource]) -> None:
        self.skills: dict[str, Skill] = {}
        #: ``(path, message)`` for every skill that could not be loaded.
        self.problems: list[tuple[str, str]] = []
        for source in sources:
            self._load(source)

    @classmethod
    def with_builtins(cls, extra: Iterable[SkillSource] = ()) -> SkillCatalog:
        """The built-in skills (``brahmi/builtin/*``) followed by ``extra`` sources."""
        return cls([SkillSource(BUILTIN_DIR, BUILTIN_OWNER_REPO), *extra])

    def _load(self, source: SkillSource) -> None:
        if not source.path.is_dir():
            self.problems.append((str(source.path), "not a folder"))
            return
        scan = skill_sources.scan(source.path, source.owner_repo)
        self.problems.extend(
            (p.file, f"{p.message} [{p.code}]") for p in scan.problems if p.severity == "error"
        )
        for skill in scan.skills:
            self.skills[skill.full_id] = skill

    def full_ids(self) -> frozenset[str]:
        """The full_id of every loaded skill."""
        return frozenset(self.skills)

    def find(self, full_id: str) -> Skill | None:
        """The skill with this full_id, or None."""
        return self.skills.get(full_id)

    def get(self, full_id: str) -> Skill:
        """The skill with this full_id.

        Raises:
            SkillNotFound: When no loaded skill has it.
        """
        try:
            return self.skills[full_id]
        except KeyError:
            raise errors.SkillNotFound(
                f"no skill has the id {full_id!r}", skill_id=full_id
            ) from None
