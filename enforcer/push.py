"""Put one device's plan onto the device: confirmed, verified, rolled back on failure.

The sequence is NAPALM's and the same for every transport: merge candidate → compare →
commit with ``revert_in`` (the device reverts by itself if we lose it) → read the managed section
back → confirm only if it equals what we rendered, else roll back. One device's failure never
stops the others: the caller gets a result per device.
"""

from __future__ import annotations

import time

from pydantic import BaseModel, ConfigDict

from .drivers.base import DeviceUnreachable, Driver, DriverError
from .model import EnforcerError
from .plan import DevicePlan
from .render import RenderError, render_push

DEFAULT_REVERT_IN = 60


class PushResult(BaseModel):
    model_config = ConfigDict(frozen=True)
    device: str
    ok: bool
    changed: bool
    summary: str
    error: str | None = None
    rolled_back: bool = False
    seconds: float = 0.0


def push_plan(driver: Driver, plan: DevicePlan, revert_in: int | None = DEFAULT_REVERT_IN) -> PushResult:
    """Apply ``plan`` through an open ``driver``; never raises for device-level failures."""
    started = time.monotonic()
    name = plan.device
    if plan.error:
        return PushResult(device=name, ok=False, changed=False, summary=plan.summary(), error=plan.error)
    if not plan.has_changes:
        return PushResult(device=name, ok=True, changed=False, summary=plan.summary())
    sent = committed = False
    try:
        # What the plan showed is what is sent; plans built without one (tests, callers of
        # make_plan) get it rendered here, from the same function.
        candidate = plan.candidate or render_push(driver.device, plan.desired, plan.live, plan.removed_lines)
        driver.load_merge_candidate(candidate)
        driver.compare_config()
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
    except (EnforcerError, OSError) as exc:
        # Management lost once the commit was sent: a rollback cannot reach the device either, and
        # not confirming is what makes it revert by itself. Say so rather than try.
        lost = sent and isinstance(exc, DeviceUnreachable)
        rolled_back = False if lost else _undo(driver, committed)
        reason = exc.reason if isinstance(exc, DriverError) else str(exc)
        if isinstance(exc, RenderError):
            reason = f"render: {exc}"
        if lost or (committed and not rolled_back):
            reason = _left_to_device(reason, lost, committed, revert_in)
        return PushResult(
            device=name,
            ok=False,
            changed=False,
            summary=plan.summary(),
            error=reason,
            rolled_back=rolled_back,
            seconds=time.monotonic() - started,
        )
    return PushResult(
        device=name, ok=True, changed=True, summary=plan.summary(), seconds=time.monotonic() - started
    )


def _undo(driver: Driver, committed: bool) -> bool:
    try:
        if committed:
            driver.rollback()
            return True
        driver.discard_config()
    except EnforcerError:
        pass
    return False


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
