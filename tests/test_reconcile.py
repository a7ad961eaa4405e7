"""The reconcile loop against offline devices: expiry and drift repair fall out of one pass."""

from __future__ import annotations

from datetime import timedelta

from enforcer import service
from enforcer.model import Decision
from enforcer.push import PushResult
from enforcer.reconcile import Backoff, Reconciler
from enforcer.settings import Settings
from enforcer.store import EnforcementRow

from .conftest import EXAMPLE_INVENTORY


def _ctx(tmp_path, db_url) -> service.Context:
    return service.Context.open(Settings(inventory=EXAMPLE_INVENTORY, db=db_url, output=tmp_path / "out"))


def _frr(ctx: service.Context) -> str:
    return next(d.name for d in ctx.inventory.devices.values() if d.platform.value == "frr")


def test_a_pass_applies_new_decisions_and_a_later_pass_removes_them_at_expiry(tmp_path, db_url):
    ctx = _ctx(tmp_path, db_url)
    service.submit(ctx, Decision(target="203.0.113.50", violation="phishing", ttl="1h"))
    loop = Reconciler(ctx)
    loop.run_pass()
    frr = _frr(ctx)
    assert "203.0.113.50" in ctx.store.last_applied(frr)

    with ctx.store.session() as s:
        for row in s.query(EnforcementRow).all():
            row.expires_at = row.expires_at - timedelta(hours=2)
    report = loop.run_pass()
    assert report.expired, "nothing expired"
    assert "203.0.113.50" not in (ctx.store.last_applied(frr) or "")
    assert any(e.action == "expired" for e in ctx.store.history())


def test_kicks_in_a_burst_become_one_pass(tmp_path, db_url):
    ctx = _ctx(tmp_path, db_url)
    loop = Reconciler(ctx, interval=60, coalesce=0.3)
    loop.start()
    try:
        assert loop.idle.wait(10), "first pass never finished"
        start = loop.passes
        for _ in range(20):
            loop.kick()
        assert _wait(lambda: loop.passes > start and loop.idle.is_set(), 10)
        assert loop.passes == start + 1
    finally:
        loop.stop()


def _wait(condition, within: float) -> bool:
    import time

    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_backoff_doubles_per_failure_and_resets_on_success():
    b = Backoff(base=2, cap=10)
    fail = PushResult(device="r1", ok=False, changed=False, summary="", error="down")
    b.record(fail, at=100)
    assert not b.ready("r1", 101) and b.ready("r1", 102)
    b.record(fail, at=102)
    assert not b.ready("r1", 105) and b.ready("r1", 106)
    for _ in range(5):
        b.record(fail, at=200)
    assert b.ready("r1", 210)
    b.record(PushResult(device="r1", ok=True, changed=True, summary=""), at=200)
    assert b.ready("r1", 200)
