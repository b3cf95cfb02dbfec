"""The pure half of deployment: an aramb.toml checked and resolved (DESIGN §11)."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from brahmi import errors
from brahmi.deploy import plan

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


def problems_of(text: str) -> list[dict[str, str]]:
    with pytest.raises(errors.InvalidMetadata) as caught:
        plan.parse(document(text), "notes")
    assert caught.value.code == "invalid_metadata"
    found: list[dict[str, str]] = caught.value.fields["problems"]
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


@pytest.mark.parametrize(
    ("change", "path", "says"),
    [
        ("${100.vars.POSTGRES_DB}", "102.vars.DB_NAME", "service 99"),
        ("${100.vars.POSTGRES_DB}", "102.vars.DB_NAME", "not lower-numbered"),
        ("${100.vars.POSTGRES_DB}", "102.vars.DB_NAME", "has no var NOPE"),
        ("${101.outputs.IMAGE_URL}", "102.settings.image", "outputs are IMAGE_URL and PATH"),
        ("${101.outputs.IMAGE_URL}", "102.settings.image", "is a postgres, not a build"),
        ("${101.outputs.IMAGE_URL}", "102.settings.image", "not ${N.vars|secrets|outputs.KEY}"),
    ],
    ids=["missing", "higher", "no-key", "bad-output", "not-a-build", "malformed"],
)
def test_a_bad_reference_names_the_service_and_key(change: str, path: str, says: str) -> None:
    replacement = {
        "service 99": "${99.vars.POSTGRES_DB}",
        "not lower-numbered": "${102.vars.SELF_URL}",
        "has no var NOPE": "${100.vars.NOPE}",
        "outputs are IMAGE_URL and PATH": "${101.outputs.BINARY}",
        "is a postgres, not a build": "${100.outputs.IMAGE_URL}",
        "not ${N.vars|secrets|outputs.KEY}": "${api-build.outputs.IMAGE_URL}",
    }[says]
    [problem] = problems_of(FILE.replace(change, replacement))
    assert problem["path"] == path and problem["code"] == "bad_reference"
    assert says in problem["message"] and "service 102 (api)" in problem["message"]


def test_every_entry_problem_is_reported_at_once() -> None:
    text = FILE.replace('type = "build"', 'type = "lambda"').replace(
        "uniqueIdentifier = 102", 'uniqueIdentifier = "102"'
    )
    found = {(p["path"], p["code"]) for p in problems_of(text)}
    assert found == {("services[1].type", "bad_type"), ("services[2].uniqueIdentifier", "bad_id")}


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
    assert problem["code"] == "bad_command" and problem["path"] == "102.settings.cmd"


def test_the_public_service_is_the_public_frontend_else_a_backend() -> None:
    checked = plan.parse(document(), "notes")
    assert checked.public_service() is checked.get(102)


def test_config_status_incomplete_is_a_warning() -> None:
    text = FILE + '\n[config_status]\nstatus = "incomplete"\nmessage = "fill POSTGRES_PASSWORD"\n'
    assert plan.parse(document(text), "notes").warnings == (
        "config_status: fill POSTGRES_PASSWORD",
    )
