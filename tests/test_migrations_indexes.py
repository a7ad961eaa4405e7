"""Migrations 0007, 0008 and 0009: the indexes a composite index covers are dropped, the
blackhole-space and one-caller indexes are created, in old stores and new ones alike.

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
#: Created by 0008: the space index on PostgreSQL only (SQLite's comes with 0009), the caller index on both.
ADDED_EVERYWHERE = {"holders": {"ix_holders_caller"}}
ADDED_POSTGRES = {"decisions": {"ix_decisions_space"}}


def added(url: str) -> dict[str, set[str]]:
    if url.startswith("sqlite"):
        return ADDED_EVERYWHERE
    return {t: ADDED_EVERYWHERE.get(t, set()) | ADDED_POSTGRES.get(t, set()) for t in ("decisions", "holders")}


def definitions(url: str) -> dict[str, str]:
    """Each index of the tables that grow, as the database keeps it (columns, operator class, WHERE)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            if url.startswith("sqlite"):
                rows = conn.exec_driver_sql(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                    "AND tbl_name IN ('decisions', 'enforcements', 'holders')"
                )
            else:
                rows = conn.exec_driver_sql(
                    "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
                    "AND tablename IN ('decisions', 'enforcements', 'holders')"
                )
            return {name: " ".join(sql.split()) for name, sql in rows.all()}
    finally:
        engine.dispose()


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
    postgres = not old_store.startswith("sqlite")
    upgraded_defs = definitions(old_store)
    new_url = fresh(old_store, tmp_path)
    new = indexes(new_url)
    # The same columns, operator class and WHERE, not only the same names (SQLite: the space index's,
    # which its read names with INDEXED BY; the others' text differs by quoting between the two paths).
    new_defs = definitions(new_url)
    if postgres:
        assert upgraded_defs == new_defs
        assert "text_pattern_ops" in upgraded_defs["ix_decisions_space"]
    else:
        assert _where(upgraded_defs["ix_decisions_space"]) == _where(new_defs["ix_decisions_space"])
        assert _where(new_defs["ix_decisions_space"]) == "automatic = 1 AND status IN ('active', 'pending')"
    for table, names in added(old_store).items():
        assert names <= new[table]
    tables = ("decisions", "enforcements", "holders")
    assert {t: upgraded[t] for t in tables} == {t: new[t] for t in tables}
    for table, names in DROPPED.items():
        assert not names & new[table]
    assert {"ix_enforcements_due", "ix_decisions_status"} <= new["enforcements"] | new["decisions"]


def _stepper(url: str):
    """(a function that migrates ``url`` up or down to a revision and returns its indexes, its engine),
    the store stamped at 0001 (the old store's schema) first."""
    engine = create_engine(url)

    def step(to: str, up: bool) -> dict[str, set[str]]:
        with engine.begin() as conn:
            (command.upgrade if up else command.downgrade)(config(conn), to)
        return indexes(url)

    with engine.begin() as conn:
        command.stamp(config(conn), "0001")
    return step, engine


def _where(sql: str) -> str:
    return sql.split(" WHERE ", 1)[1]


def test_0009_creates_the_space_index_on_sqlite_and_its_downgrade_drops_it(old_store):  # noqa: F811
    step, engine = _stepper(old_store)
    before = step("0008", up=True)
    after = step("0009", up=True)
    back = step("0008", up=False)
    engine.dispose()
    assert back == before
    if old_store.startswith("sqlite"):
        assert after["decisions"] == before["decisions"] | {"ix_decisions_space"}
    else:  # PostgreSQL's came with 0008
        assert after == before and "ix_decisions_space" in before["decisions"]


def test_0007_drops_the_covered_indexes_and_its_downgrade_brings_them_back(old_store):  # noqa: F811
    step, engine = _stepper(old_store)
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


def test_0008_creates_the_space_and_caller_indexes_and_its_downgrade_drops_them(old_store):  # noqa: F811
    step, engine = _stepper(old_store)
    before = step("0007", up=True)
    after = step("0008", up=True)
    back = step("0007", up=False)
    engine.dispose()
    for table, names in added(old_store).items():
        assert not names & before[table]
        assert after[table] == before[table] | names
    assert back == before
    if old_store.startswith("sqlite"):
        assert "ix_decisions_space" not in after["decisions"]
