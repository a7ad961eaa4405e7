"""Interface ACL slots (issue 9): an operator's inbound ACL (a BCP 38 ACL) already bound on a
customer-facing interface. Enforcer's acl denies go into it, numbered in enforcer's reserved range
below the operator's first entry, so the operator's filter stays bound and whole; unblock removes
them entry by entry. Refused (fail closed, with the slot, the object and how to make room): an ACL
bound but not defined as a named ACL, entries without numbers, an operator entry in the range,
more denies than the range holds, and anti-spoof (a permit-list, which cannot be merged into the
operator's permit-list without one shadowing the other).
"""

from __future__ import annotations

import re

from .conftree import Node, SlotFacts
from .inventory import Device
from .section import ComposedAcl, InterfaceAcl, Section
from .seqnum import SeqRange
from .slots import SlotDecision, SlotMode, fill, sequence_range, slot_object


def _acl_entries(tree: Node, name: str, family: int, facts: SlotFacts) -> tuple[str, dict[int, str], list[str]] | None:
    """(header line, numbered entries, unnumbered entries) of the operator's ACL ``name``, or None
    when it is not defined as a named ACL."""
    for head in (sp for sp in facts.acl_header if sp.family in (None, family)):
        header = fill(head.path[0], name=re.escape(name))
        node = next((n for n in tree.children.values() if header.search(n.text)), None)
        if node is None:
            continue
        entry = next(fill(sp.path[0]) for sp in facts.acl_entry if sp.family in (None, family))
        matched = {text: entry.search(text) for text in node.children}
        numbered = {int(m.group("seq")): m.group("rest") for m in matched.values() if m}
        return node.text, numbered, [t for t, m in matched.items() if not m]
    return None


def _decide_interface_acl(tree: Node, device: Device, acl: InterfaceAcl, needed: int,
                          facts: SlotFacts) -> tuple[SlotDecision, str | None]:
    """The interface's inbound ACL slot; with a composed decision, the operator ACL's header line."""
    slot = f"interface {acl.interface} inbound ACL (IPv{acl.family})"
    found = slot_object(tree, facts.interface_acl_in, acl.family, interface=re.escape(acl.interface))
    if found is None:
        return SlotDecision(slot=slot, mode=SlotMode.FREE, reason=f"no operator ACL: enforcer binds {acl.name}"), None
    line, name = found

    def refused(reason: str) -> tuple[SlotDecision, None]:
        return SlotDecision(slot=slot, mode=SlotMode.REFUSED, operator_object=name, reason=reason), None

    if acl.name.startswith("ENFORCER-AS-"):
        # Anti-spoof is a permit-list (only the customer's sources): merged into an operator's
        # BCP 38 ACL it would either be shadowed by the operator's permits or shadow them.
        return refused(f"anti-spoof needs this slot but the operator's ACL {name} is bound ({line}): enforcer "
                       f"does not rewrite an operator's source filter; keep the customer's sources in {name} "
                       f"and drop anti-spoof for this customer, or unbind {name}")
    acl_found = _acl_entries(tree, name, acl.family, facts)
    if acl_found is None:
        return refused(f"ACL {name} is bound but not defined as a named ACL (a numbered `access-list N` has "
                       f"no entry numbers to insert at): define it as a named ACL first")
    _, entries, unnumbered = acl_found
    if unnumbered:
        return refused(f"ACL {name} has an entry without a sequence number ({unnumbered[0]}): number its "
                       f"entries (above {sequence_range(device, facts).hi}) first")
    rng = sequence_range(device, facts)
    enforcer = re.compile(facts.acl_enforcer_entry)
    clash = sorted(s for s, rest in entries.items() if rng.lo < s <= rng.hi and not enforcer.search(rest))
    if clash:
        return refused(f"ACL {name} uses sequence {clash[0]} inside enforcer's range {rng.lo + 1}-{rng.hi}: "
                       f"renumber it above {rng.hi} or set sequence_range for {device.name} in the inventory")
    if needed > rng.hi - rng.lo:
        return refused(f"{needed} denies do not fit in enforcer's range {rng.lo + 1}-{rng.hi} of ACL {name}: "
                       f"widen sequence_range for {device.name} in the inventory")
    return SlotDecision(slot=slot, mode=SlotMode.COMPOSED, operator_object=name,
                        reason=f"denies inserted into the operator's ACL {name} at sequence {rng.lo + 1}-{rng.hi}, "
                               f"before its own entries (changes an operator object)"), acl_found[0]


def compose_acls(tree: Node, section: Section, facts: SlotFacts
                  ) -> tuple[list[SlotDecision], list[InterfaceAcl], list[ComposedAcl], dict[str, SeqRange]]:
    """Each interface ACL enforcer would bind: free (kept), composed (the denies go into the
    operator's ACL instead) or refused."""
    if not facts.interface_acl_in:
        return [], list(section.interface_acls), [], {}
    slots, kept, composed, ranges = [], [], [], {}
    for acl in section.interface_acls:
        needed = sum(max(1, len(r.ports)) for r in section.acl if r.target.version == acl.family)
        decision, header = _decide_interface_acl(tree, section.device, acl, needed, facts)
        slots.append(decision)
        if decision.mode is SlotMode.COMPOSED and header and decision.operator_object:
            into = ComposedAcl(into=decision.operator_object, family=acl.family)
            if into not in composed:
                composed.append(into)
            ranges[header] = sequence_range(section.device, facts)
        else:
            kept.append(acl)
    return slots, kept, sorted(composed, key=lambda c: (c.family, c.into)), ranges
