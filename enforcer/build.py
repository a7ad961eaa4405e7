"""Desired set → one device's typed section: which enforcements it carries, merged into entries.

``build_section`` picks the enforcements a device carries (by role, by the customer's attachment,
by what its platform supports) and turns them into the typed entries of :mod:`enforcer.section`;
:func:`enforcer.render.render_section` prints those. Everything a template would otherwise
decide (which ACL an interface gets, meter ids) is settled here.

Linear in what the device is given: one pass over the enforcements, one sort per kind. A pass
over many devices hands each only the enforcements its role may carry (:class:`RoleIndex`), so
100 devices do not each scan the whole active set (issue 12).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from heapq import merge
from ipaddress import ip_network
from pathlib import Path
from typing import Any

from .inventory import AntiSpoofMethod, Device, Inventory, PrefixSet
from .model import BLACKHOLE, ActionKind, Address, Enforcement, Prefix, now, trusted
from .platforms import TEMPLATES_DIR, RenderError, platform_info
from .section import (
    ANTI_SPOOF_ACL,
    TRAFFIC_ACTIONS,
    AclRule,
    AntiSpoof,
    InterfaceAcl,
    MeteredRate,
    NullRoute,
    PrefixFilter,
    RateLimit,
    RtbhRoute,
    Section,
)


class RoleIndex:
    """The desired set by device role, built once per pass over the devices: each device is then
    handed only the enforcements it may carry (those naming no role, and those naming its own),
    in the order they were given. Without it a plan of 100 devices over 100,000 enforcements
    tested each enforcement on each device (10 million checks) to render 100,000 entries."""

    def __init__(self, enforcements: Sequence[Enforcement]):
        self._all = enforcements
        self._any: list[int] = []
        self._by_role: dict[str, list[int]] = {}
        for i, e in enumerate(enforcements):
            if not e.roles:
                self._any.append(i)
            for role in e.roles:
                self._by_role.setdefault(role, []).append(i)

    def carried_by(self, device: Device) -> list[Enforcement]:
        """What ``device`` may carry by its role (build_section still checks activity and scope)."""
        return [self._all[i] for i in merge(self._any, self._by_role.get(device.role, ()))]


def _key(p: Prefix) -> tuple[int, int, int]:
    return (p.version, int(p.network_address), p.prefixlen)


class _Grouper:
    """Enforcements that render to the same entry (same target, same rest of the match: its
    ``tail``) become one entry carrying all their ids, in a stable order: by target, then by the
    text of the tail, so renders diff cleanly.

    Built for 10,000s of entries: a tail is worked out once per distinct (violation, params)
    pair, whose objects the store shares across rows (enforcer.tables), and numbered, so each
    group key is a tuple of ints. Hashing the typed values themselves (a network, four enums)
    took most of a 10,000-entry build. The ids are only compared while the enforcements are held
    (every one added is kept in ``groups``), so an id is never reused within one build.
    """

    def __init__(self, tail: Callable[[Enforcement], tuple]):
        self._tail = tail
        self._by_ref: dict[tuple[int, int], int] = {}
        self._number: dict[tuple, int] = {}
        self.tails: list[tuple] = []
        self._text: list[tuple[str, ...]] = []
        self.groups: dict[tuple[int, int, int, int], list[Enforcement]] = {}

    def add(self, e: Enforcement) -> None:
        ref = (id(e.violation), id(e.params))
        n = self._by_ref.get(ref)
        if n is None:
            values = self._tail(e)
            n = self._number.get(values)
            if n is None:
                n = self._number[values] = len(self.tails)
                self.tails.append(values)
                self._text.append(tuple(str(x) for x in values))
            self._by_ref[ref] = n
        key = (*_key(e.target), n)
        items = self.groups.get(key)
        if items is None:
            self.groups[key] = [e]
        else:
            items.append(e)

    def merged(self) -> list[tuple[Prefix, tuple, tuple[int, ...], str, tuple[Enforcement, ...]]]:
        """Per entry: its target, its tail, its enforcement ids (ascending), the lowest's comment,
        and the enforcements themselves (in the same order)."""
        text = self._text
        out = []
        for key in sorted(self.groups, key=lambda k: (k[:3], *text[k[3]])):
            items = self.groups[key]
            if len(items) > 1:
                items = sorted(items, key=lambda e: e.id)
            out.append((items[0].target, self.tails[key[3]], tuple(e.id for e in items), items[0].comment,
                        tuple(items)))
        return out

    def entries(self, make: Callable[[Prefix, tuple, tuple[int, ...], str], Any], previous: dict[tuple, Any],
                kept: dict[tuple, Any]) -> tuple:
        """The entries, each made by ``make`` unless the last build made it from the very same
        enforcements (``previous``, keyed by their identities, which that build holds alive): an
        entry is a frozen model of those alone, so one more decision builds one entry, not all."""
        out = []
        for t, k, ids, c, items in self.merged():
            key = (make, *map(id, items))
            entry = previous.get(key)
            if entry is None:
                entry = make(t, k, ids, c)
            kept[key] = entry
            out.append(entry)
        return tuple(out)


def _acl_rule(t: Prefix, k: tuple, ids: tuple[int, ...], c: str) -> AclRule:
    return trusted(AclRule, {"ids": ids, "comment": c, "target": t, "violation": k[0], "protocol": k[1],
                             "ports": k[2], "direction": k[3]})


def _null_route(t: Prefix, k: tuple, ids: tuple[int, ...], c: str) -> NullRoute:
    return trusted(NullRoute, {"ids": ids, "comment": c, "target": t, "violation": k[0]})


def _rtbh_route(t: Prefix, k: tuple, ids: tuple[int, ...], c: str) -> RtbhRoute:
    return trusted(RtbhRoute, {"ids": ids, "comment": c, "target": t, "community": k[0]})


def _rate_limit(t: Prefix, k: tuple, ids: tuple[int, ...], c: str) -> RateLimit:
    return trusted(RateLimit, {"ids": ids, "comment": c, "target": t, "rate_bps": k[0], "burst_bytes": k[1],
                               "direction": k[2]})


def _acl_tail(e: Enforcement) -> tuple:
    return (e.violation, e.params.protocol, e.params.ports, e.params.direction)


def _null_tail(e: Enforcement) -> tuple:
    return (e.violation,)


def _rtbh_tail(e: Enforcement) -> tuple:
    return (e.params.community or BLACKHOLE,)


def _rate_tail(e: Enforcement) -> tuple:
    rate = e.params.rate_bps or 10_000_000
    return (rate, e.params.burst_bytes or max(15_000, rate // 8 // 10), e.params.direction)


@dataclass(frozen=True)
class _Built:
    """One device's last build and everything it was built from (held, so identities stay valid)."""

    device: Device
    inventory: Inventory
    templates_dir: Path
    carried: tuple[Enforcement, ...]
    section: Section
    #: Each entry by the identities of the enforcements it was made of (all held in ``carried``).
    entries: dict[tuple, Any]


#: The last two builds per device name, newest last. serve builds a device's section for its push
#: and again for the console's board right after, from the same models (enforcer.desired keeps one
#: per row); between two pushes the intake builds the device's section of the new decision alone
#: (the latency clock's carriers), which must not make the next push build every entry anew.
_last: dict[str, list[_Built]] = {}
_KEPT = 2
#: Sections built (not answered from the last build): what the tests count.
builds = 0


def forget(device: str) -> None:
    """Drop what is kept for ``device``: a one-shot pass (``plan``, ``apply``) builds it only once."""
    _last.pop(device, None)


def build_section(
    device: Device,
    enforcements: Iterable[Enforcement],
    inventory: Inventory,
    at: datetime | None = None,
    templates_dir: Path = TEMPLATES_DIR,
) -> Section:
    """The typed content of ``device``'s managed section for the enforcements active at ``at``.

    Answered from the device's last build when it was built for the very same objects (the same
    device, inventory and enforcement models, by identity, of those carried and active at ``at``).
    That is safe because all of them are frozen models and the build reads nothing else: equal
    inputs, equal section. Whatever the store says next arrives as new models, and misses."""
    global builds
    at = at or now()
    role = device.role
    carried = tuple(e for e in enforcements if (not e.roles or role in e.roles) and e.active_at(at))
    lasts = [b for b in _last.get(device.name, ()) if b.device is device and b.inventory is inventory
             and b.templates_dir == templates_dir]
    for last in lasts:
        if _same(last.carried, carried):
            return last.section
    builds += 1
    previous: dict[tuple, Any] = {}
    for last in lasts:
        previous.update(last.entries)
    kept: dict[tuple, Any] = {}
    section = _build(device, carried, inventory, templates_dir, previous, kept)
    _last[device.name] = [*lasts, _Built(device, inventory, templates_dir, carried, section, kept)][-_KEPT:]
    return section


def _same(a: tuple[Enforcement, ...], b: tuple[Enforcement, ...]) -> bool:
    return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))


def _build(device: Device, enforcements: tuple[Enforcement, ...], inventory: Inventory, templates_dir: Path,
           previous: dict[tuple, Any], kept: dict[tuple, Any]) -> Section:
    """The section of ``enforcements``, each already carried by ``device`` and active; entries in
    ``previous`` (the last build's, by the identities of their enforcements) are reused, and every
    entry is recorded in ``kept`` for the next build."""
    info = platform_info(device.platform, templates_dir)
    supported = frozenset(info.actions)
    acl, nulls, rtbh, rates = _Grouper(_acl_tail), _Grouper(_null_tail), _Grouper(_rtbh_tail), _Grouper(_rate_tail)
    hijacks: dict[str, list[Enforcement]] = {}
    spoof: dict[str, list[Enforcement]] = {}
    unsupported: list[tuple[int, ActionKind]] = []
    protected: list[int] = []
    guarded = PrefixSet(inventory.guardrails.protected)

    for e in enforcements:
        action = e.action
        if action in TRAFFIC_ACTIONS and guarded.overlaps(e.target):
            # Last line of defence: intake refuses these, but the protected list may have grown
            # since the decision was stored. Never render a traffic block over infrastructure.
            protected.append(e.id)
            continue
        if action is ActionKind.PREFIX_FILTER or action is ActionKind.ANTI_SPOOF:
            att = inventory.attachment(e.customer or "", device.name) if e.customer else None
            if att is None:
                continue
            if action is ActionKind.PREFIX_FILTER and att.neighbor is None:
                continue
            if action is ActionKind.ANTI_SPOOF and att.interface is None:
                continue
        if action not in supported:
            unsupported.append((e.id, action))
            continue
        match action:
            case ActionKind.ACL:
                acl.add(e)
            case ActionKind.NULL_ROUTE:
                nulls.add(e)
            case ActionKind.RTBH:
                rtbh.add(e)
            case ActionKind.RATE_LIMIT:
                rates.add(e)
            case ActionKind.PREFIX_FILTER:
                hijacks.setdefault(e.customer or "", []).append(e)
            case ActionKind.ANTI_SPOOF:
                spoof.setdefault(e.customer or "", []).append(e)

    # Entries from the enforcements' validated values (model.trusted): validating 10,000 of
    # them again was a third of the build. Those the last build made of the same enforcements are
    # taken as they are.
    section = Section(
        device=device,
        acl=acl.entries(_acl_rule, previous, kept),
        null_routes=nulls.entries(_null_route, previous, kept),
        rtbh=rtbh.entries(_rtbh_route, previous, kept),
        rate_limits=rates.entries(_rate_limit, previous, kept),
        prefix_filters=tuple(_prefix_filter(inventory, device, cid, items) for cid, items in sorted(hijacks.items())),
        anti_spoof=tuple(_anti_spoof(inventory, device, cid, items) for cid, items in sorted(spoof.items())),
        customer_neighbors=_customer_neighbors(inventory, device) if rtbh.groups else (),
        unsupported=tuple(sorted(unsupported)),
        protected=tuple(sorted(protected)),
    )
    ifaces, acls = _interface_acls(section, info.acl_carries_rate_limits)
    metered = allocate_meters(section.rate_limits, int(device.optional_args.get("meter_span", 65536))) \
        if info.meters else ()
    return section.model_copy(update={"acl_interfaces": ifaces, "interface_acls": acls, "metered": metered})


def allocate_meters(rates: Iterable[RateLimit], span: int) -> tuple[MeteredRate, ...]:
    """Meter ids for the rate limits that own a flow (the first, by enforcement id, per target and
    side), without collision, stable across renders as far as possible: each gets its preferred id
    (first enforcement id mod ``span``) unless a lower entry prefers it too; those that lost take
    the next free id above it (wrapping). A full band fails the render rather than leaving a
    target unlimited. Returned in enforcement-id order."""
    owners: dict[tuple, RateLimit] = {}
    for r in sorted(rates, key=lambda r: r.ids):
        owners.setdefault((r.target.version, r.direction, r.target), r)
    taken: dict[int, RateLimit] = {}
    ids: dict[tuple[int, ...], int] = {}
    for r in owners.values():
        if r.ids[0] % span not in taken:
            taken[r.ids[0] % span] = r
            ids[r.ids] = r.ids[0] % span
    for r in owners.values():
        if r.ids in ids:
            continue
        pref = r.ids[0] % span
        free = next((m for m in [*range(pref + 1, span), *range(0, pref)] if m not in taken), None)
        if free is None:
            raise RenderError(f"meter band full: no free meter id for enforcement {r.ids[0]} "
                              "(optional_args meter_span)")
        taken[free] = r
        ids[r.ids] = free
    return tuple(MeteredRate(rate=r, meter=ids[r.ids]) for r in owners.values())


def _interface_acls(section: Section, with_rate_limits: bool) -> tuple[tuple[str, ...], tuple[InterfaceAcl, ...]]:
    """Which inbound ACL each interface gets, per family (see :class:`InterfaceAcl`)."""
    device = section.device
    ifaces = tuple(dict.fromkeys([*device.attach_interfaces, *(a.interface for a in section.anti_spoof)]))
    has = {4: False, 6: False}
    for r in (*section.acl, *(section.rate_limits if with_rate_limits else ())):
        has[r.target.version] = True
    out: list[InterfaceAcl] = []
    for iface in ifaces:
        facing = iface in device.attach_interfaces
        spoofers = [a.customer for a in section.anti_spoof if a.interface == iface and a.method is AntiSpoofMethod.ACL]
        for family in (4, 6):
            if spoofers:
                out.append(InterfaceAcl(interface=iface, family=family, denies=facing,
                                        name=f"{ANTI_SPOOF_ACL}{'-'.join(spoofers)}-V{family}"))
            elif facing and has[family]:
                out.append(InterfaceAcl(interface=iface, family=family, denies=True, name=f"ENFORCER-ACL-V{family}"))
    return ifaces, tuple(sorted(out, key=lambda a: (a.interface, a.family)))


def _customer_neighbors(inv: Inventory, device: Device) -> tuple[Address, ...]:
    """The customers' BGP sessions on ``device``: where RTBH routes must never be announced."""
    neighbors = {a.neighbor for c in inv.customers.values() for a in c.attachments
                 if a.device == device.name and a.neighbor is not None}
    return tuple(sorted(neighbors, key=_key_addr))


def _key_addr(a: Address) -> tuple[int, int]:
    return (a.version, int(a))


def _prefix_filter(inv: Inventory, device: Device, cid: str, items: list[Enforcement]) -> PrefixFilter:
    att = inv.attachment(cid, device.name)
    assert att is not None and att.neighbor is not None
    denied = sorted({e.target for e in items}, key=_key)
    return PrefixFilter(
        ids=tuple(sorted(e.id for e in items)),
        customer=cid,
        neighbor=att.neighbor,
        asn=inv.customers[cid].asn,
        denied=tuple(denied),
    )


def _anti_spoof(inv: Inventory, device: Device, cid: str, items: list[Enforcement]) -> AntiSpoof:
    att = inv.attachment(cid, device.name)
    assert att is not None and att.interface is not None
    allowed: list[Any] = list(inv.customers[cid].prefixes)
    # The customer's router speaks BGP, ND and ICMP from its interconnect address, which is rarely
    # inside its own prefixes: without these permits anti-spoof drops the customer's own session.
    for extra in [*att.interconnect, *([ip_network(att.neighbor)] if att.neighbor is not None else [])]:
        if not any(extra.version == p.version and extra.subnet_of(p) for p in allowed):
            allowed.append(extra)
    return AntiSpoof(
        ids=tuple(sorted(e.id for e in items)),
        customer=cid,
        interface=att.interface,
        allowed=tuple(sorted(allowed, key=_key)),
        method=device.anti_spoof,
    )
