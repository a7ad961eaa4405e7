"""Replacing enforcer's nftables table in one transaction without a gap.

``delete table`` followed by the whole new table, in one ``nft -f``, looks atomic and is not: on this
machine's kernel (6.18) a packet whose source is in a named interval set of both the old and the new
table gets through about once per replacement. Measured with a 150,000 packet/s stream through a
forwarding namespace (docs/lab-facts.md): 199 packets through in 200 replacements; none with the
table, its chains and its sets kept. So the candidate keeps them: ``flush table`` empties every
chain, each set the new table keeps is flushed and refilled, and only the objects the new table
lacks are deleted, all before the new table is stated, in the same transaction.

:func:`transition` is the Python side (the candidate ``push.j2`` prints, shown by ``plan``); the
Linux driver's commit script does the same in shell for its checkpoint, the reverse transition.
"""

from __future__ import annotations

import re

#: An object line of ``nft list table``: one tab, the kind, the name, an opening brace.
_OBJECT = re.compile(r"^\t(set|map|chain|flowtable|counter|quota|limit|secmark|synproxy|ct helper|ct timeout|"
                     r"ct expectation) (\S+) \{$")
#: The names enforcer can restate: what its templates print, and what nft prints unquoted.
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
#: Kinds whose contents a restatement adds to rather than replaces: they are flushed first.
_FLUSHED = ("set", "map")


class TransitionError(ValueError):
    """The live table holds an object enforcer cannot name in a statement."""


def objects(listing: str) -> list[tuple[str, str]]:
    """(kind, name) of each object in a ``table … { … }`` listing or render, in order."""
    found = []
    for line in listing.splitlines():
        m = _OBJECT.match(line)
        if m:
            kind, name = m.groups()
            if not _NAME.match(name):
                raise TransitionError(f"the nftables table holds {kind} {name!r}, a name enforcer cannot restate")
            found.append((kind, name))
    return found


def transition(live: str, desired: str, table: str = "inet enforcer") -> list[str]:
    """The statements that empty ``live`` in place before ``desired`` is stated, in one transaction.

    ``live`` empty (no table yet): the table is created and the old delete-and-restate is safe,
    since nothing was enforced before it."""
    head = [f"table {table}"]
    if not live.strip():
        return [*head, f"delete table {table}"]
    keep = set(objects(desired))
    lines = [*head, f"flush table {table}"]
    for kind, name in objects(live):
        if (kind, name) not in keep:
            lines.append(f"delete {kind} {table} {name}")
        elif kind in _FLUSHED:
            lines.append(f"flush {kind} {table} {name}")
    return lines


#: The order ``nft list table`` prints an object kind in, whatever order the objects were made in.
_KIND_RANK = {"set": 0, "map": 0, "chain": 2}


def canonical(text: str) -> str:
    """``text`` (a ``table … { … }`` render or listing) with its objects in one order: by kind as
    nft groups them (sets and maps, the other kinds, chains), then by name. nft lists the objects
    of a kind in the order they were created, and a table that is kept in place (:func:`transition`)
    keeps its old sets first: a render that prints an ACL's set before the null-route set already
    there never read back equal, and the push rolled back. The lines inside an object (a chain's
    rules) keep their order: that order is what the device enforces."""
    lines = text.splitlines()
    if len(lines) < 3 or not lines[0].startswith("table ") or lines[-1] != "}":
        return text
    blocks: list[list[str]] = []
    for line in lines[1:-1]:
        if _OBJECT.match(line) or not blocks:
            blocks.append([line])
        else:
            blocks[-1].append(line)

    def key(block: list[str]) -> tuple[int, str]:
        m = _OBJECT.match(block[0])
        return (_KIND_RANK.get(m.group(1), 1), m.group(2)) if m else (-1, "")

    ordered = sorted(blocks, key=key)
    return "\n".join([lines[0], *(ln for b in ordered for ln in b), lines[-1]]) + ("\n" if text.endswith("\n") else "")
