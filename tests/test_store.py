"""The store: atomic decisions, idempotency keys, expiry, an append-only audit log."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from enforcer.model import Decision, Status, now
from enforcer.store import Base, Store

BACKENDS = ["sqlite"] + (["postgres"] if os.environ.get("ENFORCER_TEST_PG") else [])


@pytest.fixture(params=BACKENDS)
def store(request, db_url) -> Store:
    """The same tests against SQLite and, where scripts/test.sh started one, a real PostgreSQL."""
    if request.param == "sqlite":
        return Store(db_url)
    s = Store(os.environ["ENFORCER_TEST_PG"])
    Base.metadata.drop_all(s.engine)
    Base.metadata.create_all(s.engine)
    return s


def _add(store: Store, key: str | None = None, ttl: timedelta = timedelta(hours=1)):
    d = Decision(target="203.0.113.7", violation="malware-hosting", idempotency_key=key)
    at = now()
    return store.add_decision(
        d, customer=None, step=0, clause="c", expires_at=at + ttl,
        enforcements=[{"action": "null-route", "target": "203.0.113.7/32", "params": {}, "roles": ["edge"],
                       "expires_at": at + ttl}],
    )


def test_sqlite_store_runs_in_wal_mode(db_url):
    store = Store(db_url)
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_a_fresh_sqlite_store_and_its_wal_are_readable_by_their_owner_only(tmp_path):
    """Before: created 0644 — every local user could read every decision and token hash."""
    path = tmp_path / "fresh.db"
    store = Store(f"sqlite:///{path}")
    _add(store)
    for f in (path, tmp_path / "fresh.db-wal"):
        assert f.stat().st_mode & 0o777 == 0o600, f


def test_decision_and_enforcements_are_stored_together_with_an_audit_entry(store):
    rec = _add(store)
    assert [e.action.value for e in rec.enforcements] == ["null-route"]
    assert store.history()[-1].action == "block"
    assert [e.id for e in store.active_enforcements()] == [rec.enforcements[0].id]


def test_same_idempotency_key_from_ten_threads_stores_one_decision(store):
    from enforcer.store import DuplicateDecision

    def attempt(_: int):
        try:
            return _add(store, key="alert-1").id
        except DuplicateDecision as dup:
            return dup.decision_id

    with ThreadPoolExecutor(10) as pool:
        ids = set(pool.map(attempt, range(10)))
    assert len(ids) == 1
    assert len(store.decisions()) == 1
    assert len(store.active_enforcements()) == 1


def test_expiry_moves_decision_out_of_the_desired_set_and_audits_it(store):
    rec = _add(store, ttl=timedelta(seconds=1))
    assert store.active_enforcements(at=now() + timedelta(seconds=5)) == []
    ended = store.expire_due(at=now() + timedelta(seconds=5))
    assert [d.id for d in ended] == [rec.id]
    assert store.get_decision(rec.id).status is Status.EXPIRED
    assert store.history()[-1].action == "expired"


def test_unblock_is_audited_with_before_and_after(store):
    rec = _add(store)
    store.end_decision(rec.id, status=Status.REMOVED, actor="alice", source="cli", reason="fixed")
    entry = store.history()[-1]
    assert (entry.action, entry.actor, entry.reason) == ("unblock", "alice", "fixed")
    assert entry.detail == {"before": "active", "after": "removed"}


def test_desired_set_read_back_equals_a_fully_validated_model(store):
    """The fast read path (no re-validation) must give exactly what validation would."""
    from enforcer.model import Enforcement

    _add(store)
    for e in store.active_enforcements():
        assert e == Enforcement.model_validate(e.model_dump())
        assert type(e.target).__name__ == "IPv4Network"
        assert e.created_at.tzinfo is not None
