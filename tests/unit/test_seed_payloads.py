"""Every example batch in the seed documents validates through the real service (DESIGN §2).

The payloads come from ``../shared/seeds`` (see :mod:`tests.seed_payloads`). Each one is
checked against real skill folders in ``tmp_path``, loaded by a real :class:`Brahmi` the
way ``--skills DIR=acme/skills`` would load them; invalid variants of a seed payload must
each be rejected for their own reason.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from brahmi.config import Settings
from brahmi.domain.models import Dialect, NormalisedBatch
from brahmi.errors import InvalidBatch
from brahmi.service import Brahmi
from tests.seed_payloads import (
    OWNER_REPO,
    SEEDS_DIR,
    VARIANTS,
    SeedPayload,
    all_payloads,
    concrete,
    payloads_in,
    placeholder_full_id,
    seed_files,
    skill_names,
    variant_base,
    write_skills,
)

pytestmark = pytest.mark.skipif(
    not SEEDS_DIR.is_dir(), reason=f"the seed documents are not beside the repo ({SEEDS_DIR})"
)

#: What each seed holds, in order: (kind, number of tasks) per payload.
EXPECTED_PAYLOADS: dict[str, list[tuple[str, int]]] = {
    "000": [("create_tasks_batch", 3), ("create_tasks_batch", 3)],
    "001": [("plan", 2), ("plan", 4)],
    "002": [("create_tasks_batch", 4), ("create_tasks_batch", 4)],
    "003": [("create_tasks_batch", 4), ("create_tasks_batch", 4)],
    "004": [("create_tasks_batch", 3), ("create_tasks_batch", 4)],
}
#: The dialect each seed's payloads are written in (see DESIGN §2's table).
EXPECTED_DIALECT = {
    "000": Dialect.CAMEL_CASE,
    "001": Dialect.TASK_ORDER,
    "002": Dialect.SNAKE_CASE,
    "003": Dialect.SNAKE_CASE,
    "004": Dialect.SNAKE_CASE,
}

PAYLOADS = all_payloads()


@pytest.fixture
def brahmi_for(tmp_path: Path) -> Iterator[Callable[[list[Any]], Brahmi]]:
    """Build the skills a batch names under ``tmp_path`` and open a Brahmi that knows them."""
    opened: list[Brahmi] = []

    def open_for(tasks: list[Any]) -> Brahmi:
        skills = write_skills(tmp_path / "skills", skill_names(tasks))
        instance = Brahmi(Settings(home=tmp_path / "home", skill_dirs=(f"{skills}={OWNER_REPO}",)))
        opened.append(instance)
        return instance

    yield open_for
    for instance in opened:
        instance.close()


def seed_key(payload: SeedPayload) -> str:
    return payload.seed[:3]


def expected_critiques(spec: dict[str, Any], dialect: Dialect) -> list[str]:
    """The batch keys a seed task critiques, read straight from its inputs."""
    inputs = spec.get("inputs", {})
    if "critiques_tasks" in inputs:
        return [str(v) for v in inputs["critiques_tasks"]]
    if dialect is Dialect.TASK_ORDER and "preceding_task" in inputs:
        return [str(inputs["preceding_task"]["task_order"])]
    return []


# -- extraction -----------------------------------------------------------------------------


def test_every_seed_has_the_payloads_it_is_known_to_hold() -> None:
    found = {
        path.name[:3]: [(p.kind, len(p.tasks)) for p in payloads_in(path)] for path in seed_files()
    }

    assert found == EXPECTED_PAYLOADS


def test_payloads_are_decoded_past_their_comments_even_on_flattened_lines() -> None:
    # In 002, 003 and 004 the first example sits on one line with a // comment in the
    # middle of the QA task's inputs; the keys after the comment must survive.
    flattened = [p for p in PAYLOADS if p.kind == "create_tasks_batch" and p.seed[:3] != "000"]
    assert len(flattened) == 6

    for payload in flattened:
        qa_inputs = payload.tasks[1]["inputs"]
        assert qa_inputs["critiques_tasks"] == [1], payload.id
        assert "original_prompt" in qa_inputs, payload.id
        assert "user_expectations" in qa_inputs, payload.id


def test_placeholder_skill_ids_become_consistent_full_ids() -> None:
    assert placeholder_full_id("<development-full_id from search>") == "acme/skills/development"
    assert (
        placeholder_full_id("<testing-or-critique-full_id from search>")
        == "acme/skills/testing-or-critique"
    )
    assert placeholder_full_id("<implementation-skill-id>") == "acme/skills/implementation"
    assert placeholder_full_id("backend-critique") == "backend-critique"
    assert placeholder_full_id("acme/skills/backend-dev") == "acme/skills/backend-dev"


# -- every seed payload validates -----------------------------------------------------------


@pytest.mark.parametrize("payload", PAYLOADS, ids=[p.id for p in PAYLOADS])
def test_seed_payload_validates_through_the_service(
    payload: SeedPayload, brahmi_for: Callable[[list[Any]], Brahmi]
) -> None:
    tasks = concrete(payload.tasks)
    brahmi = brahmi_for(tasks)
    dialect = EXPECTED_DIALECT[seed_key(payload)]

    batch: NormalisedBatch = brahmi.validate_batch(tasks)

    assert batch.dialect is dialect
    assert len(batch.tasks) == len(tasks)
    known = brahmi.catalog.full_ids()
    for spec, task in zip(tasks, batch.tasks, strict=True):
        assert task.skill_id in known
        assert task.skill_id.startswith(f"{OWNER_REPO}/")
        assert task.skill_id.endswith("/" + spec["skill_id"].rsplit("/", 1)[-1])
        assert [r.batch_key for r in task.critiques] == expected_critiques(spec, dialect)
        # Every seed names its QA tasks "QA: ..."; exactly those critique something.
        assert bool(task.critiques) == spec["task_name"].startswith("QA:")
    short = {f"tasks[{i}].skill_id" for i, spec in enumerate(tasks) if "/" not in spec["skill_id"]}
    assert {w.path for w in batch.warnings} == short
    assert {w.code for w in batch.warnings} <= {"skill_short_name"}


def test_short_skill_names_of_the_oldest_planner_resolve_with_warnings(
    brahmi_for: Callable[[list[Any]], Brahmi],
) -> None:
    (plan,) = [p for p in PAYLOADS if p.kind == "plan" and len(p.tasks) == 4]
    tasks = concrete(plan.tasks)

    batch = brahmi_for(tasks).validate_batch(tasks)

    assert [t.skill_id for t in batch.tasks] == [
        "acme/skills/backend-development",
        "acme/skills/backend-critique",
        "acme/skills/backend-testing",
        "acme/skills/backend-critique",
    ]
    assert [(w.code, w.path) for w in batch.warnings] == [
        ("skill_short_name", f"tasks[{i}].skill_id") for i in range(4)
    ]


# -- invalid variants of a seed payload -----------------------------------------------------


def test_the_base_payload_of_the_variants_is_valid(
    brahmi_for: Callable[[list[Any]], Brahmi],
) -> None:
    tasks = variant_base()

    assert len(brahmi_for(tasks).validate_batch(tasks).tasks) == 4


@pytest.mark.parametrize(
    ("mutate", "code", "path"), VARIANTS, ids=[mutate.__name__ for mutate, _, _ in VARIANTS]
)
def test_invalid_variant_of_a_seed_payload_is_rejected_with_its_own_code(
    mutate: Callable[[list[Any]], None],
    code: str,
    path: str,
    brahmi_for: Callable[[list[Any]], Brahmi],
) -> None:
    tasks = variant_base()
    brahmi = brahmi_for(copy.deepcopy(tasks))  # the skills of the valid payload
    mutate(tasks)

    with pytest.raises(InvalidBatch) as caught:
        brahmi.validate_batch(tasks)

    problems = {(p.code, p.path) for p in caught.value.problems}
    assert (code, path) in problems
    others = {c for _, c, _ in VARIANTS if c != code}
    assert not others & {c for c, _ in problems}, problems
