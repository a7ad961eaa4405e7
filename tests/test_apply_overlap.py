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
