"""The OpenFlow section: what the template writes, how the controller reads it, and the flow diff.

Runbook view: an operator reads ``enforcer plan`` for a switch as flow and meter lines; those lines
must be exactly what the controller reads back from the switch once applied, and the controller
must only ever add, replace or delete enforcer's own cookies and meter ids.
"""

from __future__ import annotations

from datetime import UTC, datetime
from ipaddress import ip_network

import pytest

from enforcer.controller.flows import (
    Flow,
    FlowError,
    Match,
    Meter,
    SwitchState,
    diff,
    format_state,
    ownership,
    parse_line,
    parse_state,
    priorities,
)
from enforcer.inventory import Attachment, Customer, Device, Inventory
from enforcer.model import Enforcement
from enforcer.render import RenderError, build_section, platform_info, render_section

SWITCH = Device(name="sw1", platform="openflow", role="edge", datapath_id=0x1234)
INVENTORY = Inventory(devices={"sw1": SWITCH})
OWNER = ownership(SWITCH)
MAGIC = OWNER.cookie_magic


def enf(i: int, action: str, target: str, violation: str = "malware-hosting", **params) -> Enforcement:
    return Enforcement(
        id=i,
        decision_id=i,
        action=action,
        target=target,
        violation=violation,
        params=params,
        created_at=datetime.now(UTC),
    )


def render(*enforcements: Enforcement, device: Device = SWITCH) -> str:
    return render_section(build_section(device, enforcements, INVENTORY))


def test_null_route_drops_traffic_to_and_from_the_host_with_a_traceable_cookie():
    text = render(enf(7, "null-route", "198.18.0.12"))
    assert text == (
        "cookie=0xe4f0000000000007 priority=41032 ip,nw_dst=198.18.0.12 actions=drop\n"
        "cookie=0xe4f0000000000007 priority=41032 ip,nw_src=198.18.0.12 actions=drop\n"
    )


def test_rate_limit_is_a_kbps_meter_with_explicit_burst_then_normal_forwarding():
    text = render(enf(11, "rate-limit", "198.18.0.13", "excessive-bandwidth", rate_bps="10Mbit"))
    assert text == (
        "meter=65547 kbps burst bands=type=drop rate=10000 burst_size=1000\n"
        "cookie=0xe4f000000000000b priority=40032 ip,nw_src=198.18.0.13 actions=meter:65547,NORMAL\n"
    )


def test_acl_with_ports_is_one_flow_per_port_and_ipv6_uses_ipv6_fields():
    text = render(
        enf(4, "acl", "198.18.0.0/24", "spam", protocol="tcp", ports=[587, 25]),
        enf(6, "acl", "2001:db8::1", "scanning", protocol="icmp", direction="destination"),
    )
    assert text == (
        "cookie=0xe4f0000000000004 priority=42024 tcp,nw_src=198.18.0.0/24,tp_dst=25 actions=drop\n"
        "cookie=0xe4f0000000000004 priority=42024 tcp,nw_src=198.18.0.0/24,tp_dst=587 actions=drop\n"
        "cookie=0xe4f0000000000006 priority=42128 icmp6,ipv6_dst=2001:db8::1 actions=drop\n"
    )


def test_goto_table_forwarding_and_moved_meter_band_come_from_the_device():
    dev = SWITCH.model_copy(update={"optional_args": {"forward": "goto_table:1", "meter_base": 100, "meter_span": 50}})
    text = render(enf(70, "rate-limit", "198.18.0.13", "excessive-bandwidth", rate_bps="1Mbit"), device=dev)
    assert "meter=120 " in text and "actions=meter:120,goto_table:1" in text
    parse_state(text, ownership(dev))  # within the device's own band


def rate(i: int, target: str) -> Enforcement:
    return enf(i, "rate-limit", target, "excessive-bandwidth", rate_bps="10Mbit")


def meter_of(state: SwitchState, target: str) -> int:
    [f] = [f for f in state.flows if f.match.src == ip_network(target)]
    assert f.meter is not None
    return f.meter


def test_enforcements_whose_ids_share_a_meter_slot_each_get_their_own_meter():
    """1 and 65537 are the same id modulo the 65536-wide band: both targets must still be limited."""
    state = parse_state(render(rate(1, "198.18.0.13"), rate(65537, "198.18.0.14")), OWNER)
    assert meter_of(state, "198.18.0.13") == 65537  # the lower enforcement keeps its preferred id
    assert meter_of(state, "198.18.0.14") == 65538  # the other takes the next free one
    assert [m.meter_id for m in state.meters] == [65537, 65538]


def test_meter_ids_stay_put_when_a_colliding_enforcement_arrives_or_leaves():
    before = parse_state(render(rate(1, "198.18.0.13"), rate(2, "198.18.0.15")), OWNER)
    during = parse_state(render(rate(1, "198.18.0.13"), rate(2, "198.18.0.15"), rate(65537, "198.18.0.14")), OWNER)
    assert meter_of(during, "198.18.0.13") == meter_of(before, "198.18.0.13") == 65537
    assert meter_of(during, "198.18.0.15") == meter_of(before, "198.18.0.15") == 65538
    assert meter_of(during, "198.18.0.14") == 65539  # above both preferred ids, which stay put
    after = parse_state(render(rate(2, "198.18.0.15"), rate(65537, "198.18.0.14")), OWNER)
    assert meter_of(after, "198.18.0.15") == 65538
    assert meter_of(after, "198.18.0.14") == 65537  # its preferred id is free again


def test_allocation_wraps_around_the_band_and_a_full_band_fails_the_render_naming_the_enforcement():
    dev = SWITCH.model_copy(update={"optional_args": {"meter_base": 100, "meter_span": 2}})
    state = parse_state(render(rate(1, "198.18.0.13"), rate(3, "198.18.0.14"), device=dev), ownership(dev))
    assert sorted(m.meter_id for m in state.meters) == [100, 101]  # 3 prefers 101 (taken), wraps to 100
    with pytest.raises(RenderError, match="meter band full: no free meter id for enforcement 5"):
        render(rate(1, "198.18.0.13"), rate(3, "198.18.0.14"), rate(5, "198.18.0.15"), device=dev)


MIXED = [
    enf(7, "null-route", "198.18.0.12"),
    enf(3, "null-route", "2001:db8::/64"),
    enf(9, "null-route", "198.18.0.12", "phishing"),  # same flows as 7: not repeated
    enf(4, "acl", "198.18.0.0/24", "spam", protocol="tcp", ports=[25, 587]),
    enf(5, "acl", "198.18.0.0/24", "scanning", protocol="tcp", ports=[25]),  # port 25 already held by 4
    enf(6, "acl", "2001:db8::1", "scanning", protocol="icmp", direction="destination"),
    enf(12, "acl", "198.18.0.99", "scanning", protocol="udp"),
    enf(11, "rate-limit", "198.18.0.13", "excessive-bandwidth", rate_bps="10Mbit"),
    enf(13, "rate-limit", "198.18.0.13", "excessive-bandwidth", rate_bps="5Mbit"),  # same flow as 11
    enf(2, "rate-limit", "2001:db8::5", "excessive-bandwidth", rate_bps="1Mbit", direction="destination"),
]


def test_rendered_section_is_canonical_so_read_back_prints_identically():
    text = render(*MIXED)
    state = parse_state(text, OWNER)
    assert state.text() == text
    # shuffled input (as a switch returns flows in any order) prints the same
    assert format_state(reversed(state.flows), reversed(state.meters)) == text


def test_a_flow_held_by_two_enforcements_is_written_once_and_the_switch_can_hold_the_set():
    state = parse_state(render(*MIXED), OWNER)  # parse_state(owner=…) refuses duplicate priority+match
    assert len({f.key for f in state.flows}) == len(state.flows) == 10  # 4 acl, 4 null, 2 rate
    assert [m.meter_id for m in state.meters] == [65538, 65547]  # no meter for the losing rate limit 13


def test_every_rendered_cookie_and_meter_is_one_the_controller_recognises_as_its_own():
    state = parse_state(render(*MIXED), OWNER)
    assert all(OWNER.owns_cookie(f.cookie) for f in state.flows)
    assert all(OWNER.owns_meter(m.meter_id) for m in state.meters)
    info = platform_info(SWITCH.platform)
    assert set(info.actions) == {"acl", "null-route", "rate-limit", "anti-spoof"}


def test_lines_outside_the_grammar_or_outside_enforcers_space_are_refused():
    with pytest.raises(FlowError):
        parse_line("cookie=0xe4f0000000000001 priority=41032 ip,nw_dst=198.18.0.12 actions=output:1")
    with pytest.raises(FlowError):
        parse_line("cookie=0xe4f0000000000001 priority=41032 arp,nw_dst=198.18.0.12 actions=drop")
    with pytest.raises(FlowError):
        parse_line("cookie=0xe4f0000000000001 priority=41032 ip,nw_dst=198.18.0.0/16,dl_vlan=3 actions=drop")
    with pytest.raises(FlowError, match="magic"):
        parse_state("cookie=0x0000000000000001 priority=41032 ip,nw_dst=198.18.0.12 actions=drop\n", OWNER)
    with pytest.raises(FlowError, match="meter band"):
        parse_state("meter=5 kbps burst bands=type=drop rate=10 burst_size=10\n", OWNER)
    with pytest.raises(FlowError, match="not in the set"):
        parse_state(
            "cookie=0xe4f0000000000001 priority=40032 ip,nw_src=198.18.0.12 actions=meter:65537,NORMAL\n", OWNER
        )


# ------------------------------------------------------------------ the diff a resync sends


def flow(i: int, target: str, side: str = "dst", meter: int | None = None) -> Flow:
    net = ip_network(target)
    m = Match(family=net.version, **{side: net})
    return Flow(MAGIC + i, 41000 + net.prefixlen, m, meter, "NORMAL" if meter else None)


def test_resync_of_an_equal_switch_sends_nothing():
    state = parse_state(render(*MIXED), OWNER)
    assert diff(state, state).empty


def test_empty_switch_gets_meters_before_the_flows_that_use_them():
    desired = parse_state(render(*MIXED), OWNER)
    plan = diff(desired, SwitchState())
    assert plan.add_meters == sorted(desired.meters, key=lambda m: m.meter_id)
    assert set(plan.add_flows) == set(desired.flows)
    assert not plan.delete_flows and not plan.delete_meters and not plan.modify_meters


def test_stale_cookies_and_meters_are_deleted_and_a_changed_flow_is_replaced_in_place():
    desired = SwitchState(flows=(flow(1, "198.18.0.12"), flow(2, "198.18.0.14")), meters=(Meter(65540, 1000, 80),))
    live = SwitchState(
        flows=(flow(1, "198.18.0.12"), flow(5, "198.18.0.14"), flow(9, "198.18.0.99")),
        meters=(Meter(65540, 2000, 80), Meter(65541, 10, 10)),
    )
    plan = diff(desired, live)
    assert plan.add_flows == [flow(2, "198.18.0.14")]  # same match, new cookie: re-added (replaces)
    assert plan.delete_flows == [flow(9, "198.18.0.99")]  # gone from the store
    assert plan.modify_meters == [Meter(65540, 1000, 80)]
    assert plan.delete_meters == [Meter(65541, 10, 10)]
    assert plan.summary() == {
        "flows_added": 1,
        "flows_deleted": 1,
        "meters_added": 0,
        "meters_modified": 1,
        "meters_deleted": 1,
    }


def test_removal_of_every_enforcement_deletes_everything_enforcer_holds():
    live = parse_state(render(*MIXED), OWNER)
    plan = diff(SwitchState(), live)
    assert set(plan.delete_flows) == set(live.flows)
    assert plan.delete_meters == sorted(live.meters, key=lambda m: m.meter_id)
    assert not plan.add_flows


# ------------------------------------------------------------------ anti-spoof on a customer's port

SPOOF_INVENTORY = Inventory(
    devices={"sw1": SWITCH},
    customers={
        "c1": Customer(
            id="c1",
            prefixes=["198.18.1.0/24", "198.18.0.11/32", "2001:db8:18::/64"],
            attachments=[Attachment(device="sw1", interface="p1")],
        )
    },
)


def test_anti_spoof_drops_ip_from_the_port_unless_the_source_is_the_customers():
    spoof = enf(20, "anti-spoof", "198.18.0.11", "spoofing").model_copy(update={"customer": "c1"})
    text = render_section(build_section(SWITCH, [spoof], SPOOF_INVENTORY))
    assert text == (
        "cookie=0xe4f0000000000014 priority=39000 ip,in_port=p1 actions=drop\n"
        "cookie=0xe4f0000000000014 priority=39000 ipv6,in_port=p1 actions=drop\n"
        "cookie=0xe4f0000000000014 priority=39500 ip,in_port=p1,nw_src=198.18.0.11 actions=NORMAL\n"
        "cookie=0xe4f0000000000014 priority=39500 ip,in_port=p1,nw_src=198.18.1.0/24 actions=NORMAL\n"
        "cookie=0xe4f0000000000014 priority=39500 ipv6,in_port=p1,ipv6_src=:: actions=NORMAL\n"
        "cookie=0xe4f0000000000014 priority=39500 ipv6,in_port=p1,ipv6_src=2001:db8:18::/64 actions=NORMAL\n"
        "cookie=0xe4f0000000000014 priority=39500 ipv6,in_port=p1,ipv6_src=fe80::/10 actions=NORMAL\n"
    )
    state = parse_state(text, OWNER)
    assert state.text() == text  # canonical: the controller's read-back prints the same
    with_others = render_section(build_section(SWITCH, [*MIXED, spoof], SPOOF_INVENTORY))
    assert parse_state(with_others, OWNER).text() == with_others
    assert with_others.endswith(text)  # lowest band: blocks and rate limits of its hosts still win


def test_two_customers_on_one_port_share_its_drop_and_neighbour_flows_and_each_adds_only_its_own_prefixes():
    """A switch holds a flow of one priority and match once: the second customer's entry on p1 adds
    only the pass flow of its own new prefix (the shared IPv6 prefix, the drops and the neighbour
    passes are the first entry's)."""
    port = [Attachment(device="sw1", interface="p1")]
    inv = Inventory(devices={"sw1": SWITCH}, customers={
        "c1": Customer(id="c1", prefixes=["198.18.1.0/24", "2001:db8:18::/64"], attachments=port),
        "c2": Customer(id="c2", prefixes=["198.18.2.0/24", "2001:db8:18::/64"], attachments=port),
    })  # fmt: skip
    first = enf(20, "anti-spoof", "198.18.1.1", "spoofing").model_copy(update={"customer": "c1"})
    second = enf(21, "anti-spoof", "198.18.2.1", "spoofing").model_copy(update={"customer": "c2"})
    assert render_section(build_section(SWITCH, [first, second], inv)) == (
        "cookie=0xe4f0000000000014 priority=39000 ip,in_port=p1 actions=drop\n"
        "cookie=0xe4f0000000000014 priority=39000 ipv6,in_port=p1 actions=drop\n"
        "cookie=0xe4f0000000000014 priority=39500 ip,in_port=p1,nw_src=198.18.1.0/24 actions=NORMAL\n"
        "cookie=0xe4f0000000000014 priority=39500 ipv6,in_port=p1,ipv6_src=:: actions=NORMAL\n"
        "cookie=0xe4f0000000000014 priority=39500 ipv6,in_port=p1,ipv6_src=2001:db8:18::/64 actions=NORMAL\n"
        "cookie=0xe4f0000000000014 priority=39500 ipv6,in_port=p1,ipv6_src=fe80::/10 actions=NORMAL\n"
        "cookie=0xe4f0000000000015 priority=39500 ip,in_port=p1,nw_src=198.18.2.0/24 actions=NORMAL\n"
    )


# ------------------------------------------------------------------ one grammar, two spellings


def every_entry_kind() -> list[Enforcement]:
    """An enforcement of every shape section.j2 can write: each action, family, protocol, direction."""
    out: list[Enforcement] = []
    i = 100
    for target in ("198.18.5.7", "198.18.6.0/24", "2001:db8:5::7", "2001:db8:6::/48"):
        for protocol in ("any", "tcp", "udp", "icmp"):
            for direction in ("source", "destination"):
                ports = [25, 587] if protocol in ("tcp", "udp") else []
                i += 1
                out.append(enf(i, "acl", target, "spam", protocol=protocol, ports=ports, direction=direction))
        i += 1
        out.append(enf(i, "null-route", target.replace("5", "7")))
        for direction in ("source", "destination"):
            i += 1
            out.append(enf(i, "rate-limit", target.replace("5", "8"), "excessive-bandwidth", rate_bps="3Mbit",
                           direction=direction))  # fmt: skip
    return out


@pytest.mark.parametrize("forward", ["NORMAL", "goto_table:3"])
def test_the_python_printer_and_the_template_agree_on_every_entry_kind(forward):
    """section.j2 renders the lines, flows.py prints the switch's read-back: a drift between them
    would make every plan show phantom changes, so every kind of line must print identically."""
    dev = SWITCH.model_copy(update={"optional_args": {"forward": forward}})
    spoof = enf(99, "anti-spoof", "198.18.0.11", "spoofing").model_copy(update={"customer": "c1"})
    text = render_section(build_section(dev, [*every_entry_kind(), spoof], SPOOF_INVENTORY))
    lines = text.splitlines()
    kinds = {
        (type(item).__name__, getattr(getattr(item, "match", None), "proto", None)) for item in map(parse_line, lines)
    }
    assert kinds == {("Meter", None), ("Flow", None), ("Flow", "tcp"), ("Flow", "udp"), ("Flow", "icmp")}
    for line in lines:
        assert parse_line(line).text() == line
    state = parse_state(text, ownership(dev))
    assert state.text() == text
    assert format_state(reversed(state.flows), reversed(state.meters)) == text


def test_flow_priorities_are_platform_yamls_bands_plus_prefix_length():
    """platform.yaml's priorities are what the template writes, and what bounds the band in which
    the controller watches for other owners' flows."""
    base = priorities()
    spoof = enf(99, "anti-spoof", "198.18.0.11", "spoofing").model_copy(update={"customer": "c1"})
    entries = [*every_entry_kind(), spoof]
    kind_of = {e.id: e.action.value for e in entries}
    for f in parse_state(render_section(build_section(SWITCH, entries, SPOOF_INVENTORY)), OWNER).flows:
        kind = kind_of[f.cookie - MAGIC]
        target = f.match.src if f.match.src is not None else f.match.dst
        extra = (500 if f.forward else 0) if kind == "anti-spoof" else target.prefixlen
        assert f.priority == base[kind] + extra, f.text()
        assert OWNER.in_band(f.priority)
    assert OWNER.priority_band == (39000, 42999)


def test_a_null_routes_two_flows_parse_its_target_once_and_a_match_is_hashed_once(monkeypatch):
    """A bulk install parses 20,000 lines for 10,000 null routes: each line printed its target and
    each hash of a flow's key hashed its addresses again (Python code, per call)."""
    from enforcer.controller import flows

    parse_line.cache_clear()
    flows._parse_prefix.cache_clear()
    parsed: list[str] = []
    monkeypatch.setattr(flows, "ip_network", lambda text, strict: parsed.append(text) or ip_network(text, strict))
    text = render(enf(7, "null-route", "198.18.0.77"))
    state = parse_state(text, OWNER)
    assert len(state.flows) == 2 and parsed == ["198.18.0.77"], parsed

    hashed: list[object] = []
    real = type(ip_network("198.18.0.0/24")).__hash__
    monkeypatch.setattr(type(ip_network("198.18.0.0/24")), "__hash__", lambda net: hashed.append(net) or real(net))
    match = Match.parse("ip,nw_dst=198.18.1.1")
    hashed.clear()
    keys = {(41032, match): 1}
    assert (41032, match) in keys and len({match, match}) == 1 and hash(match) == hash(match)
    assert hashed == [], "a match hashed its address again"
