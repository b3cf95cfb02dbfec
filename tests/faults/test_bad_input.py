"""Bad input at every surface (issue 17; DESIGN §2, §8; STYLE "Errors").

Hypothesis (seeded, bounded) sends random JSON and mutated valid specs to REST
(``httpx.ASGITransport``) and MCP (the SDK's in-memory client) ``create_tasks_batch``,
``create_subtask``, ``resume_task`` and the planner messages / ``user_response`` (files:
test_bad_files.py). For every call: no 5xx and no tool crash, every rejection carries a
stable code, and a rejected call writes no row.
``BRAHMI_FUZZ_EXAMPLES`` raises the number of examples (benchmarks/soak.py).
"""

from __future__ import annotations

import asyncio
import os
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from mcp import Client
from sqlalchemy import func, select

from brahmi import errors
from brahmi.api.app import create_app
from brahmi.mcp.server import build_mcp
from brahmi.service import Brahmi
from brahmi.store import tables as t
from brahmi.testing import run_until_settled

pytestmark = pytest.mark.faults

EXAMPLES = int(os.environ.get("BRAHMI_FUZZ_EXAMPLES", "60"))
SEED = 17
SKILL = "brahmi/builtin/run-command"
BASE = "http://127.0.0.1:8421"
#: Every code a Brahmi error may carry, plus the REST layer's own.
CODES = {
    cls.code
    for cls in vars(errors).values()
    if isinstance(cls, type) and issubclass(cls, errors.BrahmiError)
} | {"invalid_request", "payload_too_large", "invalid_status"}
#: Tables a rejected call must leave alone.
TABLES = (t.tasks, t.batches, t.task_dependencies, t.task_critiques, t.events, t.planner_messages)
#: What the runs of one test saw, by surface and outcome (printed by the soak).
TALLY: Counter[str] = Counter()

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=False,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# -- strategies -----------------------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.sampled_from(["", "1", "ready", SKILL, "../../etc/passwd", "a" * 300, "\x00", "𝔟"])
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
SPEC_KEYS = [
    "unique_id",
    "task_name",
    "description",
    "skill_id",
    "task_order",
    "inputs",
    "logical_dependencies",
    "dependencies",
    "validation_criteria",
    "timeout_seconds",
    "max_rebuilds",
    "uniqueId",
    "logicalDependencies",
    "position",
    "after",
]


def valid_spec(uid: int) -> dict[str, Any]:
    return {
        "unique_id": uid,
        "task_name": f"Step number {uid}",
        "description": "a step",
        "skill_id": SKILL,
        "task_order": 1,
        "inputs": {"command": ["true"]},
        "logical_dependencies": [uid - 1] if uid > 1 else [],
    }


@st.composite
def mutated_specs(draw: st.DrawFn, count: int = 3) -> list[Any]:
    """A valid batch with a few fields replaced, removed or added at random."""
    specs: list[Any] = [valid_spec(i) for i in range(1, draw(st.integers(1, count)) + 1)]
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(specs) - 1))
        key = draw(st.sampled_from(SPEC_KEYS))
        action = draw(st.sampled_from(["set", "drop", "swap"]))
        if not isinstance(specs[i], dict):
            continue
        if action == "drop":
            specs[i].pop(key, None)
        elif action == "swap":
            specs[i] = draw(json_values)
        else:
            specs[i][key] = draw(json_values)
    return specs


batches = mutated_specs() | json_values
modes = st.sampled_from(["continue", "restart", "", "QA", "qa ", "continue\x00"]) | st.text(
    max_size=20
)
planners = (
    st.none()
    | st.text(max_size=40)
    | st.sampled_from(
        ["template", "brahmi/builtin/template-planner", "nope", "../planner", "brahmi/builtin/"]
    )
)
bodies = (
    st.dictionaries(
        st.sampled_from(
            [*SPEC_KEYS, "task", "message", "mode", "text", "planner", "timeout_s", "tasks"]
        ),
        json_values,
        max_size=5,
    )
    | json_values
)


# -- fixtures -------------------------------------------------------------------------------


class World:
    """A project with a completed task (to resume, to add sub-tasks to) and clients."""

    def __init__(self, brahmi: Brahmi, workspace: Path) -> None:
        self.brahmi = brahmi
        self.project_id = brahmi.project_for(workspace).id
        created = brahmi.create_tasks_batch(self.project_id, [valid_spec(1)])
        asyncio.run(run_until_settled(brahmi, created.batch_id, timeout_s=30))
        self.task_id = created.task_ids["1"]
        self.runner = asyncio.Runner()
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(brahmi), client=("127.0.0.1", 5000)),
            base_url=BASE,
        )

    def rows(self) -> tuple[int, ...]:
        with self.brahmi.store.engine.connect() as conn:
            return tuple(
                conn.execute(select(func.count()).select_from(table)).scalar_one()
                for table in TABLES
            )

    def post(self, url: str, body: Any) -> httpx.Response:
        return self.runner.run(self.http.post(url, json=body))

    def tool(self, name: str, arguments: dict[str, Any]) -> Any:
        async def call() -> Any:
            async with Client(build_mcp(self.brahmi, self.project_id)) as client:
                return await client.call_tool(name, arguments)

        return self.runner.run(call())

    def close(self) -> None:
        self.runner.run(self.http.aclose())
        self.runner.close()


@pytest.fixture
def world(brahmi: Brahmi, workspace: Path) -> Iterator[World]:
    made = World(brahmi, workspace)
    yield made
    made.close()


def check_rest(world: World, surface: str, url: str, body: Any) -> None:
    before = world.rows()
    response = world.post(url, body)
    assert response.status_code < 500, (surface, body, response.status_code, response.text)
    if response.status_code >= 400:
        code = response.json().get("error")
        assert code in CODES, (surface, body, response.text)
        assert world.rows() == before, (surface, body, response.text)
        TALLY[f"rest {surface} rejected ({code})"] += 1
    else:
        TALLY[f"rest {surface} accepted"] += 1


BATCH_CODE = re.compile(r"([a-z_]+): \d+ problem\(s\)")
ERROR_CODE = re.compile(r"\[([a-z_]+)\]\s*$")


def check_tool(world: World, surface: str, name: str, arguments: dict[str, Any]) -> None:
    before = world.rows()
    result = world.tool(name, arguments)
    if not result.is_error:
        TALLY[f"mcp {surface} accepted"] += 1
        return
    text = " ".join(getattr(c, "text", "") for c in result.content)
    match = BATCH_CODE.search(text) or ERROR_CODE.search(text)
    # The SDK checks argument types before the tool runs: its message names the field.
    sdk_validation = "validation error" in text.lower()
    assert match or sdk_validation, (surface, arguments, text)
    code = match.group(1) if match else "invalid_arguments"
    assert code in CODES | {"invalid_arguments"}, (surface, arguments, text)
    assert world.rows() == before, (surface, arguments, text)
    TALLY[f"mcp {surface} rejected ({code})"] += 1


# -- REST -----------------------------------------------------------------------------------


@seed(SEED)
@FUZZ
@given(body=batches | st.fixed_dictionaries({"tasks": batches}))
def test_rest_create_tasks_batch(world: World, body: Any) -> None:
    check_rest(
        world, "create_tasks_batch", f"/api/v1/projects/{world.project_id}/tasks/batch", body
    )


@seed(SEED)
@FUZZ
@given(
    body=bodies
    | st.fixed_dictionaries(
        {"task": bodies | mutated_specs(1).map(lambda specs: specs[0])},
        optional={"position": st.integers(-3, 5) | json_values, "after": st.text(max_size=40)},
    )
)
def test_rest_create_subtask(world: World, body: Any) -> None:
    check_rest(world, "create_subtask", f"/api/v1/tasks/{world.task_id}/subtasks", body)


@seed(SEED)
@FUZZ
@given(
    body=bodies
    | st.fixed_dictionaries(
        {"message": st.text(max_size=200) | json_values},
        optional={"mode": modes, "timeout_s": st.floats(-1, 5000) | json_values},
    )
)
def test_rest_resume_task(world: World, body: Any) -> None:
    check_rest(world, "resume_task", f"/api/v1/tasks/{world.task_id}/resume", body)


@seed(SEED)
@FUZZ
@given(
    body=bodies
    | st.fixed_dictionaries(
        {"text": st.text(max_size=300) | json_values}, optional={"planner": planners}
    )
)
def test_rest_planner_messages(world: World, body: Any) -> None:
    check_rest(world, "messages", f"/api/v1/projects/{world.project_id}/messages", body)


# -- MCP ------------------------------------------------------------------------------------


@seed(SEED)
@FUZZ
@given(tasks=batches)
def test_mcp_create_tasks_batch(world: World, tasks: Any) -> None:
    check_tool(world, "create_tasks_batch", "create_tasks_batch", {"tasks": tasks})


@seed(SEED)
@FUZZ
@given(
    arguments=mutated_specs(1).map(lambda specs: {"task": specs[0]})
    | st.dictionaries(
        st.sampled_from(
            [
                "task",
                "task_name",
                "description",
                "skill_id",
                "inputs",
                "validation_criteria",
                "timeout_seconds",
                "position",
                "after",
            ]
        ),
        json_values,
        max_size=5,
    )
)
def test_mcp_create_subtask(world: World, arguments: dict[str, Any]) -> None:
    check_tool(
        world, "create_subtask", "create_subtask", {"parent_task_id": world.task_id, **arguments}
    )


@seed(SEED)
@FUZZ
@given(message=st.text(max_size=200) | json_values, mode=st.none() | modes)
def test_mcp_resume_task(world: World, message: Any, mode: Any) -> None:
    arguments = {"task_id": world.task_id, "message": message}
    if mode is not None:
        arguments["mode"] = mode
    check_tool(world, "resume_task", "resume_task", arguments)


@seed(SEED)
@FUZZ
@given(message=st.text(max_size=300) | json_values)
def test_mcp_user_response(world: World, message: Any) -> None:
    check_tool(world, "user_response", "user_response", {"message": message})


@pytest.fixture(autouse=True, scope="module")
def _print_tally() -> Iterator[None]:
    """Print what the fuzzing saw (``pytest -s``; the soak reads it)."""
    yield
    for outcome, count in sorted(TALLY.items()):
        print(f"fuzz: {count:7d}  {outcome}")
    TALLY.clear()
