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


def test_served_counters_reach_the_api_and_metrics_while_the_host_floods(lab, lab_db, enforcer, tmp_path):  # noqa: F811
    import httpx

    from enforcer.api.tokens import create_token
    from enforcer.lab.probes import eventually
    from enforcer.store import Store

    from ..helpers import serve_process

    token = create_token(Store(lab_db), "noc-counters", "operator")
    offender = lab.customer_hosts("cust1")[0]
    with serve_process(serve_options=["--interval", "600", "--log-level", "warning"], env=enforcer.env,
                       log=tmp_path / "serve.log") as url:
        api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        r = api.post("/v1/decisions", json={"target": address(offender), "violation": "excessive-bandwidth",
                                            "ttl": "1h"})
        assert r.status_code in (200, 201), r.text
        did = r.json()["decision_id"]
        # the kick pushes the police rule; its counter reads 0 until traffic comes
        pushed = eventually(lambda: api.get("/v1/counters").json(), lambda c: any(x["decision_id"] == did for x in c),
                            60)
        assert any(x["decision_id"] == did for x in pushed), pushed
        udp_throughput(offender, lab.internet_host, offered_bps=40_000_000, seconds=2)
        counted = eventually(lambda: api.get("/v1/counters").json(),
                             lambda c: any(x["decision_id"] == did and x["packets"] > 1000 for x in c), 60)
        metrics = api.get("/metrics").text
    assert any(x["bytes"] > 1_000_000 for x in counted if x["decision_id"] == did)
    line = next(ln for ln in metrics.splitlines() if ln.startswith("enforcer_decision_dropped_packets_total{"))
    assert f'decision="{did}"' in line and float(line.split()[-1]) > 1000
