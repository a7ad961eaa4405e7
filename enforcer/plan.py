"""Per-device diff between the rendered managed section and the device's live section.

Like ``terraform plan``: a unified diff per device and a ``+N ~M -K`` summary, where a replaced
line (same object, new value) counts as a change. The diff is always against what the device
really has (its driver reads it), so manual edits and drift show up.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from itertools import compress, count, islice
from operator import ne

from pydantic import BaseModel, ConfigDict

from .compose import SlotDecision
from .inventory import Platform, Transport
from .model import ActionKind


class DevicePlan(BaseModel):
    model_config = ConfigDict(frozen=True)
    device: str
    platform: Platform
    transport: Transport
    desired: str
    live: str
    diff: str
    added: int
    changed: int
    removed: int
    removed_lines: list[str]
    #: The exact commands the push sends (``render.render_push``, called by ``push.plan_device``),
    #: fixed at plan time so that what ``enforcer plan`` shows, a saved plan holds and ``apply``
    #: sends are one text. Empty when nothing changes.
    candidate: str = ""
    #: Exec commands sent once the commit is confirmed (FRR's ``clear bgp X soft in`` after an
    #: inbound prefix-list changed: enforcer.refresh), shown with the candidate.
    after_commit: list[str] = []
    unsupported: list[tuple[int, ActionKind]] = []
    protected: list[int] = []
    #: how each attachment point enforcer needs is used (free / composed / refused, and why);
    #: a composed slot changes an operator object, which the plan shows here
    slots: list[SlotDecision] = []
    #: (enforcement id, reason): left out so that one bad input does not stop the device's others.
    withheld: list[tuple[int, str]] = []
    #: A commit-confirm waits on the device (a pusher died before confirming): apply settles it.
    pending: bool = False
    #: What apply did about a pending commit before planning (confirmed / rolled back on purpose).
    settled: str | None = None
    error: str | None = None

    @property
    def has_changes(self) -> bool:
        return bool(self.added or self.changed or self.removed or self.pending)

    def summary(self) -> str:
        if self.error:
            return f"error: {self.error}"
        counts = f"+{self.added} ~{self.changed} -{self.removed}"
        return counts + (" (a commit-confirm is pending on the device)" if self.pending else "")


def diff_counts(live: list[str], desired: list[str]) -> tuple[int, int, int, list[str]]:
    """(added, changed, removed, removed_lines) between two line lists: difflib's answer over the
    whole lists, found by difflib over their differing middle alone when that is the same answer
    (:func:`differing_middle`; one more decision changes a few lines of 5,000)."""
    return _counts(live, desired, differing_middle(live, desired))


def _counts(live: list[str], desired: list[str], middle: tuple[int, int] | None) -> tuple[int, int, int, list[str]]:
    if middle is not None:
        lead, trail = middle
        live, desired = live[lead : len(live) - trail], desired[lead : len(desired) - trail]
    if not live or not desired:  # one side empty: all added or all removed (see _one_sided)
        return len(desired), 0, len(live), list(live)
    added = changed = removed = 0
    removed_lines: list[str] = []
    matcher = difflib.SequenceMatcher(a=live, b=desired, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "insert":
            added += j2 - j1
        elif tag == "delete":
            removed += i2 - i1
            removed_lines.extend(live[i1:i2])
        elif tag == "replace":
            n_old, n_new = i2 - i1, j2 - j1
            changed += min(n_old, n_new)
            added += max(0, n_new - n_old)
            removed += max(0, n_old - n_new)
            removed_lines.extend(live[i1:i2])
    return added, changed, removed, removed_lines


def common_ends(a: list[str], b: list[str]) -> tuple[int, int]:
    """(lead, trail): how many first lines ``a`` and ``b`` share, then how many last lines of what
    is left (the two never overlap)."""
    n = min(len(a), len(b))
    lead = next(compress(count(), map(ne, a, b)), n)  # the first index where they differ, in C
    rest = n - lead
    return lead, next(compress(count(), map(ne, islice(reversed(a), rest), reversed(b))), rest)


def differing_middle(a: list[str], b: list[str]) -> tuple[int, int] | None:
    """(lead, trail) of :func:`common_ends` when difflib's matcher (no junk) over the middles
    ``a[lead:-trail]``, ``b[lead:-trail]`` finds exactly the matching blocks it finds over the whole
    lists, less the common first and last runs; None when that is not certain (then diff the whole).

    Why it holds, writing ``a = P A S``, ``b = P B S`` (``P``, ``S`` the common runs) when no line of
    ``A`` or ``B`` occurs in ``P`` or ``S``: a match then pairs middle with middle or outer with
    outer, never across. With ``A`` and ``B`` both non-empty, a run of outer lines lies in ``P`` or in
    ``S`` on each side (the middles part them), so it is no longer than ``P`` when it touches ``P``,
    and ``P`` starts first (difflib's tie-break): ``P``, ``S`` or a middle run is what
    ``find_longest_match`` takes in every range of the recursion, the ranges keep ``P`` and ``S``
    whole or leave them out, and each middle range ends on the same run as over the middles alone.
    ``P`` and ``S`` never touch a middle run (they would be longer), so nothing merges across.
    With ``A`` empty (lines only added) ``a`` is ``P S``: ``S`` could also match at an earlier start
    in ``a`` than its own when it is longer than ``P``; that needs ``S``'s first line in ``P``, which
    is checked. ``B`` empty (lines only removed) is the mirror case.
    tests/test_plan_window.py compares both with difflib over the whole lists on random edits."""
    if not a or not b:  # nothing to cut: one side is all the diff
        return 0, 0
    lead, trail = common_ends(a, b)
    inner = set(a[lead : len(a) - trail]) | set(b[lead : len(b) - trail])
    if not inner.isdisjoint(a[:lead]) or not inner.isdisjoint(a[len(a) - trail :]):
        return None
    one_sided = (lead + trail == len(a)) != (lead + trail == len(b))
    if one_sided and trail > lead and a[len(a) - trail] in a[:lead]:
        return None
    return lead, trail


#: Lines of context around each hunk of the plan's diff (``difflib.unified_diff``'s default).
CONTEXT = 3
_HUNK = re.compile(r"^@@ -(\d+)(,\d+)? \+(\d+)(,\d+)? @@$")


def unified_diff(live: list[str], desired: list[str], fromfile: str, tofile: str, n: int = CONTEXT) -> list[str]:
    """``difflib.unified_diff(live, desired, fromfile, tofile, n=n, lineterm="")``, line for line,
    from difflib over the differing middle and its ``n`` lines of context on each side when that
    gives the same hunks (:func:`differing_middle`), their line numbers moved by what was cut off.

    difflib.unified_diff treats a line as junk when it is more than 1 % of 200 lines or more
    (``autojunk``), which :func:`differing_middle` leaves out: both the whole and the cut lists must
    have no such line for the cut to be the same diff, else the whole lists are diffed."""
    return _unified(live, desired, fromfile, tofile, n, differing_middle(live, desired))


def _unified(
    live: list[str], desired: list[str], fromfile: str, tofile: str, n: int, middle: tuple[int, int] | None
) -> list[str]:
    if middle is not None:
        lead, trail = middle
        start, end = lead - min(lead, n), min(trail, n)
        cut_live, cut_desired = live[start : len(live) - trail + end], desired[start : len(desired) - trail + end]
        if not _autojunk(desired) and not _autojunk(cut_desired):
            return [
                _moved(ln, start) if ln.startswith("@@") else ln
                for ln in difflib.unified_diff(cut_live, cut_desired, fromfile, tofile, n=n, lineterm="")
            ]
    return list(difflib.unified_diff(live, desired, fromfile, tofile, n=n, lineterm=""))


def _autojunk(b: list[str]) -> bool:
    """Whether ``difflib.SequenceMatcher`` (``autojunk``) takes some line of ``b`` for junk: one
    held more than ``len(b) // 100 + 1`` times. A line held ``c`` times is ``c - 1`` repeats, so
    with ``len(b) // 100`` repeats or fewer in all no line is (a set is cheaper than a count)."""
    if len(b) < 200 or len(b) - len(set(b)) <= len(b) // 100:
        return False
    return max(Counter(b).values()) > len(b) // 100 + 1


def _moved(hunk: str, by: int) -> str:
    """A hunk header whose ranges start ``by`` lines later (difflib prints a range's start the same
    way whatever its length: the start moves, the length does not)."""
    m = _HUNK.match(hunk)
    assert m is not None, hunk
    old, old_len, new, new_len = m.groups()
    return f"@@ -{int(old) + by}{old_len or ''} +{int(new) + by}{new_len or ''} @@"


def make_plan(
    device: str,
    platform: Platform,
    transport: Transport,
    desired: str,
    live: str,
    unsupported: list[tuple[int, ActionKind]] | None = None,
    protected: list[int] | None = None,
    slots: list[SlotDecision] | None = None,
) -> DevicePlan:
    live_lines, desired_lines = live.splitlines(), desired.splitlines()
    middle = differing_middle(live_lines, desired_lines)
    added, changed, removed, removed_lines = _counts(live_lines, desired_lines, middle)
    fromfile, tofile = f"{device} (live)", f"{device} (desired)"
    if not live_lines or not desired_lines:
        diff = _one_sided(live_lines, desired_lines, fromfile, tofile)
    else:
        diff = "".join(ln + "\n" for ln in _unified(live_lines, desired_lines, fromfile, tofile, CONTEXT, middle))
    return DevicePlan(
        device=device,
        platform=platform,
        transport=transport,
        desired=desired,
        live=live,
        diff=diff,
        added=added,
        changed=changed,
        removed=removed,
        removed_lines=removed_lines,
        unsupported=list(unsupported or []),
        protected=list(protected or []),
        slots=list(slots or []),
    )


def _one_sided(live: list[str], desired: list[str], fromfile: str, tofile: str) -> str:
    """``difflib.unified_diff``'s text, byte for byte, when one side is empty (a device's first
    push, an offline device, a section emptied): one hunk of every line added or removed. difflib
    indexes every desired line first (``SequenceMatcher``'s b2j, twice per plan), a tenth of a
    100,000-enforcement plan over offline devices for a diff that has nothing to match."""
    if not live and not desired:
        return ""
    sign, lines = ("+", desired) if desired else ("-", live)
    n = len(lines)
    span = f"1,{n}" if n > 1 else "1"
    hunk = f"@@ -0,0 +{span} @@" if desired else f"@@ -{span} +0,0 @@"
    return "".join([f"--- {fromfile}\n+++ {tofile}\n{hunk}\n", *(f"{sign}{ln}\n" for ln in lines)])


def failed_plan(
    device: str, platform: Platform, transport: Transport, error: str, slots: list[SlotDecision] | None = None
) -> DevicePlan:
    return DevicePlan(
        device=device,
        platform=platform,
        transport=transport,
        desired="",
        live="",
        diff="",
        added=0,
        changed=0,
        removed=0,
        removed_lines=[],
        slots=list(slots or []),
        error=error,
    )
