"""Bad input in files (issue 17; DESIGN §2, §11): CLI plan files (``brahmi run`` in
process), SKILL.md sources and ``aramb.toml`` (the metadata validator), with the
strategies and rules of test_bad_input.py: no crash, every rejection a stable code, a
rejected plan stores nothing. ``BRAHMI_FUZZ_EXAMPLES`` raises the number of examples.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomlkit
from hypothesis import given, seed, settings
from hypothesis import strategies as st
from sqlalchemy import select
from typer.testing import CliRunner

from brahmi import errors
from brahmi.service import Brahmi
from brahmi.store import tables as t
from tests.faults.test_bad_input import (
    CODES,
    EXAMPLES,
    FUZZ,
    SEED,
    TALLY,
    json_values,
    mutated_specs,
)

pytestmark = pytest.mark.faults


# -- CLI plan files and SKILL.md sources ----------------------------------------------------

plan_texts = (
    st.builds(
        json.dumps,
        json_values | mutated_specs() | st.fixed_dictionaries({"tasks": mutated_specs()}),
    )
    | st.text(max_size=200)
    | st.sampled_from(["", "{", "[]", '{"tasks": []}', "tasks:\n  - 1\n", "\ufeff{}", "null"])
)


@seed(SEED)
@settings(FUZZ, max_examples=max(10, EXAMPLES // 4))
@given(text=plan_texts)
def test_cli_plan_files(tmp_path: Path, text: str) -> None:
    from brahmi.cli.app import app

    home = tmp_path / "home"
    plan = tmp_path / "plan.json"
    plan.write_text(text, encoding="utf-8")
    workspace = tmp_path / "ws"
    workspace.mkdir(exist_ok=True)
    env = {"BRAHMI_HOME": str(home), "BRAHMI_SKILL_DIRS": ""}
    before = _plan_rows(home)
    result = CliRunner().invoke(
        app,
        ["run", str(plan), "--project", str(workspace), "--executor", "noop", "--json"],
        env=env,
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        text,
        result.output,
        repr(result.exception),
    )
    assert result.exit_code in (0, 1, 2), (text, result.output)
    if result.exit_code == 2:
        reply = json.loads(result.stdout)
        code = reply.get("error") or ("invalid_batch" if reply.get("valid") is False else None)
        assert code in CODES, (text, result.stdout)
        assert _plan_rows(home) == before, text
        TALLY["cli plan rejected"] += 1
    else:
        TALLY[f"cli plan exit {result.exit_code}"] += 1


def _plan_rows(home: Path) -> tuple[int, int]:
    import sqlite3

    db_file = home / "brahmi.db"
    if not db_file.exists():
        return (0, 0)
    db = sqlite3.connect(db_file)
    try:
        return (
            db.execute("SELECT count(*) FROM tasks").fetchone()[0],
            db.execute("SELECT count(*) FROM batches").fetchone()[0],
        )
    except sqlite3.OperationalError:
        return (0, 0)
    finally:
        db.close()


front_matter = st.dictionaries(
    st.sampled_from(["name", "description", "metadata", "license", "allowed-tools", "x"]),
    json_values,
    max_size=4,
)
near_valid_skill = st.builds(
    lambda desc, meta, body: (
        "---\nname: fuzzed\ndescription: "
        + json.dumps(desc)
        + "\nmetadata: "
        + json.dumps(meta)
        + "\n---\n"
        + body
    ),
    st.text(max_size=60),
    st.dictionaries(
        st.sampled_from(
            ["brahmi-runtime", "brahmi-command", "category", "tags", "brahmi-max-turns"]
        ),
        json_values,
        max_size=3,
    ),
    st.text(max_size=80),
)
skill_texts = (
    near_valid_skill
    | st.builds(
        lambda fm, body: "---\n" + json.dumps(fm) + "\n---\n" + body,
        front_matter,
        st.text(max_size=80),
    )
    | st.builds(
        lambda n, d: f"---\nname: {n}\ndescription: {d}\n---\n\nbody\n",
        st.text(max_size=70),
        st.text(max_size=40),
    )
    | st.text(max_size=200)
)


_SOURCES = iter(range(1, 10**9))


@seed(SEED)
@settings(FUZZ, max_examples=max(10, EXAMPLES // 2))
@given(text=skill_texts)
def test_skill_md_sources(
    brahmi: Brahmi, tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    root = tmp_path_factory.mktemp("source")
    (root / "fuzzed").mkdir()
    (root / "fuzzed" / "SKILL.md").write_text(text, encoding="utf-8")
    owner_repo = f"acme/fuzz{next(_SOURCES)}"
    try:
        _, outcome = brahmi.registry.add(str(root), owner_repo=owner_repo)
    except errors.BrahmiError as exc:
        assert exc.code in CODES, (text, exc)
        TALLY[f"skill source rejected ({exc.code})"] += 1
        return
    errors_found = [p for p in outcome.problems if p.severity == "error"]
    with brahmi.store.engine.connect() as conn:
        indexed = conn.execute(
            select(t.skills.c.full_id).where(t.skills.c.full_id.like(f"{owner_repo}/%"))
        ).all()
    if errors_found:
        assert all(re.fullmatch(r"[a-z_]+", p.code) for p in errors_found), errors_found
        assert indexed == [], (text, errors_found)
        TALLY[f"skill source problem ({errors_found[0].code})"] += 1
    else:
        assert outcome.indexed == 1, (text, outcome)
        TALLY["skill source indexed"] += 1


# -- aramb.toml (DESIGN §11) ----------------------------------------------------------------

ARAMB_KEYS = [
    "uniqueIdentifier",
    "name",
    "type",
    "applicationID",
    "configuration",
    "settings",
    "vars",
    "secrets",
    "image",
    "cmd",
    "commandPort",
    "repoUrl",
    "buildPath",
    "targetBranches",
    "installationId",
    "staticPath",
    "publicNet",
    "key",
    "value",
]


def valid_service(n: int) -> dict[str, Any]:
    return {
        "uniqueIdentifier": 100 + n,
        "name": f"db{n}",
        "type": "postgres",
        "applicationID": "{applicationID}",
        "configuration": {
            "settings": {"image": "postgres:16", "commandPort": 5432},
            "vars": [{"key": "POSTGRES_DB", "value": "notes"}],
            "secrets": [{"key": "POSTGRES_PASSWORD", "value": ""}],
        },
    }


toml_values = st.recursive(
    st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(["{applicationID}", "backend", "build", "${{100.IMAGE_URL}}", "sk-live-1"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(ARAMB_KEYS) | st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)


@st.composite
def aramb_documents(draw: st.DrawFn) -> dict[str, Any]:
    """A valid services list with a few values replaced, dropped or added."""
    services: list[Any] = [valid_service(i) for i in range(draw(st.integers(1, 3)))]
    for _ in range(draw(st.integers(1, 4))):
        target: Any = services[draw(st.integers(0, len(services) - 1))]
        path = draw(st.lists(st.sampled_from(ARAMB_KEYS), min_size=1, max_size=3))
        for key in path[:-1]:
            if isinstance(target, dict) and isinstance(target.get(key), dict):
                target = target[key]
        if isinstance(target, dict):
            if draw(st.booleans()):
                target[path[-1]] = draw(toml_values)
            else:
                target.pop(path[-1], None)
    document: dict[str, Any] = {"services": services}
    if draw(st.booleans()):
        document["config_status"] = draw(toml_values)
    return document


aramb_texts = (
    aramb_documents().map(tomlkit.dumps)
    | st.text(max_size=200)
    | st.sampled_from(
        ["", "[[services]]", "services = 1", "[[services]]\nuniqueIdentifier = 1e400"]
    )
)


@seed(SEED)
@FUZZ
@given(text=aramb_texts)
def test_aramb_toml(text: str) -> None:
    from brahmi.metadata.files import validate_text

    try:
        problems = validate_text(text)
    except errors.BrahmiError as exc:
        assert exc.code in CODES, (text, exc)
        TALLY[f"aramb.toml rejected ({exc.code})"] += 1
        return
    for problem in problems:
        assert re.fullmatch(r"[a-z_]+", problem.code), (text, problem)
        assert problem.message, (text, problem)
        assert problem.line is None or 1 <= problem.line <= text.count("\n") + 1, (text, problem)
    TALLY[f"aramb.toml {'problems' if problems else 'valid'}"] += 1


@pytest.fixture(autouse=True, scope="module")
def _print_tally() -> Iterator[None]:
    """Print what the fuzzing saw (``pytest -s``; the soak reads it)."""
    yield
    for outcome, count in sorted(TALLY.items()):
        print(f"fuzz: {count:7d}  {outcome}")
    TALLY.clear()
