"""Prometheus metrics of one enforcer server: what came in, what was pushed, how fast it took effect.

Each app gets its own registry (tests build many apps in one process; the global default
registry would refuse the second set of names). Scrape ``/metrics``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

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
        self._pending: dict[int, float] = {}
        self._lock = threading.Lock()

    def decision(self, source: str, category: str, outcome: str) -> None:
        self.decisions.labels(source=source, category=category, outcome=outcome).inc()

    def stored(self, decision_id: int, at: float | None = None) -> None:
        """A decision was stored: its latency clock starts now."""
        with self._lock:
            self._pending.setdefault(decision_id, at if at is not None else time.monotonic())
            while len(self._pending) > MAX_PENDING:
                self._pending.pop(next(iter(self._pending)))

    def report(self, report: ReconcileReport, *, backlog: bool = False, started: float | None = None) -> None:
        """Count a pass's pushes; if nothing failed and no device waits in backoff, pending decisions are applied.

        ``started`` is when the pass began: only decisions stored before it can have been in it.
        """
        failed = False
        for r in report.results:
            if r.changed or not r.ok:
                outcome = "ok" if r.ok else ("rolled-back" if r.rolled_back else "failed")
                self.pushes.labels(device=r.device, outcome=outcome).inc()
            failed = failed or not r.ok
        self.passes.labels(outcome="failed" if failed else "ok").inc()
        if failed or backlog:
            return
        done = time.monotonic()
        cutoff = started if started is not None else done
        with self._lock:
            applied = [(k, t) for k, t in self._pending.items() if t <= cutoff]
            for k, _ in applied:
                del self._pending[k]
        for _, t in applied:
            self.latency.observe(done - t)
