"""One pusher per device: a second pusher is told the device is busy, and never pushes over the first.

Before: CLI ``apply``, a local hook, the serve loop and a second instance could push one device
at once, each committing over (or rolling back to) the other's checkpoint.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import timedelta

import pytest

from enforcer import lease, service
from enforcer.drivers.offline import OfflineDriver
from enforcer.model import Decision, now
from enforcer.settings import Settings
from enforcer.store import Store
from enforcer.tables import LeaseRow, naive_utc

from .conftest import EXAMPLE_INVENTORY
from .helpers import wait_for

BACKENDS = ["sqlite"] + (["postgres"] if os.environ.get("ENFORCER_TEST_PG") else [])


@pytest.fixture(params=BACKENDS)
def db(request, db_url) -> str:
    if request.param == "sqlite":
        return db_url
    url = os.environ["ENFORCER_TEST_PG"]
    store = Store(url)
    with store.session() as s:
        for table in ("holders", "enforcements", "decisions", "audit", "applied", "device_leases"):
            s.execute(LeaseRow.metadata.tables[table].delete())
    return url


@pytest.fixture
def ctx(tmp_path, db) -> service.Context:
    ctx = service.Context.open(Settings(inventory=EXAMPLE_INVENTORY, db=db, output=tmp_path / "out"))
    service.submit(ctx, Decision(target="203.0.113.50", violation="phishing"))
    return ctx


def _frr(ctx) -> str:
    return next(d.name for d in ctx.inventory.devices.values() if d.platform.value == "frr")


def test_a_second_pusher_is_told_the_device_is_busy_and_by_whom(ctx):
    frr = _frr(ctx)
    with lease.device_lease(ctx.store, frr, "serve on noc1 pid 4242"):
        results = {p.device: r for p, r in service.apply(ctx, actor="alice")}
    busy = results[frr]
    assert not busy.ok and busy.error.startswith("device busy: pushed by serve on noc1 pid 4242 since ")
    assert ctx.store.last_applied(frr) is None  # nothing was pushed over the holder
    assert all(r.ok for name, r in results.items() if name != frr)  # the other devices were pushed
    assert lease.current(ctx.store, frr) is None  # released after the block
    assert next(r for _, r in service.apply(ctx, frr)).ok


class SlowPusher:
    """The serve loop pushing ``device`` on its own thread, stopped inside its commit until ``finish()``."""

    def __init__(self, ctx: service.Context, device: str, tmp_path):
        self.in_commit, self._finish, self.results = threading.Event(), threading.Event(), []
        in_commit, finish = self.in_commit, self._finish

        class SlowCommit(OfflineDriver):
            def commit_config(self, revert_in: int | None = None) -> None:
                in_commit.set()
                assert finish.wait(30), "the test never let the commit finish"
                super().commit_config(revert_in)

        slow = service.Context(settings=ctx.settings, store=ctx.store,
                               driver_factory=lambda dev: SlowCommit(dev, output_dir=tmp_path / "out",
                                                                     last_applied=None))  # fmt: skip
        self._thread = threading.Thread(target=lambda: self.results.extend(
            service.apply(slow, device, source="reconcile", actor="enforcer")))
        self._thread.start()
        assert in_commit.wait(30)

    def finish(self):
        self._finish.set()
        self._thread.join(30)
        [(_, result)] = self.results
        return result


def test_a_pusher_mid_commit_keeps_the_device_and_its_commit_completes(ctx, tmp_path):
    """A slow commit on one thread (the serve loop) while another (CLI apply) tries the same device."""
    frr = _frr(ctx)
    first = SlowPusher(ctx, frr, tmp_path)
    [(_, second)] = service.apply(ctx, frr, actor="alice")
    assert not second.ok and "device busy: pushed by reconcile enforcer on " in second.error
    result = first.finish()
    assert result.ok and result.changed, result.error
    assert "203.0.113.50" in ctx.store.last_applied(frr)


def test_a_dead_pushers_lease_lapses_and_the_device_is_pushed_again(ctx):
    frr = _frr(ctx)
    with ctx.store.session() as s:  # what a SIGKILLed pusher leaves: a lease nobody renews
        s.add(LeaseRow(device=frr, holder="cli bob on noc2 pid 99", since=naive_utc(now() - timedelta(minutes=2)),
                       expires_at=naive_utc(now() - timedelta(seconds=1))))
    [(_, result)] = service.apply(ctx, frr)
    assert result.ok and result.changed, result.error


def test_two_instances_on_one_store_get_one_lease(db, tmp_path):
    a, b = Store(db), Store(db)
    lease.acquire(a, "edge1", "instance-a")
    with pytest.raises(lease.DeviceBusy, match="device busy: pushed by instance-a since"):
        lease.acquire(b, "edge1", "instance-b")
    lease.acquire(a, "edge1", "instance-a")  # the holder renews
    lease.release(b, "edge1", "instance-b")  # a release by a non-holder changes nothing
    assert lease.current(b, "edge1")[0] == "instance-a"
    lease.release(a, "edge1", "instance-a")
    lease.acquire(b, "edge1", "instance-b")


def test_cli_apply_while_another_process_holds_the_device_reports_it_busy(ctx, tmp_path):
    frr = _frr(ctx)
    env = {**os.environ, "ENFORCER_DB": ctx.settings.db, "ENFORCER_INVENTORY": str(EXAMPLE_INVENTORY),
           "ENFORCER_OUTPUT": str(tmp_path / "out"), "COLUMNS": "200"}
    with lease.device_lease(ctx.store, frr, "serve on noc1 pid 4242"):
        proc = subprocess.run([sys.executable, "-m", "enforcer.cli", "apply", "--yes", "--device", frr],
                              env=env, text=True, capture_output=True, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "device busy: pushed by serve on noc1 pid 4242 since" in proc.stdout + proc.stderr
    assert ctx.store.last_applied(frr) is None


def test_the_lease_lasts_the_configured_ttl_after_its_last_renewal(ctx, tmp_path):
    """``ENFORCER_LEASE_TTL`` bounds how long a pusher that dies mid-push keeps others off the device."""
    frr = _frr(ctx)
    seen: list = []

    class Peek(OfflineDriver):
        def commit_config(self, revert_in: int | None = None) -> None:
            seen.append(lease.current(ctx.store, frr))
            super().commit_config(revert_in)

    short = service.Context(settings=ctx.settings.model_copy(update={"lease_ttl": 7.0}), store=ctx.store,
                            driver_factory=lambda dev: Peek(dev, output_dir=tmp_path / "out", last_applied=None))
    [(_, result)] = service.apply(short, frr)
    assert result.ok, result.error
    [(_, since, until)] = seen
    assert timedelta(seconds=6) < until - since <= timedelta(seconds=7)  # a store timestamp difference, no clock race
    assert Settings.from_env().lease_ttl == lease.LEASE_TTL == 30.0


def test_a_bad_lease_ttl_is_one_line_naming_it(tmp_path):
    env = {**os.environ, "ENFORCER_LEASE_TTL": "soon", "ENFORCER_DB": f"sqlite:///{tmp_path / 'e.db'}"}
    proc = subprocess.run([sys.executable, "-m", "enforcer.cli", "plan"], env=env, text=True, capture_output=True,
                          timeout=120)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        "error: ENFORCER_LEASE_TTL: Input should be a valid number, unable to parse string as a number"], proc.stderr


def test_a_pusher_told_to_wait_takes_the_device_after_the_holders_commit_and_never_cancels_it(ctx, tmp_path):
    """``apply --wait``: the second pusher polls for the lease and pushes once the first one has
    committed and let go, instead of being told the device is busy (the lab version,
    tests/lab/test_one_pusher.py, shows it finds the router already holding the first one's commit)."""
    frr = _frr(ctx)
    first = SlowPusher(ctx, frr, tmp_path)
    second: list = []
    waiter = threading.Thread(target=lambda: second.extend(service.apply(ctx, frr, actor="alice", wait=120)))
    waiter.start()
    assert lease.current(ctx.store, frr)[0].startswith("reconcile enforcer on ")
    one = first.finish()
    waiter.join(120)
    assert not waiter.is_alive()
    [(_, two)] = second
    assert one.ok and one.changed, one.error
    assert two.ok, two.error  # waited: not "device busy"
    assert lease.current(ctx.store, frr) is None


def test_a_bounded_wait_still_reports_the_device_busy_when_the_holder_keeps_it(ctx):
    frr = _frr(ctx)
    with lease.device_lease(ctx.store, frr, "serve on noc1 pid 4242"):
        [(_, result)] = service.apply(ctx, frr, actor="alice", wait=lease.WAIT_POLL * 2)
    assert not result.ok and result.error.startswith("device busy: pushed by serve on noc1 pid 4242 since ")
    assert ctx.store.last_applied(frr) is None


def test_a_renewal_never_takes_back_a_lease_that_lapsed_and_was_taken_meanwhile(ctx):
    """A pusher whose renewals were held up past the TTL lost its lease; another pusher took it, pushed and
    gave it back. Before, the late renewal re-created the lease for the first pusher, dated from before the
    other's push (seen in the two-instance lab test: the survivor's push looked as if it ran inside the dead
    holder's lease)."""
    store = ctx.store
    lease.acquire(store, "edge1", "a", ttl=-1)  # a's lease, already lapsed
    assert lease.extend(store, "edge1", "a", ttl=60)  # still a's own row: renewing it is safe
    lease.acquire(store, "edge1", "a", ttl=-1)
    lease.acquire(store, "edge1", "b", ttl=60)  # lapsed: b takes it, pushes, gives it back
    assert not lease.extend(store, "edge1", "a", ttl=60)
    lease.release(store, "edge1", "b")
    assert not lease.extend(store, "edge1", "a", ttl=60)
    assert lease.current(store, "edge1") is None


def test_a_kept_lease_pushes_a_burst_with_one_write_and_keeps_every_other_pusher_off(ctx):
    """serve's OpenFlow worker keeps the switch's lease across a burst of syncs (lease.KeptLease): ten
    pushes, one lease write — before, each push took and gave back the lease, two fsync'd write
    transactions around a one-round-trip sync. Meanwhile another pusher is busy, as under device_lease."""
    frr = _frr(ctx)
    kept = lease.KeptLease(ctx.store, frr, "serve on noc1 pid 4242", ttl=60, idle=3600)
    for _ in range(10):
        with kept.hold():
            assert lease.current(ctx.store, frr)[0] == "serve on noc1 pid 4242"
        with pytest.raises(lease.DeviceBusy, match="pushed by serve on noc1 pid 4242"):
            lease.acquire(ctx.store, frr, "enforcer apply on noc1 pid 7")
    assert kept.writes == 1
    kept.release()
    assert kept.writes == 2 and lease.current(ctx.store, frr) is None
    lease.acquire(ctx.store, frr, "enforcer apply on noc1 pid 7")  # given back: the next pusher has it


def test_a_kept_lease_is_given_back_once_idle(ctx):
    frr = _frr(ctx)
    kept = lease.KeptLease(ctx.store, frr, "serve on noc1 pid 4242", ttl=60, idle=0.05)
    with kept.hold():
        pass
    wait_for(lambda: lease.current(ctx.store, frr) is None, what="the idle lease given back")
    assert not kept.held and kept.writes == 2


def test_a_kept_lease_that_lapsed_while_its_process_was_frozen_is_never_pushed_under(ctx):
    """Frozen past half its TTL (SIGSTOP, a stalled VM), the keeper cannot vouch for the row any more: the
    next push writes again, and when the lease lapsed and another pusher took it, that push is busy."""
    frr, clock = _frr(ctx), [1000.0]
    kept = lease.KeptLease(ctx.store, frr, "a", ttl=60, idle=3600, clock=lambda: clock[0])
    with kept.hold():
        pass
    lease.acquire(ctx.store, frr, "a", ttl=-1)  # what the store holds once a's 60 s passed unrenewed
    lease.acquire(ctx.store, frr, "b", ttl=60)  # b takes the lapsed lease
    clock[0] += 61
    with pytest.raises(lease.DeviceBusy, match="pushed by b"):
        with kept.hold():
            raise AssertionError("pushed under b's lease")
    assert not kept.held and lease.current(ctx.store, frr)[0] == "b"
    lease.release(ctx.store, frr, "b")
    with kept.hold():  # b gave it back: a takes it anew
        assert lease.current(ctx.store, frr)[0] == "a"
    kept.release()


def test_a_bad_lease_ttl_names_the_variable_on_blocks_fast_path_too(tmp_path):
    """``enforcer block`` reads its settings without typer (``cli_block``): the same one line, the
    variable the operator set, not the model's field name."""
    env = {**os.environ, "ENFORCER_LEASE_TTL": "2", "ENFORCER_DB": f"sqlite:///{tmp_path / 'e.db'}"}
    fast = "from enforcer.cli_entry import main; import sys; sys.argv[0] = 'enforcer'; main()"
    proc = subprocess.run([sys.executable, "-c", fast, "block", "198.51.100.20", "-v", "scanning"], env=env,
                          text=True, capture_output=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        "error: ENFORCER_LEASE_TTL: Input should be greater than or equal to 3"], proc.stderr
