"""The typed content of one device's managed section: what a template sees, and nothing else.

Every entry is validated and typed (networks, enums, ints) before it reaches Jinja: templates
print these, they never compute them. Built by :func:`enforcer.build.build_section`, adjusted to
the device's live slots by :mod:`enforcer.compose`.
"""

from __future__ import annotations

from itertools import compress, islice, repeat
from operator import add, attrgetter, eq, lt

from pydantic import BaseModel, ConfigDict

from .inventory import AntiSpoofMethod, Device
from .model import (
    BLACKHOLE,
    TRAFFIC_ACTIONS,  # noqa: F401 - its home is model.py now; callers import it here too
    ActionKind,
    Address,
    Community,
    Direction,
    Prefix,
    Protocol,
    Violation,
)

#: The name of every anti-spoof ACL (filter) begins so: ``ENFORCER-AS-<customers>-V<family>``.
ANTI_SPOOF_ACL = "ENFORCER-AS-"


class _Entry(BaseModel):
    model_config = ConfigDict(frozen=True)
    ids: tuple[int, ...]
    comment: str = ""


class AclRule(_Entry):
    target: Prefix
    violation: Violation
    protocol: Protocol = Protocol.ANY
    ports: tuple[int, ...] = ()
    direction: Direction = Direction.SOURCE


class NullRoute(_Entry):
    target: Prefix
    violation: Violation


class RtbhRoute(_Entry):
    target: Prefix
    community: Community = BLACKHOLE


class RateLimit(_Entry):
    target: Prefix
    rate_bps: int
    burst_bytes: int
    direction: Direction = Direction.SOURCE


class PrefixFilter(_Entry):
    """Hijacked prefixes denied on one customer's BGP session (more-specifics included)."""

    customer: str
    neighbor: Address
    asn: int | None
    denied: tuple[Prefix, ...]

    def denied_of(self, family: int) -> tuple[Prefix, ...]:
        return tuple(p for p in self.denied if p.version == family)


class RtbhGuard(BaseModel):
    """Keeps enforcer's blackhole routes off one customer's BGP session, per address family: the
    blackhole goes upstream only, never back to the customer (who would lose its own host).
    ``into``: the operator's outbound route-map enforcer's deny entry goes into (composed slot);
    None: enforcer binds its own ``ENFORCER-RTBH-GUARD``."""

    model_config = ConfigDict(frozen=True)
    neighbor: Address
    family: int
    into: str | None = None


class NeighborBinding(BaseModel):
    """What enforcer binds on one customer BGP session in one address family (its own objects
    only; entries composed into the operator's objects bind nothing): the inbound prefix-list
    of a prefix-filter, the outbound RTBH guard. One per session and family, so the templates
    print a session's lines together, as the device lists them."""

    model_config = ConfigDict(frozen=True)
    neighbor: Address
    family: int
    prefix_list: str | None = None
    route_map_out: str | None = None


class InterfaceAcl(BaseModel):
    """The one inbound ACL (Junos: filter) of one interface and family. Decided here, not in the
    templates: an interface with anti-spoof gets the anti-spoof ACL, which also carries the acl
    denies when the interface is customer-facing (``denies``); other customer-facing interfaces get
    ENFORCER-ACL-V4/-V6 when there is something to deny."""

    model_config = ConfigDict(frozen=True)
    interface: str
    family: int
    name: str
    denies: bool

    @property
    def anti_spoof(self) -> bool:
        """The customer's anti-spoof list (its permits), rather than ENFORCER-ACL-V4/-V6."""
        return self.name.startswith(ANTI_SPOOF_ACL)


class InterfaceBinding(BaseModel):
    """What enforcer binds on one interface, as the interface's lines print it: the inbound ACL
    of each family (:class:`InterfaceAcl`) and, on a customer-facing interface of a section with
    rate limits, the policer (``service-policy input ENFORCER-RL``)."""

    model_config = ConfigDict(frozen=True)
    interface: str
    acl_v4: str | None = None
    acl_v6: str | None = None
    policer: bool = False


class MatchSet(BaseModel):
    """Entries of one family that share one match (side, protocol, ports), for a platform that
    drops a whole set of addresses with one rule (nftables). An entry inside a wider entry of the
    set is left out: the wider one already drops it, and an interval set refuses overlaps."""

    model_config = ConfigDict(frozen=True)
    direction: Direction
    protocol: Protocol
    ports: tuple[int, ...]
    family: int
    entries: tuple[AclRule | NullRoute, ...]


class ComposedDeny(_Entry):
    """A hijacked prefix denied inside the operator's own inbound prefix-list ``into`` (composed
    slot, :mod:`enforcer.compose`): printed with ``<seq>`` in enforcer's reserved range."""

    into: str
    target: Prefix


class ComposedRtbh(BaseModel):
    """The operator's ``redistribute static route-map into`` of one family (composed slot,
    :mod:`enforcer.compose`): enforcer's ``match tag 666`` / ``set community`` entry goes into that
    route-map with ``<seq>`` in enforcer's reserved range, before the operator's own entries, so
    the operator's statics stay redistributed and enforcer binds no redistribution of its own."""

    model_config = ConfigDict(frozen=True)
    into: str
    family: int


class ComposedAcl(BaseModel):
    """The operator's inbound ACL ``into`` of one family, bound on a customer-facing interface
    (composed slot, :mod:`enforcer.compose`): the acl denies go into it with ``<seq>`` in
    enforcer's reserved range, before the operator's own entries; it stays the operator's."""

    model_config = ConfigDict(frozen=True)
    into: str
    family: int


class SetChain(BaseModel):
    """Junos: one ordered list enforcer composes with (:mod:`enforcer.compose_junos`), printed
    ``set <slot> [<form>] <value>`` per value in order: an interface's ``filter input-list`` /
    ``filter input`` (``form``), a BGP group's or neighbour's ``import`` / ``export`` chain. It
    holds the operator's values too once enforcer's are in it: the list is rewritten whole."""

    model_config = ConfigDict(frozen=True)
    slot: str
    form: str = ""
    values: tuple[str, ...]

    @property
    def path(self) -> str:
        return f"{self.slot} {self.form}".rstrip()


class AntiSpoof(_Entry):
    """Only ``allowed`` may source traffic arriving on ``interface``: the customer's own prefixes,
    the attachment's interconnect subnets and its BGP neighbour address (so the customer's session
    stays up). Link-local and ICMPv6 neighbour discovery are permitted by each platform's template
    (their spelling differs; what is permitted does not). ``method``: the device's choice; with
    uRPF the router's reverse-path check replaces the list (``templates/<platform>/urpf.j2``)."""

    customer: str
    interface: str
    allowed: tuple[Prefix, ...]
    method: AntiSpoofMethod = AntiSpoofMethod.ACL

    @property
    def urpf(self) -> str | None:
        """``rx`` (strict: the source is routed back out of this interface) or ``any`` (loose:
        the source is routed at all), the keyword every vendor's uRPF command takes; None for acl."""
        return {AntiSpoofMethod.URPF_STRICT: "rx", AntiSpoofMethod.URPF_LOOSE: "any"}.get(self.method)


class MeteredRate(BaseModel):
    """A rate limit with the switch meter id it was given (OpenFlow: render.allocate_meters)."""

    model_config = ConfigDict(frozen=True)
    rate: RateLimit
    meter: int


class Section(BaseModel):
    """Everything one device must carry, in a stable order so that renders diff cleanly."""

    model_config = ConfigDict(frozen=True)
    device: Device
    acl: tuple[AclRule, ...] = ()
    null_routes: tuple[NullRoute, ...] = ()
    rtbh: tuple[RtbhRoute, ...] = ()
    rate_limits: tuple[RateLimit, ...] = ()
    prefix_filters: tuple[PrefixFilter, ...] = ()
    anti_spoof: tuple[AntiSpoof, ...] = ()
    composed_denies: tuple[ComposedDeny, ...] = ()
    rtbh_guards: tuple[RtbhGuard, ...] = ()
    composed_rtbh: tuple[ComposedRtbh, ...] = ()
    #: interfaces that may carry enforcer's ACLs (customer-facing, then anti-spoof), in order
    acl_interfaces: tuple[str, ...] = ()
    #: the inbound ACL per interface and family, sorted by (interface, family)
    interface_acls: tuple[InterfaceAcl, ...] = ()
    composed_acls: tuple[ComposedAcl, ...] = ()
    #: Junos: the filter lists and import/export chains holding enforcer's objects, decided by
    #: enforcer.compose_junos; None: not composed against a live config (every slot free)
    set_chains: tuple[SetChain, ...] | None = None
    #: Junos: families whose free filter lists end in enforcer's ENFORCER-ACCEPT-V4/-V6 filter
    accept_filters: tuple[int, ...] = ()
    #: OpenFlow: each rate limit that owns a flow, with its meter id (offset in the device's band)
    metered: tuple[MeteredRate, ...] = ()
    #: customer BGP sessions on the device (inventory); enforcer.compose guards those the device has
    customer_neighbors: tuple[Address, ...] = ()
    unsupported: tuple[tuple[int, ActionKind], ...] = ()
    protected: tuple[int, ...] = ()

    @property
    def neighbor_bindings(self) -> tuple[NeighborBinding, ...]:
        """Enforcer's bindings per customer session and family, by family then address."""
        found: dict[tuple[int, int, int], dict] = {}
        for f in self.prefix_filters:
            for family in (4, 6):
                if f.denied_of(family):
                    found.setdefault((family, f.neighbor.version, int(f.neighbor)), {"neighbor": f.neighbor})[
                        "prefix_list"
                    ] = f"ENFORCER-HIJACK-{f.customer}-V{family}"
        for g in self.rtbh_guards:
            if g.into is None:
                found.setdefault((g.family, g.neighbor.version, int(g.neighbor)), {"neighbor": g.neighbor})[
                    "route_map_out"
                ] = "ENFORCER-RTBH-GUARD"
        return tuple(NeighborBinding(family=key[0], **fields) for key, fields in sorted(found.items()))

    @property
    def interface_bindings(self) -> tuple[InterfaceBinding, ...]:
        """Per interface (``acl_interfaces`` order) what enforcer binds there; none: left out."""
        acls = {(a.interface, a.family): a.name for a in self.interface_acls}
        out = []
        for iface in self.acl_interfaces:
            policer = bool(self.rate_limits) and iface in self.device.attach_interfaces
            v4, v6 = acls.get((iface, 4)), acls.get((iface, 6))
            if v4 is not None or v6 is not None or policer:
                out.append(InterfaceBinding(interface=iface, acl_v4=v4, acl_v6=v6, policer=policer))
        return tuple(out)

    def acl_objects(self, family: int) -> tuple[InterfaceAcl, ...]:
        """The ACLs (Junos: filters) of ``family`` to print, each once however many interfaces
        bind it: by (interface, family), a name printed where it is first bound."""
        bound = {(a.interface, a.family): a for a in self.interface_acls}
        seen: set[str] = set()
        out = []
        for key in sorted(bound):
            acl = bound[key]
            if key[1] == family and acl.name not in seen:
                seen.add(acl.name)
                out.append(acl)
        return tuple(out)

    @property
    def bgp_families(self) -> tuple[int, ...]:
        """The address families under ``router bgp`` that hold something of enforcer's: RTBH
        routes to redistribute, or a customer session's hijack prefix-list to bind."""
        wanted = {r.target.version for r in self.rtbh}
        wanted |= {p.version for f in self.prefix_filters for p in f.denied}
        return tuple(f for f in (4, 6) if f in wanted)

    def discard_routes(self, family: int) -> tuple[NullRoute | RtbhRoute, ...]:
        """The discard (Null0) routes of ``family`` by prefix: one per prefix, since a device keys
        a static route by prefix and next hop. RTBH's route wins where a null route has the same
        target: it discards locally too."""
        rtbh = [r for r in self.rtbh if r.target.version == family]
        blackholed = {r.target for r in self.rtbh}
        nulls = [r for r in self.null_routes if r.target.version == family and r.target not in blackholed]
        return tuple(sorted([*nulls, *rtbh], key=lambda r: r.target))

    @property
    def rtbh_communities(self) -> tuple[Community, ...]:
        """Every community the RTBH routes ask for, once each, in numeric order (ASN, then value):
        each RTBH route carries them all (one route-map entry), as the routers print them."""
        return tuple(sorted({r.community for r in self.rtbh}, key=lambda c: (c.asn, c.value)))

    @property
    def acl_sets(self) -> tuple[MatchSet, ...]:
        """The acl entries as :class:`MatchSet` s, by (side, protocol, ports), then family."""
        groups: dict[tuple, list[AclRule]] = {}
        for r in self.acl:
            groups.setdefault((r.direction, r.protocol, r.ports, r.target.version), []).append(r)
        return tuple(_match_set(groups[key], *key) for key in sorted(groups))

    @property
    def null_sets(self) -> tuple[MatchSet, ...]:
        """The null routes as :class:`MatchSet` s of destinations, one per family (one pass in C
        over the routes' families, ``ipaddress``' own ``_version``: a ``version`` property call per
        route, twice, was a quarter of this at 10,000)."""
        routes = self.null_routes
        versions = list(map(_VERSION, routes))
        families = set(versions)
        return tuple(_match_set(list(routes) if len(families) == 1 else
                                list(compress(routes, map(eq, versions, repeat(family)))),
                                Direction.DESTINATION, Protocol.ANY, (), family)
                     for family in (4, 6) if family in families)  # fmt: skip

    def is_empty(self) -> bool:
        return not (
            self.acl
            or self.null_routes
            or self.rtbh
            or self.rate_limits
            or self.prefix_filters
            or self.anti_spoof
            or self.composed_denies
            or self.composed_acls
        )


def _match_set(
    entries: list, direction: Direction, protocol: Protocol, ports: tuple[int, ...], family: int
) -> MatchSet:
    """``entries`` (sorted by address, then prefix length, as a section holds them) without those
    inside the last one kept: one pass, since a covering prefix sorts before what it covers.

    Two prefixes are nested or apart, and a later entry starts at or after the last one kept, so it
    is inside that one exactly when it starts at or before that one's last address: one integer
    comparison per entry (``subnet_of`` per entry was two fifths of printing a 10,000-element set).
    When every entry ends before the next one starts (:func:`_apart`), that pass keeps them all."""
    if _apart(entries):
        return MatchSet.model_construct(
            direction=direction, protocol=protocol, ports=ports, family=family, entries=tuple(entries)
        )
    kept: list = []
    end = -1  # the last address of the last entry kept
    for e in entries:
        target = e.target
        if int(target.network_address) > end:
            kept.append(e)
            end = int(target.broadcast_address)
    return MatchSet.model_construct(
        direction=direction, protocol=protocol, ports=ports, family=family, entries=tuple(kept)
    )


def _apart(entries: list) -> bool:
    """Whether each entry's last address is below the next entry's first (so the pass keeps
    each: by induction, the last one kept is the one before), for entries of one family, checked
    in C over 10,000 entries: the first addresses and prefix lengths as ``ipaddress`` keeps them
    (``_ip``, ``_prefixlen``: ``int()`` and ``prefixlen`` are a Python call each), each last
    address the first plus its prefix length's span."""
    if len(entries) < 2:
        return bool(entries)
    try:
        starts = list(map(_START, entries))
        lengths = list(map(_PREFIXLEN, entries))
        top = entries[0].target.max_prefixlen
    except AttributeError:  # not the stdlib's networks: the pass decides
        return False
    spans = {n: (1 << (top - n)) - 1 for n in set(lengths)}
    ends = starts if spans.keys() == {top} else list(map(add, starts, map(spans.__getitem__, lengths)))
    return all(map(lt, ends, islice(starts, 1, None)))


_START = attrgetter("target.network_address._ip")
_PREFIXLEN = attrgetter("target._prefixlen")
_VERSION = attrgetter("target._version")
