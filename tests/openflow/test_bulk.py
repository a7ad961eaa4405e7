"""Runbook: a bulk of blocks lands on the switch as exactly the flows ``enforcer plan`` shows.

The controller makes its ACL and null-route flows straight from the section's entries, without
printing them through ``templates/openflow/section.j2`` (:mod:`enforcer.controller.entries`); a plan
still shows the template's text. Read back with ``ovs-ofctl``, never through the controller: the
switch must hold the rendered lines, no more, no fewer, for IPv4 and IPv6, ports, and a target
two decisions share.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest

from enforcer.drivers.openflow import OpenFlowDriver
from enforcer.lab.preload import end, preload

from .conftest import SWITCH, desired_lines, enforcer_flows

pytestmark = pytest.mark.lab


def test_a_bulk_of_acls_and_null_routes_on_the_switch_is_line_for_line_the_plans_text(oflab, ctx):
    ids: list[int] = []
    try:
        ids += preload(ctx, [IPv4Address("100.64.0.1") + i for i in range(300)], violation="scanning")
        ids += preload(ctx, [IPv4Address("100.64.0.1") + i for i in range(0, 300, 7)], violation="malware-hosting")
        ids += preload(ctx, [IPv4Address("100.66.0.1") + i for i in range(100)], violation="spam")
        ids += preload(ctx, [IPv6Address("2001:db8:77::1") + i for i in range(100)], violation="malware-hosting")
        with OpenFlowDriver(ctx.inventory.device(SWITCH)) as drv:
            report = drv.sync()
        assert report["ok"] and report["atomic"], report
        flows, meters = desired_lines(ctx)
        assert meters == [] and len(flows) == 300 + 2 * 43 + 3 * 100 + 2 * 100
        assert enforcer_flows(oflab) == flows, "the switch holds flows the plan does not show"
        assert any("tp_dst=587" in f for f in flows) and any("ipv6_dst=2001:db8:77::1 " in f for f in flows)
    finally:
        end(ctx.store, ids)
        with OpenFlowDriver(ctx.inventory.device(SWITCH)) as drv:
            drv.sync()
