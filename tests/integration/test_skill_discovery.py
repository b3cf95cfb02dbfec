"""Sources laid out as public collections lay them out, and bad input (DESIGN §1, issue 15).

Skills are searched at any depth up to 6, skipping dependencies, virtualenvs, build output
and hidden folders other than ``.agents/skills`` and ``.claude/skills``; a plugin
marketplace manifest is read when present; lenient problems are warnings and the skill
is indexed. Bad input (10,000 folders, a 5 MB SKILL.md, binary SKILL.md files, symlink
loops, a git URL that does not answer) is reported with its path while the rest of the
source indexes. Every source is a real folder or a real git repository in ``tmp_path``,
indexed into a real SQLite file.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from brahmi import errors
from brahmi.config import Settings
from brahmi.registry import SkillRegistry
from brahmi.service import Brahmi
from brahmi.skills import discovery, sources
from tests.skill_trees import (
    LONG_DESCRIPTION,
    anthropic_like,
    claude_dir_like,
    commit_all,
    write_skill,
)


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


def of_source(registry: SkillRegistry, owner_repo: str) -> set[str]:
    """The names of the indexed skills filed under ``owner_repo``."""
    prefix = f"{owner_repo}/"
    return {f.removeprefix(prefix) for f in registry.full_ids() if f.startswith(prefix)}


def problems(registry: SkillRegistry) -> list[tuple[str, str, str]]:
    """``(code, severity, file)`` of every recorded problem, in order."""
    return [(p["code"], p["severity"], p["file"]) for p in registry.index.problems()]


# -- layouts of public collections ----------------------------------------------------------


def test_a_repository_laid_out_like_anthropics_indexes_what_its_marketplace_lists(
    registry: SkillRegistry, tmp_path: Path
) -> None:
    root = anthropic_like(tmp_path / "skills-repo")

    _, outcome = registry.add(str(root), owner_repo="anthropics/skills")

    assert outcome.indexed == 4
    # template/ holds a SKILL.md, but the manifest does not list it.
    assert of_source(registry, "anthropics/skills") == {
        "xlsx",
        "pdf",
        "claude-api",
        "webapp-tester",
    }
    assert registry.get("anthropics/skills/claude-api").description == LONG_DESCRIPTION
    assert registry.get("anthropics/skills/pdf").resources == ("scripts/fill.py",)
    assert problems(registry) == [
        ("unknown_key", "warning", str(root / "skills/xlsx/SKILL.md")),
        ("description_too_long", "warning", str(root / "skills/claude-api/SKILL.md")),
        ("name_mismatch", "warning", str(root / "skills/webapp-testing/SKILL.md")),
    ]
    [hit] = registry.search(q="spreadsheets")
    assert hit.full_id == "anthropics/skills/xlsx"


def test_a_repository_without_a_manifest_is_searched_and_finds_skills_under_skills(
    registry: SkillRegistry, tmp_path: Path
) -> None:
    root = anthropic_like(tmp_path / "skills-repo")
    (root / ".claude-plugin" / "marketplace.json").unlink()

    registry.add(str(root), owner_repo="acme/skills")

    assert of_source(registry, "acme/skills") == {
        "xlsx",
        "pdf",
        "claude-api",
        "webapp-tester",
        "template-skill",
    }


def test_skills_under_claude_skills_are_found_and_dependencies_venvs_and_builds_skipped(
    registry: SkillRegistry, tmp_path: Path
) -> None:
    root = claude_dir_like(tmp_path / "app")

    registry.add(str(root), owner_repo="acme/app")

    # Not node_modules' skill, nor the virtualenvs', nor dist/'s, nor a hidden folder's.
    assert of_source(registry, "acme/app") == {"release-notes", "db-migrate"}
    assert problems(registry) == []


def test_a_skill_folder_named_like_build_output_is_still_a_skill(
    registry: SkillRegistry, tmp_path: Path
) -> None:
    root = tmp_path / "tools"
    write_skill(root / "skills" / "build", "build")
    write_skill(root / "build" / "lib" / "inside-build-output", "inside-build-output")

    registry.add(str(root), owner_repo="acme/tools")

    assert of_source(registry, "acme/tools") == {"build"}


def test_skills_are_found_six_folders_down_and_no_deeper(
    registry: SkillRegistry, tmp_path: Path
) -> None:
    root = tmp_path / "deep"
    write_skill(root / "a" / "b" / "c" / "d" / "e" / "six-down", "six-down")
    write_skill(root / "a" / "b" / "c" / "d" / "e" / "f" / "seven-down", "seven-down")

    registry.add(str(root), owner_repo="acme/deep")

    assert of_source(registry, "acme/deep") == {"six-down"}


def test_two_skills_of_one_source_with_one_name_are_both_reported_and_the_first_kept(
    registry: SkillRegistry, tmp_path: Path
) -> None:
    root = tmp_path / "twice"
    first = write_skill(root / "skills" / "tool", "tool", "The first tool.")
    second = write_skill(root / "extras" / "more" / "tool", "tool", "The second tool.")

    registry.add(str(root), owner_repo="acme/twice")

    assert registry.get("acme/twice/tool").description == "The first tool."
    [problem] = registry.index.problems()
    assert (problem["code"], problem["severity"]) == ("duplicate_name", "error")
    assert problem["file"] == str(second / "SKILL.md")
    assert str(first) in problem["message"]


# -- symlinks -------------------------------------------------------------------------------


def test_a_symlink_out_of_the_source_is_reported_and_not_followed(
    registry: SkillRegistry, tmp_path: Path
) -> None:
    root = tmp_path / "repo"
    write_skill(root / "skills" / "inside", "inside")
    outside = write_skill(tmp_path / "elsewhere" / "secret", "secret")
    link = root / "skills" / "secret"
    link.symlink_to(outside, target_is_directory=True)

    registry.add(str(root), owner_repo="acme/links")

    assert of_source(registry, "acme/links") == {"inside"}
    assert problems(registry) == [("symlink_outside", "warning", str(link))]


def test_a_symlink_inside_the_source_is_followed_once(
    registry: SkillRegistry, tmp_path: Path
) -> None:
    root = tmp_path / "repo"
    real = write_skill(root / "library" / "shared", "shared")
    (root / "skills").mkdir()
    (root / "skills" / "shared").symlink_to(real, target_is_directory=True)

    registry.add(str(root), owner_repo="acme/links")

    assert of_source(registry, "acme/links") == {"shared"}
    assert problems(registry) == []


def test_symlink_loops_are_reported_and_the_rest_of_the_source_indexes(
    registry: SkillRegistry, tmp_path: Path
) -> None:
    root = tmp_path / "loops"
    write_skill(root / "skills" / "good", "good")
    up = root / "skills" / "up"
    up.symlink_to(root, target_is_directory=True)
    itself = root / "itself"
    itself.symlink_to(itself)

    registry.add(str(root), owner_repo="acme/loops")

    assert of_source(registry, "acme/loops") == {"good"}
    assert sorted(problems(registry)) == [
        ("symlink_loop", "warning", str(itself)),
        ("symlink_loop", "warning", str(up)),
    ]


def test_a_dangling_symlink_is_passed_over_in_silence(
    registry: SkillRegistry, tmp_path: Path
) -> None:
    root = tmp_path / "repo"
    write_skill(root / "skills" / "kept", "kept")
    (root / "skills" / "gone").symlink_to(tmp_path / "nowhere", target_is_directory=True)

    registry.add(str(root), owner_repo="acme/dangling")

    assert of_source(registry, "acme/dangling") == {"kept"}
    assert problems(registry) == []


# -- bad input ------------------------------------------------------------------------------


def test_a_source_of_10000_folders_is_searched_up_to_the_limit_and_says_so(
    registry: SkillRegistry, tmp_path: Path
) -> None:
    root = tmp_path / "huge"
    write_skill(root / "skills" / "kept", "kept")
    data = root / "data"
    data.mkdir()
    for i in range(10_000):
        (data / f"f{i:05}").mkdir()

    _, outcome = registry.add(str(root), owner_repo="acme/huge")

    assert outcome.indexed == 1
    assert of_source(registry, "acme/huge") == {"kept"}
    [problem] = registry.index.problems()
    assert (problem["code"], problem["severity"], problem["file"]) == (
        "source_too_large",
        "warning",
        str(root),
    )
    assert f"{discovery.MAX_FOLDERS:,} folders without skills" in problem["message"]


def test_a_5_mb_skill_md_is_refused_unread_and_the_rest_indexes(
    registry: SkillRegistry, tmp_path: Path
) -> None:
    root = tmp_path / "big"
    write_skill(root / "small", "small")
    large = write_skill(root / "large", "large", body="x" * (5 * 1024 * 1024))

    registry.add(str(root), owner_repo="acme/big")

    assert of_source(registry, "acme/big") == {"small"}
    assert problems(registry) == [
        ("skill_md_too_large", "error", str(large / "SKILL.md")),
    ]


def test_binary_files_named_skill_md_are_reported_and_the_rest_indexes(
    registry: SkillRegistry, tmp_path: Path
) -> None:
    root = tmp_path / "binary"
    write_skill(root / "fine", "fine")
    (root / "png").mkdir()
    (root / "png" / "SKILL.md").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + os.urandom(4096))
    (root / "latin1").mkdir()
    (root / "latin1" / "SKILL.md").write_bytes(b"---\nname: latin1\ndescription: caf\xe9\n---\n")

    registry.add(str(root), owner_repo="acme/binary")

    assert of_source(registry, "acme/binary") == {"fine"}
    assert sorted(problems(registry)) == [
        ("unreadable", "error", str(root / "latin1" / "SKILL.md")),
        ("unreadable", "error", str(root / "png" / "SKILL.md")),
    ]


# -- the marketplace manifest ---------------------------------------------------------------


def write_manifest(root: Path, plugins: list[dict[str, Any]]) -> None:
    """``root/.claude-plugin/marketplace.json`` with these plugins."""
    (root / ".claude-plugin").mkdir(parents=True, exist_ok=True)
    (root / ".claude-plugin" / "marketplace.json").write_text(
        json.dumps({"name": "market", "plugins": plugins}), encoding="utf-8"
    )


def test_a_manifest_plugin_without_a_skills_list_gives_its_skills_folder(
    registry: SkillRegistry, tmp_path: Path
) -> None:
    root = tmp_path / "market"
    write_skill(root / "plugins" / "ops" / "skills" / "deploy", "deploy")
    write_skill(root / "plugins" / "ops" / "skills" / "rollback", "rollback")
    write_skill(root / "unlisted" / "stray", "stray")
    write_manifest(root, [{"name": "ops", "source": "./plugins/ops"}])

    registry.add(str(root), owner_repo="acme/market")

    assert of_source(registry, "acme/market") == {"deploy", "rollback"}


def test_manifest_paths_that_are_missing_leave_or_come_from_elsewhere_are_reported(
    registry: SkillRegistry, tmp_path: Path
) -> None:
    root = tmp_path / "market"
    write_skill(root / "skills" / "listed", "listed")
    write_skill(tmp_path / "outside", "outside")
    write_manifest(
        root,
        [
            {"name": "local", "source": "./", "skills": ["./skills/listed", "./skills/gone"]},
            {"name": "escape", "source": "./", "skills": ["../outside"]},
            {"name": "remote", "source": {"source": "github", "repo": "acme/other"}},
        ],
    )

    registry.add(str(root), owner_repo="acme/market")

    assert of_source(registry, "acme/market") == {"listed"}
    manifest = str(root / ".claude-plugin" / "marketplace.json")
    assert problems(registry) == [
        ("manifest_path_missing", "error", manifest),
        ("path_escapes", "error", manifest),
        ("manifest_external_source", "warning", manifest),
    ]


def test_a_manifest_that_is_not_json_is_reported_and_the_repository_searched(
    registry: SkillRegistry, tmp_path: Path
) -> None:
    root = tmp_path / "market"
    write_skill(root / "skills" / "found", "found")
    (root / ".claude-plugin").mkdir()
    (root / ".claude-plugin" / "marketplace.json").write_text("{not json", encoding="utf-8")

    registry.add(str(root), owner_repo="acme/market")

    assert of_source(registry, "acme/market") == {"found"}
    assert [code for code, _, _ in problems(registry)] == ["invalid_manifest"]


# -- git ------------------------------------------------------------------------------------

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


@needs_git
def test_a_git_repository_laid_out_like_anthropics_is_cloned_and_indexed(
    registry: SkillRegistry, tmp_path: Path
) -> None:
    remote = anthropic_like(tmp_path / "remotes" / "anthropics" / "skills")
    head = commit_all(remote)

    record, outcome = registry.add(remote.as_uri())

    assert (record.owner_repo, record.commit, outcome.indexed) == ("anthropics/skills", head, 4)
    assert of_source(registry, "anthropics/skills") == {
        "xlsx",
        "pdf",
        "claude-api",
        "webapp-tester",
    }
    assert registry.get("anthropics/skills/xlsx").version.endswith(f"+git:{head[:12]}")


@needs_git
@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:9/acme/skills.git", "file:///nonexistent/acme/skills.git"],
    ids=["refused", "no-such-path"],
)
def test_a_git_url_that_does_not_answer_is_reported_with_the_url_and_registers_nothing(
    registry: SkillRegistry, url: str
) -> None:
    with pytest.raises(errors.InvalidSkill) as raised:
        registry.add(url)

    assert raised.value.code == "invalid_skill"
    assert url in raised.value.message
    assert [s.kind for s in registry.sources()] == ["builtin"]


@needs_git
def test_a_git_url_with_credentials_is_reported_without_them(registry: SkillRegistry) -> None:
    with pytest.raises(errors.InvalidSkill) as raised:
        registry.add("http://deploy:s3cret-token@127.0.0.1:9/acme/skills.git")

    assert "s3cret-token" not in raised.value.message
    assert "http://***@127.0.0.1:9/acme/skills.git" in raised.value.message


@pytest.fixture
def silent_server() -> Iterator[str]:
    """An HTTP URL whose server accepts connections and never answers."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/acme/skills.git"
    stop.set()
    thread.join(timeout=5)
    for conn in held:
        conn.close()
    server.close()


@needs_git
def test_a_git_server_that_never_answers_is_given_up_after_the_timeout(
    registry: SkillRegistry, silent_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sources, "GIT_TIMEOUT_S", 2.0)

    with pytest.raises(errors.InvalidSkill) as raised:
        registry.add(silent_server)

    assert silent_server in raised.value.message
    assert "did not answer within 2 s" in raised.value.message
    assert [s.kind for s in registry.sources()] == ["builtin"]
