"""Issue 14.2 on the switch: what a block dropped, read from Open vSwitch's own flow and meter statistics
through enforcer's controller, and shown by ``enforcer list --counters`` (the CLI as a subprocess).

The check beside each figure is ``ovs-ofctl dump-flows`` on the bridge's management socket, never
the controller under test.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from enforcer.lab import ovs

from .conftest import H2, H3, apply, block
from .test_switch_enforcement import udp_received_bps

pytestmark = pytest.mark.lab


def dropped(oflab) -> dict:
    """``enforcer list --counters --json``'s one row's *dropped* figure (None would be "not read")."""
    env = {**os.environ, "ENFORCER_INVENTORY": str(oflab.inventory), "ENFORCER_DB": oflab.db}
    proc = subprocess.run([sys.executable, "-m", "enforcer.cli", "list", "--counters", "--json"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(proc.stdout)
    assert row["dropped"] is not None, row
    return row["dropped"]


def flow_packets(oflab, match: str) -> int:
    """n_packets of the switch's flow whose match contains ``match`` (ovs-ofctl's own view)."""
    for line in ovs.ofctl(oflab.state_dir, "dump-flows").splitlines():
        if match in line:
            return int(re.search(r"n_packets=(\d+)", line).group(1))
    raise AssertionError(f"no flow matching {match}")


def test_a_null_routed_hosts_drop_flow_counts_the_pings_sent_to_it(oflab, ctx):
    block(ctx, H2, "malware-hosting")
    apply(ctx)
    before = dropped(oflab)
    assert before["packets"] == 0  # read from the switch: zero until traffic comes, not a missing figure

    subprocess.run(["ip", "netns", "exec", oflab.ns("h1"), "ping", "-n", "-q", "-c", "200", "-i", "0.005", "-W", "1",
                    H2], capture_output=True, timeout=60)  # fmt: skip

    after = dropped(oflab)
    assert after["packets"] >= 200 and after["bytes"] >= 200 * 98, after  # each echo request: 98 bytes on the wire
    assert after["packets"] == flow_packets(oflab, f"nw_dst={H2}")  # the very count the switch holds


def test_a_rate_limits_meter_counts_what_it_dropped_not_what_it_let_through(oflab, ctx):
    block(ctx, H3, "excessive-bandwidth")  # a 10 Mbit/s meter on h3's traffic
    apply(ctx)
    assert dropped(oflab)["packets"] == 0

    received = udp_received_bps(oflab, "h3", "h1", "198.18.0.11", offered="40M", seconds=2)

    after = dropped(oflab)
    metered = flow_packets(oflab, f"nw_src={H3}")  # every packet h3 sent: dropped and passed
    assert after["packets"] >= 1000 and after["bytes"] > 1_000_000, after
    # the figure is the meter band's drops: about three quarters of what the flow matched, never all of it
    assert after["packets"] < metered, (after, metered)
    assert received < 20e6
