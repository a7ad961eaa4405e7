"""Prometheus metrics of one enforcer server: what came in, what was pushed, how fast it took effect.

Each app gets its own registry (tests build many apps in one process; the global default
registry would refuse the second set of names). Scrape ``/metrics``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from ..inventory import Inventory
from ..model import Enforcement
from ..render import build_section
from ..service import ReconcileReport

#: Decision → applied latency buckets: sub-second is the goal for detector-driven blocks.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)
#: Pending decisions remembered for the latency histogram; beyond this the oldest are forgotten.
MAX_PENDING = 10_000


class Metrics:
    def __init__(self, active: Callable[[], float] | None = None):
        self.registry = CollectorRegistry()
        self.decisions = Counter(
            "enforcer_decisions",
            "Decisions received, by source, category and outcome (created, duplicate, refused, invalid, ended)",
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
            "Seconds from a decision being stored to the reconcile pass that put it on every device",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.active = Gauge("enforcer_active_enforcements", "Active enforcements in the desired set",
                            registry=self.registry)
        if active is not None:
            self.active.set_function(active)
        self.passes = Counter("enforcer_reconcile_passes", "Reconcile passes, by outcome (ok, failed)",
                              ("outcome",), registry=self.registry)
        self._pending: dict[int, _Pending] = {}
        self._lock = threading.Lock()

    def decision(self, source: str, category: str, outcome: str) -> None:
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

    def report(self, report: ReconcileReport, *, started: float | None = None) -> None:
        """Count a pass's pushes; a pending decision is applied once every device it waits on pushed fine.

        Per device, so a dead router delays only the decisions it carries (they are timed when
        it finally takes them) while every other decision is timed as it lands. ``started`` is
        when the pass began: only decisions stored before it can have been in it.
        """
        failed = False
        for r in report.results:
            if r.changed or not r.ok:
                outcome = "ok" if r.ok else ("rolled-back" if r.rolled_back else "failed")
                self.pushes.labels(device=r.device, outcome=outcome).inc()
            failed = failed or not r.ok
        self.passes.labels(outcome="failed" if failed else "ok").inc()
        done = time.monotonic()
        cutoff = started if started is not None else done
        ok = {r.device for r in report.results if r.ok}
        with self._lock:
            applied = []
            for k, p in list(self._pending.items()):
                if p.since <= cutoff:
                    p.waiting -= ok
                    if not p.waiting:
                        applied.append(p.since)
                        del self._pending[k]
        for since in applied:
            self.latency.observe(done - since)


@dataclass
class _Pending:
    since: float
    waiting: set[str]


def carriers(inventory: Inventory, enforcements: Iterable[Enforcement]) -> set[str]:
    """The devices whose managed section holds any of ``enforcements``: where a decision must land."""
    enforcements = list(enforcements)
    return {
        name for name, device in inventory.devices.items()
        if not build_section(device, enforcements, inventory).is_empty()
    }  # fmt: skip
