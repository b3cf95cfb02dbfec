"""Brahmi's built-in skills are valid Agent Skills and answer every search the planners make.

Each folder under ``src/brahmi/skills/builtin`` is checked against the Agent Skills
specification's frontmatter rules (only six top-level keys, ``metadata`` values are
strings), against DESIGN §1 (name, description, category) and against Brahmi's own
loader. The set as a whole must answer each ``search_skills(category, tag)`` the seed
planners make, and every example payload in a planner's body must be a batch Brahmi
accepts, naming real built-in skills.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from brahmi.domain.batch import normalise_batch
from brahmi.skills.catalog import BUILTIN_DIR, BUILTIN_OWNER_REPO, SkillCatalog
from brahmi.skills.skill import load_skill

ALLOWED_TOP_LEVEL = {"name", "description", "license", "compatibility", "metadata", "allowed-tools"}
CATEGORIES = {
    "planner",
    "development",
    "testing",
    "critique",
    "deployment",
    "devops",
    "data",
    "meta",
}
NAME_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
MAX_BODY_LINES = 500

#: The skills this set must hold: folder -> (category, tags, runtime).
EXPECTED = {
    "default-planner": ("planner", "planner,default,backend,frontend", "claude-code"),
    "backend-planner": ("planner", "planner,backend", "claude-code"),
    "frontend-planner": ("planner", "planner,frontend", "claude-code"),
    "backend-development": ("development", "backend,api,development", "claude-code"),
    "frontend-development": ("development", "frontend,ui,development", "claude-code"),
    "backend-testing": ("testing", "backend,testing,qa", "claude-code"),
    "frontend-testing": ("testing", "frontend,testing,qa", "claude-code"),
    "backend-critique": ("critique", "backend,critique,review,qa", "claude-code"),
    "frontend-critique": ("critique", "frontend,critique,review,qa", "claude-code"),
    "aramb-metadata": (
        "development",
        "metadata,aramb,configuration,backend,frontend",
        "claude-code",
    ),
    "backend-deployment": ("deployment", "backend,deployment", "claude-code"),
    "frontend-deployment": ("deployment", "frontend,deployment", "claude-code"),
    "aramb-metadata-generate": ("development", "metadata,aramb,toml,services", "command"),
    "local-deployment": ("deployment", "deployment,backend,frontend,local", "command"),
}

#: Every (category, tag) search the seed planners make (seeds 000, 003, 004).
SEED_SEARCHES = [
    ("development", "backend"),
    ("development", "frontend"),
    ("development", "metadata"),
    ("testing", "backend"),
    ("testing", "frontend"),
    ("critique", "backend"),
    ("critique", "frontend"),
    ("deployment", "backend"),
    ("deployment", "frontend"),
]

PLANNER_TOOLS = [
    "search_skills",
    "create_tasks_batch",
    "create_task",
    "create_subtask",
    "resume_task",
    "get_task",
    "list_tasks",
    "user_response",
]
FEEDBACK_FIELDS = [
    "summary",
    "issues",
    "tests_written",
    "tests_failing",
    "files_reviewed",
    "what_works",
    "what_doesnt_work",
]
ISSUE_FIELDS = ["what", "expected", "actual", "location", "suggestion", "severity"]

FOLDERS = sorted(p for p in BUILTIN_DIR.iterdir() if (p / "SKILL.md").is_file())
FULL_IDS = frozenset(f"{BUILTIN_OWNER_REPO}/{p.name}" for p in FOLDERS)
_FRONTMATTER = re.compile(r"\A---\n(.*?)\n---\n(.*)\Z", re.DOTALL)
_JSON_BLOCK = re.compile(r"```json\n(.*?)```", re.DOTALL)
#: A path into the skill's own folder; not part of a URL or a longer path.
_RESOURCE_PATH = re.compile(r"(?<![\w/.:-])((?:references|scripts|assets)/[\w./-]+\w)")


def _parse(folder: Path) -> tuple[dict[str, Any], str]:
    text = (folder / "SKILL.md").read_text(encoding="utf-8")
    match = _FRONTMATTER.match(text)
    assert match, f"{folder.name}: SKILL.md must open with a '---' frontmatter block"
    data = yaml.safe_load(match.group(1))
    assert isinstance(data, dict), f"{folder.name}: the frontmatter is not a mapping"
    return data, match.group(2)


PARSED = {p.name: _parse(p) for p in FOLDERS}


def _tags(meta: dict[str, Any]) -> list[str]:
    return [t.strip() for t in str(meta.get("tags", "")).split(",") if t.strip()]


def _search(category: str, tag: str) -> list[str]:
    """The names a ``search_skills(category, tag)`` over the built-in set returns."""
    found = []
    for name, (data, _body) in PARSED.items():
        meta = data.get("metadata") or {}
        if str(meta.get("category", "")).lower() != category.lower():
            continue
        if tag.lower() in (t.lower() for t in _tags(meta)):
            found.append(name)
    return found


def _json_blocks(body: str) -> list[Any]:
    return [json.loads(block) for block in _JSON_BLOCK.findall(body)]


def _batch_payloads(body: str) -> list[list[Any]]:
    """The task lists in a body's json blocks: a bare list of tasks or ``{"tasks": [...]}``."""
    payloads = []
    for value in _json_blocks(body):
        if isinstance(value, dict) and isinstance(value.get("tasks"), list):
            payloads.append(value["tasks"])
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            payloads.append(value)
    return payloads


def _category(name: str) -> str:
    return str(PARSED[name][0]["metadata"]["category"])


PLANNERS = [name for name in PARSED if _category(name) == "planner"]
QA_SKILLS = [name for name in PARSED if _category(name) in {"testing", "critique"}]


def test_the_set_holds_every_expected_skill() -> None:
    assert set(EXPECTED) <= set(PARSED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_expected_skill_has_its_category_tags_and_runtime(name: str) -> None:
    category, tags, runtime = EXPECTED[name]
    meta = PARSED[name][0]["metadata"]
    assert meta["category"] == category
    assert meta["tags"] == tags
    assert meta["brahmi-runtime"] == runtime
    assert PARSED[name][0]["license"] == "Apache-2.0"


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_frontmatter_follows_the_agent_skills_specification(folder: Path) -> None:
    data, _body = PARSED[folder.name]
    assert set(data) <= ALLOWED_TOP_LEVEL, f"extra keys: {set(data) - ALLOWED_TOP_LEVEL}"

    name = data["name"]
    assert name == folder.name
    assert isinstance(name, str)
    assert len(name) <= 64
    assert NAME_RE.match(name)

    description = data["description"]
    assert isinstance(description, str)
    assert 1 <= len(description) <= 1024
    assert "<" not in description
    assert ">" not in description
    assert "use" in description.lower(), "the description says when to use the skill"

    meta = data["metadata"]
    assert isinstance(meta, dict)
    for key, value in meta.items():
        assert isinstance(value, str), f"metadata.{key} must be a string, not {value!r}"
    assert meta["category"] in CATEGORIES
    assert _tags(meta), "at least one tag"

    if "allowed-tools" in data:
        assert isinstance(data["allowed-tools"], str)
        assert data["allowed-tools"].split()
    if "license" in data:
        assert isinstance(data["license"], str)


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_body_is_present_and_under_500_lines(folder: Path) -> None:
    body = PARSED[folder.name][1]
    assert body.strip()
    assert len(body.splitlines()) < MAX_BODY_LINES


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_resources_named_in_the_body_exist(folder: Path) -> None:
    body = PARSED[folder.name][1]
    for relative in _RESOURCE_PATH.findall(body):
        assert (folder / relative).is_file(), f"{folder.name}: {relative} is missing"


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_brahmi_loads_the_skill(folder: Path) -> None:
    skill = load_skill(folder, BUILTIN_OWNER_REPO)
    data, body = PARSED[folder.name]
    assert skill.full_id == f"brahmi/builtin/{folder.name}"
    assert skill.category == data["metadata"]["category"]
    assert list(skill.tags) == _tags(data["metadata"])
    assert skill.runtime == data["metadata"].get("brahmi-runtime")
    assert skill.body.strip() == body.strip()


def test_the_catalog_loads_every_builtin_without_problems() -> None:
    catalog = SkillCatalog.with_builtins()
    assert catalog.problems == []
    assert catalog.full_ids() == FULL_IDS


@pytest.mark.parametrize(("category", "tag"), SEED_SEARCHES)
def test_the_set_answers_each_search_of_the_seed_planners(category: str, tag: str) -> None:
    assert _search(category, tag), f"search_skills({category!r}, {tag!r}) finds nothing"


def test_each_seed_search_finds_its_dedicated_skill() -> None:
    assert "backend-development" in _search("development", "backend")
    assert "frontend-development" in _search("development", "frontend")
    assert _search("development", "metadata") == ["aramb-metadata", "aramb-metadata-generate"]
    assert "backend-testing" in _search("testing", "backend")
    assert "frontend-critique" in _search("critique", "frontend")
    assert _search("deployment", "frontend") == ["frontend-deployment", "local-deployment"]
    assert _search("deployment", "backend") == ["backend-deployment", "local-deployment"]


def test_deterministic_metadata_and_deployment_skills_run_on_the_command_runtime() -> None:
    for name, step in (
        ("aramb-metadata-generate", "metadata_generate"),
        ("local-deployment", "local_deploy"),
    ):
        meta = PARSED[name][0]["metadata"]
        assert meta["brahmi-runtime"] == "command"
        assert meta["brahmi-command"] == f"{{python}} -P -m brahmi.steps.{step}"


def test_search_matches_category_case_insensitively() -> None:
    assert _search("Deployment", "BACKEND") == _search("deployment", "backend")


@pytest.mark.parametrize("name", PLANNERS)
def test_planner_json_blocks_parse_and_example_batches_validate(name: str) -> None:
    body = PARSED[name][1]
    assert _json_blocks(body), "a planner shows at least one json example"
    payloads = _batch_payloads(body)
    assert payloads, "a planner shows a complete create_tasks_batch payload"
    for tasks in payloads:
        batch = normalise_batch(tasks, skills=FULL_IDS)
        assert not batch.warnings, batch.warnings
        categories = {_category(t.skill_id.rsplit("/", 1)[-1]) for t in batch.tasks}
        assert {"development", "deployment"} <= categories
        assert categories & {"testing", "critique"}
        assert any(t.critiques for t in batch.tasks), "the QA task names critiques_tasks"
        for spec in tasks:
            assert "unique_id" in spec, "planners teach the snake_case dialect"


@pytest.mark.parametrize("name", PLANNERS)
def test_planner_names_every_tool_exactly(name: str) -> None:
    body = PARSED[name][1]
    for tool in PLANNER_TOOLS:
        assert re.search(rf"\b{tool}\b", body), f"{name} never mentions {tool}"
    assert "UserResponse" not in body


@pytest.mark.parametrize("name", sorted(PARSED))
def test_every_json_block_parses(name: str) -> None:
    _json_blocks(PARSED[name][1])


@pytest.mark.parametrize("name", QA_SKILLS)
def test_qa_skills_teach_the_verdict_and_feedback_shape(name: str) -> None:
    body = PARSED[name][1]
    examples = [v for v in _json_blocks(body) if isinstance(v, dict) and "verdict" in v]
    assert examples, f"{name} shows an example verdict"
    for example in examples:
        assert example["verdict"] in {"pass", "fail"}
        assert 0 <= example.get("score", 0) <= 100
        if example["verdict"] == "fail":
            feedback = example["feedback_for_rebuild"]
            assert list(feedback) == FEEDBACK_FIELDS
            for issue in feedback["issues"]:
                assert list(issue) == ISSUE_FIELDS
    assert "rebuild_stalled" in body
