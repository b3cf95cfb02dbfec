"""Skills a project workspace ships (``.agents/skills``, ``.claude/skills``) are a source of
that project (issue 15): indexed as ``project/<project>/<name>`` when the project is
opened or its planner searches, re-indexed when they change, and never overriding a
registered skill silently. Real workspaces in ``tmp_path``, a real SQLite file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from brahmi import errors
from brahmi.config import Settings
from brahmi.planner.tools import PlannerTools
from brahmi.service import Brahmi
from tests.skill_trees import write_skill


@pytest.fixture
def brahmi(settings: Settings) -> Iterator[Brahmi]:
    """A Brahmi on a real SQLite file in ``settings.home``."""
    instance = Brahmi(settings)
    yield instance
    instance.close()


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """The workspace ``shop`` shipping one skill in each of its two skill folders."""
    root = tmp_path / "shop"
    write_skill(root / ".claude" / "skills" / "deploy-shop", "deploy-shop", "Deploys the shop.")
    write_skill(root / ".agents" / "skills" / "seed-catalog", "seed-catalog", "Seeds products.")
    write_skill(root / "docs" / "not-a-project-skill", "not-a-project-skill")
    return root


def project_skills(brahmi: Brahmi) -> dict[str, str]:
    """``full_id → description`` of every indexed project skill."""
    return {
        h.full_id: h.description
        for h in brahmi.registry.search(limit=1000)
        if h.full_id.startswith("project/")
    }


def test_opening_a_project_indexes_the_skills_its_workspace_ships(
    brahmi: Brahmi, workspace: Path
) -> None:
    brahmi.project_for(workspace)

    # Only .agents/skills and .claude/skills: the rest of the workspace is the project's.
    assert project_skills(brahmi) == {
        "project/shop/deploy-shop": "Deploys the shop.",
        "project/shop/seed-catalog": "Seeds products.",
    }
    [source] = [s for s in brahmi.registry.sources() if s.kind == "project"]
    assert (source.owner_repo, source.path) == ("project/shop", str(workspace))


def test_a_task_may_name_a_project_skill(brahmi: Brahmi, workspace: Path) -> None:
    project = brahmi.project_for(workspace)

    created = brahmi.create_tasks_batch(
        project.id,
        [{"task_name": "Deploy it", "skill_id": "project/shop/deploy-shop", "task_order": 1}],
    )

    [task] = brahmi.list_tasks(project_id=project.id)
    assert task.id in created.task_ids.values()
    assert task.skill_id == "project/shop/deploy-shop"


def test_changed_added_and_removed_project_skills_are_reindexed_when_opened_again(
    brahmi: Brahmi, workspace: Path
) -> None:
    brahmi.project_for(workspace)
    write_skill(
        workspace / ".claude" / "skills" / "deploy-shop",
        "deploy-shop",
        "Deploys the shop to the staging cluster first.",
    )
    write_skill(workspace / ".claude" / "skills" / "rollback", "rollback", "Rolls back.")
    (workspace / ".agents" / "skills" / "seed-catalog" / "SKILL.md").unlink()

    brahmi.project_for(workspace)

    assert project_skills(brahmi) == {
        "project/shop/deploy-shop": "Deploys the shop to the staging cluster first.",
        "project/shop/rollback": "Rolls back.",
    }


def test_a_symlinked_skill_folder_inside_the_workspace_is_read_and_its_changes_seen(
    brahmi: Brahmi, workspace: Path
) -> None:
    shared = write_skill(workspace / "library" / "audit", "audit", "Audits.")
    (workspace / ".claude" / "skills" / "audit").symlink_to(
        Path("..") / ".." / "library" / "audit", target_is_directory=True
    )
    brahmi.project_for(workspace)
    assert project_skills(brahmi)["project/shop/audit"] == "Audits."

    write_skill(shared, "audit", "Audits the books every quarter.")
    brahmi.project_for(workspace)

    assert project_skills(brahmi)["project/shop/audit"] == "Audits the books every quarter."


def test_unchanged_project_skills_are_not_rewritten(
    brahmi: Brahmi, settings: Settings, workspace: Path
) -> None:
    brahmi.project_for(workspace)
    [before] = [s for s in brahmi.registry.sources() if s.kind == "project"]

    again = Brahmi(settings)  # another process: it reads the files, finds them indexed
    try:
        outcome = again.registry.sync_project(workspace, "shop")
        assert again.registry.sync_project(workspace, "shop") is None  # nothing even read
        [after] = [s for s in again.registry.sources() if s.kind == "project"]
    finally:
        again.close()

    assert outcome is None
    assert after.indexed_at == before.indexed_at


def test_a_workspace_that_no_longer_ships_skills_loses_them(
    brahmi: Brahmi, workspace: Path
) -> None:
    brahmi.project_for(workspace)
    for folder in (".claude", ".agents"):
        for skill_md in (workspace / folder / "skills").rglob("SKILL.md"):
            skill_md.unlink()
        for sub in sorted((workspace / folder / "skills").iterdir(), reverse=True):
            sub.rmdir()
        (workspace / folder / "skills").rmdir()

    brahmi.project_for(workspace)

    assert project_skills(brahmi) == {}
    assert [s.kind for s in brahmi.registry.sources()] == ["builtin"]


def test_a_project_skill_named_like_a_registered_one_is_a_warning_and_search_shows_both(
    brahmi: Brahmi, workspace: Path, tmp_path: Path
) -> None:
    library = tmp_path / "ops-library"
    write_skill(library / "deploy-shop", "deploy-shop", "Deploys any shop, the ops way.")
    brahmi.registry.add(str(library), owner_repo="acme/ops")

    brahmi.project_for(workspace)

    found = [h.full_id for h in brahmi.registry.search(q="deploys shop")]
    assert set(found) >= {"acme/ops/deploy-shop", "project/shop/deploy-shop"}
    [problem] = brahmi.registry.index.problems()
    assert (problem["code"], problem["severity"]) == ("name_collision", "warning")
    assert problem["file"] == str(workspace / ".claude/skills/deploy-shop/SKILL.md")
    assert "acme/ops/deploy-shop" in problem["message"]
    # The short name is now ambiguous: neither silently wins.
    with pytest.raises(errors.InvalidBatch) as raised:
        brahmi.validate_batch([{"task_name": "Deploy", "skill_id": "deploy-shop"}])
    assert "acme/ops/deploy-shop" in str(raised.value.problems)


def test_the_planners_search_rereads_the_projects_skills_when_they_changed(
    brahmi: Brahmi, workspace: Path
) -> None:
    project = brahmi.project_for(workspace)
    session = brahmi.planner_session(project.id)
    tools = PlannerTools(brahmi, project.id, session.id)
    write_skill(workspace / ".agents" / "skills" / "price-audit", "price-audit", "Audits prices.")

    hits = tools.search_skills(q="audits prices")

    assert hits[0].full_id == "project/shop/price-audit"


def test_project_skills_cannot_be_removed_nor_their_owner_taken_by_a_source(
    brahmi: Brahmi, workspace: Path, tmp_path: Path
) -> None:
    brahmi.project_for(workspace)
    write_skill(tmp_path / "other" / "thing", "thing")

    with pytest.raises(errors.InvalidSkill):
        brahmi.registry.remove("project/shop")
    with pytest.raises(errors.InvalidSkill):
        brahmi.registry.add(str(tmp_path / "other"), owner_repo="project/shop")

    assert "project/shop/deploy-shop" in brahmi.registry.full_ids()
