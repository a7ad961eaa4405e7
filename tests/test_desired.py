"""A device's desired set read by role and incrementally (enforcer/desired.py, ``Store.active_keys``),
on SQLite and, where ``ENFORCER_TEST_PG`` names one, PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from enforcer import service
from enforcer.desired import DesiredState
from enforcer.model import Decision, Status, now

from .test_intake_concurrency import _detector_ban, ctx  # noqa: F401 - a Context on SQLite/PostgreSQL
from .test_store import store  # noqa: F401 - the SQLite/PostgreSQL store fixture


def _add(store, target: str, roles: list[str], ttl: timedelta = timedelta(hours=1)) -> int:  # noqa: F811
    at = now()
    rec = store.add_decision(
        Decision(target=target, violation="malware-hosting"), customer=None, step=0, clause="c", expires_at=at + ttl,
        enforcements=[{"action": "null-route", "target": f"{target}/32", "params": {}, "roles": roles,
                       "expires_at": at + ttl}],
    )
    return rec.enforcements[0].id


def test_a_role_reads_its_own_enforcements_and_those_for_every_role_only(store):  # noqa: F811
    edge = _add(store, "203.0.113.1", ["edge"])
    both = _add(store, "203.0.113.2", ["core", "edge"])
    core = _add(store, "203.0.113.3", ["core"])
    anywhere = _add(store, "203.0.113.4", [])
    _add(store, "203.0.113.5", ["edge_fw"])  # a LIKE on "edge" must not take the "edge_fw" role's rows
    assert [i for i, _ in store.active_keys(role="edge")] == [edge, both, anywhere]
    assert [i for i, _ in store.active_keys(role="core")] == [both, core, anywhere]
    assert len(store.active_keys()) == 5


def _reads(store, monkeypatch) -> list[int]:  # noqa: F811
    """Rows each store read of the desired set returns, whichever query a version of enforcer uses."""
    counts: list[int] = []
    for name in ("active_keys", "enforcements_by_id", "active_enforcements", "enforcements_changed_since"):
        real = getattr(store, name, None)
        if real is not None:
            monkeypatch.setattr(store, name, lambda *a, _real=real, **k: counts.append(len(r := _real(*a, **k))) or r)
    return counts


def test_one_more_decision_with_three_hundred_active_reads_one_row_not_the_active_set(store, monkeypatch):  # noqa: F811
    """The change feed (enforcer.feed): the first read loads the active set once, every later wake
    the rows written since. Reading every active row's id and expiry per wake made one more decision
    cost as much as the whole set."""
    at = now()
    rows = [{"action": "null-route", "target": f"198.18.{i // 250}.{i % 250}/32", "params": {}, "roles": ["edge"],
             "expires_at": at + timedelta(hours=1)} for i in range(300)]
    store.add_decision(Decision(target="198.18.0.0/16", violation="malware-hosting"), customer=None, step=0,
                       clause="c", expires_at=at + timedelta(hours=1), enforcements=rows)
    desired = DesiredState(store)
    reads = _reads(store, monkeypatch)
    one = desired.inputs("edge", now())
    assert len(one.enforcements) == 300 and sum(reads) == 300
    reads.clear()
    new = _add(store, "203.0.113.2", ["edge"])
    two = desired.inputs("edge", now())
    assert sum(reads) == 1, reads
    assert [e.id for e in two.enforcements][-1] == new and len(two.enforcements) == 301
    assert two.serial > one.serial and two.keys != one.keys
    reads.clear()
    assert desired.inputs("edge", now()).keys == two.keys and reads == []  # nothing moved: not even a query


def test_an_unblock_a_refreshed_expiry_and_an_approval_each_read_their_own_rows(store, monkeypatch):  # noqa: F811
    first = _add(store, "203.0.113.1", ["edge"])
    at = now()
    held = store.add_decision(
        Decision(target="203.0.113.9", violation="malware-hosting"), customer=None, step=0, clause="c",
        expires_at=at + timedelta(hours=1), status=Status.PENDING,
        enforcements=[{"action": "null-route", "target": "203.0.113.9/32", "params": {}, "roles": ["edge"],
                       "expires_at": at + timedelta(hours=1)}])
    second = _add(store, "203.0.113.2", ["edge"])
    desired = DesiredState(store)
    assert [e.id for e in desired.inputs("edge", now()).enforcements] == [first, second]
    reads = _reads(store, monkeypatch)
    # A detector's repeat moves the expiry out: one bulk UPDATE, stamped by the trigger all the same.
    later = now() + timedelta(hours=5)
    with store.write() as tx:
        rec = store.get_decision(store.enforcements_by_id([second])[0].decision_id)
        tx.hold(rec.id, Decision(target="203.0.113.2", violation="malware-hosting", source="cli", actor="bob"),
                later, now())
    reads.clear()
    refreshed = desired.inputs("edge", now())
    assert sum(reads) == 1 and dict(refreshed.keys)[second] > now() + timedelta(hours=4)
    store.approve_decision(held.id, actor="alice", source="cli", reason="ok")  # an older id joins: in id order
    store.end_decision(store.enforcements_by_id([first])[0].decision_id, status=Status.REMOVED, actor="alice",
                       source="cli", reason="done")
    reads.clear()
    after = desired.inputs("edge", now())
    assert sum(reads) == 2, reads
    assert [e.id for e in after.enforcements] == [held.enforcements[0].id, second]


def test_a_batch_of_decisions_stored_in_one_bulk_insert_reaches_the_feed(ctx):  # noqa: F811
    """The intake's batch writes Core INSERTs past the session's hooks: the trigger stamps them too."""
    desired = DesiredState(ctx.store)
    assert desired.inputs("edge", now()).enforcements == []
    stored = service.submit_many(ctx, [_detector_ban(i) for i in range(3)], automatic=True)
    ids = sorted(e.id for r in stored for e in r.enforcements)
    assert len(ids) == 3
    assert [e.id for e in desired.inputs("edge", now()).enforcements] == ids


def test_an_enforcement_leaves_at_its_expiry_without_a_read(store, monkeypatch):  # noqa: F811
    short = _add(store, "203.0.113.1", ["edge"], ttl=timedelta(minutes=5))
    long = _add(store, "203.0.113.2", ["edge"], ttl=timedelta(hours=2))
    desired = DesiredState(store)
    at = now()
    assert {e.id for e in desired.inputs("edge", at).enforcements} == {short, long}
    reads = _reads(store, monkeypatch)
    later = desired.inputs("edge", at + timedelta(minutes=6))
    assert [e.id for e in later.enforcements] == [long] and reads == []
    assert later.next_expiry(at + timedelta(minutes=6)) > at + timedelta(hours=1)


def test_the_next_expiry_is_the_first_enforcement_to_leave(store):  # noqa: F811
    _add(store, "203.0.113.1", ["edge"], ttl=timedelta(hours=2))
    _add(store, "203.0.113.2", ["edge"], ttl=timedelta(minutes=5))
    at = now()
    inputs = DesiredState(store).inputs("edge", at)
    assert timedelta(minutes=4) < inputs.next_expiry(at) - at <= timedelta(minutes=5)


def test_a_database_without_the_feed_s_trigger_is_read_in_full_whenever_the_serial_moves(store, monkeypatch):  # noqa: F811
    """No stamp, no feed: following it there would miss every change, so the serial's move reloads."""
    from sqlalchemy import text

    from enforcer import feed

    with store.engine.begin() as conn:  # a database of a kind the feed has no trigger for
        for sql in feed.drop_statements(store.engine.dialect.name):
            conn.execute(text(sql))
    first = _add(store, "203.0.113.1", ["edge"])
    monkeypatch.setattr(feed, "statements", lambda dialect: ())
    desired = DesiredState(store)
    assert [e.id for e in desired.inputs("edge", now()).enforcements] == [first]
    second = _add(store, "203.0.113.2", ["edge"])
    assert [e.id for e in desired.inputs("edge", now()).enforcements] == [first, second]


def test_the_change_feed_reads_by_its_index_not_by_a_scan_of_every_row(tmp_path):
    """One more decision with 300 active: SQLite must find the changed rows through the ``changed``
    index. With ``ORDER BY id`` its planner (no ANALYZE statistics) walked the whole table in id order
    instead — every active row visited on every wake of every switch (10,000 active: 5.9 ms a read)."""
    from sqlalchemy import event

    from enforcer.store import Store

    db = Store(f"sqlite:///{tmp_path / 'e.db'}")
    for i in range(300):
        _add(db, f"198.18.{i // 250}.{i % 250 + 1}", [])
    serial = db.serial()
    _add(db, "203.0.113.9", [])
    statements: list[tuple[str, object]] = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and "enforcements" in statement:
            statements.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        assert [e.target.network_address.exploded for e in db.enforcements_changed_since(serial)] == ["203.0.113.9"]
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert statements
    raw = db.engine.raw_connection()
    try:
        for statement, parameters in statements:
            plan = [row[-1] for row in raw.cursor().execute("EXPLAIN QUERY PLAN " + statement, parameters)]
            assert not any(step.startswith("SCAN enforcements") for step in plan), plan
            assert any("ix_enforcements_changed" in step for step in plan), plan
    finally:
        raw.close()


def test_successive_inputs_compare_and_subtract_by_what_changed_without_a_set_of_every_key(store):  # noqa: F811
    """Each wake of each device worker compared (serve) or subtracted (the controller's pieces) its new
    inputs' keys against the last: a frozenset of every active key built and hashed twice per decision
    (10,000 active: ~1.5 ms of each sync, in both processes). Snapshots of one view answer from the ids
    changed between them; every answer equals the frozensets' own."""
    at = now()
    rows = [{"action": "null-route", "target": f"198.18.0.{i}/32", "params": {}, "roles": ["edge"],
             "expires_at": at + timedelta(hours=1)} for i in range(1, 201)]
    store.add_decision(Decision(target="198.18.0.0/24", violation="malware-hosting"), customer=None, step=0,
                       clause="c", expires_at=at + timedelta(hours=1), enforcements=rows)
    desired = DesiredState(store)
    snaps = [desired.inputs("edge", now()).keys]
    second = _add(store, "203.0.113.2", ["edge"])
    snaps.append(desired.inputs("edge", now()).keys)
    with store.write() as tx:  # a detector's repeat moves the expiry out
        rec = store.get_decision(store.enforcements_by_id([second])[0].decision_id)
        tx.hold(rec.id, Decision(target="203.0.113.2", violation="malware-hosting", source="cli", actor="bob"),
                now() + timedelta(hours=5), now())
    snaps.append(desired.inputs("edge", now()).keys)
    snaps.append(desired.inputs("edge", now()).keys)  # nothing moved
    short = _add(store, "203.0.113.3", ["edge"], ttl=timedelta(seconds=1))
    snaps.append(desired.inputs("edge", now()).keys)
    snaps.append(desired.inputs("edge", now() + timedelta(seconds=2)).keys)  # its expiry passed
    store.end_decision(rec.id, status=Status.REMOVED, actor="alice", source="cli", reason="done")
    snaps.append(desired.inputs("edge", now() + timedelta(seconds=2)).keys)
    answers = {(i, j): (a == b, a - b) for i, a in enumerate(snaps) for j, b in enumerate(snaps)}
    assert all(k._frozen is None for k in snaps), "a comparison built a set of every key"
    for (i, j), (equal, minus) in answers.items():
        a, b = snaps[i].frozen(), snaps[j].frozen()
        assert equal == (a == b) and minus == a - b, (i, j)
    assert snaps[2] == snaps[3] and snaps[1] != snaps[2]
    assert snaps[4] - snaps[3] == {(short, snaps[4]._items[short][1])}
    assert second not in {i for i, _ in snaps[-1]} and len(snaps[-1]) == 200
