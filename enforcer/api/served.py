"""What one running API holds: the Context, its metrics, its device pipelines, its denial logs
(the API's and the console's).

Made once per app, at start-up or on the first request (tests hand in a factory over a
temporary store). The routes reach it through :func:`served`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from fastapi import Request

from .. import service
from ..console.board import DeviceBoard
from ..counters import CounterCache, DroppedCollector, lift_idle
from ..hooks.intake import ItemResult
from ..model import Enforcement, EnforcerError
from ..notify import NoticeWorker
from ..pipeline import Pass, Pipeline
from ..render import build_section, render_section
from .auth import DenialLog
from .metrics import Metrics, carriers, carriers_of
from .tokens import ensure_tables

log = logging.getLogger("enforcer.api")


class Served:
    def __init__(self, ctx: service.Context):
        ensure_tables(ctx.store)
        self.ctx = ctx
        self.metrics = Metrics(active=ctx.store.count_active)
        self.denials = DenialLog()
        self.console_denials = DenialLog(source="console")  # a detector token refused by the console
        self.board = DeviceBoard()  # console's device states
        self.counters = CounterCache(ctx)  # what each block dropped: console, /v1/counters, /metrics
        self.metrics.registry.register(DroppedCollector(self.counters))
        self.loop: Pipeline | None = None
        self.notices: NoticeWorker | None = None

    def start_loop(self, interval: float, coalesce: float) -> None:
        self.loop = Pipeline(self.ctx, interval=interval, coalesce=coalesce, on_pass=self._passed,
                             chores=self._chores)
        self.loop.on_begin = lambda name: self.board.begin_pass([name])
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
        self.console_denials.flush(self.ctx.store)

    def _passed(self, done: Pass) -> None:
        """A device's worker finished a pass: the metrics, and the console's board when it pushed."""
        self.metrics.pushed(done.result, done.device.platform.value, started=done.started)
        if done.plan is not None or done.inputs is not None:
            self.board.done(done.device.name, done.result, self._pushed(done))

    def _pushed(self, done: Pass) -> Callable[[], str] | None:
        """Renders, when the console asks, the section of what ``done`` pushed (the board's "verified")."""
        if done.inputs is None or done.at is None:
            return None
        dev, inputs, at, inv = done.device, done.inputs, done.at, self.ctx.inventory
        return lambda: render_section(build_section(dev, inputs.enforcements, inv, at))

    def _chores(self) -> None:
        """On the pipeline's timer: blocks whose playbook lifts them when idle (opted in: read, then lift)."""
        if any(book.lift_when_idle for book in self.ctx.playbooks.values()):
            self.counters.read()
            if lift_idle(self.ctx, self.counters.sampler, time.monotonic()):
                self.kick()

    def kick(self, devices: Iterable[str] | None = None) -> None:
        """A decision was stored or ended: ``devices`` (None: every device) push now."""
        if self.loop is not None:
            self.loop.wake(devices)

    def record(self, results: Iterable[ItemResult]) -> None:
        """Count each result; start the latency clock of what was created; wake the devices that carry it
        (an end, or a decision whose carriers cannot be told, wakes every device)."""
        results = list(results)
        created = {r.decision_id: r.enforcements for r in results if r.outcome == "created" and r.decision_id}
        woken: set[str] | None = set()
        for r in results:
            self.metrics.decision(r.source or "none", r.violation or "none", r.outcome)
            if r.outcome == "ended":
                woken = None
        for decision_id, devices in self._carriers(created).items():
            if devices is None:
                woken = None
                continue
            self.metrics.stored(decision_id, devices)
            if woken is not None:
                woken |= devices
        if woken is None or woken:
            self.kick(woken)

    def _carriers(self, created: dict[int, list[Enforcement]]) -> dict[int, set[str] | None]:
        """Each created decision's carriers (None: cannot be told), one section per device for the lot;
        should that fail, decision by decision, so one bad decision stops only its own clock."""
        if not created:
            return {}
        try:
            return {k: v for k, v in carriers_of(self.ctx.inventory, created).items()}
        except EnforcerError:
            pass
        found: dict[int, set[str] | None] = {}
        for decision_id, enforcements in created.items():
            try:
                found[decision_id] = carriers(self.ctx.inventory, enforcements)
            except EnforcerError as exc:  # stored all the same: a metric must never fail a 2xx
                log.warning("decision %s: no latency clock (%s)", decision_id, exc)
                found[decision_id] = None
        return found


def served(request: Request) -> Served:
    return request.app.state.served
