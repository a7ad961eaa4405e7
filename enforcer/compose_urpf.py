"""uRPF anti-spoof slots (issue 9): the uRPF statement of a customer port.

With ``anti_spoof: urpf-strict|urpf-loose`` on a device, anti-spoof is the router's own
reverse-path check on the customer's interface (``ip verify unicast source reachable-via rx``),
not a permit-list ACL: it follows the customer's routes and connected interconnect by itself, so
the customer's BGP session and ND stay up, and it needs no ACL slot (an operator's BCP 38 ACL on
the port stays untouched).

The line carries no ENFORCER name, so ownership is by reservation, as with enforcer's sequence
range: on a device set to uRPF, the exact line enforcer would print on one of its
``attach_interfaces`` is enforcer's (read back, removed on unblock). Any other uRPF line there
(the other mode, ``allow-default``, ...) is the operator's: a uRPF anti-spoof on that port is
refused, never replaced. An anti-spoof port outside ``attach_interfaces`` is refused too:
enforcer could not tell its line there from the operator's after the push.
"""

from __future__ import annotations

import re

from .conftree import Node, SlotFacts, TreeFacts, parse
from .inventory import AntiSpoofMethod, Device
from .render import platform_info
from .section import Section
from .slots import SlotDecision, SlotMode, slot_object

_KEYWORD = {AntiSpoofMethod.URPF_STRICT: "rx", AntiSpoofMethod.URPF_LOOSE: "any"}


def _ours(device: Device) -> str | None:
    """What follows ``verify unicast`` in the line enforcer prints on this device, if uRPF."""
    keyword = _KEYWORD.get(device.anti_spoof)
    return f"source reachable-via {keyword}" if keyword else None


def decide_urpf(tree: Node, section: Section, facts: SlotFacts) -> list[SlotDecision]:
    """One decision per port and family where anti-spoof is uRPF."""
    device, ours = section.device, _ours(section.device)
    if not facts.urpf_in or ours is None:
        return []
    out = []
    for iface in sorted({a.interface for a in section.anti_spoof if a.urpf}):
        for family in (4, 6):
            slot = f"interface {iface} uRPF (IPv{family})"
            if iface not in device.attach_interfaces:
                out.append(SlotDecision(slot=slot, mode=SlotMode.REFUSED, operator_object=iface,
                                        reason=f"{iface} is not in attach_interfaces of {device.name}: enforcer owns "
                                               f"the uRPF line only on those ports; add {iface} there"))
                continue
            found = slot_object(tree, facts.urpf_in, family, interface=re.escape(iface))
            if found is None or found[1] == ours:
                out.append(SlotDecision(slot=slot, mode=SlotMode.FREE,
                                        reason=f"enforcer sets `verify unicast {ours}` ({device.anti_spoof})"))
            else:
                out.append(SlotDecision(slot=slot, mode=SlotMode.REFUSED, operator_object=found[0],
                                        reason=f"the operator's `{found[0]}` is on {iface}: enforcer does not replace "
                                               f"it; remove it, or set anti_spoof of {device.name} to its method"))
    return out


def urpf_live(device: Device, config: str, facts: SlotFacts) -> list[str]:
    """Enforcer's uRPF lines as the device holds them, in the order urpf.j2 prints them
    (ports sorted, IPv4 before IPv6): the exact line of the device's method on its
    ``attach_interfaces``."""
    ours = _ours(device)
    if not facts.urpf_in or ours is None:
        return []
    tree = parse(config, platform_info(device.platform).tree or TreeFacts())
    out: list[str] = []
    for iface in sorted(device.attach_interfaces):
        lines = []
        for family in (4, 6):
            found = slot_object(tree, facts.urpf_in, family, interface=re.escape(iface))
            if found is not None and found[1] == ours:
                lines.append(found[0])
        if lines:
            node = next(n for n in tree.children.values() if n.text == f"interface {iface}")
            indent = " " * next(c.indent for c in node.children.values() if c.text in lines)
            out += [node.line, *(indent + ln for ln in lines)]
    return out
