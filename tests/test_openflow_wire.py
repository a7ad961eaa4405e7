"""The flow-mods enforcer packs itself are byte-for-byte what os-ken would send for the same flow.

enforcer encodes its flow-mods directly (10x faster for a 10,000-flow install); these tests build
the same messages through os-ken's ``OFPFlowMod`` / ``OFPMatch`` and compare the bytes, for every
match shape the template writes, both ADD and DELETE_STRICT.
"""

from __future__ import annotations

from ipaddress import ip_network
from types import SimpleNamespace

import pytest
from os_ken.ofproto import ofproto_v1_3 as ofp
from os_ken.ofproto import ofproto_v1_3_parser as parser

from enforcer.controller import wire
from enforcer.controller.flows import Flow, FlowError, ownership, parse_line

from .test_openflow_flows import MIXED, render

DP = SimpleNamespace(ofproto=ofp, ofproto_parser=parser, id=1)

EXTRA = [
    "cookie=0xe4f0000000000021 priority=40048 udp6,ipv6_src=2001:db8::/48,tp_dst=53 actions=meter:65547,goto_table:1",
    "cookie=0xe4f0000000000022 priority=42000 icmp,nw_dst=0.0.0.0/0 actions=drop",
    "cookie=0xe4f0000000000023 priority=42016 udp,nw_dst=10.1.0.0/16,tp_dst=65535 actions=drop",
]


def all_flows() -> list[Flow]:
    lines = render(*MIXED).splitlines() + EXTRA
    return [f for f in map(parse_line, lines) if isinstance(f, Flow)]


def oskens_add(f: Flow, xid: int) -> bytes:
    inst = []
    if f.meter is not None:
        inst.append(parser.OFPInstructionMeter(f.meter, ofp.OFPIT_METER))
    if f.forward == "NORMAL":
        inst.append(parser.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, [parser.OFPActionOutput(ofp.OFPP_NORMAL, 0)]))
    elif f.forward:
        inst.append(parser.OFPInstructionGotoTable(int(f.forward.split(":")[1])))
    msg = parser.OFPFlowMod(
        DP, cookie=f.cookie, table_id=0, command=ofp.OFPFC_ADD, priority=f.priority, buffer_id=ofp.OFP_NO_BUFFER,
        out_port=ofp.OFPP_ANY, out_group=ofp.OFPG_ANY, match=parser.OFPMatch(**wire.oxm(f.match)), instructions=inst,
    )  # fmt: skip
    msg.set_xid(xid)
    msg.serialize()
    return bytes(msg.buf)


def oskens_delete(f: Flow, xid: int) -> bytes:
    msg = parser.OFPFlowMod(
        DP, cookie=f.cookie, cookie_mask=0xFFFFFFFFFFFFFFFF, table_id=0, command=ofp.OFPFC_DELETE_STRICT,
        priority=f.priority, out_port=ofp.OFPP_ANY, out_group=ofp.OFPG_ANY, match=parser.OFPMatch(**wire.oxm(f.match)),
    )  # fmt: skip
    msg.set_xid(xid)
    msg.serialize()
    return bytes(msg.buf)


def test_every_add_is_byte_identical_to_oskens():
    flows = all_flows()
    assert len(flows) == 13
    for xid, f in enumerate(flows, start=100):
        assert wire.flow_mod(xid, f, 0, wire.OFPFC_ADD) == oskens_add(f, xid), f.text()


def test_every_strict_delete_is_byte_identical_to_oskens():
    for xid, f in enumerate(all_flows(), start=500):
        assert wire.flow_mod(xid, f, 0, wire.OFPFC_DELETE_STRICT) == oskens_delete(f, xid), f.text()


def test_os_ken_parses_the_packed_message_back_to_the_same_flow():
    f = parse_line(EXTRA[0])
    data = wire.flow_mod(9, f, 0, wire.OFPFC_ADD)
    msg = parser.OFPFlowMod.parser(DP, ofp.OFP_VERSION, ofp.OFPT_FLOW_MOD, len(data), 9, data)
    assert (msg.cookie, msg.priority, msg.command) == (f.cookie, f.priority, ofp.OFPFC_ADD)
    assert dict(msg.match.items()) == {**wire.oxm(f.match), "ipv6_src": ("2001:db8::", "ffff:ffff:ffff::")}


def test_in_port_is_packed_with_the_switchs_port_number():
    f = parse_line("cookie=0xe4f0000000000014 priority=39500 ipv6,in_port=p1,ipv6_src=fe80::/10 actions=NORMAL")
    ports = {"p1": 7}
    msg = parser.OFPFlowMod(
        DP, cookie=f.cookie, table_id=0, command=ofp.OFPFC_ADD, priority=f.priority, buffer_id=ofp.OFP_NO_BUFFER,
        out_port=ofp.OFPP_ANY, out_group=ofp.OFPG_ANY, match=parser.OFPMatch(**wire.oxm(f.match, ports)),
        instructions=[parser.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, [parser.OFPActionOutput(ofp.OFPP_NORMAL, 0)])],
    )  # fmt: skip
    msg.set_xid(3)
    msg.serialize()
    assert wire.flow_mod(3, f, 0, wire.OFPFC_ADD, ports) == bytes(msg.buf)


def test_other_commands_are_refused():
    with pytest.raises(ValueError):
        wire.flow_mod(1, all_flows()[0], 0, 3)  # OFPFC_DELETE (non-strict) could hit more than one flow


def test_oxm_round_trip_matches_what_a_switch_returns():
    for f in all_flows():
        assert wire.match_from_oxm(wire.oxm(f.match)) == f.match, f.text()
    # a switch reports masks as (address, mask) pairs
    assert wire.match_from_oxm({"eth_type": 0x86DD, "ipv6_src": ("2001:db8::", "ffff:ffff:ffff:ffff::")}).src == (
        ip_network("2001:db8::/64")
    )
    with pytest.raises(FlowError, match="not a prefix mask"):
        wire.match_from_oxm({"eth_type": 0x0800, "ipv4_src": ("198.18.0.0", "255.0.255.0")})
    with pytest.raises(FlowError, match="vlan_vid"):
        wire.match_from_oxm({"eth_type": 0x0800, "ipv4_src": "198.18.0.1", "vlan_vid": 3})


def test_in_port_needs_a_port_the_switch_has():
    f = parse_line("cookie=0xe4f0000000000014 priority=39000 ip,in_port=p1 actions=drop")
    assert wire.oxm(f.match, {"p1": 3})["in_port"] == 3
    with pytest.raises(FlowError, match="port p1 is not on the switch"):
        wire.oxm(f.match, {"p2": 4})
    assert wire.match_from_oxm({"eth_type": 0x0800, "in_port": 3}, {3: "p1"}) == f.match


def test_deleting_an_unparsed_flow_is_strict_and_refused_for_a_cookie_enforcer_does_not_own():
    owner = ownership()
    with pytest.raises(FlowError, match="enforcer does not own it"):
        wire.delete_unparsed(DP, owner, 0x7, 41032, parser.OFPMatch())
    msg = wire.delete_unparsed(DP, owner, owner.cookie_magic + 5, 41032, parser.OFPMatch(eth_type=0x0800))
    assert (msg.command, msg.cookie, msg.cookie_mask) == (ofp.OFPFC_DELETE_STRICT, owner.cookie_magic + 5, 2**64 - 1)


def test_openflow_14_flow_mods_and_the_bundle_add_carrying_them_are_byte_identical_to_oskens():
    from os_ken.ofproto import ofproto_v1_4 as ofp14
    from os_ken.ofproto import ofproto_v1_4_parser as parser14

    dp14 = SimpleNamespace(ofproto=ofp14, ofproto_parser=parser14, id=1)
    for xid, f in enumerate(all_flows(), start=700):
        inst = []
        if f.meter is not None:
            inst.append(parser14.OFPInstructionMeter(f.meter, ofp14.OFPIT_METER))
        if f.forward == "NORMAL":
            out = parser14.OFPActionOutput(ofp14.OFPP_NORMAL, 0)
            inst.append(parser14.OFPInstructionActions(ofp14.OFPIT_APPLY_ACTIONS, [out]))
        elif f.forward:
            inst.append(parser14.OFPInstructionGotoTable(int(f.forward.split(":")[1])))
        mod = parser14.OFPFlowMod(
            dp14, cookie=f.cookie, table_id=0, command=ofp14.OFPFC_ADD, priority=f.priority,
            buffer_id=ofp14.OFP_NO_BUFFER, out_port=ofp14.OFPP_ANY, out_group=ofp14.OFPG_ANY,
            match=parser14.OFPMatch(**wire.oxm(f.match)), instructions=inst,
        )  # fmt: skip
        add = parser14.OFPBundleAddMsg(dp14, 9, ofp14.OFPBF_ATOMIC | ofp14.OFPBF_ORDERED, mod, [])
        add.set_xid(xid)
        add.serialize()
        packed = wire.flow_mod(xid, f, 0, wire.OFPFC_ADD, version=ofp14.OFP_VERSION)
        assert packed == bytes(mod.buf), f.text()
        assert wire.bundle_add(9, wire.OFPBF_ATOMIC | wire.OFPBF_ORDERED, packed) == bytes(add.buf), f.text()
