"""docs/device-safety.md's platform limits and intake cut, parsed from the page, against the platform
facts and the model; and the plan's answer to a pending commit (the lab proves it against FRR:
tests/lab/test_device_safety.py)."""

from __future__ import annotations

import json
import re

import pytest

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


@pytest.fixture
def serving(tmp_path, monkeypatch):
    """tests/test_pipeline.py's boxes under a running serve, each pending-commit question counted."""
    from fastapi.testclient import TestClient

    from enforcer import service
    from enforcer.api.app import create_app
    from enforcer.api.tokens import create_token
    from enforcer.settings import Settings

    from .api.conftest import auth, write_inventory
    from .helpers import wait_for
    from .test_pipeline import Box, Boxes

    asked: list[str] = []
    monkeypatch.setattr(Box, "has_pending_commit", lambda self: asked.append(self.device.name) or False)
    settings = Settings(inventory=write_inventory(tmp_path), db=f"sqlite:///{tmp_path / 'e.db'}",
                        playbooks=REPO / "playbooks", output=tmp_path / "out")  # fmt: skip
    ctx = service.Context.open(settings)
    found = Boxes()
    ctx.driver_factory = lambda dev: Box(dev, settings.output, found)
    token = auth(create_token(ctx.store, "noc", "operator"))
    with TestClient(create_app(lambda: ctx, reconcile=True, interval=3600, coalesce=0)) as client:
        wait_for(lambda: client.app.state.served.loop.idle(), what="the start-up pass")
        yield client, found, settings.output, token, asked


def test_serve_asks_when_it_logs_in_and_skips_the_question_on_a_warm_push(serving):
    from .helpers import wait_for
    from .test_pipeline import block

    client, box, out, headers, asked = serving
    assert asked.count("edge1") == 1  # the start-up pass, on a new session
    block(client, headers, "203.0.113.80")
    wait_for(lambda: box.holds(out, "edge1", "203.0.113.80"), what="the null route on edge1")
    assert asked.count("edge1") == 1  # woken by a decision, on the session its last push confirmed over
    client.app.state.served.loop.sessions.drop("edge1")  # no session open: the next push logs in
    block(client, headers, "203.0.113.81")
    wait_for(lambda: box.holds(out, "edge1", "203.0.113.81"), what="the second null route on edge1")
    assert asked.count("edge1") == 2  # a push that has to log in asks again
