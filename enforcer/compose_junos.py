"""Junos slots (issue 9): enforcer's filter and policies go *first* into the operator's ordered lists.

Junos evaluates an interface's ``filter input-list`` filter by filter and a BGP ``import`` /
``export`` chain policy by policy; a terminating action (``accept``, ``discard``, ``reject``) ends
the list. So enforcer's objects never end in an accept of their own and are put at the head of
the list, where what they do not discard or reject falls through to the operator's:

* **interface filter** (per interface and family): free → ``input-list [ <enforcer's filter>
  ENFORCER-ACCEPT-V4|V6 ]`` (the one-term accept filter ends a list of enforcer's alone); the
  operator's ``filter input X`` → ``input-list [ <enforcer's> X ]`` (Junos takes ``input`` or
  ``input-list``, never both: ``input`` is deleted in the same commit); the operator's
  ``input-list`` → enforcer's filter inserted first. Refused: a list already at Junos's maximum
  (16), and a filter carrying rate-limit terms (their ``then accept`` would skip the operator's).
* **neighbour import** (prefix-filter): enforcer's ``ENFORCER-HIJACK-…`` policies first in the
  neighbour's *effective* chain: its own import chain, else its group's (a neighbour-level
  ``import`` replaces the group's, so the group's policies are restated after enforcer's), else
  nothing (BGP's default import accepts). Refused: the neighbour is in no group on the device.
* **RTBH export**: ``ENFORCER-RTBH`` first in the upstream group's export chain (and in any
  neighbour-level export chain there), so a chain ending in ``REJECT-ALL`` cannot swallow it; every
  group holding a customer session gets ``ENFORCER-RTBH-GUARD`` (rejects the blackhole
  communities) first in its export chain, so the blackhole never goes back to a customer. Refused:
  the upstream group is not configured, or a customer session sits in the upstream group.

Unblock restores each list to the operator's values (:func:`enforcer.setconf._restored`). The
chains go into :class:`enforcer.section.SetChain`; the templates only print them.
"""

from __future__ import annotations

import re
from ipaddress import ip_address

from .conftree import SlotFacts
from .section import Section, SetChain
from .setconf import Chains, chains
from .slots import SlotDecision, SlotMode

RTBH, GUARD = "ENFORCER-RTBH", "ENFORCER-RTBH-GUARD"


class _Live:
    """What the composition reads of the device's set lines; ``known`` False when no live config
    was read (goldens, an offline device without a snapshot): every slot is then free."""

    def __init__(self, config: str | None, facts: SlotFacts):
        self.known = config is not None
        self.chains: Chains = chains(config or "", facts)
        pattern = re.compile(facts.set_neighbor)
        self.groups: dict[str, str] = {}
        for line in (config or "").splitlines():
            if (m := pattern.match(line)) and _is_address(m.group("neighbor")):
                self.groups.setdefault(m.group("neighbor"), m.group("group"))

    def has_group(self, group: str) -> bool:
        return group in self.groups.values() or any(s.startswith(f"protocols bgp group {group} ")
                                                     for s in self.chains.values)

    def neighbor_slots(self, group: str, kind: str) -> list[str]:
        pattern = re.compile(rf"^protocols bgp group {re.escape(group)} neighbor \S+ {kind}$")
        return sorted(s for s in self.chains.values if pattern.match(s) and self.chains.operator(s))


def _is_address(text: str) -> bool:
    try:
        ip_address(text)
    except ValueError:
        return False
    return True


def _decision(slot: str, mode: SlotMode, reason: str, operator: list[str] | None = None) -> SlotDecision:
    return SlotDecision(slot=slot, mode=mode, reason=reason,
                        operator_object=" ".join(operator) if operator else None)


def _filters(section: Section, live: _Live, facts: SlotFacts) -> tuple[list[SetChain], list[SlotDecision], set[int]]:
    out, slots, accept = [], [], set()
    for acl in section.interface_acls:
        name, unit = (acl.interface.split(".") + ["0"])[:2]
        slot = f"interfaces {name} unit {unit} family {'inet' if acl.family == 4 else 'inet6'} filter"
        label = f"interface {acl.interface} inbound filter (IPv{acl.family})"
        operator = live.chains.operator(slot)
        accept_name = f"ENFORCER-ACCEPT-V{acl.family}"
        if not operator:
            slots.append(_decision(label, SlotMode.FREE,
                                   f"no operator filter: input-list [ {acl.name} {accept_name} ]"))
            out.append(SetChain(slot=slot, form="input-list", values=(acl.name, accept_name)))
            accept.add(acl.family)
            continue
        was = ("filter input " if live.chains.of(slot)[0][0] == "input" else "filter input-list ") + " ".join(operator)
        if acl.denies and any(r.target.version == acl.family for r in section.rate_limits):
            slots.append(_decision(label, SlotMode.REFUSED, operator=operator, reason=(
                f"{acl.name} carries rate-limit terms, whose `then accept` would skip the operator's "
                f"{' '.join(operator)} ({was}): move the rate limit to an interface without an operator "
                f"filter, or police in {operator[0]} yourself")))
        elif len(operator) + 1 > facts.filter_list_max:
            slots.append(_decision(label, SlotMode.REFUSED, operator=operator, reason=(
                f"the input-list already holds {len(operator)} filters, the most Junos takes, so "
                f"{acl.name} cannot be put first: merge two of the operator's filters to make room")))
        else:
            slots.append(_decision(label, SlotMode.COMPOSED, operator=operator, reason=(
                f"{acl.name} first, then the operator's {' '.join(operator)} (was `{was}`): "
                f"input-list [ {acl.name} {' '.join(operator)} ]; {acl.name} has no accept, what it "
                f"does not discard goes on to the operator's filters (changes an operator object)")))
            out.append(SetChain(slot=slot, form="input-list", values=(acl.name, *operator)))
    return out, slots, accept


def _imports(section: Section, live: _Live) -> tuple[list[SetChain], list[SlotDecision]]:
    out, slots = [], []
    for pf in section.prefix_filters:
        families = [f for f in (4, 6) if pf.denied_of(f)]
        ours = tuple(f"ENFORCER-HIJACK-{pf.customer}-V{f}" for f in families)
        labels = [f"neighbor {pf.neighbor} import chain (IPv{f})" for f in families]
        group = live.groups.get(str(pf.neighbor)) if live.known else \
            section.device.optional_args.get("enforcer_customer_group", "CUSTOMERS")
        if group is None:
            slots.extend(_decision(label, SlotMode.REFUSED, reason=(
                f"neighbor {pf.neighbor} is in no BGP group on {section.device.name}: enforcer would "
                f"create the session; configure it, or fix customer {pf.customer}'s attachment")) for label in labels)
            continue
        slot = f"protocols bgp group {group} neighbor {pf.neighbor} import"
        own, inherited = live.chains.operator(slot), live.chains.inherited(slot)
        if own:
            mode, why = SlotMode.COMPOSED, (f"enforcer's policies first in the neighbour's import chain, then "
                                            f"the operator's {' '.join(own)} (changes an operator object)")
        elif inherited:
            mode, why = SlotMode.COMPOSED, (f"a neighbour-level import replaces the one it inherits (group "
                                            f"{group}'s, else BGP's), so {' '.join(inherited)} is restated "
                                            f"after enforcer's policies (changes an operator object)")
        else:
            mode, why = SlotMode.FREE, "no operator import: enforcer's policies, then BGP's default (accept)"
        slots.extend(_decision(label, mode, why, own or inherited) for label in labels)
        out.append(SetChain(slot=slot, values=(*ours, *(own or inherited))))
    return out, slots


def _first_in_export(live: _Live, group: str, policy: str, purpose: str) -> tuple[list[SetChain], list[SlotDecision]]:
    """``policy`` first in group ``group``'s export chain and in every neighbour-level one there."""
    out, slots = [], []
    for slot in [f"protocols bgp group {group} export", *live.neighbor_slots(group, "export")]:
        # a group without an export of its own inherits the global one: restated after ``policy``
        operator = live.chains.operator(slot) or live.chains.inherited(slot)
        where = slot.removeprefix("protocols bgp ").removesuffix(" export")
        label = f"{where} export chain ({purpose})"
        if operator:
            slots.append(_decision(label, SlotMode.COMPOSED, operator=operator, reason=(
                f"{policy} first, then the operator's {' '.join(operator)}, so the chain's own end "
                f"cannot swallow or pass it (changes an operator object)")))
        else:
            slots.append(_decision(label, SlotMode.FREE, f"no operator export: {policy}, then BGP's default"))
        out.append(SetChain(slot=slot, values=(policy, *operator)))
    return out, slots


def _exports(section: Section, live: _Live) -> tuple[list[SetChain], list[SlotDecision]]:
    if not section.rtbh:
        return [], []
    args = section.device.optional_args
    upstream = args.get("enforcer_upstream_group", "UPSTREAM")
    if live.known and not live.has_group(upstream):
        return [], [_decision(f"group {upstream} export chain (RTBH)", SlotMode.REFUSED, reason=(
            f"the upstream group {upstream} is not configured on {section.device.name}: set "
            f"optional_args.enforcer_upstream_group to the group of the upstream sessions"))]
    if live.known:
        customers = sorted({g for n in section.customer_neighbors if (g := live.groups.get(str(n)))})
    else:
        customers = [args.get("enforcer_customer_group", "CUSTOMERS")]
    if upstream in customers:
        return [], [_decision(f"group {upstream} export chain (RTBH)", SlotMode.REFUSED, reason=(
            f"a customer session is in the upstream group {upstream}: the blackhole would be announced to "
            f"the customer; move the customer sessions to their own group"))]
    out, slots = _first_in_export(live, upstream, RTBH, "RTBH, upstream")
    for group in customers:
        more, decided = _first_in_export(live, group, GUARD, "RTBH guard, customers")
        out += more
        slots += decided
    return out, slots


def compose_junos(section: Section, config: str | None, facts: SlotFacts) -> tuple[Section, list[SlotDecision]]:
    """The section with its chains decided against the live ``config`` (None: none read), and
    the slot decisions, refused ones included (the plan then fails closed for the device)."""
    live = _Live(config, facts)
    filters, slots, accept = _filters(section, live, facts)
    imports, more = _imports(section, live)
    exports, guarded = _exports(section, live)
    chained = sorted(filters + imports + exports, key=lambda c: c.slot)
    update = {"set_chains": tuple(chained), "accept_filters": tuple(sorted(accept))}
    return section.model_copy(update=update), slots + more + guarded
