"""FRR over SSH: the router's login shell is vtysh (an interactive login, reached with netmiko like
any IOS-style device, for :meth:`FrrDriver.cli`), and each command is an SSH exec of its shell.

Reading is ``show running-config`` — the live config, so a manual change shows — on an exec
channel of one kept-open SSH connection (paramiko). Pushing a file line by line through an
interactive session is slow (25 s for 1,000 lines through netmiko), and piping into vtysh hangs,
so the candidate travels once, as the stdin of one SSH exec channel, to the router's
``load-commit`` verb, together with the file that
undoes it (:func:`~.undo.undo_candidate`: enforcer's lines only, so a revert never wipes a NOC
edit). In that one round trip the router checks the file's syntax (``vtysh -C -f``), keeps the
undo, applies the file with ``vtysh -f`` (undoing it if a line fails: ``vtysh -f`` is not
atomic) and prints its running config after, which is the push's read-back. A push is one SSH
exec: with ``revert_in`` the router then waits on that channel (``hold``) for ``commit-confirm``,
which the driver sends once the read-back matched (:meth:`confirm_commit`); a push that cuts
management cuts that channel, and the router's timer reverts the commit as before.

Every exec is a login on the router, so a warm session (``enforcer serve``'s worker between full
reads, :meth:`reuse_reads`) plans against the running config its last commit read back instead of
reading it again; the commit then names that config's SHA-256 (``if-running``) and the router
refuses, applying nothing, if its running config is no longer that one — a NOC edit in between —
so the push fails before any change and the worker retries on a new session that reads it all.

With ``revert_in`` the router itself applies the undo unless ``commit-confirm`` arrives in time, as Junos' ``commit
confirmed`` does — so a push that cuts enforcer off heals without it. While such a commit is
pending the router refuses another one (NAPALM's contract): a second pusher never cancels the
first one's revert.

Timeouts come from the device's ``optional_args``: ``conn_timeout`` (TCP connect, SSH handshake,
opening a channel; 5 s), ``timeout`` (one command's answer; 30 s) and ``commit_timeout`` (the
router applying a candidate; 300 s). A session that stops answering raises
:class:`~.base.DeviceUnreachable`, so the push path knows management was lost rather than refused.

Routers that only offer a plain vtysh login (no ``load-*`` verbs) are not supported by this
driver; see ``enforcer/drivers/frr_shell.py`` for the verbs a management wrapper must provide.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from ipaddress import ip_network
from typing import Any

from ..inventory import Device
from ..render import PlatformInfo
from .base import AuthenticationFailed, CommitRefused, DeviceUnreachable, Driver, DriverError
from .confdiff import merge_diff
from .frr_shell import (
    AWAIT_MARK,
    END_MARK,
    INCOMPLETE_REFUSED,
    PENDING_REFUSED,
    RUNNING_MARK,
    STALE_REFUSED,
    SYNTAX_REFUSED,
    UNDO_MARK,
)
from .keys import open_key
from .undo import undo_candidate

log = logging.getLogger("enforcer.drivers.frr")

#: vtysh's error lines; netmiko raises on them only when told (docs/lab-facts.md).
VTYSH_ERROR = re.compile(r"% (Unknown|Command incomplete|Ambiguous)")
CONNECT_TIMEOUT = 5.0
#: Applying a candidate: 10,000 routes take seconds on the router, frr-reload of a rollback longer.
COMMIT_TIMEOUT = 300.0


class OutdatedShell(CommitRefused):
    """The router's ``enforcer-frr-shell`` does not know what this driver asks (it answered with its
    usage line, or vtysh did not know the verb at all): nothing was applied; deploy the shell."""


#: An older shell's answer to options it does not know, or vtysh's to a verb it has never heard of.
_OUTDATED = re.compile(r"% usage: load-commit|% Unknown command[^\n]*load-commit")


class StaleConfig(CommitRefused):
    """The router's running config is not the one the push was planned on (``if-running``): nothing
    was applied; plan again from a fresh read. (A refusal, like a pending commit's: the push path
    discards, never rolls back — a rollback would take back the previous commit.)"""


class FrrDriver(Driver):
    def __init__(self, device: Device, timeout: float = 30.0, info: PlatformInfo | None = None):
        timeout = float(device.optional_args.get("timeout", timeout))
        if info is None:
            super().__init__(device, timeout)
        else:  # tests and tools may bring their own platform facts
            self.device, self.timeout, self.info = device, timeout, info
        self.conn_timeout = float(device.optional_args.get("conn_timeout", CONNECT_TIMEOUT))
        self.commit_timeout = float(device.optional_args.get("commit_timeout", max(timeout, COMMIT_TIMEOUT)))
        self._conn: Any = None  # the SSH connection (paramiko.SSHClient) whose exec channels carry reads and pushes
        self._shell: Any = None  # netmiko's interactive vtysh session, for cli() only: opened on first use
        self._credentials: tuple[str, str | None, Any] = ("", None, None)
        self._lost = False  # the session stopped answering: close without netmiko's logout dialogue
        self._candidate: str | None = None
        #: The running config as this session last saw it (a read, or a commit's read-back).
        self._known: str | None = None
        #: The running config the last commit printed: the read-back, for the one read after it.
        self._readback: str | None = None
        self._reuse = False
        #: The running config the last pending question brought, for the moment right after it.
        self._asked: str | None = None
        #: The read-ahead's answer was "no commit pending": the next question takes it, once.
        self._none_pending = False
        self._unread = False  # the config get_config gave last was the kept one, not read in this push
        #: The channel of a committed push whose router shell waits for ``commit-confirm`` on it.
        self._held: Any = None

    # ------------------------------------------------------------------ session

    def open(self) -> None:
        """One SSH connection (paramiko) for the exec channels every read and push travels on.

        No interactive vtysh login is opened here: netmiko's (its import, the login, the prompt
        dance: 0.3-0.5 s on the loaded lab machine, and a vtysh process on the router) serves only
        :meth:`cli`, and is opened the first time that is called (:meth:`_interactive`)."""
        import paramiko

        dev = self.device
        if not dev.hostname:
            raise DriverError(dev.name, "no hostname in the inventory")
        user, secret = dev.credentials()
        if not user:
            raise DriverError(
                dev.name, f"username: environment variable {dev.username_env or '(none named)'} is not set"
            )
        port = dev.port or 22
        key_file = dev.optional_args.get("key_file")
        pkey = open_key(dev, str(key_file), secret) if key_file else None
        # What netmiko did with ssh_strict=False, system_host_keys=False: the router's key is not checked.
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        try:
            client.connect(dev.hostname, port=port, username=user, password=None if pkey else secret, pkey=pkey,
                           timeout=self.conn_timeout, auth_timeout=self.conn_timeout,
                           banner_timeout=self.conn_timeout, allow_agent=False, look_for_keys=False)  # fmt: skip
        except paramiko.AuthenticationException as exc:
            client.close()
            raise AuthenticationFailed(dev.name, f"authentication failed for {user}@{dev.hostname}:{port}") from exc
        except (OSError, ValueError) as exc:  # refused, timed out, no route, NoValidConnectionsError
            client.close()
            raise DeviceUnreachable(dev.name, f"cannot reach {dev.hostname}:{port}: {_short(exc)}") from exc
        except Exception as exc:  # paramiko's SSHException and friends
            client.close()
            raise DeviceUnreachable(dev.name, f"SSH session failed: {_short(exc)}") from exc
        self._conn, self._credentials = client, (user, secret, pkey)
        self._lost = False
        self._known = self._readback = self._asked = None
        self._none_pending = False

    def _interactive(self) -> Any:
        """The interactive vtysh session (netmiko, ``cisco_ios``), opened on first use: only
        :meth:`cli` needs one; reads and pushes go over exec channels of :meth:`open`'s connection."""
        if self._shell is not None:
            return self._shell
        from netmiko import ConnectHandler
        from netmiko.exceptions import NetmikoAuthenticationException

        self._session()
        dev, (user, secret, pkey) = self.device, self._credentials
        params: dict[str, Any] = {
            "device_type": "cisco_ios", "host": dev.hostname, "port": dev.port or 22, "username": user,
            "conn_timeout": self.conn_timeout, "auth_timeout": self.conn_timeout,
            "banner_timeout": self.conn_timeout, "timeout": self.timeout, "allow_agent": False,
            "ssh_strict": False, "system_host_keys": False,
        }  # fmt: skip
        if pkey is not None:
            params.update(use_keys=True, key_file=str(dev.optional_args.get("key_file")), pkey=pkey)
        else:
            params.update(password=secret, use_keys=False)
        try:
            self._shell = ConnectHandler(**params)
        except NetmikoAuthenticationException as exc:
            raise AuthenticationFailed(dev.name, f"authentication failed for {user}@{dev.hostname}") from exc
        except Exception as exc:  # NetmikoTimeoutException, OSError, paramiko's SSHException and friends
            raise DeviceUnreachable(dev.name, f"interactive vtysh session failed: {_short(exc)}") from exc
        return self._shell

    def read_ahead(self) -> None:
        """The running config and the pending question, asked while ``enforcer apply`` starts up in
        one exec (``commit-pending show-running``; a full staticd print, 0.5-1.6 s at 10,000 routes,
        no longer after the lease): the plan uses the config, and the commit names its hash
        (``if-running``) as for a reused read.

        A "none pending" answer stands in for the question after the lease, once (issue 12: the
        removal waited for that exec). It may be stale by then — a pusher that died in between
        left a commit pending — and that is safe: the router refuses a commit while another is
        pending (``PENDING_REFUSED``), so nothing is pushed over it, and the next apply asks and
        settles it. A "pending" answer is asked again under the lease: a pending commit is settled
        (confirmed or rolled back) only on an answer given while the lease is held. An older
        shell, which answers the question without the config, is read as before and asked again."""
        status, text = self._exec("commit-pending show-running")
        pending, mark, running = text.partition(RUNNING_MARK + "\n")
        if status == 0 and mark and not VTYSH_ERROR.search(running):
            self._known, self._none_pending = running, not pending.strip()
        else:
            self._read_running()
        self._reuse = True

    def reuse_reads(self, allowed: bool) -> None:
        """``allowed``: this push may plan on the config the session last saw instead of a new read;
        the commit then makes the router verify it (``if-running``), so a stale one applies nothing."""
        self._reuse = allowed

    def close(self) -> None:
        self._release()
        shell, self._shell = self._shell, None
        conn, self._conn = self._conn, None
        try:
            if shell is not None:
                if self._lost:
                    # netmiko's logout waits up to 10 s for a prompt that cannot come: drop the transport
                    # first, so its goodbye fails at once; disconnect() still releases netmiko's resources.
                    shell.paramiko_cleanup()
                shell.disconnect()
        except Exception:  # noqa: BLE001 - close never raises
            pass
        try:
            if conn is not None:
                conn.close()
        except Exception:  # noqa: BLE001 - close never raises
            pass

    warm = True

    def alive(self) -> bool:
        """The SSH transport is up and takes a packet (SSH_MSG_IGNORE: nothing reaches vtysh)."""
        if self._conn is None or self._lost:
            return False
        transport = self._conn.get_transport()
        if transport is None or not transport.is_active():
            return False
        transport.send_ignore()
        return transport.is_active()

    def _gone(self, what: str, reason: str) -> DeviceUnreachable:
        """The session stopped answering: remember it for close(), and say so."""
        self._lost = True
        return DeviceUnreachable(self.device.name, f"{what}: {reason}")

    def _session(self) -> Any:
        if self._conn is None:
            raise DriverError(self.device.name, "not connected (call open() first)")
        return self._conn

    def _exec(
        self,
        command: str,
        stdin: str | Callable[[], str] | None = None,
        timeout: float | None = None,
        hold: bool = False,
    ) -> tuple[int, str]:
        """One command on a fresh exec channel of the open session: (exit status, stdout+stderr).

        ``stdin`` as a function: called once the command is on its way (the router starts on it
        meanwhile); if it raises, the channel is closed with nothing sent (the router's shell
        then refuses a commit without its text) and its error is raised as it is.

        ``hold``: stdin stays open, and once the output ends with the router shell's
        :data:`~.frr_shell.AWAIT_MARK` line the channel is kept (:attr:`_held`, status 0) for
        :meth:`confirm_commit`. Each exec is a login on the router: logged at debug with its time
        (``serve --log-level debug`` shows where a push's time goes)."""
        self._readback = self._asked = None  # any command may change what the router holds
        self._none_pending = False
        started = time.monotonic()
        try:
            transport = self._session().get_transport()
            if transport is None:
                raise OSError("the SSH connection is closed")
            chan = transport.open_session(timeout=self.conn_timeout)
            chan.settimeout(timeout or self.timeout)
            chan.set_combine_stderr(True)
            chan.exec_command(command)
            if callable(stdin):
                stdin = _computed(chan, stdin)
            if stdin:
                chan.sendall(stdin.encode())
            if not hold:
                chan.shutdown_write()
            status, text = self._drain(chan, timeout, (AWAIT_MARK + "\n").encode() if hold else None)
        except DriverError:
            raise
        except _Uncomputed as exc:  # enforcer's own error, not the session's: raised as it is
            raise exc.__cause__ from None
        except TimeoutError as exc:
            raise self._gone(command.split()[0], f"no answer within {timeout or self.timeout:.0f}s") from exc
        except Exception as exc:  # the session died under us
            raise self._gone(command.split()[0], _short(exc)) from exc
        if status is None:
            self._held, status = chan, 0
        log.debug(
            "%s: exec %s: %.1f ms (status %s, %d bytes in, %d out)",
            self.device.name,
            command.split()[0],
            (time.monotonic() - started) * 1000,
            status,
            len(stdin or ""),
            len(text),
        )
        return status, text

    def _drain(self, chan: Any, timeout: float | None, until: bytes | None = None) -> tuple[int | None, str]:
        """Read ``chan`` to its end and exit status, or (None, text) once the output ends with ``until``."""
        chunks, tail = [], b""
        while data := chan.recv(65536):
            chunks.append(data)
            if until is not None:
                tail = (tail + data)[-len(until) :]
                if tail == until:
                    return None, b"".join(chunks).decode(errors="replace")
        if not chan.status_event.wait(timeout or self.timeout):  # recv_exit_status() waits forever
            raise TimeoutError
        status = chan.recv_exit_status()
        chan.close()
        return status, b"".join(chunks).decode(errors="replace")

    def _release(self) -> None:
        """Close a held commit's channel without confirming: the router's timer stays in charge."""
        held, self._held = self._held, None
        if held is not None:
            try:
                held.close()
            except Exception:  # noqa: BLE001 - a channel that is already gone is released too
                pass

    # ------------------------------------------------------------------ state

    def cli(self, commands: list[str]) -> dict[str, str]:
        """Show commands through the interactive vtysh session (like NAPALM's ``cli``)."""
        out = {}
        for cmd in commands:
            try:
                text = self._interactive().send_command(cmd, read_timeout=self.timeout)
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
        return self._remembered("running", self._running)

    def _running(self) -> str:
        """The commit's read-back, once, for the read that follows the commit (push's verification);
        the last seen config when this push may reuse it (:meth:`reuse_reads`); else a read."""
        readback, self._readback, self._asked = self._readback, None, None
        self._unread = readback is None and self._reuse and self._known is not None
        if readback is not None:
            return readback
        return self._known if self._unread else self._read_running()

    def _read_running(self) -> str:
        status, text = self._exec("show running-config")
        if status != 0 or VTYSH_ERROR.search(text):
            raise DriverError(self.device.name, f"show running-config failed: {text.strip()[:200]}")
        self._known = text
        return text

    # ------------------------------------------------------------------ candidate / commit

    def load_merge_candidate(self, config: str) -> None:
        """Keep the candidate; it travels once, with the commit, and the router checks its syntax
        (``vtysh -C``) before it applies a line of it (a refusal changes nothing)."""
        self._candidate = config

    def compare_config(self) -> str:
        """What the candidate would change, computed against the live running config."""
        if self._candidate is None:
            return ""
        return merge_diff(self.get_config(), self._candidate, self.info.comment)

    def commit_config(self, revert_in: int | None = None) -> None:
        """Send the candidate with its undo, computed against the running config it was planned on."""
        if self._candidate is None:
            raise DriverError(self.device.name, "nothing to commit (load a candidate first)")
        planned_on, verify = self._planned_on()
        candidate = self._candidate
        verb = "load-commit" if revert_in is None else f"load-commit confirmed {int(revert_in)}"
        if verify:  # not read in this push: the router verifies it is still what it runs
            verb += f" if-running {hashlib.sha256(planned_on.encode()).hexdigest()}"
        # whole: the text ends with END_MARK, and the router refuses it cut before that line,
        # held or not (without it the end of stdin would end an unheld text, as older drivers
        # send it, and a cut mid-undo would apply the candidate with half its undo).
        verb += " show-running" + (" hold" if revert_in else "") + " whole"

        def stdin() -> str:
            """Computed once the router has the verb: its applier takes the lock and starts the
            if-running read meanwhile (0.2-0.5 s of undo at 10,000 routes under 0.5-1.6 s of read)."""
            undo = undo_candidate(planned_on, candidate, self.info.comment)
            return f"{candidate.rstrip()}\n{UNDO_MARK}\n{undo}{END_MARK}\n"  # the undo is '' or ends a line

        self._known = None  # whatever happens next, the router's config is read again or read back
        self._release()
        status, text = self._exec(verb, stdin=stdin, timeout=self.commit_timeout, hold=bool(revert_in))
        if status == 1 and _OUTDATED.search(text):
            raise OutdatedShell(
                self.device.name,
                "the router's enforcer-frr-shell is older than this enforcer "
                f"(it does not know '{verb}'), nothing applied: deploy it (docs/platforms.md, "
                f"'Deploying the FRR shell'); it said: {text.strip()[:200]}",
            )
        if status in (PENDING_REFUSED, INCOMPLETE_REFUSED):  # nothing applied: discard, never roll back
            raise CommitRefused(self.device.name, text.strip().lstrip("% ")[:300])
        if status == STALE_REFUSED:
            raise StaleConfig(self.device.name, text.strip().lstrip("% ")[:300])
        if status < 0:
            # The channel closed without an exit status: the login shell died. Its applier runs on
            # (detached, holding the router's lock); wait for it, so a read-back sees its result.
            self._exec("commit-pending", timeout=self.commit_timeout)
            raise DriverError(self.device.name, "commit interrupted: the router's shell went away mid-apply")
        if status == SYNTAX_REFUSED:
            raise CommitRefused(
                self.device.name, f"candidate refused by syntax check, nothing applied: {text.strip()[:300]}"
            )
        if status != 0:
            raise DriverError(self.device.name, f"commit failed on the router, which undid it: {text.strip()[:300]}")
        text = text.removesuffix(AWAIT_MARK + "\n")  # a held commit: its router waits for the confirmation
        _, mark, running = text.partition(RUNNING_MARK + "\n")
        if mark:
            self._readback = self._known = running
        self._candidate = None

    def _planned_on(self) -> tuple[str, bool]:
        """The running config the commit's undo is computed from, and whether the router must
        verify it still runs it (``if-running``).

        A config read in this push's moment is used as is (the router is not asked twice). Else
        the one this session last saw — the plan's read, or the last commit's read-back — is the
        one the candidate was planned on: the router hashes its running config under its lock,
        beside the candidate's syntax check, and refuses with nothing applied if it changed. That
        is one SSH exec and one transfer of the whole config fewer than reading it again (a third
        of a one-route push at 0 active, 384 KB at 10,000 routes), and a NOC edit between the plan
        and the commit is refused instead of being merged over with a candidate planned without it.
        """
        moment = getattr(self, "_moment", None)
        if self._known is not None and not (moment is not None and "running" in moment):
            return self._known, True
        return self.get_config(), self._unread

    def run_after_commit(self, commands: list[str]) -> None:
        """vtysh exec commands (``clear bgp X soft in``), each on its own exec channel."""
        for command in commands:
            status, text = self._exec(command)
            if status != 0 or VTYSH_ERROR.search(text):
                raise DriverError(self.device.name, f"{command}: {text.strip()[:200]}")

    def confirm_commit(self) -> None:
        """On the held commit's channel if there is one (no new login), else as its own exec."""
        held, self._held = self._held, None
        if held is None:
            status, text = self._exec("commit-confirm")
        else:
            started = time.monotonic()
            try:
                held.sendall(b"commit-confirm\n")
                held.shutdown_write()
                status, text = self._drain(held, None)
            except TimeoutError as exc:
                raise self._gone("commit-confirm", f"no answer within {self.timeout:.0f}s") from exc
            except Exception as exc:  # the session died under us
                raise self._gone("commit-confirm", _short(exc)) from exc
            log.debug(
                "%s: held commit-confirm: %.1f ms (status %s)",
                self.device.name,
                (time.monotonic() - started) * 1000,
                status,
            )
        if status != 0:
            raise DriverError(self.device.name, f"confirm failed: {text.strip()[:200]}")

    def has_pending_commit(self) -> bool:
        """Asked before every plan, so the answer brings the plan's read with it (``show-running``:
        the running config once any apply in flight has finished, for the read that follows):
        one SSH exec for the question and the read. An older router shell ignores the option and
        answers the question alone; the plan then reads as before. A session that read ahead
        (:meth:`read_ahead`) takes its "none pending" (once, with no command since), or asks the
        question alone: its plan uses that read, verified at commit."""
        if self._none_pending:
            self._none_pending = False
            return False
        if self._reuse and self._known is not None:
            status, text = self._exec("commit-pending")
            return status == 0 and bool(text.strip())
        status, text = self._exec("commit-pending show-running")
        pending, mark, running = text.partition(RUNNING_MARK + "\n")
        if status == 0 and mark:
            self._asked = self._known = running
        return status == 0 and bool(pending.strip())

    @contextmanager
    def same_moment(self) -> Iterator[None]:
        """A moment that starts right after :meth:`has_pending_commit` (no command, no read in
        between: the plan after the question) looks at the config that answer brought."""
        asked, self._asked = self._asked, None
        with super().same_moment():
            if asked is not None:
                self._moment["running"], self._unread = asked, False
            yield

    def bgp_peers(self) -> set[str]:
        return _peers(self.get_config())

    def interfaces(self) -> set[str]:
        """``show interface brief``: one interface a row, under a header."""
        text = self.cli(["show interface brief"])["show interface brief"]
        rows = [ln.split() for ln in text.splitlines() if ln.strip() and not ln.startswith(("Interface", "-", "="))]
        return {r[0] for r in rows if r and not r[0].startswith("VRF")}

    def conflicts(self, section: str) -> list[tuple[str, str]]:
        """Two lines FRR would get wrong, checked against the running config:

        * a static route whose prefix and next hop the operator already routes (a line without
          enforcer's tag): FRR would retag the operator's route, and the unblock delete it;
        * a ``neighbor X …`` line for an X that is not a BGP neighbour: FRR refuses the line, and
          with it the whole push.
        """
        lines = section.splitlines()
        if not any(_static_key(ln) or _NEIGHBOR.match(ln) for ln in lines):
            return []  # nothing that could conflict: spare the router a read
        config = self.get_config()
        managed = [re.compile(p) for p in self.info.managed]
        theirs = {}
        for line in config.splitlines():
            text = line.strip()
            # enforcer's own routes (10,000 of them in a bulk push) are recognised before any parse
            if _STATIC.match(text) and not any(p.search(text) for p in managed) and (key := _static_key(text)):
                theirs[key] = text
        peers = _peers(config)
        found = [(ln, f"collides with the operator's {theirs[k]!r}")
                 for ln in (lines if theirs else ()) if (k := _static_key(ln)) in theirs]  # fmt: skip
        for ln in lines:
            m = _NEIGHBOR.match(ln)
            if m and m.group(1) not in peers:
                found.append((ln, f"names {m.group(1)}, which is not a BGP neighbour on the router"))
        return found

    def discard_config(self) -> None:
        self._candidate = None

    def rollback(self) -> None:
        self._release()
        self._known = None
        status, text = self._exec("commit-rollback", timeout=self.commit_timeout)
        if status != 0:
            raise DriverError(self.device.name, f"rollback failed: {text.strip()[:300]}")


class _Uncomputed(Exception):
    """The text an exec was to send could not be computed (its cause says why); nothing was sent."""


def _computed(chan: Any, text: Callable[[], str]) -> str:
    try:
        return text()
    except Exception as exc:
        chan.close()  # the router's shell reads an empty text: a commit without its undo, refused
        raise _Uncomputed() from exc


_STATIC = re.compile(r"^(ip|ipv6) route (\S+) (\S+)")
_NEIGHBOR = re.compile(r"^\s+neighbor (\S+) ")


def _peers(config: str) -> set[str]:
    """BGP neighbours the running config defines (by address, or as a member of a peer-group)."""
    return set(re.findall(r"^\s*neighbor (\S+) (?:remote-as|peer-group|interface)\b", config, re.M))


def _static_key(line: str) -> tuple[str, str] | None:
    """How FRR keys a static route: prefix and next hop (the tag is an attribute of it)."""
    m = _STATIC.match(line.strip())
    if m is None:
        return None
    try:
        return str(ip_network(m.group(2), strict=False)), m.group(3)
    except ValueError:
        return None


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
