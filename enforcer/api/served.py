"""What one running API holds: the Context, its metrics, its reconcile loop, its denial log.

Made once per app, at start-up or on the first request (tests hand in a factory over a
temporary store). The routes reach it through :func:`served`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from fastapi import Request

from .. import service
from ..console.board import DeviceBoard
from ..counters import CounterCache, DroppedCollector, lift_idle
from ..hooks.intake import ItemResult
from ..model import EnforcerError
from ..notify import NoticeWorker
from ..reconcile import Reconciler
from .auth import DenialLog
from .metrics import Metrics, carriers
from .tokens import ensure_tables

log = logging.getLogger("enforcer.api")


class _Loop(Reconciler):
    """The reconcile loop, telling the metrics when each pass started and how it went."""

    def __init__(
        self,
        ctx: service.Context,
        metrics: Metrics,
        board: DeviceBoard,
        counters: CounterCache,
        interval: float,
        coalesce: float,
    ):
        super().__init__(ctx, interval=interval, coalesce=coalesce, on_report=self._report, on_device=board.done)
        self.metrics = metrics
        self.board = board
        self.counters = counters
        self._started = 0.0

    def run_pass(self) -> service.ReconcileReport:
        self._started = time.monotonic()
        if any(book.lift_when_idle for book in self.ctx.playbooks.values()):  # opted in: read, then lift
            self.counters.read()
            lift_idle(self.ctx, self.counters.sampler, self._started)
        self.board.begin_pass(list(self.ctx.inventory.devices))
        return super().run_pass()

    def _report(self, report: service.ReconcileReport) -> None:
        self.metrics.report(report, started=self._started)


class Served:
    def __init__(self, ctx: service.Context):
        ensure_tables(ctx.store)
        self.ctx = ctx
        self.metrics = Metrics(active=ctx.store.count_active)
        self.denials = DenialLog()
        self.board = DeviceBoard(lambda name: service.render_device(ctx, name))  # console's device states
        self.counters = CounterCache(ctx)  # what each block dropped: console, /v1/counters, /metrics
        self.metrics.registry.register(DroppedCollector(self.counters))
        self.loop: _Loop | None = None
        self.notices: NoticeWorker | None = None

    def start_loop(self, interval: float, coalesce: float) -> None:
        self.loop = _Loop(self.ctx, self.metrics, self.board, self.counters, interval, coalesce)
        self.loop.start()
        if self.ctx.inventory.notices.enabled:  # its own thread: a dead mail relay never delays a push
            self.notices = NoticeWorker(self.ctx.store, self.ctx.inventory, self.ctx.inventory.notices.interval)
            self.notices.start()

    def stop(self) -> None:
        if self.loop is not None:
            self.loop.stop()
        if self.notices is not None:
            self.notices.stop()
        self.denials.flush(self.ctx.store)

    def kick(self) -> None:
        """A decision was stored or ended: the loop pushes soon (bursts coalesce into one pass)."""
        if self.loop is not None:
            self.loop.kick()

    def record(self, results: Iterable[ItemResult]) -> None:
        """Count each result; start the latency clock of what was created; kick the loop if anything changed."""
        changed = False
        for r in results:
            self.metrics.decision(r.source or "none", r.violation or "none", r.outcome)
            if r.outcome == "created" and r.decision_id:
                try:
                    devices = carriers(self.ctx.inventory, r.enforcements)
                except EnforcerError as exc:  # stored all the same: a metric must never fail a 2xx
                    log.warning("decision %s: no latency clock (%s)", r.decision_id, exc)
                else:
                    self.metrics.stored(r.decision_id, devices)
            changed = changed or r.outcome in ("created", "ended")
        if changed:
            self.kick()


def served(request: Request) -> Served:
    return request.app.state.served
