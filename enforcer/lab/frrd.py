"""One FRR instance (zebra, staticd, bgpd) per namespace, entirely inside a private directory.

Each daemon runs under ``unshare --uts`` with the router's hostname, so ``show running-config``
names the router; vtysh always gets ``--vty_socket`` and ``--config_dir`` so it never touches
``/etc/frr``. Readiness is polled (zserv.api, the vty sockets), never slept for.
"""

from __future__ import annotations

import json
import os
import pwd
import shlex
from dataclasses import dataclass
from pathlib import Path

from .proc import LabError, read_pid, run, wait_for

FRR_BIN = Path("/usr/lib/frr")
DAEMONS = ("zebra", "staticd", "bgpd")


@dataclass(frozen=True)
class FrrInstance:
    """Paths of one router's private FRR directory: ``DIR/etc``, ``DIR/run``, ``DIR/log``."""

    name: str
    netns: str
    root: Path

    @property
    def etc(self) -> Path:
        return self.root / "etc"

    @property
    def rundir(self) -> Path:
        return self.root / "run"

    @property
    def logdir(self) -> Path:
        return self.root / "log"

    def vtysh_argv(self) -> list[str]:
        return ["vtysh", "--vty_socket", str(self.rundir), "--config_dir", str(self.etc)]

    def vtysh(self, *commands: str, check: bool = True, timeout: float = 30.0) -> str:
        """Run ``vtysh -c …`` for each command (from the root namespace: vty sockets are files)."""
        argv = self.vtysh_argv()
        for c in commands:
            argv += ["-c", c]
        return run(argv, check=check, timeout=timeout).stdout

    def configure(self, *lines: str) -> None:
        """Apply configuration lines in one vtysh call (``configure terminal`` implied)."""
        self.vtysh("configure terminal", *lines)

    def pid_files(self) -> dict[str, Path]:
        return {d: self.rundir / f"{d}.pid" for d in DAEMONS}

    def pids(self) -> dict[str, int]:
        out = {}
        for d, path in self.pid_files().items():
            pid = read_pid(path)
            if pid is not None:
                out[d] = pid
        return out

    # -------------------------------------------------------------- lifecycle

    def prepare(self, config: str) -> None:
        frr = pwd.getpwnam("frr")
        for d in (self.root, self.etc, self.rundir, self.logdir):
            d.mkdir(parents=True, exist_ok=True)
            os.chown(d, frr.pw_uid, frr.pw_gid)
        files = {
            "frr.conf": config,
            "vtysh.conf": f"service integrated-vtysh-config\nhostname {self.name}\n",
            **{f"{d}.conf": "" for d in DAEMONS},
        }
        for fname, text in files.items():
            path = self.etc / fname
            path.write_text(text)
            os.chown(path, frr.pw_uid, frr.pw_gid)

    def _start(self, daemon: str, extra: list[str]) -> None:
        argv = [
            str(FRR_BIN / daemon),
            "-d",
            "-A",
            "127.0.0.1",
            "-P",
            "0",
            "-f",
            str(self.etc / f"{daemon}.conf"),
            "-i",
            str(self.rundir / f"{daemon}.pid"),
            "--vty_socket",
            str(self.rundir),
            "-z",
            str(self.rundir / "zserv.api"),
            "--log",
            f"file:{self.logdir / daemon}.log",
            *extra,
        ]
        # The hostname comes from uname(): give each router its own UTS namespace.
        script = f"hostname {shlex.quote(self.name)} && exec {shlex.join(argv)}"
        run(["unshare", "--uts", "sh", "-c", script], netns=self.netns, timeout=15)

    def start(self) -> None:
        """Start the daemons in order and load ``frr.conf``; returns once every vty answers."""
        self._start("zebra", ["-s", "90000000"])
        wait_for(f"{self.name}: zebra's zserv.api", lambda: (self.rundir / "zserv.api").exists(), 10)
        self._start("staticd", [])
        self._start("bgpd", [])
        for d in DAEMONS:
            wait_for(f"{self.name}: {d}.vty", lambda d=d: (self.rundir / f"{d}.vty").exists(), 10)
        wait_for(f"{self.name}: pid files", lambda: len(self.pids()) == len(DAEMONS), 10)
        proc = run(self.vtysh_argv() + ["-b"], check=False, timeout=30)
        if proc.returncode != 0:
            raise LabError(f"{self.name}: loading frr.conf failed: {(proc.stdout + proc.stderr).strip()[:500]}")

    # -------------------------------------------------------------- baseline

    @property
    def baseline(self) -> Path:
        return self.root / "baseline.conf"

    def running_config(self) -> str:
        """``show running-config`` without its banner (loadable again)."""
        lines = self.vtysh("show running-config").splitlines()
        while lines and (not lines[0].strip() or lines[0].startswith(("Building", "Current configuration"))):
            lines.pop(0)
        return "\n".join(lines) + "\n"

    def save_baseline(self) -> None:
        self.baseline.write_text(self.running_config())

    def restore_baseline(self) -> None:
        """Make the running config equal the baseline again (frr-reload applies only the delta)."""
        if self.running_config() == self.baseline.read_text():
            return
        tmp = self.root / "reload"
        tmp.mkdir(exist_ok=True)
        run(["/usr/lib/frr/frr-reload.py", "--reload", "--stdout", "--bindir", "/usr/bin", "--confdir", str(self.etc),
             "--rundir", str(tmp), "--vty_socket", str(self.rundir), str(self.baseline)], timeout=120)  # fmt: skip

    # -------------------------------------------------------------- state

    def bgp_neighbors(self) -> dict[str, str]:
        """Neighbor address → BGP state (``Established``, ``Active``, …)."""
        data = json.loads(self.vtysh("show bgp neighbors json") or "{}")
        return {addr: info.get("bgpState", "?") for addr, info in data.items() if isinstance(info, dict)}

    def established(self, neighbors: list[str]) -> bool:
        states = self.bgp_neighbors()
        return all(states.get(n) == "Established" for n in neighbors)
