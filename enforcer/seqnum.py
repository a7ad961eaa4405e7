"""Sequence numbers for ACL and prefix-list entries, allocated against the live config.

Why not number entries by position in the template: adding a block in the middle would renumber
every entry after it, and a device that applies a merge line by line (IOS, NX-OS, FRR) would then
hold, for a moment, neither the old nor the new entry at each shifted number: an active block
lapses. So templates print ``<seq>`` where a number goes, and :func:`number` decides:

* an entry the device already holds keeps its number (as long as the order stays right);
* a new entry takes a free number between its neighbours (spaced by ``step`` when there is room);
* a fresh section (nothing live) numbers ``lo + step``, ``lo + 2*step``, … as before;
* entries go only inside the range the group owns (``[lo, hi]``: enforcer's own objects own the
  whole range; in an operator's object, only the range reserved for enforcer), and below any
  literal number already printed in the same group (the fixed ``seq 1000000 permit`` of a list).

A group is one object: the entries under one parent line (an ACL), or the top-level lines that
share the text before the number (``ip prefix-list NAME seq``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PLACEHOLDER = "<seq>"
_NUMBERED = re.compile(r"^(?P<head>.*?)(?P<seq>\d+)(?P<tail>(?: .*)?)$")


class SequenceError(ValueError):
    """No room in the group's range for the entries it must hold."""


@dataclass(frozen=True)
class SeqRange:
    """Numbers above ``lo`` up to ``hi``. ``ordered=False``: the entries' order does not matter
    (denies only): every live number is kept, new entries take the lowest free ones, and the
    group is printed in number order, as the device lists it."""

    lo: int = 0
    hi: int = 4_294_967_294
    step: int = 10
    ordered: bool = True


def allocate_unordered(entries: list[str], live: dict[str, int], rng: SeqRange) -> list[int]:
    taken = {live[e] for e in entries if e in live and rng.lo < live[e] <= rng.hi}
    free = (n for n in range(rng.lo + 1, rng.hi + 1) if n not in taken)
    out = []
    for e in entries:
        n = live.get(e)
        if n is None or not rng.lo < n <= rng.hi:
            n = next(free, None)
            if n is None:
                raise SequenceError(f"{len(entries)} entries do not fit in sequence range {rng.lo + 1}-{rng.hi}")
        out.append(n)
    return out


def _groups(lines: list[str]) -> dict[tuple[str, str], list[int]]:
    """(parent line, text before the number) → indexes of the lines holding ``<seq>``.

    A run of numbered lines at one indentation (an ACL's 40,000 entries) shares its parent: the
    parent is looked up once per run, not popped and pushed per line."""
    out: dict[tuple[str, str], list[int]] = {}
    parents: list[tuple[int, str]] = []
    run_indent, run_parent = -1, ""
    run_head, run_into, run_last = None, [], -1  # the run's last head, its group, its last line
    for i, line in enumerate(lines):
        at = line.find(PLACEHOLDER)
        if run_head is not None and at == len(run_head) and line.startswith(run_head):
            # The same head as the line before, so the same indentation: its group, no slice made.
            run_into.append(i)
            run_last = i
            continue
        if run_last != -1:  # what popping each numbered line of the run and pushing the next left
            parents[-1] = (run_indent, lines[run_last])
            run_last = -1
        run_head = None
        indent = len(line) - len(line.lstrip())
        if at != -1 and indent == run_indent:  # the same parent as the numbered line before
            run_head = line[:at]
            run_into = out.setdefault((run_parent, run_head), [])
            run_into.append(i)
            parents[-1] = (indent, line)
            continue
        while parents and parents[-1][0] >= indent:
            parents.pop()
        if at != -1:
            run_indent, run_parent = indent, parents[-1][1] if parents else ""
            run_head = line[:at]
            run_into = out.setdefault((run_parent, run_head), [])
            run_into.append(i)
        else:
            run_indent = -1
        parents.append((indent, line))
    return out


def _live_numbers(live: list[str], parent: str, head: str) -> dict[str, int]:
    """Entry text (without its number) → the number the device gave it, for one group."""
    found: dict[str, int] = {}
    inside = parent == ""
    for line in live:
        indent = len(line) - len(line.lstrip())
        if parent and indent == 0:
            inside = line == parent
            continue
        if not inside or not line.startswith(head):
            continue
        m = _NUMBERED.match(line[len(head):])
        if m and not m.group("head"):
            found[m.group("tail")] = int(m.group("seq"))
    return found


def _fixed_ceiling(lines: list[str], head: str, after: int, hi: int) -> int:
    """A literal number printed later in the group (an anchor such as the final permit)."""
    for line in lines[after:]:
        if not line.startswith(head):
            break
        m = _NUMBERED.match(line[len(head):])
        if m and not m.group("head"):
            return min(hi, int(m.group("seq")) - 1)
    return hi


def allocate(entries: list[str], live: dict[str, int], rng: SeqRange) -> list[int]:
    """Numbers for ``entries`` in order: live numbers kept where they stay increasing, new ones between."""
    kept: dict[int, int] = {}
    last = rng.lo
    for i, e in enumerate(entries):
        n = live.get(e)
        if n is not None and last < n <= rng.hi:
            kept[i] = last = n
    out: list[int] = []
    prev = rng.lo
    i = 0
    while i < len(entries):
        if i in kept:
            out.append(kept[i])
            prev = kept[i]
            i += 1
            continue
        j = i if kept else len(entries)  # nothing kept (a first push, a renumber): one run to the end
        while j < len(entries) and j not in kept:
            j += 1
        upper = kept[j] if j in kept else rng.hi + 1
        room = upper - prev - 1
        count = j - i
        if room < count:
            if live:
                return allocate(entries, {}, rng)  # renumber the group: correct, if not minimal
            raise SequenceError(f"{count} entries do not fit in sequence range {rng.lo}-{rng.hi}")
        if j in kept:  # between two kept numbers: spread evenly, at most `step` apart
            step = max(1, min(rng.step, (upper - prev) // (count + 1)))
        else:  # at the end: `step` apart while the range allows
            step = max(1, min(rng.step, room // count))
        out.extend(range(prev + step, prev + step * count + 1, step))  # prev + step * (k + 1), k < count
        prev = out[-1]
        i = j
    return out


def number(text: str, live: str = "", ranges: dict[str, SeqRange] | None = None) -> str:
    """``text`` with every ``<seq>`` replaced by its allocated number (see the module docstring).

    ``ranges`` maps a group's head text (``ip prefix-list CUST-IN seq``) or parent line to the
    range it may use; other groups own the whole default range.
    """
    if PLACEHOLDER not in text:
        return text
    lines = text.splitlines()
    live_lines = live.splitlines()
    ranges = ranges or {}
    for (parent, head), idx in _groups(lines).items():
        rng = ranges.get(head.strip()) or ranges.get(parent) or SeqRange()
        rng = SeqRange(rng.lo, _fixed_ceiling(lines, head, idx[-1] + 1, rng.hi), rng.step, rng.ordered)
        entries = [lines[i][len(head) + len(PLACEHOLDER):] for i in idx]
        live_numbers = _live_numbers(live_lines, parent, head)
        if rng.ordered:
            numbers = allocate(entries, live_numbers, rng)
        else:
            numbers = allocate_unordered(entries, live_numbers, rng)
        numbered = sorted(zip(numbers, entries, strict=True)) if not rng.ordered else zip(numbers, entries, strict=True)
        for i, (n, entry) in zip(idx, numbered, strict=True):
            lines[i] = f"{head}{n}{entry}"
    return "\n".join(lines) + ("\n" if text.endswith("\n") else "")
