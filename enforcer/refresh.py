"""Exec commands a platform needs after a commit for the new config to take effect.

FRR 8.4 does not re-run a neighbour's inbound prefix-list when an entry is added to or removed
from it (docs/lab-facts.md): the hijacked prefix stays accepted until ``clear bgp <neighbour> soft
in`` asks the peer to send its routes again. That is an exec command, not config, so it cannot
travel in the candidate: the plan lists it (``DevicePlan.after_commit``, shown and saved with the
commands) and the push sends it once the commit is confirmed. IOS and NX-OS need the same
(Cisco's BGP guides: a changed inbound policy takes effect after a soft reset), and EOS gets it
too (docs/platforms.md says why). The command is a platform fact (``platform.yaml``
``slots.refresh_in``, ``refresh_in_v6`` where the platform spells it per family); this module
decides when: for every neighbour and family whose inbound prefix-list, in the live config or the
desired section, is a list whose entries change.
"""

from __future__ import annotations

from .conftree import Node, SlotFacts, TreeFacts, parse
from .inventory import Device
from .render import platform_info
from .slots import fill, matches, slot_facts


def after_commit(device: Device, config: str, live: str, desired: str) -> list[str]:
    """The exec commands to send after committing ``desired`` over ``live`` (the managed
    sections) on a device whose full running config is ``config``; empty when none are needed.
    One per neighbour and family whose inbound list changed (the platform's command per family)."""
    facts = slot_facts(device)
    if facts is None or not facts.refresh_in:
        return []
    info = platform_info(device.platform)
    facts_tree = info.tree or TreeFacts()
    changed = {(family, name) for family, name, _ in
               _entries(parse(live, facts_tree), facts) ^ _entries(parse(desired, facts_tree), facts)}
    if not changed:
        return []
    sessions: set[tuple[int, str]] = set()
    for text in (config, desired):
        tree = parse(text, facts_tree)
        for sp in facts.neighbor_prefix_list_in:
            for family in (4, 6):
                if sp.family not in (None, family):
                    continue
                path = [fill(p, family=str(family), neighbor=r"(?P<neighbor>\S+)") for p in sp.path]
                sessions.update((family, _neighbor(chain, m)) for chain, m in matches(tree, path)
                                if (family, m.group("object")) in changed)
    commands = [(facts.refresh_in_v6 or facts.refresh_in if family == 6 else facts.refresh_in)
                .replace("{neighbor}", neighbor) for family, neighbor in sorted(sessions)]
    return list(dict.fromkeys(commands))


def _entries(tree: Node, facts: SlotFacts) -> set[tuple[int, str, tuple[str, ...]]]:
    """Every prefix-list entry of a section as (family, list, its lines): inline (``ip
    prefix-list L seq 5 ...``) or in a block (EOS ``ip prefix-list L`` / ``seq 5 ...``)."""
    out = set()
    for family in (4, 6):
        path = [fill(p, name=r"(?P<name>\S+)", kw="ip" if family == 4 else "ipv6") for p in facts.prefix_list_entry]
        for chain, _ in matches(tree, path):
            head = path[0].search(chain[0].text)
            out.add((family, head.group("name") if head else "", tuple(n.text for n in chain)))
    return out


def _neighbor(chain: list, m) -> str:
    """The neighbour of a matched binding: in the binding line (``neighbor X prefix-list``) or,
    on NX-OS, in the ``neighbor X`` block above it."""
    if "neighbor" in m.groupdict() and m.group("neighbor"):
        return m.group("neighbor")
    return next(n.text.split()[1] for n in chain if n.text.startswith("neighbor "))
