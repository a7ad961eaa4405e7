"""Saved plans, as with ``terraform plan -out``: the exact commands per device, applied later or refused.

``enforcer plan -out FILE`` writes every device's plan whole. That is the candidate it would send
(``DevicePlan.candidate``, rendered once, at plan time), the section diff, the store's change
serial and a SHA-256 of each device's live section. ``enforcer apply FILE`` sends exactly those
candidates, and only while nothing they were computed from has moved:

- the store's serial: a decision added, ended, approved or expired (``Store.serial``);
- the clock: an enforcement the plan carries expires at ``valid_until``;
- each device's live section: a manual change on the router, or another push.

The file itself is not trusted either. Each device's saved commands must equal what planning
again would send, so an edited file is refused, as is one made against another inventory or
other templates.

A stale plan is refused whole, before any device is touched. Part of a plan is not what anyone
reviewed. Interactive ``apply`` goes through the same path. It shows the plan it made and, on
yes, sends that plan and not a new one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from . import service
from .lease import device_lease, holder_name
from .model import EnforcerError, InvalidInput, now
from .plan import DevicePlan
from .push import DEFAULT_REVERT_IN, PushResult, failure_reason, push_plan, settle_pending
from .render import RoleIndex

FORMAT = "enforcer-plan/1"


class StalePlan(EnforcerError):
    """The saved plan no longer describes the store or the devices: make a new one."""


class SavedPlan(BaseModel):
    model_config = ConfigDict(frozen=True)
    format: Literal["enforcer-plan/1"] = FORMAT
    created_at: datetime
    serial: int
    #: The earliest expiry among the enforcements active when the plan was made (None: none expire).
    valid_until: datetime | None = None
    plans: list[DevicePlan]
    #: device → digest of the live managed section the plan was computed against.
    live_digests: dict[str, str]

    @property
    def to_push(self) -> list[DevicePlan]:
        return [p for p in self.plans if p.has_changes or p.error]


def digest(section: str) -> str:
    return "sha256:" + hashlib.sha256(section.encode()).hexdigest()


def make(ctx: service.Context, device: str | None = None) -> SavedPlan:
    """Plan every device (or one) and keep what apply needs to send it, or to know it is stale."""
    # The serial is read first: a decision stored while the devices are read makes the plan stale
    # at apply time, it is never half in the plan and half not.
    serial = ctx.store.serial()
    at = now()
    plans = service.plan(ctx, device, at=at)
    expiries = [e.expires_at for e in ctx.store.active_enforcements(at) if e.expires_at is not None]
    return SavedPlan(
        created_at=at,
        serial=serial,
        valid_until=min(expiries, default=None),
        plans=plans,
        live_digests={p.device: digest(p.live) for p in plans if not p.error},
    )


def save(saved: SavedPlan, path: Path) -> None:
    path.write_text(saved.model_dump_json(indent=1) + "\n")


def load(path: Path) -> SavedPlan:
    """The plan in ``path``; a missing, unreadable or foreign file is bad input naming the file."""
    try:
        return SavedPlan.model_validate_json(path.read_bytes())
    except OSError as exc:
        raise InvalidInput("plan", f"{path}: {exc.strerror or exc}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"]) or "file"
        raise InvalidInput("plan", f"{path}: not an {FORMAT} file ({where}: {first['msg']})") from None


def check_store(ctx: service.Context, saved: SavedPlan) -> None:
    """Raise :class:`StalePlan` when the desired set may differ from the one the plan was made from."""
    current = ctx.store.serial()
    if current != saved.serial:
        raise StalePlan(
            f"stale plan: the store changed since it was made (serial {saved.serial} → {current}); "
            "run enforcer plan again"
        )
    if saved.valid_until is not None and now() >= saved.valid_until:
        raise StalePlan(
            f"stale plan: an enforcement in it expired at {saved.valid_until.isoformat()}; run enforcer plan again"
        )


def _moved(saved: SavedPlan, p: DevicePlan, live_digest: str) -> bool:
    """The device holds neither the section the plan was made against nor the one it leads to.

    Already at the desired section is not stale: an OpenFlow controller syncing from the store,
    or another apply, got there first, and the push has nothing left to send.
    """
    return live_digest not in (saved.live_digests.get(p.device), digest(p.desired))


def check_devices(ctx: service.Context, saved: SavedPlan) -> None:
    """Raise :class:`StalePlan` naming every device whose live section moved since the plan, or
    whose saved commands are not what enforcer renders for it now.

    The second check makes the file untrusted input: its commands are sent only if they equal
    what planning again would send (through the templates' checks on every printed value), so an
    edited file, or one made against another inventory or other templates, is refused.
    """
    plans = [p for p in saved.to_push if not p.error]
    at = now()
    carried = RoleIndex(ctx.store.active_enforcements(at))

    def read(dev) -> tuple[str, DevicePlan] | None:
        try:
            with ctx.driver(dev) as drv:
                # service.plan's own per-device step, so "what it would send now" means the same thing.
                return digest(drv.get_managed_section()), service._plan_with(ctx, dev, carried.carried_by(dev), drv, at)
        except EnforcerError:
            return None  # unreachable now: the push reports it for that device

    found = service.each_device(ctx, [p.device for p in plans], read)
    moved, differ = [], []
    for p, got in zip(plans, found, strict=True):
        if got is None:
            continue
        live, again = got
        if _moved(saved, p, live):
            moved.append(p.device)
        elif live == saved.live_digests.get(p.device) and (again.candidate, again.desired) != (p.candidate, p.desired):
            differ.append(p.device)
    if moved:
        raise StalePlan(
            f"stale plan: the live configuration of {', '.join(moved)} changed since it was made; "
            "run enforcer plan again"
        )
    if differ:
        raise StalePlan(
            f"refused: the saved commands for {', '.join(differ)} are not what enforcer renders now (the file "
            "was edited, or the inventory or templates changed); run enforcer plan again"
        )


def apply(
    ctx: service.Context,
    saved: SavedPlan,
    *,
    revert_in: int | None = DEFAULT_REVERT_IN,
    actor: str = "operator",
    source: str = "cli",
    wait: float = 0.0,
    on_done: Callable[[DevicePlan, PushResult], None] | None = None,
) -> list[tuple[DevicePlan, PushResult]]:
    """Send exactly the saved candidates, after proving the plan fresh; a stale plan raises :class:`StalePlan`.
    ``wait``: seconds to wait for a device's lease (what the other pusher changed makes the plan stale).
    ``on_done(plan, result)`` is called from the worker as each device finishes (apply's progress bar)."""
    check_store(ctx, saved)
    check_devices(ctx, saved)
    plans = {p.device: p for p in saved.to_push}

    holder = holder_name(f"{source} {actor}")

    def one(dev) -> tuple[DevicePlan, PushResult]:
        p = plans[dev.name]
        span = {"holder": holder}
        try:
            # One pusher per device, as for every apply: the lease before settling and pushing.
            with device_lease(ctx.store, dev.name, holder, ctx.settings.lease_ttl, wait), ctx.driver(dev) as drv:
                span["started"] = now().isoformat()
                p, result = _push_saved(saved, p, drv, revert_in)
                span["finished"] = now().isoformat()
        except Exception as exc:  # one device's failure of any type stops no other
            result = PushResult(device=dev.name, ok=False, changed=False, summary=p.summary(),
                                error=failure_reason(exc), permanent=isinstance(exc, service.PERMANENT))
        service.record_push(ctx, p, result, actor=actor, source=source, lease=span)
        if on_done is not None:
            on_done(p, result)
        return p, result

    return service.each_device(ctx, list(plans), one)


def _push_saved(saved: SavedPlan, p: DevicePlan, drv, revert_in: int | None) -> tuple[DevicePlan, PushResult]:
    """One device of a saved plan, in its push session: settle, re-check, send the saved candidate."""
    if p.error:
        return p, push_plan(drv, p, revert_in=revert_in)  # reports the plan's error
    # A commit-confirm a dead pusher left pending is dealt with on purpose first, as apply does.
    settled = settle_pending(drv, p.desired)
    if settled:
        p = p.model_copy(update={"settled": settled, "pending": False})
    live = digest(drv.get_managed_section())  # checked again here: nothing may slip in since check_devices
    if _moved(saved, p, live):
        reason = "stale plan: the live configuration changed since it was made; run enforcer plan again"
        return p, PushResult(device=p.device, ok=False, changed=False, summary=p.summary(), error=reason,
                             settled=p.settled)
    if live == digest(p.desired) or not p.has_changes:
        return p, PushResult(device=p.device, ok=True, changed=False, summary="already applied", settled=p.settled)
    return p, push_plan(drv, p, revert_in=revert_in)
