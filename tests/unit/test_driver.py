"""``store.driver`` runs Core statements on the DBAPI cursor with ``conn.execute``'s effect."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    create_engine,
    insert,
    update,
)
from sqlalchemy.exc import IntegrityError

from brahmi.store import driver
from brahmi.store.tables import Json

_metadata = MetaData()
_things = Table(
    "things",
    _metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String, nullable=False),
    Column("data", Json, nullable=True),
    Column("score", Integer, nullable=False),
)
#: Binds given by the caller, a value bound in the statement itself, a JSON column.
_SET = (
    update(_things)
    .where((_things.c.id == bindparam("p_id")) & (_things.c.name == "old"))
    .values(name=bindparam("p_name"), data=bindparam("p_data"), score=7)
    .returning(_things.c.id, _things.c.name)
)


def test_a_statement_runs_with_caller_and_statement_binds_and_json_encoded(
    tmp_path: Path,
) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'things.db'}")
    _metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(_things.insert(), [{"id": 1, "name": "old", "data": None, "score": 0}])
        conn.execute(_things.insert(), [{"id": 2, "name": "new", "data": None, "score": 0}])

        first = driver.execute(conn, _SET, {"p_id": 1, "p_name": "renamed", "p_data": {"a": [1]}})
        guarded = driver.execute(conn, _SET, {"p_id": 2, "p_name": "x", "p_data": None})

        assert [dict(r) for r in first] == [{"id": 1, "name": "renamed"}]
        assert first.rowcount == 1
        assert guarded.first() is None  # the WHERE's own bound value ("old") applied
    with engine.connect() as conn:
        rows = conn.execute(_things.select().order_by(_things.c.id)).all()
    assert [tuple(r) for r in rows] == [(1, "renamed", {"a": [1]}, 7), (2, "new", None, 0)]


def test_a_value_left_none_for_a_json_bind_is_sql_null(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'things.db'}")
    _metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(_things.insert(), [{"id": 1, "name": "old", "data": {"k": 1}, "score": 0}])
        driver.execute(conn, _SET, {"p_id": 1, "p_name": "n", "p_data": None})
        stored = conn.exec_driver_sql("SELECT data IS NULL FROM things").scalar()
    assert stored == 1


_ADD = insert(_things).values(
    id=bindparam("p_id"), name=bindparam("p_name"), data=None, score=bindparam("p_score")
)


def test_a_driver_error_is_raised_as_sqlalchemy_raises_it_and_rows_read_as_attributes(
    tmp_path: Path,
) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'things.db'}")
    _metadata.create_all(engine)
    with engine.begin() as conn:
        added = driver.execute(conn, _ADD, {"p_id": 1, "p_name": "old", "p_score": 3})
        assert added.rowcount == 1
        assert added.first() is None  # no RETURNING, no rows
        with pytest.raises(IntegrityError):
            driver.execute(conn, _ADD, {"p_id": 1, "p_name": "again", "p_score": 4})
        (row,) = driver.execute(conn, _SET, {"p_id": 1, "p_name": "b", "p_data": [2]})
    assert (row.id, row.name, row._mapping["name"]) == (1, "b", "b")
    with pytest.raises(AttributeError):
        _ = row.missing


@pytest.mark.parametrize(
    "value",
    [
        {"from": "running", "to": "completed", "attempt_id": "a:1"},
        {"nested": {"list": [1, 2.5, None, True, False], "é": "ünïcode ✓"}, "n": -3},
        [1e300, -0.0, 1.0, 0.1, float("nan"), float("inf")],
        "just a string",
        42,
        None,
        {1: "int key", 2.5: "float key", None: "null key", False: "bool key"},
    ],
)
def test_dumps_writes_what_json_dumps_writes(value: object) -> None:
    assert driver.dumps(value) == json.dumps(value)


def test_dumps_refuses_what_json_dumps_refuses() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        driver.dumps({"when": object()})
    circular: list[object] = []
    circular.append(circular)
    with pytest.raises((ValueError, RecursionError)):
        driver.dumps(circular)


def test_many_rows_run_in_one_call_with_their_json_encoded(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'things.db'}")
    _metadata.create_all(engine)
    with engine.begin() as conn:
        for i in (1, 2, 3):
            conn.execute(_things.insert(), [{"id": i, "name": "old", "data": None, "score": 0}])
        plain = update(_things).where(_things.c.id == bindparam("p_id"))
        driver.execute_many(
            conn,
            plain.values(name=bindparam("p_name"), data=bindparam("p_data"), score=7),
            [
                {"p_id": 1, "p_name": "one", "p_data": {"a": 1}},
                {"p_id": 3, "p_name": "three", "p_data": None},
            ],
        )
    with engine.connect() as conn:
        rows = conn.execute(_things.select().order_by(_things.c.id)).all()
    assert [tuple(r) for r in rows] == [
        (1, "one", {"a": 1}, 7),
        (2, "old", None, 0),
        (3, "three", None, 7),
    ]
