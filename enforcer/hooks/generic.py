"""Generic JSON → decisions, for detectors without an adapter of their own (a SIEM, a script).

The body is one event object or a list of them::

    {"target": "198.51.100.7", "violation": "scanning", "reason": "portscan seen by IDS",
     "ttl": "2h", "event_id": "ids-4711", "status": "firing", "source": "suricata"}

``target`` and ``violation`` are required; ``reason``, ``ttl``, ``expires_at``, ``customer``,
``asn`` and ``source`` (the detector's name: shown in the reason, and keeping its event ids
apart from another detector's on the same token) are optional; ``event_id`` becomes the
idempotency key; ``status: resolved`` ends what the generic hook opened for the target and
category. The decision's source is always ``generic``, whatever the payload says: a payload
that could choose it could end another source's decisions (an operator's block, FastNetMon's
ban). The names of people and of enforcer itself (cli, api, reconcile, operator) are refused
outright. ``labels`` may carry any
free-form metadata (kept out of the decision). Unknown keys are refused, so a typo (``tll``) is
an error rather than a silently ignored TTL. In a list, each event stands on its own: a bad one
is reported invalid and the others still count (over HTTP, the hook's schema refuses a list
whose events break it — an unknown field or category — before this adapter sees it).
"""

from __future__ import annotations

import re
from typing import Any

from ..model import Decision, InvalidInput, Violation
from . import RESERVED_SOURCES, End, Item, build, each, need, one_of, prefix

SOURCE = "generic"
KNOWN = {"target", "violation", "reason", "ttl", "expires_at", "customer", "asn", "source", "event_id", "status",
         "labels"}
_DETECTOR = re.compile(r"[a-z][a-z0-9_-]{0,31}")


def from_events(payload: Any, actor: str = SOURCE) -> list[Item]:
    """One event or a list of events → intake items (in a list, a bad event is :class:`~enforcer.hooks.Invalid`)."""
    if isinstance(payload, list):
        if not payload:
            raise InvalidInput("body", "an empty list of events")
        return each(payload, lambda where, e: _event(f"{where}.", e, actor))
    return [_event("", payload, actor)]


def _event(where: str, event: Any, actor: str) -> Item:
    if not isinstance(event, dict):
        raise InvalidInput(where.rstrip(".") or "body", "expected a JSON object")
    unknown = sorted(set(event) - KNOWN)
    if unknown:
        raise InvalidInput(f"{where}{unknown[0]}", f"unknown field; known: {', '.join(sorted(KNOWN))}")
    detector = _detector(where, event)
    target = prefix(f"{where}target", need(event, "target"))
    violation = one_of(f"{where}violation", need(event, "violation"), tuple(Violation))
    status = one_of(f"{where}status", event.get("status", "firing"), ("firing", "resolved"))
    reason = event.get("reason") or ""
    if detector and isinstance(reason, str):
        reason = (f"{detector}: {reason}" if reason else detector)[:1024]
    key = event.get("event_id")
    cause = f"{detector or SOURCE}:{key}"[:200] if key is not None else None
    if status == "resolved":
        return build(End, {"reason": f"{where}reason"}, target=target, source=SOURCE, violation=violation,
                     actor=actor, reason=reason, cause=cause)
    values = {k: event[k] for k in ("ttl", "expires_at", "customer", "asn") if event.get(k) is not None}
    fields = {k: f"{where}{k}" for k in (*values, "target", "violation", "reason")}
    fields["idempotency_key"] = f"{where}event_id"
    return build(
        Decision,
        fields,
        target=target,
        violation=violation,
        source=SOURCE,
        actor=actor,
        reason=reason,
        idempotency_key=cause,
        cause=cause,
        **values,
    )


def _detector(where: str, event: dict[str, Any]) -> str | None:
    """The payload's ``source``: the detector's name, a label, never the decision's source."""
    name = event.get("source")
    if name is None:
        return None
    if not isinstance(name, str) or not _DETECTOR.fullmatch(name):
        raise InvalidInput(f"{where}source", f"{name!r}: lower-case letters, digits, _ and -, 1-32 characters")
    if name in RESERVED_SOURCES:
        raise InvalidInput(f"{where}source", f"{name!r} is reserved for enforcer's own sources")
    return name
