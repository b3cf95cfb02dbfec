"""Batch normalisation and validation (DESIGN §2), as pure functions: no I/O."""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brahmi.domain.batch import bind_ids, normalise_batch
from brahmi.domain.models import Dialect, ExistingTask, NormalisedBatch, Ref, TaskStatus
from brahmi.errors import InvalidBatch

DEV = "acme/skills/backend-dev"
QA = "acme/skills/backend-testing"
SKILLS = frozenset(
    {
        DEV,
        QA,
        "acme/skills/backend-critique",
        "acme/skills/aramb-metadata",
        "acme/skills/frontend-dev",
        "acme/skills/review",
        "other/repo/review",
    }
)


def snake(uid: int, deps: Sequence[Any] = (), **extra: Any) -> dict[str, Any]:
    """A snake_case task spec with ``unique_id`` and ``logical_dependencies``."""
    spec: dict[str, Any] = {
        "unique_id": uid,
        "task_name": f"Task number {uid}",
        "skill_id": DEV,
        "description": f"Does step {uid}",
        "task_order": uid,
    }
    if deps:
        spec["logical_dependencies"] = list(deps)
    spec.update(extra)
    return spec


def camel(uid: int, deps: Sequence[Any] = (), **extra: Any) -> dict[str, Any]:
    """A camelCase task spec with ``uniqueId`` and ``logicalDependencies``."""
    spec: dict[str, Any] = {"uniqueId": uid, "task_name": f"Task number {uid}", "skill_id": DEV}
    if deps:
        spec["logicalDependencies"] = list(deps)
    spec.update(extra)
    return spec


def ordered(order: int, deps: Sequence[Any] = (), **extra: Any) -> dict[str, Any]:
    """A task_order-dialect spec: no ids, ``dependencies`` holds task_order integers."""
    spec: dict[str, Any] = {
        "task_name": f"Task number {order}",
        "skill_id": DEV,
        "task_order": order,
        "dependencies": list(deps),
    }
    spec.update(extra)
    return spec


def normalise(tasks: Any, existing: Mapping[str, ExistingTask] | None = None) -> NormalisedBatch:
    return normalise_batch(tasks, skills=SKILLS, existing=existing)


def rejection(tasks: Any, existing: Mapping[str, ExistingTask] | None = None) -> InvalidBatch:
    with pytest.raises(InvalidBatch) as caught:
        normalise(tasks, existing)
    assert caught.value.code == "invalid_batch"
    return caught.value


def problems_of(
    tasks: Any, existing: Mapping[str, ExistingTask] | None = None
) -> set[tuple[str, str]]:
    """The ``(code, path)`` of every problem the batch is rejected with."""
    return {(p.code, p.path) for p in rejection(tasks, existing).problems}


def batch_deps(batch: NormalisedBatch) -> dict[str, list[str | None]]:
    return {t.key: [r.batch_key for r in t.dependencies] for t in batch.tasks}


def existing(task_id: str, *, subtask: bool = False, ancestors: Sequence[str] = ()) -> ExistingTask:
    return ExistingTask(task_id, TaskStatus.COMPLETED, subtask, frozenset(ancestors))


# -- the three dialects -----------------------------------------------------------------------


def test_snake_case_batch_normalises_ids_and_dependencies() -> None:
    batch = normalise([snake(1), snake(2, [1]), snake(3, [1, 2])])

    assert batch.dialect is Dialect.SNAKE_CASE
    assert [t.key for t in batch.tasks] == ["1", "2", "3"]
    assert batch_deps(batch) == {"1": [], "2": ["1"], "3": ["1", "2"]}
    assert batch.warnings == []


def test_camel_case_batch_normalises_ids_and_dependencies() -> None:
    batch = normalise([camel(10), camel(20, [10]), camel(30, [20])])

    assert batch.dialect is Dialect.CAMEL_CASE
    assert batch_deps(batch) == {"10": [], "20": ["10"], "30": ["20"]}


def test_task_order_batch_uses_integer_dependencies_as_task_orders() -> None:
    batch = normalise([ordered(1), ordered(2, [1]), ordered(3, [1, 2])])

    assert batch.dialect is Dialect.TASK_ORDER
    assert [(t.key, t.task_order) for t in batch.tasks] == [("1", 1), ("2", 2), ("3", 3)]
    assert batch_deps(batch) == {"1": [], "2": ["1"], "3": ["1", "2"]}


def test_task_order_critique_names_its_target_through_preceding_task() -> None:
    qa = ordered(
        2,
        [1],
        task_name="QA: validate the build",
        inputs={"preceding_task": {"task_order": 1, "skill_id": DEV}},
    )

    batch = normalise([ordered(1), qa])

    assert batch.tasks[1].critiques == [Ref(batch_key="1")]
    assert batch.tasks[0].critiques == []


def test_task_order_explicit_critiques_tasks_wins_over_preceding_task() -> None:
    qa = ordered(
        3,
        [1, 2],
        inputs={"critiques_tasks": [2], "preceding_task": {"task_order": 1}},
    )

    batch = normalise([ordered(1), ordered(2, [1]), qa])

    assert batch.tasks[2].critiques == [Ref(batch_key="2")]


def test_string_dependencies_name_existing_tasks_in_every_dialect() -> None:
    known = {"old-1": existing("old-1")}

    for tasks in (
        [snake(1, dependencies=["old-1"]), snake(2, [1])],
        [camel(1, dependencies=["old-1"]), camel(2, [1])],
        [ordered(1, ["old-1"]), ordered(2, [1])],
    ):
        batch = normalise(tasks, known)
        assert batch.tasks[0].dependencies == [Ref(task_id="old-1")]
        assert batch.tasks[1].dependencies == [Ref(batch_key="1")]


def test_critiques_tasks_resolve_to_batch_refs_and_bind_to_task_ids() -> None:
    known = {"old-1": existing("old-1")}
    qa = snake(
        3,
        [1, 2],
        skill_id=QA,
        inputs={"critiques_tasks": [1, "old-1"], "original_prompt": "Build it"},
    )

    batch = normalise([snake(1, dependencies=["old-1"]), snake(2, [1]), qa], known)
    assert batch.tasks[2].critiques == [Ref(batch_key="1"), Ref(task_id="old-1")]

    ids = {"1": "id-1", "2": "id-2", "3": "id-3"}
    bound = {task.key: (task, deps, critiques) for task, deps, critiques in bind_ids(batch, ids)}

    task, deps, critiques = bound["3"]
    assert deps == ["id-1", "id-2"]
    assert critiques == ["id-1", "old-1"]
    assert task.inputs["critiques_tasks"] == ["id-1", "old-1"]
    assert task.inputs["original_prompt"] == "Build it"
    assert "critiques_tasks" not in bound["1"][0].inputs
    assert bound["1"][1] == ["old-1"]


def test_bind_ids_adds_critiques_tasks_for_a_task_order_critique() -> None:
    qa = ordered(2, [1], inputs={"preceding_task": {"task_order": 1}})

    bound = bind_ids(normalise([ordered(1), qa]), {"1": "id-1", "2": "id-2"})

    assert bound[1][0].inputs["critiques_tasks"] == ["id-1"]
    assert bound[1][0].inputs["preceding_task"] == {"task_order": 1}


def test_critique_of_an_existing_task_reached_through_an_existing_dependency_is_accepted() -> None:
    known = {"old-2": existing("old-2", ancestors=["old-1"]), "old-1": existing("old-1")}

    batch = normalise(
        [snake(1, dependencies=["old-2"], inputs={"critiques_tasks": ["old-1"]})], known
    )

    assert batch.tasks[0].critiques == [Ref(task_id="old-1")]


def test_defaults_and_fields_are_carried_into_the_normalised_task() -> None:
    spec = snake(
        1,
        description="Build the API",
        inputs={"requirements": "x"},
        validation_criteria={"critical": ["compiles"], "expected": ["auth"]},
        timeout_seconds=1800,
    )

    (task,) = normalise([spec]).tasks

    assert task.task_name == "Task number 1"
    assert task.description == "Build the API"
    assert task.inputs == {"requirements": "x"}
    assert task.validation_criteria.to_dict() == {
        "critical": ["compiles"],
        "expected": ["auth"],
        "nice_to_have": [],
    }
    assert task.timeout_seconds == 1800
    assert normalise([snake(1)]).tasks[0].timeout_seconds == 3600


# -- skills ---------------------------------------------------------------------------------


def test_short_skill_name_resolves_to_its_full_id_with_a_warning() -> None:
    batch = normalise([snake(1, skill_id="backend-critique")])

    assert batch.tasks[0].skill_id == "acme/skills/backend-critique"
    assert [(w.code, w.path) for w in batch.warnings] == [("skill_short_name", "tasks[0].skill_id")]


def test_ambiguous_short_skill_name_is_rejected() -> None:
    assert problems_of([snake(1), snake(2, [1], skill_id="review")]) == {
        ("ambiguous_skill", "tasks[1].skill_id")
    }


def test_unknown_skill_is_rejected_with_the_closest_full_ids() -> None:
    (problem,) = rejection([snake(1, skill_id="acme/skills/backend-devv")]).problems

    assert (problem.code, problem.path) == ("unknown_skill", "tasks[0].skill_id")
    # The suggestions are values, not wording: the nearest full_id is named.
    assert DEV in problem.message
    assert "other/repo/review" not in problem.message


def test_unknown_short_skill_name_is_rejected_with_the_closest_full_ids() -> None:
    (problem,) = rejection([snake(1, skill_id="backend-devel")]).problems

    assert (problem.code, problem.path) == ("unknown_skill", "tasks[0].skill_id")
    assert DEV in problem.message


# -- rejections -----------------------------------------------------------------------------

_CYCLE = re.compile(r"\d+(?: → \d+)+")


def named_cycle(message: str) -> list[str]:
    match = _CYCLE.search(message)
    assert match is not None, message
    return match.group(0).split(" → ")


def is_rotation(cycle: list[str], expected: list[str]) -> bool:
    """True when ``cycle`` (closed: first == last) walks ``expected`` in its direction."""
    if cycle[0] != cycle[-1]:
        return False
    walk = cycle[:-1]
    return len(walk) == len(expected) and any(
        walk == expected[i:] + expected[:i] for i in range(len(expected))
    )


def test_dependency_cycle_is_rejected_and_named() -> None:
    # 1 depends on 3, 3 on 2, 2 on 1: the cycle 1 → 3 → 2 → 1.
    tasks = [snake(1, [3]), snake(2, [1]), snake(3, [2])]

    (problem,) = rejection(tasks).problems

    assert problem.code == "dependency_cycle"
    cycle = named_cycle(problem.message)
    assert is_rotation(cycle, ["1", "3", "2"])
    assert problem.path == f"tasks[{int(cycle[0]) - 1}]"


def test_dependency_cycle_is_named_in_the_task_order_dialect() -> None:
    (problem,) = rejection([ordered(1, [2]), ordered(2, [1])]).problems

    assert problem.code == "dependency_cycle"
    assert is_rotation(named_cycle(problem.message), ["1", "2"])


def test_reference_to_a_missing_batch_task_is_rejected() -> None:
    assert problems_of([snake(1), snake(2, [1, 7])]) == {
        ("unknown_reference", "tasks[1].logical_dependencies[1]")
    }


def test_reference_to_a_missing_existing_task_is_rejected() -> None:
    assert problems_of([snake(1, dependencies=["no-such-task"])]) == {
        ("unknown_reference", "tasks[0].dependencies[0]")
    }


def test_self_dependency_is_rejected() -> None:
    assert problems_of([snake(1), snake(2, [1, 2])]) == {
        ("self_dependency", "tasks[1].logical_dependencies[1]")
    }


def test_dependency_on_an_existing_subtask_is_rejected() -> None:
    known = {"sub": existing("sub", subtask=True)}

    assert problems_of([snake(1, dependencies=["sub"])], known) == {
        ("invalid_reference", "tasks[0].dependencies[0]")
    }


def test_batch_mixing_snake_case_and_camel_case_is_rejected() -> None:
    codes = problems_of([snake(1), camel(2, [1])])

    assert ("mixed_dialects", "tasks") in codes


def test_task_mixing_both_dialects_keys_is_rejected() -> None:
    spec = snake(1)
    spec["logicalDependencies"] = []

    assert ("mixed_dialects", "tasks[0]") in problems_of([spec])


@pytest.mark.parametrize("name", ["ab", "  ab  ", "x" * 256, ""])
def test_task_name_outside_3_to_255_characters_is_rejected(name: str) -> None:
    assert problems_of([snake(1, task_name=name)]) == {("task_name_length", "tasks[0].task_name")}


@pytest.mark.parametrize("name", ["abc", "x" * 255])
def test_task_name_of_3_or_255_characters_is_accepted(name: str) -> None:
    assert normalise([snake(1, task_name=name)]).tasks[0].task_name == name


def test_missing_task_name_and_skill_id_are_rejected() -> None:
    spec = snake(1)
    del spec["task_name"], spec["skill_id"]

    assert problems_of([spec]) == {
        ("missing_field", "tasks[0].task_name"),
        ("missing_field", "tasks[0].skill_id"),
    }


def test_unknown_key_is_rejected_with_a_did_you_mean() -> None:
    (problem,) = rejection([snake(1, timeout_secs=60)]).problems

    assert (problem.code, problem.path) == ("unknown_key", "tasks[0].timeout_secs")
    # The suggestion is a value: the key the planner probably meant.
    assert "'timeout_seconds'" in problem.message


def test_duplicate_id_is_rejected() -> None:
    assert problems_of([snake(1), snake(2, [1]), snake(1)]) == {
        ("duplicate_id", "tasks[2].unique_id")
    }


def test_duplicate_task_order_is_rejected_in_the_task_order_dialect() -> None:
    assert problems_of([ordered(1), ordered(1)]) == {("duplicate_id", "tasks[1].task_order")}


@pytest.mark.parametrize("uid", [0, -3])
def test_non_positive_id_is_rejected(uid: int) -> None:
    assert problems_of([snake(uid, task_order=1)]) == {("invalid_id", "tasks[0].unique_id")}


@pytest.mark.parametrize(
    ("order", "code"), [(0, "invalid_id"), (-1, "invalid_id"), (True, "invalid_type")]
)
def test_invalid_task_order_is_rejected_without_blaming_other_tasks(order: Any, code: str) -> None:
    # The bad task_order is the one problem; the valid task_order 1 beside it is no duplicate.
    assert problems_of([ordered(order), ordered(1)]) == {(code, "tasks[0].task_order")}


@pytest.mark.parametrize(
    ("criteria", "path"),
    [
        ({"critical": "compiles"}, "tasks[0].validation_criteria.critical"),
        ({"critical": ["ok", 3]}, "tasks[0].validation_criteria.critical"),
        ({"must_have": ["x"]}, "tasks[0].validation_criteria.must_have"),
        (["compiles"], "tasks[0].validation_criteria"),
    ],
)
def test_bad_validation_criteria_are_rejected(criteria: Any, path: str) -> None:
    assert problems_of([snake(1, validation_criteria=criteria)]) == {
        ("invalid_validation_criteria", path)
    }


@pytest.mark.parametrize("timeout", [0, 86_401, -1, "3600", True])
def test_timeout_outside_one_second_to_one_day_is_rejected(timeout: Any) -> None:
    assert problems_of([snake(1, timeout_seconds=timeout)]) == {
        ("invalid_timeout", "tasks[0].timeout_seconds")
    }


@pytest.mark.parametrize("timeout", [1, 86_400])
def test_timeout_at_the_limits_is_accepted(timeout: int) -> None:
    assert normalise([snake(1, timeout_seconds=timeout)]).tasks[0].timeout_seconds == timeout


def test_critique_of_a_task_not_depended_on_is_rejected() -> None:
    qa = snake(3, [2], inputs={"critiques_tasks": [1]})

    # 3 depends on 2 only; 2 does not depend on 1, so 3 may run before 1 finishes.
    assert problems_of([snake(1), snake(2), qa]) == {
        ("invalid_critique", "tasks[2].inputs.critiques_tasks[0]")
    }


def test_critique_of_a_transitive_dependency_is_accepted() -> None:
    qa = snake(3, [2], inputs={"critiques_tasks": [1]})

    batch = normalise([snake(1), snake(2, [1]), qa])

    assert batch.tasks[2].critiques == [Ref(batch_key="1")]


def test_task_order_critique_of_a_task_not_depended_on_is_rejected() -> None:
    qa = ordered(2, [], inputs={"preceding_task": {"task_order": 1}})

    assert problems_of([ordered(1), qa]) == {
        ("invalid_critique", "tasks[1].inputs.preceding_task.task_order")
    }


def test_critique_of_an_existing_task_not_depended_on_is_rejected() -> None:
    known = {"old-1": existing("old-1")}

    assert problems_of([snake(1, inputs={"critiques_tasks": ["old-1"]})], known) == {
        ("invalid_critique", "tasks[0].inputs.critiques_tasks[0]")
    }


def test_critique_naming_an_existing_subtask_is_rejected() -> None:
    known = {"parent": existing("parent"), "sub": existing("sub", subtask=True)}
    qa = snake(1, dependencies=["parent"], inputs={"critiques_tasks": ["sub"]})

    assert problems_of([qa], known) == {("invalid_critique", "tasks[0].inputs.critiques_tasks[0]")}


def test_critique_of_itself_is_rejected() -> None:
    assert problems_of([snake(1, inputs={"critiques_tasks": [1]})]) == {
        ("invalid_critique", "tasks[0].inputs.critiques_tasks[0]")
    }


def test_empty_batch_is_rejected() -> None:
    assert problems_of([]) == {("empty_batch", "tasks")}


@pytest.mark.parametrize("tasks", [None, {"tasks": []}, "[]", 3])
def test_batch_that_is_not_a_list_is_rejected(tasks: Any) -> None:
    assert problems_of(tasks) == {("invalid_type", "tasks")}


def test_task_spec_that_is_not_an_object_is_rejected() -> None:
    assert problems_of([snake(1), "task 2"]) == {("invalid_type", "tasks[1]")}


def test_batch_with_several_problems_reports_all_of_them_at_once() -> None:
    tasks = [
        snake(1, task_name="ab", timeout_seconds=0),
        snake(2, [1, 9], skill_id="acme/skills/nothing-like-it", colour="blue"),
        snake(3, [3], validation_criteria={"critical": "yes"}),
        snake(3),
        snake(5, inputs={"critiques_tasks": [1]}),
    ]

    assert problems_of(tasks) == {
        ("task_name_length", "tasks[0].task_name"),
        ("invalid_timeout", "tasks[0].timeout_seconds"),
        ("unknown_reference", "tasks[1].logical_dependencies[1]"),
        ("unknown_skill", "tasks[1].skill_id"),
        ("unknown_key", "tasks[1].colour"),
        ("self_dependency", "tasks[2].logical_dependencies[0]"),
        ("invalid_validation_criteria", "tasks[2].validation_criteria.critical"),
        ("duplicate_id", "tasks[3].unique_id"),
        ("invalid_critique", "tasks[4].inputs.critiques_tasks[0]"),
    }


def test_rejection_keeps_the_warnings_found_on_the_way() -> None:
    error = rejection([snake(1, skill_id="backend-critique"), snake(2, [8])])

    assert [(w.code, w.path) for w in error.warnings] == [("skill_short_name", "tasks[0].skill_id")]
    assert error.to_dict()["problems"] == [p.to_dict() for p in error.problems]


# -- properties -----------------------------------------------------------------------------


@st.composite
def dags(draw: st.DrawFn, min_size: int = 1) -> tuple[list[int], dict[int, list[int]]]:
    """Distinct positive ids in batch order, and each id's dependencies (a DAG).

    Dependencies point from a later node of a hidden topological order to earlier ones;
    the batch order is shuffled independently, so dependencies may point forward too.
    """
    ids = draw(st.lists(st.integers(1, 10_000), min_size=min_size, max_size=8, unique=True))
    topo = draw(st.permutations(ids))
    deps: dict[int, list[int]] = {}
    for position, node in enumerate(topo):
        earlier = topo[:position]
        deps[node] = draw(st.lists(st.sampled_from(earlier), unique=True)) if earlier else []
    return ids, deps


def specs(ids: list[int], deps: Mapping[int, list[int]]) -> list[dict[str, Any]]:
    return [snake(uid, deps[uid]) for uid in ids]


def reachable(deps: Mapping[int, list[int]], start: int) -> set[int]:
    """Every node ``start`` depends on, transitively."""
    seen: set[int] = set()
    stack = list(deps[start])
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(deps[node])
    return seen


@settings(max_examples=50, deadline=None, database=None)
@given(dags())
def test_any_dag_of_snake_case_specs_normalises(
    dag: tuple[list[int], dict[int, list[int]]],
) -> None:
    ids, deps = dag

    batch = normalise(specs(ids, deps))

    assert [t.key for t in batch.tasks] == [str(uid) for uid in ids]
    assert batch_deps(batch) == {str(uid): [str(d) for d in deps[uid]] for uid in ids}


@settings(max_examples=50, deadline=None, database=None)
@given(dags(min_size=2), st.data())
def test_any_graph_with_a_back_edge_is_rejected_as_a_cycle(
    dag: tuple[list[int], dict[int, list[int]]], data: st.DataObject
) -> None:
    ids, deps = dag
    if not any(deps.values()):
        deps[ids[1]] = [ids[0]]  # an edgeless graph: give it one edge to close
    pairs = [(a, b) for a in ids for b in reachable(deps, a)]
    late, early = data.draw(st.sampled_from(pairs))
    deps[early] = [*deps[early], late]  # early now depends on what depends on it

    error = rejection(specs(ids, deps))

    assert {p.code for p in error.problems} == {"dependency_cycle"}
    cycle = named_cycle(error.problems[0].message)
    assert cycle[0] == cycle[-1]
    for node, next_node in itertools.pairwise(cycle):
        assert int(next_node) in deps[int(node)], f"{node} does not depend on {next_node}"


def test_a_task_order_task_inside_a_snake_case_batch_is_a_mixed_dialect() -> None:
    error = rejection([snake(1), ordered(2, [1])])
    assert ("tasks[1]", "mixed_dialects") in {(p.path, p.code) for p in error.problems}
