"""The reconcile loop: expiry, retries with backoff, drift repair, coalesced pushes.

Level-triggered like a Kubernetes controller: every pass expires what is due and makes every
device equal its rendered section, whatever happened in between (a missed event, a manual edit
on the router, a device that was down). ``kick()`` asks for a pass soon; kicks that arrive within
``coalesce`` seconds of each other become one pass, so a burst of detector alerts is one push per
device. A device whose push fails is retried with exponential backoff instead of every pass.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .lease import BUSY
from .push import PushResult
from .service import Context, ReconcileReport, reconcile_once

log = logging.getLogger("enforcer.reconcile")


@dataclass
class Backoff:
    """Per-device retry schedule after failures: base · 2^(failures-1), capped."""

    base: float = 2.0
    cap: float = 300.0
    failures: dict[str, int] = field(default_factory=dict)
    not_before: dict[str, float] = field(default_factory=dict)

    def ready(self, device: str, at: float) -> bool:
        return at >= self.not_before.get(device, 0.0)

    def record(self, result: PushResult, at: float) -> None:
        if result.ok:
            self.failures.pop(result.device, None)
            self.not_before.pop(result.device, None)
            return
        n = self.failures.get(result.device, 0) + 1
        self.failures[result.device] = n
        self.not_before[result.device] = at + min(self.cap, self.base * 2 ** (n - 1))


class Reconciler:
    """Runs :func:`service.reconcile_once` every ``interval`` seconds and soon after each ``kick``."""

    def __init__(
        self,
        ctx: Context,
        interval: float = 30.0,
        coalesce: float = 0.2,
        on_report: Callable[[ReconcileReport], None] | None = None,
    ):
        self.ctx = ctx
        self.interval = interval
        self.coalesce = coalesce
        self.on_report = on_report
        self.backoff = Backoff()
        #: Devices whose last push failed for their input (a render error), and the desired set it failed on.
        self.stuck: dict[str, frozenset[tuple[int, object]]] = {}
        self._wake = threading.Event()
        #: Set while the loop waits for the next kick or interval (tests and shutdown wait on it).
        self.idle = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.passes = 0

    def _desired(self) -> frozenset[tuple[int, object]]:
        """The input of every render: the desired set's enforcements (ids and expiries)."""
        return frozenset((e.id, e.expires_at) for e in self.ctx.store.active_enforcements())

    def kick(self) -> None:
        """Ask for a pass soon (a new decision, an unblock); cheap and safe from any thread."""
        self._wake.set()

    def run_pass(self) -> ReconcileReport:
        """One pass over every device not waiting out a backoff, nor stuck on a permanent error."""
        now = time.monotonic()
        desired = self._desired()
        ready = [
            name for name in self.ctx.inventory.devices
            if self.backoff.ready(name, now) and self.stuck.get(name) != desired
        ]  # fmt: skip
        report = reconcile_once(self.ctx, ready)
        for result in report.results:
            if result.permanent:
                # Retrying cannot help until the decisions change: said (and audited) once, not every pass.
                self.stuck[result.device] = desired
                log.error("push to %s failed: %s (not retried until the decisions change)", result.device,
                          result.error)
                continue
            self.stuck.pop(result.device, None)
            if not result.ok and (result.error or "").startswith(BUSY):
                self.kick()  # another pusher has it now: try again soon, no backoff (the device is fine)
                continue
            self.backoff.record(result, time.monotonic())
            if not result.ok:
                log.warning("push to %s failed: %s (retry in backoff)", result.device, result.error)
        self.passes += 1
        if self.on_report:
            self.on_report(report)
        return report

    def run(self) -> None:
        """Loop until :meth:`stop`; never dies on an exception, it logs it and tries again later."""
        while not self._stop.is_set():
            try:
                self.run_pass()
            except Exception:  # the loop must outlive any one bad pass
                log.exception("reconcile pass failed")
            self.idle.set()
            self._wake.wait(self.interval)
            self.idle.clear()
            if self._wake.is_set() and not self._stop.is_set():
                time.sleep(self.coalesce)  # let a burst of kicks land: one pass for all of them
            self._wake.clear()

    def start(self) -> threading.Thread:
        self._thread = threading.Thread(target=self.run, name="enforcer-reconcile", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
