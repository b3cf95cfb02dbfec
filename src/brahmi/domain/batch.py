"""Batch normalisation and validation (DESIGN §2): three dialects in, one shape out.

``normalise_batch`` takes the ``tasks`` argument of ``create_tasks_batch`` exactly as a
planner sent it (already decoded from JSON), checks every rule at once and returns a
:class:`NormalisedBatch`, or raises :class:`InvalidBatch` listing every problem. It does no
I/O: the skills Brahmi knows and the existing tasks the batch names are passed in.
"""

from __future__ import annotations

import difflib
import graphlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from brahmi.domain.models import (
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_REBUILDS,
    DEFAULT_TIMEOUT_S,
    MAX_TIMEOUT_S,
    Dialect,
    ExistingTask,
    NewTask,
    NormalisedBatch,
    Ref,
    ValidationCriteria,
)
from brahmi.domain.problems import Problem
from brahmi.errors import InvalidBatch, InvalidTask, SubtaskDependencies

#: Keys a task spec may carry, in any dialect.
COMMON_KEYS = frozenset(
    {
        "task_name",
        "description",
        "skill_id",
        "task_order",
        "dependencies",
        "inputs",
        "validation_criteria",
        "timeout_seconds",
        "max_attempts",
        "max_rebuilds",
    }
)
_DIALECT_KEYS: dict[Dialect, tuple[str, str]] = {
    Dialect.SNAKE_CASE: ("unique_id", "logical_dependencies"),
    Dialect.CAMEL_CASE: ("uniqueId", "logicalDependencies"),
}
ALL_KEYS = COMMON_KEYS | {key for pair in _DIALECT_KEYS.values() for key in pair}
_ALLOWED_KEYS = {d: COMMON_KEYS | set(_DIALECT_KEYS.get(d, ())) for d in Dialect}
CRITERIA_KEYS = ("critical", "expected", "nice_to_have")
#: full_ids of the skills shipped with Brahmi start with this.
BUILTIN_PREFIX = "brahmi/builtin/"
TASK_NAME_MIN, TASK_NAME_MAX = 3, 255
MAX_ATTEMPTS_LIMIT = 10
MAX_REBUILDS_LIMIT = 20


@dataclass(frozen=True, slots=True)
class SkillResolution:
    """The outcome of looking a ``skill_id`` up among the known full_ids."""

    full_id: str | None
    problem: Problem | None = None
    warning: Problem | None = None


def resolve_skill_id(skill_id: str, known: Collection[str], path: str) -> SkillResolution:
    """Resolve a task's ``skill_id`` to a known full_id (DESIGN §2).

    A full_id that is known resolves to itself. A short name (no ``/``) that is the name of
    exactly one known skill resolves to that skill's full_id with a ``skill_short_name``
    warning. Anything else is an ``unknown_skill`` or ``ambiguous_skill`` problem that lists
    the closest full_ids.

    Args:
        skill_id: As the planner wrote it.
        known: Every full_id Brahmi can run.
        path: Where the value sits, for the problem's ``path``.
    """
    if skill_id in known:
        return SkillResolution(skill_id)
    if "/" not in skill_id:
        matches = sorted(f for f in known if f.rsplit("/", 1)[-1] == skill_id)
        if len(matches) > 1:
            # A skill of the user's own sources shadows a built-in of the same name.
            own = [f for f in matches if not f.startswith(BUILTIN_PREFIX)]
            matches = own if len(own) == 1 else matches
        if len(matches) == 1:
            warning = Problem(
                path,
                "skill_short_name",
                f"short skill name {skill_id!r} resolved to {matches[0]!r}; "
                "use the full_id from search_skills",
            )
            return SkillResolution(matches[0], warning=warning)
        if len(matches) > 1:
            return SkillResolution(
                None,
                Problem(
                    path,
                    "ambiguous_skill",
                    f"short skill name {skill_id!r} matches several skills: "
                    f"{', '.join(matches)}; use one full_id",
                ),
            )
    close = difflib.get_close_matches(skill_id, list(known), n=3, cutoff=0.5)
    if not close:
        by_name = {f.rsplit("/", 1)[-1]: f for f in known}
        wanted = skill_id.rsplit("/", 1)[-1]
        close = [by_name[n] for n in difflib.get_close_matches(wanted, list(by_name), n=3)]
    hint = f"; closest: {', '.join(close)}" if close else "; search_skills lists what exists"
    return SkillResolution(
        None, Problem(path, "unknown_skill", f"no skill has the id {skill_id!r}{hint}")
    )


def referenced_task_ids(tasks: Any) -> set[str]:
    """The ids of existing tasks a raw batch names (string dependencies and critiques).

    The caller loads these before calling :func:`normalise_batch`. Malformed input
    yields what can be found; validation reports the rest.
    """
    found: set[str] = set()
    if not isinstance(tasks, list):
        return found
    for spec in tasks:
        if not isinstance(spec, dict):
            continue
        for key in ("dependencies", "logical_dependencies", "logicalDependencies"):
            values = spec.get(key)
            if isinstance(values, list):
                found.update(v for v in values if isinstance(v, str))
        inputs = spec.get("inputs")
        if isinstance(inputs, dict) and isinstance(inputs.get("critiques_tasks"), list):
            found.update(v for v in inputs["critiques_tasks"] if isinstance(v, str))
    return found


def critiqued_task_ids(tasks: Any) -> set[str]:
    """The ids of existing tasks a raw batch's QA tasks critique (``critiques_tasks``).

    Only for these does validation need the existing tasks' ancestors (DESIGN §2: a QA
    task depends on what it critiques); without any, :func:`normalise_batch` never reads
    ``ExistingTask.ancestors``.
    """
    found: set[str] = set()
    if not isinstance(tasks, list):
        return found
    for spec in tasks:
        inputs = spec.get("inputs") if isinstance(spec, dict) else None
        if isinstance(inputs, dict) and isinstance(inputs.get("critiques_tasks"), list):
            found.update(v for v in inputs["critiques_tasks"] if isinstance(v, str))
    return found


@dataclass(slots=True)
class _Draft:
    index: int
    key: str | None = None
    task_name: str = ""
    description: str = ""
    skill_id: str = ""
    task_order: int = 1
    inputs: dict[str, Any] = field(default_factory=dict)
    criteria: ValidationCriteria = field(default_factory=ValidationCriteria)
    timeout_seconds: int = DEFAULT_TIMEOUT_S
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    max_rebuilds: int = DEFAULT_MAX_REBUILDS
    #: (path, raw value) pairs, resolved once every key is known.
    raw_dependencies: list[tuple[str, Any]] = field(default_factory=list)
    raw_critiques: list[tuple[str, Any]] = field(default_factory=list)
    dependencies: list[Ref] = field(default_factory=list)
    critiques: list[Ref] = field(default_factory=list)
    critique_paths: list[tuple[str, Ref]] = field(default_factory=list)


class _Checker:
    """Collects problems while reading one batch."""

    def __init__(self, skills: Collection[str], existing: Mapping[str, ExistingTask]) -> None:
        self.skills = skills
        self.existing = existing
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []

    def add(self, path: str, code: str, message: str) -> None:
        self.problems.append(Problem(path, code, message))

    # -- reading ---------------------------------------------------------------------------

    def dialect_of(self, tasks: list[Any]) -> Dialect:
        seen: dict[Dialect, int] = {}
        for i, spec in enumerate(tasks):
            if not isinstance(spec, dict):
                continue
            here = [d for d, keys in _DIALECT_KEYS.items() if any(k in spec for k in keys)]
            if len(here) > 1:
                self.add(
                    f"tasks[{i}]",
                    "mixed_dialects",
                    "this task mixes snake_case (unique_id, logical_dependencies) and "
                    "camelCase (uniqueId, logicalDependencies) keys; use one dialect",
                )
            for d in here:
                seen.setdefault(d, i)
        if len(seen) > 1:
            first = {d: f"tasks[{i}]" for d, i in seen.items()}
            self.add(
                "tasks",
                "mixed_dialects",
                "the batch mixes dialects: snake_case at "
                f"{first[Dialect.SNAKE_CASE]} and camelCase at {first[Dialect.CAMEL_CASE]}; "
                "use one dialect for the whole batch",
            )
        if not seen:
            return Dialect.TASK_ORDER
        return min(seen, key=seen.__getitem__)

    def read(self, i: int, spec: Any, dialect: Dialect) -> _Draft | None:
        path = f"tasks[{i}]"
        if not isinstance(spec, dict):
            self.add(path, "invalid_type", f"a task spec is a JSON object, not {_kind(spec)}")
            return None
        draft = _Draft(index=i, task_order=i + 1)
        allowed = _ALLOWED_KEYS[dialect]
        for key in spec:
            if key not in allowed:
                self._unknown_key(path, key, allowed, dialect)

        id_key, deps_key = _DIALECT_KEYS.get(dialect, ("task_order", "dependencies"))
        self._read_text(draft, spec, path)
        self._read_order(draft, spec, path, required=dialect is Dialect.TASK_ORDER)
        if dialect is Dialect.TASK_ORDER:
            valid = _is_int(spec.get("task_order")) and spec["task_order"] >= 1
            draft.key = str(draft.task_order) if valid else None
        elif id_key not in spec and _looks_task_order(spec):
            self.add(
                path,
                "mixed_dialects",
                f"this task is written in the task_order dialect (integers in dependencies, "
                f"no {id_key}) but the batch is {dialect.value}; use one dialect",
            )
        else:
            draft.key = self._read_id(spec, path, id_key)

        inputs = spec.get("inputs", {})
        if isinstance(inputs, dict):
            draft.inputs = dict(inputs)
        else:
            self.add(f"{path}.inputs", "invalid_type", f"inputs is an object, not {_kind(inputs)}")
        draft.criteria = self._read_criteria(spec.get("validation_criteria"), path)
        draft.timeout_seconds = self._read_int(
            spec, path, "timeout_seconds", DEFAULT_TIMEOUT_S, 1, MAX_TIMEOUT_S, "invalid_timeout"
        )
        draft.max_attempts = self._read_int(
            spec, path, "max_attempts", DEFAULT_MAX_ATTEMPTS, 1, MAX_ATTEMPTS_LIMIT, "invalid_value"
        )
        draft.max_rebuilds = self._read_int(
            spec, path, "max_rebuilds", DEFAULT_MAX_REBUILDS, 0, MAX_REBUILDS_LIMIT, "invalid_value"
        )

        if dialect is not Dialect.TASK_ORDER:
            self._collect_refs(draft, spec, path, deps_key, batch_ints=True)
        self._collect_refs(
            draft, spec, path, "dependencies", batch_ints=dialect is Dialect.TASK_ORDER
        )
        self._collect_critiques(draft, path, dialect)
        return draft

    def _unknown_key(self, path: str, key: str, allowed: Collection[str], dialect: Dialect) -> None:
        if key in ALL_KEYS:
            self.add(
                f"{path}.{key}",
                "mixed_dialects",
                f"{key!r} belongs to another dialect than this batch's ({dialect.value})",
            )
            return
        close = difflib.get_close_matches(key, sorted(allowed), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        self.add(f"{path}.{key}", "unknown_key", f"unknown key {key!r}{hint}")

    def _read_text(self, draft: _Draft, spec: dict[str, Any], path: str) -> None:
        name = spec.get("task_name")
        if name is None:
            self.add(f"{path}.task_name", "missing_field", "task_name is required")
        elif not isinstance(name, str):
            self.add(
                f"{path}.task_name", "invalid_type", f"task_name is a string, not {_kind(name)}"
            )
        elif not TASK_NAME_MIN <= len(name.strip()) <= TASK_NAME_MAX:
            self.add(
                f"{path}.task_name",
                "task_name_length",
                f"task_name must be {TASK_NAME_MIN}–{TASK_NAME_MAX} characters; "
                f"{name!r} has {len(name.strip())}",
            )
        else:
            draft.task_name = name.strip()

        description = spec.get("description", "")
        if isinstance(description, str):
            draft.description = description
        else:
            self.add(
                f"{path}.description",
                "invalid_type",
                f"description is a string, not {_kind(description)}",
            )

        skill_id = spec.get("skill_id")
        if skill_id is None:
            self.add(f"{path}.skill_id", "missing_field", "skill_id is required (a full_id)")
        elif not isinstance(skill_id, str) or not skill_id.strip():
            self.add(f"{path}.skill_id", "invalid_type", "skill_id is a non-empty string")
        else:
            resolution = resolve_skill_id(skill_id.strip(), self.skills, f"{path}.skill_id")
            if resolution.problem:
                self.problems.append(resolution.problem)
            if resolution.warning:
                self.warnings.append(resolution.warning)
            draft.skill_id = resolution.full_id or skill_id

    def _read_order(self, draft: _Draft, spec: dict[str, Any], path: str, required: bool) -> None:
        if "task_order" not in spec:
            if required:
                self.add(
                    f"{path}.task_order",
                    "missing_field",
                    "task_order is required: it is the task's id in this dialect",
                )
            return
        value = spec["task_order"]
        if not _is_int(value):
            self.add(
                f"{path}.task_order",
                "invalid_type",
                f"task_order is an integer, not {_kind(value)}",
            )
        elif value < 1:
            self.add(f"{path}.task_order", "invalid_id", f"task_order must be ≥ 1, not {value}")
        else:
            draft.task_order = value

    def _read_id(self, spec: dict[str, Any], path: str, id_key: str) -> str | None:
        if id_key not in spec:
            self.add(f"{path}.{id_key}", "missing_field", f"{id_key} is required in this dialect")
            return None
        value = spec[id_key]
        if not _is_int(value):
            self.add(
                f"{path}.{id_key}", "invalid_type", f"{id_key} is an integer, not {_kind(value)}"
            )
            return None
        if value < 1:
            self.add(f"{path}.{id_key}", "invalid_id", f"{id_key} must be ≥ 1, not {value}")
            return None
        return str(value)

    def _read_criteria(self, value: Any, path: str) -> ValidationCriteria:
        where = f"{path}.validation_criteria"
        if value is None:
            return ValidationCriteria()
        if not isinstance(value, dict):
            self.add(where, "invalid_validation_criteria", f"an object, not {_kind(value)}")
            return ValidationCriteria()
        lists: dict[str, tuple[str, ...]] = {}
        for key, items in value.items():
            if key not in CRITERIA_KEYS:
                self.add(
                    f"{where}.{key}",
                    "invalid_validation_criteria",
                    f"unknown key {key!r}; use {', '.join(CRITERIA_KEYS)}",
                )
            elif not isinstance(items, list) or not all(isinstance(s, str) for s in items):
                self.add(
                    f"{where}.{key}", "invalid_validation_criteria", "must be a list of strings"
                )
            else:
                lists[key] = tuple(items)
        return ValidationCriteria(**lists)

    def _read_int(
        self,
        spec: dict[str, Any],
        path: str,
        key: str,
        default: int,
        low: int,
        high: int,
        code: str,
    ) -> int:
        if key not in spec or spec[key] is None:
            return default
        value = spec[key]
        if not _is_int(value) or not low <= value <= high:
            self.add(
                f"{path}.{key}",
                code,
                f"{key} must be an integer from {low} to {high}, not {value!r}",
            )
            return default
        return int(value)

    def _collect_refs(
        self, draft: _Draft, spec: dict[str, Any], path: str, key: str, batch_ints: bool
    ) -> None:
        if key not in spec or spec[key] is None:
            return
        values = spec[key]
        if not isinstance(values, list):
            self.add(f"{path}.{key}", "invalid_type", f"{key} is a list, not {_kind(values)}")
            return
        for j, value in enumerate(values):
            where = f"{path}.{key}[{j}]"
            if _is_int(value) and not batch_ints:
                self.add(
                    where,
                    "invalid_reference",
                    f"{value} is an integer, but {key} here holds ids of existing tasks "
                    "(strings); name tasks of this batch in the dialect's dependency list",
                )
            elif _is_int(value) or isinstance(value, str):
                draft.raw_dependencies.append((where, value))
            else:
                self.add(
                    where,
                    "invalid_type",
                    f"a reference is an integer or a task id, not {_kind(value)}",
                )

    def _collect_critiques(self, draft: _Draft, path: str, dialect: Dialect) -> None:
        raw = draft.inputs.get("critiques_tasks")
        where = f"{path}.inputs.critiques_tasks"
        if raw is None and dialect is Dialect.TASK_ORDER:
            preceding = draft.inputs.get("preceding_task")
            if isinstance(preceding, dict) and _is_int(preceding.get("task_order")):
                draft.raw_critiques.append(
                    (f"{path}.inputs.preceding_task.task_order", preceding["task_order"])
                )
            return
        if raw is None:
            return
        if not isinstance(raw, list):
            self.add(where, "invalid_type", f"critiques_tasks is a list, not {_kind(raw)}")
            return
        for j, value in enumerate(raw):
            if _is_int(value) or isinstance(value, str):
                draft.raw_critiques.append((f"{where}[{j}]", value))
            else:
                self.add(f"{where}[{j}]", "invalid_type", "a batch id or an existing task id")

    # -- resolving -------------------------------------------------------------------------

    def resolve(self, drafts: list[_Draft], dialect: Dialect) -> None:
        keys: dict[str, _Draft] = {}
        id_name = _DIALECT_KEYS.get(dialect, ("task_order", ""))[0]
        for draft in drafts:
            if draft.key is None:
                continue
            if draft.key in keys:
                self.add(
                    f"tasks[{draft.index}].{id_name}",
                    "duplicate_id",
                    f"{id_name} {draft.key} is also used by tasks[{keys[draft.key].index}]",
                )
            else:
                keys[draft.key] = draft
        for draft in drafts:
            for where, value in draft.raw_dependencies:
                ref = self._ref(where, value, keys, draft, "dependency")
                if ref is not None and ref not in draft.dependencies:
                    draft.dependencies.append(ref)
            for where, value in draft.raw_critiques:
                ref = self._ref(where, value, keys, draft, "critique")
                if ref is not None and ref not in draft.critiques:
                    draft.critiques.append(ref)
                    draft.critique_paths.append((where, ref))

    def _ref(
        self, where: str, value: Any, keys: Mapping[str, _Draft], owner: _Draft, what: str
    ) -> Ref | None:
        if isinstance(value, str):
            existing = self.existing.get(value)
            if existing is None:
                self.add(where, "unknown_reference", f"no existing task has the id {value!r}")
                return None
            if existing.is_subtask:
                self.add(
                    where,
                    "invalid_reference" if what == "dependency" else "invalid_critique",
                    f"task {value} is a sub-task; depend on and critique its parent instead",
                )
                return None
            return Ref(task_id=value)
        key = str(value)
        if key not in keys:
            self.add(where, "unknown_reference", f"no task of this batch has the id {value}")
            return None
        if keys[key] is owner:
            code = "self_dependency" if what == "dependency" else "invalid_critique"
            self.add(
                where,
                code,
                f"task {value} cannot {'depend on' if what == 'dependency' else 'critique'} itself",
            )
            return None
        return Ref(batch_key=key)

    def check_graph(self, drafts: list[_Draft]) -> _Ancestry | None:
        """Report cycles; return what each batch task depends on, transitively."""
        graph: dict[str, list[str]] = {
            d.key: [r.batch_key for r in d.dependencies if r.batch_key is not None]
            for d in drafts
            if d.key is not None
        }
        sorter = graphlib.TopologicalSorter(graph)
        try:
            order = list(sorter.static_order())
        except graphlib.CycleError as exc:
            cycle = list(reversed(exc.args[1]))
            owner = next(d for d in drafts if d.key == cycle[0])
            self.add(
                f"tasks[{owner.index}]",
                "dependency_cycle",
                f"dependency cycle: {' → '.join(cycle)} (each task depends on the next)",
            )
            return None
        return _Ancestry(order, {d.key: d for d in drafts if d.key is not None}, self.existing)

    def check_critiques(self, drafts: list[_Draft], ancestry: _Ancestry | None) -> None:
        if ancestry is None:
            return
        for draft in drafts:
            if draft.key is None:
                continue
            for where, ref in draft.critique_paths:
                if not ancestry.depends_on(draft.key, ref):
                    target = ref.batch_key or ref.task_id
                    self.add(
                        where,
                        "invalid_critique",
                        f"task {draft.key} critiques {target} but does not depend on it; "
                        "a QA task must run after the work it judges",
                    )


class _Ancestry:
    """Transitive dependencies of a batch's tasks, for the critique check (DESIGN §2).

    Batch ancestors are bitsets (Python ints, one bit per task), so a 10,000-task batch
    costs milliseconds; ancestors among existing tasks are only gathered when a critique
    names an existing task.
    """

    def __init__(
        self,
        order: list[str],
        by_key: Mapping[str, _Draft],
        existing: Mapping[str, ExistingTask],
    ) -> None:
        self._by_key = by_key
        self._existing = existing
        self._bit = {key: 1 << i for i, key in enumerate(order)}
        self._ancestors: dict[str, int] = {}
        for key in order:
            bits = 0
            for ref in by_key[key].dependencies:
                if ref.batch_key is not None:
                    bits |= self._bit[ref.batch_key] | self._ancestors[ref.batch_key]
            self._ancestors[key] = bits
        self._existing_memo: dict[str, frozenset[str]] = {}

    def depends_on(self, key: str, ref: Ref) -> bool:
        """Whether batch task ``key`` depends, directly or not, on ``ref``."""
        if ref.batch_key is not None:
            return bool(self._ancestors[key] & self._bit[ref.batch_key])
        return ref.task_id in self._existing_ancestors(key)

    def _existing_ancestors(self, key: str) -> frozenset[str]:
        if key not in self._existing_memo:
            found: set[str] = set()
            for ref in self._by_key[key].dependencies:
                if ref.batch_key is not None:
                    found |= self._existing_ancestors(ref.batch_key)
                elif ref.task_id is not None:
                    found.add(ref.task_id)
                    found |= self._existing[ref.task_id].ancestors
            self._existing_memo[key] = frozenset(found)
        return self._existing_memo[key]


def normalise_batch(
    tasks: Any,
    *,
    skills: Collection[str],
    existing: Mapping[str, ExistingTask] | None = None,
) -> NormalisedBatch:
    """Check a ``create_tasks_batch`` payload and bring it to one shape (DESIGN §2).

    Args:
        tasks: The decoded JSON list of task specs, in any one of the three dialects.
        skills: The full_ids of every skill Brahmi knows.
        existing: Tasks already stored that the batch names, by id (see
            :func:`referenced_task_ids`).

    Returns:
        The batch with dependencies and critiques as :class:`Ref` s and short skill names
        resolved; ``warnings`` lists what was accepted but worth a word.

    Raises:
        InvalidBatch: With every problem found, each with path, code and message.
    """
    checker = _Checker(skills, existing or {})
    if not isinstance(tasks, list):
        raise InvalidBatch(
            [Problem("tasks", "invalid_type", f"tasks is a list, not {_kind(tasks)}")]
        )
    if not tasks:
        raise InvalidBatch([Problem("tasks", "empty_batch", "the batch holds no tasks")])
    dialect = checker.dialect_of(tasks)
    drafts = [d for i, spec in enumerate(tasks) if (d := checker.read(i, spec, dialect))]
    checker.resolve(drafts, dialect)
    ancestry = checker.check_graph(drafts)
    checker.check_critiques(drafts, ancestry)
    if checker.problems:
        raise InvalidBatch(checker.problems, checker.warnings)
    return NormalisedBatch(
        dialect=dialect,
        tasks=[_finish(d) for d in drafts],
        warnings=list(checker.warnings),
    )


#: Keys a sub-task spec may carry (DESIGN §4: no ids, no dependencies).
SUBTASK_KEYS = COMMON_KEYS - {"dependencies"}
_DEPENDENCY_KEYS = ("dependencies", "logical_dependencies", "logicalDependencies")


def normalise_subtask(spec: Any, *, skills: Collection[str], parent_skill_id: str) -> NewTask:
    """Check a ``create_subtask`` spec (DESIGN §4) and bring it to the batch shape.

    ``skill_id`` defaults to the parent's; ``task_order`` is ignored (a sub-task runs at
    its position in the parent's sequence).

    Raises:
        SubtaskDependencies: When the spec names dependencies.
        InvalidTask: With every other problem found.
    """
    if not isinstance(spec, dict):
        raise InvalidTask(
            [Problem("task", "invalid_type", f"a task spec is an object, not {_kind(spec)}")]
        )
    named = [k for k in _DEPENDENCY_KEYS if spec.get(k)]
    if named:
        raise SubtaskDependencies(
            f"a sub-task runs in its parent's sequence and takes no {named[0]}; "
            "make the parent depend on what the sub-task needs",
        )
    checker = _Checker(skills, {})
    draft = _Draft(index=0)
    spec = {k: v for k, v in spec.items() if k not in _DEPENDENCY_KEYS}
    spec.setdefault("skill_id", parent_skill_id)
    for key in spec:
        if key not in SUBTASK_KEYS:
            close = difflib.get_close_matches(key, sorted(SUBTASK_KEYS), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            checker.add(f"task.{key}", "unknown_key", f"unknown key {key!r}{hint}")
    checker._read_text(draft, spec, "task")
    inputs = spec.get("inputs", {})
    if isinstance(inputs, dict):
        draft.inputs = dict(inputs)
    else:
        checker.add("task.inputs", "invalid_type", f"inputs is an object, not {_kind(inputs)}")
    draft.criteria = checker._read_criteria(spec.get("validation_criteria"), "task")
    draft.timeout_seconds = checker._read_int(
        spec, "task", "timeout_seconds", DEFAULT_TIMEOUT_S, 1, MAX_TIMEOUT_S, "invalid_timeout"
    )
    draft.max_attempts = checker._read_int(
        spec, "task", "max_attempts", DEFAULT_MAX_ATTEMPTS, 1, MAX_ATTEMPTS_LIMIT, "invalid_value"
    )
    draft.max_rebuilds = checker._read_int(
        spec, "task", "max_rebuilds", DEFAULT_MAX_REBUILDS, 0, MAX_REBUILDS_LIMIT, "invalid_value"
    )
    if "critiques_tasks" in draft.inputs:
        checker.add(
            "task.inputs.critiques_tasks",
            "invalid_critique",
            "a sub-task cannot be a QA task; critique the parent from a task that depends on it",
        )
    if checker.problems:
        raise InvalidTask(checker.problems, checker.warnings)
    draft.key = "subtask"
    return _finish(draft)


def _finish(draft: _Draft) -> NewTask:
    assert draft.key is not None  # guaranteed when no problem was found
    return NewTask(
        key=draft.key,
        task_name=draft.task_name,
        description=draft.description,
        skill_id=draft.skill_id,
        task_order=draft.task_order,
        inputs=draft.inputs,
        validation_criteria=draft.criteria,
        timeout_seconds=draft.timeout_seconds,
        max_attempts=draft.max_attempts,
        max_rebuilds=draft.max_rebuilds,
        dependencies=draft.dependencies,
        critiques=draft.critiques,
    )


def bind_ids(
    batch: NormalisedBatch, ids: Mapping[str, str]
) -> list[tuple[NewTask, list[str], list[str]]]:
    """Give each task of a batch its stored id.

    Args:
        batch: A normalised batch.
        ids: The new task id for each batch key.

    Returns:
        For each task: the task with ``inputs.critiques_tasks`` rewritten to task ids, its
        dependency ids, and its critiqued task ids.
    """
    bound = []
    for task in batch.tasks:
        dependencies = [_task_id(r, ids) for r in task.dependencies]
        critiques = [_task_id(r, ids) for r in task.critiques]
        inputs = dict(task.inputs)
        if critiques:
            inputs["critiques_tasks"] = critiques
        task.inputs = inputs
        bound.append((task, dependencies, critiques))
    return bound


def _task_id(ref: Ref, ids: Mapping[str, str]) -> str:
    if ref.task_id is not None:
        return ref.task_id
    assert ref.batch_key is not None
    return ids[ref.batch_key]


def _looks_task_order(spec: dict[str, Any]) -> bool:
    """True for a spec in the oldest dialect: integer ``dependencies``, no batch id."""
    deps = spec.get("dependencies")
    return isinstance(deps, list) and any(_is_int(d) for d in deps)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if _is_int(value):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    return names.get(type(value), type(value).__name__)
