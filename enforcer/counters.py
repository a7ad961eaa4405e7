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
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

_IDS = re.compile(r"^(\d+(?:\+\d+)*)\b")


class Counter(BaseModel):
    model_config = ConfigDict(frozen=True)
    packets: int = 0
    bytes: int = 0

    def __add__(self, other: Counter) -> Counter:
        """Not validated again: two counters' integers sum to integers (a validation per sum was
        most of summing 10,000 elements' counters)."""
        return Counter.model_construct(packets=self.packets + other.packets, bytes=self.bytes + other.bytes)

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
    """Enforcement id → packets and bytes, from ``nft -j list table inet enforcer``.

    Summed as plain integers and made into one :class:`Counter` per id at the end: a model per
    element and another per sum cost 76 ms a read of 10,000 elements. A counter whose fields are
    not both plain integers is validated as a :class:`Counter` first, as before."""
    found: dict[int, list[int]] = {}
    for obj in json.loads(listing_json or "{}").get("nftables", []):
        for ids, (packets, octets) in _counted(obj):
            for i in ids:
                total = found.get(i)
                if total is None:
                    found[i] = [packets, octets]
                else:
                    total[0] += packets
                    total[1] += octets
    return {i: Counter.model_construct(packets=p, bytes=b) for i, (p, b) in found.items()}  # ints, checked by _pair


def _pair(counter: dict[str, Any]) -> tuple[int, int]:
    """``(packets, bytes)`` of one of nft's counter objects, validated as a :class:`Counter` unless
    both are plain integers and there is nothing else in it."""
    packets, octets = counter.get("packets", 0), counter.get("bytes", 0)
    if type(packets) is int and type(octets) is int and len(counter) <= 2 and counter.keys() <= {"packets", "bytes"}:
        return packets, octets
    c = Counter(**counter)
    return c.packets, c.bytes


def _counted(obj: dict[str, Any]) -> Iterable[tuple[list[int], tuple[int, int]]]:
    if "set" in obj:
        for item in obj["set"].get("elem", []):
            elem = item.get("elem") if isinstance(item, dict) else None
            if isinstance(elem, dict) and isinstance(elem.get("counter"), dict):
                yield _ids(elem.get("comment")), _pair(elem["counter"])
    elif "rule" in obj:
        rule = obj["rule"]
        ids = _ids(rule.get("comment"))
        for expr in rule.get("expr", []) if ids else []:
            if isinstance(expr.get("counter"), dict):
                yield ids, _pair(expr["counter"])


def by_decision(enforcements: Iterable[Any], counts: dict[int, Counter]) -> dict[int, Counter]:
    """Sum each decision's enforcements' counters (over every device they were read from)."""
    total: dict[int, Counter] = {}
    for e in enforcements:
        if e.id in counts:
            held = total.get(e.decision_id)
            total[e.decision_id] = counts[e.id] if held is None else held + counts[e.id]
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
    total: dict[int, Counter] = {}
    with ThreadPoolExecutor(max_workers=min(8, len(devices) or 1)) as pool:
        for counts in pool.map(one, devices):
            for i, c in counts.items():
                held = total.get(i)
                total[i] = c if held is None else held + c  # equal to Counter() + c, with no model made
    return dict(total)


class Sampler:
    """What each decision's counter did over time, to flag a block that is not working.

    A block whose counter has stayed at zero since it was first read *never saw traffic* (a wrong
    target, or traffic that takes another path); one whose counter has not moved for its idle
    threshold *stopped seeing traffic* — the attack may be over, which a detector behind its own
    blackhole cannot see. Both are hints for a person (or an opted-in playbook), never a verdict.
    The threshold is the playbook's ``flag_idle_after`` (per category), handed in by
    :meth:`observe`; ``idle`` is the default for decisions observed without one.
    """

    def __init__(self, idle: float = 600.0):
        self.idle = idle
        self._first: dict[int, float] = {}
        self._last: dict[int, tuple[Counter, float]] = {}  # value, when it last changed
        self._idle: dict[int, float] = {}  # per decision: its playbook's flag_idle_after

    def observe(self, totals: dict[int, Counter], at: float, idle: Mapping[int, float] | None = None) -> None:
        """Record each decision's value at ``at``; ``idle``: decision id → seconds before it is flagged."""
        self._idle.update(idle or {})
        for did, value in totals.items():
            self._first.setdefault(did, at)
            seen = self._last.get(did)
            if seen is None or seen[0] != value:
                self._last[did] = (value, at)

    def idle_for(self, decision_id: int, at: float) -> float | None:
        """Seconds this decision's counter has not moved (since first read, if it never counted)."""
        seen = self._last.get(decision_id)
        if seen is None:
            return None
        return at - (self._first[decision_id] if seen[0].packets == 0 else seen[1])

    def flag(self, decision_id: int, at: float) -> str | None:
        seen = self._last.get(decision_id)
        idle = self._idle.get(decision_id, self.idle)
        if seen is None or at - self._first[decision_id] < idle:
            return None
        value, changed = seen
        if value.packets == 0:
            return "no traffic seen"
        if at - changed >= idle:
            return f"traffic stopped {int((at - changed) // 60)} min ago"
        return None


def idle_thresholds(ctx: Any, enforcements: Iterable[Any]) -> dict[int, float]:
    """Decision id → its category's ``flag_idle_after`` in seconds (decisions without a playbook: none)."""
    books = ctx.playbooks
    return {
        e.decision_id: books[e.violation].flag_idle_after.total_seconds() for e in enforcements if e.violation in books
    }


def counted(store: Any, counts: dict[int, Counter]) -> list[Any]:
    """The active enforcements among those the devices counted, read by id: a counter read and a
    ``/metrics`` scrape cost what the devices counted, not a read of every current decision with
    its enforcements (at 10,000 active that read was three quarters of the API thread's samples,
    and a scrape right after a large install timed out)."""
    from .model import Status

    return [e for e in store.enforcements_by_id(sorted(counts)) if e.status is Status.ACTIVE]


class Counted:
    """:func:`counted`, followed through the store's change serial: the models of the counted
    enforcements are kept, and a read after a change reads only the rows written since (the change
    feed, :mod:`enforcer.feed`) and the ids not read before. At 10,000 active a ``/metrics`` scrape
    read and built all 10,000 models each time, whether anything changed or not.

    The serial is read before the rows, as :class:`enforcer.desired.DesiredState` reads it: a write
    during the read only makes the next call read its rows again. The answer equals :func:`counted`'s
    (same models, in id order). A store without the feed's trigger reads every counted row again
    each time the serial moves."""

    def __init__(self, store: Any):
        import threading

        from . import feed

        self.store = store
        self._lock = threading.Lock()
        self._feed = bool(feed.statements(store.engine.dialect.name))
        self.serial: int | None = None  # the serial the rows below are current at
        self._rows: dict[int, Any] = {}  # id → the enforcement's model (any status), for the ids counted
        self._absent: set[int] = set()  # ids counted that the store does not hold, at ``serial``
        self._last: tuple[Mapping[int, Counter], int, list[Any]] | None = None  # counts, serial, the answer
        #: Enforcement models read from the store, for the tests that count work.
        self.rows_read = 0

    def __call__(self, counts: Mapping[int, Counter]) -> list[Any]:
        from .model import Status

        with self._lock:
            serial = self.store.serial()
            last = self._last
            if last is not None and last[0] is counts and last[1] == serial:
                return list(last[2])
            if self.serial is None or serial < self.serial or not self._feed:
                if serial != self.serial:
                    self._rows, self._absent = {}, set()
            elif serial != self.serial:
                changed = self.store.enforcements_changed_since(self.serial)
                self.rows_read += len(changed)
                for e in changed:
                    self._rows[e.id] = e
                    self._absent.discard(e.id)
            self.serial = serial
            rows = self._rows
            missing = [i for i in sorted(counts) if i not in rows and i not in self._absent]
            if missing:
                read = self.store.enforcements_by_id(missing)
                self.rows_read += len(read)
                rows.update((e.id, e) for e in read)
                self._absent.update(i for i in missing if i not in rows)
            if len(rows) > len(counts):  # ids no device counts any more: let them go
                self._rows = rows = {i: rows[i] for i in counts if i in rows}
                self._absent.intersection_update(counts)
            found = [rows[i] for i in sorted(counts) if i in rows and rows[i].status is Status.ACTIVE]
            self._last = (counts, serial, found)
            return list(found)


class CounterCache:
    """Counters for pages and API reads: read from the devices at most every ``ttl`` seconds
    (the console polls every two; a device session per poll would load the NOC's routers)."""

    def __init__(self, ctx: Any, ttl: float = 10.0, sampler: Sampler | None = None):
        import threading

        self.ctx, self.ttl = ctx, ttl
        self.sampler = sampler or Sampler()
        self._lock = threading.Lock()
        self._at = float("-inf")
        self._counts: dict[int, Counter] = {}
        self.counted = Counted(ctx.store)

    def read(self, at: float | None = None) -> dict[int, Counter]:
        import time

        at = time.monotonic() if at is None else at
        with self._lock:
            if at - self._at >= self.ttl:
                self._counts, self._at = read_counters(self.ctx), at
                enforcements = self.counted(self._counts)
                self.sampler.observe(
                    by_decision(enforcements, self._counts), at, idle_thresholds(self.ctx, enforcements)
                )
            return self._counts


class DroppedCollector:
    """``/metrics``: ``enforcer_decision_dropped_packets`` / ``_bytes`` per active decision (as
    counters: they only grow, except when a device re-creates the element), read at scrape time
    through the cache.

    The two families are kept while the devices' counts (the cache's read) and the store's change
    serial both stand: a scrape then costs a read of the serial, not a pass over every counted
    enforcement (prometheus' exposition only reads them)."""

    def __init__(self, cache: CounterCache):
        self.cache = cache
        self._kept: tuple[dict[int, Counter], int | None, tuple[Any, Any]] | None = None

    def collect(self) -> Iterable[Any]:
        counts = self.cache.read()
        enforcements = self.cache.counted(counts)
        kept = self._kept
        if kept is None or kept[0] is not counts or kept[1] != self.cache.counted.serial:
            kept = self._kept = (counts, self.cache.counted.serial, _dropped_families(enforcements, counts))
        yield from kept[2]


def _dropped_families(enforcements: list[Any], counts: dict[int, Counter]) -> tuple[Any, Any]:
    from prometheus_client.core import CounterMetricFamily

    totals = by_decision(enforcements, counts)
    violation = {e.decision_id: e.violation.value for e in enforcements}
    packets = CounterMetricFamily(
        "enforcer_decision_dropped_packets",
        "Packets an active decision's enforcements dropped or policed, summed over the devices that count them",
        labels=("decision", "category"),
    )
    octets = CounterMetricFamily(
        "enforcer_decision_dropped_bytes",
        "Bytes an active decision's enforcements dropped or policed",
        labels=("decision", "category"),
    )
    for did, c in sorted(totals.items()):
        packets.add_metric((str(did), violation[did]), c.packets)
        octets.add_metric((str(did), violation[did]), c.bytes)
    return packets, octets


def lift_idle(ctx: Any, sampler: Sampler, at: float) -> list[int]:
    """End each active decision whose category's playbook opts in (``lift_when_idle``) and whose
    counters have not moved for that long; audited as enforcer's, with the reason. Returns the ids."""
    from . import service

    lifted = []
    for rec in ctx.store.decisions(active_only=True):
        book = ctx.playbooks.get(rec.violation)
        idle = sampler.idle_for(rec.id, at)
        if book is None or book.lift_when_idle is None or idle is None:
            continue
        if idle >= book.lift_when_idle.total_seconds():
            why = f"no traffic counted for {int(idle // 60)} min (playbook lift_when_idle)"
            service.unblock(ctx, str(rec.id), actor="enforcer", source="counters", reason=why)
            lifted.append(rec.id)
    return lifted
