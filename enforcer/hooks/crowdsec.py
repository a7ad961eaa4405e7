"""CrowdSec → decisions: what a CrowdSec Local API has banned is enforced on the network.

enforcer reads the LAPI's decision stream as a bouncer does (``GET /v1/decisions/stream`` with a
bouncer's ``X-Api-Key``; CrowdSec 1.4's ``pkg/models``): ``{"new": [...], "deleted": [...]}``, each
decision ``{"id", "origin", "type", "scope", "value", "duration", "scenario", "simulated"}``.

* a ``ban`` on scope ``Ip`` or ``Range`` → a decision on that address or prefix, for the
  decision's remaining ``duration`` (a Go duration: ``3h59m58.1s``), in the category its scenario
  names (``…-bf`` brute force → intrusion, ``…scan…``/``…probing…`` → scanning, else the default);
* a deleted one → releases every CrowdSec hold on that target: the stream is per address, and
  reports a deletion only once no CrowdSec decision on the address is left (CrowdSec 1.4.6, as
  ``tests/detectors/test_crowdsec_consume.py`` observes: with two decisions on one IP the stream
  shows the longer one, deleting it reports nothing, deleting the other reports *that* id). An
  operator's block, or another caller's hold, on the same target stays;
* ``captcha`` and other remedies, other scopes (``Country``, ``AS``) and simulated decisions ask
  for nothing the network can do → skipped with the reason.

The CrowdSec decision id is the idempotency key, so re-reading a stream (``startup=true`` after a
restart) never blocks twice, and the cause recorded on the block's hold (``decision:<id>``,
``holders``), as the other hooks record theirs: a later CrowdSec decision on a blocked address adds
its own hold, and a startup pull releases the holds of decisions CrowdSec no longer lists.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from ..model import Decision, InvalidInput, Violation
from . import End, Item, Skip, build, each, prefix

SOURCE = "crowdsec"
#: Scenario name fragments → category, tried in order (``crowdsecurity/ssh-bf``, ``…/http-probing``).
SCENARIO_CATEGORIES = (
    ("scan", Violation.SCANNING),
    ("probing", Violation.SCANNING),
    ("-bf", Violation.INTRUSION),
    ("bruteforce", Violation.INTRUSION),
)
_GO_DURATION = re.compile(r"(-?)((?:\d+(?:\.\d*)?(?:h|ms|us|µs|ns|m|s))+)")
_GO_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def from_stream(payload: Any, actor: str = SOURCE, violation: Violation = Violation.INTRUSION) -> list[Item]:
    """One LAPI stream answer → intake items (``violation``: the category when the scenario names none)."""
    if not isinstance(payload, dict):
        raise InvalidInput("body", "expected a JSON object with new and deleted")
    items: list[Item] = []
    for part in ("new", "deleted"):
        decisions = payload.get(part) or []
        if not isinstance(decisions, list):
            raise InvalidInput(part, "expected a list of decisions")
        adapt = _new if part == "new" else _deleted
        items += each(decisions, lambda where, d, a=adapt: a(where, d, actor, violation), prefix=f"{part}.")
    return items


def _target_or_skip(where: str, d: Any) -> Any:
    if not isinstance(d, dict):
        raise InvalidInput(where, "expected a decision object")
    scope = str(d.get("scope", "")).lower()
    if scope not in ("ip", "range"):
        return Skip(reason=f"{where}: scope {d.get('scope')!r} is not an address or range")
    if d.get("type") != "ban":
        return Skip(reason=f"{where}: remedy {d.get('type')!r} is not a ban")
    return prefix(f"{where}.value", d.get("value"))


def _new(where: str, d: Any, actor: str, default: Violation) -> Item:
    target = _target_or_skip(where, d)
    if isinstance(target, Skip):
        return target
    if d.get("simulated"):
        return Skip(reason=f"{where}: simulated in CrowdSec")
    scenario = str(d.get("scenario") or "")
    category = next((v for frag, v in SCENARIO_CATEGORIES if frag in scenario.lower()), default)
    return build(
        Decision,
        {"ttl": f"{where}.duration", "target": f"{where}.value"},
        target=target,
        violation=category,
        source=SOURCE,
        actor=actor,
        reason=f"CrowdSec {d.get('origin') or 'decision'}: {scenario}"[:1024],
        ttl=go_duration(f"{where}.duration", d.get("duration")),
        idempotency_key=_cause(d),
        cause=_cause(d),
    )


def _deleted(where: str, d: Any, actor: str, default: Violation) -> Item:
    target = _target_or_skip(where, d)
    if isinstance(target, Skip):
        return target
    # cause None: all of CrowdSec's holds on the target (the id deleted may not be the one it sent as new)
    return End(target=target, source=SOURCE, actor=actor, reason=f"CrowdSec deleted decision {d.get('id')}")


def _cause(d: dict[str, Any]) -> str | None:
    """The CrowdSec decision behind a ban: its key and the cause that holds the block."""
    return f"decision:{d.get('id')}"[:200] if d.get("id") is not None else None


def go_duration(field: str, value: Any) -> timedelta:
    """A Go ``time.Duration`` string (``3h59m58.123s``) → timedelta; it must be positive."""
    m = _GO_DURATION.fullmatch(str(value or "").strip())
    if not m:
        raise InvalidInput(field, f"{value!r} is not a duration like 3h59m58s")
    seconds = sum(float(n) * _GO_UNITS[u] for n, u in re.findall(r"(\d+(?:\.\d*)?)(h|ms|us|µs|ns|m|s)", m.group(2)))
    if m.group(1) or seconds < 1:
        raise InvalidInput(field, f"{value!r}: the decision has already expired")
    return timedelta(seconds=int(seconds))
