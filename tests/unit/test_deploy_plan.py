"""The pure half of deployment: an aramb.toml checked and resolved (DESIGN §11)."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from brahmi import errors
from brahmi.deploy import plan
from brahmi.metadata import rules

FILE = """
[[services]]
uniqueIdentifier = 100
name = "db"
type = "postgres"
applicationID = "{applicationID}"
[services.configuration.settings]
image = "postgres:16"
[[services.configuration.vars]]
key = "POSTGRES_DB"
value = "notes"
[[services.configuration.secrets]]
key = "POSTGRES_PASSWORD"
value = ""

[[services]]
uniqueIdentifier = 101
name = "api-build"
type = "build"
applicationID = "{applicationID}"
[services.configuration.settings]
repoUrl = "https://example.com/{applicationID}"
buildPath = "backend"
targetBranches = ["main"]
installationId = ""

[[services]]
uniqueIdentifier = 102
name = "api"
type = "backend"
applicationID = "{applicationID}"
[services.configuration.settings]
image = "${101.outputs.IMAGE_URL}"
cmd = "uvicorn app.main:app --host 0.0.0.0 --port 8000"
commandPort = 8000
[[services.configuration.vars]]
key = "DB_NAME"
value = "${100.vars.POSTGRES_DB}"
[[services.configuration.vars]]
key = "SELF_URL"
value = "http://localhost:8000/{applicationID}"
[[services.configuration.secrets]]
key = "DB_PASSWORD"
value = "${100.secrets.POSTGRES_PASSWORD}"
"""


def document(text: str = FILE) -> dict[str, Any]:
    return tomllib.loads(text)


def problems_of(text: str) -> list[dict[str, Any]]:
    with pytest.raises(errors.InvalidMetadata) as caught:
        plan.parse(document(text), "notes")
    assert caught.value.code == "invalid_metadata"
    found: list[dict[str, Any]] = caught.value.fields["problems"]
    return found


def test_references_resolve_in_id_order_with_ports_and_the_application_id() -> None:
    checked = plan.parse(document(), "notes-app")
    outputs = {101: {"IMAGE_URL": "notes-app-api-build:local", "PATH": "/p/backend"}}

    db, api = plan.resolve(checked, outputs, {102: 41234}, {"POSTGRES_PASSWORD": "pw"})

    assert db.vars == {"POSTGRES_DB": "notes"} and db.secrets == {"POSTGRES_PASSWORD": "pw"}
    assert api.settings["image"] == "notes-app-api-build:local"
    assert api.vars == {"DB_NAME": "notes", "SELF_URL": "http://localhost:41234/notes-app"}
    assert api.secrets == {"DB_PASSWORD": "pw"}
    assert api.argv == ["uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", "41234"]
    assert api.env()["PORT"] == "41234"
    assert checked.get(102).output_source("image") == 101


def test_an_empty_secret_not_in_the_environment_is_reported_by_name() -> None:
    checked = plan.parse(document(), "notes")
    _, api = plan.resolve(checked, {101: {"IMAGE_URL": "i", "PATH": "p"}}, {102: 1})
    assert api.secrets == {"DB_PASSWORD": ""}
    assert api.empty_secrets == ["DB_PASSWORD"]


def test_build_settings_take_the_application_id() -> None:
    checked = plan.parse(document(), "notes")
    assert plan.build_settings(checked, checked.get(101))["repoUrl"] == "https://example.com/notes"


IMAGE = "services[2].configuration.settings.image"
DB_NAME = "services[2].configuration.vars[0].value"


@pytest.mark.parametrize(
    ("change", "replacement", "key", "code", "says"),
    [
        ("${100.vars.POSTGRES_DB}", "${99.vars.X}", DB_NAME, "bad_reference", "service 99"),
        ("${100.vars.POSTGRES_DB}", "${102.vars.SELF_URL}", DB_NAME, "forward_reference", "lower"),
        ("${100.vars.POSTGRES_DB}", "${100.vars.NOPE}", DB_NAME, "bad_reference", "no var NOPE"),
        ("${101.outputs.IMAGE_URL}", "${101.outputs.BIN}", IMAGE, "bad_reference", "IMAGE_URL"),
        ("${101.outputs.IMAGE_URL}", "${100.outputs.PATH}", IMAGE, "bad_reference", "only build"),
        ("${101.outputs.IMAGE_URL}", "${api.outputs.PATH}", IMAGE, "bad_reference", "not a ref"),
    ],
    ids=["missing", "higher", "no-key", "bad-output", "not-a-build", "malformed"],
)
def test_a_bad_reference_names_the_service_and_key(
    change: str, replacement: str, key: str, code: str, says: str
) -> None:
    [problem] = problems_of(FILE.replace(change, replacement))
    assert (problem["key"], problem["code"], problem["service"]) == (key, code, 102)
    assert says in problem["message"] and "service api (102)" in problem["message"]


def test_a_path_that_leaves_the_project_is_a_problem() -> None:
    for path in ("../elsewhere", "backend/../..", "/etc"):
        [problem] = problems_of(FILE.replace('buildPath = "backend"', f"buildPath = {path!r}"))
        assert problem["code"] == "bad_path"
        assert problem["key"] == "services[1].configuration.settings.buildPath"
    # The validator refuses ".." anywhere in a path, even one that would stay inside.
    [problem] = problems_of(FILE.replace('buildPath = "backend"', 'buildPath = "a/../b"'))
    assert problem["code"] == "bad_path"


def test_every_entry_problem_is_reported_at_once() -> None:
    text = FILE.replace('type = "build"', 'type = "lambda"').replace(
        "uniqueIdentifier = 102", 'uniqueIdentifier = "102"'
    )
    found = {(p["key"], p["code"]) for p in problems_of(text)}
    assert found == {
        ("services[1].type", "unknown_type"),
        ("services[2].uniqueIdentifier", "bad_value"),
        # 101 is no longer a build, so it has no outputs to refer to.
        ("services[2].configuration.settings.image", "bad_reference"),
    }


def test_a_file_without_services_is_a_problem() -> None:
    assert problems_of("title = 'x'")[0]["code"] == "no_services"


def test_duplicate_ids_and_names_are_problems() -> None:
    text = FILE.replace("uniqueIdentifier = 102", "uniqueIdentifier = 101").replace(
        'name = "api"\n', 'name = "db"\n'
    )
    codes = {p["code"] for p in problems_of(text)}
    assert {"duplicate_id", "duplicate_name"} <= codes


def test_a_command_that_does_not_split_is_a_problem() -> None:
    [problem] = problems_of(FILE.replace("--port 8000", "--port '8000"))
    assert problem["code"] == "bad_value"
    assert problem["key"] == "services[2].configuration.settings.cmd"


def test_the_public_service_is_the_public_frontend_else_a_backend() -> None:
    checked = plan.parse(document(), "notes")
    assert checked.public_service() is checked.get(102)


def test_config_status_incomplete_is_a_warning() -> None:
    text = FILE + '\n[config_status]\nstatus = "incomplete"\nmessage = "fill POSTGRES_PASSWORD"\n'
    assert plan.parse(document(text), "notes").warnings == (
        "config_status: fill POSTGRES_PASSWORD",
    )


def test_what_the_validator_accepts_deploys_a_shell_variable_and_an_embedded_secret() -> None:
    text = FILE.replace("--port 8000", "--port ${PORT}")
    secret_url = "postgresql://postgres:${100.secrets.POSTGRES_PASSWORD}@db/notes"
    document_ = document(text)
    document_["services"][2]["configuration"].setdefault("secrets", []).append(
        {"key": "DATABASE_URL", "value": secret_url}
    )
    assert rules.check(document_) == []
    assert plan.parse(document_, "notes").get(102) is not None


def test_a_literal_secret_is_a_problem_that_does_not_repeat_the_value() -> None:
    text = FILE.replace(
        'key = "POSTGRES_PASSWORD"\nvalue = ""', 'key = "POSTGRES_PASSWORD"\nvalue = "hunter2"'
    )
    [problem] = problems_of(text)
    assert problem["code"] == "literal_secret" and problem["service"] == 100
    assert problem["key"] == "services[0].configuration.secrets[0].value"
    assert "hunter2" not in problem["message"]
