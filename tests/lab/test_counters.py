"""Issue 14.2, "is it working?": what a block dropped, read from nftables' own counters in the lab."""

from __future__ import annotations

import json

import pytest

from enforcer.lab.probes import address, udp_throughput

from .test_cli_e2e import enforcer  # noqa: F401 (the CLI-as-a-subprocess fixture)

pytestmark = pytest.mark.lab


def test_rate_limit_dropped_packet_counter_rises_while_the_host_floods_and_is_no_drift(lab, enforcer):  # noqa: F811
    offender = lab.customer_hosts("cust1")[0]
    enforcer("block", address(offender), "--violation", "excessive-bandwidth", "--ttl", "1h")  # 10 Mbit/s police
    enforcer("apply", "--yes")

    def dropped() -> dict:
        (row,) = json.loads(enforcer("list", "--counters", "--json").stdout)
        assert row["dropped"] is not None, row  # read from the nftables edge, not a missing figure
        return row["dropped"]

    before = dropped()
    udp_throughput(offender, lab.internet_host, offered_bps=40_000_000, seconds=2)  # 4x the rate, bounded
    after = dropped()

    assert after["packets"] >= before["packets"] + 1000, (before, after)
    assert after["bytes"] > before["bytes"] + 1_000_000
    # The counters' running numbers are not drift: the plan against the live table is still empty.
    assert enforcer("plan", "--detailed-exitcode", check=False).returncode == 0
    table = enforcer("list", "--counters").stdout
    assert "dropped" in table and "pkts" in table
