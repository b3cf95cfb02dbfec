"""Storing batches atomically in a real SQLite database (DESIGN §2, §3)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from brahmi.domain import lifecycle
from brahmi.domain.models import TaskRecord, TaskStatus
from brahmi.errors import InvalidBatch
from brahmi.service import Brahmi
from brahmi.store import tables
from brahmi.store.tasks import AttemptResult, task_key


@pytest.fixture
def database_url(either_database: str | None) -> str | None:
    """Every test here runs on SQLite and on PostgreSQL."""
    return either_database


SKILL = "brahmi/builtin/run-command"
S = TaskStatus


def spec(uid: int, name: str, deps: list[Any] | None = None, **extra: Any) -> dict[str, Any]:
    task: dict[str, Any] = {
        "unique_id": uid,
        "task_name": name,
        "skill_id": SKILL,
        "description": f"{name}, for the test",
        "task_order": uid,
    }
    if deps:
        task["logical_dependencies"] = deps
    task.update(extra)
    return task


def standard_batch() -> list[dict[str, Any]]:
    """The seeds' standard pattern: build → QA (critiquing build) → metadata, plus docs."""
    return [
        spec(1, "Build the API"),
        spec(2, "QA: test the API", [1], inputs={"critiques_tasks": [1], "original_prompt": "x"}),
        spec(3, "Create aramb.toml", [2]),
        spec(4, "Write the docs"),
    ]


def row_counts(brahmi: Brahmi) -> dict[str, int]:
    """How many rows every table holds (with the skill registry indexed first, so that
    indexing the built-in skills on first use does not count as a write of the batch)."""
    brahmi.catalog.full_ids()
    with brahmi.store.engine.connect() as conn:
        return {
            table.name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
            for table in tables.metadata.sorted_tables
        }


def finish(brahmi: Brahmi, task_id: str, status: TaskStatus) -> None:
    """Run ``task_id`` (which must be the only ready task) to ``status`` through the store."""
    now = brahmi.clock.now()
    (claim,) = brahmi.store.claim("test-worker", 1, now=now, lease_s=60.0)
    assert claim.task.id == task_id
    outcome = lifecycle.Outcome(
        status,
        outputs={} if status is S.COMPLETED else None,
        error=None if status is S.COMPLETED else "it broke",
        error_code=None if status is S.COMPLETED else "agent_failed",
    )
    recorded, _ = brahmi.store.finish_attempt(
        AttemptResult(claim.task, claim.attempt_id, outcome), now=now
    )
    assert recorded
    assert brahmi.get_task(task_id).status is status


@pytest.fixture
def project_id(brahmi: Brahmi, workspace: Path) -> str:
    return brahmi.project_for(workspace).id


def test_batch_stores_every_task_with_status_dependencies_and_critiques(
    brahmi: Brahmi, project_id: str
) -> None:
    created = brahmi.create_tasks_batch(project_id, standard_batch(), source="test")

    assert set(created.task_ids) == {"1", "2", "3", "4"}
    ids = created.task_ids
    stored = {t.id: t for t in brahmi.list_tasks(batch_id=created.batch_id)}
    assert set(stored) == set(ids.values())

    build, qa, meta, docs = (brahmi.get_task(ids[k]) for k in ("1", "2", "3", "4"))
    assert (build.status, qa.status, meta.status, docs.status) == (
        S.READY,
        S.PLANNED,
        S.PLANNED,
        S.READY,
    )
    assert build.dependencies == ()
    assert qa.dependencies == (build.id,)
    assert meta.dependencies == (qa.id,)
    assert qa.inputs["critiques_tasks"] == [build.id]
    assert qa.inputs["original_prompt"] == "x"
    assert (build.is_qa, qa.is_qa, meta.is_qa, docs.is_qa) == (False, True, False, False)
    assert [t.batch_key for t in (build, qa, meta, docs)] == ["1", "2", "3", "4"]
    assert {t.project_id for t in stored.values()} == {project_id}
    assert build.skill_id == SKILL
    assert build.timeout_seconds == 3600

    with brahmi.store.engine.connect() as conn:
        critiques = conn.execute(
            select(tables.task_critiques.c.qa_task_id, tables.task_critiques.c.target_id)
        ).all()
    assert [tuple(row) for row in critiques] == [(qa.id, build.id)]


def test_batch_records_a_created_event_per_task_and_one_for_the_batch(
    brahmi: Brahmi, project_id: str
) -> None:
    before = brahmi.store.last_event_id()

    created = brahmi.create_tasks_batch(project_id, standard_batch())

    events = brahmi.store.events(after_id=before)
    kinds = [e.kind for e in events]
    assert kinds.count("task_created") == 4
    assert kinds.count("batch_created") == 1
    assert {e.task_id for e in events if e.kind == "task_created"} == set(created.task_ids.values())


def test_task_order_batch_stores_the_critique_named_by_preceding_task(
    brahmi: Brahmi, project_id: str
) -> None:
    tasks = [
        {"task_name": "Build it", "skill_id": SKILL, "task_order": 1, "dependencies": []},
        {
            "task_name": "QA: validate it",
            "skill_id": SKILL,
            "task_order": 2,
            "dependencies": [1],
            "inputs": {"preceding_task": {"task_order": 1, "task_name": "Build it"}},
        },
    ]

    ids = brahmi.create_tasks_batch(project_id, tasks).task_ids

    qa = brahmi.get_task(ids["2"])
    assert qa.is_qa
    assert qa.dependencies == (ids["1"],)
    assert qa.inputs["critiques_tasks"] == [ids["1"]]


def test_rejected_batch_writes_nothing(brahmi: Brahmi, project_id: str) -> None:
    brahmi.create_tasks_batch(project_id, standard_batch())
    before = row_counts(brahmi)
    tasks_before = brahmi.store.list_tasks()
    events_before = brahmi.store.events()
    bad = [*standard_batch(), spec(5, "Loop back", [6]), spec(6, "And again", [5])]

    with pytest.raises(InvalidBatch) as caught:
        brahmi.create_tasks_batch(project_id, bad)

    assert {(p.code, p.path) for p in caught.value.problems} == {("dependency_cycle", "tasks[4]")}
    assert row_counts(brahmi) == before
    assert before["tasks"] == 4
    assert brahmi.store.list_tasks() == tasks_before
    assert brahmi.store.events() == events_before


def test_second_batch_depends_on_a_task_of_the_first_by_its_id(
    brahmi: Brahmi, project_id: str
) -> None:
    first = brahmi.create_tasks_batch(project_id, standard_batch())
    build_id = first.task_ids["1"]
    follow_up = [
        spec(1, "Extend the API", dependencies=[build_id]),
        spec(
            2,
            "QA: test the extension",
            [1],
            inputs={"critiques_tasks": [1, build_id]},
        ),
    ]

    second = brahmi.create_tasks_batch(project_id, follow_up)

    extend = brahmi.get_task(second.task_ids["1"])
    qa = brahmi.get_task(second.task_ids["2"])
    assert second.batch_id != first.batch_id
    assert extend.dependencies == (build_id,)
    assert extend.status is S.PLANNED  # the build it depends on has not run yet
    assert qa.inputs["critiques_tasks"] == [extend.id, build_id]
    assert len(brahmi.list_tasks(project_id=project_id)) == 6


def test_batch_depending_on_a_completed_task_starts_ready(brahmi: Brahmi, project_id: str) -> None:
    first = brahmi.create_tasks_batch(project_id, [spec(1, "Build the API")])
    finish(brahmi, first.task_ids["1"], S.COMPLETED)

    second = brahmi.create_tasks_batch(
        project_id, [spec(1, "Extend the API", dependencies=[first.task_ids["1"]])]
    )

    assert brahmi.get_task(second.task_ids["1"]).status is S.READY


def test_batch_depending_on_a_failed_task_starts_blocked(brahmi: Brahmi, project_id: str) -> None:
    first = brahmi.create_tasks_batch(project_id, [spec(1, "Build the API")])
    finish(brahmi, first.task_ids["1"], S.FAILED)

    second = brahmi.create_tasks_batch(
        project_id,
        [
            spec(1, "Extend the API", dependencies=[first.task_ids["1"]]),
            spec(2, "Document the API", [1]),
            spec(3, "Unrelated work"),
        ],
    )

    statuses = [brahmi.get_task(second.task_ids[k]).status for k in ("1", "2", "3")]
    assert statuses == [S.BLOCKED, S.PLANNED, S.READY]


def test_reference_to_an_unknown_task_id_is_rejected_and_writes_nothing(
    brahmi: Brahmi, project_id: str
) -> None:
    before = row_counts(brahmi)

    with pytest.raises(InvalidBatch) as caught:
        brahmi.create_tasks_batch(project_id, [spec(1, "Extend", dependencies=["no-such-id"])])

    assert {(p.code, p.path) for p in caught.value.problems} == {
        ("unknown_reference", "tasks[0].dependencies[0]")
    }
    assert row_counts(brahmi) == before


def test_reuse_identical_returns_the_earlier_batch(brahmi: Brahmi, project_id: str) -> None:
    first = brahmi.create_tasks_batch(project_id, standard_batch())

    again = brahmi.create_tasks_batch(project_id, standard_batch(), reuse_identical=True)

    assert again.reused
    assert again.batch_id == first.batch_id
    assert again.task_ids == first.task_ids
    assert len(brahmi.list_tasks(project_id=project_id)) == 4


def test_identical_batch_without_reuse_creates_new_tasks(brahmi: Brahmi, project_id: str) -> None:
    first = brahmi.create_tasks_batch(project_id, standard_batch())

    again = brahmi.create_tasks_batch(project_id, standard_batch())

    assert not again.reused
    assert again.batch_id != first.batch_id
    assert set(again.task_ids.values()).isdisjoint(first.task_ids.values())
    assert len(brahmi.list_tasks(project_id=project_id)) == 8


def test_reuse_identical_creates_a_batch_when_the_content_differs(
    brahmi: Brahmi, project_id: str
) -> None:
    first = brahmi.create_tasks_batch(project_id, standard_batch())
    changed = standard_batch()
    changed[3]["task_name"] = "Write the README"

    again = brahmi.create_tasks_batch(project_id, changed, reuse_identical=True)

    assert not again.reused
    assert again.batch_id != first.batch_id


def test_a_page_of_one_status_merges_its_runtimes_in_claim_order(
    brahmi: Brahmi, project_id: str
) -> None:
    """A page of a status is read for each runtime (NULL for older rows) in order and
    merged: the same tasks in the same order as the whole listing, page after page."""
    specs = [spec(i, f"root {i}", task_order=1) for i in range(1, 4)]
    specs += [spec(i, f"waits {i}", [1], task_order=1 + (17 - i) % 5) for i in range(4, 16)]
    ids = brahmi.create_tasks_batch(project_id, specs).task_ids
    runtimes = ["noop", None, "scripted", "command"]
    with brahmi.store.engine.begin() as conn:
        for i in range(4, 16):
            conn.execute(
                tables.tasks.update()
                .where(tables.tasks.c.id == ids[str(i)])
                .values(runtime=runtimes[i % 4])
            )
    whole = brahmi.store.list_tasks(project_id=project_id, status=S.PLANNED)
    expected = sorted(whole, key=task_key)
    assert len(whole) == 12
    assert {t.runtime for t in whole} == set(runtimes)

    for size in (1, 4, 5, 12, 50):
        paged: list[TaskRecord] = []
        after = None
        while True:
            page = brahmi.store.list_tasks(
                project_id=project_id, status=S.PLANNED, limit=size, after=after
            )
            assert len(page) <= size
            paged += page
            if len(page) < size:
                break
            after = task_key(page[-1])
        assert paged == expected, size  # the same records: inputs decoded, dependencies
    top = brahmi.store.list_tasks(project_id=project_id, status=S.PLANNED, top_level=True, limit=3)
    assert [t.id for t in top] == [t.id for t in expected[:3]]
    assert brahmi.store.list_tasks(project_id=project_id, status=S.FAILED, limit=10) == []


def test_a_projects_tasks_of_one_status_come_in_claim_order_paged_or_not(
    brahmi: Brahmi, project_id: str, tmp_path: Path
) -> None:
    """Ready tasks are read from their partial index, planned ones gathered from
    (project, status) and sorted, or walked in order for a page: the same tasks, in
    (task_order, created_at, id) order, and none of another project's."""
    (tmp_path / "other").mkdir()
    other = brahmi.project_for(tmp_path / "other").id
    specs = [spec(i, f"first {i}", task_order=1 + (7 - i) % 4) for i in range(1, 7)]
    specs += [spec(i, f"then {i}", [i - 6], task_order=1 + (13 - i) % 3) for i in range(7, 13)]
    ids = brahmi.create_tasks_batch(project_id, specs).task_ids
    brahmi.create_tasks_batch(other, specs)
    tasks = {t.id: t for t in brahmi.store.list_tasks(project_id=project_id)}

    def expected(status: TaskStatus) -> list[str]:
        wanted = [t for t in tasks.values() if t.status is status]
        return [t.id for t in sorted(wanted, key=task_key)]

    for status in (S.READY, S.PLANNED):
        whole = [t.id for t in brahmi.store.list_tasks(project_id=project_id, status=status)]
        paged: list[str] = []
        after = None
        while True:
            page = brahmi.store.list_tasks(
                project_id=project_id, status=status, limit=4, after=after
            )
            paged += [t.id for t in page]
            if len(page) < 4:
                break
            after = task_key(page[-1])
        assert whole == paged == expected(status)
        assert set(whole) <= set(ids.values())
        assert len(whole) == 6
