"""Put one device's plan onto the device: confirmed, verified, rolled back on failure.

The sequence is NAPALM's and the same for every transport: settle a commit-confirm left pending
by a pusher that died (:func:`settle_pending`) → merge candidate (the plan showed its diff) → commit with
``revert_in`` (the device reverts by itself if we lose it) → read the managed section back →
confirm only if it equals what we rendered, else roll back. After any failure the device is read
back and the result says what it really holds ("rolled back, verified", "device holds N of M new
lines"), never what enforcer hoped. One device's failure never stops the others.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from .compose import Composition, compose, refusal, slot_facts
from .drivers.base import CommitRefused, DeviceUnreachable, Driver, DriverError
from .inventory import Device, Inventory
from .model import Enforcement, EnforcerError
from .plan import DevicePlan, failed_plan, make_plan
from .refresh import after_commit
from .render import RenderError, finish_section, render_push, render_section
from .withhold import Rendered, render_for

DEFAULT_REVERT_IN = 60


class PushResult(BaseModel):
    model_config = ConfigDict(frozen=True)
    device: str
    ok: bool
    changed: bool
    summary: str
    error: str | None = None
    #: The input itself is at fault (a render error, an invalid inventory): retrying cannot help until it changes.
    permanent: bool = False
    rolled_back: bool = False
    seconds: float = 0.0
    #: What was done about a commit-confirm a dead pusher left pending (see settle_pending).
    settled: str | None = None
    #: (enforcement id, reason) left out of this device's section; the rest was pushed.
    withheld: list[tuple[int, str]] = []


class RenderAhead:
    """The device's section rendered in a thread while the caller takes the device's lease, opens
    its session and asks it about a pending commit: the render is pure (no device, no lease), and
    in a cold push it stood in line behind the SSH login (0.5 s of bcrypt opening the key, the
    handshake) and the router printing its running config, which wait on other cores.

    ``enforcements``: the device's desired set, or a function that gives it (the store read that
    ``service.apply`` runs beside every device's login). The conflicts check, which needs the
    device, is left to :func:`plan_device`, against the config its question brought."""

    def __init__(self, device: Device, enforcements: list[Enforcement] | Callable[[], list[Enforcement]],
                 inventory: Inventory, at: datetime):
        self.device, self.inventory, self.at = device, inventory, at
        self._source = enforcements if callable(enforcements) else (lambda: enforcements)
        self._done = threading.Event()
        self._result: tuple[list[Enforcement], Rendered] | None = None
        self._error: BaseException | None = None
        threading.Thread(target=self._run, name=f"render-{device.name}", daemon=True).start()

    def _run(self) -> None:
        try:
            kept = self._source()
            self._result = (kept, render_for(self.device, kept, self.inventory, self.at))
        except BaseException as exc:  # noqa: BLE001 - raised where the result is taken, as a render's own error
            self._error = exc
        finally:
            self._done.set()

    def result(self) -> tuple[list[Enforcement], Rendered]:
        """(the desired set, its render without the conflicts check); raises what the render raised."""
        self._done.wait()
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result

    def settled(self) -> None:
        """Wait for the thread (a push given up before its plan: no render outlives its push)."""
        self._done.wait()


def plan_device(
    device: Device,
    enforcements: list[Enforcement] | RenderAhead,
    inventory: Inventory,
    driver: Driver,
    at: datetime,
    settle: bool = False,
    ask_pending: bool = True,
) -> DevicePlan:
    """Render (withholding what the device cannot take), ask the device whether a commit-confirm is
    pending, settle it when ``settle`` (apply and reconcile; plan only shows it), read the live
    section, diff. Every pass asks: a pending commit is state to act on, not a timer to hope about.

    ``ask_pending=False``: serve's worker, woken by a decision between its full passes, on the
    session its last push confirmed over, skips the question (one round trip of the push). A commit
    left pending meanwhile by a pusher that died still cannot be pushed over — the device refuses
    the commit (NAPALM's contract) — and the worker's next pass after a failure asks again.

    ``enforcements`` as a :class:`RenderAhead`: its render ran while the device was opened and
    asked; it is taken once the question is answered."""
    pending, settled = (driver.has_pending_commit() if ask_pending else False), None
    ahead = None
    if isinstance(enforcements, RenderAhead):
        enforcements, ahead = enforcements.result()
    if pending and settle:
        wanted = _desired(device, enforcements, inventory, at, driver, ahead)[3]
        settled, pending = settle_pending(driver, wanted), False
    rendered, live, composition, desired, config = _desired(device, enforcements, inventory, at, driver, ahead)
    if composition.refused:
        return failed_plan(device.name, device.platform, device.effective_transport, refusal(composition),
                           slots=list(composition.slots))
    section = composition.section
    plan = make_plan(
        device.name,
        device.platform,
        device.effective_transport,
        desired,
        live,
        list(section.unsupported),
        list(section.protected),
        slots=list(composition.slots),
    )
    plan = plan.model_copy(update={"withheld": rendered.withheld, "pending": pending, "settled": settled})
    if plan.has_changes:  # the commands shown, saved and sent: rendered once, here
        candidate = render_push(device, desired, live, plan.removed_lines, config=config)
        plan = plan.model_copy(update={"candidate": candidate,
                                       "after_commit": after_commit(device, config, live, desired)})
    return plan


def _desired(
    device: Device, enforcements: list[Enforcement], inventory: Inventory, at: datetime, driver: Driver,
    ahead: Rendered | None = None,
) -> tuple[Rendered, str, Composition, str, str]:
    """At one moment of the device: render, read the live section, read the slots and compose
    with the operator's objects (enforcer.compose), number entries against the live ones.
    Returns (rendered, live, composition, desired, config); desired is empty when a slot is
    refused, config (the full running config) when the platform has no slots.

    ``ahead``: the render done beforehand without the device (:class:`RenderAhead`); it stands
    when the device finds no conflict in it, else the render runs again, withholding against
    the device (what a render with the check finds, in the rare case it finds anything)."""
    with driver.same_moment():
        if ahead is not None and not driver.conflicts(ahead.desired):
            rendered = ahead
        else:
            rendered = render_for(device, enforcements, inventory, at, conflicts=driver.conflicts)
        live = driver.get_managed_section()
        config = driver.get_config() if slot_facts(device) else ""
    composition = compose(rendered.section, config) if config else Composition(section=rendered.section)
    if composition.refused:
        return rendered, live, composition, "", config
    if composition.section is rendered.section and rendered.printed:  # the same section: print it once
        desired = finish_section(rendered.section, rendered.printed, live=live, ranges=composition.ranges)
    else:
        desired = render_section(composition.section, live=live, ranges=composition.ranges)
    return rendered, live, composition, desired, config


def settle_pending(driver: Driver, desired: str) -> str | None:
    """Deal on purpose with a commit-confirm left pending on the device (a pusher that died between
    commit and confirm): confirm it if the device holds the desired state, else roll it back, so
    nothing is ever left for the device's timer to revert unnoticed. Returns what was done.

    Called with the per-device push lease held, so a pending commit here is never another live
    pusher's (the drivers refuse to commit over one anyway).
    """
    if not driver.has_pending_commit():
        return None
    if driver.get_managed_section() == desired:
        driver.confirm_commit()
        return "a pending commit-confirm held the desired state: confirmed"
    return driver.settle_unwanted()


def push_plan(driver: Driver, plan: DevicePlan, revert_in: int | None = DEFAULT_REVERT_IN) -> PushResult:
    """Apply ``plan`` through an open ``driver``; never raises for device-level failures."""
    started = time.monotonic()
    name = plan.device
    if plan.error:
        return _result(plan, ok=False, changed=False, error=plan.error)
    if not plan.has_changes:
        return _result(plan, ok=True, changed=False)
    sent = committed = False
    try:
        # What the plan showed is what is sent; plans built without one (tests, callers of
        # make_plan) get it rendered here, from the same function.
        candidate = plan.candidate or render_push(driver.device, plan.desired, plan.live, plan.removed_lines)
        # No compare_config here: the plan's diff (desired against the live section read for it)
        # is what the operator saw, and the read-back below verifies what the commit did. Its
        # answer was never used, and on nftables it cost a prediction of the whole table per push.
        with driver.same_moment():  # the commit's undo reads the device once
            driver.load_merge_candidate(candidate)
            driver.set_desired_section(plan.desired)
            sent = True
            driver.commit_config(revert_in=revert_in)
        committed = True
        after = driver.get_managed_section()
        if after != plan.desired:
            raise DriverError(name, "read-back differs from the rendered section after commit:\n" + _short_diff(
                plan.desired, after
            ))
        if revert_in:
            driver.confirm_commit()
    except Exception as exc:  # any library's error (a truncated reply's JSONDecodeError) is this device's result
        reason = failure_reason(exc)
        if isinstance(exc, RenderError):
            reason = f"render: {exc}"
        rolled_back = False
        if sent and isinstance(exc, DeviceUnreachable):
            # Management lost once the commit was sent: a rollback cannot reach the device either,
            # and not confirming is what makes it revert by itself. Say so rather than try.
            reason = _left_to_device(reason, True, committed, revert_in)
        elif sent and not isinstance(exc, CommitRefused):
            rolled_back, state = _verified_undo(driver, plan, committed)
            if state is None:
                reason = _left_to_device(reason, False, committed, revert_in)
            else:
                reason = f"{reason}; {state}"
        else:
            _discard(driver)
        return _result(
            plan,
            ok=False,
            changed=False,
            error=reason,
            permanent=isinstance(exc, RenderError),
            rolled_back=rolled_back,
            seconds=time.monotonic() - started,
        )
    try:  # after the confirm: the commit stands whatever happens here, and the result says so
        driver.run_after_commit(plan.after_commit)
    except Exception as exc:  # noqa: BLE001 - this device's result, like every failure above
        return _result(plan, ok=False, changed=True, seconds=time.monotonic() - started,
                       error=f"committed, but {plan.after_commit!r} failed: {failure_reason(exc)}")
    return _result(plan, ok=True, changed=True, seconds=time.monotonic() - started)


def _result(plan: DevicePlan, **fields: object) -> PushResult:
    return PushResult(
        device=plan.device, summary=plan.summary(), settled=plan.settled, withheld=plan.withheld, **fields
    )


def _discard(driver: Driver) -> None:
    try:
        driver.discard_config()
    except Exception:  # the push already failed; its first error is the one reported
        pass


def _verified_undo(driver: Driver, plan: DevicePlan, committed: bool) -> tuple[bool, str | None]:
    """After a failed or interrupted commit: read the device, roll back only what really landed,
    read again, and say what the device holds. ``(rollback done, what is there)``; ``None`` when
    the device could not be read back nor rolled back.

    A rollback is never sent when the device still holds the old set: the router may already have
    undone a failed commit itself, and a second rollback would take back an earlier commit.
    """
    try:
        now = driver.get_managed_section()
        if now == plan.live and not committed:
            return False, "nothing changed on the device (read back, verified)"
        driver.rollback()
        now = driver.get_managed_section()
    except Exception:  # of any type: push_plan's result must still come back
        return False, None
    if now == plan.live:
        return True, "rolled back, verified (the device holds its previous set)"
    return True, held_report(now, plan)


def held_report(now: str, plan: DevicePlan) -> str:
    """How much of the change a device really holds, read back: the operator's next question."""
    if now == plan.desired:
        return "the device holds the new set (read back, verified)"
    have = set(now.splitlines())
    wanted = [ln for ln in plan.desired.splitlines() if ln not in set(plan.live.splitlines())]
    held = sum(1 for ln in wanted if ln in have)
    return f"device holds {held} of {len(wanted)} new lines: left for the next pass"


def failure_reason(exc: BaseException) -> str:
    """One line for a device's failure: enforcer's own errors as they say, anything else with its type."""
    if isinstance(exc, DriverError):
        return exc.reason
    if isinstance(exc, EnforcerError | OSError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _left_to_device(reason: str, lost: bool, committed: bool, revert_in: int | None) -> str:
    """The error when a commit may be on the device and enforcer cannot take it back."""
    if lost:
        what = "management lost " + ("after commit" if committed else "during commit (it may have been applied)")
    else:
        what = "commit not verified and rollback failed"
    if revert_in:
        return f"{what}: not confirmed, the device reverts by itself within {revert_in}s ({reason})"
    return f"{what}: no revert timer was set (revert_in=0), check the device by hand ({reason})"


def _short_diff(want: str, got: str) -> str:
    import difflib

    return "".join(list(difflib.unified_diff(got.splitlines(True), want.splitlines(True), "device", "rendered"))[:20])
