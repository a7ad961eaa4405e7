"""Desired set → one device's typed section: which enforcements it carries, merged into entries.

``build_section`` picks the enforcements a device carries (by role, by the customer's attachment,
by what its platform supports) and turns them into the typed entries of :mod:`enforcer.section`;
:func:`enforcer.render.render_section` prints those. Everything a template would otherwise
decide (which ACL an interface gets, meter ids) is settled here.

Linear in what the device is given: one pass over the enforcements, one sort per kind. A pass
over many devices hands each only the enforcements its role may carry (:class:`RoleIndex`), so
100 devices do not each scan the whole active set (issue 12).

Proportional to the change when the device was built before (``enforcer serve``'s next push):
the enforcements that came and went since the device's last build, found by identity, are placed
into or taken out of that build's groups, and only the entries of the groups they touch are made
again, each put at its place in the sorted entries (:meth:`_Grouper.update`). One more decision
with 10,000 active is one enforcement placed and one entry made, not 10,000 of each.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from heapq import merge
from ipaddress import ip_network
from itertools import chain
from pathlib import Path
from typing import Any

from .inventory import AntiSpoofMethod, Device, Inventory, PrefixSet
from .model import BLACKHOLE, ActionKind, Address, Enforcement, Prefix, Status, now, trusted
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
    took most of a 10,000-entry build. Each (violation, params) pair numbered is held with its
    number, so its ids are never reused while the grouper lives — across the builds derived from
    it too, after the enforcements that brought the pair have left.
    """

    def __init__(self, tail: Callable[[Enforcement], tuple]):
        self._tail = tail
        self._by_ref: dict[tuple[int, int], tuple[int, object, object]] = {}
        self._number: dict[tuple, int] = {}
        self.tails: list[tuple] = []
        self._text: list[tuple[str, ...]] = []
        self.groups: dict[tuple[int, int, int, int], list[Enforcement]] = {}
        # The entries of the last entries()/update(), in their order: sort key, group key, entry.
        self._order: list[tuple] | None = []
        self._keys: list[tuple[int, int, int, int]] = []
        self._made: list[Any] = []

    def key(self, e: Enforcement) -> tuple[int, int, int, int]:
        """The group of an enforcement :meth:`add` was given before."""
        return (*_key(e.target), self._by_ref[id(e.violation), id(e.params)][0])

    def _sort_key(self, k: tuple[int, int, int, int]) -> tuple:
        return (k[:3], *self._text[k[3]])

    def add(self, e: Enforcement) -> None:
        ref = (id(e.violation), id(e.params))
        held = self._by_ref.get(ref)
        if held is None:
            values = self._tail(e)
            n = self._number.get(values)
            if n is None:
                n = self._number[values] = len(self.tails)
                self.tails.append(values)
                self._text.append(tuple(str(x) for x in values))
            self._by_ref[ref] = (n, e.violation, e.params)
        else:
            n = held[0]
        t = e.target
        # _key(e.target), inlined, from the attributes ``version``, ``int()`` and ``prefixlen`` read
        # (three Python calls an enforcement of 100,000): once per enforcement
        key = (t._version, t.network_address._ip, t._prefixlen, n)
        items = self.groups.get(key)
        if items is None:
            self.groups[key] = [e]
        else:
            items.append(e)

    def merged(self) -> list[tuple[Prefix, tuple, tuple[int, ...], str, tuple[Enforcement, ...]]]:
        """Per entry: its target, its tail, its enforcement ids (ascending), the lowest's comment,
        and the enforcements themselves (in the same order)."""
        out = []
        self._keys = self._sorted_keys()
        self._order = None  # the sort keys update() bisects, made when it first needs them
        tails = self.tails
        for key in self._keys:
            items = self.groups[key]
            if len(items) > 1:
                items = sorted(items, key=lambda e: e.id)
                out.append((items[0].target, tails[key[3]], tuple(e.id for e in items), items[0].comment,
                            tuple(items)))
            else:
                e = items[0]
                out.append((e.target, tails[key[3]], (e.id,), e.comment, (e,)))
        return out

    def _sorted_keys(self) -> list[tuple[int, int, int, int]]:
        """The group keys in :meth:`_sort_key` order (target, then the tail's text), compared as
        ints: each tail's number replaced by its rank among the tails' texts (equal texts, equal
        rank: ties keep the groups' order, as a sort by the text did). When the numbers already
        run in text order (one tail, or tails numbered as their texts sort) the keys are sorted as
        they are; making a tuple of texts per key was a sixth of a 10,000-entry build."""
        texts = sorted(set(self._text))
        at = {t: i for i, t in enumerate(texts)}
        rank = [at[t] for t in self._text]
        if rank == sorted(set(rank)):  # strictly increasing
            return sorted(self.groups)
        return sorted(self.groups, key=lambda k: (k[0], k[1], k[2], rank[k[3]]))

    def entries(self, make: Callable[[Prefix, tuple, tuple[int, ...], str], Any], previous: dict[tuple, Any]) -> tuple:
        """The entries, each made by ``make`` unless the last build made it from the very same
        enforcements (``previous``, keyed by their identities, which that build holds alive): an
        entry is a frozen model of those alone, so one more decision builds one entry, not all.
        With nothing to reuse (a first build: every device of a one-shot plan) no key is made."""
        global entries_made
        out = []
        for t, k, ids, c, items in self.merged():
            entry = previous.get((make, *map(id, items))) if previous else None
            if entry is None:
                entry = make(t, k, ids, c)
                entries_made += 1
            out.append(entry)
        self._made = out
        return tuple(out)

    def kept(self, make: Callable[..., Any]) -> dict[tuple, Any]:
        """The entries, by the identities of the enforcements each was made of (for a full build's reuse)."""
        out = {}
        for k, entry in zip(self._keys, self._made, strict=True):
            items = self.groups[k]
            out[(make, *map(id, items if len(items) < 2 else sorted(items, key=lambda e: e.id)))] = entry
        return out

    def update(self, added: list[Enforcement], removed: list[Enforcement],
               make: Callable[[Prefix, tuple, tuple[int, ...], str], Any]) -> tuple:
        """The entries after ``added`` (already given to :meth:`add`) joined and ``removed`` (added
        in an earlier build) left: only the groups they touch are made again, each found and kept
        in place by its sort key."""
        global entries_made
        touched = []
        for e in removed:
            k = self.key(e)
            items = self.groups[k]
            del items[next(i for i, x in enumerate(items) if x is e)]
            if not items:
                del self.groups[k]
            touched.append(k)
        touched += [self.key(e) for e in added]
        if self._order is None:
            self._order = [self._sort_key(k) for k in self._keys]
        for k in dict.fromkeys(touched):
            sk = self._sort_key(k)
            at = bisect_left(self._order, sk)
            present = at < len(self._order) and self._order[at] == sk
            items = self.groups.get(k)
            if items is None:
                if present:
                    del self._order[at], self._keys[at], self._made[at]
                continue
            if len(items) > 1:
                items.sort(key=lambda e: e.id)
            entry = make(items[0].target, self.tails[k[3]], tuple(e.id for e in items), items[0].comment)
            entries_made += 1
            if present:
                self._made[at] = entry
            else:
                self._order.insert(at, sk)
                self._keys.insert(at, k)
                self._made.insert(at, entry)
        return tuple(self._made)


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


#: What each kind of entry is made by, in the order Section lists the kinds.
_MAKERS = {ActionKind.ACL: _acl_rule, ActionKind.NULL_ROUTE: _null_route, ActionKind.RTBH: _rtbh_route,
           ActionKind.RATE_LIMIT: _rate_limit}
_TAILS = {ActionKind.ACL: _acl_tail, ActionKind.NULL_ROUTE: _null_tail, ActionKind.RTBH: _rtbh_tail,
          ActionKind.RATE_LIMIT: _rate_tail}


class _Placed:
    """Where each enforcement of a build went: into the groups of an entry kind, a customer's
    prefix filter or anti-spoof, the unsupported or the protected, or nowhere (no attachment).
    Kept with the build, so the next one places only what came and takes out only what went."""

    def __init__(self, device: Device, inventory: Inventory, templates_dir: Path):
        self.device, self.inventory = device, inventory
        self.info = platform_info(device.platform, templates_dir)
        self.supported = frozenset(self.info.actions)
        self.guarded = PrefixSet(inventory.guardrails.protected)
        self.kinds = {kind: _Grouper(tail) for kind, tail in _TAILS.items()}
        self.hijacks: dict[str, dict[int, Enforcement]] = {}
        self.spoof: dict[str, dict[int, Enforcement]] = {}
        self.unsupported: dict[int, tuple[int, ActionKind]] = {}
        self.protected: dict[int, int] = {}
        #: id(e) → where it went (an ActionKind's groups, "hijack", "spoof", "unsupported", "protected", "").
        self.where: dict[int, object] = {}

    def place(self, e: Enforcement) -> None:
        global placed
        placed += 1
        self.where[id(e)] = self._place(e)

    def _place(self, e: Enforcement) -> object:
        action, device, inventory = e.action, self.device, self.inventory
        if action in TRAFFIC_ACTIONS and self.guarded.overlaps(e.target):
            # Last line of defence: intake refuses these, but the protected list may have grown
            # since the decision was stored. Never render a traffic block over infrastructure.
            self.protected[id(e)] = e.id
            return "protected"
        if action is ActionKind.PREFIX_FILTER or action is ActionKind.ANTI_SPOOF:
            att = inventory.attachment(e.customer or "", device.name) if e.customer else None
            if att is None:
                return ""
            if action is ActionKind.PREFIX_FILTER and att.neighbor is None:
                return ""
            if action is ActionKind.ANTI_SPOOF and att.interface is None:
                return ""
        if action not in self.supported:
            self.unsupported[id(e)] = (e.id, action)
            return "unsupported"
        if action in self.kinds:
            self.kinds[action].add(e)
            return action
        named = self.hijacks if action is ActionKind.PREFIX_FILTER else self.spoof
        named.setdefault(e.customer or "", {})[id(e)] = e
        return "named"

    def take_out(self, e: Enforcement) -> object:
        """Undo :meth:`place` for ``e``, except the groups of the entry kinds (their update does it)."""
        where = self.where.pop(id(e))
        if where == "protected":
            del self.protected[id(e)]
        elif where == "unsupported":
            del self.unsupported[id(e)]
        elif where == "named":
            named = self.hijacks if e.action is ActionKind.PREFIX_FILTER else self.spoof
            items = named[e.customer or ""]
            del items[id(e)]
            if not items:
                del named[e.customer or ""]
        return where

    def section(self, entries: dict[ActionKind, tuple]) -> Section:
        inventory, device = self.inventory, self.device
        section = Section(
            device=device,
            acl=entries[ActionKind.ACL],
            null_routes=entries[ActionKind.NULL_ROUTE],
            rtbh=entries[ActionKind.RTBH],
            rate_limits=entries[ActionKind.RATE_LIMIT],
            prefix_filters=tuple(_prefix_filter(inventory, device, cid, list(items.values()))
                                 for cid, items in sorted(self.hijacks.items())),
            anti_spoof=tuple(_anti_spoof(inventory, device, cid, list(items.values()))
                             for cid, items in sorted(self.spoof.items())),
            customer_neighbors=_customer_neighbors(inventory, device) if self.kinds[ActionKind.RTBH].groups else (),
            unsupported=tuple(sorted(self.unsupported.values())),
            protected=tuple(sorted(self.protected.values())),
        )
        ifaces, acls = _interface_acls(section, self.info.acl_carries_rate_limits)
        metered = allocate_meters(section.rate_limits, int(device.optional_args.get("meter_span", 65536))) \
            if self.info.meters else ()
        return section.model_copy(update={"acl_interfaces": ifaces, "interface_acls": acls, "metered": metered})


@dataclass(frozen=True)
class _Built:
    """One device's last build and everything it was built from (held, so identities stay valid)."""

    device: Device
    inventory: Inventory
    templates_dir: Path
    #: The enforcements it was given, by identity (carried or not): what the next build's change is found against.
    given: dict[int, Enforcement]
    section: Section
    placed: _Placed
    #: The first expiry among those it carries: past it, a carried one may have left (a full build then).
    first_expiry: datetime | None

    def entries(self) -> dict[tuple, Any]:
        """Each entry by the identities of the enforcements it was made of (a full build's reuse)."""
        out: dict[tuple, Any] = {}
        for kind, grouper in self.placed.kinds.items():
            out.update(grouper.kept(_MAKERS[kind]))
        return out


#: The last two builds per device name, newest last. serve builds a device's section for its push
#: and again for the console's board right after, from the same models (enforcer.desired keeps one
#: per row); between two pushes the intake builds the device's section of the new decision alone
#: (the latency clock's carriers), which must not make the next push build every entry anew.
_last: dict[str, list[_Built]] = {}
_KEPT = 2
_locks: dict[str, threading.Lock] = {}
#: Sections built (not answered from the last build): what the tests count.
builds = 0
#: Enforcements placed into a build, and entries made: the work a build did, what the tests count.
placed = 0
entries_made = 0


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

    Derived from the device's last build when there is one for the same device, inventory and
    templates (by identity): the enforcements given now and not then are placed, those given then
    and not now taken out, by identity. That is safe because all of them are frozen models and the
    build reads nothing else — equal inputs, equal section, and the section is a function of the
    set carried, not of its order; whatever the store says next arrives as new models. The very
    same enforcements are answered with the last section as it is. Past the first expiry among
    those carried, or when most of the set changed, the section is built from nothing."""
    items = enforcements if isinstance(enforcements, list | tuple) else list(enforcements)
    given = dict(zip(map(id, items), items, strict=True))
    with _locks.setdefault(device.name, threading.Lock()):  # a derive changes its base's groups in place
        return _build_or_derive(device, given, inventory, at or now(), templates_dir)


def _build_or_derive(device: Device, given: dict[int, Enforcement], inventory: Inventory, at: datetime,
                     templates_dir: Path) -> Section:
    global builds
    lasts = [b for b in _last.get(device.name, ()) if b.device is device and b.inventory is inventory
             and b.templates_dir == templates_dir and (b.first_expiry is None or at < b.first_expiry)]
    for last in lasts:
        if last.given.keys() == given.keys():
            return last.section
    builds += 1
    base = max(lasts, key=lambda b: len(b.given), default=None)
    if base is not None:
        came = [given[i] for i in given.keys() - base.given.keys()]
        went = [base.given[i] for i in base.given.keys() - given.keys()]
        if len(came) + len(went) <= len(base.given) // 2 + 16:
            try:
                built = _derive(base, given, came, went, at)
            except BaseException:
                _last.pop(device.name, None)  # the base's groups may be half-updated: the next build starts anew
                raise
            _last[device.name] = [*(b for b in lasts if b is not base), built][-_KEPT:]
            return built.section
    # Reusing a last build's entries costs a pass over all of them: worth it only when that build
    # is not much larger than this one. serve's intake builds the section of one new decision (its
    # latency clock's carriers) beside a last build of 10,000; reading those 10,000 entries to reuse
    # at most one was a tenth of serve's samples per decision at 10,000 active (session 8).
    previous: dict[tuple, Any] = {}
    for last in lasts:
        if len(last.given) <= 2 * len(given) + 16:
            previous.update(last.entries())
    built = _build(device, given, inventory, templates_dir, at, previous)
    _last[device.name] = [*lasts, built][-_KEPT:]
    return built.section


def _carried(e: Enforcement, role: str, at: datetime) -> bool:
    return (not e.roles or role in e.roles) and e.active_at(at)


def _build(device: Device, given: dict[int, Enforcement], inventory: Inventory, templates_dir: Path,
           at: datetime, previous: dict[tuple, Any]) -> _Built:
    """The section of what ``device`` carries of ``given`` at ``at``, from nothing; entries in
    ``previous`` (earlier builds', by the identities of their enforcements) are reused."""
    role, active = device.role, Status.ACTIVE
    placed_ = _Placed(device, inventory, templates_dir)
    first_expiry: datetime | None = None
    # One pass over the 1,000s given: carried (Enforcement.active_at and the role, inlined),
    # placed, and the first expiry among them. Three passes of calls were a fifth of the build.
    for e in given.values():
        if e.status is not active or (e.roles and role not in e.roles):
            continue
        expires = e.expires_at
        if expires is not None:
            if expires <= at:
                continue
            if first_expiry is None or expires < first_expiry:
                first_expiry = expires
        placed_.place(e)
    # Entries from the enforcements' validated values (model.trusted): validating 10,000 of
    # them again was a third of the build. Those an earlier build made of the same enforcements
    # are taken as they are.
    entries = {kind: grouper.entries(_MAKERS[kind], previous) for kind, grouper in placed_.kinds.items()}
    return _Built(device, inventory, templates_dir, dict(given), placed_.section(entries), placed_, first_expiry)


def _derive(base: _Built, given: dict[int, Enforcement], came: list[Enforcement], went: list[Enforcement],
            at: datetime) -> _Built:
    """``base``'s build with ``came`` placed and ``went`` taken out (its groups are reused, and change)."""
    placed_ = base.placed
    role = base.device.role
    joined = [e for e in came if _carried(e, role, at)]
    left: dict[object, list[Enforcement]] = {}
    for e in went:
        if id(e) in placed_.where:
            left.setdefault(placed_.take_out(e), []).append(e)
    arrived: dict[object, list[Enforcement]] = {}
    for e in joined:
        placed_.place(e)
        arrived.setdefault(placed_.where[id(e)], []).append(e)
    entries = {}
    for kind, grouper in placed_.kinds.items():
        kind_went, kind_came = left.get(kind, []), arrived.get(kind, [])
        entries[kind] = grouper.update(kind_came, kind_went, _MAKERS[kind]) if kind_went or kind_came \
            else tuple(grouper._made)
    first = base.first_expiry
    for e in joined:
        if e.expires_at is not None and (first is None or e.expires_at < first):
            first = e.expires_at
    return _Built(base.device, base.inventory, base.templates_dir, dict(given), placed_.section(entries), placed_,
                  first)


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
    # The families the entries hold, by the attribute ``version`` reads (no Python call an entry).
    versions = {r.target._version for r in chain(section.acl, section.rate_limits if with_rate_limits else ())}
    has = {4: 4 in versions, 6: 6 in versions}
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
