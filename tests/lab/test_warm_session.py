"""Issue 12.3 on the lab: ``enforcer serve`` keeps its SSH session to the FRR router open between
pushes, and when that session dies under it (the router's sshd child killed by PID, as a router
reboot or a reset would end it) it logs in again and enforces the next decision. A warm push plans on the router's last read-back;
when the NOC changed the router since, the router refuses it and serve reads the router again.

The sessions are counted where the router sees them: the children of the router's sshd, one per
open connection (nothing else logs in to the lab's edge during the test).
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from enforcer.api.tokens import create_token
from enforcer.lab import probes
from enforcer.lab.testing import Lab
from enforcer.store import Store

from ..helpers import serve_process, wait_for

pytestmark = pytest.mark.lab


def _sessions(lab: Lab) -> list[int]:
    """PIDs of the edge sshd's per-connection children: the SSH sessions open to the router."""
    master = (lab.state_dir / "ssh" / f"sshd-{lab.edge.name}.pid").read_text().split()[0]
    out = subprocess.run(["pgrep", "-P", master], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _confirmations(lab: Lab) -> int:
    """Commits the edge confirmed (its shell journals each, once the read-back was checked)."""
    journal = Path(lab.edge.frr_dir) / "log" / "commits.log"
    return sum(line.endswith("commit confirmed") for line in journal.read_text().splitlines()) if journal.exists() else 0


def test_serve_keeps_its_router_session_and_logs_in_again_after_it_is_killed(lab: Lab, lab_db, tmp_path: Path):
    store = Store(lab_db)
    token = create_token(store, "noc", "operator")
    store.engine.dispose()
    env = {**os.environ, "ENFORCER_INVENTORY": str(lab.inventory_path), "ENFORCER_DB": lab_db,
           "ENFORCER_OUTPUT": str(tmp_path / "out")}
    hosts = ["203.0.113.201", "203.0.113.202", "203.0.113.203", "203.0.113.204"]
    with serve_process(serve_options=["--interval", "3600"], env=env, log=tmp_path / "serve.log") as url, \
            httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:

        def block(host: str) -> None:
            r = client.post("/v1/decisions", json={"target": host, "violation": "malware-hosting"})
            assert r.status_code == 201, r.text
            assert probes.kernel_route(lab.edge, f"{host}/32", within=120), (tmp_path / "serve.log").read_text()

        block(hosts[0])
        wait_for(lambda: len(_sessions(lab)) == 1, timeout=30, what="serve's one session to the edge")
        [first] = _sessions(lab)
        block(hosts[1])
        assert _sessions(lab) == [first]  # the second push went over the same login

        os.kill(first, signal.SIGKILL)
        wait_for(lambda: first not in _sessions(lab), timeout=30, what="the killed session gone")
        confirmed = _confirmations(lab)
        block(hosts[2])
        [second] = _sessions(lab)
        assert second != first  # a new login, and the decision after the kill is on the router

        # A NOC edit between two pushes: the warm push planned on the last read-back is refused by
        # the router (nothing applied), and the retry on a new login reads the edit and keeps it.
        # Between: after the push's read-back (the route is in the kernel before it), not during it.
        wait_for(lambda: _confirmations(lab) > confirmed, timeout=60, what="the push confirmed after its read-back")
        probes.vtysh(lab.edge, "configure terminal", "ip route 192.0.2.79/32 Null0")
        block(hosts[3])
        running = probes.vtysh(lab.edge, "show running-config")
        assert "ip route 192.0.2.79/32 Null0\n" in running and all(f"{h}/32 Null0 tag" in running for h in hosts)
        log = (tmp_path / "serve.log").read_text()
        assert "running config changed since it was read" in log, "\n".join(
            line for line in log.splitlines() if "uvicorn" not in line)  # what serve did, when it was not that
