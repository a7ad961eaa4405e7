"""Runbook: a change lands on the switch in one transaction (OpenFlow 1.4 bundle), or not at all.

Watched on the lab's Open vSwitch with ``ovs-ofctl``, never through the controller under test:
while a sync that replaces 2,000 drops by 2,000 others commits, the switch never holds fewer (a
batch deletes first, then adds: its table dips); a change with one flow the switch refuses leaves
the flow table and the meters as they were; a switch that speaks only OpenFlow 1.3 still gets the
change, as a batch, and the report says it was not atomic.
"""

from __future__ import annotations

import ast
import threading
from ipaddress import IPv4Address

import pytest
import yaml

from enforcer import service
from enforcer.drivers.openflow import OpenFlowDriver
from enforcer.lab import ovs
from enforcer.lab.preload import end, preload

from .conftest import H2, H3, SWITCH, apply, block, enforcer_flows, switch_flows, switch_meters, wait_until

pytestmark = pytest.mark.lab

MANY = 1_000  # decisions per set: two drop flows each on the edge switch


def enforcer_flow_count(oflab) -> int:
    out = ovs.ofctl(oflab.state_dir, "dump-aggregate", "cookie=0xe4f0000000000000/0xffff000000000000")
    return int(out.split("flow_count=")[1].split()[0])


def sync(ctx: service.Context) -> dict:
    with OpenFlowDriver(ctx.inventory.device(SWITCH)) as drv:
        return drv.sync()


def test_replacing_two_thousand_drops_never_leaves_the_switch_holding_fewer(oflab, ctx):
    old = preload(ctx, [IPv4Address("100.64.0.1") + i for i in range(MANY)])
    new: list[int] = []
    try:
        report = sync(ctx)
        assert report["atomic"] is True and report["changes"]["flows_added"] == 2 * MANY, report
        seen: list[int] = []
        done = threading.Event()

        def watch() -> None:  # ovs-ofctl's view of the table, as fast as it answers, until the change is in
            while not done.is_set():
                seen.append(enforcer_flow_count(oflab))

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            wait_until("the watcher's first look", lambda: seen)
            # one store transaction: the old set ends, the new one starts (whichever sync runs next,
            # this one or the controller's periodic one, replaces 2,000 drops by 2,000)
            new = preload(ctx, [IPv4Address("100.65.0.1") + i for i in range(MANY)], ending=old)
            report = sync(ctx)
            wait_until("the new set on the switch", lambda: all("100.65." in f for f in enforcer_flows(oflab)))
        finally:
            done.set()
            watcher.join()
        assert report["ok"], report
        assert report["changes"] == {} or report["atomic"] is True, report
        assert set(seen) == {2 * MANY}, f"the switch held {sorted(set(seen))} enforcer flows during the change"
        assert len(enforcer_flows(oflab)) == 2 * MANY
    finally:
        end(ctx.store, old + new)
        sync(ctx)


def test_a_change_with_one_flow_the_switch_refuses_leaves_flows_and_meters_as_they_were(oflab, ctx):
    blocked = block(ctx, H2, "malware-hosting")
    apply(ctx)
    flows_before, meters_before = switch_flows(oflab), switch_meters(oflab)
    assert len(enforcer_flows(oflab)) == 2 and meters_before == []

    # A rate limit forwarding to goto_table:0 from table 0: Open vSwitch refuses that instruction
    # (a goto must go forward). In the same change: a new null route and the end of the old one.
    hosts = oflab.inventory / "hosts.yaml"
    good = hosts.read_text()
    inventory = yaml.safe_load(good)
    inventory[SWITCH]["optional_args"]["forward"] = "goto_table:0"
    hosts.write_text(yaml.safe_dump(inventory))
    try:
        bad = oflab.context()
        block(bad, H3, "excessive-bandwidth")
        block(bad, "198.18.0.77", "malware-hosting")
        service.unblock(bad, str(blocked), actor="noc", source="cli")
        [(_, result)] = service.apply(bad, SWITCH)
        assert result is not None and not result.ok
        assert "bundle, which was discarded: its flow table is unchanged" in (result.error or ""), result.error
        assert switch_flows(oflab) == flows_before, "a refused bundle changed the flow table"
        assert switch_meters(oflab) == meters_before, "the meter added for the refused bundle was left behind"
    finally:
        hosts.write_text(good)
    assert sync(ctx)["ok"], "the change did not land once the switch could hold it"
    flows = " ".join(enforcer_flows(oflab))
    assert "198.18.0.77" in flows and H3 in flows and f"nw_dst={H2} " not in flows + " "
    assert len(switch_meters(oflab)) == 1


def connect_syncs(oflab) -> int:
    """How many connect resyncs the controller logged: one more once a reconnected switch is in sync."""
    log = (oflab.state_dir / "controller.log").read_text(errors="replace")
    return sum(" (connect): " in line and "'ok': True" in line for line in log.splitlines())


def test_a_switch_speaking_only_openflow_13_gets_the_change_as_a_batch(oflab, ctx):
    before = connect_syncs(oflab)
    ovs.vsctl(oflab.state_dir, "set", "bridge", ovs.BRIDGE, "protocols=OpenFlow13")
    try:
        wait_until("the switch to reconnect with OpenFlow 1.3 and be resynced", lambda: connect_syncs(oflab) > before)
        with OpenFlowDriver(ctx.inventory.device(SWITCH)) as drv:
            assert drv.get_facts()["os_version"] == "OpenFlow 1.3"
        block(ctx, H2, "malware-hosting")
        report = sync(ctx)
        assert report["ok"] and len(enforcer_flows(oflab)) == 2
        # the controller's periodic resync may have sent it first: then its report is the batch
        last = report if report["changes"] else periodic_reports(oflab)[-1]
        assert last["atomic"] is False and last["changes"]["flows_added"] == 2, last
    finally:
        before = connect_syncs(oflab)
        ovs.vsctl(oflab.state_dir, "set", "bridge", ovs.BRIDGE, "protocols=OpenFlow13,OpenFlow14")
        wait_until("the switch to reconnect with OpenFlow 1.4", lambda: connect_syncs(oflab) > before)


def periodic_reports(oflab) -> list[dict]:
    log = (oflab.state_dir / "controller.log").read_text(errors="replace")
    return [ast.literal_eval(line.split("periodic resync: ", 1)[1]) for line in log.splitlines()
            if "periodic resync: " in line]  # fmt: skip


def test_a_single_flow_mod_the_switch_refuses_goes_without_a_bundle_and_leaves_flows_and_meters_as_they_were(
    oflab, ctx
):
    """One rate limit is one flow-mod and its meter: no bundle (the switch applies a flow-mod whole
    or not at all). Refused — forwarding to goto_table:0 from table 0 — the flow table is as it was
    and the meter sent with it is gone again."""
    blocked = block(ctx, H2, "malware-hosting")
    apply(ctx)
    flows_before, meters_before = switch_flows(oflab), switch_meters(oflab)
    hosts = oflab.inventory / "hosts.yaml"
    good = hosts.read_text()
    inventory = yaml.safe_load(good)
    inventory[SWITCH]["optional_args"]["forward"] = "goto_table:0"
    hosts.write_text(yaml.safe_dump(inventory))
    try:
        bad = oflab.context()
        block(bad, H3, "excessive-bandwidth")
        [(_, result)] = service.apply(bad, SWITCH)
        assert result is not None and not result.ok
        assert "one flow-mod" in (result.error or "") and "flow table is unchanged" in result.error, result.error
        assert switch_flows(oflab) == flows_before, "a refused flow-mod changed the flow table"
        assert switch_meters(oflab) == meters_before, "the meter sent with the refused flow-mod was left behind"
    finally:
        hosts.write_text(good)
    report = sync(ctx)
    assert report["ok"] and report["round_trips"] == 1 and report["atomic"], report
    assert H3 in " ".join(enforcer_flows(oflab)) and len(switch_meters(oflab)) == 1
    service.unblock(ctx, str(blocked), actor="noc", source="cli")
