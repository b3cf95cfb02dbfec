"""Rendering a task as the agent's prompt, and reading outputs back (DESIGN §6)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from brahmi.agents.outputs import last_json_object
from brahmi.agents.prompt import OUTPUT_CONTRACT, QA_CONTRACT, render_prompt
from brahmi.domain.models import TaskRecord, TaskStatus


def make_task(**changes: Any) -> TaskRecord:
    """A stored-looking task; ``changes`` override any field."""
    task = TaskRecord(
        id="11111111-1111-4111-8111-111111111111",
        project_id="22222222-2222-4222-8222-222222222222",
        user_id="ada",
        parent_id=None,
        position=None,
        batch_id=None,
        batch_key="1",
        skill_id="acme/skills/build-api",
        skill_version=None,
        task_name="Build the login API",
        description="Add POST /login returning a session token.",
        task_order=1,
        inputs={"framework": "fastapi", "port": 8080},
        validation_criteria={
            "critical": ["POST /login answers 200 for a valid user"],
            "expected": ["Wrong passwords answer 401"],
            "nice_to_have": ["Rate limiting"],
        },
        timeout_seconds=3600,
        max_attempts=3,
        max_rebuilds=3,
        is_qa=False,
        status=TaskStatus.RUNNING,
        outputs=None,
        error=None,
        error_code=None,
        attempts=1,
        rebuilds=0,
        session_ref=None,
        subtasks_completed=False,
        current_attempt_id=None,
        lease_owner=None,
        lease_expires_at=None,
        run_after=0.0,
        created_at=1.0,
        updated_at=1.0,
        started_at=None,
        finished_at=None,
    )
    return replace(task, **changes)


def json_blocks(prompt: str) -> list[Any]:
    """Every fenced ```json block of ``prompt``, decoded."""
    blocks = []
    for piece in prompt.split("```json\n")[1:]:
        blocks.append(json.loads(piece.split("\n```", 1)[0]))
    return blocks


# -- render_prompt -----------------------------------------------------------------------


def test_the_prompt_holds_the_name_description_and_inputs_as_json() -> None:
    prompt = render_prompt(make_task())
    assert "Build the login API" in prompt
    assert "Add POST /login returning a session token." in prompt
    assert {"framework": "fastapi", "port": 8080} in json_blocks(prompt)


def test_the_prompt_lists_every_validation_criterion() -> None:
    prompt = render_prompt(make_task())
    assert "POST /login answers 200 for a valid user" in prompt
    assert "Wrong passwords answer 401" in prompt
    assert "Rate limiting" in prompt


def test_empty_validation_criteria_leave_no_section() -> None:
    empty: dict[str, list[str]] = {"critical": [], "expected": [], "nice_to_have": []}
    prompt = render_prompt(make_task(validation_criteria=empty))
    assert "Validation criteria" not in prompt


def test_every_prompt_ends_with_the_output_contract() -> None:
    prompt = render_prompt(make_task())
    assert OUTPUT_CONTRACT in prompt
    assert QA_CONTRACT not in prompt


def test_a_qa_task_is_told_the_verdict_contract() -> None:
    prompt = render_prompt(make_task(is_qa=True, inputs={"critiques_tasks": ["t1"]}))
    assert OUTPUT_CONTRACT in prompt
    assert QA_CONTRACT in prompt
    assert '"verdict"' in prompt


def test_feedback_from_qa_gets_its_own_section_numbered_by_rebuild() -> None:
    feedback = {"summary": "login returns 500", "issues": [{"what": "crash on empty body"}]}
    task = make_task(inputs={"framework": "fastapi", "feedback_for_rebuild": feedback}, rebuilds=1)
    prompt = render_prompt(task)
    assert "Feedback from QA — attempt 2" in prompt
    blocks = json_blocks(prompt)
    assert feedback in blocks
    # The feedback is shown in its own section, not repeated among the inputs.
    assert {"framework": "fastapi"} in blocks


def test_a_prompt_without_feedback_has_no_feedback_section() -> None:
    assert "Feedback from QA" not in render_prompt(make_task())


def test_a_subtask_prompt_shows_the_parents_name_description_and_inputs() -> None:
    parent = make_task(
        id="33333333-3333-4333-8333-333333333333",
        task_name="Build the whole backend",
        description="A FastAPI service with auth and billing.",
        inputs={"repo": "acme/backend"},
    )
    child = make_task(parent_id=parent.id, position=1, task_name="Step one: models")
    prompt = render_prompt(child, parent)
    assert "Build the whole backend" in prompt
    assert "A FastAPI service with auth and billing." in prompt
    assert {"repo": "acme/backend"} in json_blocks(prompt)
    assert "Step one: models" in prompt


def test_a_top_level_prompt_has_no_parent_section() -> None:
    assert "Parent task" not in render_prompt(make_task())


def test_the_prompt_keeps_non_ascii_inputs_readable() -> None:
    prompt = render_prompt(make_task(inputs={"greeting": "नमस्ते"}))
    assert "नमस्ते" in prompt


# -- last_json_object --------------------------------------------------------------------


def test_a_fenced_json_block_is_preferred_over_a_bare_object() -> None:
    text = 'Earlier I thought {"a": 1}.\n\n```json\n{"b": 2}\n```\nDone.'
    assert last_json_object(text) == {"b": 2}


def test_the_last_fenced_block_wins() -> None:
    text = '```json\n{"draft": true}\n```\nthen\n```json\n{"final": true}\n```\n'
    assert last_json_object(text) == {"final": True}


def test_a_fenced_block_that_is_not_an_object_is_skipped() -> None:
    text = '```json\n{"obj": 1}\n```\n```json\n[1, 2, 3]\n```\n'
    assert last_json_object(text) == {"obj": 1}


def test_an_unlabelled_fence_counts_too() -> None:
    assert last_json_object('```\n{"x": 1}\n```') == {"x": 1}


def test_a_whole_message_that_is_an_object_is_read() -> None:
    assert last_json_object('  {"verdict": "pass", "score": 91}\n') == {
        "verdict": "pass",
        "score": 91,
    }


def test_a_trailing_object_in_prose_is_found() -> None:
    text = 'I ran the tests. Everything works. {"status": "ok", "nested": {"n": 1}}'
    assert last_json_object(text) == {"status": "ok", "nested": {"n": 1}}


def test_an_object_after_an_unbalanced_brace_is_still_found() -> None:
    text = 'Use {braces carefully. Result: {"x": {"y": 1}}'
    assert last_json_object(text) == {"x": {"y": 1}}


def test_the_last_object_in_prose_wins() -> None:
    text = 'First {"a": 1} and then {"b": 2} at the end.'
    assert last_json_object(text) == {"b": 2}


@pytest.mark.parametrize(
    "text",
    ["", "no json here", "[1, 2]", "```json\nnot json\n```", "{broken: json}", '"a string"'],
)
def test_text_without_a_json_object_gives_none(text: str) -> None:
    assert last_json_object(text) is None
