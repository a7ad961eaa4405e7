"""Issue 5 acceptance on the live lab: FastNetMon says ban, the host is blackholed; unban, it is back.

Both ways FastNetMon talks to enforcer: the notify script (``enforcer hook fastnetmon`` called as
FastNetMon calls ``notify_script_path``, attack details on stdin) and the JSON web callback to
``enforcer serve``, whose reconcile loop pushes — and the notify script posting to that service
(``--url``). The effect is checked where it matters: the
upstream holds the RFC 7999 blackhole route and the internet can no longer reach the victim.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from enforcer.api.tokens import create_token
from enforcer.lab import probes
from enforcer.lab.probes import address, kernel_route, ping
from enforcer.store import Store

from ..helpers import serve_process

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


@pytest.fixture
def served(env, tmp_path: Path):
    """``enforcer serve`` on a free loopback port with its reconcile loop, and a FastNetMon token."""
    token = create_token(Store(env["ENFORCER_DB"]), "fastnetmon", "detector", ("ddos-victim", "ddos-outbound"))
    with serve_process(serve_options=["--interval", "30", "--log-level", "warning"], env=env,
                       log=tmp_path / "serve.log") as url:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
            yield client


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


def test_notify_script_posting_to_serve_blackholes_at_once_and_unban_restores(lab, env, served):
    """``hook fastnetmon --url``: the serve loop pushes on the kick (its 30 s interval never comes)."""
    victim = address(lab.customer_hosts()[0])
    inet = lab.internet_host
    assert ping(inet, victim)
    details = (FIXTURES / "community_ban_stdin.txt").read_text().replace("203.0.113.10", victim)
    remote = {**env, "FNM_TOKEN": served.headers["Authorization"].removeprefix("Bearer ")}
    url = ["--url", str(served.base_url), "--token-env", "FNM_TOKEN"]

    out = notify(remote, *url, victim, "incoming", "282473", "ban", stdin=details).stdout
    assert f"created {victim}/32 ddos-victim" in out
    assert kernel_route(lab.upstream, f"{victim}/32", type="blackhole", within=20) is not None
    assert not ping(inet, victim, expect=False)

    out = notify(remote, *url, "unban", victim).stdout  # Advanced's compatibility form: no direction
    assert out.startswith(f"ended {victim}/32")
    assert kernel_route(lab.upstream, f"{victim}/32", type="blackhole", expect=False, within=20) is None
    assert ping(inet, victim, within=30)
