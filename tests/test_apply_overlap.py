"""A cold apply does not stand its steps in line: the device's login and its pending question run
while the store is read and the section rendered (push.RenderAhead), and what the device finds
against the render (a conflict) still withholds the enforcement behind it."""

from __future__ import annotations

import threading

from enforcer import service
from enforcer.drivers.offline import OfflineDriver
from enforcer.model import Decision
from enforcer.settings import Settings

from .conftest import EXAMPLE_INVENTORY

#: Only a deadline, so a regression fails instead of hanging: never a bound on how fast it is.
DEADLINE = 10.0


def _ctx(tmp_path, db_url) -> service.Context:
    return service.Context.open(Settings(inventory=EXAMPLE_INVENTORY, db=db_url, output=tmp_path / "out"))


def _frr(ctx: service.Context) -> str:
    return next(d.name for d in ctx.inventory.devices.values() if d.platform.value == "frr")


def test_the_device_is_logged_in_and_asked_while_the_store_is_read(tmp_path, db_url):
    """Before: the store was read (and the section rendered) first, then the lease, the login, the
    question: in a 10,000-route apply 0.7 s of login and the router's read waited behind 1 s of Python."""
    ctx = _ctx(tmp_path, db_url)
    frr = _frr(ctx)
    service.submit(ctx, Decision(target="203.0.113.50", violation="phishing"))
    asked = threading.Event()
    seen_while_reading: list[bool] = []

    class Asked(OfflineDriver):
        def has_pending_commit(self) -> bool:
            asked.set()
            return False

    ctx.driver_factory = lambda dev: Asked(dev, output_dir=tmp_path / "out", last_applied=None)
    read = ctx.store.active_enforcements

    def reading(*args, **kwargs):
        seen_while_reading.append(asked.wait(DEADLINE))  # the device is asked meanwhile, not after
        return read(*args, **kwargs)

    ctx.store.active_enforcements = reading
    [(plan, result)] = service.apply(ctx, frr)
    assert seen_while_reading == [True]
    assert result.ok and result.changed and "203.0.113.50" in plan.desired


def test_a_conflict_the_device_finds_in_the_render_ahead_still_withholds_its_enforcement(tmp_path, db_url):
    ctx = _ctx(tmp_path, db_url)
    frr = _frr(ctx)
    for target in ("203.0.113.50", "203.0.113.51"):
        service.submit(ctx, Decision(target=target, violation="phishing"))
    checked: list[str] = []

    class Collides(OfflineDriver):
        def conflicts(self, section: str) -> list[tuple[str, str]]:
            checked.append(section)
            return [(ln, "collides with the operator's route") for ln in section.splitlines() if "203.0.113.51" in ln]

    ctx.driver_factory = lambda dev: Collides(dev, output_dir=tmp_path / "out", last_applied=None)
    [(plan, result)] = service.apply(ctx, frr)
    assert result.ok
    assert "203.0.113.50" in plan.desired and "203.0.113.51" not in plan.desired
    assert [reason for _, reason in plan.withheld] and "collides" in plan.withheld[0][1]
    assert checked and "203.0.113.51" not in checked[-1]  # the section pushed was checked against the device


def test_a_store_that_cannot_be_read_still_fails_the_apply_read_beside_the_login(tmp_path, db_url):
    ctx = _ctx(tmp_path, db_url)
    frr = _frr(ctx)
    service.submit(ctx, Decision(target="203.0.113.50", violation="phishing"))
    ctx.driver_factory = lambda dev: OfflineDriver(dev, output_dir=tmp_path / "out", last_applied=None)
    read = ctx.store.active_enforcements

    def broken(*args, **kwargs):
        raise RuntimeError("the store went away")

    ctx.store.active_enforcements = broken
    try:
        service.apply(ctx, frr)
    except RuntimeError as exc:  # as before: a store that cannot be read is the pass's error
        assert "went away" in str(exc)
    else:
        raise AssertionError("a store that cannot be read must fail the apply")
    finally:
        ctx.store.active_enforcements = read
    [(plan, result)] = service.apply(ctx, frr)
    assert result.ok and "203.0.113.50" in plan.desired


def _networked(tmp_path, monkeypatch):
    """The example inventory with frr-edge1 reached over SSH (``transport: frr``), its driver a
    stand-in that writes its section like an offline one: which devices are logged in early."""
    import shutil

    import enforcer.drivers

    inventory = tmp_path / "inventory"
    shutil.copytree(EXAMPLE_INVENTORY, inventory)
    hosts = inventory / "hosts.yaml"
    hosts.write_text(hosts.read_text().replace("frr-edge1:\n", "frr-edge1:\n  transport: frr\n", 1))
    monkeypatch.setenv("ENFORCER_INVENTORY", str(inventory))
    monkeypatch.setattr(enforcer.drivers, "get_driver",
                        lambda dev: OfflineDriver(dev, output_dir=tmp_path / "out", last_applied=None))  # fmt: skip


def test_apply_yes_logs_into_the_devices_before_it_takes_their_leases(cli, tmp_path, monkeypatch):
    """Before: ``enforcer apply -y`` logged in only after importing the push half, reading the
    store and taking the lease (0.5-0.7 s of login, bcrypt opening the key, behind 0.5-0.8 s).
    Only the login and the read-ahead move; ``has_pending_commit`` still comes after the lease (FRR's
    read-ahead brings the router's answer with the config: tests/test_frr_read_ahead.py)."""
    from enforcer import lease

    _networked(tmp_path, monkeypatch)
    assert cli("block", "203.0.113.7", "--violation", "malware-hosting")[0] == 0
    logged_in = threading.Event()
    opened: list[str] = []
    seen_at_lease: list[bool] = []
    asked_before_lease: list[str] = []
    leased: set[str] = set()
    login, acquire = OfflineDriver.open, lease.acquire_waiting

    def open_(self) -> None:
        opened.append(self.device.name)
        if self.device.name == "frr-edge1":
            logged_in.set()
        login(self)

    read_before_lease: list[bool] = []

    def read_ahead(self) -> None:
        read_before_lease.append(self.device.name not in leased)

    def asked(self) -> bool:
        if self.device.name not in leased:
            asked_before_lease.append(self.device.name)
        return False

    def acquiring(store, device, *args, **kwargs):
        if device == "frr-edge1":  # the one device reached over a network: the others open as before
            seen_at_lease.append(logged_in.wait(DEADLINE))
        acquire(store, device, *args, **kwargs)
        leased.add(device)

    monkeypatch.setattr(OfflineDriver, "open", open_)
    monkeypatch.setattr(OfflineDriver, "has_pending_commit", asked)
    monkeypatch.setattr(OfflineDriver, "read_ahead", read_ahead)
    monkeypatch.setattr(lease, "acquire_waiting", acquiring)
    code, out, err = cli("apply", "--yes")
    assert code == 0, out + err
    assert seen_at_lease == [True]
    assert read_before_lease == [True]  # the config read while starting up, for the router to verify
    assert asked_before_lease == []  # the plan's question only under the lease
    assert sorted(opened) == sorted(set(opened)), "a device was logged into twice"


def test_apply_wait_logs_in_early_but_reads_nothing_ahead(cli, tmp_path, monkeypatch):
    """``--wait``: a read (and the read-ahead's pending answer) taken before waiting for another
    pusher's lease would be stale by the commit, which would refuse it: only the login moves."""
    _networked(tmp_path, monkeypatch)
    assert cli("block", "203.0.113.7", "--violation", "malware-hosting")[0] == 0
    read: list[str] = []
    monkeypatch.setattr(OfflineDriver, "read_ahead", lambda self: read.append(self.device.name))
    code, out, err = cli("apply", "--yes", "--wait", "5")
    assert code == 0, out + err
    assert read == []
    assert cli("block", "203.0.113.8", "--violation", "malware-hosting")[0] == 0
    assert cli("apply", "--yes")[0] == 0
    assert read == ["frr-edge1"]  # without --wait the networked device reads ahead


def test_an_early_login_that_fails_is_that_devices_result_and_the_others_push(tmp_path, db_url):
    from enforcer.drivers.base import DeviceUnreachable
    from enforcer.sessions import EarlyLogins

    ctx = _ctx(tmp_path, db_url)
    frr = _frr(ctx)
    service.submit(ctx, Decision(target="203.0.113.50", violation="phishing"))
    closed: list[str] = []

    class Logged(OfflineDriver):
        def open(self) -> None:
            if self.device.name == frr:
                raise DeviceUnreachable(frr, "cannot reach 192.0.2.1:22: timed out")

        def close(self) -> None:
            closed.append(self.device.name)

    def new(dev):
        return Logged(dev, output_dir=tmp_path / "out", last_applied=None)

    logins = EarlyLogins(list(ctx.inventory.devices.values()), new)
    try:
        results = {p.device: r for p, r in service.apply(ctx, session=logins.use)}
    finally:
        logins.close()
    assert not results[frr].ok and "cannot reach" in results[frr].error
    assert all(r.ok for name, r in results.items() if name != frr)
    assert sorted(closed) == sorted(n for n in ctx.inventory.devices if n != frr)  # each opened one closed once
