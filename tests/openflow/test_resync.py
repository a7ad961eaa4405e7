"""Runbook: the controller crashes, or the switch daemon restarts — nothing is lost, nothing doubled.

The store is the truth: whatever happened to the switch or the controller in between, the switch
ends with exactly the flows and meters the store renders to (no duplicates, no stale enforcer
cookie) and every flow enforcer does not own is exactly as it was.
"""

from __future__ import annotations

import pytest

from enforcer import service
from enforcer.lab import ovs

from .conftest import (
    H2,
    H3,
    SWITCH,
    apply,
    block,
    desired_lines,
    enforcer_flows,
    ping,
    switch_flows,
    switch_meters,
    wait_until,
)

pytestmark = pytest.mark.lab

#: Flows of another owner: one shaped exactly like enforcer's (same priority band, low cookie bits)
#: but without enforcer's magic, and one in an unrelated priority.
FOREIGN = (
    "cookie=0x7,priority=41032,ip,nw_dst=198.18.0.200,actions=drop",
    "cookie=0xabc,priority=100,arp,actions=NORMAL",
)


@pytest.fixture
def foreign(oflab):
    """Flows of another owner on the switch for one test; removed afterwards."""
    for flow in FOREIGN:
        ovs.ofctl(oflab.state_dir, "add-flow", flow)
    yield
    for cookie in ("0x7", "0xabc"):
        ovs.ofctl(oflab.state_dir, "del-flows", f"cookie={cookie}/-1")


def foreign_flows(oflab) -> list[str]:
    return [f for f in switch_flows(oflab) if not f.startswith("cookie=0xe4f0")]


def converged(oflab, ctx) -> bool:
    flows, meters = desired_lines(ctx)
    return enforcer_flows(oflab) == flows and switch_meters(oflab) == meters


def test_killed_controller_restarts_and_resyncs_the_switch_to_the_store(oflab, ctx, foreign):
    gone = block(ctx, H2, "malware-hosting")
    block(ctx, H3, "excessive-bandwidth")
    apply(ctx)
    others = foreign_flows(oflab)
    assert len(others) == 3  # the lab's NORMAL flow and the two above

    ovs.stop_controller(oflab.state_dir, hard=True)
    # while the controller is down: the store changes and someone edits the switch by hand
    [(_, result)] = service.apply(ctx, SWITCH)
    assert result is not None and not result.ok and "controller" in (result.error or "")
    service.unblock(ctx, str(gone), actor="noc", source="cli")
    block(ctx, "198.18.0.77", "malware-hosting")
    ovs.ofctl(
        oflab.state_dir, "add-flow", "cookie=0xe4f0000000000fff,priority=41032,ip,nw_dst=198.18.0.66,actions=drop"
    )
    [meter] = switch_meters(oflab)
    meter_id = meter.split()[0].removeprefix("meter=")
    ovs.ofctl(oflab.state_dir, "mod-meter", f"meter={meter_id},kbps,burst,band=type=drop,rate=20000,burst_size=1000")
    assert not converged(oflab, ctx)

    ovs.restart_controller(oflab.state_dir, oflab.prefix, hard=True)
    wait_until("the switch to hold exactly the store's flows and meters", lambda: converged(oflab, ctx))

    assert "198.18.0.66" not in " ".join(enforcer_flows(oflab)), "stale enforcer cookie survived"
    assert "nw_dst=198.18.0.12" not in " ".join(enforcer_flows(oflab)), "unblocked host still dropped"
    assert foreign_flows(oflab) == others, "a flow enforcer does not own was touched"
    assert len(enforcer_flows(oflab)) == len(set(enforcer_flows(oflab)))
    assert wait_until("h1 to reach h2 again", lambda: ping(oflab, "h1", H2))


def test_vswitchd_restart_loses_every_flow_and_the_controller_puts_them_back(oflab, ctx):
    block(ctx, H2, "malware-hosting")
    block(ctx, H3, "excessive-bandwidth")
    apply(ctx)
    assert converged(oflab, ctx)
    others = foreign_flows(oflab)
    assert others == [f"cookie=0x{ovs.BASE_COOKIE:016x} priority=0 * actions=NORMAL"]

    ovs.restart_vswitchd(oflab.state_dir, oflab.prefix)  # the lab re-adds its own NORMAL flow
    wait_until("the controller to resync the restarted switch", lambda: converged(oflab, ctx))

    assert foreign_flows(oflab) == others
    assert not ping(oflab, "h1", H2, count=3), "the blocked host answers after the switch restarted"
    assert wait_until("h1 to reach h3", lambda: ping(oflab, "h1", H3))
    [plan] = service.plan(ctx, SWITCH)
    assert plan.error is None and not plan.has_changes, plan.diff


def test_resync_with_nothing_changed_sends_nothing_and_keeps_flows(oflab, ctx):
    block(ctx, H2, "malware-hosting")
    apply(ctx)
    before = switch_flows(oflab)
    from enforcer.drivers.openflow import OpenFlowDriver

    with OpenFlowDriver(ctx.inventory.device(SWITCH)) as drv:
        report = drv.sync()
    assert report["ok"] and report["changes"] == {}
    assert switch_flows(oflab) == before


def test_a_flow_deleted_by_hand_shows_in_plan_and_apply_puts_it_back(oflab, ctx):
    block(ctx, H2, "malware-hosting")
    apply(ctx)
    flows, _ = desired_lines(ctx)
    ovs.ofctl(oflab.state_dir, "del-flows", "--strict", "priority=41032,ip,nw_src=198.18.0.12")
    assert len(enforcer_flows(oflab)) == len(flows) - 1

    [plan] = service.plan(ctx, SWITCH)
    assert plan.summary() == "+1 ~0 -0", plan.diff
    apply(ctx)
    assert enforcer_flows(oflab) == flows


def test_a_foreign_flow_on_a_targets_priority_and_match_survives_and_the_conflict_is_reported(oflab, ctx):
    """Someone else already drops h2 at enforcer's own priority and match (different cookie): an
    OpenFlow ADD would silently take that flow over, and a later unblock would delete it."""
    theirs = "cookie=0x7,priority=41032,ip,nw_dst=198.18.0.12,actions=drop"
    ovs.ofctl(oflab.state_dir, "add-flow", theirs)
    try:
        decision = block(ctx, H2, "malware-hosting")
        [(_, result)] = service.apply(ctx, SWITCH)
        assert result is not None and not result.ok
        assert "another owner's flow cookie=0x7 holds priority=41032 ip,nw_dst=198.18.0.12" in (result.error or "")
        assert "cookie=0x0000000000000007 priority=41032 ip,nw_dst=198.18.0.12 actions=drop" in switch_flows(oflab)
        [ours] = enforcer_flows(oflab)  # the other half of the null route is installed
        assert ours.endswith("priority=41032 ip,nw_src=198.18.0.12 actions=drop")
        [plan] = service.plan(ctx, SWITCH)
        assert plan.summary() == "+1 ~0 -0", "the flow enforcer could not install must stay visible in plan"

        service.unblock(ctx, str(decision), actor="noc", source="cli")
        apply(ctx)
        assert enforcer_flows(oflab) == []
        assert "cookie=0x0000000000000007 priority=41032 ip,nw_dst=198.18.0.12 actions=drop" in switch_flows(oflab)
    finally:
        ovs.ofctl(oflab.state_dir, "del-flows", "cookie=0x7/-1")
