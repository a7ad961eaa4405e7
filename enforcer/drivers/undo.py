"""The file that takes a merge candidate back off an indented (IOS-style) configuration.

A revert must restore enforcer's own lines and nothing else: the NOC may have edited the router
during the confirm window, and a checkpoint of the whole running config would wipe that edit. So
the router keeps, beside each commit, the change that undoes exactly what that commit changed —
computed here from the live config and the candidate with the same merge model ``compare_config``
uses (:mod:`.confdiff`): every line the candidate adds is negated (``no X``), every line it removes
is stated again, under its parents. A candidate that only touches enforcer's objects (the push path
refuses a collision with an operator's object) therefore has an undo that only touches them too.

NAPALM's platforms keep no file beside a commit, and their own ``rollback()`` restores the whole
configuration (IOS ``configure replace``, EOS ``configure replace flash:rollback-0``, Junos
``rollback 1``, IOS XR's last commit) — wiping a NOC edit, or on IOS XR and Junos taking back the
operator's commit instead of enforcer's. There the undo is :func:`section_undo`: the platform's own
merge candidate (conftree's entry-level diff, Junos' delete-and-set) from the managed section the
device holds now back to the one it held before enforcer's commit. It names enforcer's objects and
the entries enforcer placed in operator objects, and nothing else.
"""

from __future__ import annotations

from ..inventory import Device
from ..plan import diff_counts
from ..render import render_push
from .confdiff import Block, merged


def undo_candidate(live: str, candidate: str, comment: str = "!") -> str:
    """A merge file that turns ``live`` + ``candidate`` back into ``live`` ('' when nothing changes)."""
    lines = _undo(*merged(live, candidate, comment), 0)
    return "\n".join(lines) + "\n" if lines else ""


def _undo(before: Block, after: Block, depth: int) -> list[str]:
    """Negations of what was added first, then what was removed, then changes inside kept blocks
    (so a prefix-list exists again before a neighbour line binds it)."""
    pad = " " * depth
    had = {c.line for c in before.children}
    has = {c.line for c in after.children}
    negate = [pad + _negation(a.line) for a in reversed(after.children) if a.line not in had]
    restate = [line for b in before.children if b.line not in has for line in _stated(b, depth)]
    inner: list[str] = []
    for b in before.children:
        a = after.find(b.line)
        if a is not None:
            changed = _undo(b, a, depth + 1)
            if changed:
                inner += [pad + b.line, *changed]
    return negate + restate + inner


def _negation(line: str) -> str:
    return line[3:] if line.startswith("no ") else "no " + line


def _stated(block: Block, depth: int) -> list[str]:
    out = [" " * depth + block.line]
    for child in block.children:
        out += _stated(child, depth + 1)
    return out


def section_undo(device: Device, before: str, now: str) -> str:
    """The merge candidate that takes enforcer's managed section from ``now`` back to ``before``
    ('' when they are equal): the same candidate a push from ``now`` to ``before`` would send."""
    if now == before:
        return ""
    removed = diff_counts(now.splitlines(), before.splitlines())[3]
    return render_push(device, before, now, removed).strip("\n") + "\n"
