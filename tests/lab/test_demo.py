"""The README's main command does what the README says, on the lab and on the fallback path."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]


def _demo(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "scripts/demo.sh"], cwd=REPO, env={**os.environ, "COLUMNS": "160", **env},
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def test_demo_blocks_a_host_on_the_lab_and_restores_it():
    proc = _demo()
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:] + proc.stderr[-3000:]
    assert "is UNREACHABLE" in out and "second plan: no changes" in out, out[-3000:]
    after = out[out.index("== after:"):].split("\n", 1)[0]
    assert "203.0.113.10 is UNREACHABLE, 203.0.113.11 is reachable" in after, after  # the neighbour answers
    assert "restored: 203.0.113.10 is reachable" in out
    assert "lab demo is down" in proc.stderr + out


def test_demo_falls_back_to_the_example_inventory_and_writes_configs():
    proc = _demo(ENFORCER_DEMO_NO_LAB="1")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "using the example inventory instead" in proc.stdout
    written = {p.name for p in (REPO / "out").iterdir()}
    assert {"frr-edge1.cfg", "junos-edge1.conf", "linux-edge1.nft"} <= written
    assert "203.0.113.7" in (REPO / "out" / "frr-edge1.cfg").read_text()
