"""ACL hit counters on IOS and EOS routers: what each enforcement's ``deny`` entries matched.

The router counts matches per ACL entry (``show ip access-lists``: IOS ``(57 matches)``, EOS
``[match 57 packets, 0:00:03 ago]``, EOS only where the ACL has ``counters per-entry``); the
running configuration says which entries are whose: enforcer's templates put a remark naming
the enforcement ids (``10 remark 2014+2016 spam``) before each entry's denies, and both platforms
print sequence numbers in the running config. So a figure is joined on (ACL, sequence number),
the show output parsed by ntc-templates' TextFSM templates (not by hand).

What is left out, and why: packets only (neither platform counts an entry's bytes); IPv4 only
(ntc-templates has no EOS IPv6 template, and IOS prints IPv6 sequence numbers after the entry);
denies that enforcer composed into an operator's ACL carry no remark and are not attributed.
"""

from __future__ import annotations

import re
from collections import defaultdict

from ..counters import Counter
from ..inventory import Platform

#: platform → (ntc-templates platform, the command that lists every IPv4 ACL with its hit counts)
COMMANDS = {
    Platform.IOS: ("cisco_ios", "show ip access-lists"),
    Platform.EOS: ("arista_eos", "show ip access-lists"),
}
_ACL = re.compile(r"^ip access-list (?:extended |standard )?(?P<name>\S+)\s*$")
_ENTRY = re.compile(r"^\s+(?P<seq>\d+) (?P<rest>.*)$")
_REMARK_IDS = re.compile(r"^remark (?P<ids>\d+(?:\+\d+)*)\b")
_EOS_MATCH = re.compile(r"\[match (?P<packets>\d+) packets")


def entry_owners(running_config: str) -> dict[tuple[str, int], list[int]]:
    """(ACL, sequence number) → the enforcement ids of each ``deny`` that follows an enforcer remark."""
    owners: dict[tuple[str, int], list[int]] = {}
    acl: str | None = None
    ids: list[int] = []
    for line in running_config.splitlines():
        head = _ACL.match(line)
        if head:
            acl, ids = head.group("name"), []
            continue
        entry = _ENTRY.match(line) if acl else None
        if entry is None:
            acl = None if line and not line[0].isspace() else acl
            continue
        rest = entry.group("rest")
        remark = _REMARK_IDS.match(rest)
        if rest.startswith("remark"):
            ids = [int(i) for i in remark.group("ids").split("+")] if remark else []
        elif rest.startswith("deny") and ids:
            owners[(acl, int(entry.group("seq")))] = ids  # type: ignore[index]
        else:
            ids = []  # a permit (the ACL's end, or the operator's entries) closes enforcer's block
    return owners


def entry_hits(platform: Platform, output: str) -> dict[tuple[str, int], int]:
    """(ACL, sequence number) → packets matched, from ``show ip access-lists`` as the router prints it."""
    from ntc_templates.parse import parse_output

    ntc_platform, command = COMMANDS[platform]
    hits: dict[tuple[str, int], int] = {}
    for row in parse_output(platform=ntc_platform, command=command, data=output):
        if platform is Platform.IOS and row.get("line_num"):
            hits[(row["acl_name"], int(row["line_num"]))] = int(row.get("matches") or 0)
        elif platform is Platform.EOS and row.get("sn"):
            m = _EOS_MATCH.search(row.get("modifier") or "")
            hits[(row["name"], int(row["sn"]))] = int(m.group("packets")) if m else 0
    return hits


def acl_counters(platform: Platform, running_config: str, output: str) -> dict[int, Counter]:
    """Enforcement id → packets its denies matched (an entry shared by several ids counts for each)."""
    found: dict[int, Counter] = defaultdict(Counter)
    hits = entry_hits(platform, output)
    for key, ids in entry_owners(running_config).items():
        if key in hits:
            for i in ids:
                found[i] = found[i] + Counter(packets=hits[key])
    return dict(found)
