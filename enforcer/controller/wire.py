"""OpenFlow 1.3/1.4 on the wire for enforcer's few flow shapes: flow-mods (and the bundle messages
that carry them) out, flow and meter stats in.

os-ken builds a flow-mod through ``OFPMatch`` (netaddr conversions per field) and generic
serialization: about 120 µs per flow, most of a 10,000-flow install. enforcer writes only the
matches of :class:`~enforcer.controller.flows.Match` and three instructions, so the bytes are packed
here directly (OpenFlow 1.3.5 §7.2.3, §7.3.4.2; the 1.4 flow-mod has the same layout, its pad
bytes became ``importance``, left 0), and so is the 1.4 bundle-add that wraps one (OpenFlow 1.4.1
§7.3.9). ``tests/test_openflow_wire.py`` checks every shape against os-ken's own parser, for both
versions, so this never drifts from what os-ken would send.

The rarer messages (meter-mods, deleting a flow enforcer cannot parse) and the decoding of the
switch's replies go through os-ken's parser objects, reached through the datapath (``dp.ofproto``,
``dp.ofproto_parser``): this module imports no os-ken itself.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from functools import lru_cache
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network
from typing import Any

from ..model import Prefix
from .flows import Flow, FlowError, Match, Meter, Ownership

OFP_VERSION = 0x04
OFP14_VERSION = 0x05
OFPT_FLOW_MOD = 14
OFPT_BUNDLE_ADD_MESSAGE = 34
OFPBF_ATOMIC = 1 << 0
OFPBF_ORDERED = 1 << 1
OFPFC_ADD = 0
OFPFC_DELETE_STRICT = 4
OFP_NO_BUFFER = 0xFFFFFFFF
OFPP_ANY = 0xFFFFFFFF
OFPG_ANY = 0xFFFFFFFF
OFPP_NORMAL = 0xFFFFFFFA
OFPMT_OXM = 1
OFPXMC_OPENFLOW_BASIC = 0x8000
OFPIT_GOTO_TABLE = 1
OFPIT_APPLY_ACTIONS = 4
OFPIT_METER = 6
OFPAT_OUTPUT = 0
ALL_ONES = 0xFFFFFFFFFFFFFFFF

ETH_TYPE = {4: 0x0800, 6: 0x86DD}
IP_PROTO = {"tcp": 6, "udp": 17}
ICMP_PROTO = {4: 1, 6: 58}

# OXM field numbers
IN_PORT = 0
ETH_TYPE_F, IP_PROTO_F, IPV4_SRC, IPV4_DST, TCP_DST, UDP_DST, IPV6_SRC, IPV6_DST = 5, 10, 11, 12, 14, 16, 26, 27

_HEADER = struct.Struct("!BBHI")
_FLOW_MOD = struct.Struct("!QQBBHHHIIIH2x")
_BUNDLE_ADD = struct.Struct("!I2xH")


# ------------------------------------------------------------------ prefixes


def _address_and_mask(p: Prefix) -> tuple[IPv4Address | IPv6Address, IPv4Address | IPv6Address | None]:
    """How OpenFlow carries a prefix: a host is its bare address, anything shorter address + mask."""
    return p.network_address, (None if p.prefixlen == p.max_prefixlen else p.netmask)


def _prefix_from_oxm(value: Any) -> Prefix:
    """A switch reports a masked field as ``(address, mask)``; only contiguous masks are prefixes."""
    if not isinstance(value, tuple):
        return ip_network(value)
    addr, mask = value
    mask_int = int(ip_address(mask))
    width = 32 if ":" not in mask else 128
    plen = bin(mask_int).count("1")
    if mask_int != ((1 << width) - 1) ^ ((1 << (width - plen)) - 1):
        raise FlowError(f"{addr}/{mask}: not a prefix mask")
    return ip_network(f"{addr}/{plen}", strict=False)


# ------------------------------------------------------------------ matches as os-ken keyword arguments


def oxm(m: Match, ports: Mapping[str, int] | None = None) -> dict[str, Any]:
    """Keyword arguments for os-ken's ``OFPMatch`` (OpenFlow 1.3 OXM names); ``ports`` maps names."""
    out: dict[str, Any] = {"eth_type": ETH_TYPE[m.family]}
    if m.in_port is not None:
        out["in_port"] = m.port_number(ports)
    if m.proto in IP_PROTO:
        out["ip_proto"] = IP_PROTO[m.proto]
    elif m.proto == "icmp":
        out["ip_proto"] = ICMP_PROTO[m.family]
    name = "ipv4" if m.family == 4 else "ipv6"
    for side, prefix in (("src", m.src), ("dst", m.dst)):
        if prefix is not None:
            addr, mask = _address_and_mask(prefix)
            out[f"{name}_{side}"] = str(addr) if mask is None else (str(addr), str(mask))
    if m.tp_dst is not None:
        out[f"{m.proto}_dst"] = m.tp_dst
    return out


def match_from_oxm(fields_in: Mapping[str, Any], names: Mapping[int, str] | None = None) -> Match:
    """The inverse of :func:`oxm`; a field enforcer never writes raises :class:`FlowError`."""
    fields = dict(fields_in)
    port = fields.pop("in_port", None)
    in_port = None if port is None else (names or {}).get(port, str(port))
    family = {v: k for k, v in ETH_TYPE.items()}.get(fields.pop("eth_type", 0))
    if family is None:
        raise FlowError(f"match {dict(fields_in)}: eth_type is not IPv4 or IPv6")
    proto = None
    if "ip_proto" in fields:
        number = fields.pop("ip_proto")
        proto = {6: "tcp", 17: "udp", ICMP_PROTO[family]: "icmp"}.get(number)
        if proto is None:
            raise FlowError(f"match {dict(fields_in)}: ip_proto {number} is not one enforcer writes")
    name = "ipv4" if family == 4 else "ipv6"
    src = fields.pop(f"{name}_src", None)
    dst = fields.pop(f"{name}_dst", None)
    tp_dst = fields.pop(f"{proto}_dst", None) if proto in IP_PROTO else None
    if fields:
        raise FlowError(f"match {dict(fields_in)}: fields {sorted(fields)} are not ones enforcer writes")
    return Match(
        family=family,
        proto=proto,
        src=None if src is None else _prefix_from_oxm(src),
        dst=None if dst is None else _prefix_from_oxm(dst),
        tp_dst=tp_dst,
        in_port=in_port,
    )


# ------------------------------------------------------------------ flow-mods, packed directly


def _tlv(field: int, value: bytes, mask: bytes | None = None) -> bytes:
    payload = value + (mask or b"")
    return struct.pack("!HBB", OFPXMC_OPENFLOW_BASIC, field << 1 | (mask is not None), len(payload)) + payload


def _prefix_tlv(field: int, prefix: Prefix) -> bytes:
    addr, mask = _address_and_mask(prefix)
    return _tlv(field, addr.packed, None if mask is None else mask.packed)


def match_bytes(m: Match, ports: Mapping[str, int] | None = None) -> bytes:
    """``ofp_match``: OXM TLVs in field-number order (as os-ken writes them; in_port, then the
    prerequisites eth_type and ip_proto before the fields needing them), padded to 8 bytes."""
    tlvs = [(ETH_TYPE_F, _tlv(ETH_TYPE_F, struct.pack("!H", ETH_TYPE[m.family])))]
    if m.in_port is not None:
        tlvs.append((IN_PORT, _tlv(IN_PORT, struct.pack("!I", m.port_number(ports)))))
    if m.proto in IP_PROTO:
        tlvs.append((IP_PROTO_F, _tlv(IP_PROTO_F, bytes([IP_PROTO[m.proto]]))))
    elif m.proto == "icmp":
        tlvs.append((IP_PROTO_F, _tlv(IP_PROTO_F, bytes([ICMP_PROTO[m.family]]))))
    src, dst = (IPV4_SRC, IPV4_DST) if m.family == 4 else (IPV6_SRC, IPV6_DST)
    if m.src is not None:
        tlvs.append((src, _prefix_tlv(src, m.src)))
    if m.dst is not None:
        tlvs.append((dst, _prefix_tlv(dst, m.dst)))
    if m.tp_dst is not None:
        port = TCP_DST if m.proto == "tcp" else UDP_DST
        tlvs.append((port, _tlv(port, struct.pack("!H", m.tp_dst))))
    fields = b"".join(tlv for _, tlv in sorted(tlvs, key=lambda t: t[0]))
    length = 4 + len(fields)
    return struct.pack("!HH", OFPMT_OXM, length) + fields + b"\0" * (-length % 8)


def instructions_bytes(f: Flow) -> bytes:
    out = b""
    if f.meter is not None:
        out += struct.pack("!HHI", OFPIT_METER, 8, f.meter)
    if f.forward == "NORMAL":
        action = struct.pack("!HHIH6x", OFPAT_OUTPUT, 16, OFPP_NORMAL, 0)
        out += struct.pack("!HH4x", OFPIT_APPLY_ACTIONS, 8 + len(action)) + action
    elif f.forward is not None:
        out += struct.pack("!HHB3x", OFPIT_GOTO_TABLE, 8, int(f.forward.removeprefix("goto_table:")))
    return out


def flow_mod(
    xid: int, f: Flow, table: int, command: int, ports: Mapping[str, int] | None = None, version: int = OFP_VERSION
) -> bytes:
    """ADD (with instructions) or DELETE_STRICT (exact cookie: mask all ones) of one enforcer flow;
    ``ports`` maps port names to the switch's numbers (for ``in_port``); ``version`` is the one the
    switch negotiated (1.3 or 1.4)."""
    if command == OFPFC_ADD:
        cookie_mask, body = 0, instructions_bytes(f)
    elif command == OFPFC_DELETE_STRICT:
        cookie_mask, body = ALL_ONES, b""
    else:
        raise ValueError(f"flow-mod command {command} is not one enforcer sends")
    fixed = _FLOW_MOD.pack(
        f.cookie, cookie_mask, table, command, 0, 0, f.priority, OFP_NO_BUFFER, OFPP_ANY, OFPG_ANY, 0
    )
    rest = fixed + match_bytes(f.match, ports) + body
    return _HEADER.pack(version, OFPT_FLOW_MOD, _HEADER.size + len(rest), xid) + rest


def bundle_add(bundle_id: int, flags: int, message: bytes) -> bytes:
    """OpenFlow 1.4 ``OFPT_BUNDLE_ADD_MESSAGE`` carrying one serialized message; the outer xid is
    the inner one (§7.3.9.2: the switch reports an error for the message under that xid)."""
    version, _, _, xid = _HEADER.unpack_from(message)
    rest = _BUNDLE_ADD.pack(bundle_id, flags) + message
    return _HEADER.pack(version, OFPT_BUNDLE_ADD_MESSAGE, _HEADER.size + len(rest), xid) + rest


# ------------------------------------------------------------------ os-ken messages (rare ones)


def delete_unparsed(dp: Any, owner: Ownership, cookie: int, priority: int, match: Any) -> Any:
    """Delete exactly one flow carrying enforcer's cookie that it cannot parse: strict match,
    priority and the full cookie, so that nothing else can be hit."""
    if not owner.owns_cookie(cookie):
        raise FlowError(f"refusing to delete flow cookie=0x{cookie:016x}: enforcer does not own it")
    ofp, parser = dp.ofproto, dp.ofproto_parser
    return parser.OFPFlowMod(
        dp,
        cookie=cookie,
        cookie_mask=ALL_ONES,
        table_id=owner.table,
        command=ofp.OFPFC_DELETE_STRICT,
        priority=priority,
        out_port=ofp.OFPP_ANY,
        out_group=ofp.OFPG_ANY,
        match=match,
    )


def meter_mod(dp: Any, command: int, m: Meter) -> Any:
    ofp, parser = dp.ofproto, dp.ofproto_parser
    band = parser.OFPMeterBandDrop(rate=m.rate_kbps, burst_size=m.burst_kbits)
    return parser.OFPMeterMod(dp, command, ofp.OFPMF_KBPS | ofp.OFPMF_BURST, m.meter_id, [band])


def meter_delete(dp: Any, meter_id: int) -> Any:
    return dp.ofproto_parser.OFPMeterMod(dp, dp.ofproto.OFPMC_DELETE, 0, meter_id, [])


# ------------------------------------------------------------------ reading the switch's replies


def switch_ports(dp: Any) -> dict[str, int]:
    """Port name → number, as os-ken's OFP handler learnt them (port description on connect, then
    port-status messages)."""
    out = {}
    for number, port in (getattr(dp, "ports", None) or {}).items():
        name = port.name.decode(errors="replace") if isinstance(port.name, bytes) else str(port.name)
        out[name.rstrip("\0")] = number
    return out


def flow_from_stats(ofp: Any, st: Any, names: Mapping[int, str]) -> Flow:
    """One ``OFPFlowStats`` → :class:`Flow`; instructions enforcer never writes raise :class:`FlowError`."""
    meter: int | None = None
    forward: str | None = None
    for inst in st.instructions:
        if inst.type == ofp.OFPIT_METER:
            meter = inst.meter_id
        elif inst.type == ofp.OFPIT_GOTO_TABLE:
            forward = f"goto_table:{inst.table_id}"
        elif (
            inst.type == ofp.OFPIT_APPLY_ACTIONS
            and len(inst.actions) == 1
            and getattr(inst.actions[0], "port", None) == ofp.OFPP_NORMAL
        ):
            forward = "NORMAL"
        elif inst.type == ofp.OFPIT_APPLY_ACTIONS and not inst.actions:
            continue
        else:
            raise FlowError(f"instruction {inst} is not one enforcer writes")
    if meter is not None and forward is None:
        raise FlowError("meter without forwarding")
    return Flow(st.cookie, st.priority, _match(tuple(st.match.items()), names), meter, forward)


def _match(items: tuple[tuple[str, Any], ...], names: Mapping[int, str]) -> Match:
    """:func:`match_from_oxm`, cached for matches without a port (all but anti-spoof's few): a
    full read of 100,000 flows converts mostly the matches the previous read converted."""
    if any(k == "in_port" for k, _ in items):
        return match_from_oxm(dict(items), names)
    return _portless_match(items)


@lru_cache(maxsize=1 << 18)
def _portless_match(items: tuple[tuple[str, Any], ...]) -> Match:
    return match_from_oxm(dict(items))


def meter_from_config(ofp: Any, c: Any) -> Meter:
    """A meter in enforcer's band; one that is not a KBPS+BURST single drop band reads as rate -1,
    so that it differs from any desired meter and is rewritten."""
    flags = c.flags & (ofp.OFPMF_KBPS | ofp.OFPMF_PKTPS | ofp.OFPMF_BURST)
    if flags == ofp.OFPMF_KBPS | ofp.OFPMF_BURST and len(c.bands) == 1 and c.bands[0].type == ofp.OFPMBT_DROP:
        return Meter(c.meter_id, c.bands[0].rate, c.bands[0].burst_size)
    return Meter(c.meter_id, -1, -1)
