"""Exec commands a platform needs after a commit for the new config to take effect.

FRR 8.4 does not re-run a neighbour's inbound prefix-list when an entry is added to or removed
from it (docs/lab-facts.md): the hijacked prefix stays accepted until ``clear bgp <neighbour> soft
in`` asks the peer to send its routes again. That is an exec command, not config, so it cannot
travel in the candidate: the plan lists it (``DevicePlan.after_commit``, shown and saved with the
commands) and the push sends it once the commit is confirmed. The command is a platform fact
(``platform.yaml`` ``slots.refresh_in``); this module decides when: for every neighbour whose
inbound prefix-list, in the live config or the desired section, is a list whose entries change.
"""

from __future__ import annotations

from .conftree import TreeFacts, parse
from .inventory import Device
from .render import platform_info
from .slots import fill, matches, slot_facts


def _lines(text: str) -> set[str]:
    return {ln.strip() for ln in text.splitlines() if ln.strip()}


def after_commit(device: Device, config: str, live: str, desired: str) -> list[str]:
    """The exec commands to send after committing ``desired`` over ``live`` (the managed
    sections) on a device whose full running config is ``config``; empty when none are needed."""
    facts = slot_facts(device)
    if facts is None or not facts.refresh_in:
        return []
    entry = [fill(p, name=r"(?P<name>\S+)", kw=r"(?:ip|ipv6)") for p in facts.prefix_list_entry]
    changed = set()
    for line in _lines(live) ^ _lines(desired):
        for pattern in entry:
            if m := pattern.search(line):
                changed.add(m.group("name"))
    if not changed:
        return []
    info = platform_info(device.platform)
    neighbors: set[str] = set()
    for text in (config, desired):
        tree = parse(text, info.tree or TreeFacts())
        for sp in facts.neighbor_prefix_list_in:
            for family in (4, 6):
                if sp.family not in (None, family):
                    continue
                path = [fill(p, family=str(family), neighbor=r"(?P<neighbor>\S+)") for p in sp.path]
                neighbors.update(m.group("neighbor") for _, m in matches(tree, path) if m.group("object") in changed)
    return [facts.refresh_in.replace("{neighbor}", n) for n in sorted(neighbors)]
