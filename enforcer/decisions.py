"""Decisions in and out of the store: the half of :mod:`enforcer.service` that ``enforcer block`` needs.

``submit`` runs intake → policy → store; ``release``, ``unblock``, ``approve`` and ``reject`` end
or decide what was stored. Apart from the render → plan → push half (and its Jinja, drivers and
device sessions) so that a command that only decides — ``enforcer block``, run during an attack —
starts without importing any of it (issue 12.5, ``tests/test_cli_imports.py``).
:mod:`enforcer.service` re-exports every name here (lazily: ``render`` or ``plan`` never import this
module): callers keep ``service.submit``. :class:`~enforcer.context.Context` lives in its own module.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from ipaddress import ip_network

from pydantic import BaseModel, ConfigDict

from .batch import Added, Batch, Pending
from .catalog import primary_clause
from .collector import bulk_work
from .context import Context
from .model import Decision, Enforcement, InvalidInput, Prefix, Refused, Status, Violation, now, trusted
from .policy import Admit, Replay, customer_space, decide, resolve_customer
from .store import AuditEntry, DecisionRecord

log = logging.getLogger("enforcer.service")


class SubmitResult(BaseModel):
    model_config = ConfigDict(frozen=True)
    decision_id: int
    created: bool
    dry_run: bool = False
    pending: bool = False
    step: int = 0
    enforcements: list[Enforcement]


# ------------------------------------------------------------------ intake → policy → store


#: What one item of a batch became: stored or answered (a result), or refused / invalid (the error, not raised).
Outcome = SubmitResult | Refused | InvalidInput


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
    if dry_run:
        [outcome] = submit_many(ctx, [decision], dry_run=True, automatic=automatic)
    else:  # with whatever other submits are waiting for the write lock: one transaction (enforcer.groupcommit)
        outcome = ctx.group(automatic)(decision)
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def submit_many(
    ctx: Context, decisions: Sequence[Decision], *, dry_run: bool = False, automatic: bool = False
) -> list[Outcome]:
    """:func:`submit` for a list in one write transaction (one commit, one fsync): an outcome per item.

    The items are admitted in order, each seeing the ones before it (a cap of 5 stores the first
    5 of 20, ten identical items store one), under the same rules as :func:`submit`. A refused or
    invalid item is its own outcome (its breaker trip audited in the same transaction) and the
    others are stored all the same; only a failure of the store itself fails the whole list.
    """
    at = now()
    outcomes: list[Outcome | Pending] = []
    # bulk_work: a list of 10,000 makes ~40 objects per item that reference counting frees; at the
    # default threshold the collector walked the heap ~420 young and ~37 middle times per 10,000,
    # 0.4-0.5 s of a 2.7 s store (gc.callbacks). Raised, not off: a cycle is still collected.
    with bulk_work(), ctx.store.write() if not dry_run else ctx.store.reading() as tx:
        if not dry_run:
            tx.expire_due(at)  # frees the keys of decisions whose TTL passed, in this same transaction
        batch = Batch(tx, list(decisions), at)
        for decision in decisions:
            try:
                outcomes.append(_admit(ctx, batch, decision, dry_run=dry_run, automatic=automatic))
            except (InvalidInput, Refused) as exc:
                if isinstance(exc, Refused) and automatic and not dry_run:
                    _refused(batch, decision, exc)
                outcomes.append(exc)
        stored = batch.flush() if not dry_run else []
        if not dry_run:
            tx.keep_active()  # the next transaction need not count the active set again (Tx.active)
    return [_created(stored[o]) if isinstance(o, int) else o for o in outcomes]


def _admit(ctx: Context, batch: Batch, decision: Decision, *, dry_run: bool, automatic: bool) -> SubmitResult | Pending:
    """One decision of the batch: decide over the snapshot, then queue it, hold its match, or preview."""
    book = ctx.playbooks[decision.violation]
    at = batch.at
    snap = batch.snapshot(decision, book.escalation_window, customer_space(decision.target, ctx.inventory),
                          automatic=automatic)
    verdict = decide(decision, snap, ctx.inventory, book, automatic=automatic)
    if isinstance(verdict, Replay):
        if automatic and not dry_run:
            ttl = book.step_for(verdict.record.step)[1].ttl or book.default_ttl
            batch.tx.hold(verdict.record.id, decision, decision.expiry(ttl, at), at)
        return _answer(verdict.record)
    expiries = [decision.expiry(s.ttl, at) for s in verdict.specs]
    expires_at = max((x for x in expiries if x), default=None)
    customer = resolve_customer(decision, ctx.inventory)
    if dry_run:
        return _preview(decision, verdict, _rows(decision, verdict.specs, at), customer, at)
    return batch.add(decision, customer=customer, step=verdict.step, clause=primary_clause(decision.violation),
                     expires_at=expires_at, specs=verdict.specs, expiries=expiries, status=verdict.status,
                     automatic=automatic)


def _created(added: Added) -> SubmitResult:
    """What was just stored, from values the batch typed itself: not validated again (a list of
    10,000 answers 10,000 of these)."""
    return trusted(SubmitResult, {"decision_id": added.decision_id, "created": True, "dry_run": False,
                                  "pending": added.status is Status.PENDING, "step": added.step,
                                  "enforcements": added.enforcements})


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


def _refused(batch: Batch, decision: Decision, exc: Refused) -> None:
    """A detector's refusal is logged; a tripped breaker is audited too, so the flood shows in the record."""
    log.warning("refused %s %s from %s (%s): %s: %s", decision.violation, decision.target, decision.source,
                decision.actor, exc.field, exc.reason)
    if exc.field in BREAKERS:
        batch.audit(actor=decision.actor, source=decision.source, action="breaker", target=str(decision.target),
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
