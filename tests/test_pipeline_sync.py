"""serve's worker for a device that syncs from the store itself (an OpenFlow switch's controller):
what one decision costs between the store and the device's confirmation, counted in write
transactions, and when it waits for the burst window.

``fw1`` here is a switch behind a controller: its driver's ``sync()`` derives the device's state from
the store itself (as :mod:`enforcer.controller` does) and writes it to the box's file, the box's
"flow table". Every write transaction of the store is counted with the thread that made it.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from enforcer import lease, service
from enforcer.api.app import create_app
from enforcer.model import now
from enforcer.render import build_section, render_section
from enforcer.settings import REPO_ROOT, Settings

from .api.conftest import auth, write_inventory
from .helpers import wait_for
from .test_pipeline import Box, Boxes, block


class Switch(Box):
    """fw1 as a switch: the full pass plans and commits as any device; between full passes the
    worker only tells it to sync, and it reads the store itself, like the controller."""

    syncs_from_store = True

    def __init__(self, device, output_dir: Path, boxes: Boxes, ctx: service.Context):
        super().__init__(device, output_dir, boxes)
        self.ctx = ctx

    def sync(self, full: bool = False) -> dict:
        self.boxes.syncs = getattr(self.boxes, "syncs", 0) + 1
        ctx = self.ctx
        section = render_section(build_section(self.device, ctx.store.active_enforcements(), ctx.inventory, now()))
        before = self.path.read_text() if self.path.exists() else ""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(section)
        return {"ok": True, "changes": {"flows_added": int(section != before)}, "seconds": 0.001}


class Writes:
    """Every write transaction of the store, by the name of the thread that made it."""

    def __init__(self, store):
        self.threads: list[str] = []
        write, session = store.write, store.session

        def counted_write(*a, **k):
            self.threads.append(threading.current_thread().name)
            return write(*a, **k)

        def counted_session(*a, write: bool = False, **k):
            if write:
                self.threads.append(threading.current_thread().name)
            return session(*a, write=write, **k)

        store.write, store.session = counted_write, counted_session

    def of(self, device: str) -> int:
        """Writes made for ``device`` by its worker and its lease's keeper (not intake's)."""
        return sum(name in (f"enforcer-push-{device}", f"kept-lease-{device}") for name in self.threads)


@pytest.fixture
def switch(tmp_path: Path):
    settings = Settings(inventory=write_inventory(tmp_path), db=f"sqlite:///{tmp_path / 'enforcer.db'}",
                        playbooks=REPO_ROOT / "playbooks", output=tmp_path / "out")
    ctx = service.Context.open(settings)
    found = Boxes()
    ctx.driver_factory = lambda dev: (Switch(dev, settings.output, found, ctx) if dev.name == "fw1"
                                      else Box(dev, settings.output, found))
    from enforcer.api.tokens import create_token

    token = create_token(ctx.store, "noc", "operator")
    yield ctx, found, settings.output, auth(token)


def _serve(ctx, coalesce: float = 0.0):
    return TestClient(create_app(lambda: ctx, reconcile=True, interval=3600, coalesce=coalesce))


def test_a_stream_of_decisions_to_a_switch_writes_one_audit_entry_each_and_no_lease(switch):
    """Five decisions in a row, each sent once the switch holds the previous one: one write each (its
    audit entry) and one lease write for the lot. Before, each sync took the switch's lease and gave it
    back around the one round trip: three fsync'd write transactions per decision, 15 here."""
    ctx, box, out, headers = switch
    with _serve(ctx) as client:
        pipeline = client.app.state.served.loop
        wait_for(pipeline.idle, what="the start-up pass")
        worker = pipeline.workers["fw1"]
        worker.lease.idle = 3600  # the stream never pauses for the lease's idle second, however loaded the box
        writes = Writes(ctx.store)
        syncs = getattr(box, "syncs", 0)
        for i in range(80, 85):
            block(client, headers, f"203.0.113.{i}", violation="spam")  # an ACL: fw1 only
            wait_for(lambda i=i: box.holds(out, "fw1", f"203.0.113.{i}"), what=f"203.0.113.{i} on fw1")
        wait_for(pipeline.idle)
        assert box.syncs - syncs == 5  # each went by the sync path, not a full push
        assert writes.of("fw1") == 1 + 5  # the lease taken once, then the five audit entries
        held = lease.current(ctx.store, "fw1")
        assert held is not None and held[0] == pipeline.holder  # kept between the decisions ...
        applied = [e for e in ctx.store.history(100) if e.action == "apply" and e.target == "fw1"]
        assert len(applied) >= 5 and all(e.detail["lease"]["holder"] == pipeline.holder for e in applied[:5])
    assert lease.current(ctx.store, "fw1") is None  # ... and given back when serve stops


def test_another_pusher_waits_out_a_kept_lease_and_then_has_the_switch(switch):
    """The kept lease keeps one pusher per device: ``enforcer apply`` meanwhile is told the switch is
    busy, and once serve's worker has been idle a moment it is given back and apply pushes."""
    ctx, box, out, headers = switch
    with _serve(ctx) as client:
        pipeline = client.app.state.served.loop
        wait_for(pipeline.idle, what="the start-up pass")
        pipeline.workers["fw1"].lease.idle = 3600
        block(client, headers, "203.0.113.90", violation="spam")
        wait_for(lambda: box.holds(out, "fw1", "203.0.113.90"), what="the ACL on fw1")
        busy = {p.device: r for p, r in service.apply(ctx, actor="alice")}["fw1"]
        assert not busy.ok and busy.error.startswith(f"device busy: pushed by {pipeline.holder}")
        pipeline.workers["fw1"].lease.idle = 0.05
        with pipeline.workers["fw1"].lease.hold():  # a moment's use: the keeper re-times the idle spell
            pass
        wait_for(lambda: lease.current(ctx.store, "fw1") is None, what="the idle lease given back")
        pushed = {p.device: r for p, r in service.apply(ctx, actor="alice")}["fw1"]
        assert pushed.ok, pushed.error


def test_a_decision_arriving_while_the_previous_sync_writes_its_audit_waits_no_burst_window(switch):
    """A decision that arrives after the switch confirmed the previous one, while the worker writes that
    one's audit entry, is not a burst: it is synced at once. Before, any wake during the pass made the
    next pass wait ``--coalesce`` (here an hour; in serve 50 ms, every decision of a sequential stream)."""
    ctx, box, out, headers = switch
    with _serve(ctx, coalesce=3600) as client:
        pipeline = client.app.state.served.loop
        wait_for(pipeline.idle, what="the start-up pass")
        auditing, go_on = threading.Event(), threading.Event()
        audit = ctx.store.audit

        def slow_audit(**kw):
            if threading.current_thread().name == "enforcer-push-fw1" and kw.get("target") == "fw1":
                auditing.set()
                go_on.wait(30)
            return audit(**kw)

        ctx.store.audit = slow_audit
        block(client, headers, "203.0.113.91", violation="spam")
        assert auditing.wait(30), "the sync was never audited"
        assert box.holds(out, "fw1", "203.0.113.91")  # confirmed before its audit entry
        block(client, headers, "203.0.113.92", violation="spam")  # arrives during the audit
        go_on.set()
        wait_for(lambda: box.holds(out, "fw1", "203.0.113.92"), what="the second ACL, with no burst window")
        pipeline.stopping.set()  # the hour-long window is never waited out by the shutdown


def test_one_decision_arriving_while_the_switch_syncs_the_previous_one_waits_no_burst_window(switch):
    """A client that sends its next decision as soon as the switch shows the previous flow can reach serve
    before the controller's reply does: one wake during a sync is not a burst, and goes at once. Before,
    it waited ``--coalesce`` (here an hour)."""
    ctx, box, out, headers = switch
    with _serve(ctx, coalesce=3600) as client:
        pipeline = client.app.state.served.loop
        wait_for(pipeline.idle, what="the start-up pass")
        syncing, go_on = threading.Event(), threading.Event()
        sync = Switch.sync

        def slow_sync(self, full: bool = False):
            report = sync(self, full)  # the flow is on the switch ...
            if not syncing.is_set():
                syncing.set()
                go_on.wait(30)  # ... and the controller's reply is still on its way
            return report

        Switch.sync = slow_sync
        try:
            block(client, headers, "203.0.113.93", violation="spam")
            assert syncing.wait(30), "the switch was never synced"
            block(client, headers, "203.0.113.94", violation="spam")  # arrives during the sync
            go_on.set()
            wait_for(lambda: box.holds(out, "fw1", "203.0.113.94"), what="the second ACL, with no burst window")
        finally:
            Switch.sync = sync
            pipeline.stopping.set()


def test_a_decision_to_a_switch_reads_the_store_s_serial_once(switch):
    """The worker read the serial (nothing moved?) and then the inputs read it again: two SQLite reads
    where one does, on every wake."""
    ctx, box, out, headers = switch
    with _serve(ctx) as client:
        pipeline = client.app.state.served.loop
        wait_for(pipeline.idle, what="the start-up pass")
        reads: list[str] = []
        serial = ctx.store.serial

        def counted():
            reads.append(threading.current_thread().name)
            return serial()

        ctx.store.serial = counted
        block(client, headers, "203.0.113.95", violation="spam")
        wait_for(lambda: box.holds(out, "fw1", "203.0.113.95"), what="the ACL on fw1")
        wait_for(pipeline.idle)
        assert reads.count("enforcer-push-fw1") == 1, reads
