"""Per-device diff between the rendered managed section and the device's live section.

Like ``terraform plan``: a unified diff per device and a ``+N ~M -K`` summary, where a replaced
line (same object, new value) counts as a change. The diff is always against what the device
really has (its driver reads it), so manual edits and drift show up.
"""

from __future__ import annotations

import difflib

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
    """(added, changed, removed, removed_lines) between two line lists."""
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
    added, changed, removed, removed_lines = diff_counts(live_lines, desired_lines)
    fromfile, tofile = f"{device} (live)", f"{device} (desired)"
    if not live_lines or not desired_lines:
        diff = _one_sided(live_lines, desired_lines, fromfile, tofile)
    else:
        diff = "".join(ln + "\n" for ln in difflib.unified_diff(live_lines, desired_lines, fromfile=fromfile,
                                                                tofile=tofile, lineterm=""))
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
