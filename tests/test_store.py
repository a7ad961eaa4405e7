"""The store: atomic decisions, idempotency keys, expiry, an append-only audit log."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from enforcer.batch import Batch
from enforcer.model import ActionParams, Decision, Status, now
from enforcer.policy import EnforcementSpec
from enforcer.store import Base, DecisionRow, Store

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


def _queue(batch: Batch, host: str, until) -> None:
    """One malware-hosting decision on ``host``, a null route until ``until``, queued in ``batch``."""
    decision = Decision(target=host, violation="malware-hosting")
    spec = EnforcementSpec(action="null-route", target=decision.target, params=ActionParams(), roles={"edge"},
                           ttl=timedelta(hours=1))
    batch.add(decision, customer=None, step=0, clause="c", expires_at=until, specs=[spec], expiries=[until],
              status=Status.ACTIVE, automatic=False)


def _many(store: Store, n: int, ttl: timedelta = timedelta(hours=1)) -> list[int]:
    """``n`` decisions on distinct hosts, each with one enforcement and one holder, stored in one batch."""
    at = now()
    with store.write() as tx:
        batch = Batch(tx, [], at)
        for i in range(n):
            host = f"10.0.{i // 256}.{i % 256}"
            _queue(batch, host, at + ttl)
        return [a.decision_id for a in batch.flush()]


@pytest.fixture
def work(monkeypatch):
    """Counts what a store operation costs: SQL statements, and objects the ORM scanned in its session."""
    counted = {"statements": 0, "scanned": 0}
    identity_map = type(Session().identity_map)  # the class every session's identity map is
    real = identity_map.all_states

    def all_states(self):
        states = real(self)
        counted["scanned"] += len(states)
        return states

    monkeypatch.setattr(identity_map, "all_states", all_states)

    def on(store: Store) -> dict[str, int]:
        event.listen(store.engine, "before_cursor_execute", lambda *_: counted.__setitem__(
            "statements", counted["statements"] + 1))
        return counted
    return on


def test_ending_decisions_one_by_one_in_one_transaction_stays_linear(db_url, work):
    """Before: each end's holder DELETE synchronised the session by testing its criteria against every
    object the session held, so ending N decisions in one transaction (a release sweep) scanned the
    growing session N times: 10,000 took over 10 minutes. Counted, not timed: 300 ends scanned ~135,000."""
    store = Store(db_url)
    ids = _many(store, 300)
    counted = work(store)
    with store.write() as tx:
        rows = [tx.s.get(DecisionRow, did) for did in ids]  # as a sweep holds what it read (tx.live_for)
        for row in rows:
            tx.end(row, status=Status.REMOVED, actor="noc", source="cli", reason="r", at=now())
    assert counted["scanned"] <= 2 * len(ids)
    assert store.count_active() == 0 and store.snapshot()["holders"] == 0
    assert sum(h.action == "unblock" for h in store.history(limit=1000)) == len(ids)


def test_expiring_many_decisions_costs_a_few_statements_not_several_per_decision(db_url, work):
    """Before: one SELECT of the decision, one of its enforcements, one holder DELETE and one audit
    INSERT per expired decision (6 statements each) and the same session scan per DELETE."""
    store = Store(db_url)
    ids = _many(store, 600, ttl=timedelta(seconds=1))
    counted = work(store)
    ended = store.expire_due(at=now() + timedelta(seconds=5))
    assert sorted(r.id for r in ended) == ids and all(r.status is Status.EXPIRED for r in ended)
    assert counted["statements"] <= 20
    assert counted["scanned"] <= 2 * len(ids)
    assert store.count_active() == 0 and store.snapshot()["holders"] == 0
    assert sum(h.action == "expired" for h in store.history(limit=1000)) == len(ids)


def _vm_steps(store: Store, work) -> int:
    """SQLite virtual-machine steps ``work(tx)`` cost in one write transaction: rows read, not time."""
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    with store.write() as tx:
        raw = tx.s.connection().connection.driver_connection
        raw.set_progress_handler(count, 1)
        try:
            work(tx)
        finally:
            raw.set_progress_handler(None, 1)
    return steps[0]


def test_expiring_what_is_due_reads_the_due_rows_not_every_active_one(tmp_path):
    """Every intake transaction first expires what is due. Before migration 0004 SQLite answered it
    through the index on ``status`` alone: a read of every active enforcement per transaction
    (15.8 ms at 40,000 active). With ``(status, expires_at)`` the work does not grow with them."""
    store = Store(f"sqlite:///{tmp_path / 'e.db'}")
    _many(store, 20)
    few = _vm_steps(store, lambda tx: tx.expire_due(now()))
    hosts = [f"10.9.{i // 256}.{i % 256}" for i in range(2000)]
    at = now()
    with store.write() as tx:
        batch = Batch(tx, [], at)
        for host in hosts:
            _queue(batch, host, at + timedelta(hours=1))
        batch.flush()
    many = _vm_steps(store, lambda tx: tx.expire_due(now()))
    assert store.count_active() == 2020
    assert many < few + 50  # before: about 40 steps per active enforcement


def test_a_push_leaves_its_applied_section_and_audit_in_one_write_transaction(tmp_path):
    """serve's device workers record every push; each write is a turn of the write lock intake
    waits for. Before: two transactions (the section, then the audit), each waiting in SQLite's
    busy handler (sleeps of up to 100 ms) rather than in the process's writer queue."""
    store = Store(f"sqlite:///{tmp_path / 'e.db'}")
    begun: list[str] = []
    event.listen(store.engine, "before_cursor_execute", lambda *a: begun.append(a[2]) if "BEGIN" in a[2] else None)
    commits: list[int] = []
    event.listen(store.engine, "commit", lambda *_: commits.append(1))
    store.pushed(("edge1", "ip route 203.0.113.7/32 Null0\n"),
                 {"actor": "enforcer", "source": "reconcile", "action": "apply", "target": "edge1",
                  "detail": {"summary": "1 added"}})
    assert len(commits) == 1 and begun == ["BEGIN IMMEDIATE"]  # queued for the write lock, taken at once
    assert store.last_applied("edge1") == "ip route 203.0.113.7/32 Null0\n"
    [entry] = [e for e in store.history() if e.action == "apply"]
    assert entry.target == "edge1" and entry.detail == {"summary": "1 added"}
    begun.clear()
    store.audit(actor="enforcer", source="reconcile", action="apply-failed", target="edge1")
    assert begun == ["BEGIN IMMEDIATE"]  # an audit entry alone queues the same way


def test_the_desired_set_is_read_into_models_again_only_after_the_change_serial_moved(store, monkeypatch):
    """Seven devices rendered by one script read 10,000 rows into models seven times; a read while
    nothing was written answers from the last one, a write or another process's write reads again."""
    reads = []
    real = Store._read_active
    monkeypatch.setattr(Store, "_read_active", lambda self, s: reads.append(1) or real(self, s))
    first = _add(store)
    assert [e.id for e in store.active_enforcements()] == [first.enforcements[0].id]
    store.active_enforcements()
    assert len(reads) == 1
    second = _add(store, ttl=timedelta(minutes=1))
    assert [e.id for e in store.active_enforcements()] == [first.enforcements[0].id, second.enforcements[0].id]
    assert len(reads) == 2
    # past the second's expiry (not yet expired by expire_due): left out without reading again
    assert [e.id for e in store.active_enforcements(now() + timedelta(minutes=5))] == [first.enforcements[0].id]
    assert len(reads) == 2
    other = Store(store.url)  # another process's intake: its write moves the serial this store reads
    assert len(other.expire_due(at=now() + timedelta(hours=2))) == 2
    assert store.active_enforcements() == []
    assert len(reads) == 3
