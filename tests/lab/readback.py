"""What the lab's three devices really hold, read from the devices, for the crash and two-instance tests.

Each reader counts enforcer's null routes the way the device prints them — FRR's running
config (``ip route P Null0 tag 667``), the nftables ``null-v4`` set's elements (``nft -j``), the
switch's flows by enforcer's cookie (``ovs-ofctl dump-flows``) — so a duplicate shows as a count
of 2 and a loss as a missing key. ``foreign`` is everything else on the devices (the operator's
routes, tables and flows), to compare byte for byte before and after. ``expected`` is the store's
side: the targets of the active decisions.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from ipaddress import ip_network
from pathlib import Path

from enforcer.lab import ovs, probes
from enforcer.lab.proc import run
from enforcer.lab.testing import Lab
from enforcer.lab.topology import netns_name
from enforcer.store import Store

FRR_NULL = re.compile(r"^ip route (\S+) Null0 tag 667$")
OVS_FLOW = re.compile(r"cookie=(0x[0-9a-f]+),.*\b(nw_dst|nw_src)=([0-9.]+(?:/\d+)?)[ ,]")
ENFORCER_COOKIE = 0xE4F0 << 48
COOKIE_MASK = 0xFFFF << 48


@dataclass(frozen=True)
class Held:
    """Enforcer's null routes as each device holds them: target → how many times."""

    frr: Counter[str]
    nft: Counter[str]
    ovs_dst: Counter[str]
    ovs_src: Counter[str]

    def exactly(self, targets: set[str]) -> bool:
        """Every target held once on every device, and nothing else."""
        once = Counter(targets)
        return all(c == once for c in (self.frr, self.nft, self.ovs_dst, self.ovs_src))

    def problems(self, targets: set[str]) -> dict[str, dict[str, list[str]]]:
        """Per device: targets missing (lost), held twice or more (duplicate), held but not wanted."""
        out = {}
        for name in ("frr", "nft", "ovs_dst", "ovs_src"):
            held: Counter[str] = getattr(self, name)
            out[name] = {"lost": sorted(targets - set(held)), "duplicate": sorted(t for t, n in held.items() if n > 1),
                         "unwanted": sorted(set(held) - targets)}  # fmt: skip
        return out


def _prefix(text: str) -> str:
    return str(ip_network(text))


def _edge_ns(lab: Lab) -> str:
    return netns_name(lab.name, lab.edge.name)


def held(lab: Lab) -> Held:
    running = probes.vtysh(lab.edge, "show running-config").splitlines()
    frr = Counter(_prefix(m[1]) for line in running if (m := FRR_NULL.match(line)))
    return Held(frr=frr, nft=_nft_null_set(lab), **_ovs_null_flows(lab))


def _nft_null_set(lab: Lab) -> Counter[str]:
    proc = run(["nft", "-j", "list", "set", "inet", "enforcer", "null-v4"], netns=_edge_ns(lab), check=False)
    if proc.returncode != 0:  # no enforcer table (nothing pushed yet, or everything removed)
        return Counter()
    [nft_set] = [item["set"] for item in json.loads(proc.stdout)["nftables"] if "set" in item]
    found: Counter[str] = Counter()
    for element in nft_set.get("elem", []):
        value = element["elem"]["val"] if isinstance(element, dict) and "elem" in element else element
        if isinstance(value, dict) and "prefix" in value:
            value = f"{value['prefix']['addr']}/{value['prefix']['len']}"
        found[_prefix(value)] += 1
    return found


def _flows(lab: Lab) -> list[str]:
    return [line.strip() for line in ovs.ofctl(lab.state_dir / "ovs", "dump-flows", "--no-stats").splitlines()
            if line.strip().startswith("cookie=")]  # fmt: skip


def _ovs_null_flows(lab: Lab) -> dict[str, Counter[str]]:
    sides: dict[str, Counter[str]] = {"ovs_dst": Counter(), "ovs_src": Counter()}
    for line in _flows(lab):
        m = OVS_FLOW.search(line + " ")
        if m and int(m[1], 16) & COOKIE_MASK == ENFORCER_COOKIE and "actions=drop" in line:
            sides["ovs_dst" if m[2] == "nw_dst" else "ovs_src"][_prefix(m[3])] += 1
    return sides


def foreign(lab: Lab) -> dict[str, str]:
    """The operator's configuration on each device, as the device prints it, enforcer's own left out."""
    running = probes.vtysh(lab.edge, "show running-config").splitlines()
    ns = _edge_ns(lab)
    tables = run(["nft", "list", "tables"], netns=ns).stdout.split()
    pairs = [(tables[i + 1], tables[i + 2]) for i in range(0, len(tables), 3)]  # "table FAMILY NAME"
    nft = "".join(run(["nft", "list", "table", fam, name], netns=ns).stdout
                  for fam, name in pairs if (fam, name) != ("inet", "enforcer"))  # fmt: skip
    flows = [f for f in _flows(lab) if int(f.split(",")[0].removeprefix("cookie="), 16) & COOKIE_MASK != ENFORCER_COOKIE]
    return {"frr": "\n".join(line for line in running if not FRR_NULL.match(line)), "nft": nft,
            "ovs": "\n".join(flows)}  # fmt: skip


def expected(store: Store) -> set[str]:
    """The targets the store wants null-routed: its active enforcements."""
    return {str(e.target) for e in store.active_enforcements()}


def pending_commits(lab: Lab) -> list[Path]:
    """Commit-confirms still open on the edge (FRR's and the firewall's): a converged lab has none."""
    frr = lab.state_dir / "routers" / lab.edge.name / "commits" / "pending.json"
    linux = lab.state_dir / "linux"
    return [p for p in [frr, *(linux.glob("*/pending") if linux.exists() else [])] if p.exists()]
