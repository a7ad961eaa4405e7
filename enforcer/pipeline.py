"""``enforcer serve``'s reconcile: a worker per device, woken by the decisions it carries.

One pass over every device made each decision wait for the slowest router of the pass, and
each device's second change wait for the whole next pass (issue 12: 4 s from ``POST`` to an FRR
route, 0.5 s to an nftables element, never a latency sample under 2 s). Here each device has its
own thread:

* a stored decision wakes only the devices that carry it (:meth:`Pipeline.wake`); a slow FRR
  commit never delays the nftables or OpenFlow devices of the same decision;
* a woken worker pushes at once; what arrives while it pushes sets its wake again, so it is all
  in the next push: a device's second change waits at most one push, and a burst is two pushes;
* a device whose inputs did not move (:class:`~enforcer.desired.Inputs`: the ids and expiries
  it carries) is neither rendered nor read — the serial answers without a query when nothing
  at all changed; the device is read in full when its session is new, on its periodic full
  reconcile (``interval``: drift, pending commits), at the first expiry among its enforcements,
  and on every push (the plan diffs against the device, never against a memory of it) — except
  that between full passes a driver whose device verifies it may plan on its last read-back
  (:meth:`~enforcer.drivers.base.Driver.reuse_reads`: FRR's router refuses the commit, applying
  nothing, when its running config changed since, and the retry below reads it again);
* the push itself is :func:`enforcer.service.push_device`, as ``enforcer apply`` pushes: under
  the device's lease (one pusher across instances), a pending commit settled first, on the
  device's warm session (:mod:`enforcer.sessions`); between full passes a device that renders
  its own state from the store (an OpenFlow switch's controller) is only told to sync
  (:func:`sync_device`).

Failures back off per device as before (:class:`~enforcer.reconcile.Backoff`); a permanent one
(a render error) waits for the device's inputs to change; "device busy" (another pusher holds
the lease) is retried soon, without backoff. Expiry marking and other chores run on their own
timer, so no device waits for them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime

from . import service
from .desired import DesiredState, Inputs
from .drivers.base import Driver
from .inventory import Device
from .lease import BUSY, KeptLease, holder_name
from .model import now
from .plan import DevicePlan
from .push import PushResult, failure_reason
from .reconcile import Backoff
from .sessions import Sessions

log = logging.getLogger("enforcer.pipeline")

#: Seconds before a device another pusher holds is tried again (no backoff: the device is fine).
BUSY_RETRY = 0.5
#: Seconds past an enforcement's expiry before its device is rendered again (clocks disagree a little).
EXPIRY_SLACK = 0.05


@dataclass(frozen=True)
class Pass:
    """One worker pass, as the server's metrics and console see it."""

    device: Device
    result: PushResult
    #: time.monotonic() when the pass read the store: every decision stored before it is in it.
    started: float
    plan: DevicePlan | None = None
    #: The inputs this pass pushed and when (None: it pushed nothing), for the console's board.
    inputs: Inputs | None = None
    at: datetime | None = None


class DeviceWorker:
    """One device's loop: wait for a wake or a due time, then plan → push (or nothing to do)."""

    def __init__(self, pipeline: Pipeline, device: Device):
        self.pipeline = pipeline
        self.device = device
        self._wake = threading.Event()
        #: Set while the worker waits (tests and the benchmark wait on it).
        self.idle = threading.Event()
        self.passes = 0
        self._confirmed: Inputs | None = None  # the inputs of the last push the device confirmed
        self._stuck: frozenset | None = None  # the inputs a permanent error failed on
        self._next_full = 0.0  # monotonic; 0: the first pass reads everything
        self._next_expiry = float("inf")
        self._retry = float("inf")
        self._thread: threading.Thread | None = None
        #: The lease of the sync path, kept across a burst (lease.KeptLease): a sync in it writes no lease.
        self.lease = KeptLease(pipeline.ctx.store, device.name, pipeline.holder, pipeline.ctx.settings.lease_ttl)
        #: True from the pass's start until the device confirmed; the wakes that came meanwhile.
        self._pushing = False
        self._woken_pushing = 0

    def wake(self) -> None:
        if self._pushing:
            self._woken_pushing += 1
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"enforcer-push-{self.device.name}", daemon=True)
        self._thread.start()

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        stop = self.pipeline.stopping
        while not stop.is_set():
            try:
                self.run_pass()
            except Exception:  # the worker must outlive any one bad pass
                log.exception("pass on %s failed", self.device.name)
            self.passes += 1
            self.idle.set()
            self._wait()

    def _wait(self) -> None:
        """Until a wake, the periodic full pass, the next expiry or a busy retry; a device in
        backoff waits the backoff out first (wakes meanwhile are kept for after it).

        Two or more wakes while the pass just finished was pushing (before the device confirmed)
        mean a burst is arriving: the next pass waits ``coalesce`` seconds more to gather it, so a
        stream of decisions costs the device a push per window, not one per decision (each push is
        a render and writes that intake waits for). Anything less is pushed at once: a wake while
        idle (a lone decision), one wake during the push (a client that sends each decision once
        the previous one is confirmed: the switch shows the flow before its controller's reply is
        back here), or a wake during the pass's bookkeeping after the confirmation (the audit
        entry). Before, any wake during the pass waited the window: in a sequential stream at
        10,000 active, one decision in six waited 50 ms more.
        """
        stop = self.pipeline.stopping
        burst, self._woken_pushing = self._woken_pushing > 1 and self._wake.is_set(), 0
        while not stop.is_set():
            at = time.monotonic()
            not_before = self.pipeline.backoff.not_before.get(self.device.name, 0.0)
            if not_before > at:
                stop.wait(not_before - at)
                continue
            due = min(self._next_full, self._next_expiry, self._retry)
            if self._wake.wait(max(0.0, due - at)) or time.monotonic() >= due:
                break
        self.idle.clear()  # first: Pipeline.idle() never sees a worker idle with its wake taken
        if burst and self.pipeline.coalesce:
            stop.wait(self.pipeline.coalesce)
        self._wake.clear()  # before the pass reads the store: a wake during the pass is kept

    def run_pass(self) -> Pass | None:
        """One pass; returns what it did (None when the device's inputs failed before)."""
        self._pushing = True
        try:
            return self._pass()
        finally:
            self._pushing = False

    def _pass(self) -> Pass | None:
        p = self.pipeline
        started = time.monotonic()
        full = started >= self._next_full
        if full:
            self._next_full = started + p.interval
        self._retry = float("inf")
        at = now()
        last = self._confirmed
        fresh = p.sessions.fresh(self.device.name)
        serial = None
        if not full and not fresh and last is not None and started < self._next_expiry:
            serial = p.desired.serial()
            if serial == last.serial:
                return self._unchanged(started)  # nothing in the store moved since the device confirmed
        inputs = p.desired.inputs(self.device.role, at, serial)  # the serial just read: one store read less
        expiry = inputs.next_expiry(at)
        self._next_expiry = (started + (expiry - at).total_seconds() + EXPIRY_SLACK) if expiry else float("inf")
        if not full and not fresh and last is not None and inputs.keys == last.keys:
            self._confirmed = inputs
            return self._unchanged(started)  # others' decisions moved the serial; none of this device's
        if self._stuck == inputs.keys:
            return None  # a permanent error on these very inputs: said once, not retried
        warm = not full and not fresh and last is not None
        if warm and getattr(p.sessions.peek(self.device.name), "syncs_from_store", False):
            return self._sync(inputs, started)  # the controller renders and diffs it: one round trip
        # Between full passes, on the session of a confirmed push, the pending-commit question is
        # skipped (push.plan_device): the device still refuses to commit over one.
        ask = not warm
        self.lease.release()  # push_device takes the device's lease (same holder) and gives it back itself
        done = self._push(inputs, at, started, ask)
        if not done.result.ok and not fresh and not done.result.permanent and not _busy(done.result):
            # The warm session may have died unseen (a reset the health check could not tell):
            # once more on a new login, asking everything, before this counts as the device's failure.
            log.info("push to %s failed on a kept session (%s): once more on a new one", self.device.name,
                     done.result.error)
            done = self._push(inputs, now(), time.monotonic(), True)
        self._settle(inputs, done.result)
        return done

    def _push(self, inputs: Inputs, at, started: float, ask_pending: bool) -> Pass:
        p = self.pipeline
        p.board_begin(self.device.name)
        # Between full passes (the pending question skipped) the router's last read-back may stand
        # for a new read: the router verifies it before it commits (FRR's if-running).
        plan, result = service.push_device(p.ctx, self.device, inputs.enforcements, at, holder=p.holder,
                                           actor="enforcer", source="reconcile",
                                           session=lambda dev: p.sessions.use(dev, reuse_reads=not ask_pending),
                                           ask_pending=ask_pending)
        if not result.ok:
            p.sessions.drop(self.device.name)  # whatever broke, the next push logs in anew
        done = Pass(self.device, result, started, plan, inputs, at)
        p.report(done)
        return done

    def _sync(self, inputs: Inputs, started: float) -> Pass:
        """The device confirmed (or failed) when the sync returns: the pass is reported then, so the
        latency metric stops there, and the audit entry is written after it."""
        p = self.pipeline
        result, audit = sync_device(p.ctx, self.device, holder=p.holder, session=p.sessions.use,
                                    lease=self.lease.hold)
        self._pushing = False
        if not result.ok:
            p.sessions.drop(self.device.name)
            self.lease.release()
        done = Pass(self.device, result, started, inputs=inputs, at=now())
        p.report(done)
        if audit is not None:
            record_sync(p.ctx, audit, actor="enforcer", source="reconcile")
        self._settle(inputs, result)
        return done

    def _settle(self, inputs: Inputs, result: PushResult) -> None:
        name = self.device.name
        if result.permanent:
            self._stuck, self._confirmed = inputs.keys, None
            log.error("push to %s failed: %s (not retried until the decisions change)", name, result.error)
            return
        self._stuck = None
        if _busy(result):
            self._confirmed, self._retry = None, time.monotonic() + BUSY_RETRY
            return
        self.pipeline.backoff.record(result, time.monotonic())
        self._confirmed = inputs if result.ok else None  # a failure: the next pass asks everything
        if not result.ok:
            log.warning("push to %s failed: %s (retry in backoff)", name, result.error)

    def _unchanged(self, started: float) -> Pass:
        """The device holds what it confirmed last, and that is still the desired set."""
        done = Pass(self.device, PushResult(device=self.device.name, ok=True, changed=False, summary="unchanged"),
                    started)
        self.pipeline.report(done)
        return done


def sync_device(
    ctx: service.Context, dev: Device, *, holder: str, session: Callable[[Device], AbstractContextManager[Driver]],
    lease: Callable[[], AbstractContextManager[None]],
) -> tuple[PushResult, dict | None]:
    """One device that derives its state from the store itself (``Driver.syncs_from_store``: an
    OpenFlow switch, whose controller renders, diffs against what the switch confirmed and waits
    for the barrier): one round trip under the device's lease (``lease()``: serve's kept one,
    :class:`~enforcer.lease.KeptLease`), nothing rendered or read here. serve's worker uses it
    between full passes; the full pass plans and reads the switch back.

    Returns the result and the audit entry's detail to write (:func:`record_sync`; None: nothing to
    audit), which the caller writes once it has reported the confirmation: the entry is a write
    transaction, and the device confirmed before it."""
    span = {"holder": holder}  # as push_device: the audit shows pushes to one device never overlap
    try:
        with lease(), session(dev) as drv:
            span["started"] = now().isoformat()
            report = drv.sync()
            span["finished"] = now().isoformat()
    except Exception as exc:  # as push_device: this device's result, never an exception
        return PushResult(device=dev.name, ok=False, changed=False, summary="", error=failure_reason(exc),
                          permanent=isinstance(exc, service.PERMANENT)), None
    changes = {k: v for k, v in (report.get("changes") or {}).items() if v}
    ok = bool(report.get("ok"))
    summary = ", ".join(f"{v} {k}" for k, v in sorted(changes.items())) or "no changes"
    result = PushResult(device=dev.name, ok=ok, changed=ok and bool(changes), summary=summary,
                        error=None if ok else report.get("error") or "sync failed",
                        seconds=float(report.get("seconds") or 0.0))
    if not (result.changed or not ok):
        return result, None
    return result, {"target": dev.name, "action": "apply" if ok else "apply-failed",
                    "detail": {"summary": summary, "error": result.error, "sync": report, "lease": span}}


def record_sync(ctx: service.Context, audit: dict, *, actor: str, source: str) -> None:
    """The audit entry of a sync (:func:`sync_device`); a failure to write it is logged, never the push's."""
    try:
        ctx.store.audit(actor=actor, source=source, **audit)
    except Exception:
        log.exception("the audit entry of the sync of %s failed", audit.get("target"))


def _busy(result: PushResult) -> bool:
    return not result.ok and (result.error or "").startswith(BUSY)


class Pipeline:
    """A :class:`DeviceWorker` per inventory device, the shared desired state and warm sessions."""

    def __init__(
        self,
        ctx: service.Context,
        interval: float = 30.0,
        coalesce: float = 0.0,
        on_pass: Callable[[Pass], None] | None = None,
        chores: Callable[[], None] | None = None,
    ):
        self.ctx = ctx
        self.interval = interval
        self.coalesce = coalesce
        self.on_pass = on_pass
        self.chores = chores
        self.on_begin: Callable[[str], None] | None = None
        self.backoff = Backoff()
        self.desired = DesiredState(ctx.store)
        self.sessions = Sessions(ctx.driver)
        self.holder = holder_name("reconcile enforcer")
        self.stopping = threading.Event()
        self.workers = {name: DeviceWorker(self, dev) for name, dev in ctx.inventory.devices.items()}
        self._chores: threading.Thread | None = None

    @property
    def passes(self) -> int:
        """Passes finished by all workers together."""
        return sum(w.passes for w in self.workers.values())

    def wake(self, devices: Iterable[str] | None = None) -> None:
        """A decision was stored or ended: push ``devices`` (None: every device) now."""
        for name in self.workers if devices is None else devices:
            worker = self.workers.get(name)
            if worker is not None:
                worker.wake()

    def kick(self) -> None:
        self.wake(None)

    def idle(self) -> bool:
        """Every worker is waiting and none has a wake pending."""
        return all(w.idle.is_set() and not w._wake.is_set() for w in self.workers.values())

    def board_begin(self, device: str) -> None:
        if self.on_begin is not None:
            self.on_begin(device)

    def report(self, done: Pass) -> None:
        if self.on_pass is not None:
            try:
                self.on_pass(done)
            except Exception:  # a metric or the console must never stop a push
                log.exception("reporting the pass on %s failed", done.device.name)

    def start(self) -> None:
        for w in self.workers.values():
            w.start()
        self._chores = threading.Thread(target=self._run_chores, name="enforcer-chores", daemon=True)
        self._chores.start()

    def _run_chores(self) -> None:
        """Expiry marking (the audit's ``expire``) and the server's own chores, every ``interval``.

        The devices do not wait for it: an expired enforcement leaves the desired set at its
        expiry by itself (each worker is due then), the marking only records it.
        """
        while not self.stopping.is_set():
            try:
                self.ctx.store.expire_due()
                if self.chores is not None:
                    self.chores()
            except Exception:
                log.exception("reconcile chores failed")
            self.stopping.wait(self.interval)

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        for w in self.workers.values():
            w.wake()
        for w in self.workers.values():
            w.join(timeout)
            w.lease.release()
        if self._chores is not None:
            self._chores.join(timeout)
        self.sessions.close()
