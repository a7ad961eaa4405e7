"""docs/lab-facts.md's statements about enforcer's own lab (not about the daemons): how a lab router's
SSH login starts its shell, and the order of the lab's FRR configuration. What the daemons do is
the lab tests' (tests/lab) to prove against the daemons themselves."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from enforcer.drivers import frr_shell
from enforcer.lab import mgmt

from .conftest import REPO

DOC = " ".join((REPO / "docs" / "lab-facts.md").read_text().split())


def test_a_lab_routers_login_runs_the_shell_as_a_plain_isolated_script():
    assert "The device shell itself runs as `python -I -S frr_shell.py` (`enforcer/lab/mgmt.py`)" in DOC
    command = mgmt.force_command(Path("/tmp/r"), "edge")
    assert command.split()[:4] == [sys.executable, "-I", "-S", str(Path(frr_shell.__file__).resolve())]


def test_the_lab_sshd_sets_shlvl_1_so_bash_skips_bashrc(tmp_path: Path, monkeypatch):
    assert "the lab's sshd sets `SetEnv SHLVL=1`" in DOC
    monkeypatch.setattr(mgmt, "run", lambda *a, **k: None)  # the config only: no sshd is started
    monkeypatch.setattr(mgmt, "wait_for", lambda *a, **k: 4242)
    assert mgmt.start_sshd(tmp_path, "edge", 2222, "/bin/true") == 4242
    config = (tmp_path / "sshd-edge.conf").read_text().splitlines()
    assert "SetEnv SHLVL=1" in config and "ForceCommand /bin/true" in config


def test_the_lab_frr_conf_defines_its_lists_and_route_maps_before_router_bgp():
    assert "The lab's `frr.conf` therefore defines prefix-lists and route-maps before `router bgp`." in DOC
    lines = (REPO / "enforcer" / "lab" / "configs" / "frr.conf.j2").read_text().splitlines()
    bgp = next(i for i, ln in enumerate(lines) if ln.startswith("router bgp"))
    defined = [
        i for i, ln in enumerate(lines) if re.match(r"(ip |ipv6 )?(prefix-list|route-map|bgp community-list) ", ln)
    ]
    assert defined and max(defined) < bgp
