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
import re
import subprocess
import sys
from contextlib import contextmanager
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


@contextmanager
def _serving(env: dict[str, str], log: Path, token_name: str, categories: tuple[str, ...]):
    """``enforcer serve`` on a free loopback port with its reconcile loop, and a client holding a
    detector token limited to ``categories``."""
    token = create_token(Store(env["ENFORCER_DB"]), token_name, "detector", categories)
    with serve_process(serve_options=["--interval", "30", "--log-level", "warning"], env=env, log=log) as url:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
            yield client


@pytest.fixture
def served(env, tmp_path: Path):
    """Served, with a FastNetMon token."""
    with _serving(env, tmp_path / "serve.log", "fastnetmon", ("ddos-victim", "ddos-outbound")) as client:
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
    # One sample per device that confirmed it (labels device, platform: docs/metrics.md).
    assert re.search(r'enforcer_decision_applied_seconds_count\{[^}]*device="[^"]+"[^}]*\} 1\.0', metrics), metrics


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


@pytest.fixture
def detectors(env, tmp_path: Path):
    """Served, with a token for BGPalerter and Alertmanager (their categories only)."""
    with _serving(env, tmp_path / "serve.log", "monitors", ("bgp-hijack", "malware-hosting")) as client:
        yield client


def test_bgpalerter_hijack_alert_filters_the_hijacked_prefix_on_the_customer_session(lab, detectors):
    from enforcer.lab.topology import HIJACK_PREFIX

    cust = next(iter(lab.inventory.customers.values()))
    legit, hijacked = str(cust.prefixes[0]), str(HIJACK_PREFIX)
    lab.hijack(True)
    assert probes.bgp_has(lab.edge, hijacked) and probes.bgp_has(lab.upstream, hijacked)
    alert = json.loads((FIXTURES.parent / "bgpalerter" / "hijack_more_specific.json").read_text())
    alert.update(
        prefix=str(HIJACK_PREFIX.supernet()), newprefix=hijacked, neworigin=f"AS{cust.asn}",
        summary=f"A new prefix {hijacked} is announced by AS{cust.asn}. It should be instead "
                f"{HIJACK_PREFIX.supernet()} (internet) announced by AS64496",
    )  # fmt: skip

    r = detectors.post("/v1/hooks/bgpalerter", json=alert)
    assert r.status_code == 200 and r.json()["results"][0]["outcome"] == "created", r.text
    assert not probes.bgp_has(lab.edge, hijacked, expect=False, within=30)
    assert not probes.bgp_has(lab.upstream, hijacked, expect=False, within=30)
    assert probes.bgp_has(lab.edge, legit) and probes.bgp_has(lab.upstream, legit)


def test_alertmanager_firing_alert_null_routes_the_host_and_resolved_restores_it(lab, detectors):
    victim, neighbour = (address(h) for h in lab.customer_hosts()[:2])
    inet = lab.internet_host
    assert ping(inet, victim)
    group = json.loads((FIXTURES.parent / "alertmanager" / "firing_two_alerts.json").read_text())
    alert = group["alerts"][0]
    alert["labels"].update(src_ip=victim, violation="malware-hosting", alertname="MalwareC2Beacon")
    firing = {**group, "alerts": [alert], "commonLabels": {**alert["labels"]}}

    r = detectors.post("/v1/hooks/alertmanager", json=firing)
    assert r.status_code == 200 and r.json()["results"][0]["outcome"] == "created", r.text
    assert kernel_route(lab.edge, f"{victim}/32", type="blackhole", within=30) is not None
    assert not ping(inet, victim, expect=False)
    assert ping(inet, neighbour)

    resolved = {**firing, "status": "resolved",
                "alerts": [{**alert, "status": "resolved", "endsAt": "2024-02-06T13:20:00Z"}]}
    r = detectors.post("/v1/hooks/alertmanager", json=resolved)
    assert r.status_code == 200 and r.json()["results"][0]["outcome"] == "ended", r.text
    assert kernel_route(lab.edge, f"{victim}/32", type="blackhole", expect=False, within=30) is None
    assert ping(inet, victim, within=30)
