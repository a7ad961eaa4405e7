"""Replacing enforcer's nftables table in one transaction without a gap, or changing only its elements.

``delete table`` followed by the whole new table, in one ``nft -f``, looks atomic and is not: on this
machine's kernel (6.18) a packet whose source is in a named interval set of both the old and the new
table gets through about once per replacement. Measured with a 150,000 packet/s stream through a
forwarding namespace (docs/lab-facts.md): 199 packets through in 200 replacements; none with the
table, its chains and its sets kept. So the candidate keeps them: ``flush table`` empties every
chain, each set the new table keeps is flushed and refilled, and only the objects the new table
lacks are deleted, all before the new table is stated, in the same transaction.

:func:`transition` is the Python side (the candidate ``push.j2`` prints, shown by ``plan``); the
Linux driver's commit script does the same in shell for its checkpoint, the reverse transition.

When only set elements differ — one more decision, one unblock: nearly every push ``serve`` makes —
:func:`element_changes` is the candidate instead: ``delete element`` for what leaves, ``add
element`` for what comes, in one ``nft -f`` transaction, no flush. Nothing the table keeps is
removed first, so no element is ever absent: gap-free by construction, not by measurement. An
element whose text changes (its comment names one more enforcement) is deleted and added in the
same transaction, as the flush-and-refill did for every element. Restating 10,000 elements made
``nft -c`` and ``nft -f`` of one more decision cost as much as the whole set (0.79 s and 0.50 s
against 0.34 s and 0.21 s for one element, timed in the lab at load 8), and every push reset
every element's counters.
"""

from __future__ import annotations

import re
from functools import lru_cache

#: An object line of ``nft list table``: one tab, the kind, the name, an opening brace.
_OBJECT = re.compile(
    r"^\t(set|map|chain|flowtable|counter|quota|limit|secmark|synproxy|ct helper|ct timeout|"
    r"ct expectation) (\S+) \{$"
)
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


#: :data:`_OBJECT` at each line of a whole text but the first (the table's), in one pass in C: from
#: the line break before it, so that the engine looks for that literal first (``^`` with MULTILINE
#: tried every position: 4 ms of a 10,000-element text).
_OBJECTS = re.compile("\n" + _OBJECT.pattern[1:], re.MULTILINE)


#: The order ``nft list table`` prints an object kind in, whatever order the objects were made in.
_KIND_RANK = {"set": 0, "map": 0, "chain": 2}


def canonical(text: str) -> str:
    """``text`` (a ``table … { … }`` render or listing) with its objects in one order: by kind as
    nft groups them (sets and maps, the other kinds, chains), then by name. nft lists the objects
    of a kind in the order they were created, and a table that is kept in place (:func:`transition`)
    keeps its old sets first: a render that prints an ACL's set before the null-route set already
    there never read back equal, and the push rolled back. The lines inside an object (a chain's
    rules) keep their order: that order is what the device enforces."""
    if other_breaks(text):  # lines str.splitlines would see that the text's line breaks do not
        return _canonical_lines(text)
    body = text[:-1] if text.endswith("\n") else text
    first, last = body.find("\n"), body.rfind("\n")
    if first < 0 or last <= first or not body.startswith("table ") or body[last + 1 :] != "}":
        return text
    # The objects' first lines, found in one regex pass in C; the text between two is one block.
    found = [(m.start() + 1, (_KIND_RANK.get(m.group(1), 1), m.group(2))) for m in _OBJECTS.finditer(body, first, last)]
    starts = [(first + 1, (-1, ""))] if not found or found[0][0] > first + 1 else []
    starts += found
    keys = [key for _, key in starts]
    if keys == sorted(keys):  # already in nft's order (what nft lists, nearly every render): as it is
        return text
    ends = [at - 1 for at, _ in starts[1:]] + [last]
    blocks = sorted(zip(starts, ends, strict=True), key=lambda b: b[0][1])
    ordered = [body[at:end] for (at, _), end in blocks]
    return "\n".join([body[:first], *ordered, body[last + 1 :]]) + ("\n" if text.endswith("\n") else "")


#: The line breaks ``str.splitlines`` knows besides ``\n``.
_OTHER_BREAKS = "\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


def other_breaks(text: str) -> bool:
    """Whether ``text`` holds a line break other than ``\\n`` (one fast search per character: a
    regex class over 600 kB cost more than the line-by-line parse it guards)."""
    return any(c in text for c in _OTHER_BREAKS)


def _canonical_lines(text: str) -> str:
    """:func:`canonical` line by line, for a text with line breaks other than ``\\n``."""
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


#: One element of a set's ``elements = { … }``: text up to a comma outside quotes.
_ELEMENT = re.compile(r'(?:[^,"]|"[^"]*")+')
#: Elements per statement: nft reads one statement per line, and a line need not be 10,000 elements long.
_CHUNK = 500


def _blocks(text: str) -> tuple[str, dict[tuple[str, str], str]] | None:
    """(the table's own lines, each object's text by (kind, name)); None when ``text`` is no table.
    Only lines indented by one tab can open an object, and one regex pass over the text finds
    them: a set of 10,000 elements is 5,000 lines, none of them visited by Python."""
    text = text.rstrip("\n")
    last = text.rfind("\n")  # the table's closing line starts after it
    if last < 0 or not text.startswith("table ") or text[last + 1 :] != "}":
        return None
    starts = [(m.start() + 1, m.group(1), m.group(2)) for m in _OBJECTS.finditer(text, 0, last)]
    ends = [at - 1 for at, _, _ in starts[1:]] + [last]
    found = {(kind, name): text[at:end] for (at, kind, name), end in zip(starts, ends, strict=False)}
    own = text[: starts[0][0]] + "}" if starts else text
    return own, found


@lru_cache(maxsize=8)
def _split_set(block: str) -> tuple[str, tuple[str, ...]]:
    """A set's text without its elements (the rest must match for an element-only change), and its
    elements' texts, in order. The statement ends at the first brace outside a quoted comment.

    Kept for the last few sets split (by their text): the set a push printed is, unless the table
    changed meanwhile, the text of the live set the next push diffs against, so each push splits
    one 10,000-element set, not two."""
    start = block.find("elements = {")
    if start < 0:
        return block, ()
    end = block.find("}", start)
    while end >= 0 and block.count('"', start, end) % 2:  # a brace inside a comment
        end = block.find("}", end + 1)
    if end < 0:
        return block, ()
    return block[:start] + block[end + 1 :], tuple(_elements(block[start + len("elements = {") : end]))


def _elements(body: str) -> list[str]:
    """The elements of ``a, b, c`` (over lines): split at each comma (C speed), unless a quoted comment holds one."""
    if "," not in "\0".join(body.split('"')[1::2]):
        return [x for x in map(str.strip, body.split(",")) if x]
    return [x.strip() for x in _ELEMENT.findall(body) if x.strip()]


def element_changes(live: str, desired: str) -> list[str] | None:
    """The statements that turn ``live`` into ``desired`` by set elements alone, deletes first;
    None when anything else differs (an object, a chain's rule, a set's type or flags), or when
    there is no live table yet: then :func:`transition` restates the table.

    An empty list: the two differ in nothing (the plan has no changes, and nothing is sent)."""
    old, new = _blocks(live), _blocks(desired)
    if old is None or new is None or old[0] != new[0] or old[1].keys() != new[1].keys():
        return None
    table = new[0].split("\n", 1)[0][len("table ") :].rstrip(" {")
    deletes: list[str] = []
    adds: list[str] = []
    for (kind, name), block in new[1].items():
        before = old[1][kind, name]
        if before == block:
            continue
        if kind != "set":
            return None
        changed = _changed_elements(before, block)
        if changed is None:
            return None
        gone, coming = changed
        for i in range(0, len(gone), _CHUNK):
            deletes.append(f"delete element {table} {name} {{ {', '.join(_key(x) for x in gone[i : i + _CHUNK])} }}")
        for i in range(0, len(coming), _CHUNK):
            adds.append(f"add element {table} {name} {{ {', '.join(coming[i : i + _CHUNK])} }}")
    return [*deletes, *adds]


_OPEN = "elements = {"


def _statement(block: str) -> tuple[int, int] | None:
    """Where a set's ``elements = { … }`` statement is: the offsets of its opening text and of its
    closing brace, the first one outside a quoted comment."""
    start = block.find(_OPEN)
    if start < 0:
        return None
    end = block.find("}", start)
    while end >= 0 and block.count('"', start, end) % 2:  # a brace inside a comment
        end = block.find("}", end + 1)
    return None if end < 0 else (start, end)


def _changed_elements(before: str, block: str) -> tuple[list[str], list[str]] | None:
    """(the elements of ``before`` that ``block`` lacks, in order; those ``block`` adds, in order),
    two texts of one set; None when the set's shape changed (its text without its elements).

    By the lines that changed: the elements on the lines both texts share are in both sets, so
    only those on the lines between the common first and last ones are compared (one more
    decision: one or two lines of 5,000). That is the answer over all the elements when each cut
    falls between two elements (after a comma, outside quotes) and no element of the cut lines
    also stands on a shared line (a set holds a key once: only a text nft would not print);
    otherwise every element is compared, as :func:`_split_set` splits them."""
    from .plan import common_ends  # plan imports render (through compose), which imports this module

    old, new = _statement(before), _statement(block)
    if old is None or new is None:
        shape, elements = _split_set(block)
        old_shape, old_elements = _split_set(before)
        return None if shape != old_shape else _compare(old_elements, elements)
    if before[: old[0]] + before[old[1] + 1 :] != block[: new[0]] + block[new[1] + 1 :]:
        return None
    body_old, body_new = before[old[0] + len(_OPEN) : old[1]], block[new[0] + len(_OPEN) : new[1]]
    lines_old, lines_new = body_old.split("\n"), body_new.split("\n")
    lead, trail = common_ends(lines_old, lines_new)
    cut_old = lines_old[lead : len(lines_old) - trail]
    cut_new = lines_new[lead : len(lines_new) - trail]
    left = sum(map(len, lines_old[:lead])) + lead  # the offset of the first cut line in body_old
    right = len(body_old) - (sum(map(len, lines_old[len(lines_old) - trail :])) + trail)  # just after the cut
    if _between_elements(body_old, lines_old, lead, trail, left, right) and _between_elements(
        body_new, lines_new, lead, trail, left, len(body_new) - (len(body_old) - right)
    ):
        gone, coming = _elements("\n".join(cut_old)), _elements("\n".join(cut_new))
        if not any(body_old.find(x, 0, left) >= 0 or body_old.find(x, right) >= 0 for x in (*gone, *coming)):
            return _compare(gone, coming)
    return _compare(_split_set(before)[1], _split_set(block)[1])


def _between_elements(body: str, lines: list[str], lead: int, trail: int, left: int, right: int) -> bool:
    """Whether the cut ``lines[lead:-trail]`` (``body[left:right]``; empty: the point between two
    lines) starts and ends between two elements: at an end of the body, or after a comma outside
    quotes. Only the lines beside the cut are looked at, and the quotes counted in C."""
    cut_ends = len(lines) - trail
    if lead and not (lines[lead - 1].rstrip().endswith(",") and body.count('"', 0, left) % 2 == 0):
        return False
    if not trail:
        return True
    last = lines[cut_ends - 1] if cut_ends > lead else (lines[lead - 1] if lead else ",")
    return last.rstrip().endswith(",") and body.count('"', 0, right) % 2 == 0


def _compare(old_elements: tuple[str, ...] | list[str], elements: tuple[str, ...] | list[str]):
    """(gone, coming): what leaves, in the old order; what comes, in the new order."""
    keep = set(elements)
    had = set(old_elements)
    return [x for x in old_elements if x not in keep], [x for x in elements if x not in had]


def _key(element: str) -> str:
    """What names an element in a ``delete element``: its address, prefix or range, no counter or comment."""
    return element.split(" ", 1)[0]
