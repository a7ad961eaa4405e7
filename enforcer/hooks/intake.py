"""Hand intake items to the service in order (decisions in batches), and say what became of each.

Shared by the HTTP API (``/v1/decisions`` and the hooks) and ``enforcer hook ...``:

* :func:`claim` makes every item speak for the hook it came through and the caller behind it:
  the decision's source is the hook's name, whatever the payload says, and its idempotency key
  lives in the ``hook:<hook>:<caller>:`` namespace, so one detector can neither end another
  source's decisions nor take over another detector's keys;
* :func:`apply_items` sends :class:`~enforcer.model.Decision` items to :func:`service.submit_many`
  (consecutive ones in one transaction), ends
  what *the hook* opened for an :class:`~enforcer.hooks.End` (an unban from FastNetMon must not
  lift an operator's block on the same host), and reports a
  :class:`~enforcer.hooks.Skip` or :class:`~enforcer.hooks.Invalid` back; refusals and invalid
  items are reported per item, so one bad alert in an Alertmanager group does not lose the others;
* :func:`verdict` is the answer to the whole batch.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from .. import service
from ..model import Decision, InvalidInput, Refused, Violation
from ..store import DecisionRecord
from . import End, Invalid, Item, Skip, build, digest
from .results import ErrorDetail, ItemResult, Outcome

#: Longest idempotency key the store keeps; longer namespaced keys keep their namespace and hash the rest.
MAX_KEY = 200
#: The caller of ``enforcer hook ...`` run locally: no token name can start with "@".
LOCAL = "@local"


class NotFound(InvalidInput):
    """The thing named does not exist (the API answers 404)."""


def namespaced(namespace: str, key: str) -> str:
    """``namespace:key``, within the store's key length: an over-long key keeps its namespace, hashed."""
    full = f"{namespace}:{key}"
    return full if len(full) <= MAX_KEY else f"{namespace}:sha256:{digest(key)}"


def decision_from_api(values: dict[str, Any], *, actor: str, key: str | None) -> Decision:
    """A ``POST /v1/decisions`` body → Decision, in the ``api:<token>:`` key namespace."""
    return build(Decision, {}, **values, source="api", actor=actor,
                 idempotency_key=namespaced(f"api:{actor}", key) if key else None)


def claim(items: list[Item], *, hook: str, caller: str, key: str | None = None) -> list[Item]:
    """Tie every item to ``hook`` and ``caller``: the source is the hook, keys are in its namespace.

    ``key`` (an ``Idempotency-Key`` header) replaces the payload's keys; with several decisions
    in one delivery, each gets the key plus its position in the payload.
    """
    space = f"hook:{hook}:{caller}"
    several = sum(isinstance(i, Decision) for i in items) > 1
    out: list[Item] = []
    for n, item in enumerate(items):
        if isinstance(item, Decision):
            own = (f"{key}:{n}" if several else key) if key else item.idempotency_key
            item = item.model_copy(update={"source": hook, "idempotency_key": own and namespaced(space, own)})
        elif isinstance(item, End):
            item = item.model_copy(update={"source": hook})
        out.append(item)
    return out


def categories(items: Iterable[Item]) -> list[Violation]:
    """The categories a batch acts on: what the caller's token must allow."""
    return [i.violation for i in items if isinstance(i, Decision | End) and i.violation is not None]


def end_for_source(
    ctx: service.Context, end: End, within: Collection[Violation] | None = None
) -> tuple[list[int], list[int]]:
    """Release ``end.actor``'s holds on what ``end.source`` opened for ``end.target`` (ended, still held).

    In ``end.violation``'s category; an End without one looks in any category the source opened,
    but only among ``within`` (the caller's token categories) when given: a token may not end what
    it could not have opened. A decision another alert (or another token) still holds stays.
    """
    if end.violation is not None:
        wanted: list[Violation | None] = [end.violation]
    else:
        wanted = list(within) if within is not None else [None]
    return service.release(ctx, end.target, source=end.source, actor=end.actor, cause=end.cause,
                           violations=wanted, reason=end.reason)


def apply_item(
    ctx: service.Context,
    item: Item,
    *,
    source: str,
    dry_run: bool = False,
    within: Collection[Violation] | None = None,
) -> ItemResult:
    """What became of one item that is not a decision (decisions go in batches: :func:`apply_items`)."""
    if isinstance(item, Skip):
        return ItemResult(outcome="skipped", source=source, reason=item.reason)
    if isinstance(item, Invalid):
        return ItemResult(outcome="invalid", source=source, error=ErrorDetail(field=item.field, reason=item.reason))
    if isinstance(item, Decision):
        return submit_decisions(ctx, [item], dry_run=dry_run)[0]
    common = {"target": str(item.target), "violation": item.violation and item.violation.value,
              "source": item.source}
    if dry_run:
        return ItemResult(outcome="dry-run", reason="would end this source's active decisions", **common)
    ended, kept = end_for_source(ctx, item, within)
    outcome: Outcome = "ended" if ended else ("released" if kept else "nothing-to-end")
    return ItemResult(outcome=outcome, ended=ended, held_by_others=kept, **common)


def submit_decisions(
    ctx: service.Context, decisions: list[Decision], *, dry_run: bool = False, automatic: bool = True
) -> list[ItemResult]:
    """Decisions in one store transaction (:func:`service.submit_many`), a result per decision.

    ``automatic``: from a detector (held, never forced) — every hook; the API says per token.
    """
    results = []
    for decision, outcome in zip(decisions, service.submit_many(ctx, decisions, dry_run=dry_run,
                                                                automatic=automatic), strict=True):
        common = {"target": str(decision.target), "violation": decision.violation.value, "source": decision.source}
        if isinstance(outcome, Exception):
            results.append(ItemResult(outcome="refused" if isinstance(outcome, Refused) else "invalid",
                                      error=ErrorDetail(field=outcome.field, reason=outcome.reason), **common))
        else:
            results.append(ItemResult(outcome=outcome_of(outcome), decision_id=outcome.decision_id or None,
                                      enforcements=outcome.enforcements, **common))
    return results


def apply_items(
    ctx: service.Context,
    items: list[Item],
    *,
    source: str,
    dry_run: bool = False,
    within: Collection[Violation] | None = None,
    automatic: bool = True,
) -> list[ItemResult]:
    """Apply each item in order; ``source`` names the hook on results that carry no source of their own (skips).

    Consecutive decisions are stored in one transaction (one commit for an Alertmanager group or
    a list of events); an end between two decisions keeps its place.
    """
    results: list[ItemResult] = []
    run: list[Decision] = []
    for item in [*items, None]:
        if isinstance(item, Decision):
            run.append(item)
            continue
        if run:
            results += submit_decisions(ctx, run, dry_run=dry_run, automatic=automatic)
            run = []
        if item is not None:
            results.append(apply_item(ctx, item, source=source, dry_run=dry_run, within=within))
    return results


def verdict(results: list[ItemResult]) -> tuple[int, ErrorDetail | None]:
    """The status for a batch: 200 if anything was accepted (or nothing was sent); else 409 when
    the first failure was a guardrail's refusal, 422 when it was invalid, with that error."""
    if not results or any(r.accepted for r in results):
        return 200, None
    first = next(r for r in results if r.error is not None)
    return (409 if first.outcome == "refused" else 422), first.error


def end_decision(ctx: service.Context, decision_id: int, *, actor: str, source: str, reason: str) -> DecisionRecord:
    """Unblock one decision by id; :class:`NotFound` if there is none, :class:`Refused` if it already ended."""
    try:
        [ended] = service.unblock(ctx, str(decision_id), actor=actor, source=source, reason=reason)
    except InvalidInput:  # no active decision with that id: say which of the two it is
        rec = service.get_decision(ctx, decision_id)
        if rec is None:
            raise NotFound("decision_id", f"no decision with id {decision_id}") from None
        raise Refused("decision_id", f"decision {decision_id} is already {rec.status}") from None
    return ended


def approve_decision(ctx: service.Context, decision_id: int, *, actor: str, source: str, reason: str) -> DecisionRecord:
    """Approve one held decision; :class:`NotFound` if there is none, ``InvalidInput`` if it is not held."""
    if service.get_decision(ctx, decision_id) is None:
        raise NotFound("decision_id", f"no decision with id {decision_id}")
    return service.approve(ctx, decision_id, actor=actor, source=source, reason=reason)


def reject_decision(ctx: service.Context, decision_id: int, *, actor: str, source: str, reason: str) -> DecisionRecord:
    """Reject one held decision; :class:`NotFound` if there is none, ``InvalidInput`` if it is not held."""
    if service.get_decision(ctx, decision_id) is None:
        raise NotFound("decision_id", f"no decision with id {decision_id}")
    return service.reject(ctx, decision_id, actor=actor, source=source, reason=reason)


def outcome_of(result: service.SubmitResult) -> Outcome:
    """How a submit ended, as counted in metrics and reported per item (``held``: awaits approval)."""
    if result.dry_run:
        return "dry-run"
    if not result.created:
        return "duplicate"
    return "held" if result.pending else "created"
