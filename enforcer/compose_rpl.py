"""RTBH slots on IOS XR (RPL), where enforcer cannot insert an entry into the operator's object.

IOS XR binds one route-policy per neighbour, address family and direction, and one
``redistribute static route-policy`` per address family; an RPL policy has no numbered entries
to insert at, and restating an operator's policy whole would make enforcer the author of the
operator's routing policy. So on XR enforcer never changes an operator's policy. Per slot:

* ``redistribute static`` (RTBH announces enforcer's tag-666 statics): free → enforcer's
  ``redistribute static route-policy ENFORCER-RTBH``; the operator's redistribution whose policy
  already gives tag-666 statics the blackhole community (``slots.rpl_rtbh_entry``) → enforcer adds
  only its Null0 routes and binds nothing (the operator's policy unchanged); any other operator
  redistribution → refused, saying what to add to that policy.
* a customer session's outbound ``route-policy … out`` (the blackhole must never go back to the
  customer): none → nothing can leak (IOS XR sends an eBGP neighbour nothing without an outbound
  policy, RFC 8212); the operator's policy that drops the blackhole community
  (``slots.rpl_guard``) → kept as it is; any other → refused, saying what to add.

The regexes are platform facts (``templates/iosxr/platform.yaml``); ``{community}`` stands for
each community enforcer's RTBH routes carry.
"""

from __future__ import annotations

import re

from .conftree import Node, SlotFacts
from .inventory import Device
from .section import RtbhGuard, Section
from .slots import SlotDecision, SlotMode, slot_object


def _communities(section: Section) -> list[str]:
    return sorted({str(r.community) for r in section.rtbh})


def _policy_text(tree: Node, name: str) -> str | None:
    """The operator's route-policy ``name`` as printed (its lines, indentation kept), or None."""
    node = tree.children.get(f"route-policy {name}")
    return None if node is None else "\n".join(node.lines())


def _does(pattern: str, text: str, communities: list[str]) -> bool:
    return all(re.search(pattern.replace("{community}", re.escape(c)), text) for c in communities)


def decide_rpl_redistribute(tree: Node, device: Device, section: Section, family: int,
                            facts: SlotFacts) -> tuple[SlotDecision, str | None]:
    """The ``redistribute static`` slot of ``family``; with the operator's policy that already
    carries RTBH, its name (enforcer then binds no redistribution of its own)."""
    slot = f"redistribute static (IPv{family})"
    found = slot_object(tree, facts.redistribute_static, family)
    if found is None:
        return SlotDecision(slot=slot, mode=SlotMode.FREE,
                            reason="no operator redistribution: enforcer's route-policy ENFORCER-RTBH"), None
    line, name = found
    text = _policy_text(tree, name) if name else None
    communities = _communities(section)
    if text is not None and _does(facts.rpl_rtbh_entry, text, communities):
        return SlotDecision(slot=slot, mode=SlotMode.FREE, operator_object=name,
                            reason=f"the operator's route-policy {name} already gives tag-666 statics the "
                                   f"blackhole community: enforcer adds only its Null0 routes (the operator's "
                                   f"policy is not changed)"), name
    set_line = f"set community ({', '.join(communities)})"
    return SlotDecision(slot=slot, mode=SlotMode.REFUSED, operator_object=name or "(no route-policy)",
                        reason=f"the operator already redistributes static routes ({line}) and IOS XR takes one "
                               f"redistribution per address family, whose RPL policy enforcer does not rewrite: "
                               f"add `if tag eq 666 then {set_line} pass endif` at the top of "
                               f"{name or 'a route-policy for it'} (enforcer then adds only its Null0 routes), "
                               f"or remove the redistribution"), None


def decide_rpl_guard(tree: Node, device: Device, section: Section, guard: RtbhGuard,
                     facts: SlotFacts) -> SlotDecision:
    """A customer session's outbound policy of ``guard.family``: the blackhole must not pass it."""
    slot = f"neighbor {guard.neighbor} outbound route-policy (IPv{guard.family})"
    found = slot_object(tree, facts.neighbor_route_map_out, guard.family, neighbor=re.escape(str(guard.neighbor)))
    if found is None:
        return SlotDecision(slot=slot, mode=SlotMode.FREE,
                            reason="no outbound route-policy: IOS XR sends an eBGP neighbour nothing without "
                                   "one (RFC 8212), so the blackhole cannot reach the customer")
    name = found[1]
    text = _policy_text(tree, name)
    communities = _communities(section)
    if text is not None and _does(facts.rpl_guard, text, communities):
        return SlotDecision(slot=slot, mode=SlotMode.FREE, operator_object=name,
                            reason=f"the operator's route-policy {name} drops the blackhole community: it "
                                   f"keeps RTBH off the customer as it is (not changed)")
    why = "is bound but not defined" if text is None else "passes enforcer's blackhole routes to the customer"
    return SlotDecision(slot=slot, mode=SlotMode.REFUSED, operator_object=name,
                        reason=f"the operator's route-policy {name} {why}, and IOS XR takes one policy per "
                               f"neighbour and direction, which enforcer does not rewrite: add `if community "
                               f"matches-any ({', '.join(communities)}) then drop endif` at the top of {name}, "
                               f"or drop rtbh on {device.name}")
