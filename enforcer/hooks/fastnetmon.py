"""FastNetMon → decisions: a host under attack is blackholed, a host attacking is cut off.

FastNetMon speaks two ways, both handled here:

* the notify script (``notify_script_path``): called as ``SCRIPT IP DIRECTION PPS ACTION`` with
  ACTION ``ban`` / ``unban`` (Community, ``src/fastnetmon_logic.cpp``); on ``ban`` the attack
  details arrive on stdin — plain text in Community and in Advanced's ``notify_script_format text``,
  a JSON document in Advanced's ``notify_script_format json`` (which may pass no arguments at all);
* the JSON document itself, POSTed by Advanced's ``web_callback_url`` (the same format:
  ``{"ip", "action", "alert_scope", "attack_details": {"attack_uuid", "attack_direction", ...}}``).

``incoming`` means the host is the victim (ddos-victim: RTBH upstream); ``outgoing`` means the
host is the source (ddos-outbound). ``unban`` ends what FastNetMon opened for that host; the
informational actions (``attack_details``, ``attack_status``, flow-spec ``partial_block``) and
hostgroup/network-scope alerts ask nothing of enforcer and are skipped with the reason.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..model import InvalidInput, Violation
from . import End, Item, Skip, decision, digest, need, prefix

SOURCE = "fastnetmon"
ACTIONS = ("ban", "unban", "attack_details", "attack_status", "partial_block", "partial_unblock")
VIOLATION_BY_DIRECTION = {"incoming": Violation.DDOS_VICTIM, "outgoing": Violation.DDOS_OUTBOUND}


def from_callback(payload: Any, actor: str = SOURCE) -> list[Item]:
    """A FastNetMon JSON document (web callback or JSON notify script) → intake items."""
    action = need(payload, "action")
    if action not in ACTIONS:
        raise InvalidInput("action", f"{action!r} is not one of: {', '.join(ACTIONS)}")
    scope = payload.get("alert_scope") or "host"
    if scope != "host":
        return [Skip(reason=f"alert_scope {scope!r}: only per-host alerts are enforced")]
    details = payload.get("attack_details") or {}
    if not isinstance(details, dict):
        raise InvalidInput("attack_details", "expected a JSON object")
    ip = need(payload, "ip")
    direction = details.get("attack_direction") or payload.get("direction") or "incoming"
    uuid = details.get("attack_uuid")
    power = details.get("peak_attack_power", details.get("initial_attack_power"))
    reason = _reason(direction, power, details.get("attack_type"), details.get("attack_protocol"), uuid)
    key = f"{SOURCE}:{uuid}" if uuid else f"{SOURCE}:{digest(payload)}"
    return _items(action, ip, direction, reason, key, actor, "attack_details.attack_direction")


def from_notify(args: Sequence[str], stdin: str = "", actor: str = SOURCE) -> list[Item]:
    """A notify-script call: its argv and whatever FastNetMon wrote to stdin → intake items."""
    text = stdin.strip()
    if text.startswith("{"):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInput("stdin", f"looks like JSON but does not parse: {exc.msg} at {exc.pos}") from None
        return from_callback(doc, actor=actor)
    if len(args) >= 2 and args[0] in ACTIONS:  # Advanced's compatibility argv: ACTION IP
        args = [args[1], "incoming", "0", args[0]]
    if len(args) != 4:
        raise InvalidInput("args", f"expected CLIENT_IP DIRECTION PPS ACTION, got {len(args)} argument(s)")
    ip, direction, pps, action = args
    if action not in ACTIONS:
        raise InvalidInput("action", f"{action!r} is not one of: {', '.join(ACTIONS)}")
    if not pps.isdigit():
        raise InvalidInput("pps", f"{pps!r} is not a packet rate")
    facts = _text_facts(text)
    reason = _reason(direction, int(pps), facts.get("attack type"), facts.get("attack protocol"), None)
    key = f"{SOURCE}:{digest(ip, direction, text)}" if text else None
    return _items(action, ip, direction, reason, key, actor, "direction")


def _items(action: str, ip: str, direction: str, reason: str, key: str | None, actor: str, dfield: str) -> list[Item]:
    if action in ("attack_details", "attack_status", "partial_block", "partial_unblock"):
        return [Skip(reason=f"action {action!r} is informational or flow-spec; nothing to enforce")]
    target = prefix("ip", ip)
    violation = VIOLATION_BY_DIRECTION.get(direction)
    if violation is None:
        if direction in ("internal", "other"):
            return [Skip(reason=f"direction {direction!r}: neither side is a customer host to act on")]
        raise InvalidInput(dfield, f"{direction!r} is not one of: incoming, outgoing, internal, other")
    if action == "unban":
        return [End(target=target, source=SOURCE, violation=violation, actor=actor, reason="FastNetMon unban")]
    return [
        decision(
            {"target": "ip"},
            target=target,
            violation=violation,
            source=SOURCE,
            actor=actor,
            reason=reason,
            idempotency_key=key,
        )
    ]


def _reason(direction: str, power: Any, attack_type: Any, protocol: Any, uuid: Any) -> str:
    parts = [f"FastNetMon: {direction} attack"]
    if power not in (None, ""):
        parts.append(f"{power} pps")
    if attack_type and attack_type != "unknown":
        parts.append(str(attack_type))
    if protocol and protocol != "unknown":
        parts.append(str(protocol))
    if uuid:
        parts.append(f"attack {uuid}")
    return " ".join(parts)


def _text_facts(text: str) -> dict[str, str]:
    """The ``Key: value`` lines of Community's text attack description, keys lower-cased."""
    facts: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key and value.strip() and key.strip().lower() not in facts:
            facts[key.strip().lower()] = value.strip()
    return facts
