"""Is it working? What each enforcement dropped, read from the devices that count it.

The nftables templates put a counter on every rule and on every element of enforcer's sets, and
each element's or rule's comment starts with the ids of the enforcements it carries (``2014`` or
``6014+6016``), so a counter belongs to an enforcement without any bookkeeping of ours.
:func:`nft_counters` reads them from ``nft -j list table`` (nft's own JSON, not its text).
A counter restarts at zero when its element is re-created (nft loads enforcer's table whole on
each change), so a figure is "since the last change on that device".
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict

_IDS = re.compile(r"^(\d+(?:\+\d+)*)\b")


class Counter(BaseModel):
    model_config = ConfigDict(frozen=True)
    packets: int = 0
    bytes: int = 0

    def __add__(self, other: Counter) -> Counter:
        return Counter(packets=self.packets + other.packets, bytes=self.bytes + other.bytes)

    def human(self) -> str:
        """``12.3k pkts 1.5 MB``: what fits a table cell."""
        return f"{_si(self.packets)} pkts {_si(self.bytes, 'B')}"


def _si(n: int, unit: str = "") -> str:
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= scale:
            return f"{n / scale:.1f}{suffix}{' ' + unit if unit else ''}"
    return f"{n}{' ' + unit if unit else ''}"


def _ids(comment: str | None) -> list[int]:
    m = _IDS.match(comment or "")
    return [int(i) for i in m.group(1).split("+")] if m else []


def nft_counters(listing_json: str) -> dict[int, Counter]:
    """Enforcement id → packets and bytes, from ``nft -j list table inet enforcer``."""
    found: dict[int, Counter] = defaultdict(Counter)
    for obj in json.loads(listing_json or "{}").get("nftables", []):
        for ids, counter in _counted(obj):
            for i in ids:
                found[i] = found[i] + counter
    return dict(found)


def _counted(obj: dict[str, Any]) -> Iterable[tuple[list[int], Counter]]:
    if "set" in obj:
        for item in obj["set"].get("elem", []):
            elem = item.get("elem") if isinstance(item, dict) else None
            if isinstance(elem, dict) and isinstance(elem.get("counter"), dict):
                yield _ids(elem.get("comment")), Counter(**elem["counter"])
    elif "rule" in obj:
        rule = obj["rule"]
        ids = _ids(rule.get("comment"))
        for expr in rule.get("expr", []) if ids else []:
            if isinstance(expr.get("counter"), dict):
                yield ids, Counter(**expr["counter"])


def by_decision(enforcements: Iterable[Any], counts: dict[int, Counter]) -> dict[int, Counter]:
    """Sum each decision's enforcements' counters (over every device they were read from)."""
    total: dict[int, Counter] = {}
    for e in enforcements:
        if e.id in counts:
            total[e.decision_id] = total.get(e.decision_id, Counter()) + counts[e.id]
    return total


def read_counters(ctx: Any) -> dict[int, Counter]:
    """Enforcement id → what it dropped, summed over every device whose driver counts
    (``get_counters``: the Linux nftables driver). A device that cannot be read adds nothing:
    a missing figure shows as ``-``, never as zero."""
    from concurrent.futures import ThreadPoolExecutor

    from .model import EnforcerError

    def one(device: Any) -> dict[int, Counter]:
        try:
            with ctx.driver(device) as driver:
                read = getattr(driver, "get_counters", None)
                return read() if read is not None else {}
        except EnforcerError:
            return {}

    devices = list(ctx.inventory.devices.values())
    total: dict[int, Counter] = defaultdict(Counter)
    with ThreadPoolExecutor(max_workers=min(8, len(devices) or 1)) as pool:
        for counts in pool.map(one, devices):
            for i, c in counts.items():
                total[i] = total[i] + c
    return dict(total)
