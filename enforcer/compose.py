"""Compose with the operator's configuration: read each attachment point (slot) before using it.

A real edge router already filters its customers: an inbound prefix-list on the BGP session, a
`redistribute static route-map` of the operator's own. Binding enforcer's object there would
replace the operator's (a route leak after unblock, since enforcer's lists end in permit-all).
So, per slot enforcer needs, from the device's live config (a :mod:`enforcer.conftree` tree):

* **free** – nothing of the operator's there: enforcer's own object, bound by enforcer;
* **composed** – the operator's object is there: enforcer's entries go *into* it, numbered in the
  sequence range reserved for enforcer (platform default, ``Device.sequence_range`` overrides),
  so both filters stay in force; unblock removes them entry by entry;
* **refused** – no safe composition (the operator already uses enforcer's range, the list is bound
  but not defined, a plain ``redistribute static``): the plan fails closed for that device and
  says which slot, which object, and how to make room.

The slots, their patterns and the default range are platform facts (``platform.yaml`` ``slots``);
this module holds the logic once for every platform that declares them.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict

from . import setconf
from .compose_acl import compose_acls
from .compose_junos import compose_junos
from .compose_rpl import decide_rpl_guard, decide_rpl_redistribute
from .compose_urpf import decide_urpf, urpf_live
from .conftree import Node, SlotFacts, TreeFacts, canonical, parse
from .inventory import Device
from .render import ComposedDeny, ComposedRtbh, PrefixFilter, RtbhGuard, Section, platform_info
from .seqnum import SeqRange
from .slots import SlotDecision, SlotMode, fill, matches, sequence_range, slot_facts, slot_object

__all__ = ["Composition", "SlotDecision", "SlotMode", "compose", "composed_live", "live_section", "refusal",
           "slot_facts"]


class Composition(BaseModel):
    """What :func:`compose` decided for one device: the section to render, and the slots."""

    model_config = ConfigDict(frozen=True)
    section: Section
    slots: tuple[SlotDecision, ...] = ()
    ranges: dict[str, SeqRange] = {}

    @property
    def refused(self) -> list[SlotDecision]:
        return [s for s in self.slots if s.mode is SlotMode.REFUSED]


def refusal(composition: Composition) -> str:
    """The plan's error when a slot cannot be composed with: slot, operator object, how to make room."""
    return "; ".join(f"{s.slot}: refused{f' ({s.operator_object})' if s.operator_object else ''}: {s.reason}"
                     for s in composition.refused)


def _kw(family: int) -> str:
    return "ip" if family == 4 else "ipv6"


def _operator_list(tree: Node, pf: PrefixFilter, family: int, facts: SlotFacts) -> str | None:
    found = slot_object(tree, facts.neighbor_prefix_list_in, family, neighbor=re.escape(str(pf.neighbor)))
    return found[1] if found else None


def _list_entries(tree: Node, name: str, family: int, facts: SlotFacts) -> dict[int, str]:
    path = [fill(p, name=re.escape(name), kw=_kw(family)) for p in facts.prefix_list_entry]
    return {int(m.group("seq")): m.group("rest") for _, m in matches(tree, path)}


def _decide_prefix_list(tree: Node, device: Device, pf: PrefixFilter, family: int, facts: SlotFacts) -> SlotDecision:
    slot = f"neighbor {pf.neighbor} inbound prefix-list (IPv{family})"
    name = _operator_list(tree, pf, family, facts)
    if name is None:
        return SlotDecision(slot=slot, mode=SlotMode.FREE, reason="no operator prefix-list: enforcer binds its own")
    if not facts.prefix_list_entry:
        # IOS XR: the slot holds one route-policy, and RPL has no numbered entries to insert at.
        return SlotDecision(slot=slot, mode=SlotMode.REFUSED, operator_object=name,
                            reason=f"the operator's route-policy {name} is bound inbound and IOS XR takes one "
                                   f"policy per neighbour and direction: enforcer does not rewrite it; add "
                                   f"`if destination in <the hijacked prefixes> then drop endif` to {name} "
                                   f"yourself and drop prefix-filter for {pf.customer} on {device.name}, or "
                                   f"unbind {name}")
    entries = _list_entries(tree, name, family, facts)
    rng = sequence_range(device, facts)
    if not entries:
        return SlotDecision(slot=slot, mode=SlotMode.REFUSED, operator_object=name,
                            reason=f"prefix-list {name} is bound but not defined: entries alone would deny "
                                   f"every route; define it (or unbind it) first")
    enforcer = re.compile(facts.enforcer_entry)
    clash = sorted(s for s, rest in entries.items() if rng.lo < s <= rng.hi and not enforcer.search(rest))
    if clash:
        return SlotDecision(slot=slot, mode=SlotMode.REFUSED, operator_object=name,
                            reason=f"prefix-list {name} uses seq {clash[0]} inside enforcer's range "
                                   f"{rng.lo + 1}-{rng.hi}: renumber it above {rng.hi} or set sequence_range "
                                   f"for {device.name} in the inventory")
    if len(pf.denied_of(family)) > rng.hi - rng.lo:
        return SlotDecision(slot=slot, mode=SlotMode.REFUSED, operator_object=name,
                            reason=f"{len(pf.denied_of(family))} denies do not fit in enforcer's range "
                                   f"{rng.lo + 1}-{rng.hi} of prefix-list {name}: widen sequence_range")
    return SlotDecision(slot=slot, mode=SlotMode.COMPOSED, operator_object=name,
                        reason=f"denies inserted into the operator's prefix-list {name} at seq "
                               f"{rng.lo + 1}-{rng.hi} (changes an operator object)")


def _decide_redistribute(tree: Node, device: Device, family: int, facts: SlotFacts) -> SlotDecision:
    """RTBH redistributes enforcer's tag-666 statics. One `redistribute static` per address
    family: when the operator's is there with a route-map, enforcer's entry goes into that
    route-map (before the operator's entries, in enforcer's range), so both keep working; a plain
    `redistribute static` has no route-map to compose with and is refused."""
    slot = f"redistribute static (IPv{family})"
    found = slot_object(tree, facts.redistribute_static, family)
    if found is None or found[1] == "ENFORCER-RTBH":
        return SlotDecision(slot=slot, mode=SlotMode.FREE, reason="no operator redistribution: enforcer's route-map")
    line, name = found
    if not facts.rtbh_entry_closer:
        return SlotDecision(slot=slot, mode=SlotMode.REFUSED, operator_object=name or "(no route-map)",
                            reason=f"the operator already redistributes static routes ({line}); add an entry "
                                   f"`match tag 666` / `set community 65535:666` before the others in "
                                   f"{name or 'a route-map'} and leave RTBH to that, or remove the redistribution")
    if not name:
        return SlotDecision(slot=slot, mode=SlotMode.REFUSED, operator_object="(no route-map)",
                            reason=f"the operator already redistributes static routes ({line}) without a "
                                   f"route-map: give it one (enforcer then adds its `match tag 666` entry "
                                   f"to it) or remove the redistribution")
    refused = _no_room(tree, device, slot, name, facts, _is_rtbh_entry,
                       f"is used by `{line}` but not defined: define it (or remove the redistribution) first")
    if refused:
        return refused
    return SlotDecision(slot=slot, mode=SlotMode.COMPOSED, operator_object=name,
                        reason=f"a `{facts.rtbh_match}` entry with the blackhole community inserted into the "
                               f"operator's route-map {name} (changes an operator object)")


def _is_rtbh_entry(node: Node, facts: SlotFacts) -> bool:
    """Enforcer's RTBH entry in an operator's route-map: a permit matching enforcer's tag."""
    return node.text.split()[2] == "permit" and facts.rtbh_match in node.children


def _route_map_entries(tree: Node, name: str, facts: SlotFacts) -> dict[int, Node]:
    pattern = fill(facts.route_map_entry, name=re.escape(name))
    return {int(m.group("seq")): node for node in tree.children.values() if (m := pattern.search(node.text))}


def _no_room(tree: Node, device: Device, slot: str, name: str, facts: SlotFacts,
             ours: Callable[[Node, SlotFacts], bool], undefined: str) -> SlotDecision | None:
    """The refusal when enforcer cannot put an entry into the operator's route-map ``name``: it is
    not defined, or an entry of the operator's (not ``ours``) sits in enforcer's range; else None."""
    entries = _route_map_entries(tree, name, facts)
    rng = sequence_range(device, facts)
    if not entries:
        return SlotDecision(slot=slot, mode=SlotMode.REFUSED, operator_object=name,
                            reason=f"route-map {name} {undefined}")
    clash = sorted(n for n, node in entries.items() if rng.lo < n <= rng.hi and not ours(node, facts))
    if clash:
        return SlotDecision(slot=slot, mode=SlotMode.REFUSED, operator_object=name,
                            reason=f"route-map {name} uses entry {clash[0]} inside enforcer's range "
                                   f"{rng.lo + 1}-{rng.hi}: renumber it above {rng.hi} or set sequence_range "
                                   f"for {device.name} in the inventory")
    return None


def _is_guard(node: Node, facts: SlotFacts) -> bool:
    return node.text.split()[2] == "deny" and list(node.children) == [facts.guard_match]


def _decide_guard(tree: Node, device: Device, guard: RtbhGuard, facts: SlotFacts) -> SlotDecision:
    slot = f"neighbor {guard.neighbor} outbound route-map (IPv{guard.family})"
    found = slot_object(tree, facts.neighbor_route_map_out, guard.family, neighbor=re.escape(str(guard.neighbor)))
    if found is None:
        return SlotDecision(slot=slot, mode=SlotMode.FREE,
                            reason="no operator route-map: enforcer's ENFORCER-RTBH-GUARD keeps RTBH off the session")
    name = found[1]
    refused = _no_room(tree, device, slot, name, facts, _is_guard,
                       "is bound but not defined: define it (or unbind it) first")
    if refused:
        return refused
    return SlotDecision(slot=slot, mode=SlotMode.COMPOSED, operator_object=name,
                        reason=f"a deny entry for RTBH routes inserted into the operator's route-map {name} "
                               f"(changes an operator object)")


def _session_exists(tree: Node, guard: RtbhGuard, facts: SlotFacts) -> bool:
    session = [fill(p, neighbor=re.escape(str(guard.neighbor))) for p in facts.neighbor_session]
    return not session or next(matches(tree, session), None) is not None


def _missing_session(device: Device, guard: RtbhGuard) -> SlotDecision:
    """The inventory names a customer session the device does not have: a typo in the inventory
    would leave the real session unguarded, so RTBH is refused rather than skipped."""
    return SlotDecision(slot=f"neighbor {guard.neighbor} outbound route-map (IPv{guard.family})",
                        mode=SlotMode.REFUSED, operator_object=str(guard.neighbor),
                        reason=f"the inventory names customer session {guard.neighbor} on {device.name} but the "
                               f"device has no such BGP neighbour: correct the attachment's neighbor (RTBH must "
                               f"be kept off every customer session) or remove it")


def _carries(tree: Node, guard: RtbhGuard, facts: SlotFacts) -> bool:
    """Whether the session carries the guard's family (platforms that say where that shows)."""
    paths = [sp for sp in facts.neighbor_family_active if sp.family in (None, guard.family)]
    if not facts.neighbor_family_active:
        return True
    return any(next(matches(tree, [fill(p, neighbor=re.escape(str(guard.neighbor)), family=str(guard.family))
                                   for p in sp.path]), None) is not None for sp in paths)


def _guards(section: Section, facts: SlotFacts) -> list[RtbhGuard]:
    """RTBH goes upstream only: one guard per customer session and RTBH family, where the
    platform knows where a session's outbound route-map sits."""
    if not facts.neighbor_route_map_out:
        return []
    families = sorted({r.target.version for r in section.rtbh})
    return [RtbhGuard(neighbor=n, family=f) for f in families for n in section.customer_neighbors]


def compose(section: Section, config: str) -> Composition:
    """Decide every slot ``section`` needs on its device from the device's full live ``config``."""
    device = section.device
    facts = slot_facts(device)
    if facts is not None and facts.set_chains:  # Junos: ordered lists, not numbered entries
        composed, decided = compose_junos(section, config, facts)
        return Composition(section=composed, slots=tuple(decided))
    if facts is None or not (section.prefix_filters or section.rtbh or section.interface_acls
                             or section.anti_spoof):
        return Composition(section=section)
    info = platform_info(device.platform)
    tree = parse(config, info.tree or TreeFacts())
    slots, interface_acls, composed_acls, ranges = compose_acls(tree, section, facts)
    slots += decide_urpf(tree, section, facts)
    composed_rtbh: list[ComposedRtbh] = []
    for family in (4, 6):
        if not any(r.target.version == family for r in section.rtbh):
            continue
        if facts.rpl_rtbh_entry:  # IOS XR: the operator's policy carries RTBH or the slot is refused
            decision, carried_by = decide_rpl_redistribute(tree, device, section, family, facts)
            slots.append(decision)
            if carried_by:
                composed_rtbh.append(ComposedRtbh(into=carried_by, family=family))
            continue
        decision = _decide_redistribute(tree, device, family, facts)
        slots.append(decision)
        if decision.mode is SlotMode.COMPOSED and decision.operator_object:
            ranges[f"route-map {decision.operator_object} permit"] = sequence_range(device, facts)
            composed_rtbh.append(ComposedRtbh(into=decision.operator_object, family=family))
    filters: list[PrefixFilter] = []
    composed: list[ComposedDeny] = []
    for pf in section.prefix_filters:
        own: list = []
        for family in (4, 6):
            if not pf.denied_of(family):
                continue
            decision = _decide_prefix_list(tree, device, pf, family, facts)
            slots.append(decision)
            if decision.mode is SlotMode.COMPOSED and decision.operator_object:
                head = f"{_kw(family)} prefix-list {decision.operator_object}"
                # the group's key: inline entries (`ip prefix-list L seq`) or the block (EOS)
                for key in (f"{head} seq", head):
                    ranges[key] = sequence_range(device, facts)
                composed.extend(ComposedDeny(ids=pf.ids, into=decision.operator_object, target=p)
                                for p in pf.denied_of(family))
            else:
                own.extend(pf.denied_of(family))
        if own:
            filters.append(pf.model_copy(update={"denied": tuple(own)}))
    composed.sort(key=lambda c: (c.target.version, c.into, c.target.version, int(c.target.network_address),
                                 c.target.prefixlen))
    guards: list[RtbhGuard] = []
    for guard in _guards(section, facts):
        if not _session_exists(tree, guard, facts):
            slots.append(_missing_session(device, guard))
            continue
        if not _carries(tree, guard, facts):
            continue  # the session does not carry this family: no blackhole route can reach it
        decision = (decide_rpl_guard(tree, device, section, guard, facts) if facts.rpl_guard
                    else _decide_guard(tree, device, guard, facts))
        slots.append(decision)
        if decision.mode is SlotMode.COMPOSED and decision.operator_object:
            ranges[f"route-map {decision.operator_object} deny"] = sequence_range(device, facts)
            guard = guard.model_copy(update={"into": decision.operator_object})
        guards.append(guard)
    update = {"prefix_filters": tuple(filters), "composed_denies": tuple(composed), "rtbh_guards": tuple(guards),
              "interface_acls": tuple(interface_acls), "composed_acls": tuple(composed_acls),
              "composed_rtbh": tuple(composed_rtbh)}
    return Composition(section=section.model_copy(update=update), slots=tuple(slots), ranges=ranges)


def live_section(device: Device, config: str, managed: str) -> str:
    """The live section as the plan diffs it: enforcer's own objects (``managed``, extracted by the
    driver) and then the entries enforcer placed in operator objects, in a canonical order (the
    device prints an operator's route-map where the operator created it; the render cannot know),
    top-level blocks in the render's order where the device's carries no meaning (conftree.canonical)."""
    tree = platform_info(device.platform).tree
    section = _live_section(device, config, managed)
    return canonical(section, tree) if tree is not None else section


def _live_section(device: Device, config: str, managed: str) -> str:
    facts = slot_facts(device)
    if facts is None:
        return managed
    if facts.set_chains:
        return setconf.live_section(config, managed, facts)
    guards, kept = _split_guards(managed, device, facts)
    extra = (composed_live(device, config) + guards + _rtbh_entries_live(device, config, facts)
             + urpf_live(device, config, facts))
    return "".join(line + "\n" for line in kept + extra)


def _rtbh_entries_live(device: Device, config: str, facts: SlotFacts) -> list[str]:
    """Enforcer's RTBH entries in operators' route-maps, as the device prints them, by map: a
    permit in enforcer's range that matches enforcer's tag (no ENFORCER name marks them)."""
    if not facts.rtbh_entry_closer:
        return []
    tree = parse(config, platform_info(device.platform).tree or TreeFacts())
    pattern = fill(facts.route_map_entry, name=r"(?P<name>(?!ENFORCER-)\S+)")
    rng = sequence_range(device, facts)
    found = []
    for node in tree.children.values():
        m = pattern.search(node.text)
        if m and rng.lo < int(m.group("seq")) <= rng.hi and _is_rtbh_entry(node, facts):
            closer = [] if node.closer is not None else [facts.rtbh_entry_closer]
            found.append((m.group("name"), int(m.group("seq")), list(node.lines()) + closer))
    return [line for *_, lines in sorted(found) for line in lines]


def _split_guards(managed: str, device: Device, facts: SlotFacts) -> tuple[list[str], list[str]]:
    """(enforcer's deny entries in operator route-maps, sorted by map; the other managed lines)."""
    pattern = fill(facts.route_map_entry, name=r"(?P<name>(?!ENFORCER-)\S+)")
    rng = sequence_range(device, facts)
    blocks: list[tuple[str, int, list[str]]] = []
    kept: list[str] = []
    current: list[str] | None = None
    for line in managed.splitlines():
        m = pattern.search(line) if not line.startswith(" ") else None
        if m and m.group("action") == "deny" and rng.lo < int(m.group("seq")) <= rng.hi:
            current = [line]
            blocks.append((m.group("name"), int(m.group("seq")), current))
        elif current is not None and (line.startswith(" ") or line == "exit"):
            current.append(line)
            if line == "exit":
                current = None
        else:
            current = None
            kept.append(line)
    return [ln for *_, lines in sorted(blocks) for ln in lines], kept


def composed_live(device: Device, config: str) -> list[str]:
    """The entries enforcer placed in operator objects, as the device prints them, in a canonical
    order (IPv4 first, by list name, by number), the order the templates print them in.

    Recognised without a record of what enforcer pushed: a deny numbered in enforcer's range of a
    prefix-list that is not enforcer's own. The plan diffs them like the rest of the section.
    """
    facts = slot_facts(device)
    if facts is None:
        return []
    info = platform_info(device.platform)
    rng = sequence_range(device, facts)
    enforcer = re.compile(facts.enforcer_entry)
    tree = parse(config, info.tree or TreeFacts())
    operator = r"(?P<name>(?!ENFORCER-)\S+)"
    found: list[tuple[int, int, str, int, list[str]]] = []
    for family in (4, 6):
        lists = [fill(p, name=operator, kw=_kw(family)) for p in facts.prefix_list_entry]
        acls = [[fill(h.path[0], name=operator), fill(e.path[0])]
                for h in facts.acl_header if h.family in (None, family)
                for e in facts.acl_entry if e.family in (None, family)]
        # prefix-list entries first, then ACL entries: the order the templates print them in
        for kind, path, rule in [(0, lists, enforcer), *((1, p, re.compile(facts.acl_enforcer_entry)) for p in acls)]:
            if not path:
                continue
            for chain, m in matches(tree, path):
                head = path[0].search(chain[0].text)
                name = head.group("name") if head and "name" in head.groupdict() else m.group("name")
                if rng.lo < int(m.group("seq")) <= rng.hi and rule.search(m.group("rest")):
                    found.append((kind, family, name, int(m.group("seq")), [n.line for n in chain]))
    out: list[str] = []
    for *_, lines in sorted(found):
        out.extend(line for i, line in enumerate(lines) if i == len(lines) - 1 or not out or line not in out)
    return out
