"""Schema migrations: a store made before Alembic managed the schema upgrades in place, data kept.

The "before" schema is the DDL enforcer created until then, committed as it was emitted
(``tests/fixtures/schema/before-alembic.*.sql``), with rows written the way that version wrote them.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from enforcer import service
from enforcer.migrate import BEFORE_ALEMBIC, HEAD, config, current, head
from enforcer.model import Decision, now
from enforcer.settings import Settings
from enforcer.store import DuplicateDecision, Store
from enforcer.tables import Base

from .conftest import EXAMPLE_INVENTORY

SCHEMA = Path(__file__).resolve().parent / "fixtures" / "schema"
BACKENDS = ["sqlite"] + (["postgres"] if os.environ.get("ENFORCER_TEST_PG") else [])

ROWS = [
    # An operator's block and FastNetMon's ban, both active, and an unblocked decision whose key is now dead.
    ("INSERT INTO decisions (id, target, violation, source, actor, reason, customer, asn, forced, step, clause, "
     "idempotency_key, created_at, expires_at, status) VALUES "
     "(1, '203.0.113.7/32', 'spam', 'cli', 'alice', 'ticket 4711', NULL, NULL, false, 0, 'AUP 4.2', NULL, "
     ":at, :later, 'active'), "
     "(2, '203.0.113.10/32', 'ddos-victim', 'fastnetmon', 'fnm-1', 'attack', NULL, NULL, false, 0, 'AUP 6.1', "
     "'hook:fastnetmon:fnm-1:uuid-1', :at, :later, 'active'), "
     "(3, '203.0.113.11/32', 'ddos-victim', 'fastnetmon', 'fnm-1', 'attack', NULL, NULL, false, 0, 'AUP 6.1', "
     "'hook:fastnetmon:fnm-1:uuid-2', :at, :later, 'removed')"),
    ("INSERT INTO enforcements (id, decision_id, action, target, violation, params, roles, customer, asn, comment, "
     "created_at, expires_at, status) VALUES "
     "(1, 1, 'acl', '203.0.113.7/32', 'spam', '{}', '[\"edge\"]', NULL, NULL, 'ticket 4711', :at, :later, 'active'), "
     "(2, 2, 'rtbh', '203.0.113.10/32', 'ddos-victim', '{}', '[\"edge\"]', NULL, NULL, 'attack', :at, :later, "
     "'active'), "
     "(3, 3, 'rtbh', '203.0.113.11/32', 'ddos-victim', '{}', '[\"edge\"]', NULL, NULL, 'attack', :at, :later, "
     "'removed')"),
    ("INSERT INTO audit (id, at, actor, source, action, target, decision_id, violation, clause, reason, detail) "
     "VALUES (1, :at, 'alice', 'cli', 'block', '203.0.113.7/32', 1, 'spam', 'AUP 4.2', 'ticket 4711', '{}')"),
    ("INSERT INTO api_tokens (id, name, scope, categories, digest, created_at, revoked_at) VALUES "
     "(1, 'fnm-1', 'detector', '[\"ddos-victim\"]', 'abc123', :at, NULL)"),
]


@pytest.fixture(params=BACKENDS)
def old_store(request, tmp_path: Path) -> str:
    """A store with the schema and rows of enforcer before migrations; returns its URL."""
    if request.param == "sqlite":
        url, ddl = f"sqlite:///{tmp_path / 'old.db'}", "sqlite"
    else:
        url, ddl = os.environ["ENFORCER_TEST_PG"], "postgresql"
    engine = create_engine(url)
    with engine.begin() as conn:
        if ddl == "postgresql":
            conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        for statement in (SCHEMA / f"before-alembic.{ddl}.sql").read_text().split(";"):
            if statement.strip():
                conn.exec_driver_sql(statement)
        at = now().replace(tzinfo=None)
        for row in ROWS:
            conn.execute(text(row), {"at": at, "later": at + timedelta(hours=1)})
        if ddl == "postgresql":  # the rows named their ids: move the sequences past them, as inserts would have
            for table in ("decisions", "enforcements", "audit", "api_tokens"):
                conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                     f"(SELECT max(id) FROM {table}))")
    engine.dispose()
    return url


def test_an_old_store_upgrades_to_the_current_schema_with_its_data(old_store):
    store = Store(old_store)
    assert current(store.engine) == head()
    assert [(d.id, d.target, d.status) for d in store.decisions(active_only=False)] == [
        (1, "203.0.113.7/32", "active"), (2, "203.0.113.10/32", "active"), (3, "203.0.113.11/32", "removed")]
    assert [str(e.target) for e in store.active_enforcements()] == ["203.0.113.7/32", "203.0.113.10/32"]
    assert store.history()[0].reason == "ticket 4711"
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT name FROM api_tokens").scalars().all() == ["fnm-1"]
        holders = conn.exec_driver_sql("SELECT decision_id, source, actor FROM holders ORDER BY decision_id").all()
        automatic = dict(conn.exec_driver_sql("SELECT id, automatic FROM decisions").all())
    assert [tuple(h) for h in holders] == [(1, "cli", "alice"), (2, "fastnetmon", "fnm-1")]  # the current ones
    assert {k: bool(v) for k, v in automatic.items()} == {1: False, 2: True, 3: True}


def test_after_the_upgrade_a_dead_key_is_free_and_a_live_one_still_holds(old_store):
    store = Store(old_store)

    def add(key: str):
        d = Decision(target="203.0.113.11", violation="ddos-victim", source="fastnetmon", idempotency_key=key)
        return store.add_decision(d, customer=None, step=0, clause="c", expires_at=None, enforcements=[])

    assert add("hook:fastnetmon:fnm-1:uuid-2").id == 4  # decision 3 ended: its key matches nothing now
    with pytest.raises(DuplicateDecision):
        add("hook:fastnetmon:fnm-1:uuid-1")


def test_an_upgraded_store_takes_a_detectors_release(old_store, tmp_path):
    """The opener of a decision from before holders existed holds it: its unban still ends it."""
    ctx = service.Context.open(Settings(inventory=EXAMPLE_INVENTORY, db=old_store, output=tmp_path / "out"))
    ended, kept = service.release(ctx, Decision(target="203.0.113.10", violation="ddos-victim").target,
                                  source="fastnetmon", actor="fnm-1", cause="uuid-1", violations=[None])
    assert (ended, kept) == ([2], [])


def test_a_current_store_opens_again_without_changes(tmp_path):
    url = f"sqlite:///{tmp_path / 'new.db'}"
    Store(url)
    store = Store(url)
    assert current(store.engine) == head()


def test_an_upgraded_store_has_the_intake_count_indexes_and_the_counts_use_them(old_store):
    """The flood breaker's last-minute count and the key lookup read an index, not every decision."""
    store = Store(old_store)
    names = {ix["name"] for ix in inspect(store.engine).get_indexes("decisions")}
    assert {"ix_decisions_key", "ix_decisions_recent", "ix_decisions_source_recent"} <= names
    if not store.is_sqlite:
        return
    with store.engine.connect() as conn:
        def plan(sql: str, *params: object) -> str:  # bound parameters, as SQLAlchemy sends them
            return " ".join(str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params))
        assert "ix_decisions_recent" in plan("SELECT count(id) FROM decisions WHERE automatic = ? "
                                             "AND created_at >= ?", 1, "2026-01-01")
        assert "ix_decisions_key" in plan("SELECT id, status FROM decisions WHERE idempotency_key IN (?, ?)", "a", "b")


def test_the_head_a_store_is_checked_against_without_alembic_is_alembics_head():
    assert HEAD == head()


def test_the_migrations_alone_build_every_table_and_column_the_store_uses(old_store):
    """Nothing is left to the create-missing step: Alembic's comparison of the schema the migrations
    build with the models finds no table or column to add (the saved plans' change serial, the
    notice outbox)."""
    engine = create_engine(old_store)
    with engine.begin() as conn:
        cfg = config(conn)
        command.stamp(cfg, BEFORE_ALEMBIC)
        command.upgrade(cfg, "head")
    with engine.connect() as conn:
        missing = [d for d in compare_metadata(MigrationContext.configure(conn), Base.metadata)
                   if isinstance(d, tuple) and d[0] in ("add_table", "add_column")]  # fmt: skip
    engine.dispose()
    assert missing == []
    store = Store(old_store)
    before = store.serial()
    d = Decision(target="203.0.113.12", violation="spam", source="cli")
    store.add_decision(d, customer=None, step=0, clause="c", expires_at=None, enforcements=[])
    assert store.serial() == before + 1


def test_a_store_whose_serial_the_create_missing_step_made_upgrades_past_it(tmp_path):
    """Stores at 0002 made since saved plans came in already have the serial: it is kept, not recreated."""
    url = f"sqlite:///{tmp_path / 'at-0002.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        Base.metadata.create_all(conn)
        conn.exec_driver_sql("INSERT INTO serial (id, value) VALUES (1, 41)")
        command.stamp(config(conn), "0002")
    engine.dispose()
    store = Store(url)
    assert current(store.engine) == head() and store.serial() == 41


def _before(migration: str) -> str:
    """The revision before the migration in ``*_<migration>.py``, whatever its number."""
    from alembic.script import ScriptDirectory

    [script] = [s for s in ScriptDirectory.from_config(config(None)).walk_revisions()
                if s.path.endswith(f"_{migration}.py")]  # fmt: skip
    return script.down_revision


@pytest.mark.parametrize("made", [False, True], ids=["without-it", "create-missing-made-it"])
def test_a_store_from_before_ended_sessions_gains_the_table(made, tmp_path):
    """The ended-sessions migration adds ``ended_sessions`` (logout ends a console session for
    every instance), or keeps the one the create-missing step made, with a logout record in it."""
    url = f"sqlite:///{tmp_path / 'before.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        Base.metadata.create_all(conn)
        if made:
            conn.exec_driver_sql("INSERT INTO ended_sessions (sid, expires_at) VALUES ('s1', '2026-01-01 00:00:00')")
        else:
            conn.exec_driver_sql("DROP TABLE ended_sessions")
        command.stamp(config(conn), _before("ended_sessions"))
    engine.dispose()
    store = Store(url)
    assert current(store.engine) == head()
    assert "ix_ended_sessions_expires_at" in {ix["name"] for ix in inspect(store.engine).get_indexes("ended_sessions")}
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT sid FROM ended_sessions").scalars().all() == (["s1"] if made else [])


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_new_store_s_key_index_holds_live_decisions_only(backend, tmp_path):
    """The live-key index's WHERE is given when the table is created (``tables._live_key_where``), not in
    the ``Index()``: there it made every start-up import SQLAlchemy's PostgreSQL dialects. A new store
    gets the same partial index as a migrated one: a key is free once its decision ended."""
    if backend == "sqlite":
        url, definition = f"sqlite:///{tmp_path / 'new.db'}", "SELECT sql FROM sqlite_master WHERE name = :n"
    else:
        url, definition = os.environ["ENFORCER_TEST_PG"], "SELECT indexdef FROM pg_indexes WHERE indexname = :n"
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        engine.dispose()
    store = Store(url)
    row = ("INSERT INTO decisions (target, violation, source, actor, reason, forced, step, clause, idempotency_key, "
           "automatic, created_at, status) VALUES ('203.0.113.7/32', 'spam', 'cli', 'a', '', false, 0, '', 'k', "
           "false, :at, :status)")
    with store.engine.begin() as conn:
        [sql] = conn.execute(text(definition), {"n": "ix_decisions_live_key"}).scalars().all()
        assert "WHERE" in sql.upper() and "active" in sql, sql
        conn.execute(text(row), {"at": now().replace(tzinfo=None), "status": "removed"})
        conn.execute(text(row), {"at": now().replace(tzinfo=None), "status": "active"})  # the key was free
    with pytest.raises(Exception, match="(?i)unique"), store.engine.begin() as conn:
        conn.execute(text(row), {"at": now().replace(tzinfo=None), "status": "pending"})  # a live one holds
    store.engine.dispose()
