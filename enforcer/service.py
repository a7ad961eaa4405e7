"""The one facade the CLI, the HTTP API and the reconcile loop call: no logic lives in handlers.

``submit`` runs intake → policy → store; ``plan`` runs store → render → live state → diff;
``apply`` runs plan → push per device; ``reconcile_once`` expires what is due and applies.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from ipaddress import ip_network

from pydantic import BaseModel, ConfigDict

from .catalog import primary_clause
from .drivers.base import Driver, DriverError
from .drivers.offline import OfflineDriver
from .inventory import Device, Inventory, Transport, load_inventory
from .model import Decision, Enforcement, EnforcerError, InvalidInput, Refused, Status, Violation, now
from .plan import DevicePlan, failed_plan
from .policy import (
    NeedsForce,
    Playbook,
    check_decision,
    check_rates,
    enforcements_for,
    load_playbooks,
    resolve_customer,
)
from .push import DEFAULT_REVERT_IN, PushResult, plan_device, push_plan
from .render import build_section, render_section
from .settings import Settings
from .store import AuditEntry, DecisionRecord, DuplicateDecision, Store

#: Parallel device sessions during plan/apply: enough for a NOC's edge, gentle on the controller host.
MAX_PARALLEL = 8


@dataclass
class Context:
    """Everything a request needs, loaded once per process (CLI run, API server, controller)."""

    settings: Settings
    store: Store
    _inventory: Inventory | None = None
    _playbooks: dict[Violation, Playbook] | None = None
    driver_factory: Callable[[Device], Driver] | None = field(default=None)

    @classmethod
    def open(cls, settings: Settings) -> Context:
        return cls(settings=settings, store=Store(settings.db))

    @cached_property
    def inventory(self) -> Inventory:
        return self._inventory or load_inventory(self.settings.inventory)

    @cached_property
    def playbooks(self) -> dict[Violation, Playbook]:
        return self._playbooks or load_playbooks(self.settings.playbooks)

    def driver(self, device: Device) -> Driver:
        if self.driver_factory is not None:
            return self.driver_factory(device)
        if device.effective_transport is Transport.OFFLINE:
            return OfflineDriver(
                device, output_dir=self.settings.output, last_applied=self.store.last_applied(device.name)
            )
        from .drivers import get_driver

        return get_driver(device)


class SubmitResult(BaseModel):
    model_config = ConfigDict(frozen=True)
    decision_id: int
    created: bool
    dry_run: bool = False
    pending: bool = False
    step: int = 0
    enforcements: list[Enforcement]


# ------------------------------------------------------------------ intake → policy → store


def submit(ctx: Context, decision: Decision, *, dry_run: bool = False, hold: bool = False) -> SubmitResult:
    """Validate against guardrails and playbooks, then store durably (or only preview).

    Raises :class:`InvalidInput` / :class:`Refused` before anything is written. A repeated
    idempotency key returns the decision that already holds it, with ``created=False``.
    ``hold``: a decision refused only for its breadth is stored *pending* instead, enforcing
    nothing until an operator approves it (detectors cannot ``--force``; a person decides).
    """
    if decision.idempotency_key:
        existing = ctx.store.decision_by_key(decision.idempotency_key)
        if existing is not None:
            return _replay(decision, existing)
    held = _active_duplicate(ctx, decision)
    if held is not None:
        return SubmitResult(
            decision_id=held.id,
            created=False,
            pending=held.status is Status.PENDING,
            step=held.step,
            enforcements=held.enforcements,
        )
    book = ctx.playbooks[decision.violation]
    status = Status.ACTIVE
    try:
        check_decision(decision, ctx.inventory, book)
    except NeedsForce:
        if not hold:
            raise
        status = Status.PENDING
    check_rates(ctx.store.count_since(now() - timedelta(minutes=1)), ctx.store.count_active(), 1, ctx.inventory)
    customer = resolve_customer(decision, ctx.inventory)
    prior = ctx.store.prior_offences(decision.target, decision.violation, book.escalation_window)
    step, specs = enforcements_for(decision, book, prior)
    at = now()
    rows = [
        {
            "action": s.action.value,
            "target": str(s.target),
            "params": s.params.model_dump(mode="json"),
            "roles": sorted(s.roles),
            "expires_at": decision.expiry(s.ttl, at),
        }
        for s in specs
    ]
    expires_at = max((r["expires_at"] for r in rows if r["expires_at"]), default=None)
    if dry_run:
        preview = [
            Enforcement(
                id=0,
                decision_id=0,
                action=r["action"],
                target=r["target"],
                violation=decision.violation,
                params=r["params"],
                roles=frozenset(r["roles"]),
                customer=customer,
                asn=decision.asn,
                comment=decision.comment,
                created_at=at,
                expires_at=r["expires_at"],
            )
            for r in rows
        ]
        held = status is Status.PENDING
        return SubmitResult(decision_id=0, created=False, dry_run=True, pending=held, step=step, enforcements=preview)
    try:
        record = ctx.store.add_decision(
            decision,
            customer=customer,
            step=step,
            clause=primary_clause(decision.violation),
            expires_at=expires_at,
            enforcements=rows,
            status=status,
        )
    except DuplicateDecision as dup:
        existing = ctx.store.get_decision(dup.decision_id)
        assert existing is not None
        return _replay(decision, existing)
    return SubmitResult(
        decision_id=record.id,
        created=True,
        pending=status is Status.PENDING,
        step=step,
        enforcements=record.enforcements,
    )


def approve(ctx: Context, decision_id: int, *, actor: str, source: str, reason: str = "") -> DecisionRecord:
    """An operator approves a held decision: its enforcements join the desired set (audited)."""
    try:
        return ctx.store.approve_decision(decision_id, actor=actor, source=source, reason=reason)
    except KeyError:
        raise InvalidInput("decision_id", f"no pending decision with id {decision_id}") from None


def reject(ctx: Context, decision_id: int, *, actor: str, source: str, reason: str = "") -> DecisionRecord:
    """An operator rejects a held decision: it ends (removed, audited) having enforced nothing."""
    rec = ctx.store.get_decision(decision_id)
    if rec is None or rec.status is not Status.PENDING:
        raise InvalidInput("decision_id", f"no pending decision with id {decision_id}")
    return ctx.store.end_decision(decision_id, status=Status.REMOVED, actor=actor, source=source, reason=reason)


def _active_duplicate(ctx: Context, decision: Decision) -> DecisionRecord | None:
    """The same offence from the same source while it is still enforced (an operator re-running a
    command, a detector re-alerting): one decision, no climb up the ladder for one incident.
    Other sources keep their own decisions, so one source's unblock never lifts another's block."""
    return next(
        (
            r
            for r in ctx.store.decisions(active_only=True, target=decision.target)
            if r.violation is decision.violation
            and r.source == decision.source
        ),
        None,
    )


def _replay(decision: Decision, existing: DecisionRecord) -> SubmitResult:
    """A retried delivery gets the stored decision back; a key reused for another decision is refused,
    or the client would believe a block is in place that was never made."""
    if ip_network(existing.target) != decision.target or existing.violation is not decision.violation:
        raise Refused(
            "idempotency_key",
            f"already used by decision {existing.id} ({existing.violation} {existing.target}); use a new key",
        )
    return SubmitResult(decision_id=existing.id, created=False, step=existing.step, enforcements=existing.enforcements)


def unblock(
    ctx: Context,
    ref: str,
    *,
    actor: str,
    source: str,
    reason: str = "",
    opened_by: str | None = None,
    violation: Violation | None = None,
) -> list[DecisionRecord]:
    """End a decision by id, or the active decisions for a target; their enforcements leave the desired set.

    ``opened_by`` / ``violation`` narrow a target to the decisions one source opened (a detector's
    "unban" must not lift an operator's block on the same host).
    """
    ref = ref.strip()
    if ref.isdigit():
        rec = ctx.store.get_decision(int(ref))
        if rec is None or rec.status is not Status.ACTIVE:
            raise InvalidInput("id", f"no active decision with id {ref}")
        targets = [rec]
    else:
        try:
            prefix = ip_network(ref, strict=False)
        except ValueError:
            raise InvalidInput("target", f"{ref!r} is neither a decision id nor an IP address or prefix") from None
        targets = [
            r
            for r in ctx.store.decisions(active_only=True, target=prefix)
            if (opened_by is None or r.source == opened_by) and (violation is None or r.violation is violation)
        ]
        if not targets:
            by = f" opened by {opened_by}" if opened_by else ""
            raise InvalidInput("target", f"no active decision{by} for {prefix}")
    return [
        ctx.store.end_decision(r.id, status=Status.REMOVED, actor=actor, source=source, reason=reason)
        for r in targets
    ]


def list_decisions(ctx: Context, active_only: bool = True) -> list[DecisionRecord]:
    return ctx.store.decisions(active_only=active_only)


def get_decision(ctx: Context, decision_id: int) -> DecisionRecord | None:
    return ctx.store.get_decision(decision_id)


def history(ctx: Context, limit: int = 100) -> list[AuditEntry]:
    return ctx.store.history(limit=limit)


# ------------------------------------------------------------------ render → plan → push


def _devices(ctx: Context, device: str | Sequence[str] | None) -> list[Device]:
    """One named device, several, or (None) every device in the inventory."""
    if device is None:
        return list(ctx.inventory.devices.values())
    names = [device] if isinstance(device, str) else list(device)
    return [ctx.inventory.device(n) for n in names]


def render_device(ctx: Context, device: str, at: datetime | None = None) -> str:
    dev = ctx.inventory.device(device)
    section = build_section(dev, ctx.store.active_enforcements(at), ctx.inventory, at)
    return render_section(section)


def _plan_with(
    ctx: Context, dev: Device, enforcements: list[Enforcement], driver: Driver, at: datetime, settle: bool = False
) -> DevicePlan:
    """The device's plan (enforcements it cannot take withheld, a pending commit shown); ``settle``:
    confirm or roll back a pending commit first (apply), see :func:`push.plan_device`."""
    return plan_device(dev, enforcements, ctx.inventory, driver, at, settle=settle)


def _each_device(ctx: Context, device: str | Sequence[str] | None, work: Callable[[Device], object]) -> list:
    devices = _devices(ctx, device)
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(devices) or 1)) as pool:
        return list(pool.map(work, devices))


def plan(ctx: Context, device: str | None = None, at: datetime | None = None) -> list[DevicePlan]:
    """Rendered vs live for each device; an unreachable device gets a plan carrying its error."""
    at = at or now()
    enforcements = ctx.store.active_enforcements(at)

    def one(dev: Device) -> DevicePlan:
        try:
            with ctx.driver(dev) as drv:
                return _plan_with(ctx, dev, enforcements, drv, at)
        except EnforcerError as exc:
            return failed_plan(dev.name, dev.platform, dev.effective_transport, _reason(exc))

    return _each_device(ctx, device, one)


def apply(
    ctx: Context,
    device: str | Sequence[str] | None = None,
    *,
    dry_run: bool = False,
    revert_in: int | None = DEFAULT_REVERT_IN,
    actor: str = "operator",
    source: str = "cli",
    on_done: Callable[[DevicePlan, PushResult | None], None] | None = None,
) -> list[tuple[DevicePlan, PushResult | None]]:
    """Plan and push each device in parallel; ``dry_run`` plans only. One failure stops no other.

    ``on_done(plan, result)`` is called from the worker as each device finishes (a progress bar,
    the console's device board)."""
    at = now()
    enforcements = ctx.store.active_enforcements(at)

    def one(dev: Device) -> tuple[DevicePlan, PushResult | None]:
        done = _push_one(dev)
        if on_done is not None:
            on_done(*done)
        return done

    def _push_one(dev: Device) -> tuple[DevicePlan, PushResult | None]:
        try:
            with ctx.driver(dev) as drv:
                p = _plan_with(ctx, dev, enforcements, drv, at, settle=not dry_run)
                if dry_run:
                    return p, None
                result = push_plan(drv, p, revert_in=revert_in)
        except EnforcerError as exc:
            p = failed_plan(dev.name, dev.platform, dev.effective_transport, _reason(exc))
            return p, PushResult(device=dev.name, ok=False, changed=False, summary=p.summary(), error=p.error)
        if result.ok and result.changed:
            ctx.store.set_applied(dev.name, p.desired)
        if result.changed or not result.ok or p.settled:
            ctx.store.audit(
                actor=actor,
                source=source,
                action="apply" if result.ok else "apply-failed",
                target=dev.name,
                detail={"summary": result.summary, "error": result.error, "rolled_back": result.rolled_back,
                        "settled": p.settled, "withheld": p.withheld},  # fmt: skip
            )
        return p, result

    return _each_device(ctx, device, one)


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


def _reason(exc: EnforcerError) -> str:
    return exc.reason if isinstance(exc, DriverError) else str(exc)
