"""FRR over SSH: the router's login shell is vtysh, reached with netmiko like any IOS-style device.

Reading is ``show running-config`` — the live config, so a manual change shows. Pushing a file
line by line through an interactive session is slow (25 s for 1,000 lines through netmiko), and
piping into vtysh hangs, so the candidate travels as the stdin of one SSH exec channel opened on
the same session, to the router's ``load-commit`` verb: the router checks the file's syntax
(``vtysh -C -f``), saves its running config as a checkpoint and applies the file with
``vtysh -f``, restoring the checkpoint if a line fails (``vtysh -f`` is not atomic). With
``revert_in`` the router itself restores the checkpoint unless ``commit-confirm`` arrives in
time, as Junos' ``commit confirmed`` does — so a push that cuts enforcer off heals without it.

Timeouts come from the device's ``optional_args``: ``conn_timeout`` (TCP connect, SSH handshake,
opening a channel; 5 s), ``timeout`` (one command's answer; 30 s) and ``commit_timeout`` (the
router applying a candidate; 300 s). A session that stops answering raises
:class:`~.base.DeviceUnreachable`, so the push path knows management was lost rather than refused.

Routers that only offer a plain vtysh login (no ``load-*`` verbs) are not supported by this
driver; see ``enforcer/drivers/frr_shell.py`` for the verbs a management wrapper must provide.
"""

from __future__ import annotations

import re
from typing import Any

from ..inventory import Device
from ..render import PlatformInfo
from .base import DeviceUnreachable, Driver, DriverError
from .confdiff import merge_diff

#: vtysh's error lines; netmiko raises on them only when told (docs/lab-facts.md).
VTYSH_ERROR = re.compile(r"% (Unknown|Command incomplete|Ambiguous)")
CONNECT_TIMEOUT = 5.0
#: Applying a candidate: 10,000 routes take seconds on the router, frr-reload of a rollback longer.
COMMIT_TIMEOUT = 300.0


class FrrDriver(Driver):
    def __init__(self, device: Device, timeout: float = 30.0, info: PlatformInfo | None = None):
        timeout = float(device.optional_args.get("timeout", timeout))
        if info is None:
            super().__init__(device, timeout)
        else:  # tests and tools may bring their own platform facts
            self.device, self.timeout, self.info = device, timeout, info
        self.conn_timeout = float(device.optional_args.get("conn_timeout", CONNECT_TIMEOUT))
        self.commit_timeout = float(device.optional_args.get("commit_timeout", max(timeout, COMMIT_TIMEOUT)))
        self._conn: Any = None
        self._lost = False  # the session stopped answering: close without netmiko's logout dialogue
        self._candidate: str | None = None

    # ------------------------------------------------------------------ session

    def open(self) -> None:
        from netmiko import ConnectHandler
        from netmiko.exceptions import NetmikoAuthenticationException, NetmikoTimeoutException

        dev = self.device
        if not dev.hostname:
            raise DriverError(dev.name, "no hostname in the inventory")
        user, secret = dev.credentials()
        if not user:
            raise DriverError(
                dev.name, f"username: environment variable {dev.username_env or '(none named)'} is not set"
            )
        params: dict[str, Any] = {
            "device_type": "cisco_ios",
            "host": dev.hostname,
            "port": dev.port or 22,
            "username": user,
            "conn_timeout": self.conn_timeout,
            "auth_timeout": self.conn_timeout,
            "banner_timeout": self.conn_timeout,
            "timeout": self.timeout,
            "allow_agent": False,
            "ssh_strict": False,
            "system_host_keys": False,
        }
        key_file = dev.optional_args.get("key_file")
        if key_file:
            params.update(use_keys=True, key_file=str(key_file), passphrase=secret)
        else:
            params.update(password=secret, use_keys=False)
        try:
            self._conn = ConnectHandler(**params)
        except NetmikoAuthenticationException as exc:
            raise DriverError(dev.name, f"authentication failed for {user}@{dev.hostname}:{params['port']}") from exc
        except (NetmikoTimeoutException, OSError, ValueError) as exc:
            raise DeviceUnreachable(dev.name, f"cannot reach {dev.hostname}:{params['port']}: {_short(exc)}") from exc
        except Exception as exc:  # paramiko's SSHException and friends
            raise DeviceUnreachable(dev.name, f"SSH session failed: {_short(exc)}") from exc
        self._lost = False

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if self._lost:
                # netmiko's logout waits up to 10 s for a prompt that cannot come: drop the transport
                # first, so its goodbye fails at once; disconnect() still releases netmiko's resources.
                conn.paramiko_cleanup()
            conn.disconnect()
        except Exception:  # noqa: BLE001 - close never raises
            pass

    def _gone(self, what: str, reason: str) -> DeviceUnreachable:
        """The session stopped answering: remember it for close(), and say so."""
        self._lost = True
        return DeviceUnreachable(self.device.name, f"{what}: {reason}")

    def _session(self) -> Any:
        if self._conn is None:
            raise DriverError(self.device.name, "not connected (call open() first)")
        return self._conn

    def _exec(self, command: str, stdin: str | None = None, timeout: float | None = None) -> tuple[int, str]:
        """One command on a fresh exec channel of the open session: (exit status, stdout+stderr)."""
        try:
            transport = self._session().remote_conn_pre.get_transport()
            chan = transport.open_session(timeout=self.conn_timeout)
            chan.settimeout(timeout or self.timeout)
            chan.set_combine_stderr(True)
            chan.exec_command(command)
            if stdin:
                chan.sendall(stdin.encode())
            chan.shutdown_write()
            chunks = []
            while data := chan.recv(65536):
                chunks.append(data)
            if not chan.status_event.wait(timeout or self.timeout):  # recv_exit_status() waits forever
                raise TimeoutError
            status = chan.recv_exit_status()
            chan.close()
        except DriverError:
            raise
        except TimeoutError as exc:
            raise self._gone(command.split()[0], f"no answer within {timeout or self.timeout:.0f}s") from exc
        except Exception as exc:  # the session died under us
            raise self._gone(command.split()[0], _short(exc)) from exc
        return status, b"".join(chunks).decode(errors="replace")

    # ------------------------------------------------------------------ state

    def cli(self, commands: list[str]) -> dict[str, str]:
        """Show commands through the interactive vtysh session (like NAPALM's ``cli``)."""
        out = {}
        for cmd in commands:
            try:
                text = self._session().send_command(cmd, read_timeout=self.timeout)
            except DriverError:
                raise
            except Exception as exc:  # netmiko's ReadTimeout, a closed socket
                raise self._gone(cmd, _short(exc)) from exc
            if VTYSH_ERROR.search(text):
                raise DriverError(self.device.name, f"{cmd}: {text.strip()[:200]}")
            out[cmd] = text
        return out

    def get_facts(self) -> dict[str, Any]:
        text = self.cli(["show version"])["show version"]
        m = re.search(r"FRRouting (\S+) \((\S+)\)", text)
        return {
            "vendor": "FRRouting",
            "model": "FRR",
            "os_version": m.group(1) if m else "",
            "hostname": m.group(2) if m else "",
            "fqdn": m.group(2) if m else "",
            "serial_number": "",
            "uptime": -1,
            "interface_list": [],
        }

    def get_config(self) -> str:
        status, text = self._exec("show running-config")
        if status != 0 or VTYSH_ERROR.search(text):
            raise DriverError(self.device.name, f"show running-config failed: {text.strip()[:200]}")
        return text

    # ------------------------------------------------------------------ candidate / commit

    def load_merge_candidate(self, config: str) -> None:
        """Keep the candidate after the router has checked its syntax (``vtysh -C``)."""
        status, text = self._exec("load-check", stdin=config)
        if status != 0:
            raise DriverError(self.device.name, f"candidate refused by syntax check: {text.strip()[:300]}")
        self._candidate = config

    def compare_config(self) -> str:
        """What the candidate would change, computed against the live running config."""
        if self._candidate is None:
            return ""
        return merge_diff(self.get_config(), self._candidate, self.info.comment)

    def commit_config(self, revert_in: int | None = None) -> None:
        if self._candidate is None:
            raise DriverError(self.device.name, "nothing to commit (load a candidate first)")
        verb = "load-commit" if revert_in is None else f"load-commit confirmed {int(revert_in)}"
        status, text = self._exec(verb, stdin=self._candidate, timeout=self.commit_timeout)
        if status != 0:
            raise DriverError(self.device.name, f"commit failed, previous config restored: {text.strip()[:300]}")
        self._candidate = None

    def confirm_commit(self) -> None:
        status, text = self._exec("commit-confirm")
        if status != 0:
            raise DriverError(self.device.name, f"confirm failed: {text.strip()[:200]}")

    def has_pending_commit(self) -> bool:
        status, text = self._exec("commit-pending")
        return status == 0 and bool(text.strip())

    def discard_config(self) -> None:
        self._candidate = None

    def rollback(self) -> None:
        status, text = self._exec("commit-rollback", timeout=self.commit_timeout)
        if status != 0:
            raise DriverError(self.device.name, f"rollback failed: {text.strip()[:300]}")


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
