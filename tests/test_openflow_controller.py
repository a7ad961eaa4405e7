"""The controller's sync against a switch that answers like one: "applied" means the switch confirmed.

No Open vSwitch here: :class:`FakeSwitch` stands where os-ken puts a connected datapath. It
decodes every message the controller writes, keeps a flow table and meters the way OpenFlow 1.3
defines them (an ADD replaces the flow with the same priority and match, whatever its cookie; a
DELETE_STRICT needs the cookie too), and answers through the controller's own reply handlers, in
order, from another green thread, as os-ken's receive loop does. The test holds barrier replies
back, or refuses a message, to see what a sync does in between.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

# isort: off
import enforcer.controller  # noqa: F401 - selects os-ken's eventlet hub: it must load before os-ken
from os_ken.controller import ofp_event
from os_ken.lib import hub
from os_ken.ofproto import ofproto_v1_3 as ofp
from os_ken.ofproto import ofproto_v1_3_parser as parser
from os_ken.ofproto import ofproto_v1_4 as ofp14
from os_ken.ofproto import ofproto_v1_4_parser as parser14

# isort: on
from enforcer.controller import wire
from enforcer.controller.app import EnforcerController
from enforcer.controller.flows import Match, ownership
from enforcer.controller.live import READ_SLICE_FLOWS, read_slices
from enforcer.controller.offhub import off_hub
from enforcer.controller.pieces import Wanted
from enforcer.inventory import Device, Inventory
from enforcer.model import Enforcement

#: What a full read of a small table sends: its flow count, the table in one slice, then the meters.
FULL_READ = ["aggregate", "flow_stats", "meter_config"]

DPID = 0xE400000000000042
SWITCH = Device(name="sw1", platform="openflow", role="edge", datapath_id=DPID)
INVENTORY = Inventory(devices={"sw1": SWITCH})
OWNER = ownership(SWITCH)


class FakeSwitch:
    """A connected datapath: what os-ken's ``Datapath`` offers the app (``send``, ``send_msg``,
    ``set_xid``, ``xid``, ``ports``), with a flow table and meters behind it."""

    def __init__(self, app: EnforcerController):
        self.app = app
        self.id = DPID
        self.ofproto, self.ofproto_parser = ofp, parser
        self.address = ("127.0.0.1", 40000)
        self.ports: dict[int, Any] = {}
        self.xid = 0
        self.table: dict[tuple[int, Match], tuple[int, list[Any]]] = {}  # (priority, match) → (cookie, instructions)
        self.meters: dict[int, Any] = {}
        self.received: list[tuple[str, int]] = []  # (kind, xid) in the order written
        self.hold_barriers = False
        self.held: list[int] = []
        self.refuse: Callable[[Any], bool] = lambda flow_mod: False
        #: xid → how many replies the controller had been handed when the message arrived: a message
        #: written before the controller waited for anything arrives with the count of the last wait
        self.replies_before: dict[int, int] = {}
        self.delivered = 0
        self._replies: Any = hub.Queue()
        self._loop = hub.spawn(self._deliver)

    # -- what os-ken's Datapath offers
    def set_xid(self, msg: Any) -> int:
        self.xid = (self.xid + 1) & ofp.MAX_XID
        msg.set_xid(self.xid)
        return self.xid

    def send_msg(self, msg: Any) -> bool:
        if msg.xid is None:
            self.set_xid(msg)
        msg.serialize()
        return self.send(bytes(msg.buf))

    def send(self, buf: bytes) -> bool:
        while buf:
            _, msg_type, length, xid = struct.unpack_from("!BBHI", buf)
            self.replies_before.setdefault(xid, self.delivered)
            self._receive(msg_type, xid, buf[:length])
            buf = buf[length:]
        return True

    # -- the switch
    def _receive(self, msg_type: int, xid: int, data: bytes) -> None:
        if msg_type == ofp.OFPT_FLOW_MOD:
            mod = parser.OFPFlowMod.parser(self, ofp.OFP_VERSION, msg_type, len(data), xid, data)
            self.received.append(("flow_mod", xid))
            if self.refuse(mod):
                self._reply(ofp_event.EventOFPErrorMsg, parser.OFPErrorMsg(self, ofp.OFPET_FLOW_MOD_FAILED, 0), xid)
            else:
                self._flow_mod(mod)
        elif msg_type == ofp.OFPT_METER_MOD:
            command, _flags, meter_id = struct.unpack_from("!HHI", data, 8)
            self.received.append(("meter_mod", xid))
            if command == ofp.OFPMC_DELETE:
                self.meters.pop(meter_id, None)
            else:
                _type, _len, rate, burst = struct.unpack_from("!HHII", data, 16)
                band = parser.OFPMeterBandDrop(rate=rate, burst_size=burst)
                self.meters[meter_id] = parser.OFPMeterConfigStats(ofp.OFPMF_KBPS | ofp.OFPMF_BURST, meter_id, [band])
        elif msg_type == ofp.OFPT_MULTIPART_REQUEST:
            (kind,) = struct.unpack_from("!H", data, 8)
            if kind == ofp.OFPMP_AGGREGATE:
                self.received.append(("aggregate", xid))
                body = parser.OFPAggregateStats(packet_count=0, byte_count=0, flow_count=len(self.table))
                self._reply(ofp_event.EventOFPAggregateStatsReply, parser.OFPAggregateStatsReply(self, body=body), xid)
            elif kind == ofp.OFPMP_FLOW:
                self.received.append(("flow_stats", xid))
                want, mask = struct.unpack_from("!QQ", data, 32)  # the request's cookie and cookie_mask
                body = [
                    parser.OFPFlowStats(0, 0, 0, prio, 0, 0, 0, cookie, 0, 0, parser.OFPMatch(**wire.oxm(m)), inst)
                    for (prio, m), (cookie, inst) in self.table.items() if cookie & mask == want & mask
                ]
                self._reply(ofp_event.EventOFPFlowStatsReply, parser.OFPFlowStatsReply(self, body=body, flags=0), xid)
            else:
                self.received.append(("meter_config", xid))
                reply = parser.OFPMeterConfigStatsReply(self, body=list(self.meters.values()), flags=0)
                self._reply(ofp_event.EventOFPMeterConfigStatsReply, reply, xid)
        elif msg_type == ofp.OFPT_BARRIER_REQUEST:
            self.received.append(("barrier", xid))
            if self.hold_barriers:
                self.held.append(xid)
            else:
                self.reply_barrier(xid)
        else:
            raise AssertionError(f"the controller sent message type {msg_type}")

    def _flow_mod(self, mod: Any) -> None:
        key = (mod.priority, wire.match_from_oxm(dict(mod.match.items())))
        if mod.command == ofp.OFPFC_ADD:
            self.table[key] = (mod.cookie, mod.instructions)  # replaces any owner's flow (OpenFlow 1.3)
        elif mod.command == ofp.OFPFC_DELETE_STRICT:
            if key in self.table and self.table[key][0] & mod.cookie_mask == mod.cookie & mod.cookie_mask:
                del self.table[key]
        else:
            raise AssertionError(f"the controller sent flow-mod command {mod.command}")

    def reply_barrier(self, xid: int) -> None:
        self._reply(ofp_event.EventOFPBarrierReply, parser.OFPBarrierReply(self), xid)

    def release_barriers(self) -> None:
        self.hold_barriers = False
        for xid in self.held:
            self.reply_barrier(xid)
        self.held.clear()

    def _reply(self, event: type, msg: Any, xid: int) -> None:
        msg.xid = xid
        self._replies.put(event(msg))

    def _deliver(self) -> None:
        """os-ken's receive loop: one green thread hands replies to the app's handlers, in order."""
        handlers = {
            ofp_event.EventOFPBarrierReply: self.app._barrier,
            ofp_event.EventOFPErrorMsg: self.app._error,
            ofp_event.EventOFPFlowStatsReply: self.app._flow_stats,
            ofp_event.EventOFPAggregateStatsReply: self.app._aggregate,
            ofp_event.EventOFPMeterConfigStatsReply: self.app._meter_config,
            ofp_event.EventOFPBundleCtrlMsg: self.app._bundle_reply,
        }
        while True:
            ev = self._replies.get()
            handlers[type(ev)](ev)
            self.delivered += 1

    def flow_lines(self) -> list[str]:
        names: dict[int, str] = {}
        stats = [parser.OFPFlowStats(0, 0, 0, p, 0, 0, 0, c, 0, 0, parser.OFPMatch(**wire.oxm(m)), i)
                 for (p, m), (c, i) in self.table.items()]  # fmt: skip
        return sorted(wire.flow_from_stats(ofp, st, names).text() for st in stats)


class FakeSwitch14(FakeSwitch):
    """OpenFlow 1.4: a bundle's flow-mods are staged and applied at its commit, dropped at its discard
    (OpenFlow 1.4.1 §6.8); ``bundles`` holds the ones still open."""

    REPLIES = {ofp14.OFPBCT_OPEN_REQUEST: ofp14.OFPBCT_OPEN_REPLY, ofp14.OFPBCT_COMMIT_REQUEST: ofp14.OFPBCT_COMMIT_REPLY,
               ofp14.OFPBCT_DISCARD_REQUEST: ofp14.OFPBCT_DISCARD_REPLY}  # fmt: skip

    def __init__(self, app: EnforcerController):
        super().__init__(app)
        self.ofproto, self.ofproto_parser = ofp14, parser14
        self.bundles: dict[int, list[bytes]] = {}

    def _receive(self, msg_type: int, xid: int, data: bytes) -> None:
        if msg_type == ofp14.OFPT_BUNDLE_CONTROL:
            bundle, kind, flags = struct.unpack_from("!IHH", data, 8)
            self.received.append((f"bundle_{kind}", xid))
            if kind == ofp14.OFPBCT_OPEN_REQUEST:
                self.bundles[bundle] = []
            elif kind == ofp14.OFPBCT_COMMIT_REQUEST:
                for inner in self.bundles.pop(bundle):
                    _, inner_type, _, inner_xid = struct.unpack_from("!BBHI", inner)
                    super()._receive(inner_type, inner_xid, inner)
            else:
                self.bundles.pop(bundle, None)
            reply = parser14.OFPBundleCtrlMsg(self, bundle, self.REPLIES[kind], flags, [])
            self._reply(ofp_event.EventOFPBundleCtrlMsg, reply, xid)
        elif msg_type == ofp14.OFPT_BUNDLE_ADD_MESSAGE:
            (bundle,) = struct.unpack_from("!I", data, 8)
            self.received.append(("bundle_add", xid))
            self.bundles[bundle].append(data[16:])
        else:
            super()._receive(msg_type, xid, data)


def enf(i: int, target: str, action: str = "null-route", **params: Any) -> Enforcement:
    return Enforcement(
        id=i, decision_id=i, action=action, target=target, violation="malware-hosting", params=params,
        created_at=datetime.now(UTC),
    )  # fmt: skip


@pytest.fixture
def active() -> list[Enforcement]:
    """The store's active enforcements, as the controller's ``desired`` callback reads them."""
    return []


@pytest.fixture
def switch(active: list[Enforcement]) -> Iterator[FakeSwitch]:
    app = EnforcerController(desired=lambda dev: Wanted(active, INVENTORY), devices=lambda: [SWITCH])
    sw = FakeSwitch(app)
    app.datapaths[DPID] = sw
    yield sw
    sw._loop.kill()


def wait_until(what: str, probe: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Let the controller's green threads run until ``probe`` holds."""
    deadline = time.monotonic() + timeout
    while not (value := probe()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        hub.sleep(0.005)
    return value


def kinds(sw: FakeSwitch) -> list[str]:
    return [kind for kind, _ in sw.received]


# ------------------------------------------------------------------ the barrier


def test_sync_returns_only_after_the_barrier_reply_for_its_own_xid(switch, active):
    active.append(enf(7, "198.18.0.12"))
    switch.hold_barriers = True
    sync = hub.spawn(switch.app.sync, DPID)
    [barrier_xid] = wait_until("the barrier request", lambda: switch.held)
    assert kinds(switch) == [*FULL_READ, "flow_mod", "flow_mod", "barrier"]

    switch.reply_barrier(barrier_xid + 1000)  # a reply to some other request
    hub.sleep(0.1)
    assert not sync.dead, "sync returned before the switch confirmed its flow-mods"

    switch.release_barriers()
    report = sync.wait()
    assert report.ok and report.changes["flows_added"] == 2, report
    assert switch.flow_lines() == [
        "cookie=0xe4f0000000000007 priority=41032 ip,nw_dst=198.18.0.12 actions=drop",
        "cookie=0xe4f0000000000007 priority=41032 ip,nw_src=198.18.0.12 actions=drop",
    ]


def test_a_sync_whose_barrier_never_comes_fails_and_forgets_what_it_assumed(switch, active):
    active.append(enf(7, "198.18.0.12"))
    switch.hold_barriers = True
    report = switch.app.sync(DPID, timeout=0.3)
    assert not report.ok and "no reply to OFPBarrierRequest" in (report.error or "")

    switch.release_barriers()
    switch.received.clear()
    assert switch.app.sync(DPID, full=False).ok
    assert kinds(switch)[:len(FULL_READ)] == FULL_READ, "an unconfirmed sync must be followed by a full read"


# ------------------------------------------------------------------ errors from the switch


@pytest.fixture
def switch14(active: list[Enforcement]) -> Iterator[FakeSwitch14]:
    app = EnforcerController(desired=lambda dev: Wanted(active, INVENTORY), devices=lambda: [SWITCH])
    sw = FakeSwitch14(app)
    app.datapaths[DPID] = sw
    yield sw
    sw._loop.kill()


def test_a_sync_that_breaks_mid_bundle_discards_it_puts_the_meter_back_and_reads_the_switch_next(
    switch14, active, monkeypatch
):
    """Not a refusal: something between the bundle's open and its commit raises (here the packing
    of its flow-mods). The switch must be left as it was — bundle discarded, the meter sent ahead
    of it deleted — and the controller must not keep assuming it holds the last confirmed state."""
    active.append(enf(7, "198.18.0.12"))
    assert switch14.app.sync(DPID).ok and switch14.app._confirmed.get(DPID) is not None
    before = switch14.flow_lines()

    def broken(*_: Any) -> bytes:
        raise RuntimeError("packing failed")

    monkeypatch.setattr(wire, "bundle_add", broken)
    active.append(enf(11, "198.18.0.13", "rate-limit", rate_bps="10Mbit"))  # a meter goes ahead of the bundle
    active.append(enf(12, "198.18.0.14"))  # and two flows more: a change of one flow-mod takes no bundle
    report = switch14.app.sync(DPID, full=False)
    assert not report.ok and "packing failed" in (report.error or ""), report
    assert switch14.bundles == {}, "the bundle was left open on the switch"
    assert switch14.meters == {}, "the meter sent ahead of the bundle stayed"
    assert switch14.flow_lines() == before
    assert DPID not in switch14.app._confirmed, "the controller still trusts what it last confirmed"

    monkeypatch.undo()
    switch14.received.clear()
    report = switch14.app.sync(DPID, full=False)
    assert kinds(switch14)[:len(FULL_READ)] == FULL_READ and report.ok and report.atomic, report
    assert list(switch14.meters) == [OWNER.meter_base + 11]


def test_a_bundle_whose_barrier_never_comes_is_discarded_and_its_meter_put_back(switch14, active):
    active.append(enf(11, "198.18.0.13", "rate-limit", rate_bps="10Mbit"))
    active.append(enf(12, "198.18.0.14"))  # more than one flow-mod: the change goes in a bundle
    switch14.hold_barriers = True
    report = switch14.app.sync(DPID, timeout=0.3)
    assert not report.ok and "no reply to OFPBarrierRequest" in (report.error or ""), report
    assert switch14.bundles == {}, "the bundle was left open on the switch"
    assert "meter_mod" in kinds(switch14)[kinds(switch14).index(f"bundle_{ofp14.OFPBCT_DISCARD_REQUEST}"):]
    assert switch14.meters == {} and switch14.table == {}
    assert DPID not in switch14.app._confirmed


def test_a_refused_flow_mod_fails_the_sync_and_the_next_sync_reads_the_switch_again(switch, active):
    active.append(enf(7, "198.18.0.12"))
    assert switch.app.sync(DPID).ok
    switch.received.clear()
    active.append(enf(8, "198.18.0.13"))
    assert switch.app.sync(DPID, full=False).ok
    assert "flow_stats" not in kinds(switch), "after a confirmed sync the next one diffs against the cache"

    switch.refuse = lambda mod: mod.cookie == OWNER.cookie_magic + 9
    active.append(enf(9, "198.18.0.14"))
    report = switch.app.sync(DPID, full=False)
    assert not report.ok and "switch error type=5" in (report.error or ""), report
    assert not any("198.18.0.14" in line for line in switch.flow_lines())

    switch.refuse = lambda mod: False
    switch.received.clear()
    report = switch.app.sync(DPID, full=False)
    assert kinds(switch)[:len(FULL_READ)] == FULL_READ, "the cache outlived a refused message"
    assert report.ok and report.changes["flows_added"] == 2, report  # the two refused flows, found missing
    assert sum("198.18.0.14" in line for line in switch.flow_lines()) == 2


def test_a_rate_limit_installs_its_meter_before_the_flow_that_uses_it(switch, active):
    active.append(enf(11, "198.18.0.13", "rate-limit", rate_bps="10Mbit"))
    report = switch.app.sync(DPID)
    assert report.ok and kinds(switch)[len(FULL_READ):] == ["meter_mod", "flow_mod", "barrier"]
    assert list(switch.meters) == [OWNER.meter_base + 11]
    active.clear()
    assert switch.app.sync(DPID).ok
    assert switch.meters == {} and switch.table == {}


# ------------------------------------------------------------------ other owners' flows


def foreign_drop(sw: FakeSwitch, cookie: int, line_match: str, priority: int = 41032) -> None:
    """Another owner's drop flow, as ``ovs-ofctl add-flow`` would put it on the switch."""
    sw.table[(priority, Match.parse(line_match))] = (cookie, [])


def test_a_foreign_flow_on_the_same_priority_and_match_is_never_written_over_and_the_sync_says_so(switch, active):
    foreign_drop(switch, 0x7, "ip,nw_dst=198.18.0.12")
    foreign_drop(switch, 0xABC, "ip,nw_dst=198.18.0.99")  # same band, other match: no conflict
    active.append(enf(7, "198.18.0.12"))
    report = switch.app.sync(DPID)
    assert not report.ok
    assert "cookie=0x7 holds priority=41032 ip,nw_dst=198.18.0.12" in (report.error or ""), report.error
    assert "enforcement 7" in (report.error or "")
    assert switch.table[(41032, Match.parse("ip,nw_dst=198.18.0.12"))][0] == 0x7, "the foreign flow was replaced"
    assert "cookie=0xe4f0000000000007 priority=41032 ip,nw_src=198.18.0.12 actions=drop" in switch.flow_lines()

    active.clear()  # unblock: enforcer removes its own flow, never the foreign one
    assert switch.app.sync(DPID).ok
    assert switch.flow_lines() == [
        "cookie=0x0000000000000007 priority=41032 ip,nw_dst=198.18.0.12 actions=drop",
        "cookie=0x0000000000000abc priority=41032 ip,nw_dst=198.18.0.99 actions=drop",
    ]


def test_the_hub_keeps_running_while_a_sync_renders_and_parses():
    """A sync's CPU-bound steps run off the hub: os-ken's green threads (the one answering the
    switch's echo requests among them) keep running meanwhile. On the hub, a 50,000-decision sync
    starved them until Open vSwitch dropped the connection ("no response to inactivity probe")."""
    ticks: list[float] = []

    def echo_answerer() -> None:  # stands for os-ken's receive and send loops
        while True:
            ticks.append(time.monotonic())
            hub.sleep(0.01)

    def render_for_a_while() -> int:  # CPU-bound, never yields: what rendering 100,000 flows does
        end = time.monotonic() + 0.5
        spins = 0
        while time.monotonic() < end:
            spins += 1
        return spins

    answerer = hub.spawn(echo_answerer)
    try:
        hub.sleep(0)
        before = len(ticks)
        assert off_hub(render_for_a_while) > 0
        assert len(ticks) - before >= 5, "the hub stood still while the work ran"
    finally:
        hub.kill(answerer)


def test_no_cyclic_collection_runs_while_a_sync_computes_and_its_garbage_goes_after():
    """A full collection holds the GIL while it walks every object: with 100,000 flows it stopped
    the hub for seconds, several times per sync, and the switch disconnected. The collector is
    paused while the work runs, collects what the work left once it ends, and freezes the rest."""
    import gc
    import weakref

    from enforcer.controller.offhub import collector_paused

    class Node:
        pass

    def make_garbage_cycle_and_report() -> tuple[bool, Any]:
        a, b = Node(), Node()
        a.other, b.other = b, a  # only the cyclic collector can free these
        return gc.isenabled(), weakref.ref(a)

    assert gc.isenabled()
    enabled_inside, ref = off_hub(make_garbage_cycle_and_report)
    assert not enabled_inside, "the collector ran free during the work"
    assert ref() is None, "the work's cyclic garbage outlived it"
    assert gc.isenabled() and gc.get_freeze_count() > 0
    with collector_paused():  # nested and concurrent pauses share one
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled(), "an inner pause ended the outer one"
    assert gc.isenabled()


def test_a_frozen_cycle_that_becomes_garbage_is_freed_once_the_frozen_set_has_grown():
    """Freezing hides the survivors from every later collection, full ones too: a frozen object
    that later becomes unreachable cyclic garbage leaked for the process's life. Once the frozen
    set has grown by half since the last full collection, a pause ends with one."""
    import gc
    import weakref

    from enforcer.controller import offhub

    class Node:
        pass

    a, b = Node(), Node()
    a.other, b.other = b, a
    ref = weakref.ref(a)
    with offhub.collector_paused():
        pass  # a and b survive the pause: frozen
    del a, b
    gc.collect()
    assert ref() is not None, "precondition: a full collection does not look at frozen objects"
    grown = [[] for _ in range(2 * gc.get_freeze_count() + 1_000)]  # new long-lived state: twice as much
    for _ in range(getattr(offhub, "CHECK_EVERY", 1)):  # as many pauses as the growth is looked at after
        with offhub.collector_paused():
            pass
    assert ref() is None, "a frozen cycle that became garbage was never collected"
    assert gc.isenabled() and len(grown) > 0


# ------------------------------------------------------------------ reading a large table


def test_a_full_read_asks_for_about_a_thousand_flows_per_round_trip_and_misses_none(switch, active):
    """os-ken parses each stats reply on the hub without yielding: 16 slices of 6,250 flows still
    starved the switch's inactivity probe at 100,000 flows. The slice count follows the table."""
    assert [read_slices(n) for n in (0, 1, READ_SLICE_FLOWS, READ_SLICE_FLOWS + 1, 100_000)] == [1, 1, 1, 2, 128]
    active.extend(enf(i, f"10.{i >> 8}.{i & 255}.1") for i in range(1, 601))  # 1,200 flows
    assert switch.app.sync(DPID).ok
    switch.received.clear()
    live = switch.app.read_live(switch, OWNER)
    assert kinds(switch) == ["aggregate", "flow_stats", "flow_stats", "meter_config"]
    assert len(live.state.flows) == 1_200 and len(switch.table) == 1_200


# ------------------------------------------------------------------ round trips of one decision


def test_one_more_null_route_on_a_bundle_switch_is_two_round_trips_open_and_adds_in_one_write(switch14, active):
    """A null route is two flow-mods: they go in a bundle (both or neither), whose open travels with
    them and a barrier — one round trip — then the commit: two, where waiting for the open's reply
    first made three."""
    active.append(enf(7, "198.18.0.12"))
    assert switch14.app.sync(DPID).ok
    switch14.received.clear()
    active.append(enf(8, "198.18.0.13"))
    report = switch14.app.sync(DPID, full=False)
    assert report.ok and report.atomic and report.changes["flows_added"] == 2, report
    open_, commit = f"bundle_{ofp14.OFPBCT_OPEN_REQUEST}", f"bundle_{ofp14.OFPBCT_COMMIT_REQUEST}"
    sent = switch14.received[:5]  # then the commit applies the two staged flow-mods
    assert [kind for kind, _ in sent] == [open_, "bundle_add", "bundle_add", "barrier", commit]
    first = switch14.replies_before[sent[0][1]]
    assert [switch14.replies_before[xid] - first for _, xid in sent] == [0, 0, 0, 0, 2], \
        "the flow-mods waited for the bundle's open reply"
    assert report.round_trips == 2
    assert sum("198.18.0.13" in line for line in switch14.flow_lines()) == 2


def test_a_change_of_one_flow_mod_goes_without_a_bundle_in_one_round_trip(switch14, active):
    """One flow-mod is applied whole or refused whole by the switch itself: a rate limit (its meter,
    its flow) needs no bundle's open and commit."""
    active.append(enf(7, "198.18.0.12"))
    assert switch14.app.sync(DPID).ok
    switch14.received.clear()
    active.append(enf(11, "198.18.0.13", "rate-limit", rate_bps="10Mbit"))
    report = switch14.app.sync(DPID, full=False)
    assert report.ok and report.atomic and report.round_trips == 1, report
    assert kinds(switch14) == ["meter_mod", "flow_mod", "barrier"]
    assert list(switch14.meters) == [OWNER.meter_base + 11]
    assert any("meter:" in line for line in switch14.flow_lines())


def test_a_refused_single_flow_mod_leaves_flows_and_meters_as_they_were_and_the_next_sync_reads_back(
    switch14, active
):
    active.append(enf(7, "198.18.0.12"))
    assert switch14.app.sync(DPID).ok
    before = switch14.flow_lines()
    switch14.refuse = lambda mod: mod.cookie == OWNER.cookie_magic + 11
    active.append(enf(11, "198.18.0.13", "rate-limit", rate_bps="10Mbit"))
    report = switch14.app.sync(DPID, full=False)
    assert not report.ok and "switch error type=5" in (report.error or ""), report
    assert "its flow table is unchanged" in (report.error or "") and "bundle" not in (report.error or "")
    assert switch14.meters == {}, "the meter sent with the refused flow-mod stayed"
    assert switch14.flow_lines() == before
    assert DPID not in switch14.app._confirmed

    switch14.refuse = lambda mod: False
    switch14.received.clear()
    report = switch14.app.sync(DPID, full=False)
    assert kinds(switch14)[:len(FULL_READ)] == FULL_READ and report.ok, report
    assert list(switch14.meters) == [OWNER.meter_base + 11]


def test_a_one_decision_sync_never_chains_every_flow_of_the_switch(switch14, active, monkeypatch):
    """What the switch holds after a confirmed sync is its pieces; their union (every flow, 20,000
    at 10,000 active) is made only when something needs the whole set (a full diff, a plan)."""
    from enforcer.controller import pieces

    active.extend(enf(i, f"10.{i >> 8}.{i & 255}.1") for i in range(1, 1_001))
    assert switch14.app.sync(DPID).ok
    unions: list[int] = []
    real = pieces.DesiredFlows.state.func
    monkeypatch.setattr(pieces.DesiredFlows, "state", property(lambda self: unions.append(1) or real(self)))
    active.append(enf(2_000, "198.18.0.12"))
    report = switch14.app.sync(DPID, full=False)
    assert report.ok and report.changes["flows_added"] == 2, report
    assert unions == [], f"the union of every piece was built {len(unions)} times for one decision"


def test_after_a_plan_reads_an_unchanged_switch_the_next_decision_diffs_one_piece_not_every_flow(
    switch14, active, monkeypatch
):
    """serve's full pass plans (reads every flow back) then syncs; the next decision diffed all the
    switch's flows against the whole desired set. A read that finds what the switch last confirmed
    keeps its pieces."""
    from enforcer.controller import app as app_mod

    active.extend(enf(i, f"10.{i >> 8}.{i & 255}.1") for i in range(1, 1_001))
    assert switch14.app.sync(DPID).ok
    switch14.app.state(DPID)  # what `enforcer plan` and serve's full pass read
    whole: list[int] = []
    real = app_mod.diff
    monkeypatch.setattr(app_mod, "diff", lambda want, have: whole.append(len(want.flows)) or real(want, have))
    active.append(enf(2_000, "198.18.0.12"))
    report = switch14.app.sync(DPID, full=False)
    assert report.ok and report.changes["flows_added"] == 2, report
    assert whole == [], f"the sync after a read diffed {whole} flows as a whole"

    switch14.table.pop(next(iter(switch14.table)))  # someone deleted one of enforcer's flows
    switch14.app.state(DPID)
    report = switch14.app.sync(DPID, full=False)
    assert report.ok and report.changes["flows_added"] == 1 and whole, "a changed switch must be diffed whole"
