"""Management access like a NOC's: an sshd per router on 127.0.0.1 whose login runs that router's shell
(and, for in-band management, one more inside the router's namespace).

Authentication is by a lab-generated ed25519 key protected by a random passphrase. The key file's
path goes into the inventory (``optional_args.key_file``); the user name and the passphrase are
secrets and live only in environment variables (:func:`credential_env`), which ``enforcer lab env``
prints for the operator's shell. A NOC keeps that key in ``ssh-agent``: :func:`ssh_agent` starts one
holding the lab key (tests and ``bench/bulk_frr.py --agent``).
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .proc import read_pid, run, stop_pid, wait_for


def env_names(lab: str) -> tuple[str, str]:
    """The variables holding the SSH user and key passphrase of lab ``lab`` (per lab, so labs coexist)."""
    tag = re.sub(r"[^A-Za-z0-9]", "_", lab).upper()
    return f"ENFORCER_LAB_{tag}_USER", f"ENFORCER_LAB_{tag}_PASSWORD"


def make_keys(sshdir: Path) -> str:
    """Host key and client key (passphrase-protected) in ``sshdir``; returns the passphrase."""
    sshdir.mkdir(parents=True, exist_ok=True)
    os.chmod(sshdir, 0o700)
    passfile = sshdir / "passphrase"
    host, client = sshdir / "host_ed25519", sshdir / "id_ed25519"
    if passfile.exists() and host.exists() and client.exists():
        return passfile.read_text().strip()
    for f in (host, client, host.with_suffix(".pub"), client.with_suffix(".pub")):
        f.unlink(missing_ok=True)
    passphrase = secrets.token_urlsafe(18)
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "lab-host", "-f", str(host)])
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", "enforcer-lab", "-f", str(client)])
    (sshdir / "authorized_keys").write_text(client.with_suffix(".pub").read_text())
    os.chmod(sshdir / "authorized_keys", 0o600)
    passfile.write_text(passphrase + "\n")
    os.chmod(passfile, 0o600)
    return passphrase


@contextmanager
def ssh_agent(key: Path, passphrase: str) -> Iterator[dict[str, str]]:
    """A private ``ssh-agent`` holding ``key`` (added with ``passphrase`` through an askpass script,
    as a NOC's ``ssh-add`` at login): yields the environment that points at it (``SSH_AUTH_SOCK``).
    The agent is stopped by its PID afterwards, its socket directory removed."""
    with tempfile.TemporaryDirectory(prefix="enforcer-agent-") as folder:
        sock, askpass = Path(folder) / "agent.sock", Path(folder) / "askpass"
        askpass.write_text('#!/bin/sh\nprintf "%s\\n" "$ENFORCER_ASKPASS_SECRET"\n')
        askpass.chmod(0o700)
        agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            wait_for("ssh-agent socket", sock.exists, 10)
            env = {"SSH_AUTH_SOCK": str(sock)}
            run(["env", f"SSH_AUTH_SOCK={sock}", f"SSH_ASKPASS={askpass}", "SSH_ASKPASS_REQUIRE=force",
                 f"ENFORCER_ASKPASS_SECRET={passphrase}", "ssh-add", "-q", str(key)])  # fmt: skip
            yield env
        finally:
            stop_pid(agent.pid, "ssh-agent")
            agent.wait(5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def force_command(router_dir: Path, router: str) -> str:
    """The login shell of a lab router: :mod:`enforcer.drivers.frr_shell` run by this Python, as the
    plain standard-library script it is (``-I -S``: no site-packages scan, 0.2–0.3 s per SSH exec here)."""
    from enforcer.drivers import frr_shell

    return f"{sys.executable} -I -S {Path(frr_shell.__file__).resolve()} --dir {router_dir} --name {router}"


def start_sshd(
    sshdir: Path, router: str, port: int, command: str, *, address: str = "127.0.0.1", netns: str | None = None
) -> int:
    """Start one sshd on ``address:port`` for ``router`` (inside ``netns`` if given); its PID once it listens.

    ``router`` names the config, PID and log files (``sshd-ROUTER.*``), so one router may have several.
    """
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege-separation directory
    config = sshdir / f"sshd-{router}.conf"
    pidfile = sshdir / f"sshd-{router}.pid"
    pidfile.unlink(missing_ok=True)
    config.write_text(
        "\n".join(
            [
                f"Port {port}",
                f"ListenAddress {address}",
                f"HostKey {sshdir / 'host_ed25519'}",
                f"PidFile {pidfile}",
                f"AuthorizedKeysFile {sshdir / 'authorized_keys'}",
                "AuthenticationMethods publickey",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PermitRootLogin prohibit-password",
                "AllowUsers root",
                "UsePAM no",
                "StrictModes no",
                "PrintMotd no",
                "PrintLastLog no",
                "X11Forwarding no",
                "AllowTcpForwarding no",
                "AllowAgentForwarding no",
                "PermitUserEnvironment no",
                # sshd runs the ForceCommand through root's bash, which sources ~/.bashrc when started
                # by sshd at shell level 1 (Debian's SSH_SOURCE_BASHRC); this machine's runs `pyenv
                # init`, 0.8-1 s on every SSH exec, where a router's management login runs nothing.
                # At level 2 bash skips it.
                "SetEnv SHLVL=1",
                "MaxSessions 20",
                "MaxStartups 50",
                "LogLevel INFO",
                f"ForceCommand {command}",
                "",
            ]
        )
    )
    run(["/usr/sbin/sshd", "-f", str(config), "-E", str(sshdir / f"sshd-{router}.log")], netns=netns)
    pid = wait_for(f"{router}: sshd pid file", lambda: read_pid(pidfile), 10)
    wait_for(f"{router}: sshd listening on {address}:{port}", lambda: _listening(address, port, netns), 10)
    return pid


def _listening(address: str, port: int, netns: str | None) -> bool:
    if netns is None:
        with socket.socket() as s:
            s.settimeout(0.5)
            return s.connect_ex((address, port)) == 0
    out = run(["ss", "-Htln", f"src {address} and sport = :{port}"], netns=netns, check=False).stdout
    return bool(out.strip())
