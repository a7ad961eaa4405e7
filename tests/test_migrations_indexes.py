"""Migration 0007: the indexes a composite index covers are dropped, from old stores and new ones alike.

An upgraded store and a new one must end with the same indexes, or the query plans tested on a new
store (``tests/test_query_plans.py``) would not be the plans of an upgraded one.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import create_engine, inspect

from enforcer.migrate import config
from enforcer.store import Store

from .test_migrations import old_store  # noqa: F401 - the fixture: a store from before Alembic, with rows

DROPPED = {"enforcements": {"ix_enforcements_status", "ix_enforcements_expires_at"},
           "holders": {"ix_holders_decision_id"}}  # fmt: skip


def indexes(url: str) -> dict[str, set[str]]:
    """Each table's index names (unique constraints' backing indexes included, as the database lists them)."""
    engine = create_engine(url)
    try:
        found = inspect(engine)
        return {t: {ix["name"] for ix in found.get_indexes(t)} for t in found.get_table_names()}
    finally:
        engine.dispose()


def fresh(url: str, tmp_path: Path) -> str:
    """A new store on ``url``'s backend (PostgreSQL: the same database, wiped)."""
    if url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'new.db'}"
    else:
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        engine.dispose()
    Store(url).engine.dispose()
    return url


def test_an_upgraded_store_has_exactly_the_indexes_of_a_new_one(old_store, tmp_path):  # noqa: F811
    Store(old_store).engine.dispose()
    upgraded = indexes(old_store)
    new = indexes(fresh(old_store, tmp_path))
    tables = ("decisions", "enforcements", "holders")
    assert {t: upgraded[t] for t in tables} == {t: new[t] for t in tables}
    for table, names in DROPPED.items():
        assert not names & new[table]
    assert {"ix_enforcements_due", "ix_decisions_status"} <= new["enforcements"] | new["decisions"]


def test_0007_drops_the_covered_indexes_and_its_downgrade_brings_them_back(old_store):  # noqa: F811
    engine = create_engine(old_store)

    def step(to: str, up: bool) -> dict[str, set[str]]:
        with engine.begin() as conn:
            (command.upgrade if up else command.downgrade)(config(conn), to)
        return indexes(old_store)

    with engine.begin() as conn:
        command.stamp(config(conn), "0001")
    before = step("0006", up=True)
    after = step("0007", up=True)
    back = step("0006", up=False)
    engine.dispose()
    for table, names in DROPPED.items():
        assert names <= before[table]
        assert not names & after[table]
        assert names <= back[table]
    assert after["enforcements"] == before["enforcements"] - DROPPED["enforcements"]
    assert back == before
