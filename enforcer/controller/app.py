"""The os-ken application: keeps each switch's enforcer-owned flows and meters equal to the desired set.

The desired set is never held in memory between syncs: every sync asks ``desired(device)`` (the
store, rendered through ``templates/openflow/section.j2``), reads the switch's own flows and meters
back (and other owners' flows in enforcer's priority band, which it must not write over), and
sends only the difference — in one OpenFlow 1.4 bundle, committed atomically, when the switch
takes bundles (:mod:`.bundle`) — ending with a barrier so that "applied" means the switch
confirmed it. A switch connecting (first time, after a reconnect, after ovs-vswitchd restarted,
or after this controller restarted) gets the same full resync: nothing is lost in between.

Runs on os-ken's eventlet hub (``OSKEN_HUB_TYPE=eventlet``, set by :mod:`enforcer.controller`):
syncs run in their own green threads, never in the event loop that delivers their replies. Their
CPU-bound steps (store read, render, parse, diff, reading 50,000 flow stats) run in a native thread
with the garbage collector paused (:mod:`.offhub`), so the hub keeps answering the switch's echo
requests meanwhile.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from os_ken.base import app_manager
from os_ken.controller import ofp_event
from os_ken.controller.handler import CONFIG_DISPATCHER, DEAD_DISPATCHER, MAIN_DISPATCHER, set_ev_cls
from os_ken.lib import hub
from os_ken.ofproto import ofproto_v1_3, ofproto_v1_4

from ..inventory import Device, Platform
from ..lease import BUSY, DeviceBusy
from . import bundle, offhub, wire
from .flows import FlowError, Ownership, SwitchState, diff, ownership, unrecognised_line
from .live import Live, live_from_stats, read_slices
from .offhub import collector_paused, off_hub
from .pieces import DesiredFlows, Pieces, Wanted, diff_pieces

if hub.HUB_TYPE != "eventlet":  # docs/lab-facts.md: the native hub loses DEAD events and leaks threads
    raise RuntimeError("import enforcer.controller first: OSKEN_HUB_TYPE must be eventlet")

ALL_DISPATCHERS = [CONFIG_DISPATCHER, MAIN_DISPATCHER]
OPENFLOW_NAMES = {ofproto_v1_3.OFP_VERSION: "1.3", ofproto_v1_4.OFP_VERSION: "1.4"}
REPLY_TIMEOUT = 30.0
#: A switch that connects while another pusher holds its lease is tried again this often, this many
#: times: serve keeps a switch's lease a moment after its last sync (enforcer.lease.KeptLease), and a
#: switch that restarted meanwhile holds no flow at all until its connect sync gets through.
BUSY_RETRY = 0.5
BUSY_TRIES = 240
#: Seconds without a sync after which a full garbage collection left by an incremental sync runs (.offhub).
IDLE_COLLECT = 1.0
#: The enforcements a switch's section is made of, read from the store at every sync.
Desired = Callable[[Device], Wanted]
Devices = Callable[[], Iterable[Device]]
#: Holds a device's push lease for a block (enforcer.lease.device_lease), raising DeviceBusy.
Lease = Callable[[Device], AbstractContextManager[None]]


class SyncFailed(Exception):
    """A sync could not finish: switch gone, a reply timed out, or the switch refused a message."""


@dataclass
class _Waiter:
    """Collects the reply (or replies, for multipart) to one request, and errors naming its xid."""

    event: Any = field(default_factory=hub.Event)
    bodies: list[Any] = field(default_factory=list)
    error: str | None = None


@dataclass
class SyncReport:
    dpid: int
    device: str | None
    ok: bool
    changes: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None
    #: the flow-mods went in one committed-or-discarded bundle; None: nothing was sent
    atomic: bool | None = None
    #: seconds of each step (desired, live, diff, send): where a slow sync went, in its own report
    steps: dict[str, float] = field(default_factory=dict)
    #: requests the sync waited for the switch to answer (reads, barrier, bundle open/commit)
    round_trips: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "dpid": self.dpid,
            "device": self.device,
            "ok": self.ok,
            "changes": self.changes,
            "seconds": round(self.seconds, 6),
            "error": self.error,
            "atomic": self.atomic,
            "steps": {k: round(v, 6) for k, v in self.steps.items()},
            "round_trips": self.round_trips,
        }


class EnforcerController(app_manager.OSKenApp):
    """OpenFlow 1.3 or 1.4: meters and cookie masks are 1.3 features, bundles (one transaction per
    sync) 1.4; a switch speaking both negotiates 1.4."""

    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION, ofproto_v1_4.OFP_VERSION]

    def __init__(self, *args: Any, desired: Desired, devices: Devices, lease: Lease | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        # never name an attribute ``events``: it is OSKenApp's event queue (docs/lab-facts.md)
        self._desired = desired
        self._devices = devices
        self._lease = lease
        self.datapaths: dict[int, Any] = {}
        self._locks: dict[int, Any] = {}
        self._waiters: dict[tuple[int, int], _Waiter] = {}
        self._sync_errors: dict[int, tuple[set[int], dict[int, str]]] = {}
        #: requests waited for, per switch (each call of ``_requests`` is one round trip): a sync's
        #: report counts its own
        self.round_trips: dict[int, int] = {}
        self.reports: dict[int, SyncReport] = {}
        #: switches that refused to open a bundle since they connected: their changes go as batches
        self.no_bundles: set[int] = set()
        #: what each switch was last seen or confirmed (barrier) to hold; dropped on disconnect and error
        self._confirmed: dict[int, Live] = {}
        self._pieces = Pieces()
        self._syncing = 0
        self._last_sync = time.monotonic()

    def start(self) -> None:
        super().start()
        self.threads.append(hub.spawn(self._collect_when_idle))

    def _collect_when_idle(self) -> None:
        """The full garbage collection an incremental sync put off (.offhub), once no sync ran for
        :data:`IDLE_COLLECT` seconds: it stops the hub for about a second at 10,000 flows, which is
        no decision's latency here."""
        while True:
            hub.sleep(IDLE_COLLECT / 4)
            try:
                if offhub.full_due() and not self._syncing and time.monotonic() - self._last_sync >= IDLE_COLLECT:
                    offhub.collect_if_due()
            except Exception:  # noqa: BLE001 - logged; the next pause that does not defer collects
                self.logger.exception("idle garbage collection failed")

    # ------------------------------------------------------------ switches

    def device_for(self, dpid: int) -> Device | None:
        for dev in self._devices():
            if dev.platform is Platform.OPENFLOW and dev.datapath_id == dpid:
                return dev
        return None

    @set_ev_cls(ofp_event.EventOFPStateChange, [MAIN_DISPATCHER, DEAD_DISPATCHER])
    def _state_change(self, ev: Any) -> None:
        dp = ev.datapath
        if dp.id is None:
            return
        if ev.state == MAIN_DISPATCHER:
            self.datapaths[dp.id] = dp
            self.logger.info("switch %016x connected from %s: full resync", dp.id, dp.address)
            hub.spawn(self._sync_logged, dp.id, "connect")
        elif ev.state == DEAD_DISPATCHER and self.datapaths.get(dp.id) is dp:
            del self.datapaths[dp.id]
            self._confirmed.pop(dp.id, None)
            self.no_bundles.discard(dp.id)
            self.logger.info("switch %016x disconnected", dp.id)
            for (dpid, _xid), waiter in list(self._waiters.items()):
                if dpid == dp.id:
                    waiter.error = "switch disconnected"
                    waiter.event.set()

    def _sync_logged(self, dpid: int, why: str) -> None:
        """Entry point of spawned syncs: an exception in an os-ken thread would vanish otherwise."""
        try:
            report = self.sync_own(dpid)
            for _ in range(BUSY_TRIES if why == "connect" else 0):
                if report.ok or not (report.error or "").startswith(BUSY) or dpid not in self.datapaths:
                    break
                hub.sleep(BUSY_RETRY)
                report = self.sync_own(dpid)
            log = self.logger.info if report.ok else self.logger.error
            log("sync %016x (%s): %s", dpid, why, report.as_dict())
        except Exception:  # noqa: BLE001 - logged, the controller keeps serving other switches
            self.logger.exception("sync %016x (%s) crashed", dpid, why)

    # ------------------------------------------------------------ replies

    @set_ev_cls(ofp_event.EventOFPFlowStatsReply, ALL_DISPATCHERS)
    def _flow_stats(self, ev: Any) -> None:
        self._multipart(ev.msg)

    @set_ev_cls(ofp_event.EventOFPMeterConfigStatsReply, ALL_DISPATCHERS)
    def _meter_config(self, ev: Any) -> None:
        self._multipart(ev.msg)

    @set_ev_cls(ofp_event.EventOFPAggregateStatsReply, ALL_DISPATCHERS)
    def _aggregate(self, ev: Any) -> None:  # one struct, not a list of bodies
        waiter = self._waiters.get((ev.msg.datapath.id, ev.msg.xid))
        if waiter is not None:
            waiter.bodies.append(ev.msg.body)
            waiter.event.set()

    @set_ev_cls(ofp_event.EventOFPMeterStatsReply, ALL_DISPATCHERS)
    def _meter_stats(self, ev: Any) -> None:  # counters (.stats)
        self._multipart(ev.msg)

    def _multipart(self, msg: Any) -> None:
        waiter = self._waiters.get((msg.datapath.id, msg.xid))
        if waiter is None:
            return
        waiter.bodies.extend(msg.body)
        if not msg.flags & msg.datapath.ofproto.OFPMPF_REPLY_MORE:
            waiter.event.set()

    @set_ev_cls(ofp_event.EventOFPBarrierReply, ALL_DISPATCHERS)
    def _barrier(self, ev: Any) -> None:
        waiter = self._waiters.get((ev.msg.datapath.id, ev.msg.xid))
        if waiter is not None:
            waiter.event.set()

    @set_ev_cls(ofp_event.EventOFPBundleCtrlMsg, ALL_DISPATCHERS)
    def _bundle_reply(self, ev: Any) -> None:  # open and commit replies (.bundle)
        self._barrier(ev)

    @set_ev_cls(ofp_event.EventOFPErrorMsg, ALL_DISPATCHERS)
    def _error(self, ev: Any) -> None:
        msg = ev.msg
        dpid = msg.datapath.id
        text = f"switch error type={msg.type} code={msg.code} for xid {msg.xid}"
        waiter = self._waiters.get((dpid, msg.xid))
        if waiter is not None:
            waiter.error = text
            waiter.event.set()
            return
        sent = self._sync_errors.get(dpid)
        if sent is not None and msg.xid in sent[0]:
            sent[1][msg.xid] = text
        else:
            self.logger.warning("%016x: %s (not from a sync)", dpid or 0, text)

    @contextmanager
    def errors_for(self, dp: Any) -> Iterator[tuple[set[int], dict[int, str]]]:
        """Collect the switch's errors (xid → text, in arrival order) for the xids put into the
        yielded set, while the block runs."""
        sent: set[int] = set()
        errors: dict[int, str] = {}
        self._sync_errors[dp.id] = (sent, errors)
        try:
            yield sent, errors
        finally:
            self._sync_errors.pop(dp.id, None)

    def _request(self, dp: Any, msg: Any, timeout: float = REPLY_TIMEOUT) -> list[Any]:
        """Send one request and wait for its whole reply (all multipart parts)."""
        return self._requests(dp, [msg], timeout)[0]

    def _requests(self, dp: Any, msgs: list[Any], timeout: float = REPLY_TIMEOUT) -> list[list[Any]]:
        """Send requests back to back (one round trip for all), then wait for every reply."""
        self.round_trips[dp.id] = self.round_trips.get(dp.id, 0) + 1
        keys = []
        for msg in msgs:
            dp.set_xid(msg)
            keys.append((dp.id, msg.xid))
            self._waiters[keys[-1]] = _Waiter()
        try:
            for msg in msgs:
                if not dp.send_msg(msg):
                    raise SyncFailed("switch disconnected")
            deadline = time.monotonic() + timeout
            replies = []
            for msg, key in zip(msgs, keys, strict=True):
                waiter = self._waiters[key]
                if not waiter.event.wait(max(0.0, deadline - time.monotonic())):
                    raise SyncFailed(f"no reply to {type(msg).__name__} within {timeout:.0f}s")
                if waiter.error:
                    raise SyncFailed(waiter.error)
                replies.append(waiter.bodies)
            return replies
        finally:
            for key in keys:
                self._waiters.pop(key, None)

    # ------------------------------------------------------------ reading the switch

    def read_live(self, dp: Any, owner: Ownership) -> Live:
        """Every flow of enforcer's table and every meter. Enforcer's flows are those with its cookie
        (raw stats kept aside when they do not parse); another owner's flow matters when it lies in
        enforcer's priority band, where an ADD of the same priority and match would silently replace
        it; meters are enforcer's by id band.

        The table is read in slices by the low bits of the cookie (every flow, enforcer's or not,
        falls in exactly one), as many as :func:`read_slices` says for the table's flow count
        (one aggregate request first): os-ken parses a stats reply on the hub without yielding
        while data keeps arriving. One reply of 100,000 flows, and still 16 slices of 6,250 on the
        loaded machine, kept it from answering the switch's inactivity probe until the switch
        disconnected; about 1,000 flows are a few milliseconds of parsing, and between slices the
        hub is free."""
        ofp, parser = dp.ofproto, dp.ofproto_parser
        with collector_paused():  # os-ken builds ~10 objects per flow on the hub (.offhub)
            [total] = self._request(dp, parser.OFPAggregateStatsRequest(
                dp, 0, owner.table, ofp.OFPP_ANY, ofp.OFPG_ANY, 0, 0, parser.OFPMatch()))
            slices = read_slices(total.flow_count)
            stats: list[Any] = []
            for k in range(slices):
                stats += self._request(dp, parser.OFPFlowStatsRequest(
                    dp, 0, owner.table, ofp.OFPP_ANY, ofp.OFPG_ANY, k, slices - 1, parser.OFPMatch()))
            configs = self._request(dp, parser.OFPMeterConfigStatsRequest(dp, 0, ofp.OFPM_ALL))
            names = {number: name for name, number in wire.switch_ports(dp).items()}
            return off_hub(live_from_stats, ofp, owner, names, stats, configs)

    def state(self, dpid: int) -> str:
        """The live enforcer-owned flows and meters as text, like ``section.j2`` prints them."""
        dp = self.datapaths.get(dpid)
        if dp is None:
            raise SyncFailed(f"switch {dpid:016x} is not connected")
        owner = ownership(self.device_for(dpid))
        with self._lock(dpid):
            live = self.read_live(dp, owner)
            if live.strange:
                self._confirmed.pop(dpid, None)
            else:
                self._confirmed[dpid] = self._recognise(dpid, live)
        text = off_hub(live.state.text)
        return text + "".join(unrecognised_line(st.cookie, st.priority) + "\n" for st in live.strange)

    def _recognise(self, dpid: int, live: Live) -> Live:
        """A read that finds exactly what the switch last confirmed keeps those pieces, so the next
        sync diffs piece by piece: after serve's full pass (a plan reads the switch) the next
        decision otherwise diffed every flow of the switch against the desired set (20,000 at
        10,000 active: most of that decision's time). Compared off the hub (a set of each)."""
        before = self._confirmed.get(dpid)
        if before is None or before.pieces is None or live.strange or live.read is None:
            return live
        if off_hub(_same_state, live.read, before.pieces.state):
            return live._replace(pieces=before.pieces)
        return live

    # ------------------------------------------------------------ sync

    def _lock(self, dpid: int) -> Any:
        return self._locks.setdefault(dpid, hub.Semaphore())

    def sync(self, dpid: int, timeout: float = REPLY_TIMEOUT, full: bool = True, own: bool = False) -> SyncReport:
        """Make ``dpid``'s enforcer-owned flows and meters equal the desired set; barrier-confirmed.

        ``full`` reads the switch's flows and meters back first (always on connect, on the periodic
        resync and on rollback). Without it, the state the switch last confirmed or reported is
        compared instead, when there is one: enforcer is the only writer of its cookies, and at
        10,000 flows the read-back is half the time of a one-decision sync. ``state`` (what plan
        reads) refreshes it, so plan → apply compares against what the switch really holds.

        A desired flow whose priority and match another owner's flow already holds (seen at the
        last full read) is not sent: the report fails naming both, and that flow stays as it is.
        """
        started = time.monotonic()
        dp = self.datapaths.get(dpid)
        device = self.device_for(dpid)
        name = device.name if device else None
        if dp is None:
            return SyncReport(dpid, name, ok=False, error=f"switch {dpid:016x} is not connected")
        if device is None:
            # an unknown switch is left alone: deleting "stale" flows needs to know what is desired
            error = f"no openflow device with datapath_id {dpid} in the inventory"
            return SyncReport(dpid, None, ok=False, error=error)
        with self._lock(dpid):
            trips = self.round_trips.get(dpid, 0)
            self._syncing += 1
            try:
                report = self._sync_locked(dp, device, timeout, started, full, own)
            except DeviceBusy as exc:  # nothing was sent; what was read of the switch still holds
                report = SyncReport(dpid, name, ok=False, error=str(exc), seconds=time.monotonic() - started)
            except (SyncFailed, FlowError) as exc:
                self._confirmed.pop(dpid, None)
                report = SyncReport(dpid, name, ok=False, error=str(exc), seconds=time.monotonic() - started)
            except Exception as exc:  # noqa: BLE001 - whatever broke, the switch is read back next time
                self._confirmed.pop(dpid, None)
                self.logger.exception("sync %016x failed", dpid)
                error = f"sync failed: {type(exc).__name__}: {exc}"
                report = SyncReport(dpid, name, ok=False, error=error, seconds=time.monotonic() - started)
            finally:
                self._syncing -= 1
                self._last_sync = time.monotonic()
            report.round_trips = self.round_trips.get(dpid, 0) - trips
        self.reports[dpid] = report
        return report

    def _sync_locked(
        self, dp: Any, device: Device, timeout: float, started: float, full: bool, own: bool
    ) -> SyncReport:
        owner = ownership(device)
        steps: dict[str, float] = {}
        clock = time.monotonic()
        # an incremental sync (one decision) leaves a due full collection for when the hub is idle
        desired = off_hub(self._desired_state, device, owner, defer_full=not full)
        steps["desired"], clock = time.monotonic() - clock, time.monotonic()
        cached = None if full else self._confirmed.get(dp.id)
        live = cached if cached is not None else self._recognise(dp.id, self.read_live(dp, owner))
        steps["live"], clock = time.monotonic() - clock, time.monotonic()
        if live.pieces is not None:  # the switch confirmed the last pieces: diff what changed, on the
            with collector_paused(not full):  # hub (a few pieces: the native thread's hand-off costs more)
                plan = diff_pieces(desired, live.pieces)
        else:
            plan = off_hub(diff, desired.state, live.state)
        steps["diff"], clock = time.monotonic() - clock, time.monotonic()
        if plan.empty and not live.strange:
            self._confirmed[dp.id] = live.holding(desired)
            return SyncReport(dp.id, device.name, ok=True, seconds=time.monotonic() - started, steps=steps)
        ports = wire.switch_ports(dp)
        problems: list[str] = []
        # install everything else; report the flows this switch cannot hold, or must not (another
        # owner's flow holds that priority and match: an ADD would replace it, a delete then remove it)
        missing = sorted({f.match.in_port for f in plan.add_flows if f.match.in_port and f.match.in_port not in ports})
        if missing:
            problems.append(f"no port named {', '.join(missing)} on this switch (anti-spoof flows not installed)")
        for f in plan.add_flows:
            if f.key in live.foreign:
                problems.append(
                    f"flow of enforcement {f.cookie & ~owner.cookie_mask} not installed: another owner's flow "
                    f"cookie=0x{live.foreign[f.key]:x} holds priority={f.priority} {f.match.text()} (left as it is)"
                )
        holdable = {None, *ports}
        plan.add_flows = [f for f in plan.add_flows if f.match.in_port in holdable and f.key not in live.foreign]
        change = bundle.change_for(dp, owner, plan, live, ports)
        with self._lease(device) if own and self._lease is not None else nullcontext():
            outcome = bundle.send(self, dp, change, timeout)
        steps["send"] = time.monotonic() - clock
        seconds = time.monotonic() - started
        changes = plan.summary()
        if live.strange:
            changes["unrecognised_deleted"] = len(live.strange)
        if not outcome.committed:
            self._confirmed.pop(dp.id, None)
            if outcome.bundled:
                error = (f"the switch refused {len(outcome.refused)} message(s) of the bundle, which was discarded: "
                         f"its flow table is unchanged; first: {outcome.refused[0]}")  # fmt: skip
            else:
                error = (f"the switch refused the change's one flow-mod (a refused flow-mod changes nothing): its "
                         f"flow table is unchanged, its meters put back; first: {outcome.refused[0]}")  # fmt: skip
            return SyncReport(dp.id, device.name, ok=False, seconds=seconds, error=error, atomic=True, steps=steps)
        if outcome.refused:
            problems.insert(0, f"{len(outcome.refused)} message(s) refused; first: {outcome.refused[0]}")
        if problems:
            self._confirmed.pop(dp.id, None)  # the next sync reads the switch again
            error = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
            return SyncReport(dp.id, device.name, False, changes, seconds, error, atomic=outcome.atomic, steps=steps)
        self._confirmed[dp.id] = live.holding(desired)
        return SyncReport(dp.id, device.name, ok=True, changes=changes, seconds=seconds, atomic=outcome.atomic,
                          steps=steps)

    def _desired_state(self, device: Device, owner: Ownership) -> DesiredFlows:
        """The store's desired flows and meters for ``device``, rendered and parsed in pieces,
        only the pieces whose enforcements changed since the last sync (runs off the hub)."""
        return self._pieces.desired(device, owner, self._desired(device))

    def sync_own(self, dpid: int) -> SyncReport:
        """A sync the controller starts itself (a switch connected, the periodic resync, ``sync_all``).

        It writes to the switch under the device's push lease, like every other pusher
        (enforcer.lease), taken only once there is something to send: a resync that finds the switch
        as desired sends nothing and takes nothing. While another pusher holds the lease the switch is
        left to it (that pusher syncs through ``sync`` holding the lease itself); the report says who
        has it, and the next round tries again."""
        return self.sync(dpid, own=True)

    def sync_all(self) -> list[SyncReport]:
        """Every connected switch, one green thread each, each under its lease (:meth:`sync_own`)."""
        threads = {dpid: hub.spawn(self.sync_own, dpid) for dpid in list(self.datapaths)}
        return [t.wait() for t in threads.values()]

    def switches(self) -> list[dict[str, Any]]:
        out = []
        for dpid, dp in sorted(self.datapaths.items()):
            dev = self.device_for(dpid)
            report = self.reports.get(dpid)
            out.append(
                {
                    "dpid": dpid,
                    "device": dev.name if dev else None,
                    "address": list(dp.address) if dp.address else None,
                    "openflow": OPENFLOW_NAMES.get(dp.ofproto.OFP_VERSION),
                    "last_sync": report.as_dict() if report else None,
                }
            )
        return out


def _same_state(a: SwitchState, b: SwitchState) -> bool:
    return len(a.flows) == len(b.flows) and set(a.flows) == set(b.flows) and set(a.meters) == set(b.meters)


__all__ = ["EnforcerController", "SyncFailed", "SyncReport", "off_hub"]
