"""The detector benchmark still runs: ``bench/detector_latency.py``'s own steps, tiny, on the session lab.

One alert through a real Alertmanager and one flood seen by a real FastNetMon, each ending as the
block on the network (the FRR edge's null route; the upstream's RTBH route). The figures are
never checked (docs/benchmarks.md records them); that every step happened, in order, is.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from enforcer.lab.probes import address
from enforcer.lab.testing import Lab

from ..helpers import bench_module

pytestmark = pytest.mark.lab


def test_detector_benchmark_times_an_alert_and_a_flood_to_the_block(lab: Lab, lab_db, tmp_path: Path):
    bench = bench_module("detector_latency")
    am, fnm = bench.run(lab, tmp_path, alerts=1, floods=1, poll=0.02, give_up=90)
    [alert], [flood] = am, fnm
    assert alert["posted"] <= alert["stored"] <= alert["routed"]
    assert flood["flood"] <= flood["called"] <= flood["stored"] <= flood["routed"]
    # FastNetMon's unban ended the block (--on-unban end): the next flood would start clean.
    assert not bench.upstream_blackhole(lab, str(address(lab.customer_hosts()[0])))
    rows = bench.report(am, fnm).splitlines()
    assert [r.split("|")[0].strip() for r in rows[1:9]] == [label for label, *_ in bench.AM_STEPS + bench.FNM_STEPS]
