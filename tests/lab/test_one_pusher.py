"""Issue 10: ``enforcer apply`` while ``enforcer serve`` is pushing the same router reports it busy,
or with ``--wait`` waits for serve to finish, and never cancels serve's commit.

Deterministic, without timing: serve is frozen (SIGSTOP) the moment the router holds its pending
commit-confirm — serve holds the device's lease and has not confirmed yet. The operator's
``apply`` then finds the device busy, says who pushes it, and sends nothing. Serve resumes and
confirms its own commit; the router's journal shows no rollback or cancelled commit in between.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from enforcer.lab import probes
from enforcer.lab.testing import Lab, cli
from enforcer.model import Decision

from ..helpers import free_port, stop

pytestmark = pytest.mark.lab


def _journal(lab: Lab) -> list[str]:
    path = Path(lab.edge.frr_dir) / "log" / "commits.log"
    return path.read_text().splitlines() if path.exists() else []


def test_cli_apply_while_serve_pushes_the_router_reports_busy_and_leaves_serves_commit(lab: Lab, lab_db, tmp_path):
    run = cli(lab, tmp_path / "out")
    device = lab.device(platform="frr").name
    host = probes.address(lab.customer_hosts()[0])
    pending = lab.state_dir / "routers" / lab.edge.name / "commits" / "pending.json"
    run("block", host, "--violation", "malware-hosting", "--reason", "lease test")
    target = str(Decision(target=host, violation="malware-hosting").target)
    journal_before = len(_journal(lab))

    env = {**os.environ, "ENFORCER_INVENTORY": str(lab.inventory_path), "ENFORCER_DB": lab_db,
           "ENFORCER_OUTPUT": str(tmp_path / "out")}
    serve = subprocess.Popen(
        [sys.executable, "-m", "enforcer.cli", "serve", "--listen", f"127.0.0.1:{free_port()}", "--interval", "3600"],
        env=env, stdout=(tmp_path / "serve.log").open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        # serve's start-up pass pushes the block; freeze it inside its confirm window.
        probes.eventually(lambda: pending.exists() or serve.poll() is not None, bool, 120, 0.002)
        os.killpg(serve.pid, signal.SIGSTOP)
        assert pending.exists(), (tmp_path / "serve.log").read_text()

        proc = run("apply", "--yes", "--device", device, check=False)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "device busy: pushed by reconcile enforcer on " in proc.stdout + proc.stderr
        assert pending.exists(), "the second pusher touched serve's pending commit"

        # --wait is bounded: serve still holds the device after one second, so still busy.
        proc = run("apply", "--yes", "--device", device, "--wait", "1", check=False)
        assert proc.returncode == 1 and "device busy: pushed by reconcile enforcer on " in proc.stdout + proc.stderr
        # A longer wait, started while serve is frozen, ends once serve has confirmed and let go.
        waiting = subprocess.Popen([sys.executable, "-m", "enforcer.cli", "apply", "--yes", "--device", device,
                                    "--wait", "120", "--json"], env=env, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
        assert waiting.poll() is None and pending.exists()

        os.killpg(serve.pid, signal.SIGCONT)
        assert probes.eventually(lambda: not pending.exists(), bool, 60, 0.05), "serve never confirmed"
        out, err = waiting.communicate(timeout=180)
        assert waiting.returncode == 0, out + err
        [after] = json.loads(out)
        assert after["ok"] and not after["changed"], after  # serve's push already holds the block
        new = _journal(lab)[journal_before:]
        assert any(line.endswith("commit confirmed") for line in new), new
        assert not any("rollback" in line or "not confirmed" in line or "undo" in line for line in new), new
        assert f"ip route {target} Null0" in probes.vtysh(lab.edge, "show running-config")
    finally:
        os.killpg(serve.pid, signal.SIGCONT)
        stop(serve)
