"""Checking SKILL.md files: Brahmi's rules, and with ``spec`` the Agent Skills validator's.

Both frontmatter conventions are accepted (DESIGN §1): the aramb one puts ``category`` and
``tags`` (a list) at the top level; the Agent Skills specification allows only ``name``,
``description``, ``license``, ``compatibility``, ``metadata`` and ``allowed-tools`` there,
so spec-valid skills carry ``metadata.category`` and ``metadata.tags`` (a comma-separated
string). Every problem names the file and, where the YAML tells, the line.

Parsing is lenient and reporting strict, as the Agent Skills client guide asks: what other
clients load (a name that differs from its folder, an over-long description or
compatibility, unknown keys) is a warning; only what cannot be used (no description, YAML
that cannot be read, no frontmatter, a SKILL.md over :data:`MAX_SKILL_MD_BYTES` or not
text) is an error. ``spec=True`` reports what the specification's validator rejects.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

NAME_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
NAME_MAX = 64
DESCRIPTION_MAX = 1024
COMPATIBILITY_MAX = 500
RESOURCE_DIRS = ("scripts", "references", "assets")
#: Categories in use (DESIGN §1); another is accepted with a warning.
CATEGORIES = frozenset(
    {"planner", "development", "testing", "critique", "deployment", "devops", "data", "meta"}
)
#: The only top-level keys the Agent Skills specification allows.
SPEC_KEYS = frozenset(
    {"name", "description", "license", "compatibility", "metadata", "allowed-tools"}
)
#: Top-level keys of the aramb convention, beside the spec's.
ARAMB_KEYS = frozenset({"category", "tags"})
#: Bytes of a SKILL.md read at most; a larger file is refused unread.
MAX_SKILL_MD_BYTES = 1024 * 1024
#: What other clients load with a word of warning (the Agent Skills client guide: parse
#: leniently), and the specification's validator rejects: errors with ``spec=True``.
LENIENT_CODES = frozenset({"name_mismatch", "description_too_long"})
#: Codes that never stop a skill from loading. Every code has one severity, so the index
#: stores the code alone and :func:`severity_of` tells the severity back.
WARNING_CODES = LENIENT_CODES | frozenset(
    {
        "unknown_key",
        "compatibility_too_long",
        "unknown_category",
        "mixed_conventions",
        "name_collision",
        "symlink_outside",
        "symlink_loop",
        "unreadable_folder",
        "source_too_large",
        "invalid_manifest",
        "manifest_external_source",
    }
)


Convention = Literal["aramb", "spec", "none"]
Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class SkillProblem:
    """One thing wrong with a skill (an ``error``) or worth a word (a ``warning``)."""

    file: str
    line: int | None
    code: str
    message: str
    severity: Severity = "error"

    def to_dict(self) -> dict[str, Any]:
        """As ``brahmi skills validate --json`` prints it."""
        return {
            "file": self.file,
            "line": self.line,
            "code": self.code,
            "message": self.message,
            "severity": self.severity,
        }

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.severity}: {self.message} [{self.code}]"


def severity_of(code: str) -> Severity:
    """The severity a problem with ``code`` has when a source is indexed."""
    return "warning" if code in WARNING_CODES else "error"


@dataclass(slots=True)
class Frontmatter:
    """A SKILL.md split into its parts."""

    data: dict[str, Any]
    body: str
    #: File line of each top-level key (1-based).
    lines: dict[str, int] = field(default_factory=dict)
    #: File line of each ``metadata`` key.
    metadata_lines: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class SkillReport:
    """What validating one skill folder found."""

    path: Path
    name: str | None = None
    convention: Convention = "none"
    problems: list[SkillProblem] = field(default_factory=list)
    frontmatter: Frontmatter | None = None

    @property
    def errors(self) -> list[SkillProblem]:
        """The problems that make the skill unusable."""
        return [p for p in self.problems if p.severity == "error"]

    @property
    def ok(self) -> bool:
        """True when the skill has no error (warnings allowed)."""
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        """As ``brahmi skills validate --json`` prints it."""
        return {
            "path": str(self.path),
            "name": self.name,
            "convention": self.convention,
            "valid": self.ok,
            "problems": [p.to_dict() for p in self.problems],
        }


def read_frontmatter(skill_md: Path) -> tuple[Frontmatter | None, list[SkillProblem]]:
    """Split a SKILL.md into frontmatter and body, with line numbers.

    Returns:
        The frontmatter (None when it cannot be read) and the problems found doing so.
    """
    file = str(skill_md)
    try:
        with skill_md.open("rb") as handle:
            content = handle.read(MAX_SKILL_MD_BYTES + 1)
    except OSError as exc:
        return None, [SkillProblem(file, None, "unreadable", f"cannot read SKILL.md: {exc}")]
    if len(content) > MAX_SKILL_MD_BYTES:
        return None, [
            SkillProblem(
                file,
                None,
                "skill_md_too_large",
                f"SKILL.md is over {MAX_SKILL_MD_BYTES:,} bytes; it is not read",
            )
        ]
    if b"\0" in content:
        return None, [
            SkillProblem(file, None, "unreadable", "SKILL.md is not text (it holds NUL bytes)")
        ]
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, [
            SkillProblem(file, None, "unreadable", f"SKILL.md is not UTF-8 text: {exc.reason}")
        ]
    if not text.startswith("---"):
        return None, [
            SkillProblem(file, 1, "no_frontmatter", "SKILL.md must start with '---' frontmatter")
        ]
    end = re.search(r"^---\s*$", text[3:], flags=re.MULTILINE)
    if end is None:
        return None, [
            SkillProblem(file, 1, "no_frontmatter", "the frontmatter is not closed with '---'")
        ]
    raw = text[3 : 3 + end.start()]
    body = text[3 + end.end() :].lstrip("\n")
    import yaml  # here: commands that read no SKILL.md do not pay for importing PyYAML

    # libyaml's safe loader when PyYAML was built with it (about 12x faster), else the pure one.
    loader_class: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        loader = loader_class(raw)
        try:
            node = loader.get_single_node()
            data = (loader.construct_document(node) if node is not None else None) or {}
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        return None, [
            SkillProblem(
                file, line, "invalid_yaml", f"the frontmatter is not valid YAML: {problem}"
            )
        ]
    if not isinstance(data, dict):
        return None, [
            SkillProblem(file, 2, "invalid_frontmatter", "the frontmatter must be a mapping")
        ]
    front = Frontmatter(data, body)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            front.lines[str(key_node.value)] = key_node.start_mark.line + 1
            if key_node.value == "metadata" and isinstance(value_node, yaml.MappingNode):
                for meta_key, _ in value_node.value:
                    front.metadata_lines[str(meta_key.value)] = meta_key.start_mark.line + 1
    return front, []


def validate_skill(folder: Path, *, spec: bool = False) -> SkillReport:
    """Check one skill folder against Brahmi's rules (DESIGN §1).

    Parsing is lenient, reporting strict: a name that differs from its folder, a
    ``description`` over 1024 characters, a ``compatibility`` over 500, keys no
    convention knows are warnings (the skill loads, under its frontmatter ``name``). A
    missing description, YAML that cannot be read or no frontmatter are errors.

    Args:
        folder: The folder holding SKILL.md.
        spec: Also report what the Agent Skills specification's validator rejects, as
            errors: the lenient cases above, unknown top-level keys, non-string
            ``metadata`` values, ``<`` or ``>`` in the description.
    """
    report = SkillReport(folder)
    skill_md = folder / "SKILL.md"
    file = str(skill_md)
    if not skill_md.is_file():
        report.problems.append(SkillProblem(str(folder), None, "missing_skill_md", "no SKILL.md"))
        return report
    if skill_md.is_symlink() and not _inside(skill_md, folder):
        report.problems.append(
            SkillProblem(
                file, None, "resource_outside", "SKILL.md is a symlink out of its folder; not read"
            )
        )
        return report
    front, problems = read_frontmatter(skill_md)
    report.problems.extend(problems)
    if front is None:
        return report
    report.frontmatter = front
    data = front.data

    def add(key: str, code: str, message: str, severity: Severity = "error") -> None:
        if spec and code in LENIENT_CODES:
            severity = "error"
        line = front.lines.get(key.split(".", 1)[0])
        if key.startswith("metadata."):
            line = front.metadata_lines.get(key.split(".", 1)[1], line)
        report.problems.append(SkillProblem(file, line, code, message, severity))

    name = data.get("name")
    if name is None:
        add("name", "missing_name", "name is required")
    elif not isinstance(name, str) or not NAME_RE.match(name) or len(name) > NAME_MAX:
        add(
            "name",
            "invalid_name",
            f"name must be 1–{NAME_MAX} lowercase letters, digits and single hyphens, not {name!r}",
        )
    else:
        report.name = name
        if name != folder.name:
            add(
                "name",
                "name_mismatch",
                f"name {name!r} differs from its folder {folder.name!r}; indexed as {name!r}",
                "warning",
            )
    description = data.get("description")
    if not isinstance(description, str) or not description.strip():
        add("description", "missing_description", "description is required (1–1024 characters)")
    elif len(description) > DESCRIPTION_MAX:
        add(
            "description",
            "description_too_long",
            f"description has {len(description)} characters; the specification allows "
            f"{DESCRIPTION_MAX}",
            "warning",
        )
    metadata = data.get("metadata", {})
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        add("metadata", "invalid_metadata", "metadata must be a mapping")
        metadata = {}
    report.convention = _convention(data, metadata)
    if any(key in data for key in ARAMB_KEYS) and any(key in metadata for key in ARAMB_KEYS):
        add(
            "metadata",
            "mixed_conventions",
            "category/tags appear both at the top level and under metadata; the top level wins",
            "warning",
        )
    category = data.get("category", metadata.get("category"))
    if category is not None and (not isinstance(category, str) or not category.strip()):
        add("category", "invalid_category", "category must be a non-empty string")
    elif isinstance(category, str) and category.strip().lower() not in CATEGORIES:
        add(
            "category",
            "unknown_category",
            f"category {category!r} is not one of {', '.join(sorted(CATEGORIES))}",
            "warning",
        )
    tags = data.get("tags", metadata.get("tags"))
    if tags is not None and not (
        isinstance(tags, str) or (isinstance(tags, list) and all(isinstance(t, str) for t in tags))
    ):
        add("tags", "invalid_tags", "tags must be a list of strings or a comma-separated string")
    command = metadata.get("brahmi-command")
    if isinstance(command, str) and re.search(r"\{skill_dir\}[/\\]*\.\.", command):
        add(
            "metadata.brahmi-command",
            "path_escapes",
            "brahmi-command reaches outside the skill's folder ({skill_dir}/..)",
        )
    for path in _escaping_resources(folder):
        report.problems.append(
            SkillProblem(
                str(path),
                None,
                "resource_outside",
                "a resource is a symlink or resolves outside the skill's folder",
            )
        )
    if spec:
        _spec_checks(data, metadata, add)
    else:
        _lenient_checks(data, add)
    return report


def _lenient_checks(data: dict[str, Any], add: Any) -> None:
    """Warnings for what ``spec=True`` reports as errors under ``spec_*`` codes."""
    for key in data:
        if key not in SPEC_KEYS and key not in ARAMB_KEYS:
            add(
                str(key),
                "unknown_key",
                f"no convention knows the top-level key {key!r}; it is ignored",
                "warning",
            )
    compatibility = data.get("compatibility")
    if isinstance(compatibility, str) and len(compatibility) > COMPATIBILITY_MAX:
        add(
            "compatibility",
            "compatibility_too_long",
            f"compatibility has {len(compatibility)} characters; the specification allows "
            f"{COMPATIBILITY_MAX}",
            "warning",
        )


def _convention(data: dict[str, Any], metadata: dict[str, Any]) -> Convention:
    if any(key in data for key in ARAMB_KEYS):
        return "aramb"
    if any(key in metadata for key in ARAMB_KEYS):
        return "spec"
    return "none"


def _spec_checks(data: dict[str, Any], metadata: dict[str, Any], add: Any) -> None:
    for key in data:
        if key not in SPEC_KEYS:
            hint = " (put it under metadata)" if key in ARAMB_KEYS else ""
            add(
                str(key),
                "spec_unknown_key",
                f"the specification allows no top-level key {key!r}{hint}",
            )
    for key, value in metadata.items():
        if not isinstance(value, str):
            add(
                f"metadata.{key}",
                "spec_metadata_not_string",
                f"metadata.{key} must be a string for the specification, not "
                f"{type(value).__name__}",
            )
    description = data.get("description")
    if isinstance(description, str) and ("<" in description or ">" in description):
        add("description", "spec_angle_brackets", "the description must not contain < or >")
    compatibility = data.get("compatibility")
    if compatibility is not None and (
        not isinstance(compatibility, str) or len(compatibility) > COMPATIBILITY_MAX
    ):
        add(
            "compatibility",
            "spec_compatibility",
            f"compatibility must be a string of at most {COMPATIBILITY_MAX} characters",
        )
    allowed = data.get("allowed-tools")
    if allowed is not None and not isinstance(allowed, str):
        add("allowed-tools", "spec_allowed_tools", "allowed-tools must be a space-separated string")


def _inside(path: Path, folder: Path) -> bool:
    try:
        return path.resolve(strict=True).is_relative_to(folder.resolve())
    except (OSError, RuntimeError):
        return False


def _escaping_resources(folder: Path) -> Iterator[Path]:
    root = folder.resolve()
    for sub in RESOURCE_DIRS:
        base = folder / sub
        if base.is_symlink():
            yield base
            continue
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            if path.is_symlink() or not path.resolve().is_relative_to(root):
                yield path
