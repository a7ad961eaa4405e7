"""A Linux box reached only over SSH: a network namespace with nftables and its own sshd.

For proving the Linux driver remote: the namespace joins this machine by one veth with
link-local addresses (nothing routes beyond it), runs an sshd on its end with a fresh host key
and one authorised client key, and is never entered with ``ip netns exec`` by the code under test.
Torn down by the sshd's PID and the namespace's name.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .proc import run, stop_pid, wait_for

SSHD_CONFIG = """\
ListenAddress {address}
Port 22
HostKey {dir}/host_key
PidFile {dir}/sshd.pid
AuthorizedKeysFile {dir}/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
"""


@dataclass(frozen=True)
class SshHost:
    netns: str
    address: str
    key_file: Path
    known_hosts: Path


def _veth_addresses(slot: int) -> tuple[str, str]:
    """This machine's and the box's end of a /30 in 169.254.0.0/16 (link-local: never routed on)."""
    base = 4 * (slot % 16000) + 1024
    return f"169.254.{base // 256}.{base % 256 + 1}", f"169.254.{base // 256}.{base % 256 + 2}"


@contextmanager
def ssh_only_host(folder: Path, name: str, slot: int) -> Iterator[SshHost]:
    """The box ``name`` (a namespace and veth ``name``), its sshd, and a client key it accepts."""
    folder.mkdir(parents=True, exist_ok=True)
    here, there = _veth_addresses(slot)
    run(["ip", "netns", "add", name])
    sshd_pid = None
    try:
        run(["ip", "link", "add", name, "type", "veth", "peer", "name", "eth0", "netns", name])
        run(["ip", "addr", "add", f"{here}/30", "dev", name])
        run(["ip", "link", "set", name, "up"])
        run(["ip", "-n", name, "addr", "add", f"{there}/30", "dev", "eth0"])
        run(["ip", "-n", name, "link", "set", "eth0", "up"])
        run(["ip", "-n", name, "link", "set", "lo", "up"])
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / "host_key")])
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / "client_key")])
        (folder / "authorized_keys").write_text((folder / "client_key.pub").read_text())
        host_pub = (folder / "host_key.pub").read_text().split()
        (folder / "known_hosts").write_text(f"{there} {host_pub[0]} {host_pub[1]}\n")
        (folder / "sshd_config").write_text(SSHD_CONFIG.format(address=there, dir=folder))
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege-separation directory
        run(["ip", "netns", "exec", name, "/usr/sbin/sshd", "-f", str(folder / "sshd_config")])
        pid_file = folder / "sshd.pid"
        wait_for("sshd in the box", lambda: pid_file.exists() and pid_file.read_text().strip(), timeout=10)
        sshd_pid = int(pid_file.read_text())
        wait_for("sshd listening", lambda: _listening(name, there), timeout=10)
        yield SshHost(name, there, folder / "client_key", folder / "known_hosts")
    finally:
        if sshd_pid is not None:
            stop_pid(sshd_pid, marker="sshd")
        subprocess.run(["ip", "link", "del", name], capture_output=True)
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def _listening(netns: str, address: str) -> bool:
    out = run(["ss", "-Hltn", f"src {address}"], netns=netns, check=False).stdout
    return ":22" in out
