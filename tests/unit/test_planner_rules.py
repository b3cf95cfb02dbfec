"""The planner's pure rules (DESIGN §7): the template planner's decisions, choosing a
planner, what a message may be, and how a trigger reads. No I/O."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from brahmi import errors
from brahmi.domain import triggers
from brahmi.domain.batch import normalise_batch
from brahmi.domain.models import TaskRecord, TaskStatus
from brahmi.planner import template

B = "brahmi/builtin/"
SKILLS = {
    side: {
        "development": f"{B}{side}-development",
        "qa": f"{B}{side}-testing",
        "metadata": f"{B}aramb-metadata",
        "deployment": f"{B}{side}-deployment",
    }
    for side in ("backend", "frontend")
}
FULL_IDS = frozenset(v for side in SKILLS.values() for v in side.values())


def task(name: str, status: TaskStatus, order: int, **fields: Any) -> TaskRecord:
    return TaskRecord(
        id=f"id-{order}",
        project_id="p",
        user_id="u",
        parent_id=None,
        position=None,
        batch_id="b",
        batch_key=str(order),
        skill_id=f"{B}run-command",
        skill_version=None,
        task_name=name,
        description="",
        task_order=order,
        inputs=fields.pop("inputs", {}),
        validation_criteria={},
        timeout_seconds=60,
        max_attempts=3,
        max_rebuilds=3,
        is_qa=False,
        status=status,
        outputs=fields.pop("outputs", None),
        error=fields.pop("error", None),
        error_code=None,
        attempts=1,
        rebuilds=0,
        session_ref=None,
        subtasks_completed=False,
        current_attempt_id=None,
        lease_owner=None,
        lease_expires_at=None,
        run_after=0.0,
        created_at=float(order),
        updated_at=float(order),
        started_at=None,
        finished_at=fields.pop("finished_at", float(order) if status.is_terminal else None),
    )


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Build a todo API with create and list endpoints.", "instruction"),
        ("Please add a dark mode toggle", "instruction"),
        ("Can you fix the login page?", "instruction"),
        ("What's the public URL?", "inquiry"),
        ("which framework did you use", "inquiry"),
        ("The API should also export CSV?", "inquiry"),
        ("A landing page for my bakery", "instruction"),
    ],
)
def test_a_message_is_an_inquiry_or_an_instruction(text: str, kind: str) -> None:
    assert template.classify(text) == kind


@pytest.mark.parametrize(
    ("text", "domain"),
    [
        ("Build a todo API with Postgres", "backend"),
        ("Create a landing page with a signup form", "frontend"),
        ("Build a React dashboard backed by a REST API", "both"),
        ("A full-stack notes app", "both"),
        ("Make it faster", "backend"),
    ],
)
def test_the_domain_comes_from_the_words_of_the_request(text: str, domain: str) -> None:
    assert template.detect_domain(text) == domain


def test_the_qa_role_searches_testing_then_critique() -> None:
    searches = template.skill_searches("frontend")
    assert searches["qa"] == [
        template.Search("testing", "frontend"),
        template.Search("critique", "frontend"),
    ]
    assert searches["metadata"] == [template.Search("development", "metadata")]


def test_the_batch_is_build_qa_metadata_deployment_and_validates() -> None:
    request = "Build a todo API with create and list endpoints. Items have a title."
    specs = template.build_batch(request, "backend", SKILLS)

    batch = normalise_batch(specs, skills=FULL_IDS)

    assert [s["skill_id"] for s in specs] == [
        f"{B}backend-development",
        f"{B}backend-testing",
        f"{B}aramb-metadata",
        f"{B}backend-deployment",
    ]
    assert [s["logical_dependencies"] for s in specs] == [[], [1], [2], [3]]
    qa = specs[1]["inputs"]
    assert qa["critiques_tasks"] == [1]
    assert qa["original_prompt"] == request
    assert qa["preceding_task"]["task_name"] == specs[0]["task_name"]
    assert qa["user_expectations"][:2] == [
        "Build a todo API with create and list endpoints",
        "Items have a title",
    ]
    assert specs[0]["inputs"]["requirements"] == request
    assert [bool(t.critiques) for t in batch.tasks] == [False, True, False, False]


def test_a_full_stack_batch_builds_and_tests_each_side_then_deploys_the_frontend() -> None:
    specs = template.build_batch("A React page over a REST API", "both", SKILLS)

    normalise_batch(specs, skills=FULL_IDS)
    assert len(specs) == 6
    assert [s["inputs"].get("critiques_tasks") for s in specs[:4]] == [None, [1], None, [3]]
    assert specs[4]["logical_dependencies"] == [2, 4]
    assert specs[5]["skill_id"] == f"{B}frontend-deployment"


def test_a_long_request_gives_task_names_within_limits() -> None:
    specs = template.build_batch("build " + "very " * 200 + "long thing", "backend", SKILLS)
    normalise_batch(specs, skills=FULL_IDS)
    assert all(3 <= len(s["task_name"]) <= 255 for s in specs)


def test_an_inquiry_is_answered_from_the_deployment_and_build_outputs() -> None:
    tasks = [
        task("Build it", TaskStatus.COMPLETED, 1, outputs={"framework": "FastAPI"}),
        task("QA", TaskStatus.COMPLETED, 2, outputs={"verdict": "pass", "score": 92}),
        task("Deploy", TaskStatus.COMPLETED, 4, outputs={"public_url": "http://x.test"}),
    ]

    assert "http://x.test" in template.answer_inquiry("What's the URL?", tasks)
    assert "FastAPI" in template.answer_inquiry("Which framework did you use?", tasks)
    assert "pass" in template.answer_inquiry("Did the tests pass?", tasks)
    assert "Build it: completed" in template.answer_inquiry("How is it going?", tasks)
    assert "not created any tasks" in template.answer_inquiry("What's the URL?", [])


def test_an_inquiry_without_an_answer_says_so_and_what_is_still_open() -> None:
    tasks = [task("Deploy", TaskStatus.RUNNING, 4)]
    answer = template.answer_inquiry("where is it deployed?", tasks)
    assert "None of the tasks reported the public url yet" in answer
    assert "1 task(s) are still running" in answer


def test_the_summary_goes_out_once_on_the_task_that_finished_last() -> None:
    batch = [
        task("Build", TaskStatus.COMPLETED, 1, finished_at=10.0),
        task("Deploy", TaskStatus.COMPLETED, 2, finished_at=20.0),
    ]
    assert template.last_to_settle("id-2", batch)
    assert not template.last_to_settle("id-1", batch)
    assert not template.last_to_settle(
        "id-2", [*batch[:1], replace(batch[1], status=TaskStatus.RUNNING)]
    )


def test_a_failure_message_names_the_task_its_error_what_it_blocked_and_how_to_retry() -> None:
    failed = task("QA", TaskStatus.FAILED, 2, error="max_rebuilds_exceeded after 3 turns")
    blocked = task("Deploy", TaskStatus.BLOCKED, 3)
    text = template.failure_message(failed, [failed, blocked])
    assert "“QA” failed: max_rebuilds_exceeded after 3 turns" in text
    assert "“Deploy”" in text
    assert "brahmi tasks retry id-2" in text


def test_the_summary_lists_every_task_and_the_public_url() -> None:
    batch = [
        task("Build", TaskStatus.COMPLETED, 1, inputs={"original_prompt": "Build an API"}),
        task("Deploy", TaskStatus.COMPLETED, 2, outputs={"public_url": "http://x.test"}),
    ]
    text = template.summary(batch)
    assert text.startswith("All 2 tasks are done for “Build an API”")
    assert "It is live at http://x.test." in text


PLANNERS = [
    (f"{B}default-planner", "default-planner"),
    (f"{B}template-planner", "template-planner"),
]


@pytest.mark.parametrize(
    ("name", "full_id"),
    [
        (None, f"{B}default-planner"),
        ("template", f"{B}template-planner"),
        ("default-planner", f"{B}default-planner"),
        (f"{B}template-planner", f"{B}template-planner"),
    ],
)
def test_a_planner_is_chosen_by_full_id_short_name_or_template(
    name: str | None, full_id: str
) -> None:
    assert triggers.choose_planner(name, PLANNERS) == full_id


def test_an_unknown_or_ambiguous_planner_is_refused_with_the_known_ones() -> None:
    with pytest.raises(errors.PlannerNotFound) as unknown:
        triggers.choose_planner("nope", PLANNERS)
    assert unknown.value.code == "planner_not_found"
    assert f"{B}default-planner" in unknown.value.message
    with pytest.raises(errors.PlannerNotFound):
        triggers.choose_planner("p", [("a/b/p", "p"), ("c/d/p", "p")])


@pytest.mark.parametrize("text", ["", "   \n", "x" * (triggers.MAX_MESSAGE_CHARS + 1), None])
def test_an_empty_huge_or_non_text_message_is_refused(text: Any) -> None:
    with pytest.raises(errors.InvalidMessage) as refused:
        triggers.check_message(text)
    assert refused.value.code == "invalid_message"


def test_a_task_completed_trigger_reads_like_the_seeds_block() -> None:
    text = triggers.render_task_completed(
        {
            "task_id": "t1",
            "task_name": "Build subscription API",
            "status": "failed",
            "outputs": {"framework": "Go/Chi"},
            "error": "tests failed",
            "error_code": "agent_failed",
        }
    )
    assert text.startswith("## Task Completed\n")
    assert "**Task:** Build subscription API" in text
    assert "**Status:** failed" in text
    assert "**Error:** tests failed (agent_failed)" in text
    assert '```json\n{\n  "framework": "Go/Chi"\n}\n```' in text


def test_a_new_session_is_shown_the_latest_conversation_entries_cut_to_size() -> None:
    history = [("user", f"message {i}") for i in range(triggers.HISTORY_ENTRIES + 5)]
    history.append(("planner", "x" * (triggers.HISTORY_ENTRY_CHARS + 10)))

    note = triggers.new_session_note(history)

    assert note.startswith("(Your earlier session could not be resumed here")
    assert f"(last {triggers.HISTORY_ENTRIES} entries)" in note
    assert "**Person:** message 5\n" not in note and "**Person:** message 6\n" in note
    assert "**You:** " + "x" * triggers.HISTORY_ENTRY_CHARS + "… (cut)" in note
    assert "## Conversation so far" not in triggers.new_session_note([])


def test_a_reply_not_sent_with_user_response_comes_from_the_outputs_else_the_final_text() -> None:
    from brahmi.agents.base import AgentResult
    from brahmi.planner.actor import final_reply

    assert final_reply(AgentResult(ok=True, outputs={"reply": " Hi "}, message="x")) == "Hi"
    assert final_reply(AgentResult(ok=True, message=" The URL is http://x \n")) == (
        "The URL is http://x"
    )
    assert final_reply(AgentResult(ok=True, outputs={"files": 2}, message="{...}")) is None
    assert final_reply(AgentResult(ok=True, message="  ")) is None
