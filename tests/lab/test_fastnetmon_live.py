"""A real FastNetMon 1.2.4 in the lab: it sees a flood toward a customer host, calls ``enforcer hook
fastnetmon``, the upstream blackholes the host, and the block outlives FastNetMon's blind unban.

FastNetMon captures on the edge's upstream-facing interface — behind the upstream's blackhole —
so once the blackhole works it sees nothing, and unbans (``ban_time`` plus its cleanup period)
while the flood still runs. The answer under test (docs/detectors.md): the notify script passes
``--on-unban keep --ttl T``, so FastNetMon's unban is acknowledged and the block ends at its TTL,
after the flood. The flood is bounded (``timeout`` around hping3) and lasts past the blind unban.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from enforcer.api.tokens import create_token
from enforcer.lab import probes
from enforcer.lab.fastnetmon import running_fastnetmon, write_config
from enforcer.lab.probes import address, kernel_route, ping
from enforcer.store import Store

from ..helpers import serve_process, wait_for

pytestmark = pytest.mark.lab

#: Well past FastNetMon's blind unban: here it banned ~4 s into the flood, logged "Attack ... still
#: going! We should not unblock this host" on its stale counters for 30 s, then unbanned ~40 s in
#: (LAB.md: ~42 s into a 90 s flood).
FLOOD_SECONDS = 75
TTL = "100s"  # the block's life from the ban: past the flood's end


def _rx_packets(node) -> int:
    out = subprocess.run(["ip", "-n", node.netns, "-s", "-j", "link", "show", "eth0"], check=True,
                         capture_output=True, text=True).stdout  # fmt: skip
    return json.loads(out)[0]["stats64"]["rx"]["packets"]


def _no_default_route(netns: str) -> bool:
    out = subprocess.run(["ip", "-n", netns, "-j", "route", "show", "default"], capture_output=True, text=True).stdout
    return json.loads(out or "[]") == []


@pytest.fixture
def env(lab, lab_db, tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "ENFORCER_INVENTORY": str(lab.inventory_path), "ENFORCER_DB": lab_db,
            "ENFORCER_OUTPUT": str(tmp_path / "out"), "COLUMNS": "200"}  # fmt: skip


def _notify_script(folder: Path, url: str, token: str) -> Path:
    """FastNetMon's notify_script_path: it runs in the edge's namespace, enforcer serve listens on
    loopback in this process's namespace, hence the nsenter back."""
    script = folder / "notify.sh"
    script.write_text(
        "#!/bin/sh\n"
        f"export FNM_TOKEN={token}\n"
        f"exec nsenter --net=/proc/{os.getpid()}/ns/net {sys.executable} -m enforcer.cli hook fastnetmon "
        f"--url {url} --token-env FNM_TOKEN --on-unban keep --ttl {TTL} \"$@\" >> {folder / 'notify.log'} 2>&1\n"
    )
    script.chmod(0o755)
    return script


def _steady(node):
    """A probe for :func:`probes.eventually`: true once two reads, half a second apart, barely differ."""
    samples: list[int] = []

    def probe() -> bool:
        samples.append(_rx_packets(node))
        return len(samples) >= 2 and samples[-1] - samples[-2] < 5

    return probe


def test_real_fastnetmon_blackholes_a_flood_and_the_block_outlives_its_blind_unban(lab, env, tmp_path: Path):
    victim_node = lab.customer_hosts()[0]
    victim, inet = address(victim_node), lab.internet_host
    customer = next(iter(lab.inventory.customers.values()))
    assert _no_default_route(lab.edge.netns), "FastNetMon's namespace must have no way off the machine"
    assert ping(inet, victim)
    token = create_token(Store(env["ENFORCER_DB"]), "fastnetmon", "detector", ("ddos-victim", "ddos-outbound"))
    fnm = tmp_path / "fnm"
    notify_log = tmp_path / "notify.log"
    notify_log.write_text("")
    with serve_process(serve_options=["--interval", "1", "--log-level", "warning"], env=env,
                       log=tmp_path / "serve.log") as url:  # fmt: skip
        conf = write_config(fnm, interface="eth-up", networks=list(customer.prefixes),
                            notify=_notify_script(tmp_path, url, token))  # fmt: skip
        with running_fastnetmon(lab.edge.netns, conf, fnm / "fastnetmon.log"):
            flood = subprocess.Popen(["ip", "netns", "exec", inet.netns, "timeout", str(FLOOD_SECONDS), "hping3",
                                      "--udp", "-p", "9", "-i", "u200", "-q", victim],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
            try:
                assert kernel_route(lab.upstream, f"{victim}/32", type="blackhole", within=60) is not None, (
                    notify_log.read_text() + (fnm / "fastnetmon.log").read_text()[-2000:])
                assert probes.eventually(_steady(victim_node), bool, within=30, interval=0.5), "the flood still arrives"
                held = _rx_packets(victim_node)
                wait_for(lambda: "skipped" in notify_log.read_text(), timeout=60,
                         what="FastNetMon's blind unban, acknowledged and kept")  # fmt: skip
                assert flood.poll() is None, "the blind unban must come while the flood still runs"
                flood.wait(FLOOD_SECONDS + 30)
            finally:
                if flood.poll() is None:
                    flood.kill()
                    flood.wait(5)
            assert _rx_packets(victim_node) - held < 50, "flood reached the victim after the blackhole"
            assert kernel_route(lab.upstream, f"{victim}/32", type="blackhole") is not None
            assert notify_log.read_text().count("created") == 1, notify_log.read_text()  # one ban, no re-ban cycle
        # The block ends at its TTL: the serve loop expires it and the victim is reachable again.
        assert kernel_route(lab.upstream, f"{victim}/32", type="blackhole", expect=False, within=90) is None
        assert ping(inet, victim, within=30)
