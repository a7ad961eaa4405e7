"""The OpenFlow install benchmark still runs: a tiny run of ``bench/openflow_install.sh`` end to end.

Tiny on purpose (50 flows, 2 samples): the figures are not checked, only that both sides ran,
installed and removed what they should (the script asserts the switch's flow counts itself),
and that the benchmark's own lab is gone afterwards. Creating the ofctl_rest baseline virtualenv
on first use takes seconds with pip's cache, so the baseline is part of the run.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parent.parent.parent


def _netns() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def test_openflow_install_benchmark_runs_both_sides_at_a_tiny_size(tmp_path: Path):
    if os.geteuid() != 0:
        pytest.fail("the benchmark builds a lab: run as root")
    prefix = f"obs{os.getpid() % 100000}"
    figures = tmp_path / "bench.json"
    proc = subprocess.run(
        [str(REPO / "bench" / "openflow_install.sh"), "--flows", "50", "--samples", "2", "--loaded-samples", "1",
         "--concurrency", "2", "--prefix", prefix, "--json", str(figures)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "ratio enforcer / ofctl_rest" in proc.stdout
    assert "enforcer end to end (storing + store read" in proc.stdout and "ovs-ofctl add-flows of the same" in proc.stdout
    assert "ovs-ofctl --bundle add-flows (one atomic bundle)" in proc.stdout

    data = json.loads(figures.read_text())
    enforcer, rest = data["enforcer"], data["ofctl_rest"]
    assert data["flows"] == 50
    assert enforcer["bulk_report"]["ok"] and enforcer["bulk_report"]["changes"]["flows_added"] == 50
    assert enforcer["bulk_report"]["atomic"] is True, "the bulk install did not go in one bundle"
    assert len(enforcer["single_sync_s"]) == len(rest["single_s"]) == 2
    assert all(t > 0 for t in (enforcer["bulk_install_s"], enforcer["ofctl_add_flows_s"], rest["sequential_s"],
                               rest["concurrent_s"], enforcer["ofctl_bundle_add_flows_s"]))  # fmt: skip
    assert not {ns for ns in _netns() if ns.startswith(f"{prefix}-")}, "the benchmark left its lab behind"
    assert not list(Path(tempfile.gettempdir()).glob(f"enforcer-bench-{prefix}-*")), "its lab directory too"


def test_openflow_scale_benchmark_runs_every_step_at_a_tiny_size(tmp_path: Path):
    """``bench/openflow_scale.py`` (100,000 flows: sync, plan, apply, resync, switch connected
    throughout) at 20 decisions: every step ran and succeeded, and its lab is gone afterwards."""
    if os.geteuid() != 0:
        pytest.fail("the benchmark builds a lab: run as root")
    prefix = f"oss{os.getpid() % 100000}"
    figures = tmp_path / "scale.json"
    proc = subprocess.run(
        [str(REPO / ".venv" / "bin" / "python"), str(REPO / "bench" / "openflow_scale.py"), "--decisions", "20",
         "--prefix", prefix, "--json", str(figures)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    data = json.loads(figures.read_text())
    assert data["bulk sync"]["flows"] == 40 and "'flows_added': 40" in data["bulk sync"]["outcome"]
    assert data["apply one more"]["flows"] == 42 and "ok=True" in data["apply one more"]["outcome"]
    assert all(data[step]["connected"] and not data[step]["switch_log"]
               for step in ("bulk sync", "plan one more", "apply one more", "full resync, no change"))  # fmt: skip
    assert not {ns for ns in _netns() if ns.startswith(f"{prefix}-")}, "the benchmark left its lab behind"


def test_openflow_latency_benchmark_times_each_decision_through_serve_at_a_tiny_size(tmp_path: Path):
    """``bench/openflow_latency.py``: 3 active, 2 decisions through ``enforcer serve``, each seen
    added by the switch's flow monitor and in ``dump-flows``; the controller's steps are logged."""
    if os.geteuid() != 0:
        pytest.fail("the benchmark builds a lab: run as root")
    prefix = f"obl{os.getpid() % 100000}"
    figures = tmp_path / "latency.json"
    before = _netns()
    proc = subprocess.run(
        [str(REPO / ".venv" / "bin" / "python"), str(REPO / "bench" / "openflow_latency.py"), "--active", "3",
         "--decisions", "2", "--prefix", prefix, "--json", str(figures)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    [result] = json.loads(figures.read_text())
    assert len(result["visible_ms"]) == len(result["polled_ms"]) == 2
    assert len(result["controller_ms"]) >= 2, "the controller logged no timed sync"
    assert not {ns for ns in _netns() - before if prefix in ns}, "the benchmark left its lab behind"


def test_openflow_latency_benchmark_times_the_controller_alone_at_a_tiny_size(tmp_path: Path):
    """``--path controller``: 3 active, 2 decisions stored in-process, each synced by the controller;
    every sync added the decision's two flows, in two round trips (one bundle)."""
    if os.geteuid() != 0:
        pytest.fail("the benchmark builds a lab: run as root")
    prefix = f"obc{os.getpid() % 100000}"
    figures = tmp_path / "direct.json"
    before = _netns()
    proc = subprocess.run(
        [str(REPO / ".venv" / "bin" / "python"), str(REPO / "bench" / "openflow_latency.py"), "--path", "controller",
         "--active", "3", "--decisions", "2", "--prefix", prefix, "--json", str(figures)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    [result] = json.loads(figures.read_text())
    assert len(result["commit_to_confirmed_ms"]) == 2 and result["round_trips"] == [2, 2], result
    assert result["atomic"] == [True, True]
    assert not {ns for ns in _netns() - before if prefix in ns}, "the benchmark left its lab behind"


def test_openflow_bulk_benchmark_runs_both_sides_at_a_tiny_size(tmp_path: Path):
    """``bench/openflow_bulk.py``: 20 drops, one round; enforcer's sync and ovs-ofctl each installed them."""
    if os.geteuid() != 0:
        pytest.fail("the benchmark builds a lab: run as root")
    prefix = f"obk{os.getpid() % 100000}"
    figures = tmp_path / "bulk.json"
    before = _netns()
    proc = subprocess.run(
        [str(REPO / ".venv" / "bin" / "python"), str(REPO / "bench" / "openflow_bulk.py"), "--flows", "20",
         "--rounds", "1", "--prefix", prefix, "--json", str(figures)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    data = json.loads(figures.read_text())
    assert len(data["sync_s"]) == len(data["ofctl_s"]) == 1 and "ratio per round" in proc.stdout
    assert not {ns for ns in _netns() - before if prefix in ns}, "the benchmark left its lab behind"
