"""The one facade the CLI, the HTTP API and the reconcile loop call: no logic lives in handlers.

``submit`` runs intake → policy → store; ``plan`` runs store → render → live state → diff;
``apply`` runs plan → push per device; ``reconcile_once`` expires what is due and applies.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from ipaddress import ip_network

from pydantic import BaseModel, ConfigDict

from .catalog import primary_clause
from .drivers.base import Driver
from .drivers.offline import OfflineDriver
from .inventory import Device, Inventory, InventoryError, Transport, load_inventory
from .lease import device_lease, holder_name
from .model import Decision, Enforcement, InvalidInput, Prefix, Refused, Status, Violation, now
from .plan import DevicePlan, failed_plan
from .policy import Admit, Playbook, Replay, Snapshot, customer_space, decide, load_playbooks, resolve_customer
from .push import DEFAULT_REVERT_IN, PushResult, failure_reason, plan_device, push_plan
from .render import RenderError, build_section, render_section
from .settings import Settings
from .store import AuditEntry, DecisionRecord, Store, Tx

log = logging.getLogger("enforcer.service")

#: Errors in the input itself (a template, the inventory): retried only once the input changes.
PERMANENT = (RenderError, InventoryError)

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


def submit(ctx: Context, decision: Decision, *, dry_run: bool = False, automatic: bool = False) -> SubmitResult:
    """Validate against guardrails and playbooks, then store durably (or only preview).

    One write transaction reads what the policy needs, lets :func:`policy.decide` judge, and
    writes the result, so concurrent submits see each other (the caps and duplicates hold).
    Raises :class:`InvalidInput` / :class:`Refused` before anything is written; a refusal is
    audited. A retry (same idempotency key) or the same offence from the same source answers
    with the decision in force (``created=False``); a detector's repeat joins it as a holder and
    refreshes its expiry. ``automatic``: from a detector — held for approval where an operator
    would need ``--force``, subject to the flood breaker and the blackhole space check.
    """
    book = ctx.playbooks[decision.violation]
    space = customer_space(decision.target, ctx.inventory)
    at = now()
    try:
        with ctx.store.write() if not dry_run else ctx.store.reading() as tx:
            snap = _snapshot(tx, decision, book, space, at)
            verdict = decide(decision, snap, ctx.inventory, book, automatic=automatic)
            if isinstance(verdict, Replay):
                if automatic and not dry_run:
                    ttl = book.step_for(verdict.record.step)[1].ttl or book.default_ttl
                    tx.hold(verdict.record.id, decision, decision.expiry(ttl, at), at)
                return _answer(verdict.record)
            rows = _rows(decision, verdict.specs, at)
            expires_at = max((r["expires_at"] for r in rows if r["expires_at"]), default=None)
            customer = resolve_customer(decision, ctx.inventory)
            if dry_run:
                return _preview(decision, verdict, rows, customer, at)
            tx.expire_due(at)  # frees the key of a decision whose TTL passed, in this same transaction
            record = tx.insert(decision, customer=customer, step=verdict.step,
                               clause=primary_clause(decision.violation), expires_at=expires_at, enforcements=rows,
                               status=verdict.status, automatic=automatic, at=at)
    except Refused as exc:
        if automatic and not dry_run:
            _refused(ctx, decision, exc)
        raise
    return SubmitResult(decision_id=record.id, created=True, pending=verdict.status is Status.PENDING,
                        step=verdict.step, enforcements=record.enforcements)


def _snapshot(tx: Tx, decision: Decision, book: Playbook, space: tuple, at: datetime) -> Snapshot:
    minute = at - timedelta(minutes=1)
    return Snapshot(
        by_key=tx.by_key(decision.idempotency_key, at),
        duplicate=tx.duplicate(decision, at),
        new_automatic=tx.new_since(minute),
        new_from_source=tx.new_since(minute, source=decision.source, actor=decision.actor),
        active=tx.active(),
        prior=tx.prior(decision.target, decision.violation, book.escalation_window, at),
        hosts_in_space=tx.automatic_within(space, at),
    )


def _rows(decision: Decision, specs: list, at: datetime) -> list[dict]:
    return [
        {
            "action": s.action.value,
            "target": str(s.target),
            "params": s.params.model_dump(mode="json"),
            "roles": sorted(s.roles),
            "expires_at": decision.expiry(s.ttl, at),
        }
        for s in specs
    ]


def _preview(decision: Decision, verdict: Admit, rows: list[dict], customer: str | None, at: datetime) -> SubmitResult:
    preview = [
        Enforcement(id=0, decision_id=0, action=r["action"], target=r["target"], violation=decision.violation,
                    params=r["params"], roles=frozenset(r["roles"]), customer=customer, asn=decision.asn,
                    comment=decision.comment, created_at=at, expires_at=r["expires_at"])
        for r in rows
    ]
    return SubmitResult(decision_id=0, created=False, dry_run=True, pending=verdict.status is Status.PENDING,
                        step=verdict.step, enforcements=preview)


def _answer(record: DecisionRecord) -> SubmitResult:
    return SubmitResult(decision_id=record.id, created=False, pending=record.status is Status.PENDING,
                        step=record.step, enforcements=record.enforcements)


#: Refusals that are a breaker tripping (flood, blast radius): audited, not only answered.
BREAKERS = ("rate", "blast_radius")


def _refused(ctx: Context, decision: Decision, exc: Refused) -> None:
    """A detector's refusal is logged; a tripped breaker is audited too, so the flood shows in the record."""
    log.warning("refused %s %s from %s (%s): %s: %s", decision.violation, decision.target, decision.source,
                decision.actor, exc.field, exc.reason)
    if exc.field in BREAKERS:
        ctx.store.audit(actor=decision.actor, source=decision.source, action="breaker", target=str(decision.target),
                        violation=decision.violation.value, reason=decision.reason,
                        detail={"field": exc.field, "why": exc.reason})


#: Decision ids are SQL BIGINTs: anything outside is no decision, said in one line (not an overflow).
MAX_ID = 2**63 - 1


def decision_id_of(value: str | int) -> int:
    """A decision id from the command line or a URL, range-checked before it reaches SQL."""
    n = int(value)
    if not 1 <= n <= MAX_ID:
        raise InvalidInput("id", f"{value} is not a decision id (1 to {MAX_ID})")
    return n


def reject(ctx: Context, decision_id: int, *, actor: str, source: str, reason: str = "") -> DecisionRecord:
    """An operator refuses a held decision: it ends without ever being enforced (audited ``reject``)."""
    rec = ctx.store.get_decision(decision_id_of(decision_id))
    if rec is None or rec.status is not Status.PENDING:
        raise InvalidInput("decision_id", f"no pending decision with id {decision_id}")
    return ctx.store.end_decision(rec.id, status=Status.REMOVED, actor=actor, source=source, reason=reason,
                                  action="reject")


def approve(ctx: Context, decision_id: int, *, actor: str, source: str, reason: str = "") -> DecisionRecord:
    """An operator approves a held decision: its enforcements join the desired set (audited).

    The blast-radius cap (``max_active``) holds for an approval as for a new decision.
    """
    try:
        return ctx.store.approve_decision(decision_id_of(decision_id), actor=actor, source=source, reason=reason,
                                          max_active=ctx.inventory.guardrails.max_active)
    except KeyError:
        raise InvalidInput("decision_id", f"no pending decision with id {decision_id}") from None


def release(
    ctx: Context,
    target: Prefix,
    *,
    source: str,
    actor: str,
    cause: str | None,
    violations: Sequence[Violation | None],
    reason: str = "",
) -> tuple[list[int], list[int]]:
    """A detector says a condition cleared: drop its holds on what ``source`` opened for ``target``.

    Only the caller's (``actor``'s) own holds go — one token cannot end another's block — and
    only the ``cause`` named, when one is; a decision ends when its last holder is gone.
    ``violations``: the categories to look in (None: any). Returns (ended ids, still held ids).
    """
    ended: list[int] = []
    kept: list[int] = []
    at = now()
    with ctx.store.write() as tx:
        for row in tx.live_for(target, source, violations):
            left = tx.release(row, source=source, actor=actor, cause=cause)
            if left is None:
                continue  # none of this caller's holds: not its to end
            if left:
                kept.append(row.id)
                tx.audit(at, actor=actor, source=source, action="release", row=row, reason=reason,
                         detail={"cause": cause, "holders_left": left})
            else:
                tx.end(row, status=Status.REMOVED, actor=actor, source=source, reason=reason, at=at)
                ended.append(row.id)
    return ended, kept


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
    """End a decision by id (enforced or held), or the current decisions for a target; their
    enforcements leave the desired set.

    ``opened_by`` / ``violation`` narrow a target to the decisions one source opened (a detector's
    "unban" must not lift an operator's block on the same host).
    """
    ref = ref.strip()
    if ref.isdigit():
        rec = ctx.store.get_decision(decision_id_of(ref))
        if rec is None or rec.status not in (Status.ACTIVE, Status.PENDING):
            raise InvalidInput("id", f"no current decision with id {ref}")
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
    return ctx.store.get_decision(decision_id_of(decision_id))


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


def each_device(ctx: Context, device: str | Sequence[str] | None, work: Callable[[Device], object]) -> list:
    """``work`` on each named device (None: all) in parallel, results in the same order."""
    devices = _devices(ctx, device)
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(devices) or 1)) as pool:
        return list(pool.map(work, devices))


def plan(ctx: Context, device: str | None = None, at: datetime | None = None,
         enforcements: list[Enforcement] | None = None) -> list[DevicePlan]:  # fmt: skip
    """Rendered vs live for each device; an unreachable device gets a plan carrying its error.

    ``enforcements``: plan this desired set instead of the stored one (``plan --rederive``).
    """
    at = at or now()
    enforcements = ctx.store.active_enforcements(at) if enforcements is None else enforcements

    def one(dev: Device) -> DevicePlan:
        try:
            with ctx.driver(dev) as drv:
                return _plan_with(ctx, dev, enforcements, drv, at)
        except Exception as exc:  # whatever a driver raises is that device's error, never the pass's
            return failed_plan(dev.name, dev.platform, dev.effective_transport, failure_reason(exc))

    return each_device(ctx, device, one)


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
) -> list[tuple[DevicePlan, PushResult | None]]:
    """Plan and push each device in parallel; ``dry_run`` plans only. One failure stops no other.

    Each device is pushed under its lease (:mod:`enforcer.lease`): while another process or
    instance pushes it, its result is "device busy: pushed by X since T" and nothing is sent;
    with ``wait`` it waits up to that many seconds for the lease first.
    ``on_done(plan, result)`` is called from the worker as each device finishes (a progress bar,
    the console's device board).
    """
    at = now()
    enforcements = ctx.store.active_enforcements(at)

    holder = holder_name(f"{source} {actor}")

    def one(dev: Device) -> tuple[DevicePlan, PushResult | None]:
        done = _push_one(dev)
        if on_done is not None:
            on_done(*done)
        return done

    def _push_one(dev: Device) -> tuple[DevicePlan, PushResult | None]:
        span = {"holder": holder}  # when the lease was held, for the audit: pushes to a device never overlap
        try:
            # The lease first: settling a pending commit and pushing are for one pusher at a time.
            lease = (nullcontext() if dry_run
                     else device_lease(ctx.store, dev.name, holder, ctx.settings.lease_ttl, wait))  # fmt: skip
            with lease, ctx.driver(dev) as drv:
                span["started"] = now().isoformat()
                p = _plan_with(ctx, dev, enforcements, drv, at, settle=not dry_run)
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
        record_push(ctx, p, result, actor=actor, source=source, lease=span)
        return p, result

    return each_device(ctx, device, one)


def record_push(
    ctx: Context, p: DevicePlan, result: PushResult, *, actor: str, source: str, lease: dict[str, str] | None = None
) -> None:
    """What a push leaves in the store: the section now applied (offline devices' live state) and the audit.

    ``lease``: who held the device's lease, and when the push under it started and finished (ISO
    times, taken inside the lease), so the audit shows that pushes to one device never overlap."""
    if result.ok and result.changed:
        ctx.store.set_applied(p.device, p.desired)
    if result.changed or not result.ok or p.settled:  # every push, every failure, every settled commit
        ctx.store.audit(
            actor=actor,
            source=source,
            action="apply" if result.ok else "apply-failed",
            target=p.device,
            detail={"summary": result.summary, "error": result.error, "rolled_back": result.rolled_back,
                    "settled": p.settled, "withheld": p.withheld, "permanent": result.permanent,
                    "lease": lease or {}},  # fmt: skip
        )


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
