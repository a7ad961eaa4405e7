"""Vendor routers through NAPALM: the same contract, passed through to ``napalm.get_network_driver``.

The NAPALM driver name comes from the inventory (``napalm_driver``) or the platform's usual one
(ios, iosxr_netconf, junos, eos, nxos). Credentials are read from the environment variables the
device names, at open time. Every NAPALM or transport exception becomes a :class:`DriverError`
naming the device, so one bad router never stops a push to the others.

``revert_in``: Junos, EOS and IOS (with the ``archive`` feature) revert by themselves; NAPALM's
NX-OS and IOS XR (NETCONF) drivers raise ``NotImplementedError`` for it (NAPALM 5.2). There the
commit is made without a timer, which :attr:`NapalmDriver.revert_unsupported` records so the
caller can say so.

``rollback`` is enforcer's, not NAPALM's: NAPALM's restores the whole configuration (a NOC edit
made since the commit is lost; on Junos and IOS XR it takes back the *last* commit, which may be
the operator's). Each commit records enforcer's managed section as it stood before; a rollback
confirms a pending commit (so the device's own whole-config revert never fires) and merges
:func:`~.undo.section_undo`, the candidate from what the device holds now back to that section.
A commit left pending by a pusher that died has no record here: it is confirmed, and the pass
that settles it pushes the desired section over it (:meth:`NapalmDriver.settle_unwanted`).
"""

from __future__ import annotations

import re
from typing import Any

from ..counters import Counter
from ..inventory import Device, Platform
from ..render import PlatformInfo
from .base import CommitRefused, Driver, DriverError
from .undo import section_undo

#: The NAPALM driver used when the inventory names none.
DEFAULT_NAPALM_DRIVER = {
    Platform.IOS: "ios",
    Platform.IOSXR: "iosxr_netconf",
    Platform.JUNOS: "junos",
    Platform.EOS: "eos",
    Platform.NXOS: "nxos",
}

#: ``get_config(format=…)`` per platform: the live config is read in the form the templates
#: render, or a plan never converges. Junos prints curly braces by default; enforcer renders what
#: ``show configuration | display set`` prints (NAPALM's junos driver asks NETCONF for
#: ``<get-configuration format="set">``). The CLI platforms have one form, ``show running-config``.
CONFIG_FORMAT = {Platform.JUNOS: "set"}
#: How IOS, IOS XR, EOS and NX-OS answer an exec command they refuse (``% Invalid input detected``,
#: ``% Incomplete command``, ``% Ambiguous command``): NAPALM returns it as the command's output.
CLI_ERROR = re.compile(r"^\s*% ?(Invalid|Incomplete|Ambiguous|Unknown|Error)", re.MULTILINE)


class NapalmDriver(Driver):
    def __init__(
        self,
        device: Device,
        timeout: float = 30.0,
        info: PlatformInfo | None = None,
        network_driver: type | None = None,
    ):
        if info is None:
            super().__init__(device, timeout)
        else:
            self.device, self.timeout, self.info = device, timeout, info
        self.driver_name = device.napalm_driver or DEFAULT_NAPALM_DRIVER.get(device.platform)
        self._network_driver = network_driver
        self._napalm: Any = None
        self.revert_unsupported = False
        self._pending = False
        #: enforcer's managed section before this session's last commit: what rollback() restores
        self._before: str | None = None

    # ------------------------------------------------------------------ session

    def connect_args(self) -> dict[str, Any]:
        """What is handed to the NAPALM driver's constructor (secrets read from the environment now)."""
        dev = self.device
        if not dev.hostname:
            raise DriverError(dev.name, "no hostname in the inventory")
        user, password = dev.credentials()
        for var, value in ((dev.username_env, user), (dev.password_env, password)):
            if var and value is None:
                raise DriverError(dev.name, f"environment variable {var} is not set")
        optional = dict(dev.optional_args)
        if dev.port is not None:
            optional.setdefault("port", dev.port)
        return {
            "hostname": dev.hostname,
            "username": user or "",
            "password": password or "",
            "timeout": int(self.timeout),
            "optional_args": optional,
        }

    def open(self) -> None:
        cls = self._network_driver
        if cls is None:
            if not self.driver_name:
                raise DriverError(self.device.name, f"no NAPALM driver for platform {self.device.platform.value}")
            import napalm

            try:
                cls = napalm.get_network_driver(self.driver_name)
            except Exception as exc:
                raise DriverError(self.device.name, f"NAPALM driver {self.driver_name!r}: {exc}") from exc
        self._napalm = self._call("open", lambda: cls(**self.connect_args()), connect=True)
        self._call("open", self._napalm.open, connect=True)

    def close(self) -> None:
        drv, self._napalm = self._napalm, None
        if drv is not None:
            try:
                drv.close()
            except Exception:  # noqa: BLE001 - close never raises
                pass

    warm = True

    def alive(self) -> bool:
        """NAPALM's own ``is_alive`` (the transport is up; NETCONF/eAPI drivers answer from state)."""
        return self._napalm is not None and bool(self._napalm.is_alive().get("is_alive"))

    def _call(self, what: str, fn, connect: bool = False) -> Any:
        if not connect and self._napalm is None:
            raise DriverError(self.device.name, "not connected (call open() first)")
        try:
            return fn()
        except DriverError:
            raise
        except Exception as exc:  # NAPALM's exceptions, netmiko's, ncclient's, socket errors…
            raise self._error(what, exc) from exc

    def _error(self, what: str, exc: Exception) -> DriverError:
        text = str(exc).strip().splitlines()
        reason = text[0][:300] if text else type(exc).__name__
        return DriverError(self.device.name, f"{what}: {type(exc).__name__}: {reason}")

    # ------------------------------------------------------------------ state

    def get_facts(self) -> dict[str, Any]:
        return self._call("get_facts", lambda: self._napalm.get_facts())

    def get_config(self) -> str:
        return self._remembered("running", self._read_running)

    def _read_running(self) -> str:
        fmt = CONFIG_FORMAT.get(self.device.platform, "text")
        configs = self._call("get_config", lambda: self._napalm.get_config(retrieve="running", format=fmt))
        return configs.get("running", "")

    def get_counters(self) -> dict[int, Counter]:
        """Enforcement id → packets its ACL denies matched, where the platform counts them (IOS,
        EOS: :mod:`.acl_hits`); other platforms give no figure (``{}``, shown as ``-``)."""
        from . import acl_hits

        if self.device.platform not in acl_hits.COMMANDS:
            return {}
        _, command = acl_hits.COMMANDS[self.device.platform]
        output = self._call("cli", lambda: self._napalm.cli([command]))[command]
        return acl_hits.acl_counters(self.device.platform, self.get_config(), output)

    # ------------------------------------------------------------------ candidate / commit

    def load_merge_candidate(self, config: str) -> None:
        self._call("load_merge_candidate", lambda: self._napalm.load_merge_candidate(config=config))

    def compare_config(self) -> str:
        return self._call("compare_config", lambda: self._napalm.compare_config())

    def commit_config(self, revert_in: int | None = None) -> None:
        """Commit the candidate, first recording the managed section it changes (for rollback)."""
        self._before = self.get_managed_section()
        if revert_in is None:
            self._call("commit_config", lambda: self._napalm.commit_config())
            return
        if self._napalm is None:
            raise DriverError(self.device.name, "not connected (call open() first)")
        try:
            self._napalm.commit_config(revert_in=revert_in)
        except NotImplementedError:
            # The platform has no commit-confirmed in NAPALM: commit plainly and say so.
            self.revert_unsupported = True
            self._call("commit_config", lambda: self._napalm.commit_config())
            return
        except Exception as exc:
            error = self._error("commit_config", exc)
            if "pending" in str(exc).lower():  # NAPALM refuses to stack a commit on a pending one
                raise CommitRefused(self.device.name, error.reason) from exc
            raise error from exc
        self._pending = True

    def confirm_commit(self) -> None:
        if self.revert_unsupported and not self._pending:
            return  # nothing is waiting for a confirmation
        self._call("confirm_commit", lambda: self._napalm.confirm_commit())
        self._pending = False

    def has_pending_commit(self) -> bool:
        """NAPALM's own answer where the platform has one (Junos, EOS, IOS with ``archive``); NX-OS and
        IOS XR have no commit-confirm in NAPALM, so nothing can be pending there."""
        if self._napalm is None:
            raise DriverError(self.device.name, "not connected (call open() first)")
        try:
            return bool(self._napalm.has_pending_commit())
        except NotImplementedError:
            return False
        except Exception as exc:
            raise self._error("has_pending_commit", exc) from exc

    def run_after_commit(self, commands: list[str]) -> None:
        """The plan's exec commands (``clear ip bgp X soft in`` after an inbound prefix-list
        changed: enforcer.refresh) through NAPALM's ``cli``; a refused one is this device's error."""
        if not commands:
            return
        outputs = self._call("cli", lambda: self._napalm.cli(commands))
        for command in commands:
            refused = CLI_ERROR.search(str(outputs.get(command, "")))
            if refused:
                line = refused.string[refused.start():].splitlines()[0].strip()
                raise DriverError(self.device.name, f"{command}: {line[:200]}")

    def discard_config(self) -> None:
        self._call("discard_config", lambda: self._napalm.discard_config())

    def rollback(self) -> None:
        """Take back this session's last commit, enforcer's objects only (see the module docstring).

        Without a commit made through this session there is nothing recorded to restore: a pending
        commit is then confirmed, and the caller's next push converges (:meth:`settle_unwanted`)."""
        before, self._before = self._before, None
        if self.has_pending_commit():
            # Confirmed first: left to its timer, or to NAPALM's rollback, the device would restore
            # its whole configuration as it was before the commit.
            self._call("confirm_commit", lambda: self._napalm.confirm_commit())
        self._pending = False
        if before is None:
            return
        self._call("discard_config", lambda: self._napalm.discard_config())
        undo = section_undo(self.device, before, self.get_managed_section())
        if not undo.strip():
            return
        self._call("rollback", lambda: self._napalm.load_merge_candidate(config=undo))
        self._call("rollback", lambda: self._napalm.commit_config())

    def settle_unwanted(self) -> str:
        self.rollback()
        return ("a pending commit-confirm did not hold the desired state: confirmed, and this pass pushes "
                "the desired section over it (NAPALM's rollback would restore the whole configuration)")
