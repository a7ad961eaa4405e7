"""An intake batch on PostgreSQL goes in by COPY (``enforcer.batch``), with the INSERTs' semantics.

On the real PostgreSQL of ``scripts/postgres.sh`` (``ENFORCER_TEST_PG``): the same batch stored on
SQLite (an executemany of INSERTs) and on PostgreSQL reads back the same, and a unique conflict in
the middle of a batch still raises SQLAlchemy's ``IntegrityError`` and leaves nothing of the batch.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.exc import IntegrityError

from enforcer import service
from enforcer.model import Decision, now
from enforcer.settings import Settings

from .conftest import EXAMPLE_INVENTORY


@pytest.fixture
def pg() -> str:
    url = os.environ.get("ENFORCER_TEST_PG")
    if not url:
        pytest.fail('needs PostgreSQL: eval "$(bash scripts/postgres.sh start)" (exports ENFORCER_TEST_PG)')
    return url


def open_ctx(url: str, tmp_path: Path) -> service.Context:
    if url.startswith("postgresql"):
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        engine.dispose()
    return service.Context.open(Settings(inventory=EXAMPLE_INVENTORY, db=url, output=tmp_path / "out"))


def batch() -> list[Decision]:
    """Detector decisions with keys and causes, inside and outside a customer's space."""
    return [Decision(target=f"203.0.113.{i}", violation="ddos-victim", source="fastnetmon", actor="fnm-1",
                     idempotency_key=f"hook:fnm:{i}", cause=f"attack-{i}", reason=f"attack 'on' {i}\ttab")
            for i in range(1, 41)] + [Decision(target="198.51.100.9", violation="spam", source="fastnetmon",
                                               actor="fnm-1")]  # fmt: skip


def stored(ctx: service.Context) -> dict:
    """What a batch left, as the store reads it back (ids and times aside)."""
    with ctx.store.engine.connect() as conn:
        holders = conn.execute(text("SELECT decision_id, source, actor, cause, since = refreshed_at FROM holders "
                                    "ORDER BY id")).all()  # fmt: skip
        unstamped = conn.execute(text("SELECT count(*) FROM enforcements WHERE changed IS NULL")).scalar()
        keys = conn.execute(
            text("SELECT id, idempotency_key, automatic, forced, clause FROM decisions ORDER BY id")
        ).all()
    return {
        "decisions": [
            (
                d.id,
                str(d.target),
                d.violation,
                d.source,
                d.actor,
                d.reason,
                d.customer,
                d.status,
                d.step,
                [(e.id, e.action, str(e.target), e.params, sorted(e.roles), e.status) for e in d.enforcements],
            )
            for d in ctx.store.decisions()
        ],  # fmt: skip
        "active": [
            (e.id, e.decision_id, str(e.target), e.expires_at is not None) for e in ctx.store.active_enforcements()
        ],  # fmt: skip
        "keys": [tuple(k) for k in keys],
        "holders": [tuple(h) for h in holders],
        "audit": [(a.action, a.target, a.decision_id, a.reason, a.detail) for a in ctx.store.history(limit=1000)],
        "feed": [e.id for e in ctx.store.enforcements_changed_since(0)],
        "unstamped": unstamped,
    }


def test_a_batch_stored_by_copy_reads_back_as_the_same_batch_stored_by_inserts(pg, tmp_path):
    lite = open_ctx(f"sqlite:///{tmp_path / 'enforcer.db'}", tmp_path)
    pg = open_ctx(pg, tmp_path)
    inserts: list[str] = []
    event.listen(pg.store.engine, "before_cursor_execute", lambda *a: inserts.append(a[2]))
    outcomes = {}
    for name, ctx in (("sqlite", lite), ("postgres", pg)):
        outcomes[name] = [(o.decision_id, o.created, [e.id for e in o.enforcements])
                          for o in service.submit_many(ctx, batch(), automatic=True)]  # fmt: skip
    assert outcomes["sqlite"] == outcomes["postgres"]
    want, got = stored(lite), stored(pg)
    for audit in (want["audit"], got["audit"]):  # the expiry in each detail is its own run's clock
        for entry in audit:
            entry[4].pop("expires_at", None)
            for after in entry[4].get("after", []):
                after.pop("expires_at")
    assert got == want
    assert len(got["decisions"]) == 41 and got["unstamped"] == 0
    assert not [s for s in inserts if s.lstrip().upper().startswith("INSERT INTO DECISIONS")]  # COPY, not INSERT
    lite.store.engine.dispose()
    pg.store.engine.dispose()


def test_a_unique_conflict_in_a_copied_batch_raises_integrity_error_and_keeps_nothing(pg, tmp_path):
    """A decision whose expiry passed but that nothing ended yet (no enforcement for the sweep to
    expire) still holds its key in the live-key index, while intake finds the key free: the batch's
    COPY meets the unique index, as its INSERT did."""
    ctx = open_ctx(pg, tmp_path)
    service.submit_many(ctx, batch()[:3], automatic=True)
    past = (now() - timedelta(hours=1)).replace(tzinfo=None)
    with ctx.store.engine.begin() as conn:
        conn.execute(text("INSERT INTO decisions (target, violation, source, actor, reason, forced, step, clause, "
                          "idempotency_key, automatic, created_at, expires_at, status) VALUES ('203.0.113.99/32', "
                          "'ddos-victim', 'fastnetmon', 'fnm-1', '', false, 0, '', 'hook:fnm:stale', true, :at, :at, "
                          "'active')"), {"at": past})  # fmt: skip
    before, serial = ctx.store.snapshot(), ctx.store.serial()
    clash = Decision(target="203.0.113.98", violation="ddos-victim", source="fastnetmon", actor="fnm-1",
                     idempotency_key="hook:fnm:stale")  # fmt: skip
    with pytest.raises(IntegrityError, match="ix_decisions_live_key"):
        service.submit_many(ctx, [*batch()[10:20], clash], automatic=True)
    with pytest.raises(IntegrityError):  # one submit, through group commit: its caller hears the same error
        service.submit(ctx, clash, automatic=True)
    assert ctx.store.snapshot() == before and ctx.store.serial() == serial
    [ok] = service.submit_many(ctx, batch()[10:11], automatic=True)  # the store's connections still work
    assert ok.created and ctx.store.snapshot()["decisions"] == before["decisions"] + 1
    ctx.store.engine.dispose()


def test_a_conflict_in_a_later_copy_undoes_the_rows_copied_before_it(pg, tmp_path):
    """The enforcements' sequence set back (a restore gone wrong): their COPY meets existing ids after
    the decisions' COPY went through, and the decisions of the batch go with the error."""
    ctx = open_ctx(pg, tmp_path)
    service.submit_many(ctx, batch()[:3], automatic=True)
    with ctx.store.engine.begin() as conn:
        conn.exec_driver_sql("SELECT setval(pg_get_serial_sequence('enforcements', 'id'), 1, false)")
    before, serial = ctx.store.snapshot(), ctx.store.serial()
    with pytest.raises(IntegrityError, match="enforcements_pkey"):
        service.submit_many(ctx, batch()[10:20], automatic=True)
    assert ctx.store.snapshot() == before and ctx.store.serial() == serial
    ctx.store.engine.dispose()
