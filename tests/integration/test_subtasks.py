"""Sub-tasks on a real SQLite file (DESIGN §4): one level deep, run strictly one after
another in position order, checkpoints, insertion, inheritance and dynamic discovery."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from brahmi import errors
from brahmi.agents.base import AgentRequest, AgentResult
from brahmi.domain.models import TaskRecord, TaskStatus
from brahmi.service import Brahmi
from brahmi.testing import Fail, ScriptedRuntime


@pytest.fixture
def database_url(either_database: str | None) -> str | None:
    """Every test here runs on SQLite and on PostgreSQL."""
    return either_database


S = TaskStatus
SKILL = "brahmi/builtin/run-command"
OTHER_SKILL = "brahmi/builtin/pytest-critique"
WAIT_S = 10.0

Script = Callable[[AgentRequest], Awaitable[AgentResult]]


async def wait_until(predicate: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> None:
    """Poll ``predicate`` until it holds, failing after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting until {what}")
        await asyncio.sleep(0.01)


def project_settled(brahmi: Brahmi, project_id: str) -> bool:
    counts = brahmi.store.status_counts(project_id=project_id, top_level=True)
    return all(status.is_settled for status in counts)


def settle(brahmi: Brahmi, project_id: str) -> None:
    """Run a worker until every top-level task of the project has settled."""

    async def run() -> None:
        stop = asyncio.Event()
        running = asyncio.create_task(brahmi.worker().run(stop))
        try:
            await wait_until(
                lambda: running.done() or project_settled(brahmi, project_id),
                "the project settled",
            )
        finally:
            stop.set()
            await running

    asyncio.run(run())


def task(name: str, **extra: Any) -> dict[str, Any]:
    """A ``create_task`` / ``create_subtask`` spec."""
    return {"task_name": name, "description": f"{name}.", **extra}


def parent_with(
    brahmi: Brahmi, workspace: Path, *subtasks: str, **extra: Any
) -> tuple[TaskRecord, TaskRecord, list[TaskRecord]]:
    """A parent "Build the services" with ``subtasks``, and "Package the services" after it."""
    project = brahmi.project_for(workspace)
    parent = brahmi.create_task(project.id, task("Build the services", skill_id=SKILL, **extra))
    after = brahmi.create_task(
        project.id, task("Package the services", skill_id=SKILL, dependencies=[parent.id])
    )
    subs = [brahmi.create_subtask(parent.id, task(name)) for name in subtasks]
    return parent, after, subs


def names(requests: list[AgentRequest]) -> list[str]:
    return [r.task.task_name for r in requests]


def snapshot(brahmi: Brahmi, parent_id: str) -> list[tuple[str, int | None, TaskStatus]]:
    return [(s.id, s.position, s.status) for s in brahmi.store.subtasks_of(parent_id)]


# -- running in sequence -----------------------------------------------------------------


def test_subtasks_run_strictly_one_after_another_in_position_order(
    brahmi: Brahmi, runtime: ScriptedRuntime, workspace: Path
) -> None:
    assert brahmi.settings.concurrency == 4
    parent, after, _ = parent_with(brahmi, workspace, "Step two", "Step three", "Step four")
    brahmi.create_subtask(parent.id, task("Step one"), position=1)
    active = 0
    peak = 0
    seen: list[dict[str, TaskStatus]] = []

    def one_at_a_time(name: str) -> Script:
        async def run(request: AgentRequest) -> AgentResult:
            nonlocal active, peak
            active += 1
            peak = max(peak, active)
            try:
                seen.append({s.task_name: s.status for s in brahmi.store.subtasks_of(parent.id)})
                for _ in range(20):  # give a wrong engine turns to start a sibling meanwhile
                    await asyncio.sleep(0)
                return AgentResult(ok=True, outputs={"done": name})
            finally:
                active -= 1

        return run

    steps = ["Step one", "Step two", "Step three", "Step four"]
    for name in steps:
        runtime.enqueue(name, one_at_a_time(name))

    settle(brahmi, parent.project_id)

    assert names(runtime.calls) == [*steps, "Package the services"]
    assert peak == 1
    for turn, statuses in enumerate(seen):
        assert [statuses[name] for name in steps] == (
            [S.COMPLETED] * turn + [S.RUNNING] + [S.PLANNED] * (len(steps) - turn - 1)
        )
    assert all(c.task.id != parent.id for c in runtime.calls)
    done = brahmi.get_task(parent.id)
    assert done.status is S.COMPLETED
    assert done.subtasks_completed
    assert done.attempts == 0
    assert [s["task_name"] for s in (done.outputs or {})["subtasks"]] == steps
    assert [s.position for s in brahmi.store.subtasks_of(parent.id)] == [1, 2, 3, 4]
    assert brahmi.get_task(after.id).status is S.COMPLETED


def test_a_parent_is_running_without_an_agent_while_its_first_subtask_is_ready(
    brahmi: Brahmi, workspace: Path
) -> None:
    parent, after, subs = parent_with(brahmi, workspace, "Step one", "Step two")

    assert brahmi.get_task(parent.id).status is S.RUNNING
    assert brahmi.get_task(parent.id).current_attempt_id is None
    assert [s.status for s in brahmi.store.subtasks_of(parent.id)] == [S.READY, S.PLANNED]
    assert brahmi.get_task(after.id).status is S.PLANNED
    assert [s.position for s in subs] == [1, 2]


# -- checkpoints -------------------------------------------------------------------------


def test_a_failed_subtask_fails_its_parent_and_earlier_subtasks_keep_their_outputs(
    brahmi: Brahmi, runtime: ScriptedRuntime, workspace: Path
) -> None:
    parent, after, subs = parent_with(
        brahmi, workspace, "Step one", "Step two", "Step three", "Step four"
    )
    runtime.enqueue("Step one", {"schema": "users"})
    runtime.enqueue("Step two", {"handlers": 3})
    runtime.enqueue("Step three", Fail("the cache server refused the connection"))

    settle(brahmi, parent.project_id)

    failed = brahmi.get_task(parent.id)
    assert failed.status is S.FAILED
    assert failed.error_code == "subtask_failed"
    stored = brahmi.store.subtasks_of(parent.id)
    assert [s.status for s in stored] == [S.COMPLETED, S.COMPLETED, S.FAILED, S.PLANNED]
    assert [s.outputs for s in stored[:2]] == [{"schema": "users"}, {"handlers": 3}]
    assert runtime.calls_for("Step four") == []
    assert brahmi.get_task(after.id).status is S.BLOCKED
    assert subs[3].id == stored[3].id


def test_retrying_a_failed_parent_runs_only_the_subtasks_not_completed(
    brahmi: Brahmi, runtime: ScriptedRuntime, workspace: Path
) -> None:
    parent, after, _ = parent_with(
        brahmi, workspace, "Step one", "Step two", "Step three", "Step four"
    )
    runtime.enqueue("Step one", {"schema": "users"})
    runtime.enqueue("Step three", Fail("flaky"), {"cache": "warm"})
    settle(brahmi, parent.project_id)
    before = {s.task_name: s for s in brahmi.store.subtasks_of(parent.id)}
    runtime.calls.clear()

    retried = brahmi.retry_task(parent.id)

    assert retried.id == parent.id
    assert retried.status is S.RUNNING
    assert brahmi.get_task(after.id).status is S.PLANNED
    settle(brahmi, parent.project_id)

    assert names(runtime.calls) == ["Step three", "Step four", "Package the services"]
    done = brahmi.get_task(parent.id)
    assert done.status is S.COMPLETED
    assert done.subtasks_completed
    stored = {s.task_name: s for s in brahmi.store.subtasks_of(parent.id)}
    assert stored["Step one"].outputs == {"schema": "users"}
    for name in ("Step one", "Step two"):
        assert stored[name].attempts == 1
        assert stored[name].finished_at == before[name].finished_at
    assert stored["Step three"].outputs == {"cache": "warm"}
    assert brahmi.get_task(after.id).status is S.COMPLETED


def test_retrying_a_failed_subtask_retries_its_parent_from_that_subtask(
    brahmi: Brahmi, runtime: ScriptedRuntime, workspace: Path
) -> None:
    parent, _, subs = parent_with(brahmi, workspace, "Step one", "Step two", "Step three")
    runtime.enqueue("Step two", Fail("flaky"))
    settle(brahmi, parent.project_id)
    runtime.calls.clear()

    retried = brahmi.retry_task(subs[1].id)

    assert retried.id == parent.id
    settle(brahmi, parent.project_id)
    assert names(runtime.calls) == ["Step two", "Step three", "Package the services"]
    assert brahmi.get_task(parent.id).status is S.COMPLETED


# -- insertion ---------------------------------------------------------------------------


def test_inserting_before_a_started_subtask_is_rejected_and_changes_nothing(
    brahmi: Brahmi, workspace: Path
) -> None:
    parent, _, subs = parent_with(brahmi, workspace, "Step one", "Step two")
    [claim] = brahmi.store.claim("test-worker", 1, now=time.time(), lease_s=3600.0)
    assert claim.task.id == subs[0].id
    before = snapshot(brahmi, parent.id)
    last_event = brahmi.store.last_event_id()

    with pytest.raises(errors.BrahmiError) as caught:
        brahmi.create_subtask(parent.id, task("Step zero"), position=1)

    assert caught.value.code == "insertion_before_started"
    assert snapshot(brahmi, parent.id) == before
    assert brahmi.store.last_event_id() == last_event
    # Behind the running one, there is still room.
    inserted = brahmi.create_subtask(parent.id, task("Step one and a half"), position=2)
    assert inserted.position == 2
    assert [s.task_name for s in brahmi.store.subtasks_of(parent.id)] == [
        "Step one",
        "Step one and a half",
        "Step two",
    ]


def test_a_subtask_inserted_after_a_sibling_runs_in_the_middle_and_later_positions_shift(
    brahmi: Brahmi, runtime: ScriptedRuntime, workspace: Path
) -> None:
    parent, _, subs = parent_with(brahmi, workspace, "Step one", "Step two", "Step three")

    inserted = brahmi.create_subtask(parent.id, task("Step one and a half"), after=subs[0].id)

    assert inserted.position == 2
    positions = {s.task_name: s.position for s in brahmi.store.subtasks_of(parent.id)}
    assert positions == {
        "Step one": 1,
        "Step one and a half": 2,
        "Step two": 3,
        "Step three": 4,
    }
    settle(brahmi, parent.project_id)
    assert names(runtime.calls) == [
        "Step one",
        "Step one and a half",
        "Step two",
        "Step three",
        "Package the services",
    ]


def test_a_subtask_inserted_before_a_ready_sibling_takes_its_turn(
    brahmi: Brahmi, runtime: ScriptedRuntime, workspace: Path
) -> None:
    parent, _, subs = parent_with(brahmi, workspace, "Step two", "Step three")
    assert brahmi.get_task(subs[0].id).status is S.READY

    first = brahmi.create_subtask(parent.id, task("Step one"), position=1)

    assert first.status is S.READY
    assert brahmi.get_task(subs[0].id).status is S.PLANNED
    settle(brahmi, parent.project_id)
    assert names(runtime.calls)[:3] == ["Step one", "Step two", "Step three"]


# -- what a sub-task may not be ----------------------------------------------------------


def test_a_subtask_cannot_have_subtasks_of_its_own(brahmi: Brahmi, workspace: Path) -> None:
    parent, _, subs = parent_with(brahmi, workspace, "Step one")

    with pytest.raises(errors.BrahmiError) as caught:
        brahmi.create_subtask(subs[0].id, task("Step one, part a"))

    assert caught.value.code == "subtask_nesting"
    assert brahmi.store.subtasks_of(subs[0].id) == []
    assert len(brahmi.store.subtasks_of(parent.id)) == 1


@pytest.mark.parametrize("key", ["dependencies", "logical_dependencies"])
def test_a_subtask_spec_with_dependencies_is_rejected(
    brahmi: Brahmi, workspace: Path, key: str
) -> None:
    parent, after, _ = parent_with(brahmi, workspace, "Step one")

    with pytest.raises(errors.BrahmiError) as caught:
        brahmi.create_subtask(parent.id, task("Step two", **{key: [after.id]}))

    assert caught.value.code == "subtask_dependencies"
    assert len(brahmi.store.subtasks_of(parent.id)) == 1


def test_a_batch_whose_qa_task_critiques_a_subtask_is_rejected(
    brahmi: Brahmi, workspace: Path
) -> None:
    parent, _, subs = parent_with(brahmi, workspace, "Step one")
    count = len(brahmi.list_tasks(project_id=parent.project_id))

    with pytest.raises(errors.InvalidBatch) as caught:
        brahmi.create_tasks_batch(
            parent.project_id,
            [
                {
                    "unique_id": 1,
                    "task_name": "Test step one",
                    "description": "Judge it.",
                    "skill_id": SKILL,
                    "task_order": 2,
                    "logical_dependencies": [parent.id],
                    "inputs": {"critiques_tasks": [subs[0].id]},
                }
            ],
        )

    assert caught.value.code == "invalid_batch"
    assert [p.code for p in caught.value.problems] == ["invalid_critique"]
    assert len(brahmi.list_tasks(project_id=parent.project_id)) == count


def test_adding_a_subtask_to_an_unknown_task_is_task_not_found(brahmi: Brahmi) -> None:
    with pytest.raises(errors.BrahmiError) as caught:
        brahmi.create_subtask("no-such-task", task("Step one"))

    assert caught.value.code == "task_not_found"


# -- inheritance and context -------------------------------------------------------------


def test_a_subtask_inherits_project_user_task_order_and_skill_from_its_parent(
    brahmi: Brahmi, workspace: Path
) -> None:
    project = brahmi.project_for(workspace)
    parent = brahmi.create_task(
        project.id, task("Build the services", skill_id=SKILL, task_order=7), user_id="alice"
    )

    inherited = brahmi.create_subtask(parent.id, task("Step one"))
    own_skill = brahmi.create_subtask(parent.id, task("Step two", skill_id=OTHER_SKILL))

    for sub in (inherited, own_skill):
        assert sub.parent_id == parent.id
        assert sub.project_id == project.id
        assert sub.user_id == "alice"
        assert sub.task_order == 7
    assert inherited.skill_id == SKILL
    assert own_skill.skill_id == OTHER_SKILL


def test_a_subtasks_prompt_shows_its_parents_name_description_and_inputs(
    brahmi: Brahmi, runtime: ScriptedRuntime, workspace: Path
) -> None:
    project = brahmi.project_for(workspace)
    parent = brahmi.create_task(
        project.id,
        {
            "task_name": "Build the booking service",
            "description": "A REST service that books meeting rooms.",
            "skill_id": SKILL,
            "inputs": {"framework": "fastapi-0.115", "rooms": 12},
        },
    )
    brahmi.create_subtask(parent.id, task("Write the models", inputs={"table": "bookings"}))

    settle(brahmi, project.id)

    [request] = runtime.calls_for("Write the models")
    assert request.parent is not None
    assert request.parent.id == parent.id
    assert "Build the booking service" in request.prompt
    assert "A REST service that books meeting rooms." in request.prompt
    assert "fastapi-0.115" in request.prompt
    assert '"rooms": 12' in request.prompt
    assert '"table": "bookings"' in request.prompt


# -- dynamic discovery -------------------------------------------------------------------


def test_subtasks_added_while_the_parents_agent_runs_run_after_that_run_ends(
    brahmi: Brahmi, runtime: ScriptedRuntime, workspace: Path
) -> None:
    parent, after, subs = parent_with(brahmi, workspace)
    assert subs == []
    during: list[list[TaskStatus]] = []
    agent_ended: list[int] = []

    async def discovers_two_steps(request: AgentRequest) -> AgentResult:
        brahmi.create_subtask(request.task.id, task("Discovered one"))
        brahmi.create_subtask(request.task.id, task("Discovered two"))
        for _ in range(20):  # give a wrong engine turns to start them meanwhile
            await asyncio.sleep(0)
        during.append([s.status for s in brahmi.store.subtasks_of(request.task.id)])
        agent_ended.append(len(runtime.calls))
        return AgentResult(ok=True, outputs={"plan": "two steps"})

    runtime.enqueue("Build the services", discovers_two_steps)

    settle(brahmi, parent.project_id)

    assert names(runtime.calls) == [
        "Build the services",
        "Discovered one",
        "Discovered two",
        "Package the services",
    ]
    assert during == [[S.PLANNED, S.PLANNED]]
    assert agent_ended == [1]
    done = brahmi.get_task(parent.id)
    assert done.status is S.COMPLETED
    assert done.subtasks_completed
    assert done.outputs is not None
    assert done.outputs["plan"] == "two steps"
    assert [s["task_name"] for s in done.outputs["subtasks"]] == [
        "Discovered one",
        "Discovered two",
    ]
    last_sub = brahmi.store.subtasks_of(parent.id)[-1]
    assert last_sub.finished_at is not None
    assert done.finished_at is not None
    assert done.finished_at >= last_sub.finished_at
    assert brahmi.get_task(after.id).status is S.COMPLETED


def test_a_parent_without_subtasks_runs_its_own_agent(
    brahmi: Brahmi, runtime: ScriptedRuntime, workspace: Path
) -> None:
    parent, _, _ = parent_with(brahmi, workspace)
    runtime.enqueue("Build the services", {"built": True})

    settle(brahmi, parent.project_id)

    assert names(runtime.calls) == ["Build the services", "Package the services"]
    done = brahmi.get_task(parent.id)
    assert done.outputs == {"built": True}
    assert not done.subtasks_completed


def test_adding_a_subtask_to_a_completed_parent_is_an_invalid_transition(
    brahmi: Brahmi, workspace: Path
) -> None:
    parent, _, _ = parent_with(brahmi, workspace)
    settle(brahmi, parent.project_id)
    assert brahmi.get_task(parent.id).status is S.COMPLETED

    with pytest.raises(errors.BrahmiError) as caught:
        brahmi.create_subtask(parent.id, task("Too late"))

    assert caught.value.code == "invalid_transition"
    assert brahmi.store.subtasks_of(parent.id) == []
    assert not brahmi.get_task(parent.id).has_subtasks


# -- cancelling --------------------------------------------------------------------------


def test_cancelling_a_parent_cancels_its_unfinished_subtasks(
    brahmi: Brahmi, runtime: ScriptedRuntime, workspace: Path
) -> None:
    parent, after, subs = parent_with(brahmi, workspace, "Step one", "Step two", "Step three")

    async def cancels_the_parent(request: AgentRequest) -> AgentResult:
        brahmi.cancel_task(parent.id)
        return AgentResult(ok=True, outputs={"late": True})

    runtime.enqueue("Step one", {"schema": "users"})
    runtime.enqueue("Step two", cancels_the_parent)

    settle(brahmi, parent.project_id)

    assert brahmi.get_task(parent.id).status is S.CANCELLED
    stored = brahmi.store.subtasks_of(parent.id)
    assert [s.status for s in stored] == [S.COMPLETED, S.CANCELLED, S.CANCELLED]
    assert stored[0].outputs == {"schema": "users"}
    assert stored[1].outputs != {"late": True}
    assert runtime.calls_for("Step three") == []
    assert brahmi.get_task(after.id).status is S.BLOCKED
    assert subs[2].id == stored[2].id


def test_cancelling_a_parent_whose_agent_finished_keeps_that_agents_attempt_succeeded(
    brahmi: Brahmi, runtime: ScriptedRuntime, workspace: Path
) -> None:
    parent, after, _ = parent_with(brahmi, workspace)

    async def discovers_a_step(request: AgentRequest) -> AgentResult:
        brahmi.create_subtask(request.task.id, task("Discovered one"))
        return AgentResult(ok=True, outputs={"plan": "one step"})

    async def cancels_the_parent(request: AgentRequest) -> AgentResult:
        brahmi.cancel_task(parent.id)
        return AgentResult(ok=True, outputs={})

    runtime.enqueue("Build the services", discovers_a_step)
    runtime.enqueue("Discovered one", cancels_the_parent)

    settle(brahmi, parent.project_id)

    assert brahmi.get_task(parent.id).status is S.CANCELLED
    # The parent's own run had ended well before the cancel: its record says so.
    assert [a.status for a in brahmi.store.attempts_for(parent.id)] == ["succeeded"]
    [sub] = brahmi.store.subtasks_of(parent.id)
    assert sub.status is S.CANCELLED
    assert [a.status for a in brahmi.store.attempts_for(sub.id)] == ["cancelled"]
    assert brahmi.get_task(after.id).status is S.BLOCKED


def test_resuming_a_parent_that_ran_as_subtasks_is_an_invalid_transition(
    brahmi: Brahmi, workspace: Path
) -> None:
    parent, _, _ = parent_with(brahmi, workspace, "Step one")
    settle(brahmi, parent.project_id)
    before = brahmi.get_task(parent.id)
    assert before.status is S.COMPLETED

    with pytest.raises(errors.BrahmiError) as caught:
        brahmi.resume_task(parent.id, "do it again", "continue")

    assert caught.value.code == "invalid_transition"
    assert brahmi.get_task(parent.id) == before


def test_cancelling_a_running_subtask_fails_its_parent(
    brahmi: Brahmi, runtime: ScriptedRuntime, workspace: Path
) -> None:
    parent, after, subs = parent_with(brahmi, workspace, "Step one", "Step two", "Step three")

    async def cancels_itself(request: AgentRequest) -> AgentResult:
        brahmi.cancel_task(request.task.id)
        return AgentResult(ok=True, outputs={"late": True})

    runtime.enqueue("Step two", cancels_itself)

    settle(brahmi, parent.project_id)

    failed = brahmi.get_task(parent.id)
    assert failed.status is S.FAILED
    assert failed.error_code == "subtask_failed"
    assert [s.status for s in brahmi.store.subtasks_of(parent.id)] == [
        S.COMPLETED,
        S.CANCELLED,
        S.PLANNED,
    ]
    assert brahmi.get_task(after.id).status is S.BLOCKED
    assert runtime.calls_for("Step three") == []
    # The checkpoint holds: a retry of the parent redoes step two, then step three.
    runtime.calls.clear()
    brahmi.retry_task(parent.id)
    settle(brahmi, parent.project_id)
    assert names(runtime.calls) == ["Step two", "Step three", "Package the services"]
    assert brahmi.get_task(subs[1].id).status is S.COMPLETED


def test_resuming_a_subtask_runs_it_and_the_later_siblings_again_but_not_the_earlier(
    brahmi: Brahmi, runtime: ScriptedRuntime, workspace: Path
) -> None:
    parent, after, _ = parent_with(brahmi, workspace, "Step one", "Step two", "Step three")
    settle(brahmi, parent.project_id)
    assert brahmi.get_task(parent.id).status is S.COMPLETED
    runtime.calls.clear()
    step_two = next(s for s in brahmi.store.subtasks_of(parent.id) if s.task_name == "Step two")

    brahmi.resume_task(step_two.id, "use the new schema", "continue")
    settle(brahmi, parent.project_id)

    assert names(runtime.calls) == ["Step two", "Step three", after.task_name]
    assert "use the new schema" in runtime.calls[0].prompt
    assert brahmi.get_task(parent.id).status is S.COMPLETED
    assert brahmi.get_task(after.id).status is S.COMPLETED
