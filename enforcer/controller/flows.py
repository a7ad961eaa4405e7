"""OpenFlow flows and meters as enforcer sees them: typed values, one text line each, and the diff.

``templates/openflow/section.j2`` spells the desired set as lines in ``ovs-ofctl`` syntax::

    meter=65578 kbps burst bands=type=drop rate=10000 burst_size=1000
    cookie=0xe4f0000000000007 priority=41032 ip,nw_dst=198.18.0.12 actions=drop

The controller parses those lines for meters and anti-spoof, and makes the ACL and null-route flows
(the bulk) straight from the section's entries, spelled as the template spells them
(:mod:`.entries`, held equal to this parse by ``tests/test_openflow_entries.py``); it reads the
switch's own flows and meters back into the same values
(:mod:`.wire` decodes them), prints them in the same canonical order, and :func:`diff` says which
OpenFlow messages turn live into desired. The template and the ``text()`` methods here spell the
same grammar twice (the template renders, Python prints the read-back); ``tests/test_openflow_flows.py``
renders every entry kind and checks that both agree line for line. Nothing here does I/O or
imports os-ken.

Ownership: a flow is enforcer's when ``cookie & cookie_mask == cookie_magic``; a meter is
enforcer's when its id lies in ``[meter_base, meter_base + meter_span)``. Everything else on the
switch is never read into a diff and so never deleted. The priority band ``[lowest, highest + 999]``
of ``platform.yaml``'s ``priorities`` is where another owner's flow could sit on the very priority
and match of one of enforcer's (an OpenFlow ADD would replace it): such flows are read too, as
conflicts, and never written over.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache, lru_cache
from ipaddress import ip_network
from pathlib import Path
from typing import Any

import yaml

from ..inventory import Device
from ..model import EnforcerError, Prefix
from ..resources import TEMPLATES

PLATFORM_YAML = TEMPLATES / "openflow" / "platform.yaml"

#: ``(family, protocol)`` → the ovs-ofctl keyword that implies eth_type (and ip_proto).
_KEYWORDS = {
    (4, None): "ip",
    (6, None): "ipv6",
    (4, "tcp"): "tcp",
    (6, "tcp"): "tcp6",
    (4, "udp"): "udp",
    (6, "udp"): "udp6",
    (4, "icmp"): "icmp",
    (6, "icmp"): "icmp6",
}
_BY_KEYWORD = {v: k for k, v in _KEYWORDS.items()}

_FLOW = re.compile(r"^cookie=0x(?P<cookie>[0-9a-f]{1,16}) priority=(?P<prio>\d+) (?P<match>\S+) actions=(?P<act>\S+)$")
_METER = re.compile(r"^meter=(?P<id>\d+) kbps burst bands=type=drop rate=(?P<rate>\d+) burst_size=(?P<burst>\d+)$")
_FORWARD = re.compile(r"^(NORMAL|goto_table:\d{1,3})$")
_PORT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}$")


class FlowError(EnforcerError):
    """A line that is not in enforcer's flow/meter grammar, or a value outside enforcer's space."""


@dataclass(frozen=True)
class Ownership:
    """Which cookies and meter ids are enforcer's on one switch (``platform.yaml`` + device overrides)."""

    cookie_magic: int
    cookie_mask: int
    meter_base: int
    meter_span: int
    table: int = 0
    priority_band: tuple[int, int] = (39000, 42999)

    def owns_cookie(self, cookie: int) -> bool:
        return cookie & self.cookie_mask == self.cookie_magic

    def owns_meter(self, meter_id: int) -> bool:
        return self.meter_base <= meter_id < self.meter_base + self.meter_span

    def in_band(self, priority: int) -> bool:
        """A priority enforcer's flows may use (``platform.yaml`` priorities, each + up to 999)."""
        return self.priority_band[0] <= priority <= self.priority_band[1]


def ownership(device: Device | None = None, platform_yaml: Path = PLATFORM_YAML) -> Ownership:
    """The ownership rules from ``templates/openflow/platform.yaml``; a device may move the meter band
    (``optional_args.meter_base`` / ``meter_span``) when its switch already uses those meter ids."""
    data = _openflow_facts(platform_yaml)
    args: dict[str, Any] = dict(device.optional_args) if device is not None else {}
    priorities = [int(p) for p in data["priorities"].values()]
    return Ownership(
        cookie_magic=int(data["cookie_magic"]),
        cookie_mask=int(data["cookie_mask"]),
        meter_base=int(args.get("meter_base", data["meter_base"])),
        meter_span=int(args.get("meter_span", data["meter_span"])),
        table=int(data.get("table", 0)),
        priority_band=(min(priorities), max(priorities) + 999),
    )


def priorities(platform_yaml: Path = PLATFORM_YAML) -> dict[str, int]:
    """Base priority of each action's flows (``section.j2`` adds the prefix length, or 500)."""
    return {str(k): int(v) for k, v in _openflow_facts(platform_yaml)["priorities"].items()}


@cache
def _openflow_facts(path: Path) -> dict[str, Any]:
    """Read once per process: every sync asks, and a YAML parse costs more than the sync's own work."""
    return dict((yaml.safe_load(path.read_text()) or {}).get("openflow", {}))


@dataclass(frozen=True)
class Match:
    """The only matches enforcer writes: address family, optional L4 protocol and port, src/dst
    prefix, and the switch port a packet came in on (by name: numbers are the switch's business)."""

    family: int
    proto: str | None = None
    src: Prefix | None = None
    dst: Prefix | None = None
    tp_dst: int | None = None
    in_port: str | None = None
    #: The hash, once: a flow's key (priority, match) is hashed by the parse's duplicate check, by
    #: both sides of every diff and by the switch's read-back, and an address's hash is Python code.
    _hash: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((self.family, self.proto, self.src, self.dst, self.tp_dst,
                                                self.in_port)))

    def __hash__(self) -> int:
        return self._hash

    def text(self) -> str:
        parts = [_KEYWORDS[(self.family, self.proto)]]
        if self.in_port is not None:
            parts.append(f"in_port={self.in_port}")
        name = "nw" if self.family == 4 else "ipv6"
        if self.src is not None:
            parts.append(f"{name}_src={_prefix_text(self.src)}")
        if self.dst is not None:
            parts.append(f"{name}_dst={_prefix_text(self.dst)}")
        if self.tp_dst is not None:
            parts.append(f"tp_dst={self.tp_dst}")
        return ",".join(parts)

    @classmethod
    def parse(cls, text: str) -> Match:
        keyword, *fields = text.split(",")
        if keyword not in _BY_KEYWORD:
            raise FlowError(f"{text}: unknown match keyword {keyword!r}")
        family, proto = _BY_KEYWORD[keyword]
        name = "nw" if family == 4 else "ipv6"
        values: dict[str, Any] = {}
        for f in fields:
            key, _, value = f.partition("=")
            try:
                if key == f"{name}_src":
                    values["src"] = _parse_prefix(value, family)
                elif key == f"{name}_dst":
                    values["dst"] = _parse_prefix(value, family)
                elif key == "in_port" and _PORT_NAME.match(value):
                    values["in_port"] = value
                elif key == "tp_dst" and proto in ("tcp", "udp"):
                    values["tp_dst"] = int(value)
                    if not 1 <= values["tp_dst"] <= 65535:
                        raise ValueError("port out of range")
                else:
                    raise FlowError(f"{text}: field {key!r} is not one enforcer writes")
            except ValueError as exc:
                raise FlowError(f"{text}: {key}: {exc}") from None
        return cls(family=family, proto=proto, **values)

    def port_number(self, ports: Mapping[str, int] | None) -> int | None:
        """The switch's number for ``in_port``; :class:`FlowError` when the switch has no such port."""
        if self.in_port is None:
            return None
        number = (ports or {}).get(self.in_port)
        if number is None:
            raise FlowError(f"port {self.in_port} is not on the switch")
        return number


@dataclass(frozen=True)
class Flow:
    """One flow in table ``Ownership.table``: drop (no meter, no forward), forward (anti-spoof's
    permitted sources) or meter-then-forward (rate limit)."""

    cookie: int
    priority: int
    match: Match
    meter: int | None = None
    forward: str | None = None

    @property
    def key(self) -> tuple[int, Match]:
        """OpenFlow's identity of a flow within a table: priority and match."""
        return (self.priority, self.match)

    def actions_text(self) -> str:
        if self.meter is None and self.forward is None:
            return "drop"
        parts = ([f"meter:{self.meter}"] if self.meter is not None else []) + ([self.forward] if self.forward else [])
        return ",".join(parts)

    def text(self) -> str:
        return f"cookie=0x{self.cookie:016x} priority={self.priority} {self.match.text()} actions={self.actions_text()}"

    def sort_key(self) -> tuple:
        """Canonical order; the template emits lines in it: band (high first), cookie, dst before src,
        port, then by source (IPv4 before IPv6, numerically)."""
        src = self.match.src
        return (
            -(self.priority // 1000),
            self.cookie,
            src is not None,
            self.match.tp_dst or 0,
            self.match.family,
            int(src.network_address) if src is not None else 0,
            src.prefixlen if src is not None else 0,
        )


@dataclass(frozen=True)
class Meter:
    """A KBPS meter with one drop band and an explicit burst (docs/lab-facts.md: without it short tests overshoot)."""

    meter_id: int
    rate_kbps: int
    burst_kbits: int

    def text(self) -> str:
        return f"meter={self.meter_id} kbps burst bands=type=drop rate={self.rate_kbps} burst_size={self.burst_kbits}"


@dataclass(frozen=True)
class SwitchState:
    """Enforcer-owned flows and meters of one switch, desired or live."""

    flows: tuple[Flow, ...] = ()
    meters: tuple[Meter, ...] = ()

    def text(self) -> str:
        return format_state(self.flows, self.meters)


def unrecognised_line(cookie: int, priority: int) -> str:
    """How state prints a flow with enforcer's cookie that it cannot parse: plan lists it as a removal
    (the sync deletes it), and it can never equal a rendered line."""
    return f"cookie=0x{cookie:016x} priority={priority} unrecognised actions=unrecognised"


def format_state(flows: Any, meters: Any) -> str:
    """Lines in canonical order: meters by id, then flows by :meth:`Flow.sort_key`; '' when empty."""
    lines = [m.text() for m in sorted(meters, key=lambda m: m.meter_id)]
    lines += [f.text() for f in sorted(flows, key=Flow.sort_key)]
    return "".join(line + "\n" for line in lines)


@lru_cache(maxsize=1 << 17)
def parse_line(line: str) -> Flow | Meter:
    """One line → an immutable value; cached, since every sync re-reads mostly the same lines."""
    m = _FLOW.match(line)
    if m:
        act = m.group("act")
        meter: int | None = None
        forward: str | None = None
        if act != "drop":
            parts = act.split(",")
            if parts[0].startswith("meter:"):
                meter = int(parts.pop(0).removeprefix("meter:"))
            if len(parts) != 1 or not _FORWARD.match(parts[0]):
                raise FlowError(f"{line}: actions must be drop, or [meter:N,] then NORMAL or goto_table:N")
            forward = parts[0]
        return Flow(int(m.group("cookie"), 16), int(m.group("prio")), Match.parse(m.group("match")), meter, forward)
    m = _METER.match(line)
    if m:
        return Meter(int(m.group("id")), int(m.group("rate")), int(m.group("burst")))
    raise FlowError(f"not an enforcer flow or meter line: {line!r}")


def parse_state(text: str, owner: Ownership | None = None) -> SwitchState:
    """Lines (rendered section or controller state) → typed state.

    With ``owner`` it also refuses anything enforcer could not later recognise as its own (a
    cookie outside the magic, a meter outside the band, a flow using a meter that is not listed)
    and a second flow with the same priority and match, which a switch cannot hold.
    """
    flows: list[Flow] = []
    meters: list[Meter] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        item = parse_line(line)
        (flows if isinstance(item, Flow) else meters).append(item)
    state = SwitchState(tuple(flows), tuple(meters))
    if owner is not None:
        check_state(state, owner)
    return state


def check_state(state: SwitchState, owner: Ownership) -> None:
    """Refuse a state enforcer could not later recognise as its own, or one a switch cannot hold
    (see :func:`parse_state`); the controller's flows made without a parse are held to it too."""
    seen: set[tuple[int, Match]] = set()
    meter_ids = {m.meter_id for m in state.meters}
    if len(meter_ids) != len(state.meters):
        raise FlowError("two meters with the same id")
    for m in state.meters:
        if not owner.owns_meter(m.meter_id):
            raise FlowError(f"meter {m.meter_id} is outside enforcer's meter band")
    for f in state.flows:
        if not owner.owns_cookie(f.cookie):
            raise FlowError(f"cookie 0x{f.cookie:016x} does not carry enforcer's magic: it could never be removed")
        if f.key in seen:
            raise FlowError(f"two flows with priority {f.priority} and match {f.match.text()}")
        if f.meter is not None and f.meter not in meter_ids:
            raise FlowError(f"flow {f.match.text()} uses meter {f.meter}, which is not in the set")
        seen.add(f.key)


@dataclass
class SyncPlan:
    """The OpenFlow changes that turn live into desired, in the order they must be sent."""

    add_meters: list[Meter] = field(default_factory=list)
    modify_meters: list[Meter] = field(default_factory=list)
    delete_flows: list[Flow] = field(default_factory=list)
    add_flows: list[Flow] = field(default_factory=list)
    delete_meters: list[Meter] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.add_meters or self.modify_meters or self.delete_flows or self.add_flows or self.delete_meters)

    def summary(self) -> dict[str, int]:
        return {
            "flows_added": len(self.add_flows),
            "flows_deleted": len(self.delete_flows),
            "meters_added": len(self.add_meters),
            "meters_modified": len(self.modify_meters),
            "meters_deleted": len(self.delete_meters),
        }


def diff(desired: SwitchState, live: SwitchState) -> SyncPlan:
    """What to send so that live equals desired. Idempotent: ``diff(s, s)`` is empty.

    A flow whose priority and match exist but whose cookie or actions differ is re-added (OpenFlow's
    ADD replaces a flow with the same priority and match in place, with no gap in enforcement).
    Meters come first (a flow may only name an existing meter); meters are deleted last.
    """
    plan = SyncPlan()
    live_meters = {m.meter_id: m for m in live.meters}
    want_meters = {m.meter_id: m for m in desired.meters}
    for mid, m in sorted(want_meters.items()):
        have = live_meters.get(mid)
        if have is None:
            plan.add_meters.append(m)
        elif have != m:
            plan.modify_meters.append(m)
    live_flows: dict[tuple[int, Match], list[Flow]] = {}
    for f in live.flows:
        live_flows.setdefault(f.key, []).append(f)
    want_flows = {f.key: f for f in desired.flows}
    for key, have in live_flows.items():
        if key not in want_flows:
            plan.delete_flows.extend(have)
        elif len(have) > 1:  # cannot happen on one table; be strict if a switch reports it
            plan.delete_flows.extend(have)
            plan.add_flows.append(want_flows[key])
    for key, f in want_flows.items():
        have = live_flows.get(key)
        if have is None or (len(have) == 1 and have[0] != f):
            plan.add_flows.append(f)
    plan.add_flows.sort(key=Flow.sort_key)
    plan.delete_flows.sort(key=Flow.sort_key)
    plan.delete_meters = [m for mid, m in sorted(live_meters.items()) if mid not in want_meters]
    return plan


# ------------------------------------------------------------------ prefixes


def _prefix_text(p: Prefix) -> str:
    return str(p.network_address) if p.prefixlen == p.max_prefixlen else str(p)


@lru_cache(maxsize=1 << 17)
def _parse_prefix(text: str, family: int) -> Prefix:
    """Cached: a null route prints its target twice (dst and src), and a read-back or the next
    render prints the same prefixes again."""
    net = ip_network(text, strict=True)
    if net.version != family:
        raise ValueError(f"{text} is not IPv{family}")
    return net
