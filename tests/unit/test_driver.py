"""``store.driver.execute`` runs Core statements through the driver with the same effect."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, create_engine, update

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

        assert [tuple(r) for r in first] == [(1, "renamed")]
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
