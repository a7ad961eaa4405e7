"""The latency benchmark still runs: ``bench/latency.py``'s own steps, tiny, on the session lab.

Two decisions already active, one measured: each must be seen on the FRR edge's kernel, in the
nftables set and in the switch's flow table, and the report, the FRR exec breakdown and the plot
must come out. The
figures themselves are never checked (docs/benchmarks.md records them).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from enforcer.lab.testing import Lab

from ..helpers import bench_module

pytestmark = pytest.mark.lab


def test_latency_benchmark_measures_every_device_type_and_plots_it(lab: Lab, lab_db, tmp_path: Path):
    bench = bench_module("latency")
    result = bench.run_size(lab, bench.Probes(lab), tmp_path, active=2, decisions=1, poll=0.02, give_up=180,
                            breakdown=True)
    assert {k: len(v) for k, v in result["samples_ms"].items()} == {"frr": 1, "nftables": 1, "openflow": 1}
    assert set(result["server"]) == {"frr", "nftables", "openflow"}  # serve's own per-device histogram
    # The decision reached the router on serve's warm session in one exec: the commit (checked,
    # verified against the last read-back, read back), confirmed on the same channel; nothing else.
    assert {verb: len(ms) for verb, ms in result["frr_execs"].items()} == {"load-commit": 1, "held commit-confirm": 1}
    text = bench.report([result])
    rows, breakdown = text.splitlines()[1:4], text.splitlines()[4:]
    assert [line.split("|")[1].strip() for line in rows] == ["frr", "nftables", "openflow"]
    assert len(breakdown) == 1 and "FRR SSH execs per decision: 1.0" in breakdown[0]
    bench.plot([result], tmp_path / "latency.png")
    assert (tmp_path / "latency.png").read_bytes()[:4] == b"\x89PNG"
