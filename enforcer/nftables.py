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
