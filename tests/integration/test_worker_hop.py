"""Recording results and claiming in the same transaction, on SQLite and PostgreSQL.

PostgreSQL records a group of plain completions in a few pipelined statements
(:mod:`brahmi.store.postgres_hop`) and leaves everything else to the general path; these
tests hold both backends to the same states, claims, events, usage and planner triggers.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from brahmi.domain import lifecycle
from brahmi.domain.models import Claim, TaskStatus
from brahmi.service import Brahmi
from brahmi.store.tasks import AttemptResult
from brahmi.store.usage import UsageStore
from tests.integration.support import create, spec

S = TaskStatus


@pytest.fixture
def database_url(either_database: str | None) -> str | None:
    """Every test here runs on SQLite and on PostgreSQL."""
    return either_database


def completed(claim: Claim, **outputs: object) -> AttemptResult:
    return AttemptResult(
        task=claim.task,
        attempt_id=claim.attempt_id,
        outcome=lifecycle.Outcome(S.COMPLETED, dict(outputs)),
        usage={"input_tokens": 7, "output_tokens": 3, "cost_usd": 0.25},
        executor="scripted",
        skill_version="sha256:abc",
    )


def transitions(brahmi: Brahmi, task_id: str) -> list[tuple[str, str]]:
    return [
        (e.data["from"], e.data["to"])
        for e in brahmi.store.events()
        if e.task_id == task_id and e.kind == "status_changed"
    ]


def test_completions_claim_the_best_of_the_ready_tasks_and_the_dependents_they_made_ready(
    brahmi: Brahmi, workspace: Path
) -> None:
    _, ids = create(
        brahmi,
        workspace,
        [
            spec(1, "first", order=1),
            spec(2, "second", order=1),
            spec(3, "after first", 1, order=3),
            spec(4, "after second", 2, order=1),
            spec(5, "independent", order=2),
        ],
    )
    store = brahmi.store
    now = time.time()
    claims = store.claim("worker-a", 2, now=now, lease_s=30.0)
    assert [c.task.task_name for c in claims] == ["first", "second"]

    done = store.record_and_claim(
        [completed(c, n=i) for i, c in enumerate(claims)],
        now=now + 1,
        claim_next=2,
        worker_id="worker-a",
        lease_s=30.0,
    )

    assert done.recorded == [True, True]
    assert [c.task.task_name for c in done.claims] == ["after second", "independent"]
    assert done.more_ready is True
    assert [c.attempt_id for c in done.claims] == [f"{ids['4']}:1", f"{ids['5']}:1"]
    assert all(c.task.status is S.RUNNING for c in done.claims)
    assert store.get_task(ids["3"]).status is S.READY
    assert store.get_task(ids["1"]).outputs == {"n": 0}
    assert store.get_task(ids["2"]).status is S.COMPLETED
    assert transitions(brahmi, ids["1"]) == [("ready", "running"), ("running", "completed")]
    assert transitions(brahmi, ids["3"]) == [("planned", "ready")]
    assert transitions(brahmi, ids["4"]) == [("planned", "ready"), ("ready", "running")]
    assert transitions(brahmi, ids["5"]) == [("ready", "running")]
    [attempt] = [a for a in store.attempts_for(ids["1"]) if a.id == claims[0].attempt_id]
    assert attempt.status == "succeeded"
    assert attempt.usage == {"input_tokens": 7, "output_tokens": 3, "cost_usd": 0.25}
    assert attempt.skill_version == "sha256:abc"
    assert [a.status for a in store.attempts_for(ids["4"])] == ["running"]
    outputs = [e for e in store.events() if e.kind == "outputs"]
    assert {e.task_id for e in outputs} == {ids["1"], ids["2"]}
    usage = UsageStore(store.engine).totals(project_id=brahmi.project_for(workspace).id)
    assert (usage.input_tokens, usage.output_tokens, usage.runs) == (14, 6, 2)
    event_ids = [e.id for e in store.events()]
    assert event_ids == sorted(set(event_ids))


def test_completions_leave_what_the_worker_cannot_run_ready(
    brahmi: Brahmi, workspace: Path
) -> None:
    _, ids = create(brahmi, workspace, [spec(1, "first"), spec(2, "after first", 1)])
    store = brahmi.store
    now = time.time()
    [claim] = store.claim("worker-a", 1, now=now, lease_s=30.0)

    done = store.record_and_claim(
        [completed(claim)],
        now=now + 1,
        claim_next=4,
        worker_id="worker-a",
        lease_s=30.0,
        runtimes=["another-runtime"],
        others_ready=False,
    )

    assert done.claims == []
    assert done.more_ready is False  # nothing ready that it could run
    assert store.get_task(ids["2"]).status is S.READY


def test_a_completed_task_a_planner_created_queues_its_trigger_with_the_completion(
    brahmi: Brahmi, workspace: Path
) -> None:
    project_id = brahmi.project_for(workspace).id
    session = brahmi.planner_session(project_id, "template")
    batch = brahmi.create_tasks_batch(
        project_id, [spec(1, "planned"), spec(2, "after planned", 1)], planner_session_id=session.id
    )
    store = brahmi.store
    now = time.time()
    [claim] = store.claim("worker-a", 1, now=now, lease_s=30.0)

    recorded, _ = store.finish_attempt(completed(claim), now=now + 1)

    assert recorded is True
    triggers = brahmi.planner_store.triggers(session.id)
    assert [(t.kind, t.task_id, t.task_status) for t in triggers] == [
        ("task_completed", batch.task_ids["1"], "completed")
    ]


def test_a_dependent_with_subtasks_made_ready_starts_its_first_subtask(
    brahmi: Brahmi, workspace: Path
) -> None:
    _, ids = create(brahmi, workspace, [spec(1, "first"), spec(2, "parent", 1)])
    sub = brahmi.create_subtask(ids["2"], {"task_name": "a sub-task"})
    store = brahmi.store
    now = time.time()
    [claim] = store.claim("worker-a", 1, now=now, lease_s=30.0)

    done = store.record_and_claim(
        [completed(claim)], now=now + 1, claim_next=1, worker_id="worker-a", lease_s=30.0
    )

    assert done.recorded == [True]
    assert store.get_task(ids["1"]).status is S.COMPLETED
    assert store.get_task(ids["2"]).status is S.RUNNING
    assert [c.task.id for c in done.claims] == [sub.id]
    assert transitions(brahmi, ids["1"]) == [("ready", "running"), ("running", "completed")]


def test_a_task_that_gained_subtasks_while_it_ran_starts_them_when_its_agent_completes(
    brahmi: Brahmi, workspace: Path
) -> None:
    _, ids = create(brahmi, workspace, [spec(1, "parent"), spec(2, "after parent", 1)])
    store = brahmi.store
    now = time.time()
    [claim] = store.claim("worker-a", 1, now=now, lease_s=30.0)
    sub = brahmi.create_subtask(ids["1"], {"task_name": "a sub-task"})

    done = store.record_and_claim(
        [completed(claim)], now=now + 1, claim_next=1, worker_id="worker-a", lease_s=30.0
    )

    assert done.recorded == [True]
    assert store.get_task(ids["1"]).status is S.RUNNING
    assert [c.task.id for c in done.claims] == [sub.id]
    assert store.get_task(ids["2"]).status is S.PLANNED
