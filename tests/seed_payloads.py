"""The example batches of the seed documents, extracted so tests can feed them to Brahmi.

The seeds (``../shared/seeds`` beside the repository) are planner skills written for
people: their payloads carry ``// comments``, placeholders such as
``"<development-full_id from search>"``, and in seed 002 (and parts of 003) Markdown that
a web copy flattened onto single lines. This module finds

- every ``create_tasks_batch(tasks=[...])`` call, and
- every fenced ```` ```json ```` block that holds a plan object with a ``"tasks"`` list,

and decodes them with the comments removed. Fenced blocks that are fragments rather than
whole payloads (an ``inputs`` object, ``"task_order": <order of task being validated>``)
do not decode and are left out; the tests pin how many payloads each seed holds, so a
parsing regression fails loudly instead of silently testing less.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The seed documents, beside the repository: ``<repo>/../shared/seeds``.
SEEDS_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "seeds"
#: The ``owner/repo`` the skills built for seed payloads are filed under.
OWNER_REPO = "acme/skills"

_BATCH_CALL = re.compile(r"create_tasks_batch\(\s*tasks\s*=\s*(?=\[)")
_JSON_FENCE = re.compile(r"```json\b")
_PLACEHOLDER = re.compile(r"^<(?P<inner>[^<>]+)>$")
_PLACEHOLDER_TAIL = re.compile(r"(-full_id|-skill-id|[ _]from search).*$")


@dataclass(frozen=True, slots=True)
class SeedPayload:
    """One example batch found in a seed document.

    Attributes:
        seed: The seed's file name.
        kind: ``"create_tasks_batch"`` for a tool call, ``"plan"`` for a JSON plan object.
        line: The 1-based line where the payload starts.
        tasks: The decoded task specs, exactly as the seed wrote them.
    """

    seed: str
    kind: str
    line: int
    tasks: list[Any]

    @property
    def id(self) -> str:
        """A short name for test ids: ``003:create_tasks_batch@226``."""
        return f"{self.seed[:3]}:{self.kind}@{self.line}"


def seed_files() -> list[Path]:
    """The seed documents, in name order (empty when the folder is absent)."""
    if not SEEDS_DIR.is_dir():
        return []
    return sorted(SEEDS_DIR.glob("*.txt"))


def payloads_in(path: Path) -> list[SeedPayload]:
    """Every batch payload of one seed, in the order they appear."""
    text = path.read_text(encoding="utf-8")
    found: list[tuple[int, SeedPayload]] = []
    for match in _BATCH_CALL.finditer(text):
        value = _decode_at(text, match.end())
        if not isinstance(value, list):
            raise ValueError(
                f"{path.name}:{_line(text, match.start())}: create_tasks_batch payload "
                "could not be decoded"
            )
        found.append(
            (match.start(), _payload(path, text, match.start(), "create_tasks_batch", value))
        )
    for match in _JSON_FENCE.finditer(text):
        start = _first_bracket(text, match.end())
        if start is None:
            continue
        value = _decode_at(text, start)
        if isinstance(value, dict) and isinstance(value.get("tasks"), list):
            found.append((match.start(), _payload(path, text, start, "plan", value["tasks"])))
    return [payload for _, payload in sorted(found, key=lambda pair: pair[0])]


def all_payloads() -> list[SeedPayload]:
    """Every batch payload of every seed."""
    return [payload for path in seed_files() for payload in payloads_in(path)]


def concrete(tasks: list[Any]) -> list[Any]:
    """A copy of ``tasks`` whose placeholder ``skill_id`` values are real full_ids.

    ``"<development-full_id from search>"`` becomes ``"acme/skills/development"`` and
    ``"<implementation-skill-id>"`` becomes ``"acme/skills/implementation"``: the same
    placeholder always maps to the same full_id. Only a task's own ``skill_id`` is
    replaced; placeholders inside ``inputs`` are data and stay as written.
    """
    result = copy.deepcopy(tasks)
    for spec in result:
        if isinstance(spec, dict) and isinstance(spec.get("skill_id"), str):
            spec["skill_id"] = placeholder_full_id(spec["skill_id"])
    return result


def placeholder_full_id(skill_id: str) -> str:
    """The full_id standing in for a placeholder; any other value unchanged."""
    match = _PLACEHOLDER.match(skill_id.strip())
    if match is None:
        return skill_id
    stem = _PLACEHOLDER_TAIL.sub("", match.group("inner").strip())
    name = re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-")
    return f"{OWNER_REPO}/{name}"


def skill_names(tasks: list[Any]) -> set[str]:
    """The skill folder names a (concrete) batch needs: the last part of each skill_id."""
    return {
        spec["skill_id"].rsplit("/", 1)[-1]
        for spec in tasks
        if isinstance(spec, dict) and isinstance(spec.get("skill_id"), str)
    }


def write_skills(root: Path, names: set[str]) -> Path:
    """Create one valid skill folder per name under ``root``; return ``root``."""
    for name in sorted(names):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "SKILL.md").write_text(
            f"---\nname: {name}\ndescription: Test skill {name} for a seed payload.\n"
            "category: development\ntags: [test]\n---\n\n# "
            f"{name}\n\nDo the task.\n",
            encoding="utf-8",
        )
    return root


# -- decoding -------------------------------------------------------------------------------


def _payload(path: Path, text: str, offset: int, kind: str, tasks: list[Any]) -> SeedPayload:
    return SeedPayload(path.name, kind, _line(text, offset), tasks)


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _first_bracket(text: str, start: int) -> int | None:
    for i in range(start, len(text)):
        if text[i] in "[{":
            return i
        if not text[i].isspace():
            return None
    return None


def _decode_at(text: str, start: int) -> Any:
    """Decode the JSON value starting at ``text[start]``, or None when it is no JSON."""
    cleaned = _balanced_without_comments(text, start)
    if cleaned is None:
        return None
    try:
        return json.loads(cleaned)
    except json.JSONDecodeError:
        return None


def _balanced_without_comments(text: str, start: int) -> str | None:
    """The bracketed value starting at ``text[start]``, with ``//`` comments removed.

    A comment outside strings ends at the end of its line or, where a web copy flattened
    the lines, at the next ``"`` (the key that followed it on the next line): none of the
    seeds' comments holds a quote.
    """
    out: list[str] = []
    depth = 0
    i = start
    in_string = False
    while i < len(text):
        char = text[i]
        if in_string:
            out.append(char)
            if char == "\\" and i + 1 < len(text):
                out.append(text[i + 1])
                i += 2
                continue
            if char == '"':
                in_string = False
            i += 1
            continue
        if text.startswith("//", i):
            i = _comment_end(text, i)
            continue
        out.append(char)
        if char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
            if depth == 0:
                return "".join(out)
        i += 1
    return None


def _comment_end(text: str, start: int) -> int:
    ends = [p for p in (text.find("\n", start), text.find('"', start)) if p != -1]
    return min(ends) if ends else len(text)


def iter_specs(payload: SeedPayload) -> Iterator[dict[str, Any]]:
    """The payload's task specs (all of them are objects in the seeds)."""
    for spec in payload.tasks:
        assert isinstance(spec, dict)
        yield spec


# -- invalid variants of a seed payload -----------------------------------------------------


def variant_base() -> list[Any]:
    """Seed 003's worked example (snake_case, real full_ids): build → QA → metadata → deploy."""
    (payload,) = [
        p
        for p in all_payloads()
        if p.seed.startswith("003") and not any("<" in s["skill_id"] for s in p.tasks)
    ]
    return concrete(payload.tasks)


def cycle(tasks: list[Any]) -> None:
    tasks[0]["logical_dependencies"] = [4]  # 1 → 4 → 3 → 2 → 1


def missing_reference(tasks: list[Any]) -> None:
    tasks[3]["logical_dependencies"] = [3, 9]


def self_dependency(tasks: list[Any]) -> None:
    tasks[2]["logical_dependencies"] = [2, 3]


def mixed_dialects(tasks: list[Any]) -> None:
    tasks[3]["uniqueId"] = tasks[3].pop("unique_id")
    tasks[3]["logicalDependencies"] = tasks[3].pop("logical_dependencies")


def short_task_name(tasks: list[Any]) -> None:
    tasks[1]["task_name"] = "QA"


def unknown_key(tasks: list[Any]) -> None:
    tasks[2]["timeout_second"] = tasks[2].pop("timeout_seconds")


def unknown_skill(tasks: list[Any]) -> None:
    tasks[2]["skill_id"] = f"{OWNER_REPO}/aramb-metadatta"


#: Each invalid variant of :func:`variant_base`: how to break it, the code it must be
#: rejected with, and the path of that problem.
VARIANTS: list[tuple[Callable[[list[Any]], None], str, str]] = [
    (cycle, "dependency_cycle", "tasks[0]"),
    (missing_reference, "unknown_reference", "tasks[3].logical_dependencies[1]"),
    (self_dependency, "self_dependency", "tasks[2].logical_dependencies[1]"),
    (mixed_dialects, "mixed_dialects", "tasks"),
    (short_task_name, "task_name_length", "tasks[1].task_name"),
    (unknown_key, "unknown_key", "tasks[2].timeout_second"),
    (unknown_skill, "unknown_skill", "tasks[2].skill_id"),
]
