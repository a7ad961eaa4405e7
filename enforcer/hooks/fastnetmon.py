"""FastNetMon → decisions: a host under attack is blackholed, a host attacking is cut off.

FastNetMon speaks two ways, both handled here:

* the notify script (``notify_script_path``): called as ``SCRIPT IP DIRECTION PPS ACTION`` with
  ACTION ``ban`` / ``unban`` (Community, ``src/fastnetmon_logic.cpp``); on ``ban`` the attack
  details arrive on stdin — plain text in Community and in Advanced's ``notify_script_format text``,
  a JSON document in Advanced's ``notify_script_format json`` (which may pass no arguments at all,
  or Advanced's compatibility form ``SCRIPT ACTION IP``);
* the JSON document itself, POSTed by Advanced's ``web_callback_url`` (the same format:
  ``{"ip", "action", "alert_scope", "attack_details": {"attack_uuid", "attack_direction", ...}}``).

``incoming`` means the host is the victim (ddos-victim: RTBH upstream); ``outgoing`` means the
host is the source (ddos-outbound). A ``ban`` must say which: guessing "incoming" would blackhole
an attacker's victim-less address instead of cutting it off. ``unban`` ends what FastNetMon opened
for that host — in that direction's category, or in any when the call does not say (the
compatibility form ``unban IP`` does not). FastNetMon says ``unknown`` when its own direction logic
could not decide: the side is then read from the attack's counters (the larger of total incoming and
total outgoing pps); when the details carry none, a ban is skipped with the reason, an unban ends
any category. The informational actions (``attack_details``,
``attack_status``, flow-spec ``partial_block``) and hostgroup/network-scope alerts ask nothing of
enforcer and are skipped with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from ..model import Decision, InvalidInput, Violation
from ..notify_call import ACTIONS, DIRECTIONS, notify_document
from . import End, Item, Skip, build, digest, need, one_of, prefix

SOURCE = "fastnetmon"
__all__ = ["ACTIONS", "DIRECTIONS", "SOURCE", "from_callback", "from_notify", "notify_document"]
OnUnban = Literal["end", "keep"]
VIOLATION_BY_DIRECTION = {"incoming": Violation.DDOS_VICTIM, "outgoing": Violation.DDOS_OUTBOUND}


def from_callback(payload: Any, actor: str = SOURCE, key: str | None = None, on_unban: OnUnban = "end",
                  ttl: str | None = None) -> list[Item]:  # fmt: skip
    """A FastNetMon JSON document (web callback or JSON notify script) → intake items.

    ``key``: the idempotency key when the caller knows better than the document (a notify call
    turned into a document has no attack uuid). ``on_unban="keep"``: an unban ends nothing and the
    block lasts its TTL — the answer to FastNetMon's blindness behind an upstream blackhole, where
    it sees the attack stop the moment the blackhole works and unbans while the flood goes on.
    ``ttl``: how long a ban's block lasts (``90s``, ``1h``) instead of the playbook's default.
    """
    action = one_of("action", need(payload, "action"), ACTIONS)
    scope = payload.get("alert_scope") or "host"
    if scope != "host":
        return [Skip(reason=f"alert_scope {scope!r}: only per-host alerts are enforced")]
    details = payload.get("attack_details") or {}
    if not isinstance(details, dict):
        raise InvalidInput("attack_details", "expected a JSON object")
    ip = need(payload, "ip")
    dfield = "attack_details.attack_direction" if details.get("attack_direction") else "direction"
    direction = details.get("attack_direction") or payload.get("direction")
    if direction is not None:
        direction = one_of(dfield, direction, DIRECTIONS)
    if direction == "unknown":
        direction = _direction_from_counters(details)
        if direction is None and action == "ban":
            return [Skip(reason="direction 'unknown' and no incoming/outgoing pps in the attack details to tell "
                                "the victim from the attacker: nothing enforced")]  # fmt: skip
    uuid = details.get("attack_uuid")
    if not isinstance(uuid, str) or not uuid.strip("0-"):
        uuid = None  # FastNetMon Community sends an all-zero uuid: no identity, never a key or a cause
    power = details.get("peak_attack_power", details.get("initial_attack_power"))
    reason = _reason(direction, power, details.get("attack_type"), details.get("attack_protocol"), uuid)
    key = key or (uuid if uuid else digest(payload))
    if action == "unban" and on_unban == "keep":
        return [Skip(reason=f"unban of {prefix('ip', ip)}: on_unban=keep leaves the block to its TTL")]
    return _items(action, ip, direction, reason, key, actor, "attack_details.attack_direction", ttl, uuid)


def from_notify(args: Sequence[str], stdin: str = "", actor: str = SOURCE, on_unban: OnUnban = "end",
                ttl: str | None = None) -> list[Item]:  # fmt: skip
    """A notify-script call: its argv and whatever FastNetMon wrote to stdin → intake items."""
    doc, key = notify_document(args, stdin)
    return from_callback(doc, actor=actor, key=key, on_unban=on_unban, ttl=ttl)


def _items(
    action: str, ip: Any, direction: str | None, reason: str, key: str | None, actor: str, dfield: str,
    ttl: str | None = None,
    cause: str | None = None,
) -> list[Item]:
    if action in ("attack_details", "attack_status", "partial_block", "partial_unblock"):
        return [Skip(reason=f"action {action!r} is informational or flow-spec; nothing to enforce")]
    target = prefix("ip", ip)
    if direction in ("internal", "other"):
        return [Skip(reason=f"direction {direction!r}: neither side is a customer host to act on")]
    violation = VIOLATION_BY_DIRECTION.get(direction or "")
    if action == "unban":
        return [End(target=target, source=SOURCE, violation=violation, actor=actor, reason="FastNetMon unban",
                    cause=cause)]
    if violation is None:
        raise InvalidInput(dfield, "missing: a ban needs the attack direction (incoming or outgoing)")
    extra = {"ttl": ttl} if ttl else {}
    return [
        build(
            Decision,
            {"target": "ip", "ttl": "ttl"},
            target=target,
            violation=violation,
            **extra,
            source=SOURCE,
            actor=actor,
            reason=reason[:1024],
            idempotency_key=key,
            cause=cause,
        )
    ]


def _direction_from_counters(details: dict[str, Any]) -> str | None:
    """``incoming`` or ``outgoing``, whichever carried more packets; None when they do not say."""
    inc, out = details.get("total_incoming_pps"), details.get("total_outgoing_pps")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (inc, out)) or inc == out:
        return None
    return "incoming" if inc > out else "outgoing"


def _reason(direction: str | None, power: Any, attack_type: Any, protocol: Any, uuid: Any) -> str:
    parts = [f"FastNetMon: {direction or 'unknown-direction'} attack"]
    if power not in (None, ""):
        parts.append(f"{power} pps")
    if attack_type and attack_type != "unknown":
        parts.append(str(attack_type))
    if protocol and protocol != "unknown":
        parts.append(str(protocol))
    if uuid:
        parts.append(f"attack {uuid}")
    return " ".join(parts)
