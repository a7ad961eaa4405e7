"""Generic JSON → decisions, for detectors without an adapter of their own (a SIEM, a script).

The body is one event object or a list of them::

    {"target": "198.51.100.7", "violation": "scanning", "reason": "portscan seen by IDS",
     "ttl": "2h", "event_id": "ids-4711", "status": "firing"}

``target`` and ``violation`` are required; ``reason``, ``ttl``, ``expires_at``, ``customer``,
``asn`` and ``source`` (the detector's name, default ``generic``) are optional; ``event_id``
becomes the idempotency key; ``status: resolved`` ends what that source opened for the target.
``labels`` may carry any free-form metadata (kept out of the decision). Unknown keys are
refused, so a typo (``tll``) is an error rather than a silently ignored TTL.
"""

from __future__ import annotations

from typing import Any

from ..model import InvalidInput, Violation
from . import Item, decision, end, need, prefix

SOURCE = "generic"
KNOWN = {"target", "violation", "reason", "ttl", "expires_at", "customer", "asn", "source", "event_id", "status",
         "labels"}


def from_events(payload: Any, actor: str = SOURCE) -> list[Item]:
    """One event or a list of events → intake items."""
    if isinstance(payload, list):
        if not payload:
            raise InvalidInput("body", "an empty list of events")
        return [_event(f"{i}.", e, actor) for i, e in enumerate(payload)]
    return [_event("", payload, actor)]


def _event(where: str, event: Any, actor: str) -> Item:
    if not isinstance(event, dict):
        raise InvalidInput(where.rstrip(".") or "body", "expected a JSON object")
    unknown = sorted(set(event) - KNOWN)
    if unknown:
        raise InvalidInput(f"{where}{unknown[0]}", f"unknown field; known: {', '.join(sorted(KNOWN))}")
    source = event.get("source") or SOURCE
    target = prefix(f"{where}target", need(event, "target"))
    violation = need(event, "violation")
    status = event.get("status", "firing")
    if status not in ("firing", "resolved"):
        raise InvalidInput(f"{where}status", f"{status!r} is not firing or resolved")
    if status == "resolved":
        if violation not in set(Violation):
            raise InvalidInput(f"{where}violation", f"{violation!r} is not one of: {', '.join(Violation)}")
        return end({"source": f"{where}source", "reason": f"{where}reason"}, target=target, source=source,
                   violation=violation, actor=actor, reason=event.get("reason") or "")
    key = event.get("event_id")
    values = {k: event[k] for k in ("reason", "ttl", "expires_at", "customer", "asn") if event.get(k) is not None}
    fields = {k: f"{where}{k}" for k in (*values, "target", "violation", "source")}
    fields["idempotency_key"] = f"{where}event_id"
    return decision(
        fields,
        target=target,
        violation=violation,
        source=source,
        actor=actor,
        idempotency_key=f"{source}:{key}" if key is not None else None,
        **values,
    )
