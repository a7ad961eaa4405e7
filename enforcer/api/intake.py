"""Hand intake items to the service, one at a time, and say what became of each.

Shared by the HTTP hooks and ``enforcer hook ...``: a :class:`~enforcer.model.Decision` goes to
:func:`service.submit`; an :class:`~enforcer.hooks.End` ends the active decisions *its source*
opened for that target (an unban from FastNetMon must not lift an operator's block on the same
host); a :class:`~enforcer.hooks.Skip` is reported back. Refusals and invalid items are reported
per item, so one bad alert in an Alertmanager group does not lose the others.
"""

from __future__ import annotations

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
    """End the active decisions ``end.source`` opened for ``end.target`` (and category, if given)."""
    try:
        records = service.unblock(
            ctx, str(end.target), actor=end.actor, source=end.source, reason=end.reason,
            opened_by=end.source, violation=end.violation,
        )  # fmt: skip
    except InvalidInput:  # nothing (left) to end: the goal is reached either way
        return []
    return [r.id for r in records]


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
    outcome: Outcome = "dry-run" if result.dry_run else ("created" if result.created else "duplicate")
    return ItemResult(
        outcome=outcome,
        decision_id=result.decision_id or None,
        enforcements=result.enforcements,
        **common,
    )


def apply_items(ctx: service.Context, items: list[Item], *, dry_run: bool = False) -> list[ItemResult]:
    return [apply_item(ctx, item, dry_run=dry_run) for item in items]

