"""The one facade the CLI, the HTTP API and the reconcile loop call: no logic lives in handlers.

``submit`` runs intake → policy → store (:mod:`enforcer.decisions`, re-exported here on first use); ``plan``
runs store → render → live state → diff; ``apply`` runs plan → push per device;
``reconcile_once`` expires what is due and applies.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from .collector import bulk_work
from .conftree import trees_kept
from .context import Context
from .drivers.base import Driver
from .inventory import Device, InventoryError
from .lease import device_lease, holder_name
from .model import Enforcement, now
from .plan import DevicePlan, failed_plan
from .push import DEFAULT_REVERT_IN, PushResult, RenderAhead, failure_reason, plan_device, push_plan
from .render import RenderError, RoleIndex, build_section, forget, render_section

log = logging.getLogger("enforcer.service")

#: The intake half (:mod:`enforcer.decisions`), re-exported so callers keep ``service.submit``, but
#: imported on first use: ``enforcer render``, ``plan`` and ``apply`` only read the store, and the
#: intake stack (batch, group commit, the playbooks' policy) cost them a third of their start-up
#: (issue 12.5, ``tests/test_cli_imports.py``).
_INTAKE = frozenset({
    "BREAKERS", "MAX_ID", "Outcome", "SubmitResult", "approve", "decision_id_of", "get_decision", "history",
    "list_decisions", "reject", "release", "submit", "submit_many", "unblock",
})  # fmt: skip

if TYPE_CHECKING:
    from .decisions import (  # noqa: F401 - the lazy re-exports, for type checkers
        BREAKERS,
        MAX_ID,
        Outcome,
        SubmitResult,
        approve,
        decision_id_of,
        get_decision,
        history,
        list_decisions,
        reject,
        release,
        submit,
        submit_many,
        unblock,
    )


def __getattr__(name: str) -> Any:
    """``service.submit`` and the rest of the intake half, imported when first asked for."""
    if name in _INTAKE:
        from . import decisions

        value = getattr(decisions, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_INTAKE})


#: Errors in the input itself (a template, the inventory): retried only once the input changes.
PERMANENT = (RenderError, InventoryError)

#: Parallel device sessions during plan/apply: enough for a NOC's edge, gentle on the controller host.
MAX_PARALLEL = 8


# ------------------------------------------------------------------ render → plan → push


def _devices(ctx: Context, device: str | Sequence[str] | None) -> list[Device]:
    """One named device, several, or (None) every device in the inventory."""
    if device is None:
        return list(ctx.inventory.devices.values())
    names = [device] if isinstance(device, str) else list(device)
    return [ctx.inventory.device(n) for n in names]


def render_device(ctx: Context, device: str, at: datetime | None = None) -> str:
    dev = ctx.inventory.device(device)
    with bulk_work():
        section = build_section(dev, ctx.store.active_enforcements(at), ctx.inventory, at)
        return render_section(section)


def _plan_with(
    ctx: Context, dev: Device, enforcements: list[Enforcement] | RenderAhead, driver: Driver, at: datetime,
    settle: bool = False,
    ask_pending: bool = True,
) -> DevicePlan:
    """The device's plan (enforcements it cannot take withheld, a pending commit shown); ``settle``:
    confirm or roll back a pending commit first (apply), see :func:`push.plan_device`. The
    device's config texts are parsed once each during it (:func:`conftree.trees_kept`)."""
    with trees_kept():
        return plan_device(dev, enforcements, ctx.inventory, driver, at, settle=settle, ask_pending=ask_pending)


def each_device(ctx: Context, device: str | Sequence[str] | None, work: Callable[[Device], object]) -> list:
    """``work`` on each named device (None: all) in parallel, results in the same order.

    A pass like this builds and prints each device once: what the render memos keep for serve's next
    push of a device (its last builds, its printed section and entries) is dropped as each device is
    done. Kept, it held 66 MB more at the peak of a 100,000-enforcement plan over 100 devices."""
    devices = _devices(ctx, device)

    def once(dev: Device) -> object:
        try:
            return work(dev)
        finally:
            forget(dev.name)

    with bulk_work(), ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(devices) or 1)) as pool:
        return list(pool.map(once, devices))


def device_names(ctx: Context, device: str | Sequence[str] | None) -> list[str]:
    """The devices a pass over ``device`` (None: all) visits, in the order its results come."""
    return [d.name for d in _devices(ctx, device)]


def plan(ctx: Context, device: str | None = None, at: datetime | None = None,
         enforcements: list[Enforcement] | None = None, keep: Callable[[DevicePlan], Any] | None = None) -> list:
    """Rendered vs live for each device; an unreachable device gets a plan carrying its error.

    ``enforcements``: plan this desired set instead of the stored one (``plan --rederive``).
    ``keep(plan)``: what the result holds of each device's plan, called in the worker as the
    device is done (default: the plan). ``enforcer plan`` prints each diff there and keeps the
    counts: the sections, diffs and candidates of 100 devices were 60-70 MB held to the end.
    """
    at = at or now()
    carried = _Later(lambda: RoleIndex(ctx.store.active_enforcements(at) if enforcements is None else enforcements))

    def one(dev: Device) -> DevicePlan:
        ahead = RenderAhead(dev, lambda: carried.result().carried_by(dev), ctx.inventory, at)  # while it logs in
        try:
            with ctx.driver(dev) as drv:
                done = _plan_with(ctx, dev, ahead, drv, at)
        except Exception as exc:  # whatever a driver raises is that device's error, never the pass's
            done = failed_plan(dev.name, dev.platform, dev.effective_transport, failure_reason(exc))
        finally:
            ahead.settled()
        return done if keep is None else keep(done)

    done = each_device(ctx, device, one)
    carried.result()  # a store that could not be read is the pass's error, as before, not only each device's
    return done


def apply(
    ctx: Context,
    device: str | Sequence[str] | None = None,
    *,
    dry_run: bool = False,
    revert_in: int | None = DEFAULT_REVERT_IN,
    actor: str = "operator",
    source: str = "cli",
    on_done: Callable[[DevicePlan, PushResult | None], None] | None = None,
    wait: float = 0.0,
    session: Callable[[Device], AbstractContextManager[Driver]] | None = None,
) -> list[tuple[DevicePlan, PushResult | None]]:
    """Plan and push each device in parallel; ``dry_run`` plans only. One failure stops no other.

    Each device is pushed under its lease (:mod:`enforcer.lease`): while another process or
    instance pushes it, its result is "device busy: pushed by X since T" and nothing is sent;
    with ``wait`` it waits up to that many seconds for the lease first.
    ``on_done(plan, result)`` is called from the worker as each device finishes (a progress bar,
    the console's device board). ``session(dev)``: the device's open driver, as for
    :func:`push_device` (``enforcer apply`` logs in while it starts: :class:`sessions.EarlyLogins`).
    """
    at = now()
    # The store is read beside the devices' logins (push_device renders each device once it is
    # read, while its session opens): in a cold apply the read, the login and the router's
    # answer to the pending question used to stand in line.
    carried = _Later(lambda: RoleIndex(ctx.store.active_enforcements(at)))

    holder = holder_name(f"{source} {actor}")

    def one(dev: Device) -> tuple[DevicePlan, PushResult | None]:
        done = push_device(ctx, dev, lambda: carried.result().carried_by(dev), at, holder=holder, dry_run=dry_run,
                           revert_in=revert_in, actor=actor, source=source, wait=wait, session=session)
        if on_done is not None:
            on_done(*done)
        return done

    done = each_device(ctx, device, one)
    carried.result()  # a store that could not be read is the pass's error, as before, not only each device's
    return done


def push_device(
    ctx: Context,
    dev: Device,
    enforcements: list[Enforcement] | Callable[[], list[Enforcement]],
    at: datetime,
    *,
    holder: str,
    dry_run: bool = False,
    revert_in: int | None = DEFAULT_REVERT_IN,
    actor: str = "operator",
    source: str = "cli",
    session: Callable[[Device], AbstractContextManager[Driver]] | None = None,
    ask_pending: bool = True,
    wait: float = 0.0,
) -> tuple[DevicePlan, PushResult | None]:
    """One device's plan and push under its lease, audited; never raises. ``session(dev)`` gives
    the open driver (``enforcer serve`` keeps one warm per device, :mod:`enforcer.sessions`);
    by default a session is opened for this push and closed after it. ``ask_pending``: see
    :func:`push.plan_device`; ``wait``: seconds to wait for another pusher's lease (:func:`apply`).
    ``enforcements``: the device's desired set, or a function that reads it (:func:`apply`); it is
    rendered in a thread while the lease is taken and the session opens (:class:`push.RenderAhead`)."""
    span = {"holder": holder}  # when the lease was held, for the audit: pushes to a device never overlap
    ahead = RenderAhead(dev, enforcements, ctx.inventory, at)
    try:
        # The lease first: settling a pending commit and pushing are for one pusher at a time.
        lease = nullcontext() if dry_run else device_lease(ctx.store, dev.name, holder, ctx.settings.lease_ttl, wait)
        with lease, (session or ctx.driver)(dev) as drv:
            span["started"] = now().isoformat()
            p = _plan_with(ctx, dev, ahead, drv, at, settle=not dry_run, ask_pending=ask_pending)
            if dry_run:
                return p, None
            result = push_plan(drv, p, revert_in=revert_in)
            span["finished"] = now().isoformat()
    except Exception as exc:  # one device's failure of any type stops no other
        p = failed_plan(dev.name, dev.platform, dev.effective_transport, failure_reason(exc))
        result = PushResult(device=dev.name, ok=False, changed=False, summary=p.summary(), error=p.error,
                            permanent=isinstance(exc, PERMANENT))
        if dry_run:
            return p, result
    finally:
        ahead.settled()
    record_push(ctx, p, result, actor=actor, source=source, lease=span)
    return p, result


def record_push(
    ctx: Context, p: DevicePlan, result: PushResult, *, actor: str, source: str, lease: dict[str, str] | None = None
) -> None:
    """What a push leaves in the store: the section now applied (offline devices' live state) and the audit.

    ``lease``: who held the device's lease, and when the push under it started and finished (ISO
    times, taken inside the lease), so the audit shows that pushes to one device never overlap."""
    applied = (p.device, p.desired) if result.ok and result.changed else None
    audit = None
    if result.changed or not result.ok or p.settled:  # every push, every failure, every settled commit
        audit = {"actor": actor, "source": source, "action": "apply" if result.ok else "apply-failed",
                 "target": p.device,
                 "detail": {"summary": result.summary, "error": result.error, "rolled_back": result.rolled_back,
                            "settled": p.settled, "withheld": p.withheld, "permanent": result.permanent,
                            "lease": lease or {}}}
    if applied is not None or audit is not None:
        ctx.store.pushed(applied, audit)  # one write transaction: intake waits for each one


class _Later:
    """``work()`` started in a thread now, its result (or its error) taken later, by any thread."""

    def __init__(self, work: Callable[[], Any]):
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-read")
        self._future = self._pool.submit(work)
        self._pool.shutdown(wait=False)

    def result(self) -> Any:
        return self._future.result()


class ReconcileReport(BaseModel):
    model_config = ConfigDict(frozen=True)
    expired: list[int]
    results: list[PushResult]


def reconcile_once(
    ctx: Context,
    device: str | Sequence[str] | None = None,
    on_done: Callable[[DevicePlan, PushResult | None], None] | None = None,
) -> ReconcileReport:
    """Level-triggered: expire what is due, then make every device equal its rendered section."""
    expired = ctx.store.expire_due()
    pushed = apply(ctx, device, actor="enforcer", source="reconcile", on_done=on_done)
    results = [r for _, r in pushed if r is not None]
    return ReconcileReport(expired=[d.id for d in expired], results=results)
