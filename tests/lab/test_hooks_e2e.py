"""Issue 5 acceptance on the live lab: FastNetMon says ban, the host is blackholed; unban, it is back.

Both ways FastNetMon talks to enforcer: the notify script (``enforcer hook fastnetmon`` called as
FastNetMon calls ``notify_script_path``, attack details on stdin) and the JSON web callback to
``enforcer serve``, whose reconcile loop pushes. The effect is checked where it matters: the
upstream holds the RFC 7999 blackhole route and the internet can no longer reach the victim.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from enforcer.api.tokens import create_token
from enforcer.lab import probes
from enforcer.lab.probes import address, kernel_route, ping
from enforcer.store import Store

pytestmark = pytest.mark.lab

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "hooks" / "fastnetmon"


@pytest.fixture
def env(lab, lab_db, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "ENFORCER_INVENTORY": str(lab.inventory_path),
        "ENFORCER_DB": lab_db,
        "ENFORCER_OUTPUT": str(tmp_path / "out"),
        "COLUMNS": "200",
    }


def notify(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """What FastNetMon does on ban/unban: run the script with four arguments, details on stdin."""
    proc = subprocess.run([sys.executable, "-m", "enforcer.cli", "hook", "fastnetmon", *args], input=stdin,
                          env=env, text=True, capture_output=True, timeout=180)
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    return proc


def test_fastnetmon_notify_script_ban_blackholes_the_victim_and_unban_restores_it(lab, env):
    victim = address(lab.customer_hosts()[0])
    inet = lab.internet_host
    assert ping(inet, victim)
    details = (FIXTURES / "community_ban_stdin.txt").read_text().replace("203.0.113.10", victim)

    out = notify(env, victim, "incoming", "282473", "ban", stdin=details).stdout
    assert f"created {victim}/32 ddos-victim" in out
    assert probes.bgp_has(lab.upstream, f"{victim}/32")
    assert kernel_route(lab.upstream, f"{victim}/32", type="blackhole") is not None
    assert not ping(inet, victim, expect=False)

    out = notify(env, victim, "incoming", "282473", "unban").stdout
    assert out.startswith(f"ended {victim}/32")
    assert kernel_route(lab.upstream, f"{victim}/32", type="blackhole", expect=False) is None
    assert ping(inet, victim)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(env, tmp_path: Path):
    """``enforcer serve`` on a free loopback port with its reconcile loop, and a FastNetMon token."""
    token = create_token(Store(env["ENFORCER_DB"]), "fastnetmon", "detector", ("ddos-victim", "ddos-outbound"))
    port = _free_port()
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "enforcer.cli", "serve", "--listen", f"127.0.0.1:{port}",
                             "--interval", "30", "--log-level", "warning"], env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail((tmp_path / "serve.log").read_text())
        time.sleep(0.1)
    try:
        yield httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_fastnetmon_web_callback_blackholes_through_the_served_loop_and_unban_restores(lab, served):
    victim = address(lab.customer_hosts()[0])
    inet = lab.internet_host
    assert ping(inet, victim)
    ban = json.loads((FIXTURES / "ban_incoming.json").read_text())
    ban["ip"] = victim
    unban = {**json.loads((FIXTURES / "unban_incoming.json").read_text()), "ip": victim}

    r = served.post("/v1/hooks/fastnetmon", json=ban)
    assert r.status_code == 200 and r.json()["results"][0]["outcome"] == "created", r.text
    assert kernel_route(lab.upstream, f"{victim}/32", type="blackhole", within=30) is not None
    assert not ping(inet, victim, expect=False)

    r = served.post("/v1/hooks/fastnetmon", json=unban)
    assert r.json()["results"][0]["outcome"] == "ended", r.text
    assert kernel_route(lab.upstream, f"{victim}/32", type="blackhole", expect=False, within=30) is None
    assert ping(inet, victim, within=30)
    metrics = served.get("/metrics").text
    assert "enforcer_decision_applied_seconds_count 1.0" in metrics
