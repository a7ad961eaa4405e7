"""OpenFlow 1.3 flow-mod encoding for enforcer's few match fields, without os-ken's object layer.

os-ken builds a flow-mod through ``OFPMatch`` (netaddr conversions per field) and generic
serialization: about 120 µs per flow, most of a 10,000-flow install. enforcer writes only the
matches of :class:`~enforcer.controller.flows.Match` and three instructions, so the bytes are packed
here directly (OpenFlow 1.3.5 §7.2.3, §7.3.4.2). ``tests/test_openflow_wire.py`` checks every shape
against os-ken's own parser, so this never drifts from what os-ken would send.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

from .flows import ICMP_PROTO, IP_PROTO, Flow, Match

OFP_VERSION = 0x04
OFPT_FLOW_MOD = 14
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

# OXM field numbers
IN_PORT = 0
ETH_TYPE, IP_PROTO_F, IPV4_SRC, IPV4_DST, TCP_DST, UDP_DST, IPV6_SRC, IPV6_DST = 5, 10, 11, 12, 14, 16, 26, 27

_HEADER = struct.Struct("!BBHI")
_FLOW_MOD = struct.Struct("!QQBBHHHIIIH2x")


def _oxm(field: int, value: bytes, mask: bytes | None = None) -> bytes:
    payload = value + (mask or b"")
    return struct.pack("!HBB", OFPXMC_OPENFLOW_BASIC, field << 1 | (mask is not None), len(payload)) + payload


def _prefix(field: int, prefix: object) -> bytes:
    addr = prefix.network_address.packed  # type: ignore[attr-defined]
    if prefix.prefixlen == prefix.max_prefixlen:  # type: ignore[attr-defined]
        return _oxm(field, addr)
    return _oxm(field, addr, prefix.netmask.packed)  # type: ignore[attr-defined]


def match_bytes(m: Match, ports: Mapping[str, int] | None = None) -> bytes:
    """``ofp_match``: OXM TLVs in field-number order (as os-ken writes them; in_port, then the
    prerequisites eth_type and ip_proto before the fields needing them), padded to 8 bytes."""
    tlvs = [(ETH_TYPE, _oxm(ETH_TYPE, struct.pack("!H", 0x0800 if m.family == 4 else 0x86DD)))]
    if m.in_port is not None:
        tlvs.append((IN_PORT, _oxm(IN_PORT, struct.pack("!I", m.port_number(ports)))))
    if m.proto in IP_PROTO:
        tlvs.append((IP_PROTO_F, _oxm(IP_PROTO_F, bytes([IP_PROTO[m.proto]]))))
    elif m.proto == "icmp":
        tlvs.append((IP_PROTO_F, _oxm(IP_PROTO_F, bytes([ICMP_PROTO[m.family]]))))
    src, dst = (IPV4_SRC, IPV4_DST) if m.family == 4 else (IPV6_SRC, IPV6_DST)
    if m.src is not None:
        tlvs.append((src, _prefix(src, m.src)))
    if m.dst is not None:
        tlvs.append((dst, _prefix(dst, m.dst)))
    if m.tp_dst is not None:
        port = TCP_DST if m.proto == "tcp" else UDP_DST
        tlvs.append((port, _oxm(port, struct.pack("!H", m.tp_dst))))
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


def flow_mod(xid: int, f: Flow, table: int, command: int, ports: Mapping[str, int] | None = None) -> bytes:
    """ADD (with instructions) or DELETE_STRICT (exact cookie: mask all ones) of one enforcer flow;
    ``ports`` maps port names to the switch's numbers (for ``in_port``)."""
    if command == OFPFC_ADD:
        cookie_mask, body = 0, instructions_bytes(f)
    elif command == OFPFC_DELETE_STRICT:
        cookie_mask, body = 0xFFFFFFFFFFFFFFFF, b""
    else:
        raise ValueError(f"flow-mod command {command} is not one enforcer sends")
    fixed = _FLOW_MOD.pack(
        f.cookie, cookie_mask, table, command, 0, 0, f.priority, OFP_NO_BUFFER, OFPP_ANY, OFPG_ANY, 0
    )
    rest = fixed + match_bytes(f.match, ports) + body
    return _HEADER.pack(OFP_VERSION, OFPT_FLOW_MOD, _HEADER.size + len(rest), xid) + rest
