"""docs/device-safety.md's platform limits and intake cut, parsed from the page, against the platform
facts and the model; and the plan's answer to a pending commit (the lab proves it against FRR:
tests/lab/test_device_safety.py)."""

from __future__ import annotations

import json
import re

from enforcer.inventory import Platform, Transport
from enforcer.model import COMMENT_MAX, safe_comment
from enforcer.plan import DevicePlan
from enforcer.render import platform_info

from .conftest import REPO

DOC = " ".join((REPO / "docs" / "device-safety.md").read_text().split())
NAMES = {"nftables": Platform.NFTABLES, "FRR": Platform.FRR, "IOS": Platform.IOS, "EOS": Platform.EOS,
         "NX-OS": Platform.NXOS, "IOS-XR": Platform.IOSXR, "Junos": Platform.JUNOS, "OpenFlow": Platform.OPENFLOW}  # fmt: skip


def _documented_limits() -> dict[Platform, dict[str, int]]:
    [listed] = re.findall(r"under `limits:` \((.*?)\), each with the pattern", DOC)
    out: dict[Platform, dict[str, int]] = {}
    for part in listed.split("; "):
        platform, _, limits = part.partition(": ")
        out[NAMES[platform]] = {what: int(n) for what, n in re.findall(r"([a-z ]+?) (\d+)(?:, |$)", limits)}
    return out


def test_the_platform_limits_the_page_lists_are_every_platforms_declared_limits():
    declared = {p: {lim.what: lim.max for lim in platform_info(p).limits} for p in Platform}
    assert _documented_limits() == {p: limits for p, limits in declared.items() if limits}


def test_free_text_is_cut_to_48_characters_at_intake():
    assert f"Free text is already cut to {COMMENT_MAX} characters at intake (`model.safe_comment`)" in DOC
    assert safe_comment("x" * 200) == "x" * COMMENT_MAX


def test_a_pending_commit_counts_as_a_change_and_the_plan_says_so():
    p = DevicePlan(device="edge", platform=Platform.FRR, transport=Transport.FRR, desired="", live="", diff="",
                   added=0, changed=0, removed=0, removed_lines=[], pending=True)  # fmt: skip
    assert p.has_changes
    assert "a commit-confirm is pending on the device" in p.summary()


def test_plan_asks_the_device_and_a_pending_commit_alone_is_a_change(cli, monkeypatch):
    from enforcer.drivers.offline import OfflineDriver

    asked: list[str] = []

    def pending(self) -> bool:
        asked.append(self.device.name)
        return self.device.name == "frr-edge1"

    monkeypatch.setattr(OfflineDriver, "has_pending_commit", pending)
    assert cli("plan", "--device", "eos-edge1", "--detailed-exitcode")[0] == 0  # asked, nothing pending
    code, out, _ = cli("plan", "--device", "frr-edge1", "--detailed-exitcode")
    assert asked == ["eos-edge1", "frr-edge1"]
    assert code == 2 and "+0 ~0 -0 (a commit-confirm is pending on the device)" in out, out
    assert "apply confirms or rolls it back" in out
    code, out, _ = cli("plan", "--device", "frr-edge1", "--json")
    assert [p["pending"] for p in json.loads(out)] == [True]
