"""Hand intake items to the service, one at a time, and say what became of each.

Shared by the HTTP hooks and ``enforcer hook ...``: a :class:`~enforcer.model.Decision` goes to
:func:`service.submit`; an :class:`~enforcer.hooks.End` ends the active decisions *its source*
opened for that target (an unban from FastNetMon must not lift an operator's block on the same
host); a :class:`~enforcer.hooks.Skip` is reported back. Refusals and invalid items are reported
per item, so one bad alert in an Alertmanager group does not lose the others.
"""

from __future__ import annotations

from ipaddress import ip_network
from typing import Literal

from pydantic import BaseModel, ConfigDict

from .. import service
from ..hooks import End, Item, Skip
from ..model import Decision, Enforcement, InvalidInput, Refused
from .errors import ErrorDetail as Problem

Outcome = Literal["created", "duplicate", "dry-run", "ended", "nothing-to-end", "skipped", "refused", "invalid"]


class ItemResult(BaseModel):
    """What became of one intake item."""

    model_config = ConfigDict(frozen=True)
    outcome: Outcome
    target: str | None = None
    violation: str | None = None
    source: str | None = None
    decision_id: int | None = None
    ended: list[int] = []
    enforcements: list[Enforcement] = []
    reason: str | None = None
    error: Problem | None = None

    @property
    def accepted(self) -> bool:
        return self.outcome not in ("refused", "invalid")


def end_for_source(ctx: service.Context, end: End) -> list[int]:
    """End every active decision ``end.source`` opened for ``end.target`` (and category, if given)."""
    ended = []
    for rec in service.list_decisions(ctx, active_only=True):
        if rec.source != end.source or ip_network(rec.target) != end.target:
            continue
        if end.violation is not None and rec.violation is not end.violation:
            continue
        try:
            service.unblock(ctx, str(rec.id), actor=end.actor, source=end.source, reason=end.reason)
        except InvalidInput:  # ended meanwhile by a concurrent unban: the goal is reached either way
            continue
        ended.append(rec.id)
    return ended


def apply_item(ctx: service.Context, item: Item, *, dry_run: bool = False) -> ItemResult:
    if isinstance(item, Skip):
        return ItemResult(outcome="skipped", reason=item.reason)
    common = {"target": str(item.target), "violation": item.violation and item.violation.value,
              "source": item.source}
    if isinstance(item, End):
        if dry_run:
            return ItemResult(outcome="dry-run", reason="would end this source's active decisions", **common)
        ended = end_for_source(ctx, item)
        return ItemResult(outcome="ended" if ended else "nothing-to-end", ended=ended, **common)
    assert isinstance(item, Decision)
    try:
        result = service.submit(ctx, item, dry_run=dry_run)
    except Refused as exc:
        return ItemResult(outcome="refused", error=Problem(field=exc.field, reason=exc.reason), **common)
    except InvalidInput as exc:
        return ItemResult(outcome="invalid", error=Problem(field=exc.field, reason=exc.reason), **common)
    clash = key_clash(ctx, item, result)
    if clash is not None:
        return ItemResult(outcome="refused", decision_id=result.decision_id, error=clash, **common)
    outcome: Outcome = "dry-run" if result.dry_run else ("created" if result.created else "duplicate")
    return ItemResult(
        outcome=outcome,
        decision_id=result.decision_id or None,
        enforcements=result.enforcements,
        **common,
    )


def key_clash(ctx: service.Context, decision: Decision, result: service.SubmitResult) -> Problem | None:
    """A replayed idempotency key must carry the same decision; reusing it for another is an error.

    Without this check a client reusing a key for a different target would be told "duplicate"
    and believe its new block is in place.
    """
    if result.created or result.dry_run or not decision.idempotency_key:
        return None
    held = service.get_decision(ctx, result.decision_id)
    if held is None or (ip_network(held.target) == decision.target and held.violation is decision.violation):
        return None
    return Problem(
        field="idempotency_key",
        reason=f"already used by decision {held.id} ({held.violation} {held.target}); use a new key",
    )


def apply_items(ctx: service.Context, items: list[Item], *, dry_run: bool = False) -> list[ItemResult]:
    return [apply_item(ctx, item, dry_run=dry_run) for item in items]

