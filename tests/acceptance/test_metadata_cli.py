"""``brahmi metadata validate|generate`` as a process (DESIGN §11): exit codes and JSON."""

from __future__ import annotations

import re
from pathlib import Path

from tests import metadata_projects as projects
from tests.acceptance.conftest import Cli, _output

REFERENCE_MD = (
    Path(__file__).parents[2] / "src/brahmi/skills/builtin/aramb-metadata/references/aramb-toml.md"
)


def full_example() -> str:
    section = REFERENCE_MD.read_text(encoding="utf-8").split("## A complete example", 1)[1]
    match = re.search(r"```toml\n(.*?)```", section, re.S)
    assert match
    return match.group(1)


def test_validate_exits_0_on_the_reference_example(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "aramb.toml"
    path.write_text(full_example(), encoding="utf-8")
    proc = cli("metadata", "validate", path)
    assert proc.returncode == 0, _output(proc)
    assert "valid" in proc.stdout
    assert cli.json("metadata", "validate", path) == {
        "valid": True,
        "file": str(path),
        "problems": [],
    }


def test_validate_exits_1_and_lists_each_problem_with_service_key_and_line(
    cli: Cli, tmp_path: Path
) -> None:
    text = full_example()
    text = text.replace('value = "${100.secrets.POSTGRES_PASSWORD}"', 'value = "hunter2"')
    text = text.replace('image = "${101.outputs.IMAGE_URL}"', 'image = "${103.outputs.IMAGE_URL}"')
    path = tmp_path / "aramb.toml"
    path.write_text(text, encoding="utf-8")
    lines = text.splitlines()

    proc = cli("metadata", "validate", path)
    assert proc.returncode == 1, _output(proc)
    assert "forward_reference" in proc.stdout
    assert "literal_secret" in proc.stdout

    body = cli.json("metadata", "validate", path, exit_code=1)
    assert body["valid"] is False
    found = {(p["code"], p["service"], p["key"]) for p in body["problems"]}
    assert found == {
        ("forward_reference", 102, "services[2].configuration.settings.image"),
        ("literal_secret", 102, "services[2].configuration.secrets[0].value"),
    }
    for problem in body["problems"]:
        assert set(problem) >= {"code", "message", "service", "key", "line"}
        line = lines[problem["line"] - 1]
        assert ("hunter2" in line) if problem["code"] == "literal_secret" else ("${103" in line)


def test_validate_exits_2_when_the_file_is_not_toml_or_missing(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "aramb.toml"
    path.write_text('[[services]]\nname = "api\n', encoding="utf-8")
    proc = cli("metadata", "validate", path)
    assert proc.returncode == 2, _output(proc)
    assert "not_toml" in proc.stderr
    body = cli.json("metadata", "validate", path, exit_code=2)
    assert body["valid"] is False
    assert [(p["code"], p["line"]) for p in body["problems"]] == [("not_toml", 2)]

    missing = cli("metadata", "validate", tmp_path / "nope.toml")
    assert missing.returncode == 2, _output(missing)
    assert "metadata_unreadable" in missing.stderr


def test_generate_prints_the_file_and_writes_only_with_write(cli: Cli, tmp_path: Path) -> None:
    root = tmp_path / "shop"
    root.mkdir()
    projects.compose_fastapi(root)

    proc = cli("metadata", "generate", root)
    assert proc.returncode == 0, _output(proc)
    assert proc.stdout.startswith("# aramb.toml")
    assert 'name = "api-build"' in proc.stdout
    assert not (root / "aramb.toml").exists()

    body = cli.json("metadata", "generate", root)
    assert set(body) == {"aramb_toml", "services", "problems", "warnings", "written", "path"} | {
        "diff"
    }
    assert body["written"] is False
    assert body["problems"] == []
    assert [s["name"] for s in body["services"]] == ["db", "cache", "api-build", "api", "mail"]
    assert not (root / "aramb.toml").exists()

    written = cli.json("metadata", "generate", root, "--write")
    assert written["written"] is True
    assert (root / "aramb.toml").read_text(encoding="utf-8") == written["aramb_toml"]
    assert cli("metadata", "validate", root / "aramb.toml").returncode == 0

    again = cli("metadata", "generate", root)
    assert again.returncode == 0, _output(again)
    assert "no change" in again.stdout


def test_generate_shows_a_diff_against_the_existing_file(cli: Cli, tmp_path: Path) -> None:
    root = tmp_path / "orders"
    root.mkdir()
    projects.go_backend(root)
    mine = '# mine\n[[services]]\nuniqueIdentifier = 100\nname = "db"\ntype = "postgres"\n'
    mine += 'applicationID = "{applicationID}"\n\n[services.configuration.settings]\n'
    mine += 'image = "postgres:15"\n'
    (root / "aramb.toml").write_text(mine, encoding="utf-8")
    proc = cli("metadata", "generate", root)
    assert proc.returncode == 0, _output(proc)
    assert proc.stdout.startswith("--- a/aramb.toml\n+++ b/aramb.toml\n")
    assert '+name = "orders-build"' in proc.stdout
    assert (root / "aramb.toml").read_text(encoding="utf-8") == mine


def test_generate_exits_2_and_writes_nothing_when_the_existing_file_is_not_toml(
    cli: Cli, tmp_path: Path
) -> None:
    root = tmp_path / "orders"
    root.mkdir()
    projects.go_backend(root)
    (root / "aramb.toml").write_text("services = [\n", encoding="utf-8")
    proc = cli("metadata", "generate", root, "--write")
    assert proc.returncode == 2, _output(proc)
    assert "not_toml" in proc.stderr
    assert (root / "aramb.toml").read_text(encoding="utf-8") == "services = [\n"
    body = cli.json("metadata", "generate", root, exit_code=2)
    assert body["error"] == "not_toml"


def test_generate_exits_1_and_writes_nothing_when_the_merge_cannot_mend_the_file(
    cli: Cli, tmp_path: Path
) -> None:
    root = tmp_path / "orders"
    root.mkdir()
    projects.go_backend(root)
    broken = '[[services]]\nuniqueIdentifier = 100\nname = "db"\ntype = "mysql"\n'
    broken += 'applicationID = "{applicationID}"\n'
    (root / "aramb.toml").write_text(broken, encoding="utf-8")
    proc = cli("metadata", "generate", root, "--write")
    assert proc.returncode == 1, _output(proc)
    assert "unknown_type" in proc.stderr
    assert (root / "aramb.toml").read_text(encoding="utf-8") == broken


def test_generate_on_a_folder_with_nothing_to_run_fails_clearly(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    proc = cli("metadata", "generate", tmp_path / "empty")
    assert proc.returncode == 1, _output(proc)
    assert "no_services_found" in proc.stderr
