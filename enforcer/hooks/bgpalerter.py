"""BGPalerter → decisions: a customer AS announcing what it must not gets a prefix filter.

BGPalerter's ``reportHTTP`` posts whatever its ``templates`` build from the report context
(``docs/context.md`` upstream: ``channel``, ``type``, ``summary``, ``prefix``, ``newprefix``,
``asn``, ``neworigin``, ``earliest``, ``latest``, ``description``...). ``docs/detectors.md`` gives
the template enforcer expects (every context key as a JSON string); the stock
``{"text": "${summary}"}`` template also works, the summary sentences being parsed instead, and so
does BGPalerter's documented OpsGenie template (``docs/report-http.md`` upstream), which puts the
summary in ``description``, a title in ``message`` and the rest of the context under ``details``.

* ``hijack``: ``neworigin`` announces ``newprefix`` (which should be ``prefix`` from ``asn``)
  → ``bgp-hijack`` of ``newprefix`` for the customer holding ``neworigin``;
* ``rpki``: ``neworigin`` announces ``newprefix`` and the route is RPKI *invalid* → the same;
  an uncovered route (RPKI unknown) or a vanished ROA is not evidence of a hijack → skipped;
* ``visibility`` (a monitored prefix withdrawn), ``newprefix``, ``path``, ``misconfiguration``,
  ``roa``...: nobody announced anything wrong on a customer session → skipped with the reason.

Context values BGPalerter did not set are rendered by its template engine as ``undefined``.
AS values are rendered ``AS64500``, or ``AS1, AS2, and AS3`` for an AS set (refused: no single
announcer to filter).
"""

from __future__ import annotations

import re
from typing import Any

from ..model import Decision, InvalidInput, Violation
from . import Item, Skip, build, digest, prefix

SOURCE = "bgpalerter"
ENFORCED = ("hijack", "rpki")
#: Context keys read as text: another JSON type (a template without quotes) is refused, naming the key.
TEXT_KEYS = ("channel", "summary", "text", "message", "description")
#: Where a template may put the alert's sentence, in the order tried: the first one that is a
#: BGPalerter sentence is the summary (OpsGenie's ``description`` is the summary, while enforcer's
#: own template uses ``description`` for the prefix's description and ``message`` is a title).
SUMMARY_KEYS = ("summary", "text", "description", "message")

_HIJACK_SAME = re.compile(
    r"^The prefix (?P<newprefix>\S+) \((?P<desc>.*)\) is announced by (?P<neworigin>.+?) instead of"
)
_HIJACK_MORE = re.compile(r"^A new prefix (?P<newprefix>\S+) is announced by (?P<neworigin>.+?)\. It should be instead")
_RPKI = re.compile(r"^The route (?P<newprefix>\S+) announced by (?P<neworigin>.+?) is (?P<what>not RPKI valid|"
                   r"not covered by a ROA|no longer covered by a ROA)")
_VISIBILITY = re.compile(r"^The prefix \S+ \(.*\) (it's no longer visible|has been withdrawn)")


def from_webhook(payload: Any, actor: str = SOURCE) -> list[Item]:
    """One BGPalerter reportHTTP body → intake items."""
    if not isinstance(payload, dict):
        raise InvalidInput("body", "expected a JSON object")
    ctx = _context(payload)
    for key in TEXT_KEYS:
        if key in ctx and not isinstance(ctx[key], str):
            raise InvalidInput(key, f"expected a string, not {type(ctx[key]).__name__}")
    texts = [ctx[k] for k in SUMMARY_KEYS if ctx.get(k)]
    summary = next((t for t in texts if _channel_from_summary(t)), texts[0] if texts else "")
    channel = ctx.get("channel") or _channel_from_summary(summary)
    if channel is None:
        if summary:
            return [Skip(reason="the summary is not a BGPalerter hijack or RPKI alert")]
        raise InvalidInput("channel", "missing (and no summary or text to recognise the alert by)")
    if channel not in ENFORCED:
        return [Skip(reason=f"channel {channel!r}: no customer announced anything to filter")]
    parsed = _parse_summary(summary)
    if channel == "rpki" and parsed.get("what", "not RPKI valid") != "not RPKI valid":
        return [Skip(reason=f"RPKI: the route is {parsed['what']}, which is not evidence of a hijack")]
    announced = ctx.get("newprefix") or parsed.get("newprefix") or ctx.get("prefix")
    origin = ctx.get("neworigin") or parsed.get("neworigin")
    target = prefix("newprefix", announced)
    asn = _single_asn("neworigin", origin)
    key = digest(channel, str(target), asn, ctx.get("earliest") or summary)
    return [
        build(
            Decision,
            {"target": "newprefix", "asn": "neworigin", "reason": "summary"},
            target=target,
            violation=Violation.BGP_HIJACK,
            asn=asn,
            source=SOURCE,
            actor=actor,
            reason=(f"BGPalerter {channel}: {summary}" if summary else f"BGPalerter {channel}")[:1024],
            idempotency_key=key,
            cause=key,
        )
    ]


def _context(payload: dict[str, Any]) -> dict[str, Any]:
    """The report context the template carried: its top-level keys, then those an OpsGenie-style
    template nests under ``details`` (top level wins); values BGPalerter left unset dropped."""
    details = payload.get("details")
    nested = details if isinstance(details, dict) else {}
    merged = {**nested, **{k: v for k, v in payload.items() if k != "details" or not nested}}
    return {k: v for k, v in merged.items() if v not in (None, "", "undefined")}


def _channel_from_summary(summary: str) -> str | None:
    if _HIJACK_SAME.match(summary) or _HIJACK_MORE.match(summary):
        return "hijack"
    if _RPKI.match(summary):
        return "rpki"
    if _VISIBILITY.match(summary):
        return "visibility"
    return None


def _parse_summary(summary: str) -> dict[str, str]:
    for pattern in (_HIJACK_SAME, _HIJACK_MORE, _RPKI):
        m = pattern.match(summary)
        if m:
            return m.groupdict()
    return {}


def _single_asn(field: str, value: Any) -> int:
    """``AS64500`` / ``64500`` → 64500; an AS set (``AS1, and AS2``) names no single announcer."""
    if value is None:
        raise InvalidInput(field, "missing")
    if isinstance(value, int) and not isinstance(value, bool):
        numbers = [value]
    elif isinstance(value, list):
        numbers = value
    else:
        numbers = re.findall(r"(?i)(?:AS)?(\d+)", str(value))
        if not numbers or re.sub(r"(?i)AS\d+|\d+|,|and|\s", "", str(value)):
            raise InvalidInput(field, f"{value!r} is not an AS number like AS64500")
    if len(numbers) != 1:
        raise InvalidInput(field, f"{value!r} is an AS set; enforcer filters one announcing AS, not a set")
    asn = int(numbers[0])
    if not 1 <= asn <= 4294967295:
        raise InvalidInput(field, f"{asn} is not a valid AS number")
    return asn
