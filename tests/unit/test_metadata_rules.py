"""The rules of aramb.toml (DESIGN §11) as pure functions: one broken rule per fixture."""

from __future__ import annotations

import copy
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brahmi.metadata import rules
from brahmi.metadata.files import locate_keys, validate_text
from brahmi.metadata.model import Reference

REFERENCE_MD = (
    Path(__file__).parents[2] / "src/brahmi/skills/builtin/aramb-metadata/references/aramb-toml.md"
)


def reference_examples() -> list[str]:
    """Every ```toml block of the built-in aramb-metadata reference."""
    return re.findall(r"```toml\n(.*?)```", REFERENCE_MD.read_text(encoding="utf-8"), re.S)


def full_example() -> str:
    """The reference's "A complete example"."""
    text = REFERENCE_MD.read_text(encoding="utf-8")
    section = text.split("## A complete example", 1)[1]
    match = re.search(r"```toml\n(.*?)```", section, re.S)
    assert match
    return match.group(1)


def example() -> dict[str, Any]:
    return tomllib.loads(full_example())


def settings_of(doc: dict[str, Any], index: int) -> dict[str, Any]:
    result: dict[str, Any] = doc["services"][index]["configuration"]["settings"]
    return result


def test_the_full_reference_example_is_valid() -> None:
    document = example()
    assert [s["uniqueIdentifier"] for s in document["services"]] == [100, 101, 102, 103, 104]
    assert rules.check(document) == []


def test_the_layout_example_is_valid_on_its_own() -> None:
    layout = reference_examples()[0]
    assert "[[services]]" in layout
    assert rules.check(tomllib.loads(layout)) == []


def test_validate_text_of_the_full_example_finds_nothing() -> None:
    assert validate_text(full_example()) == []


Mutation = Callable[[dict[str, Any]], None]


def _set(index: int, key: str, value: Any) -> Mutation:
    def apply(doc: dict[str, Any]) -> None:
        doc["services"][index][key] = value

    return apply


def _setting(index: int, key: str, value: Any) -> Mutation:
    def apply(doc: dict[str, Any]) -> None:
        settings_of(doc, index)[key] = value

    return apply


def _drop(index: int, key: str) -> Mutation:
    def apply(doc: dict[str, Any]) -> None:
        del doc["services"][index][key]

    return apply


def _drop_setting(index: int, key: str) -> Mutation:
    def apply(doc: dict[str, Any]) -> None:
        del settings_of(doc, index)[key]

    return apply


def _pair(index: int, kind: str, key: str, value: Any) -> Mutation:
    def apply(doc: dict[str, Any]) -> None:
        config = doc["services"][index]["configuration"]
        config.setdefault(kind, []).append({"key": key, "value": value})

    return apply


def _secret_value(index: int, j: int, value: Any) -> Mutation:
    def apply(doc: dict[str, Any]) -> None:
        doc["services"][index]["configuration"]["secrets"][j]["value"] = value

    return apply


def _var_value(index: int, j: int, value: Any) -> Mutation:
    def apply(doc: dict[str, Any]) -> None:
        doc["services"][index]["configuration"]["vars"][j]["value"] = value

    return apply


def _swap_ids(doc: dict[str, Any]) -> None:
    doc["services"][1]["uniqueIdentifier"] = 100


def _template_with_repo_url(doc: dict[str, Any]) -> None:
    doc["services"][0]["type"] = "template"
    settings_of(doc, 0)["repoUrl"] = "https://example.com/x.git"


def _no_services(doc: dict[str, Any]) -> None:
    doc["services"] = []
    del doc["config_status"]


S = "services[{}]"
SET = "services[{}].configuration.settings.{}"

# (case, mutation, expected (code, key) pairs — exactly these, nothing else)
CASES: list[tuple[str, Mutation, list[tuple[str, str]]]] = [
    ("no services", _no_services, [("no_services", "services")]),
    (
        "id not sequential",
        _set(2, "uniqueIdentifier", 110),
        # 102's references keep working, but the id breaks the order; 104's ${103…} is fine.
        [("id_not_sequential", "services[2].uniqueIdentifier")],
    ),
    (
        "duplicate id",
        _swap_ids,
        [
            ("duplicate_id", "services[1].uniqueIdentifier"),
            # api's ${101.outputs.IMAGE_URL} and config_status's 101 now name nobody.
            ("bad_reference", SET.format(2, "image")),
            ("bad_reference", "config_status.incomplete[1]"),
        ],
    ),
    (
        "id not an integer",
        _set(0, "uniqueIdentifier", "100"),
        [
            ("bad_value", "services[0].uniqueIdentifier"),
            # 102 refers to 100's var and secret, which no longer has an id.
            ("bad_reference", "services[2].configuration.vars[0].value"),
            ("bad_reference", "services[2].configuration.vars[1].value"),
            ("bad_reference", "services[2].configuration.secrets[0].value"),
            ("bad_reference", "config_status.incomplete[0]"),
        ],
    ),
    ("missing name", _drop(3, "name"), [("missing_field", "services[3].name")]),
    ("bad name", _set(3, "name", "Web Build"), [("bad_name", "services[3].name")]),
    ("duplicate name", _set(3, "name", "api-build"), [("duplicate_name", "services[3].name")]),
    ("unknown type", _set(0, "type", "mysql"), [("unknown_type", "services[0].type")]),
    ("missing type", _drop(0, "type"), [("missing_field", "services[0].type")]),
    (
        "application id not the literal",
        _set(1, "applicationID", "acme-notes"),
        [("bad_application_id", "services[1].applicationID")],
    ),
    (
        "application id missing",
        _drop(4, "applicationID"),
        [("missing_field", "services[4].applicationID")],
    ),
    (
        "build missing repoUrl",
        _drop_setting(1, "repoUrl"),
        [("missing_field", SET.format(1, "repoUrl"))],
    ),
    (
        "build missing branches",
        _drop_setting(3, "targetBranches"),
        [("missing_field", SET.format(3, "targetBranches"))],
    ),
    ("build with a cmd", _setting(1, "cmd", "make"), [("forbidden_field", SET.format(1, "cmd"))]),
    (
        "build with publicNet",
        _setting(1, "publicNet", True),
        [("forbidden_field", SET.format(1, "publicNet"))],
    ),
    (
        "build with an image",
        _setting(1, "image", "x:1"),
        [("forbidden_field", SET.format(1, "image"))],
    ),
    (
        "build with vars",
        _pair(1, "vars", "MODE", "fast"),
        [("forbidden_field", "services[1].configuration.vars")],
    ),
    (
        "backend without image",
        _drop_setting(2, "image"),
        [("missing_field", SET.format(2, "image"))],
    ),
    ("backend without cmd", _drop_setting(2, "cmd"), [("missing_field", SET.format(2, "cmd"))]),
    (
        "backend without port",
        _drop_setting(2, "commandPort"),
        [("missing_field", SET.format(2, "commandPort"))],
    ),
    (
        "backend with repoUrl",
        _setting(2, "repoUrl", "https://x/y"),
        [("forbidden_field", SET.format(2, "repoUrl"))],
    ),
    (
        "frontend without staticPath",
        _drop_setting(4, "staticPath"),
        [("missing_field", SET.format(4, "staticPath"))],
    ),
    (
        "frontend with image",
        _setting(4, "image", "nginx:1"),
        [("forbidden_field", SET.format(4, "image"))],
    ),
    (
        "frontend with buildPath",
        _setting(4, "buildPath", "web"),
        [("forbidden_field", SET.format(4, "buildPath"))],
    ),
    (
        "database without image",
        _drop_setting(0, "image"),
        [("missing_field", SET.format(0, "image"))],
    ),
    (
        "database with installationId",
        _setting(0, "installationId", ""),
        [("forbidden_field", SET.format(0, "installationId"))],
    ),
    (
        "image and repoUrl on a template",
        _template_with_repo_url,
        [("image_and_repo_url", SET.format(0, "repoUrl"))],
    ),
    (
        "port not a number",
        _setting(2, "commandPort", "eighty"),
        [("bad_value", SET.format(2, "commandPort"))],
    ),
    (
        "port out of range",
        _setting(2, "commandPort", 70000),
        [("bad_value", SET.format(2, "commandPort"))],
    ),
    (
        "publicNet not a bool",
        _setting(2, "publicNet", "yes"),
        [("bad_value", SET.format(2, "publicNet"))],
    ),
    (
        "branches not a list",
        _setting(1, "targetBranches", "main"),
        [("bad_value", SET.format(1, "targetBranches"))],
    ),
    (
        "cmd shlex cannot split",
        _setting(2, "cmd", "uvicorn 'app:app"),
        [("bad_value", SET.format(2, "cmd"))],
    ),
    (
        "buildPath leaves the project",
        _setting(1, "buildPath", "../other"),
        [("bad_path", SET.format(1, "buildPath"))],
    ),
    (
        "absolute buildPath",
        _setting(3, "buildPath", "/etc"),
        [("bad_path", SET.format(3, "buildPath"))],
    ),
    (
        "staticPath leaves the project",
        _setting(4, "staticPath", "/var/www"),
        [("bad_path", SET.format(4, "staticPath"))],
    ),
    (
        "health path not a path",
        _setting(2, "healthCheckPath", "health"),
        [("bad_value", SET.format(2, "healthCheckPath"))],
    ),
    (
        "reference to a missing service",
        _setting(2, "image", "${99.outputs.IMAGE_URL}"),
        [("bad_reference", SET.format(2, "image"))],
    ),
    (
        "reference to a higher-numbered service",
        _setting(2, "image", "${103.outputs.IMAGE_URL}"),
        [("forward_reference", SET.format(2, "image"))],
    ),
    (
        "reference to itself",
        _var_value(2, 0, "${102.vars.DB_USER}"),
        [("forward_reference", "services[2].configuration.vars[0].value")],
    ),
    (
        "reference to a missing var",
        _var_value(2, 0, "${100.vars.NOPE}"),
        [("bad_reference", "services[2].configuration.vars[0].value")],
    ),
    (
        "reference to a missing secret",
        _secret_value(2, 0, "${100.secrets.NOPE}"),
        [("bad_reference", "services[2].configuration.secrets[0].value")],
    ),
    (
        "outputs of a service that is not a build",
        _setting(4, "staticPath", "${102.outputs.PATH}"),
        [("bad_reference", SET.format(4, "staticPath"))],
    ),
    (
        "unknown output",
        _setting(2, "image", "${101.outputs.TAG}"),
        [("bad_reference", SET.format(2, "image"))],
    ),
    (
        "malformed reference",
        _setting(2, "image", "${api-build.outputs.IMAGE_URL}"),
        [("bad_reference", SET.format(2, "image"))],
    ),
    (
        "literal secret",
        _secret_value(0, 0, "hunter2"),
        [("literal_secret", "services[0].configuration.secrets[0].value")],
    ),
    (
        "numeric secret",
        _secret_value(0, 0, 1234),
        [("literal_secret", "services[0].configuration.secrets[0].value")],
    ),
    (
        "secret-looking name in vars",
        _pair(2, "vars", "STRIPE_API_KEY", ""),
        [("secret_in_vars", "services[2].configuration.vars[2].key")],
    ),
    (
        "var holding a URL with a password",
        _pair(2, "vars", "DATABASE_URL", "postgresql://notes:hunter2@db:5432/notes"),
        [("secret_in_vars", "services[2].configuration.vars[2].value")],
    ),
    (
        "var taking a secret's value",
        _pair(2, "vars", "DB_PASS_COPY", "${100.secrets.POSTGRES_PASSWORD}"),
        [("secret_in_vars", "services[2].configuration.vars[2].value")],
    ),
    (
        "duplicate var key",
        _pair(0, "vars", "POSTGRES_DB", "again"),
        [("duplicate_key", "services[0].configuration.vars[2].key")],
    ),
    (
        "key both var and secret",
        _pair(0, "secrets", "POSTGRES_USER", ""),
        [("duplicate_key", "services[0].configuration.secrets")],
    ),
    (
        "var without a value",
        lambda d: d["services"][0]["configuration"]["vars"].append({"key": "X"}),
        [("missing_field", "services[0].configuration.vars[2].value")],
    ),
    (
        "config_status naming a missing service",
        lambda d: d["config_status"]["incomplete"].append(140),
        [("bad_reference", "config_status.incomplete[3]")],
    ),
]


@pytest.mark.parametrize(("case", "mutate", "expected"), CASES, ids=[c[0] for c in CASES])
def test_each_broken_rule_is_reported_with_its_code_and_key(
    case: str, mutate: Mutation, expected: list[tuple[str, str]]
) -> None:
    document = example()
    mutate(document)
    found = [(p.code, p.key) for p in rules.check(document)]
    assert sorted(found) == sorted(expected), case


def test_every_problem_names_its_service_by_index_and_id() -> None:
    document = example()
    _setting(2, "image", "${103.outputs.IMAGE_URL}")(document)
    [problem] = rules.check(document)
    assert (problem.service_index, problem.service_id) == (2, 102)
    assert "api" in problem.message
    assert "${103.outputs.IMAGE_URL}" in problem.message


def test_every_broken_rule_is_reported_at_once_not_only_the_first() -> None:
    document = example()
    for mutate in (
        _set(0, "type", "mysql"),
        _secret_value(0, 0, "hunter2"),
        _set(1, "applicationID", "x"),
        _setting(2, "image", "${103.outputs.IMAGE_URL}"),
        _drop_setting(4, "cmd"),
    ):
        mutate(document)
    codes = [p.code for p in rules.check(document)]
    assert codes == [
        "unknown_type",
        "literal_secret",
        "bad_application_id",
        "forward_reference",
        "missing_field",
    ]


def test_a_service_that_is_not_a_table_is_reported() -> None:
    document = {"services": [5]}
    assert [(p.code, p.key) for p in rules.check(document)] == [("bad_value", "services[0]")]


def test_services_that_are_not_an_array_are_reported() -> None:
    assert [p.code for p in rules.check({"services": {"name": "x"}})] == ["bad_value"]


def test_a_document_never_mutated_by_check() -> None:
    document = example()
    before = copy.deepcopy(document)
    rules.check(document)
    assert document == before


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("POSTGRES_PASSWORD", True),
        ("db_passwd", True),
        ("OLDPWD", True),
        ("JWT_SIGNING", True),
        ("githubToken", True),
        ("STRIPE_API_KEY", True),
        ("private_key_path", True),
        ("AWS_CREDENTIALS", True),
        ("OAUTH_CLIENT", True),
        ("CLIENT_SECRET", True),
        ("DATABASE_URL", False),
        ("PORT", False),
        ("API_URL", False),
        ("KEYBOARD", False),
    ],
)
def test_secret_names_follow_the_naming_rule(key: str, secret: bool) -> None:
    assert rules.is_secret_name(key) is secret


def test_parse_references_finds_each_kind_and_ignores_shell_variables() -> None:
    text = "postgresql://${100.vars.USER}:${100.secrets.PW}@h/${PORT}/${101.outputs.PATH}"
    assert rules.parse_references(text) == [
        Reference("${100.vars.USER}", 100, "vars", "USER", True),
        Reference("${100.secrets.PW}", 100, "secrets", "PW", True),
        Reference("${101.outputs.PATH}", 101, "outputs", "PATH", True),
    ]


def test_parse_references_returns_malformed_ones_as_not_well_formed() -> None:
    refs = rules.parse_references("${api.vars.X} ${101.env.X} ${101.outputs}")
    assert [(r.service_id, r.kind, r.well_formed) for r in refs] == [
        (None, "vars", False),
        (101, "env", False),
        (101, "outputs", False),
    ]


def test_a_secret_built_from_references_is_not_literal() -> None:
    assert not rules.is_literal_secret("postgresql://${100.vars.U}:${100.secrets.P}@db/x")
    assert not rules.is_literal_secret("")
    assert rules.is_literal_secret("sk-live-123")
    assert rules.is_literal_secret("${PORT}")


def test_locate_keys_maps_services_tables_and_array_items_to_lines() -> None:
    text = full_example()
    lines = text.splitlines()
    found = locate_keys(text)
    assert lines[found["services[2]"] - 1] == "[[services]]"
    assert lines[found["services[2].configuration.settings.image"] - 1].startswith("image = ")
    value_line = lines[found["services[2].configuration.secrets[0].value"] - 1]
    assert value_line == 'value = "${100.secrets.POSTGRES_PASSWORD}"'
    assert lines[found["services[0].configuration.vars[1].key"] - 1] == 'key = "POSTGRES_USER"'
    assert lines[found["config_status.incomplete"] - 1].startswith("incomplete = ")


def test_problems_from_text_carry_the_line_of_the_offending_key() -> None:
    text = full_example().replace('value = "${100.secrets.POSTGRES_PASSWORD}"', 'value = "pw1"')
    [problem] = validate_text(text)
    assert problem.code == "literal_secret"
    assert problem.line is not None
    assert text.splitlines()[problem.line - 1] == 'value = "pw1"'


# -- any document at all: check reports, never raises ----------------------------------

FIELD_NAMES = st.sampled_from(
    [
        *("services", "config_status", "uniqueIdentifier", "name", "type", "applicationID"),
        *("configuration", "settings", "vars", "secrets", "key", "value", "image", "cmd"),
        *("commandPort", "publicNet", "repoUrl", "buildPath", "targetBranches", "incomplete"),
        *("installationId", "staticPath", "healthCheckPath", "outputPath", "status"),
    ]
)
SCALARS = st.one_of(
    st.integers(min_value=-5, max_value=70000),
    st.booleans(),
    st.floats(allow_nan=False),
    st.sampled_from(
        [
            "",
            "{applicationID}",
            "postgres:16",
            "${100.vars.X}",
            "${101.outputs.IMAGE_URL}",
            "${x.secrets.Y}",
            "${PORT}",
            "../up",
            "/abs",
            "it's",
            "DB_PASSWORD",
            "backend",
            "build",
            "frontend",
            "postgres",
        ]
    ),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(FIELD_NAMES, inner, max_size=5)
    ),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(document=st.dictionaries(FIELD_NAMES, VALUES, max_size=4))
def test_check_reports_on_any_document_without_raising(document: dict[str, Any]) -> None:
    problems = rules.check(document)
    assert all(p.code and p.message for p in problems)


@settings(max_examples=200, deadline=None)
@given(services=st.lists(st.dictionaries(FIELD_NAMES, VALUES, max_size=8), max_size=5))
def test_check_reports_on_any_services_without_raising(services: list[dict[str, Any]]) -> None:
    problems = rules.check({"services": services})
    assert all(p.code for p in problems)


def test_lines_are_found_for_dotted_keys_and_fall_back_to_the_service_for_inline_tables() -> None:
    text = (
        "[[services]]\n"
        "uniqueIdentifier = 100\n"
        'name = "db"\n'
        'type = "postgres"\n'
        'applicationID = "{applicationID}"\n'
        'configuration.settings.image = ""\n'
        "\n"
        "[[services]]\n"
        "uniqueIdentifier = 101\n"
        'name = "api"\n'
        'type = "backend"\n'
        'applicationID = "{applicationID}"\n'
        'configuration = { settings = { image = "x", cmd = "run", commandPort = 0 } }\n'
    )
    found = {(p.code, p.key): p.line for p in validate_text(text)}
    assert found == {
        ("bad_value", "services[0].configuration.settings.image"): 6,
        # Inside an inline table: the line of the key that holds it.
        ("bad_value", "services[1].configuration.settings.commandPort"): 13,
    }
