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


def test_a_render_error_is_reported_once_and_retried_only_when_the_decisions_change(tmp_path, db_url, monkeypatch):
    """Before: a permanent error (a template failing) was retried, and audited, on every pass forever."""
    from enforcer import push
    from enforcer.render import RenderError

    ctx = _ctx(tmp_path, db_url)
    frr = _frr(ctx)
    real = push.render_push
    attempts: list[str] = []

    def broken_on_frr(device, *args, **kwargs):
        if device.name == frr:
            attempts.append(frr)
            raise RenderError("template frr/push.j2: 'comment' is undefined")
        return real(device, *args, **kwargs)

    monkeypatch.setattr(push, "render_push", broken_on_frr)
    service.submit(ctx, Decision(target="203.0.113.50", violation="phishing"))
    loop = Reconciler(ctx)
    [failed] = [r for r in loop.run_pass().results if r.device == frr]
    assert failed.permanent and "comment" in failed.error
    assert frr not in {r.device for r in loop.run_pass().results}  # same input: not tried again
    assert len(attempts) == 1
    assert sum(e.action == "apply-failed" and e.target == frr for e in ctx.store.history()) == 1
    service.submit(ctx, Decision(target="203.0.113.51", violation="phishing"))
    assert frr in {r.device for r in loop.run_pass().results}  # the input changed: tried again
    assert len(attempts) == 2


def test_an_exception_of_any_type_from_a_driver_is_that_devices_error(tmp_path, db_url):
    """Before: a JSONDecodeError (a truncated controller reply) escaped the pool and lost every device's result."""
    import json

    from enforcer.drivers.offline import OfflineDriver

    ctx = _ctx(tmp_path, db_url)
    frr = _frr(ctx)

    class Truncated(OfflineDriver):
        def get_managed_section(self) -> str:
            return json.loads('{"flows": [')

    def drivers(dev):
        if dev.name == frr:
            return Truncated(dev, output_dir=tmp_path / "out", last_applied=None)
        return OfflineDriver(dev, output_dir=tmp_path / "out", last_applied=ctx.store.last_applied(dev.name))

    ctx.driver_factory = drivers
    service.submit(ctx, Decision(target="203.0.113.50", violation="phishing"))
    results = {p.device: r for p, r in service.apply(ctx)}
    assert set(results) == set(ctx.inventory.devices)
    assert not results[frr].ok and results[frr].error.startswith("JSONDecodeError: ")
    assert all(r.ok for name, r in results.items() if name != frr)
