"""``brahmi skills`` as a user runs it: the real console script, one BRAHMI_HOME per test.

validate (with ``--spec`` and ``--json``), add, list (``--problems``), search, show,
update and remove, and ``--help`` on each; collections laid out as public ones are (issue 15).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from brahmi.skills.catalog import BUILTIN_DIR
from tests import skill_trees
from tests.acceptance.conftest import Cli

SUBCOMMANDS = ["validate", "add", "update", "remove", "list", "search", "show"]


def write_skill(
    root: Path,
    name: str,
    description: str,
    *,
    category: str = "data",
    tags: str = "etl",
    folder: str | None = None,
) -> Path:
    """A spec-convention skill ``root/(folder or name)`` with a script resource."""
    path = root / (folder or name)
    (path / "scripts").mkdir(parents=True, exist_ok=True)
    (path / "SKILL.md").write_text(
        f"---\nname: {name}\ndescription: {description}\nmetadata:\n"
        f"  category: {category}\n  tags: {tags}\n---\n\n# {name}\n\nThe steps of {name}.\n",
        encoding="utf-8",
    )
    (path / "scripts" / "run.py").write_text("print('run')\n", encoding="utf-8")
    return path


@pytest.fixture
def skills(tmp_path: Path) -> Path:
    """Two good skills and one whose name differs from its folder (indexed, with a warning)."""
    root = tmp_path / "team-skills"
    write_skill(root, "csv-loader", "Loads CSV files into tables.", tags="etl,csv")
    write_skill(root, "ledger-audit", "Audits the quarterly ledger.", category="critique")
    write_skill(root, "misnamed", "Indexed under its frontmatter name.", folder="wrong-folder")
    return root


def run_ok(cli: Cli, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run ``brahmi ARGS`` and check it exits 0."""
    proc = cli(*args)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


# -- validate -------------------------------------------------------------------------------


def test_validate_with_spec_passes_every_builtin(cli: Cli) -> None:
    run_ok(cli, "skills", "validate", BUILTIN_DIR, "--spec")

    data = cli.json("skills", "validate", BUILTIN_DIR, "--spec")

    assert data["valid"] is True
    names = sorted(p.name for p in BUILTIN_DIR.iterdir() if (p / "SKILL.md").is_file())
    assert sorted(s["name"] for s in data["skills"]) == names
    assert all(s["valid"] and s["problems"] == [] for s in data["skills"])
    assert {s["convention"] for s in data["skills"]} == {"spec"}


def test_validate_a_broken_skill_exits_1_naming_file_and_line(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "SKILL.md").write_text(
        "---\nname: broken\ndescription: ok\nfoo: : bar\n---\nBody.\n", encoding="utf-8"
    )

    proc = cli("skills", "validate", folder)

    assert proc.returncode == 1
    assert f"{folder / 'SKILL.md'}:4" in proc.stdout
    assert "invalid_yaml" in proc.stdout


def test_validate_json_has_the_documented_shape(cli: Cli, skills: Path) -> None:
    data = cli.json("skills", "validate", skills)

    assert set(data) == {"valid", "skills", "problems"}
    assert data["valid"] is True
    assert data["problems"] == []
    by_path = {Path(s["path"]).name: s for s in data["skills"]}
    assert set(by_path) == {"csv-loader", "ledger-audit", "wrong-folder"}
    for report in data["skills"]:
        assert set(report) == {"path", "name", "convention", "valid", "problems"}
    assert by_path["csv-loader"] == {
        "path": str(skills / "csv-loader"),
        "name": "csv-loader",
        "convention": "spec",
        "valid": True,
        "problems": [],
    }
    [problem] = by_path["wrong-folder"]["problems"]
    assert set(problem) == {"file", "line", "code", "message", "severity"}
    assert problem["file"] == str(skills / "wrong-folder" / "SKILL.md")
    assert (problem["line"], problem["code"], problem["severity"]) == (
        2,
        "name_mismatch",
        "warning",
    )
    assert by_path["wrong-folder"]["valid"] is True
    strict = cli.json("skills", "validate", skills, "--spec", exit_code=1)
    [problem] = next(s for s in strict["skills"] if s["name"] == "misnamed")["problems"]
    assert (problem["code"], problem["severity"]) == ("name_mismatch", "error")


def test_validate_with_spec_names_what_the_specification_rejects(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "aramb-style"
    folder.mkdir()
    (folder / "SKILL.md").write_text(
        "---\nname: aramb-style\ndescription: d\ncategory: testing\ntags: [a, b]\n---\n",
        encoding="utf-8",
    )

    relaxed = cli.json("skills", "validate", folder)
    strict = cli.json("skills", "validate", folder, "--spec", exit_code=1)

    assert relaxed["valid"] is True
    assert relaxed["skills"][0]["convention"] == "aramb"
    assert [(p["code"], p["line"]) for p in strict["skills"][0]["problems"]] == [
        ("spec_unknown_key", 4),
        ("spec_unknown_key", 5),
    ]


def test_validate_with_only_warnings_exits_0(cli: Cli, tmp_path: Path) -> None:
    write_skill(tmp_path / "odd", "odd", "An odd one.", category="astrology")

    data = cli.json("skills", "validate", tmp_path / "odd")

    assert data["valid"] is True
    assert [p["code"] for p in data["skills"][0]["problems"]] == ["unknown_category"]
    assert data["skills"][0]["problems"][0]["severity"] == "warning"


def test_validate_a_folder_without_skills_exits_1(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()

    assert cli("skills", "validate", tmp_path / "empty").returncode == 1


# -- the registry ---------------------------------------------------------------------------


def test_add_list_search_show_update_and_remove_a_folder(cli: Cli, skills: Path) -> None:
    added = run_ok(cli, "skills", "add", skills, "--as", "acme/data")
    assert "acme/data" in added.stdout
    assert "name_mismatch" in added.stderr

    listed = {s["full_id"]: s for s in cli.json("skills", "list")["skills"]}
    assert {"acme/data/csv-loader", "acme/data/ledger-audit"} <= set(listed)
    assert "brahmi/builtin/run-command" in listed
    assert listed["acme/data/misnamed"]["description"] == "Indexed under its frontmatter name."

    problems = cli.json("skills", "list", "--problems")["problems"]
    assert [(p["code"], p["severity"], p["line"], p["source"]) for p in problems] == [
        ("name_mismatch", "warning", 2, str(skills))
    ]
    assert problems[0]["file"] == str(skills / "wrong-folder" / "SKILL.md")

    found = cli.json("skills", "search", "--category", "DATA", "--tag", "CSV", "--q", "tables")
    assert [s["full_id"] for s in found["skills"]] == ["acme/data/csv-loader"]
    hit = found["skills"][0]
    assert set(hit) >= {"full_id", "name", "description", "category", "tags", "version", "source"}
    assert (hit["category"], hit["tags"], hit["source"]) == ("data", ["etl", "csv"], str(skills))

    shown = cli.json("skills", "show", "acme/data/csv-loader")
    assert shown["body"].startswith("# csv-loader")
    assert shown["resources"] == ["scripts/run.py"]
    assert shown["version"] == hit["version"]
    assert shown["path"] == str(skills / "csv-loader")

    write_skill(skills, "csv-loader", "Loads TSV files too.", tags="etl,csv")
    run_ok(cli, "skills", "update", "acme/data")
    updated = cli.json("skills", "show", "acme/data/csv-loader")
    assert updated["description"] == "Loads TSV files too."
    assert updated["version"] != shown["version"]
    assert [s["full_id"] for s in cli.json("skills", "search", "--q", "tsv")["skills"]] == [
        "acme/data/csv-loader"
    ]

    run_ok(cli, "skills", "remove", "acme/data")
    gone = cli.json("skills", "show", "acme/data/csv-loader", exit_code=1)
    assert gone["error"] == "skill_not_found"
    assert cli.json("skills", "list", "--problems")["problems"] == []


def test_search_with_fts_operators_in_q_still_finds_by_the_words(cli: Cli, skills: Path) -> None:
    run_ok(cli, "skills", "add", skills, "--as", "acme/data")

    found = cli.json("skills", "search", "--q", 'ledger" NEAR( -audit* OR:')

    assert found["skills"][0]["full_id"] == "acme/data/ledger-audit"


def test_search_finds_the_seed_planners_skills_out_of_the_box(cli: Cli) -> None:
    found = cli.json("skills", "search", "--category", "critique", "--tag", "backend")

    names = [s["name"] for s in found["skills"]]
    assert names[0] == "backend-critique"
    assert "pytest-critique" in names


def test_show_of_an_unknown_skill_exits_1_with_skill_not_found(cli: Cli) -> None:
    data = cli.json("skills", "show", "acme/none/nothing", exit_code=1)

    assert data["error"] == "skill_not_found"


def test_add_of_a_missing_folder_exits_2(cli: Cli, tmp_path: Path) -> None:
    proc = cli("skills", "add", tmp_path / "missing")

    assert proc.returncode == 2
    assert "invalid_skill" in proc.stderr


def test_add_under_the_builtins_owner_repo_exits_2(cli: Cli, skills: Path) -> None:
    proc = cli("skills", "add", skills, "--as", "brahmi/builtin")

    assert proc.returncode == 2
    assert "invalid_skill" in proc.stderr


@pytest.mark.skipif(shutil.which("git") is None, reason="the git program is not installed")
def test_add_a_git_url_at_a_tag_and_remove_it(cli: Cli, tmp_path: Path) -> None:
    repo = tmp_path / "remotes" / "acme" / "git-skills"
    write_skill(repo, "csv-loader", "Loads CSV files into tables.")
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t", "-c", "commit.gpgsign=false"]
    for args in (["init", "--quiet"], ["add", "--all"], ["commit", "--quiet", "-m", "1"]):
        subprocess.run([*git, "-C", str(repo), *args], check=True, capture_output=True)
    subprocess.run([*git, "-C", str(repo), "tag", "v1"], check=True, capture_output=True)

    run_ok(cli, "skills", "add", repo.as_uri(), "--ref", "v1")

    shown = cli.json("skills", "show", "acme/git-skills/csv-loader")
    assert shown["commit"] is not None
    assert shown["version"].endswith(f"+git:{shown['commit'][:12]}")
    run_ok(cli, "skills", "update", "acme/git-skills")
    run_ok(cli, "skills", "remove", "acme/git-skills")
    assert not Path(shown["path"]).exists()


def test_a_url_starting_with_a_dash_is_refused_by_the_cli(cli: Cli) -> None:
    proc = cli("skills", "add", "--as", "acme/x", "--", "--upload-pack=touch pwned.git")

    assert proc.returncode == 2
    assert "invalid_skill" in proc.stderr
    assert not (cli.cwd / "pwned").exists()


# -- collections as their authors lay them out (issue 15) -----------------------------------


@pytest.mark.skipif(shutil.which("git") is None, reason="the git program is not installed")
def test_a_git_repository_laid_out_like_anthropics_indexes_every_listed_skill(
    cli: Cli, tmp_path: Path
) -> None:
    remote = skill_trees.anthropic_like(tmp_path / "remotes" / "anthropics" / "skills")
    skill_trees.commit_all(remote)

    added = run_ok(cli, "skills", "add", remote.as_uri())

    assert "as anthropics/skills" in added.stdout
    assert "4 skill(s)" in added.stdout
    assert "description_too_long" in added.stderr
    listed = {s["full_id"] for s in cli.json("skills", "list")["skills"]}
    assert {
        "anthropics/skills/xlsx",
        "anthropics/skills/pdf",
        "anthropics/skills/claude-api",
        "anthropics/skills/webapp-tester",
    } <= listed
    assert "anthropics/skills/template-skill" not in listed
    shown = cli.json("skills", "show", "anthropics/skills/claude-api")
    assert shown["description"] == skill_trees.LONG_DESCRIPTION
    problems = cli.json("skills", "list", "--problems")["problems"]
    assert [(p["code"], p["severity"], Path(p["file"]).parent.name) for p in problems] == [
        ("unknown_key", "warning", "xlsx"),
        ("description_too_long", "warning", "claude-api"),
        ("name_mismatch", "warning", "webapp-testing"),
    ]
    readable = run_ok(cli, "skills", "list", "--problems")
    assert "warning" in readable.stderr
    assert str(Path(shown["path"]) / "SKILL.md") in readable.stderr


def test_validate_finds_nested_skills_and_spec_says_what_the_specification_rejects(
    cli: Cli, tmp_path: Path
) -> None:
    root = skill_trees.anthropic_like(tmp_path / "skills-repo")

    relaxed = cli.json("skills", "validate", root)
    strict = cli.json("skills", "validate", root, "--spec", exit_code=1)

    assert relaxed["valid"] is True
    assert sorted(s["name"] for s in relaxed["skills"]) == [
        "claude-api",
        "pdf",
        "webapp-tester",
        "xlsx",
    ]
    errors = {
        (p["code"], Path(p["file"]).parent.name)
        for s in strict["skills"]
        for p in s["problems"]
        if p["severity"] == "error"
    }
    assert errors == {
        ("spec_unknown_key", "xlsx"),
        ("description_too_long", "claude-api"),
        ("name_mismatch", "webapp-testing"),
    }


def test_add_a_claude_skills_repository_skips_node_modules_and_virtualenvs(
    cli: Cli, tmp_path: Path
) -> None:
    root = skill_trees.claude_dir_like(tmp_path / "app")

    run_ok(cli, "skills", "add", root, "--as", "acme/app")

    listed = {s["full_id"] for s in cli.json("skills", "list")["skills"]}
    assert {f for f in listed if f.startswith("acme/app/")} == {
        "acme/app/release-notes",
        "acme/app/db-migrate",
    }


def test_a_projects_own_skills_are_searchable_once_the_project_is_opened(
    cli: Cli, tmp_path: Path
) -> None:
    workspace = tmp_path / "shop"
    skill_trees.write_skill(
        workspace / ".claude" / "skills" / "ship-orders", "ship-orders", "Ships open orders."
    )
    write_skill(tmp_path / "lib", "ship-orders", "Ships orders the ops way.")
    run_ok(cli, "skills", "add", tmp_path / "lib", "--as", "acme/ops")

    run_ok(cli, "projects", "show", "--project", workspace)

    found = cli.json("skills", "search", "--q", "ships orders")["skills"]
    assert {"project/shop/ship-orders", "acme/ops/ship-orders"} <= {s["full_id"] for s in found}
    problems = cli.json("skills", "list", "--problems")["problems"]
    assert [(p["code"], p["severity"]) for p in problems] == [("name_collision", "warning")]


def test_bad_input_is_reported_with_its_path_and_the_rest_indexes(cli: Cli, tmp_path: Path) -> None:
    root = tmp_path / "messy"
    write_skill(root / "skills", "good-one", "Still indexed.")
    huge = write_skill(root / "skills", "huge", "Too big.")
    with (huge / "SKILL.md").open("a", encoding="utf-8") as handle:
        handle.write("x" * (5 * 1024 * 1024))
    (root / "skills" / "binary").mkdir()
    (root / "skills" / "binary" / "SKILL.md").write_bytes(b"\0\x01\x02" * 1000)
    (root / "loop").symlink_to(root, target_is_directory=True)

    added = run_ok(cli, "skills", "add", root, "--as", "acme/messy")

    assert "1 skill(s)" in added.stdout
    for path in (huge / "SKILL.md", root / "skills" / "binary" / "SKILL.md", root / "loop"):
        assert str(path) in added.stderr


@pytest.mark.skipif(shutil.which("git") is None, reason="the git program is not installed")
def test_add_of_a_git_url_that_does_not_answer_exits_2_naming_the_url(cli: Cli) -> None:
    url = "http://127.0.0.1:9/acme/skills.git"

    proc = cli("skills", "add", url)

    assert proc.returncode == 2
    assert "invalid_skill" in proc.stderr
    assert url in proc.stderr


# -- help -----------------------------------------------------------------------------------


@pytest.mark.parametrize("subcommand", [None, *SUBCOMMANDS])
def test_help_of_each_skills_command_exits_0(cli: Cli, subcommand: str | None) -> None:
    args = ["skills", subcommand, "--help"] if subcommand else ["skills", "--help"]

    proc = run_ok(cli, *args)

    assert "Usage" in proc.stdout
