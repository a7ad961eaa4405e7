"""GoBGP (Debian ``gobgpd`` 3.10) as the customer router: a second BGP implementation against the edge.

It shares the customer router's namespace with FRR (which then keeps only zebra's routes: a
default towards the edge), so it does not listen on :179 (``port = -1``) and dials the edge from its
interconnect address. Its gRPC API listens on the namespace's own loopback, so ``gobgp`` run in
that namespace talks to this lab's daemon and no other. Routes are injected with ``gobgp global rib
add``: GoBGP has no ``network`` statement, and it answers a ROUTE-REFRESH at once — which is why an
edge that binds a prefix-list before creating it loses the customer's prefixes (docs/lab-facts.md).
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from ipaddress import IPv4Network
from pathlib import Path

from .proc import LabError, run, wait_for
from .templating import render_config
from .topology import Router, Topology

GOBGPD = "/usr/bin/gobgpd"
API = "127.0.0.1:50051"


@dataclass(frozen=True)
class GoBgpInstance:
    """One gobgpd in ``netns``, its configuration and log under ``root``."""

    router: Router
    netns: str
    root: Path

    @property
    def config(self) -> Path:
        return self.root / "gobgpd.toml"

    def start(self, config: str) -> int:
        """Start gobgpd; its PID once the API answers (the session comes up on its own)."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.config.write_text(config)
        run([GOBGPD, "--dry-run", "-f", str(self.config)])
        log = (self.root / "gobgpd.log").open("ab")
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.netns, GOBGPD, "-f", str(self.config), "-t", "toml", "-p",
             "--api-hosts", API, "--pprof-disable"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
        )  # fmt: skip
        log.close()
        wait_for(f"{self.router.name}: gobgpd API on {API}", lambda: self.gobgp("global", check=False).returncode == 0
                 or proc.poll() is not None, 10)  # fmt: skip
        if proc.poll() is not None:
            raise LabError(f"{self.router.name}: gobgpd exited {proc.returncode} (see {self.root / 'gobgpd.log'})")
        return proc.pid

    def gobgp(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run(["gobgp", "-u", API.split(":")[0], "-p", API.split(":")[1], *args], netns=self.netns, check=check)

    def announce(self, prefix: IPv4Network, on: bool = True) -> None:
        """Originate ``prefix`` (or withdraw it), as ``network``/``no network`` would on FRR."""
        self.gobgp("global", "rib", "add" if on else "del", "-a", "ipv4", str(prefix))

    def originate_only(self, prefixes: tuple[IPv4Network, ...]) -> None:
        """Make the global RIB originate exactly ``prefixes`` (``lab reset``: undo a ``hijack on``)."""
        data = json.loads(self.gobgp("global", "rib", "-a", "ipv4", "-j").stdout or "{}")
        present = {IPv4Network(p) for p in data}
        for extra in present - set(prefixes):
            self.announce(extra, on=False)
        for missing in set(prefixes) - present:
            self.announce(missing)

    def established(self) -> bool:
        data = json.loads(self.gobgp("neighbor", "-j", check=False).stdout or "[]")
        states = [(n.get("state") or {}).get("session_state") for n in data]
        return bool(states) and all(s in (6, "ESTABLISHED", "established") for s in states)


def config_for(router: Router, topology: Topology) -> str:
    """gobgpd.toml for ``router``: one session per neighbour, from the interconnect address facing it."""
    local = {}
    for n in router.neighbors:
        mine = [a for a in topology.addresses(router.name) if n.address in a.network and a.network.prefixlen < 32]
        if not mine:
            raise LabError(f"{router.name}: no interface address on the same subnet as neighbour {n.address}")
        local[n.address] = mine[0].ip
    return render_config("gobgpd.toml.j2", router=router, local_address=local)
