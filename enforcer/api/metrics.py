"""Prometheus metrics of one enforcer server: what came in, what was pushed, how fast it took effect.

Each app gets its own registry (tests build many apps in one process; the global default
registry would refuse the second set of names). Scrape ``/metrics``. Every value an ``outcome``
label can take is a constant here, and docs/metrics.md lists exactly these (a test compares them).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from itertools import chain
from typing import Literal, get_args

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

from ..hooks.intake import Outcome
from ..inventory import Inventory, PrefixSet
from ..model import Enforcement
from ..push import PushResult
from ..render import build_section

#: Latency buckets, 10 ms to 60 s: sub-second is the goal for detector-driven blocks, so the
#: bounds are dense below a second; a pass slower than a minute is an incident, not a distribution.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
PushOutcome = Literal["ok", "failed", "rolled-back"]
PassOutcome = Literal["ok", "failed"]
#: Every value of each metric's ``outcome`` label.
OUTCOMES: dict[str, tuple[str, ...]] = {
    "enforcer_decisions_total": get_args(Outcome),
    "enforcer_pushes_total": get_args(PushOutcome),
    "enforcer_reconcile_passes_total": get_args(PassOutcome),
}
# No `<name>_created` samples: Prometheus stores each as one more gauge series per label set, and
# nothing here reads them (rate() needs no creation time).
disable_created_metrics()
#: Pending decisions remembered for the latency histogram; beyond this the oldest are forgotten.
MAX_PENDING = 10_000


class Metrics:
    def __init__(self, active: Callable[[], float] | None = None):
        self.registry = CollectorRegistry()
        self.decisions = Counter(
            "enforcer_decisions",
            "Decisions received, by source, category and outcome (docs/metrics.md lists the outcomes)",
            ("source", "category", "outcome"),
            registry=self.registry,
        )
        self.pushes = Counter(
            "enforcer_pushes",
            "Configuration pushes, by device and outcome (ok, failed, rolled-back)",
            ("device", "outcome"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "enforcer_decision_applied_seconds",
            "Seconds from a decision being stored to one device that carries it confirming it, by device",
            ("device", "platform"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.push_seconds = Histogram(
            "enforcer_push_seconds",
            "Seconds one push to one device took (connect, load, commit, confirm), every outcome",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.active = Gauge("enforcer_active_enforcements", "Active enforcements in the desired set",
                            registry=self.registry)
        if active is not None:
            self.active.set_function(active)
        self.passes = Counter("enforcer_reconcile_passes", "Device passes of the reconcile workers, by outcome",
                              ("outcome",), registry=self.registry)
        for outcome in get_args(PassOutcome):  # both series exist from the start: rate() needs a zero
            self.passes.labels(outcome=outcome)
        self._pending: dict[int, _Pending] = {}
        self._lock = threading.Lock()

    def decision(self, source: str, category: str, outcome: Outcome) -> None:
        self.decisions.labels(source=source, category=category, outcome=outcome).inc()

    def stored(self, decision_id: int, devices: Iterable[str], at: float | None = None) -> None:
        """A decision was stored that ``devices`` must carry: its latency clock starts now.

        A decision no device carries (an RTBH where no device speaks BGP) has nothing to wait for
        and no latency to report.
        """
        waiting = set(devices)
        if not waiting:
            return
        with self._lock:
            self._pending.setdefault(decision_id, _Pending(at if at is not None else time.monotonic(), waiting))
            while len(self._pending) > MAX_PENDING:
                self._pending.pop(next(iter(self._pending)))

    def pushed(self, result: PushResult, platform: str, *, started: float, done: float | None = None) -> None:
        """One device's worker finished a pass (:mod:`enforcer.pipeline`): count it, and time every
        pending decision this device carries that was stored before the pass ``started``.

        One latency sample per decision and device, from the decision's commit to that device's
        confirmation: a slow router shows as its own series, and a dead one delays only its own
        samples (they are taken when it finally takes the decision).
        """
        if result.changed or not result.ok:
            outcome: PushOutcome = "ok" if result.ok else ("rolled-back" if result.rolled_back else "failed")
            self.pushes.labels(device=result.device, outcome=outcome).inc()
            self.push_seconds.observe(result.seconds)
        self.passes.labels(outcome="ok" if result.ok else "failed").inc()
        if not result.ok:
            return
        done = time.monotonic() if done is None else done
        applied = []
        with self._lock:
            for k, p in list(self._pending.items()):
                if p.since <= started and result.device in p.waiting:
                    p.waiting.discard(result.device)
                    applied.append(p.since)
                    if not p.waiting:
                        del self._pending[k]
        for since in applied:
            self.latency.labels(device=result.device, platform=platform).observe(done - since)


@dataclass
class _Pending:
    since: float
    waiting: set[str]


def carriers(inventory: Inventory, enforcements: Iterable[Enforcement]) -> set[str]:
    """The devices whose managed section holds any of ``enforcements``: where a decision must land."""
    return carriers_of(inventory, {0: enforcements})[0]


def carriers_of(inventory: Inventory, decisions: Mapping[int, Iterable[Enforcement]]) -> dict[int, set[str]]:
    """:func:`carriers` of several decisions (id → enforcements) with one section per device for all.

    Whether an enforcement lands on a device never depends on the other enforcements, nor on its
    target beyond the address family and whether it touches a protected prefix (the build's last
    guard): enforcements equal in everything else land on the same devices. So each device's
    section is built over one enforcement of each such class, and a list of 500 alike blocks costs
    one small build per device, not a build of all 500 (a third of a list request's CPU).
    """
    listed = {did: list(es) for did, es in decisions.items()}
    guarded = PrefixSet(inventory.guardrails.protected)
    first: dict[tuple, Enforcement] = {}  # class → its representative
    members: dict[int, tuple] = {}  # enforcement id → its class
    for es in listed.values():
        for e in es:
            key = _landing(e, guarded)
            first.setdefault(key, e)
            members[e.id] = key
    lands: dict[tuple, set[str]] = {key: set() for key in first}
    by_id = {e.id: key for key, e in first.items()}
    for name, device in inventory.devices.items():
        section = build_section(device, list(first.values()), inventory)
        for entry in chain(section.acl, section.null_routes, section.rtbh, section.rate_limits,
                           section.prefix_filters, section.anti_spoof):
            for i in entry.ids:
                lands[by_id[i]].add(name)
    return {did: set().union(*(lands[members[e.id]] for e in es)) for did, es in listed.items()}


def _landing(e: Enforcement, guarded: PrefixSet) -> tuple:
    """Everything about ``e`` that may decide where it lands: all but its identity, its comment and
    its exact target (of which only the family and the protected-prefix guard count)."""
    return (e.action, e.violation, e.params, e.roles, e.customer, e.asn, e.status, e.expires_at,
            e.target.version, guarded.overlaps(e.target))
