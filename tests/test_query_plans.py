"""The store's hot reads use an index, never a full scan of the tables that grow (decisions,
enforcements, holders): dropping or changing an index must not silently turn one into a scan.

Each test runs one of the store's own operations and captures the statements it sends (so the
query tested is the query the code runs, not a copy of it), then asks the database how it would
run each one: ``EXPLAIN QUERY PLAN`` on SQLite, ``EXPLAIN (FORMAT JSON)`` on PostgreSQL with
sequential scans priced out (``enable_seqscan = off``: on a test's few rows a scan is cheapest, so
only a plan that *must* scan still does). A full scan is SQLite's ``SCAN <table>`` (of the table or
of a whole index), PostgreSQL's ``Seq Scan`` or an index scan with no ``Index Cond`` (every entry
read in order and filtered) — of a partial index too: a whole scan of the live-key index reads every
live decision, a read that grows with the active set (issue 12.5). PostgreSQL answered the blackhole
space check so (its ``LIKE 'prefix%'`` cannot use a btree index under a collation other than C) until
``ix_decisions_space`` (``text_pattern_ops``), and the holds of one caller until ``ix_holders_caller``
(migration 0008).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from ipaddress import ip_network
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event

from enforcer import service
from enforcer.batch import Batch
from enforcer.model import Decision, now
from enforcer.settings import Settings

from .conftest import EXAMPLE_INVENTORY

BACKENDS = ["sqlite"] + (["postgres"] if os.environ.get("ENFORCER_TEST_PG") else [])
#: The tables that grow with every decision: a read of them must find its rows by an index.
BIG = ("decisions", "enforcements", "holders")


@pytest.fixture(params=BACKENDS)
def ctx(request, tmp_path: Path) -> service.Context:
    """A fresh store on each backend, holding a little of everything the hot reads look for."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'enforcer.db'}"
    else:
        url = os.environ["ENFORCER_TEST_PG"]
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        engine.dispose()
    ctx = service.Context.open(Settings(inventory=EXAMPLE_INVENTORY, db=url, output=tmp_path / "out"))
    service.submit(ctx, Decision(target="198.51.100.7", violation="spam", source="cli", actor="alice"))
    service.submit(
        ctx,
        Decision(
            target="203.0.113.10",
            violation="ddos-victim",
            source="fastnetmon",
            actor="fnm-1",
            idempotency_key="hook:fnm:1",
            cause="attack-1",
        ),
        automatic=True,
    )
    yield ctx
    ctx.store.engine.dispose()


@contextmanager
def captured(ctx: service.Context) -> Iterator[list[tuple[str, Any]]]:
    """The statements (with their parameters) the store sends to the database inside the block."""
    sent: list[tuple[str, Any]] = []

    def keep(conn, cursor, statement, parameters, context, executemany) -> None:
        if not executemany:
            sent.append((statement, parameters))

    event.listen(ctx.store.engine, "before_cursor_execute", keep)
    try:
        yield sent
    finally:
        event.remove(ctx.store.engine, "before_cursor_execute", keep)


def full_scans(ctx: service.Context, sent: list[tuple[str, Any]]) -> list[str]:
    """Each statement that reads a big table by a full scan, with the plan that says so."""
    found = []
    with ctx.store.engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if not sqlite:
            conn.exec_driver_sql("SET enable_seqscan = off")
        for statement, parameters in sent:
            head = statement.lstrip().split(None, 1)[0].upper()
            if head not in ("SELECT", "UPDATE", "DELETE") or not any(t in statement for t in BIG):
                continue
            if sqlite:
                plan = [str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)]
                bad = [p for p in plan if p.split()[0] == "SCAN" and p.split()[1] in BIG]
            else:
                [[doc]] = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, parameters).all()
                doc = json.loads(doc) if isinstance(doc, str) else doc
                plan = list(_pg_nodes(doc[0]["Plan"]))
                bad = [p for p in plan if _pg_full_scan(p)]
            if bad:
                found.append(f"{statement}\n  plan: {plan}")
        conn.rollback()
    return found


def _pg_nodes(node: dict) -> Iterator[dict]:
    yield node
    for child in node.get("Plans", ()):
        yield from _pg_nodes(child)


def _pg_full_scan(node: dict) -> bool:
    kind, table = node["Node Type"], node.get("Relation Name")
    if kind == "Seq Scan":
        return table in BIG
    whole = "Index Cond" not in node
    if kind in ("Index Scan", "Index Only Scan"):
        return table in BIG and whole
    return kind == "Bitmap Index Scan" and whole


def assert_indexed(ctx: service.Context, operation: Callable[[], object]) -> None:
    with captured(ctx) as sent:
        operation()
    reads = [s for s, _ in sent if any(t in s for t in BIG)]
    assert reads, "the operation read none of the big tables: nothing was checked"
    assert full_scans(ctx, sent) == []


def plans(ctx: service.Context, sent: list[tuple[str, Any]]) -> list[str]:
    """Every step of every captured statement's plan, as text."""
    out = []
    with ctx.store.engine.connect() as conn:
        for statement, parameters in sent:
            if statement.lstrip().upper().startswith("SELECT"):
                explain = "EXPLAIN QUERY PLAN " if conn.dialect.name == "sqlite" else "EXPLAIN "
                out += [str(r[-1]) for r in conn.exec_driver_sql(explain + statement, parameters)]
    return out


def test_reading_the_active_set_uses_an_index(ctx):
    ctx.store._desired = None  # the cached set would answer without reading
    assert_indexed(ctx, ctx.store.active_enforcements)


def test_the_active_set_and_its_keys_are_sorted_in_python_not_by_the_database(ctx):
    """By the expiry index, the rows come in (status, expiry) order: an ``ORDER BY id`` would sort
    every active row's columns in the database (SQLite's temporary B-tree) on every read."""
    ctx.store._desired = None
    with captured(ctx) as sent:
        ctx.store.active_enforcements()
        keys = ctx.store.active_keys()
    assert not [p for p in plans(ctx, sent) if "TEMP B-TREE" in p or p.lstrip().startswith("Sort")]
    assert keys == sorted(keys) and len(keys) == 2


def test_the_active_keys_of_a_role_use_an_index(ctx):
    assert_indexed(ctx, lambda: ctx.store.active_keys(role="edge"))
    assert_indexed(ctx, ctx.store.active_keys)


def test_the_change_feed_reads_the_changed_rows_by_index(ctx):
    assert_indexed(ctx, lambda: ctx.store.enforcements_changed_since(0))


def test_the_guardrail_counts_of_intake_use_indexes(ctx):
    at = now()

    def counts() -> None:
        with ctx.store.write() as tx:
            tx.counts = None  # the count the last intake commit kept would answer without reading
            tx.active()
            tx.new_since(at - timedelta(minutes=1))
            tx.new_since(at - timedelta(minutes=1), source="fastnetmon", actor="fnm-1")
            tx.by_key("hook:fnm:1", at)
            tx.automatic_within([ip_network("203.0.113.0/24")], at)
            Batch(tx, [Decision(target="203.0.113.11", violation="ddos-victim", idempotency_key="k")], at)

    assert_indexed(ctx, counts)


def test_the_space_check_reads_only_the_automatic_live_decisions_inside_the_prefix(ctx):
    """Not every automatic decision ever stored (what SQLite's planner read by ``ix_decisions_recent``
    before migration 0009): the space index, by the prefix's range (SQLite) or its ``LIKE`` (PostgreSQL)."""

    def space() -> None:
        with ctx.store.write() as tx:
            tx.automatic_within([ip_network("203.0.113.0/24")], now())

    with captured(ctx) as sent:
        space()
    steps = [p for p in plans(ctx, [(s, a) for s, a in sent if "target" in s and "decisions" in s]) if "decisions" in p]
    if ctx.store.engine.dialect.name == "sqlite":
        assert steps == ["SEARCH decisions USING INDEX ix_decisions_space (target>? AND target<?)"]
    else:  # a test's few rows: PostgreSQL's cheapest is a scan, priced out here as full_scans() does
        with ctx.store.engine.connect() as conn:
            conn.exec_driver_sql("SET enable_seqscan = off")
            [(statement, parameters)] = [(s, a) for s, a in sent if " LIKE " in s]
            plan = " ".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement, parameters))
        assert "ix_decisions_space" in plan, plan
    assert full_scans(ctx, sent) == []


def test_the_expiry_sweep_reads_only_what_is_due(ctx):
    later = now() + timedelta(days=30)

    def sweep() -> None:
        with ctx.store.write() as tx:
            assert tx.expire_due(later)  # something was due: the decision reads after it ran too

    assert_indexed(ctx, sweep)


def test_holders_are_found_by_their_decision_and_cause(ctx):
    at = now()
    [rec] = [r for r in ctx.store.decisions() if r.source == "fastnetmon"]
    repeat = Decision(
        target="203.0.113.10", violation="ddos-victim", source="fastnetmon", actor="fnm-1", cause="attack-2"
    )

    def holders() -> None:
        ctx.store.holds("fastnetmon", "fnm-1")
        with ctx.store.write() as tx:
            tx.hold(rec.id, repeat, at + timedelta(hours=2), at)
            row = tx.live_for(repeat.target, "fastnetmon", [None])[0]
            assert tx.release(row, source="fastnetmon", actor="fnm-1", cause="attack-1") == 1

    assert_indexed(ctx, holders)


def test_a_plan_that_scans_is_reported(ctx):
    """The check itself: a read by an unindexed column is found, on either backend."""
    with captured(ctx) as sent, ctx.store.session() as s:
        s.connection().exec_driver_sql("SELECT id FROM enforcements WHERE comment = 'x'").all()
    assert len(full_scans(ctx, sent)) == 1
