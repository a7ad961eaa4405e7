"""The Linux driver's commands on a remote box over SSH: the same argv and stdin, another transport.

A ``transport: linux`` device with a ``hostname`` and no ``netns`` is a remote Linux box (a hosting
provider's edge or firewall): every command the driver runs — ``nft``, and the checkpoint, commit
and revert-timer scripts — goes over one SSH session (paramiko), so the atomic ``nft -f`` and the
timer that survives a lost session are exactly the local ones. Host keys are always checked: the
device's ``optional_args.known_hosts`` (default ``~/.ssh/known_hosts``) must hold the box's key,
and an unknown or changed key refuses the connection. Authentication: ``optional_args.key_file``,
else the SSH agent and ``~/.ssh`` keys, else the device's password.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from ..extras import missing_extra
from ..inventory import Device
from .base import AuthenticationFailed
from .keys import open_key
from .linux import NetnsRunner, Runner


def runner_for(device: Device) -> Runner:
    """SSH when the device names a ``hostname`` and no ``netns``; otherwise this machine, in its namespace."""
    if device.hostname and not device.netns:
        return SshRunner(device)
    return NetnsRunner(device.netns)


class SshRunner(Runner):
    """Runs each command through ``exec_command`` on one kept-open SSH connection to the device."""

    def __init__(self, device: Device, connect_timeout: float = 10.0):
        self.device = device
        self.connect_timeout = connect_timeout
        self._client: Any = None

    def _connect(self) -> Any:
        try:
            import paramiko
        except ImportError as exc:
            raise OSError(str(missing_extra(exc) or exc)) from None
        dev = self.device
        args = dev.optional_args
        user, password = dev.credentials()
        client = paramiko.SSHClient()
        client.load_host_keys(str(Path(args.get("known_hosts", "~/.ssh/known_hosts")).expanduser()))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        key_file = args.get("key_file")
        # A key that will not open is an authentication failure, said before any connection.
        pkey = open_key(dev, str(Path(key_file).expanduser()), password) if key_file else None
        try:
            client.connect(dev.hostname, port=dev.port or 22, username=user, password=None if pkey else password,
                           pkey=pkey,
                           timeout=self.connect_timeout, banner_timeout=self.connect_timeout,
                           auth_timeout=self.connect_timeout, allow_agent=not key_file,
                           look_for_keys=not key_file)  # fmt: skip
        except paramiko.AuthenticationException as exc:
            client.close()
            raise AuthenticationFailed(
                dev.name, f"authentication failed for {user or ''}@{dev.hostname}: {exc}"
            ) from None
        except (OSError, paramiko.SSHException) as exc:  # BadHostKeyException, refused, timeout
            client.close()
            raise OSError(f"ssh {user or ''}@{dev.hostname}:{dev.port or 22}: {exc}") from None
        return client

    def run(self, argv: list[str], stdin: str | None = None, timeout: float = 30.0) -> tuple[int, str, str]:
        if self._client is None or not self._client.get_transport() or not self._client.get_transport().is_active():
            self._client = self._connect()
        import paramiko

        try:
            chan_in, chan_out, chan_err = self._client.exec_command(shlex.join(argv), timeout=timeout)
            if stdin is not None:
                chan_in.write(stdin)
            chan_in.channel.shutdown_write()
            out, err = chan_out.read().decode(), chan_err.read().decode()
            return chan_out.channel.recv_exit_status(), out, err
        except (OSError, paramiko.SSHException) as exc:
            self.close()
            raise OSError(f"ssh {self.device.hostname}: {exc}") from None

    def alive(self) -> bool:
        transport = self._client.get_transport() if self._client is not None else None
        if transport is None or not transport.is_active():
            return False
        transport.send_ignore()
        return transport.is_active()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
