"""The bulk FRR benchmark still runs: a tiny run of ``bench/bulk_frr.py`` end to end (issue 12.6).

Tiny on purpose (20 routes, 2 naive blocks): the figures are never checked, only that every side
ran against its own lab (the floor, the naive script, enforcer's apply and removal, each waited
for in the edge's kernel by the script itself) and that the lab is gone afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parent.parent.parent


@pytest.mark.parametrize("login", ["key_file", "agent"])
def test_bulk_frr_benchmark_prints_every_side_with_its_ratio_to_vtysh(tmp_path: Path, login: str):
    """``agent``: enforcer's applies log in through an ssh-agent, their passphrase variable withheld,
    each under py-spy (``--profile``): the critical-path steps printed and kept with the figures."""
    if os.geteuid() != 0:
        pytest.fail("the benchmark builds a lab: run as root")
    figures = tmp_path / "bulk.json"
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "bulk_frr.py"), "--routes", "20", "--naive-blocks", "2",
         "--json", str(figures), *(["--agent", "--profile", str(tmp_path / "profile")] if login == "agent" else [])],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    rows = [line.split()[:2] for line in proc.stdout.splitlines() if line.startswith("  ")]
    profiled = ["profile:", "profile:"] if login == "agent" else []
    assert [r[0] for r in rows] == ["vtysh", "vtysh", "naive", "enforcer:", "enforcer", "enforcer", "router:", "router:",
                                    *profiled]  # fmt: skip
    assert proc.stdout.count("ratio to vtysh -f") == 2
    data = json.loads(figures.read_text())
    assert data["login"] == login
    assert data["apply"]["summary"] == "+20 ~0 -0" and data["removal"]["summary"] == "+0 ~0 -20"
    if login == "agent":  # every apply's commit exec is in its profile, the rest is where it waited
        assert all(data["profile"][w]["commit exec (router: check, apply, read-back)"] > 0 for w in ("apply", "removal"))
