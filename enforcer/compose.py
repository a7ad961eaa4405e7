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
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from .conftree import Node, SlotFacts, TreeFacts, parse
from .inventory import Device
from .render import ComposedDeny, PrefixFilter, Section, platform_info
from .seqnum import SeqRange


class SlotMode(StrEnum):
    FREE = "free"
    COMPOSED = "composed"
    REFUSED = "refused"


class SlotDecision(BaseModel):
    """One attachment point on one device: how enforcer uses it, and why (shown by ``enforcer plan``)."""

    model_config = ConfigDict(frozen=True)
    slot: str
    mode: SlotMode
    operator_object: str | None = None
    reason: str = ""


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
    return "; ".join(f"{s.slot}: refused ({s.operator_object}): {s.reason}" for s in composition.refused)


def slot_facts(device: Device) -> SlotFacts | None:
    info = platform_info(device.platform)
    return info.slots


def sequence_range(device: Device, facts: SlotFacts) -> SeqRange:
    lo, hi = device.sequence_range or facts.sequence_range
    return SeqRange(lo=lo - 1, hi=hi, step=1, ordered=False)


def _bgp_af_children(tree: Node, family: int, facts: SlotFacts) -> list[Node]:
    """The lines under ``router bgp`` that apply to ``family``: its address family, and for IPv4
    the lines directly under the router (IOS's default IPv4 unicast)."""
    af = re.compile(facts.address_family)
    out: list[Node] = []
    for top in tree.children.values():
        if not top.text.startswith("router bgp"):
            continue
        for child in top.children.values():
            m = af.search(child.text)
            if m and int(m.group("family")) == family:
                out.extend(child.children.values())
            elif not m and family == 4:
                out.append(child)
    return out


def _operator_list(tree: Node, pf: PrefixFilter, family: int, facts: SlotFacts) -> str | None:
    pattern = re.compile(facts.neighbor_prefix_list_in.format(neighbor=re.escape(str(pf.neighbor))),
                         re.IGNORECASE)
    for node in _bgp_af_children(tree, family, facts):
        m = pattern.search(node.text)
        if m and not m.group("object").startswith("ENFORCER-"):
            return m.group("object")
    return None


def _list_entries(config: str, name: str, facts: SlotFacts) -> dict[int, str]:
    pattern = re.compile(facts.prefix_list_entry.format(name=re.escape(name)))
    out: dict[int, str] = {}
    for line in config.splitlines():
        m = pattern.search(line.strip())
        if m:
            out[int(m.group("seq"))] = m.group("rest")
    return out


def _decide_prefix_list(config: str, tree: Node, device: Device, pf: PrefixFilter, family: int,
                        facts: SlotFacts) -> SlotDecision:
    slot = f"neighbor {pf.neighbor} inbound prefix-list (IPv{family})"
    name = _operator_list(tree, pf, family, facts)
    if name is None:
        return SlotDecision(slot=slot, mode=SlotMode.FREE, reason="no operator prefix-list: enforcer binds its own")
    entries = _list_entries(config, name, facts)
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


def _decide_redistribute(tree: Node, family: int, facts: SlotFacts) -> SlotDecision:
    """RTBH redistributes enforcer's tag-666 statics through its route-map. One `redistribute
    static` per address family: an operator's would be replaced, so it is refused instead."""
    slot = f"redistribute static (IPv{family})"
    pattern = re.compile(facts.redistribute_static)
    for node in _bgp_af_children(tree, family, facts):
        m = pattern.search(node.text)
        if m and m.group("object") != "ENFORCER-RTBH":
            held = m.group("object") or "(no route-map)"
            return SlotDecision(slot=slot, mode=SlotMode.REFUSED, operator_object=held,
                                reason=f"the operator already redistributes static routes ({node.text}); "
                                       f"add an entry `match tag 666` / `set community 65535:666` before the "
                                       f"others in {held} and leave RTBH to that, or remove the redistribution")
    return SlotDecision(slot=slot, mode=SlotMode.FREE, reason="no operator redistribution: enforcer's route-map")


def compose(section: Section, config: str) -> Composition:
    """Decide every slot ``section`` needs on its device from the device's full live ``config``."""
    device = section.device
    facts = slot_facts(device)
    if facts is None or not (section.prefix_filters or section.rtbh):
        return Composition(section=section)
    info = platform_info(device.platform)
    tree = parse(config, info.tree or TreeFacts())
    slots: list[SlotDecision] = [_decide_redistribute(tree, family, facts)
                                 for family in (4, 6) if any(r.target.version == family for r in section.rtbh)]
    ranges: dict[str, SeqRange] = {}
    filters: list[PrefixFilter] = []
    composed: list[ComposedDeny] = []
    for pf in section.prefix_filters:
        own: list = []
        for family in (4, 6):
            if not pf.denied_of(family):
                continue
            decision = _decide_prefix_list(config, tree, device, pf, family, facts)
            slots.append(decision)
            if decision.mode is SlotMode.COMPOSED and decision.operator_object:
                kw = "ip" if family == 4 else "ipv6"
                ranges[f"{kw} prefix-list {decision.operator_object} seq"] = sequence_range(device, facts)
                composed.extend(ComposedDeny(ids=pf.ids, into=decision.operator_object, target=p)
                                for p in pf.denied_of(family))
            else:
                own.extend(pf.denied_of(family))
        if own:
            filters.append(pf.model_copy(update={"denied": tuple(own)}))
    composed.sort(key=lambda c: (c.target.version, c.into, c.target.version, int(c.target.network_address),
                                 c.target.prefixlen))
    update = {"prefix_filters": tuple(filters), "composed_denies": tuple(composed)}
    return Composition(section=section.model_copy(update=update), slots=tuple(slots), ranges=ranges)


def live_section(device: Device, config: str, managed: str) -> str:
    """The live section as the plan diffs it: enforcer's own objects (``managed``, extracted by the
    driver) and then the entries enforcer placed in operator objects."""
    extra = composed_live(device, config)
    return managed + "".join(line + "\n" for line in extra)


def composed_live(device: Device, config: str) -> list[str]:
    """The entries enforcer placed in operator objects, as the device prints them (config order).

    Recognised without a record of what enforcer pushed: a deny numbered in enforcer's range of a
    prefix-list that is not enforcer's own. The plan diffs them like the rest of the section.
    """
    facts = slot_facts(device)
    if facts is None:
        return []
    rng = sequence_range(device, facts)
    pattern = re.compile(facts.prefix_list_entry.format(name=r"(?P<name>(?!ENFORCER-)\S+)"))
    enforcer = re.compile(facts.enforcer_entry)
    found = []
    for line in config.splitlines():
        m = pattern.search(line.rstrip())
        if m and rng.lo < int(m.group("seq")) <= rng.hi and enforcer.search(m.group("rest")):
            found.append((line.startswith("ipv6"), m.group("name"), int(m.group("seq")), line.rstrip()))
    return [line for *_, line in sorted(found)]
