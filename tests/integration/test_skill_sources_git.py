"""Git sources of skills with real repositories (DESIGN §1): clone at a pinned commit,
``--ref`` a tag or a branch, ``update`` to a new commit, ``remove`` the clone.

Each test builds its repositories with the ``git`` program in ``tmp_path`` and adds them
through ``file://`` URLs; nothing reaches the network.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from brahmi import errors
from brahmi.config import Settings
from brahmi.registry import SkillRegistry
from brahmi.service import Brahmi

if shutil.which("git") is None:
    pytest.skip("the git program is not installed", allow_module_level=True)

#: ``git`` options that keep the tests independent of the user's git configuration.
GIT_CONFIG = (
    "-c",
    "user.email=t@t",
    "-c",
    "user.name=t",
    "-c",
    "commit.gpgsign=false",
    "-c",
    "tag.gpgsign=false",
    "-c",
    "init.defaultBranch=main",
)


@dataclass(frozen=True)
class Repo:
    """A git repository of skills in a folder named ``.../owner/repo``."""

    path: Path

    @property
    def url(self) -> str:
        """Its ``file://`` URL."""
        return self.path.as_uri()

    def git(self, *args: str) -> str:
        """Run ``git ARGS`` in the repository; its stdout, stripped."""
        done = subprocess.run(
            ["git", *GIT_CONFIG, "-C", str(self.path), *args],
            capture_output=True,
            encoding="utf-8",
            check=True,
            stdin=subprocess.DEVNULL,
        )
        return done.stdout.strip()

    def write_skill(self, name: str, description: str = "") -> None:
        """A skill folder ``name`` in the work tree (not yet committed)."""
        folder = self.path / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "SKILL.md").write_text(
            f"---\nname: {name}\ndescription: {description or f'The {name} skill.'}\n"
            f"metadata:\n  category: development\n  tags: git,{name}\n---\n\n# {name}\n",
            encoding="utf-8",
        )

    def commit(self, message: str) -> str:
        """Commit everything in the work tree; the new commit."""
        self.git("add", "--all")
        self.git("commit", "--quiet", "--message", message)
        return self.git("rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    """``acme/skills``: one commit holding the skill ``alpha``."""
    path = tmp_path / "remotes" / "acme" / "skills"
    path.mkdir(parents=True)
    repo = Repo(path)
    repo.git("init", "--quiet")
    repo.write_skill("alpha", "Alpha at the first commit.")
    repo.commit("first")
    return repo


@pytest.fixture
def brahmi(settings: Settings) -> Iterator[Brahmi]:
    """A Brahmi on a real SQLite file in ``settings.home``."""
    instance = Brahmi(settings)
    yield instance
    instance.close()


@pytest.fixture
def registry(brahmi: Brahmi) -> SkillRegistry:
    """The registry of ``brahmi``."""
    return brahmi.registry


def clones(settings: Settings) -> list[str]:
    """The folders git sources are cloned into."""
    root = settings.home / "skills"
    return sorted(p.name for p in root.iterdir()) if root.is_dir() else []


def added_kinds(registry: SkillRegistry) -> list[str]:
    """The kind of every registered source."""
    return [s.kind for s in registry.sources()]


def test_a_file_url_is_cloned_at_a_pinned_commit_under_its_last_two_parts(
    registry: SkillRegistry, repo: Repo, settings: Settings
) -> None:
    head = repo.git("rev-parse", "HEAD")

    record, outcome = registry.add(repo.url)

    assert (record.kind, record.owner_repo, record.commit) == ("git", "acme/skills", head)
    assert record.location == repo.url
    assert Path(record.path).parent == settings.home / "skills"
    assert (Path(record.path) / "alpha" / "SKILL.md").is_file()
    assert outcome.indexed == 1
    skill = registry.get("acme/skills/alpha")
    assert skill.commit == head
    assert skill.version.startswith("sha256:")
    assert skill.version.endswith(f"+git:{head[:12]}")
    assert [h.full_id for h in registry.search(tag="git")] == ["acme/skills/alpha"]


def test_a_git_source_takes_the_owner_repo_given(registry: SkillRegistry, repo: Repo) -> None:
    record, _ = registry.add(repo.url, owner_repo="team/library")

    assert record.owner_repo == "team/library"
    assert registry.get("team/library/alpha").name == "alpha"


def test_update_picks_up_a_new_commit(registry: SkillRegistry, repo: Repo) -> None:
    first = repo.git("rev-parse", "HEAD")
    registry.add(repo.url)
    before = registry.get("acme/skills/alpha").version

    repo.write_skill("alpha", "Alpha at the second commit.")
    repo.write_skill("beta")
    second = repo.commit("second")
    [(record, outcome)] = registry.update("acme/skills")

    assert record.commit == second != first
    assert outcome.indexed == 2
    alpha = registry.get("acme/skills/alpha")
    assert alpha.description == "Alpha at the second commit."
    assert alpha.commit == second
    assert alpha.version != before
    assert alpha.version.endswith(f"+git:{second[:12]}")
    assert registry.get("acme/skills/beta").commit == second
    assert registry.resolve_source(repo.url).commit == second


def test_an_unchanged_skill_gets_a_new_version_with_the_new_commit(
    registry: SkillRegistry, repo: Repo
) -> None:
    registry.add(repo.url)
    before = registry.get("acme/skills/alpha").version

    repo.write_skill("beta")
    second = repo.commit("second")
    registry.update()

    after = registry.get("acme/skills/alpha").version
    assert after.split("+")[0] == before.split("+")[0]
    assert after == f"{before.split('+')[0]}+git:{second[:12]}"


def test_ref_pins_a_tag_and_update_stays_on_it(registry: SkillRegistry, repo: Repo) -> None:
    tagged = repo.git("rev-parse", "HEAD")
    repo.git("tag", "v1")
    repo.write_skill("beta")
    repo.commit("second")

    record, outcome = registry.add(repo.url, ref="v1")

    assert (record.ref, record.commit) == ("v1", tagged)
    assert outcome.indexed == 1
    assert registry.find("acme/skills/beta") is None

    repo.write_skill("gamma")
    repo.commit("third")
    [(updated, _)] = registry.update(repo.url)

    assert updated.commit == tagged
    assert registry.find("acme/skills/gamma") is None


def test_ref_follows_a_branch_on_update(registry: SkillRegistry, repo: Repo) -> None:
    repo.git("checkout", "--quiet", "-b", "stable")
    repo.write_skill("stable-only")
    on_branch = repo.commit("stable work")
    repo.git("checkout", "--quiet", "main")
    repo.write_skill("main-only")
    repo.commit("main work")

    record, _ = registry.add(repo.url, ref="stable")

    assert record.commit == on_branch
    assert "acme/skills/stable-only" in registry.full_ids()
    assert "acme/skills/main-only" not in registry.full_ids()

    repo.git("checkout", "--quiet", "stable")
    repo.write_skill("stable-later")
    later = repo.commit("more stable work")
    [(updated, _)] = registry.update("acme/skills")

    assert updated.commit == later
    assert "acme/skills/stable-later" in registry.full_ids()
    assert "acme/skills/main-only" not in registry.full_ids()


def test_a_ref_that_does_not_exist_is_invalid_skill(
    registry: SkillRegistry, repo: Repo, settings: Settings
) -> None:
    with pytest.raises(errors.InvalidSkill) as raised:
        registry.add(repo.url, ref="no-such-branch")

    assert raised.value.code == "invalid_skill"
    assert added_kinds(registry) == ["builtin"]
    assert clones(settings) == []


def test_remove_deletes_the_clone_and_forgets_the_skills(
    registry: SkillRegistry, repo: Repo, settings: Settings
) -> None:
    record, _ = registry.add(repo.url)
    assert Path(record.path).is_dir()

    registry.remove("acme/skills")

    assert not Path(record.path).exists()
    assert clones(settings) == []
    assert registry.find("acme/skills/alpha") is None
    assert added_kinds(registry) == ["builtin"]
    assert (repo.path / "alpha" / "SKILL.md").is_file()  # the repository itself is untouched


@pytest.mark.parametrize(
    ("url", "owner_repo"),
    [
        ("-x/acme/skills.git", None),
        ("--upload-pack=touch pwned/acme/skills.git", None),
        ("--upload-pack=touch pwned.git", "acme/skills"),
    ],
    ids=["dash-url", "upload-pack-url", "upload-pack-with-as"],
)
def test_a_url_starting_with_a_dash_is_refused(
    registry: SkillRegistry, settings: Settings, tmp_path: Path, url: str, owner_repo: str | None
) -> None:
    with pytest.raises(errors.InvalidSkill) as raised:
        registry.add(url, owner_repo=owner_repo)

    assert raised.value.code == "invalid_skill"
    assert added_kinds(registry) == ["builtin"]
    assert clones(settings) == []
    assert not (tmp_path / "pwned").exists()


def test_a_repository_that_does_not_exist_fails_and_registers_nothing(
    registry: SkillRegistry, settings: Settings, tmp_path: Path
) -> None:
    missing = (tmp_path / "remotes" / "acme" / "nothing").as_uri()

    with pytest.raises(errors.InvalidSkill) as raised:
        registry.add(missing)

    assert raised.value.code == "invalid_skill"
    assert added_kinds(registry) == ["builtin"]
    assert clones(settings) == []
    assert not any(f.startswith("acme/") for f in registry.full_ids())


def test_a_malformed_skill_in_a_repository_is_reported_and_skipped(
    registry: SkillRegistry, repo: Repo
) -> None:
    broken = repo.path / "broken"
    broken.mkdir()
    (broken / "SKILL.md").write_text("---\nname: [\n---\n", encoding="utf-8")
    repo.commit("broken skill")

    _, outcome = registry.add(repo.url)

    assert outcome.indexed == 1
    assert [p.code for p in outcome.problems] == ["invalid_yaml"]
    assert [p["code"] for p in registry.index.problems()] == ["invalid_yaml"]


def test_a_second_repository_cannot_take_the_owner_repo_of_the_first(
    registry: SkillRegistry, repo: Repo, tmp_path: Path
) -> None:
    other_path = tmp_path / "remotes" / "other" / "place"
    other_path.mkdir(parents=True)
    other = Repo(other_path)
    other.git("init", "--quiet")
    other.write_skill("omega")
    other.commit("first")
    first, _ = registry.add(repo.url, owner_repo="team/skills")

    with pytest.raises(errors.InvalidSkill) as raised:
        registry.add(other.url, owner_repo="team/skills")

    assert raised.value.code == "invalid_skill"
    assert (Path(first.path) / "alpha" / "SKILL.md").is_file()  # its clone is untouched
    assert registry.get("team/skills/alpha").commit == first.commit
    assert [s.location for s in registry.sources()][1:] == [repo.url]


def test_adding_a_url_again_under_another_owner_repo_moves_its_clone(
    registry: SkillRegistry, repo: Repo, settings: Settings
) -> None:
    registry.add(repo.url)

    record, _ = registry.add(repo.url, owner_repo="team/renamed")

    assert clones(settings) == [Path(record.path).name]
    assert registry.get("team/renamed/alpha").name == "alpha"
    assert registry.find("acme/skills/alpha") is None
    assert [s.owner_repo for s in registry.sources()][1:] == ["team/renamed"]
