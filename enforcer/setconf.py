"""Junos configuration as ``set`` lines: its ordered lists (chains) and the load-set candidate.

Junos prints one ``set`` line per leaf and one per value of an ordered list
(``show configuration | display set``). Most of enforcer's objects are whole statements it owns
(a filter, a policy-statement, a static route); those are keyed by the words up to the first
``ENFORCER`` one and, when their lines change, deleted and set again inside the one candidate
(a term left half-deleted would match everything). The attachment points are different: an
interface's ``filter input`` / ``input-list`` and a BGP group's or neighbour's ``import`` /
``export`` are ordered lists shared with the operator, where order is meaning (a terminating
action ends the list). Such a list is a *chain*: whenever it must change it is deleted and
stated again in its new order, in the same commit, so it never lapses and enforcer's values come
first whatever the operator's end with.

The chain patterns are platform facts (``platform.yaml`` ``slots.set_chains``: one regex per kind,
groups ``slot``, optional ``form``, ``value``). This module replaces the Jinja ``push.j2`` that
did the object diff: it is an algorithm, not printing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache

from .conftree import SlotFacts

ENFORCER = "ENFORCER"


@dataclass
class Chains:
    """The chains of one config: slot → [(form, value)] in device order, and each slot's kind."""

    values: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    other: list[str] = field(default_factory=list)

    def of(self, slot: str) -> list[tuple[str, str]]:
        return self.values.get(slot, [])

    def enforcers(self) -> list[str]:
        """Slots holding one of enforcer's values: they belong to the managed section."""
        return sorted(s for s, vs in self.values.items() if any(v.startswith(ENFORCER) for _, v in vs))

    def operator(self, slot: str) -> list[str]:
        return [v for _, v in self.of(slot) if not v.startswith(ENFORCER)]

    def inherited(self, slot: str) -> list[str]:
        """The operator's chain a BGP slot falls back to when it holds none of its own: a
        neighbour's import/export is its group's, a group's the global ``protocols bgp`` one."""
        parent = _parent(slot)
        while parent is not None:
            if chain := self.operator(parent):
                return chain
            parent = _parent(parent)
        return []

    def lines(self, slot: str) -> list[str]:
        return [f"set {slot} {form} {value}".replace("  ", " ") for form, value in self.of(slot)]


def _parent(slot: str) -> str | None:
    if " neighbor " in slot:
        return re.sub(r" neighbor \S+", "", slot)
    if slot.startswith("protocols bgp group "):
        return re.sub(r" group \S+", "", slot)
    return None


@cache
def _chain_patterns(kinds: tuple[tuple[str, str], ...]) -> tuple[dict[str, re.Pattern[str]], re.Pattern[str] | None]:
    """Each kind's pattern, and one pattern matching a line any of them matches (their alternation,
    groups unnamed; None where a pattern refers back to a group by name)."""
    patterns = {kind: re.compile(p) for kind, p in kinds}
    if any("(?P=" in p for _, p in kinds):
        return patterns, None
    unnamed = (re.sub(r"[(][?]P<[A-Za-z_][A-Za-z0-9_]*>", "(?:", p) for _, p in kinds)
    return patterns, re.compile("|".join(f"(?:{p})" for p in unnamed))


def chains(text: str, facts: SlotFacts) -> Chains:
    """Split ``text`` (set lines) into its chains and the other lines."""
    patterns, maybe = _chain_patterns(tuple(facts.set_chains.items()))
    out = Chains()
    for line in text.splitlines():
        line = line.rstrip()
        if maybe is not None and maybe.match(line) is None:  # most lines: one match, not one per kind
            if line:
                out.other.append(line)
            continue
        for kind, pattern in patterns.items():
            m = pattern.match(line)
            if m:
                slot = m.group("slot")
                out.values.setdefault(slot, []).append((m.groupdict().get("form") or "", m.group("value")))
                out.kinds[slot] = kind
                break
        else:
            if line:
                out.other.append(line)
    return out


def live_section(config: str, managed: str, facts: SlotFacts) -> str:
    """The managed section as the plan diffs it: enforcer's objects as extracted (``managed``),
    then every chain holding an enforcer value, whole (the operator's values with it), by slot."""
    found = chains(config, facts)
    kept = chains(managed, facts).other
    lines = kept + [ln for slot in found.enforcers() for ln in found.lines(slot)]
    return canonical("".join(ln + "\n" for ln in lines), facts)


def canonical(text: str, facts: SlotFacts) -> str:
    """``text`` with its objects in Junos's hierarchy order (``slots.set_order``), then by key, and
    its chains last, by slot: the form both sides of
    a plan and of the read-back take. Junos prints statements in the order they were created, so
    a filter deleted and set again (every change to it) comes back after the ones created since;
    that order carries no meaning, while the order inside an object (terms) and of a chain does,
    and is kept."""
    found = chains(text, facts)
    objects = _objects(found.other)

    def order(key: str) -> tuple[int, str]:
        top = key.split()[0]
        return (facts.set_order.index(top) if top in facts.set_order else len(facts.set_order), key)

    lines = [ln for key in sorted(objects, key=order) for ln in objects[key]]
    lines += [ln for slot in sorted(found.values) for ln in found.lines(slot)]
    return "".join(ln + "\n" for ln in lines)


def _restored(slot: str, found: Chains) -> list[tuple[str, str]]:
    """What a chain holds once enforcer's values leave it: the operator's, in their order. A
    filter list of one goes back to ``filter input X`` (what composing replaced; the same filter),
    and a BGP chain equal to the one it inherits goes (enforcer restated the inherited one there)."""
    operator = [(f, v) for f, v in found.of(slot) if not v.startswith(ENFORCER)]
    if found.kinds.get(slot) == "filter":
        if len(operator) == 1:
            return [("input", operator[0][1])]
        return [("input-list", v) for _, v in operator]
    if [v for _, v in operator] == found.inherited(slot):
        return []
    return operator


_WORD_END = re.compile(r"\S*")


def _object_key(line: str, heads: dict[str, str] | None = None) -> str:
    """The statement a line belongs to: a static route, a unit's rpf-check, or the words up to the
    first ENFORCER one (found by one search where the line can be neither of the others: a
    10,000-term filter's 40,000 lines were each split whole and scanned word by word).
    ``heads``: the keys of the text up to that word seen so far (one filter's 40,000 lines
    share one), so each is split and joined once."""
    if "static" not in line and "rpf-check" not in line:
        at = line.find(ENFORCER)
        if at != -1:
            head = line[: _WORD_END.match(line, at).end()]  # type: ignore[union-attr]
            if heads is None:
                return " ".join(head.split()[1:])
            key = heads.get(head)
            if key is None:
                key = heads[head] = " ".join(head.split()[1:])
            return key
    words = line.split()[1:]
    if "static" in words and "route" in words:
        return " ".join(words[: words.index("route") + 2])
    if "rpf-check" in words:  # uRPF (templates/junos/urpf.j2): one unit's and family's check, never the group
        return " ".join(words[: words.index("rpf-check") + 1])
    end = next((i + 1 for i, w in enumerate(words) if ENFORCER in w), len(words))
    return " ".join(words[:end])


def _objects(lines: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    heads: dict[str, str] = {}
    for line in lines:
        if line.startswith("set "):
            out.setdefault(_object_key(line, heads), []).append(line)
    return out


def candidate(live: str, desired: str, config: str | None, facts: SlotFacts) -> list[str]:
    """The load-set candidate from ``live`` (the managed section) to ``desired``: every changed
    object deleted and set again, every changed chain deleted and stated in its new order, all in
    one commit (deletes first). ``config``: the device's full configuration, where a chain's
    operator values are read (None: the managed section's view)."""
    have, want = chains(live, facts), chains(desired, facts)
    device = chains(config, facts) if config is not None else have
    old, new = _objects(have.other), _objects(want.other)
    deletes = [f"delete {key}" for key, lines in old.items() if lines != new.get(key)]
    sets = [ln for key, lines in new.items() if lines != old.get(key) for ln in lines]
    for slot in sorted(set(want.values) | set(have.values)):
        target = want.of(slot) if slot in want.values else _restored(slot, device)
        current = device.of(slot)
        if target == current:
            continue
        deletes.extend(f"delete {slot} {form}".rstrip() for form in dict.fromkeys(f for f, _ in current))
        sets.extend(f"set {slot} {form} {value}".replace("  ", " ") for form, value in target)
    return deletes + sets
