"""The lab's fixed shape: three routers, three hosts, the links between them, all in documentation ranges.

```
  inet host ── upstream (AS64496) ══eBGP══ edge (AS64500, nftables) ══eBGP══ cust1 (AS64510) ─┬─ h1
 198.51.100.10   honours BLACKHOLE          enforcer pushes here            203.0.113.0/24    └─ h2
                                                   │ 192.0.2.248/30
                                                  noc (management station, in-band SSH to the edge)
```

Addresses come from RFC 5737 (192.0.2.0/24 infrastructure, 198.51.100.0/24 "the internet",
203.0.113.0/24 the customer) and ASNs from RFC 5398. Interface names live inside the namespaces
only, so two labs never collide on them; every namespace carries the lab's prefix.

The edge is a shared box, as a real one is: it carries the operator's own filters
(:class:`OperatorConfig`) — an inbound prefix-list and route-map on the customer's session, a
``redistribute static route-map`` of its own, an nftables table of its own on the customer port —
and enforcer must compose with them, never replace them (issue 9).

Management has two paths. Every router has an sshd on 127.0.0.1 in the root namespace (no
router change can cut it: tests and the demo rely on it). The edge also has an in-band one: an
sshd inside its namespace on its end of the NOC link, which the NOC station reaches through the
edge's own routing table — so a route that swallows the NOC station's address cuts it, as a bad
push cuts a real NOC off its routers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

from .nodes import NodeRole

#: The lab's name when none is given: the prefix of its namespaces and state directory.
DEFAULT_NAME = "enf"
#: Everything the lab routes between its routers; enforcer must never block it (settings.yaml).
INFRASTRUCTURE = IPv4Network("192.0.2.0/24")
#: What ``lab hijack on`` makes cust1 announce: a more-specific of the internet host's network.
HIJACK_PREFIX = IPv4Network("198.51.100.128/25")
#: The next hop upstream gives BLACKHOLE routes; it has a Null0 route of its own (RFC 7999 style).
DISCARD_NEXT_HOP = IPv4Address("192.0.2.66")
#: The link between the NOC station and the edge, carrying in-band management (part of INFRASTRUCTURE).
MGMT_NETWORK = IPv4Network("192.0.2.248/30")
#: Where each router's in-band sshd listens, inside its namespace.
INBAND_SSH_PORT = 22
#: What the customer router always announces and the operator's inbound prefix-list rejects
#: (an RFC 1918 leak, the textbook case an inbound filter exists for).
LEAK_PREFIX = IPv4Network("10.66.0.0/16")


@dataclass(frozen=True)
class OperatorConfig:
    """The operator's own configuration on the edge, written before enforcer ever touches it.

    ``allowed`` is the customer's inbound prefix-list: its /24 and the prefixes its route objects
    register — including :data:`HIJACK_PREFIX`, because a hijack that the operator's filter
    already stops needs no enforcer block (real hijacks pass the filter through a forged or stale
    IRR object). ``local_pref`` is what the operator's inbound route-map sets, so a test can see
    that route-map still in force. ``statics`` are pull-up routes the edge originates through its
    own ``redistribute static route-map``; ``nft_table`` holds an operator rule on the customer port.
    """

    prefix_list: str
    allowed: tuple[IPv4Network, ...]
    route_map: str
    local_pref: int
    static_route_map: str
    static_tag: int
    statics: tuple[IPv4Network, ...]
    nft_table: str = "inet operator"
    #: The UDP port the operator's nftables rule drops from the customer port (chargen reflection).
    nft_dropped_udp_port: int = 19


@dataclass(frozen=True)
class Iface:
    name: str
    address: IPv4Interface | None = None


@dataclass(frozen=True)
class Neighbor:
    address: IPv4Address
    asn: int
    role: str  # "upstream" | "customer" | "provider"


@dataclass(frozen=True)
class Router:
    name: str
    role: NodeRole
    asn: int
    loopback: IPv4Interface
    networks: tuple[IPv4Network, ...]
    neighbors: tuple[Neighbor, ...]
    customer: str | None = None
    #: In-band management address: an sshd in the router's namespace listens here (None: no such sshd).
    mgmt_address: IPv4Address | None = None
    #: The operator's own filters (the edge only): what enforcer has to compose with.
    operator: OperatorConfig | None = None


@dataclass(frozen=True)
class Host:
    name: str
    address: IPv4Interface
    gateway: IPv4Address
    attached_to: str
    customer: str | None = None
    role: NodeRole = NodeRole.HOST


@dataclass(frozen=True)
class Link:
    """A veth pair created directly inside two namespaces; ``bridge`` enslaves side b to a bridge."""

    a: str
    a_if: Iface
    b: str
    b_if: Iface
    bridge: str | None = None


@dataclass(frozen=True)
class Customer:
    id: str
    asn: int
    prefixes: tuple[IPv4Network, ...]
    router: str
    edge_interface: str
    edge_neighbor: IPv4Address


@dataclass(frozen=True)
class Topology:
    routers: tuple[Router, ...]
    hosts: tuple[Host, ...]
    links: tuple[Link, ...]
    bridges: dict[str, tuple[str, IPv4Interface]] = field(default_factory=dict)  # router -> (name, addr)
    customers: tuple[Customer, ...] = ()

    def router(self, name: str) -> Router:
        return next(r for r in self.routers if r.name == name)

    def addresses(self, node: str) -> list[IPv4Interface]:
        out: list[IPv4Interface] = []
        for r in self.routers:
            if r.name == node:
                out.append(r.loopback)
        for link in self.links:
            for side, iface in ((link.a, link.a_if), (link.b, link.b_if)):
                if side == node and iface.address is not None:
                    out.append(iface.address)
        if node in self.bridges:
            out.append(self.bridges[node][1])
        for h in self.hosts:
            if h.name == node:
                out.append(h.address)
        return out


def _i(text: str) -> IPv4Interface:
    return IPv4Interface(text)


EDGE_ASN, UPSTREAM_ASN, CUST1_ASN = 64500, 64496, 64510

TOPOLOGY = Topology(
    routers=(
        Router(
            name="edge",
            role=NodeRole.EDGE,
            asn=EDGE_ASN,
            loopback=_i("192.0.2.101/32"),
            networks=(IPv4Network("192.0.2.101/32"),),
            neighbors=(
                Neighbor(IPv4Address("192.0.2.2"), UPSTREAM_ASN, "upstream"),
                Neighbor(IPv4Address("192.0.2.6"), CUST1_ASN, "customer"),
            ),
            mgmt_address=IPv4Address("192.0.2.249"),
            operator=OperatorConfig(
                prefix_list="CUST1-IN",
                allowed=(IPv4Network("203.0.113.0/24"), HIJACK_PREFIX),
                route_map="CUST1-IN",
                local_pref=200,
                static_route_map="OPERATOR-STATIC",
                static_tag=100,
                statics=(IPv4Network("192.0.2.192/27"),),
            ),
        ),
        Router(
            name="upstream",
            role=NodeRole.UPSTREAM,
            asn=UPSTREAM_ASN,
            loopback=_i("192.0.2.102/32"),
            networks=(IPv4Network("192.0.2.102/32"), IPv4Network("198.51.100.0/24")),
            neighbors=(Neighbor(IPv4Address("192.0.2.1"), EDGE_ASN, "customer"),),
        ),
        Router(
            name="cust1",
            role=NodeRole.CUSTOMER_ROUTER,
            asn=CUST1_ASN,
            loopback=_i("192.0.2.103/32"),
            networks=(IPv4Network("203.0.113.0/24"), LEAK_PREFIX),
            neighbors=(Neighbor(IPv4Address("192.0.2.5"), EDGE_ASN, "provider"),),
            customer="cust1",
        ),
    ),
    hosts=(
        Host("cust1-h1", _i("203.0.113.10/24"), IPv4Address("203.0.113.1"), "cust1", "cust1"),
        Host("cust1-h2", _i("203.0.113.11/24"), IPv4Address("203.0.113.1"), "cust1", "cust1"),
        Host("inet", _i("198.51.100.10/24"), IPv4Address("198.51.100.1"), "upstream"),
        Host("noc", _i("192.0.2.250/30"), IPv4Address("192.0.2.249"), "edge", role=NodeRole.MANAGEMENT),
    ),
    links=(
        Link("edge", Iface("eth-up", _i("192.0.2.1/30")), "upstream", Iface("eth-edge", _i("192.0.2.2/30"))),
        Link("edge", Iface("eth-c1", _i("192.0.2.5/30")), "cust1", Iface("eth-edge", _i("192.0.2.6/30"))),
        Link("cust1", Iface("eth-h1"), "cust1-h1", Iface("eth0"), bridge="cust1"),
        Link("cust1", Iface("eth-h2"), "cust1-h2", Iface("eth0"), bridge="cust1"),
        Link("upstream", Iface("eth-inet", _i("198.51.100.1/24")), "inet", Iface("eth0")),
        Link("edge", Iface("eth-noc", _i("192.0.2.249/30")), "noc", Iface("eth0")),
    ),
    bridges={"cust1": ("lan", _i("203.0.113.1/24"))},
    customers=(
        Customer(
            id="cust1",
            asn=CUST1_ASN,
            prefixes=(IPv4Network("203.0.113.0/24"),),
            router="cust1",
            edge_interface="eth-c1",
            edge_neighbor=IPv4Address("192.0.2.6"),
        ),
    ),
)


def netns_name(prefix: str, node: str) -> str:
    return f"{prefix}-{node}"
