"""Atomic intake: the guardrail counts, the duplicate check and the insert are one transaction.

Before: with ``max_new_per_minute: 5``, 20 concurrent submits stored 19, and 10 concurrent
identical submits stored 10. Run against SQLite and, where a PostgreSQL is available
(``ENFORCER_TEST_PG``), against PostgreSQL too.
"""

from __future__ import annotations

import os
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from ipaddress import ip_network
from pathlib import Path

import pytest
from pydantic import BaseModel
from sqlalchemy import event, text

from enforcer import service
from enforcer.admission import text_prefix
from enforcer.model import Decision, Enforcement, Refused, now
from enforcer.settings import REPO_ROOT, Settings
from enforcer.store import WRITE_LOCK, Base

from .helpers import wait_for

BACKENDS = ["sqlite"] + (["postgres"] if os.environ.get("ENFORCER_TEST_PG") else [])

HOSTS = """
edge1: {platform: frr, role: edge, transport: offline, bgp_asn: 64500}
"""
CUSTOMERS = """
cust-a:
  asn: 64510
  prefixes: [198.51.100.0/24]
  attachments: [{device: edge1, neighbor: 192.0.2.1}]
"""
SETTINGS = """
guardrails:
  max_new_per_minute: 5
  own_space: [203.0.113.0/24, 10.0.0.0/8, "2001:db8::/32"]  # the last two: the space count test
"""


@pytest.fixture(params=BACKENDS)
def ctx(request, tmp_path: Path) -> service.Context:
    inv = tmp_path / "inventory"
    inv.mkdir()
    (inv / "hosts.yaml").write_text(HOSTS)
    (inv / "customers.yaml").write_text(CUSTOMERS)
    (inv / "settings.yaml").write_text(SETTINGS)
    url = f"sqlite:///{tmp_path / 'e.db'}" if request.param == "sqlite" else os.environ["ENFORCER_TEST_PG"]
    ctx = service.Context.open(Settings(inventory=inv, db=url, playbooks=REPO_ROOT / "playbooks",
                                        output=tmp_path / "out"))
    if request.param == "postgres":
        Base.metadata.drop_all(ctx.store.engine)
        Base.metadata.create_all(ctx.store.engine)
    return ctx


def _at_once(n: int, work):
    """Run ``work(i)`` for i in range(n) in n threads released together; results or the exception raised."""
    gate = threading.Barrier(n)

    def one(i: int):
        gate.wait()
        try:
            return work(i)
        except Refused as exc:
            return exc

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def _detector_ban(i: int) -> Decision:
    return Decision(target=f"198.51.100.{10 + i}", violation="ddos-victim", source="fastnetmon", actor="fnm-1",
                    reason=f"attack {i}")


def test_twenty_concurrent_detector_submits_under_a_cap_of_five_store_exactly_five(ctx):
    results = _at_once(20, lambda i: service.submit(ctx, _detector_ban(i), automatic=True))
    stored = [r for r in results if isinstance(r, service.SubmitResult)]
    refused = [r for r in results if isinstance(r, Refused)]
    assert (len(stored), len(refused)) == (5, 15)
    assert all(r.created for r in stored)
    assert {e.field for e in refused} == {"rate"}
    assert "the cap is 5" in refused[0].reason
    assert len(ctx.store.decisions()) == 5
    breaker = [e for e in ctx.store.history(limit=100) if e.action == "breaker"]
    assert len(breaker) == 15 and breaker[0].detail["field"] == "rate"


def test_an_operators_block_in_the_same_minute_as_a_flood_succeeds(ctx):
    _at_once(10, lambda i: service.submit(ctx, _detector_ban(i), automatic=True))
    with pytest.raises(Refused):
        service.submit(ctx, _detector_ban(50), automatic=True)
    result = service.submit(ctx, Decision(target="203.0.113.66", violation="malware-hosting", actor="alice"))
    assert result.created
    assert "203.0.113.66/32" in {d.target for d in ctx.store.decisions()}


def test_ten_concurrent_identical_submits_store_one(ctx):
    decision = Decision(target="198.51.100.7", violation="ddos-victim", source="fastnetmon", actor="fnm-1")
    results = _at_once(10, lambda _: service.submit(ctx, decision, automatic=True))
    assert sorted(r.created for r in results) == [False] * 9 + [True]
    assert len({r.decision_id for r in results}) == 1
    counts = ctx.store.snapshot()
    assert (counts["decisions"], counts["enforcements"]) == (1, 1)


def test_ten_concurrent_operator_blocks_of_one_host_store_one(ctx):
    decision = Decision(target="203.0.113.9", violation="spam", actor="alice")
    results = _at_once(10, lambda _: service.submit(ctx, decision))
    assert len({r.decision_id for r in results}) == 1
    assert ctx.store.snapshot()["decisions"] == 1


def test_a_block_whose_ttl_passed_is_not_a_duplicate_before_any_reconcile_pass(ctx, monkeypatch):
    """Before: "already recorded" until ``expire_due`` ran, though nothing was enforced any more."""
    first = service.submit(ctx, Decision(target="203.0.113.5", violation="spam", ttl="1h", actor="alice"))
    later = now() + timedelta(hours=2)
    monkeypatch.setattr("enforcer.decisions.now", lambda: later)
    again = service.submit(ctx, Decision(target="203.0.113.5", violation="spam", ttl="1h", actor="alice"))
    assert again.created and again.decision_id != first.decision_id
    assert ctx.store.get_decision(first.decision_id).status == "expired"


def test_a_per_source_cap_stops_one_detector_not_another(ctx, tmp_path):
    settings = ctx.settings.inventory / "settings.yaml"
    settings.write_text(SETTINGS.replace("max_new_per_minute: 5", "max_new_per_minute: 50\n"
                                         "  max_new_per_minute_per_source: 2"))
    ctx = service.Context(settings=ctx.settings, store=ctx.store)
    for i in range(2):
        service.submit(ctx, _detector_ban(i), automatic=True)
    with pytest.raises(Refused, match="per-source cap is 2"):
        service.submit(ctx, _detector_ban(3), automatic=True)
    other = Decision(target="198.51.100.99", violation="ddos-victim", source="alertmanager", actor="am")
    assert service.submit(ctx, other, automatic=True).created


# ------------------------------------------------------------------ batches: one transaction, an outcome per item


def test_a_batch_of_twenty_detector_bans_under_a_cap_of_five_stores_the_first_five(ctx):
    outcomes = service.submit_many(ctx, [_detector_ban(i) for i in range(20)], automatic=True)
    assert [isinstance(o, service.SubmitResult) and o.created for o in outcomes] == [True] * 5 + [False] * 15
    assert {o.field for o in outcomes[5:]} == {"rate"}
    stored = {d.target for d in ctx.store.decisions()}
    assert stored == {f"198.51.100.{10 + i}/32" for i in range(5)}
    breaker = [e for e in ctx.store.history(limit=100) if e.action == "breaker"]
    assert len(breaker) == 15 and breaker[0].violation == "ddos-victim"


def test_two_concurrent_batches_under_a_cap_of_five_store_exactly_five(ctx):
    results = _at_once(2, lambda n: service.submit_many(
        ctx, [_detector_ban(10 * n + i) for i in range(10)], automatic=True))
    stored = [o for batch in results for o in batch if isinstance(o, service.SubmitResult)]
    assert len(stored) == 5 and ctx.store.snapshot()["decisions"] == 5


def test_one_refused_item_stores_the_rest_and_is_its_own_outcome(ctx):
    items = [Decision(target="203.0.113.1", violation="spam", actor="alice"),
             Decision(target="0.0.0.0/0", violation="spam", actor="alice", force=True),
             Decision(target="203.0.113.2", violation="spam", actor="alice")]
    first, refused, last = service.submit_many(ctx, items)
    assert isinstance(refused, Refused) and refused.field == "target" and "default route" in refused.reason
    assert first.created and last.created
    assert {d.target for d in ctx.store.decisions()} == {"203.0.113.1/32", "203.0.113.2/32"}


def test_an_item_repeated_in_a_batch_answers_with_the_decision_the_first_stored(ctx):
    ban = _detector_ban(1)
    first, again = service.submit_many(ctx, [ban, ban], automatic=True)
    assert first.created and not again.created and again.decision_id == first.decision_id
    assert ctx.store.snapshot()["decisions"] == 1


def test_a_batch_holds_a_detectors_hosts_past_the_per_customer_limit_for_approval(ctx):
    """The count of a customer's blocked hosts moves with each item of the batch (limit 16 by default)."""
    settings = ctx.settings.inventory / "settings.yaml"
    settings.write_text(SETTINGS.replace("max_new_per_minute: 5", "max_new_per_minute: 100"))
    ctx = service.Context(settings=ctx.settings, store=ctx.store)
    service.submit(ctx, _detector_ban(0), automatic=True)  # one host blocked before the batch
    outcomes = service.submit_many(ctx, [_detector_ban(i) for i in range(1, 20)], automatic=True)
    assert [o.pending for o in outcomes] == [False] * 15 + [True] * 4
    assert all(o.created for o in outcomes)


def test_a_dry_run_batch_previews_every_item_and_stores_nothing(ctx):
    before = ctx.store.snapshot()
    outcomes = service.submit_many(ctx, [_detector_ban(i) for i in range(3)], dry_run=True, automatic=True)
    assert all(o.dry_run and o.enforcements for o in outcomes)
    assert ctx.store.snapshot() == before


def test_every_address_inside_a_prefix_prints_starting_with_its_text_prefix():
    """The in-space count reads only targets starting with this text: it must never leave one out."""
    rng = random.Random(12)
    for _ in range(400):
        version, bits = rng.choice([(4, 32), (6, 128)])
        length = rng.randint(0, bits)
        base = ip_network((rng.getrandbits(bits) if version == 6 else rng.getrandbits(32), bits))
        p = base.supernet(new_prefix=length)
        head = text_prefix(p)
        for addr in (p.network_address, p.broadcast_address, p.network_address + rng.randrange(p.num_addresses)):
            assert str(ip_network(addr)).startswith(head), (p, addr, head)
    assert text_prefix(ip_network("198.51.100.0/24")) == "198.51.100."
    assert text_prefix(ip_network("2001:db8::/32")) == "2001:db8:"


def test_the_space_count_finds_10_1_not_10_10_nor_an_operators_block(ctx):
    """The count reads by ``target LIKE '10.1.%'``, through ``ix_decisions_space`` on PostgreSQL
    (migration 0008; scans priced out, as the query-plan test does, so the index answers): an index
    that compared otherwise than LIKE matches would lose a host or count a neighbour's."""
    for target in ("10.1.0.5", "10.1.255.7", "10.10.0.5", "2001:db8:1::5", "2001:db8:10::5"):
        ttl = "1h" if target == "10.1.255.7" else None
        service.submit(ctx, Decision(target=target, violation="ddos-victim", source="fastnetmon", actor="fnm-1",
                                     ttl=ttl), automatic=True)  # fmt: skip
    service.submit(ctx, Decision(target="10.1.0.9", violation="spam", source="cli", actor="noc"))
    with ctx.store.write() as tx:
        if ctx.store.engine.dialect.name == "postgresql":
            tx.s.execute(text("SET LOCAL enable_seqscan = off"))
        counted = {p: tx.automatic_within([ip_network(p)], now())
                   for p in ("10.1.0.0/16", "10.10.0.0/16", "10.1.0.0/24", "10.0.0.0/8", "2001:db8:1::/48",
                             "0.0.0.0/0", "::/0", "10.1.0.5/32")}  # fmt: skip
    assert counted == {"10.1.0.0/16": 2, "10.10.0.0/16": 1, "10.1.0.0/24": 1, "10.0.0.0/8": 3, "2001:db8:1::/48": 1,
                       "0.0.0.0/0": 3, "::/0": 2, "10.1.0.5/32": 1}  # fmt: skip
    # One that has ended, or whose TTL passed, no longer counts.
    service.unblock(ctx, "10.1.0.5", actor="noc", source="cli")
    for later, left in ((timedelta(0), 1), (timedelta(hours=2), 0)):
        with ctx.store.write() as tx:  # one count a transaction: it keeps what it counted
            assert tx.automatic_within([ip_network("10.1.0.0/16")], now() + later) == left


def test_a_batch_moves_the_change_serial_a_saved_plan_was_made_at(ctx):
    """Bulk inserts bypass the ORM flush: the serial must move all the same (``apply FILE`` checks it)."""
    before = ctx.store.serial()
    service.submit_many(ctx, [_detector_ban(i) for i in range(3)], automatic=True)
    assert ctx.store.serial() > before


def _statements(ctx, work) -> int:
    """How many statements the store's driver ran for ``work()``."""
    ran = []
    listener = lambda *args: ran.append(args[2])  # noqa: E731 - before_cursor_execute's statement
    event.listen(ctx.store.engine, "before_cursor_execute", listener)
    try:
        work()
    finally:
        event.remove(ctx.store.engine, "before_cursor_execute", listener)
    return len(ran)


def test_a_list_costs_the_same_statements_whatever_its_length_and_moves_the_serial_once(ctx):
    """Before, on SQLite: one INSERT per decision and per enforcement (SQLAlchemy cannot order a
    multi-row RETURNING there), and one serial UPDATE per bulk INSERT. Now a list of 40 runs the
    statements a list of 4 runs, and moves the change serial by one, on both backends."""
    def operator_blocks(first: int, n: int) -> list[Decision]:
        return [Decision(target=f"203.0.113.{first + i}", violation="scanning", source="cli", actor="noc")
                for i in range(n)]

    service.submit_many(ctx, operator_blocks(200, 1))  # the driver's one-time queries (PostgreSQL's type info)
    short = _statements(ctx, lambda: service.submit_many(ctx, operator_blocks(1, 4)))
    before = ctx.store.serial()
    long = _statements(ctx, lambda: service.submit_many(ctx, operator_blocks(101, 40)))
    assert ctx.store.serial() == before + 1
    assert long == short
    assert len(ctx.store.decisions()) == 45  # every one stored, with its own enforcement
    assert sorted(str(e.target) for e in ctx.store.active_enforcements()) == sorted(
        [f"203.0.113.{i}/32" for i in (*range(1, 5), *range(101, 141), 200)])


def _validations(monkeypatch, work) -> int:
    """How many pydantic models ``work()`` validated (built through ``__init__`` or ``model_validate``)."""
    ran = [0]
    init, validate = BaseModel.__init__, BaseModel.model_validate.__func__

    def counted_init(self, **data):
        ran[0] += 1
        init(self, **data)

    def counted_validate(cls, obj, **kw):
        ran[0] += 1
        return validate(cls, obj, **kw)

    with monkeypatch.context() as m:
        m.setattr(BaseModel, "__init__", counted_init)
        m.setattr(BaseModel, "model_validate", classmethod(counted_validate))
        work()
    return ran[0]


def test_a_list_is_stored_without_validating_again_what_intake_typed(ctx, monkeypatch):
    """Before: per decision, its enforcement spec, the playbook step's parameters and the result
    were validated again, though every value in them was typed already (a tenth of storing a list
    of 10,000). Now a list of 40 validates what a list of 4 does: nothing per decision."""
    def blocks(first: int, n: int) -> list[Decision]:
        return [Decision(target=f"203.0.113.{first + i}", violation="scanning", source="cli", actor="noc")
                for i in range(n)]

    service.submit_many(ctx, blocks(200, 1))
    four, forty = blocks(1, 4), blocks(101, 40)
    short = _validations(monkeypatch, lambda: service.submit_many(ctx, four))
    long = _validations(monkeypatch, lambda: service.submit_many(ctx, forty))
    assert long == short
    assert len(ctx.store.decisions()) == 45


def test_a_list_goes_in_as_one_plain_insert_per_table_with_no_returning(ctx):
    """Before, on PostgreSQL: the decisions and enforcements went in as ordered ``INSERT … RETURNING``
    pages (SQLAlchemy's sentinel ordering cost four times the insert itself, and each page of 1,000
    was one more statement). Now the batch takes its ids first and each table is one executemany on
    SQLite, one COPY on PostgreSQL (past SQLAlchemy's statements: ``tests/test_batch_copy.py``)."""
    service.submit_many(ctx, [_operator_block(99)])
    ran: list[tuple[str, bool]] = []

    def listener(conn, cursor, statement, parameters, context, executemany):
        ran.append((statement, executemany))

    event.listen(ctx.store.engine, "before_cursor_execute", listener)
    try:
        results = service.submit_many(ctx, [_operator_block(i) for i in range(1, 41)])
    finally:
        event.remove(ctx.store.engine, "before_cursor_execute", listener)
    inserts = [(s.split("(")[0].split()[-1], many) for s, many in ran if s.lstrip().upper().startswith("INSERT")]
    copied = ctx.store.engine.dialect.name == "postgresql"
    want = [] if copied else [("audit", True), ("decisions", True), ("enforcements", True), ("holders", True)]
    assert sorted(inserts) == want
    assert not [s for s, _ in ran if "RETURNING" in s.upper()]
    ids = [r.decision_id for r in results]
    assert ids == sorted(ids) and len(set(ids)) == 40


def test_what_a_list_answers_is_what_the_store_holds_and_the_audit_says(ctx):
    """The answer is built from the batch's own typed values, not read back: it must equal the stored
    rows as the store reads them (and as full validation would give them), and the audit entry
    must say what was stored, as a single submit's does."""
    results = service.submit_many(ctx, [_operator_block(i) for i in range(1, 6)])
    stored = {e.id: e for e in ctx.store.active_enforcements()}
    for r in results:
        for e in r.enforcements:
            assert e == stored[e.id] == Enforcement.model_validate(e.model_dump())
        record = ctx.store.get_decision(r.decision_id)
        assert record.enforcements == r.enforcements and record.step == r.step == 0
    entry = [e for e in ctx.store.history(limit=10) if e.decision_id == results[2].decision_id]
    assert [e.action for e in entry] == ["block"]
    [after] = entry[0].detail["after"]
    [enf] = results[2].enforcements
    assert after == {"action": enf.action.value, "target": "203.0.113.3/32", "params": enf.params.model_dump(mode="json"),
                     "roles": sorted(enf.roles), "expires_at": str(enf.expires_at)}
    assert entry[0].detail["expires_at"] == enf.expires_at.isoformat()


@contextmanager
def write_lock_held(ctx):
    """Another writer holds the store's write lock until the block ends (as the reconcile loop may)."""
    with ctx.store.engine.connect() as conn:
        if ctx.store.is_sqlite:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": WRITE_LOCK})
        try:
            yield
        finally:
            if ctx.store.is_sqlite:
                conn.exec_driver_sql("COMMIT")
            else:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": WRITE_LOCK})
                conn.commit()


def test_single_submits_that_wait_for_the_write_lock_commit_together(ctx, monkeypatch):
    """Group commit: while one submit waits for the lock, nine more queue; they go in one transaction."""
    transactions = []
    write = ctx.store.write
    monkeypatch.setattr(ctx.store, "write", lambda: transactions.append(1) or write())
    group = ctx.group(automatic=True)
    with ThreadPoolExecutor(10) as pool, write_lock_held(ctx):
        first = pool.submit(service.submit, ctx, _detector_ban(0), automatic=True)
        wait_for(lambda: len(transactions) == 1 and group.waiting() == 0, what="the first submit in its transaction")
        rest = [pool.submit(service.submit, ctx, _detector_ban(i), automatic=True) for i in range(1, 10)]
        wait_for(lambda: group.waiting() == 9, what="nine submits queued behind it")
    assert len(transactions) == 2  # the first alone, then the nine queued behind it
    assert first.result().created
    outcomes = [f.exception() or f.result() for f in rest]
    assert sorted(type(o).__name__ for o in outcomes) == ["Refused"] * 5 + ["SubmitResult"] * 4  # the cap holds
    assert ctx.store.snapshot()["decisions"] == 5


def test_submits_arriving_while_the_leader_waits_behind_another_writer_of_the_process_join_its_group(
        ctx, monkeypatch):
    """Before: the first submit took its group (itself alone) and then waited for the process's
    writer queue, behind a device worker's write; the nine that arrived meanwhile waited for a
    second transaction. Now the leader takes its group once it is its turn to write: one transaction."""
    transactions = []
    write = ctx.store.write
    monkeypatch.setattr(ctx.store, "write", lambda: transactions.append(1) or write())
    group = ctx.group(automatic=True)
    held, release = threading.Event(), threading.Event()

    def other_writer():  # a device worker's audit entry or lease, in this process
        with ctx.store.queued():
            held.set()
            release.wait(30)

    with ThreadPoolExecutor(11) as pool:
        pool.submit(other_writer)
        held.wait(30)
        first = pool.submit(service.submit, ctx, _detector_ban(0), automatic=True)
        wait_for(lambda: group.waiting() == 1, what="the first submit leading, waiting to write")
        rest = [pool.submit(service.submit, ctx, _detector_ban(i), automatic=True) for i in range(1, 10)]
        wait_for(lambda: group.waiting() == 10, what="nine submits queued behind it")
        release.set()
        outcomes = [first.result(), *[f.exception() or f.result() for f in rest]]
    assert len(transactions) == 1
    assert sorted(type(o).__name__ for o in outcomes) == ["Refused"] * 5 + ["SubmitResult"] * 5  # the cap holds
    assert ctx.store.snapshot()["decisions"] == 5


def _counts_of_the_active_set(ctx, work) -> int:
    """How many times ``work()`` counted the active enforcements (the blast-radius cap's scan)."""
    ran: list[str] = []
    listener = lambda *args: ran.append(args[2])  # noqa: E731 - before_cursor_execute's statement
    event.listen(ctx.store.engine, "before_cursor_execute", listener)
    try:
        work()
    finally:
        event.remove(ctx.store.engine, "before_cursor_execute", listener)
    return sum("count(enforcements.id)" in s for s in ran)


def _operator_block(i: int) -> Decision:
    return Decision(target=f"203.0.113.{i}", violation="scanning", source="cli", actor="noc")


def test_consecutive_submits_count_the_active_set_once_until_another_writer_moves_the_serial(ctx):
    """Before: every transaction counted every active enforcement (3 ms at 40,000 on SQLite, the
    largest cost of a single submit at that size left). Now the count this process's last intake
    commit left stands while the change serial does; another process's write moves it: counted again."""
    service.submit(ctx, _operator_block(1))  # counted once, and left at its serial
    assert _counts_of_the_active_set(ctx, lambda: [service.submit(ctx, _operator_block(i)) for i in range(2, 6)]) == 0
    other = service.Context.open(ctx.settings)  # another process on the same store (enforcer block)
    service.submit(other, _operator_block(6))
    assert _counts_of_the_active_set(ctx, lambda: service.submit(ctx, _operator_block(7))) == 1
    other.store.engine.dispose()


def test_the_blast_radius_cap_holds_across_processes_with_the_count_kept_between_transactions(ctx, tmp_path):
    """The kept count must never miss another process's decisions: a cap of 3, two stored here,
    one by another process, and the next one here is refused."""
    (ctx.settings.inventory / "settings.yaml").write_text(SETTINGS + "  max_active: 3\n")
    here = service.Context.open(ctx.settings)
    service.submit_many(here, [_operator_block(1), _operator_block(2)])
    other = service.Context.open(ctx.settings)
    service.submit(other, _operator_block(3))
    with pytest.raises(Refused) as refused:
        service.submit(here, _operator_block(4))
    assert refused.value.field == "blast_radius" and "3 active" in refused.value.reason
    for c in (here, other):
        c.store.engine.dispose()


def test_a_lists_rows_go_to_the_driver_as_built_not_through_sqlalchemys_per_row_parameters(ctx, monkeypatch):
    """Before: each bulk INSERT was a Core ``insert()``, whose execution built every row's
    parameters again (``construct_params`` once per row, a tenth of storing 10,000). Now the rows go
    to the driver's executemany as the batch encoded them: a list of 40 builds what a list of 4 does."""
    from sqlalchemy.sql.compiler import SQLCompiler

    built = [0]
    construct = SQLCompiler.construct_params

    def counted(self, *args, **kw):
        built[0] += 1
        return construct(self, *args, **kw)

    def count(work) -> int:
        built[0] = 0
        with monkeypatch.context() as m:
            m.setattr(SQLCompiler, "construct_params", counted)
            work()
        return built[0]

    service.submit_many(ctx, [_operator_block(200)])
    short = count(lambda: service.submit_many(ctx, [_operator_block(i) for i in range(1, 5)]))
    long = count(lambda: service.submit_many(ctx, [_operator_block(i) for i in range(101, 141)]))
    assert long == short
    assert len(ctx.store.decisions()) == 45
    entries = ctx.store.history(limit=100)
    assert sorted(e.target for e in entries if e.action == "block") == sorted(
        f"203.0.113.{i}/32" for i in (*range(1, 5), *range(101, 141), 200))


def test_a_long_list_runs_few_young_collections_of_the_garbage_collector(ctx):
    """Before: at CPython's default threshold (700 new objects) the collector walked the young
    heap about 420 times while storing 10,000 (0.4-0.5 s of 2.7 s). Now a list runs under
    ``collector.bulk_work``: 2,000 decisions start only a handful of young collections."""
    import gc

    decisions = [Decision(target=f"198.18.{i >> 8}.{i & 255}", violation="scanning", source="cli", actor="noc")
                 for i in range(2000)]
    service.submit_many(ctx, [_operator_block(1)])
    young = [0]

    def counted(phase, info):
        if phase == "start" and info["generation"] == 0:
            young[0] += 1

    gc.callbacks.append(counted)
    try:
        outcomes = service.submit_many(ctx, decisions)
    finally:
        gc.callbacks.remove(counted)
    assert not [o for o in outcomes if isinstance(o, Exception)]
    assert young[0] < 10
