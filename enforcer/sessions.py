"""Warm device sessions for ``enforcer serve``: one authenticated session per device, kept open
between pushes, checked before each use and opened again when it died.

Opening a session is most of a small push (1.6 s of the 8.4 s an FRR decision cost in issue 12:
TCP, SSH key exchange, authentication, netmiko's prompt dance), and a detector-driven block
waits for it. So the device's worker (:mod:`enforcer.pipeline`) takes the device's session from
here: the one it used last, if :meth:`~enforcer.drivers.base.Driver.alive` still says it works,
else a new one. A push that failed closes its session — whatever broke, the next push starts
from a fresh login rather than from a session in an unknown state (a half-read prompt, a
transport the router reset). ``enforcer apply`` and ``plan`` keep opening a session per run.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from .inventory import Device

if TYPE_CHECKING:  # the drivers (paramiko, netmiko) are imported in the thread that opens a session
    from .drivers.base import Driver

log = logging.getLogger("enforcer.sessions")


class Sessions:
    """Open drivers by device name; each is used by one thread at a time (its device's worker)."""

    def __init__(self, open_driver):
        """``open_driver(device)``: a new, not yet opened driver (``Context.driver``)."""
        self._new = open_driver
        self._open: dict[str, Driver] = {}
        self._lock = threading.Lock()
        #: How many sessions were opened per device (a test sees a dead one re-opened).
        self.opened: dict[str, int] = {}

    @contextmanager
    def use(self, device: Device, reuse_reads: bool = False) -> Iterator[Driver]:
        """The device's open session; one that raises here is closed (the next use opens another).
        ``reuse_reads``: see :meth:`~enforcer.drivers.base.Driver.reuse_reads` (a new session has
        nothing to reuse)."""
        drv = self._take(device)
        drv.reuse_reads(reuse_reads)
        try:
            yield drv
        except BaseException:
            self.drop(device.name)
            raise
        if not drv.warm:  # nothing worth keeping (an offline driver reads its state when made)
            self.drop(device.name)

    def peek(self, name: str) -> Driver | None:
        """The device's open session, if any (not health-checked: :meth:`use` does that)."""
        with self._lock:
            return self._open.get(name)

    def fresh(self, name: str) -> bool:
        """Whether the device has no session open now (its next push logs in again)."""
        with self._lock:
            return name not in self._open

    def _take(self, device: Device) -> Driver:
        with self._lock:
            drv = self._open.get(device.name)
        if drv is not None:
            try:
                if drv.alive():
                    return drv
            except Exception:  # noqa: BLE001 - a health check that fails is a dead session
                pass
            log.info("session to %s is gone: opening a new one", device.name)
            self.drop(device.name)
        drv = self._new(device)
        drv.open()
        with self._lock:
            self._open[device.name] = drv
            self.opened[device.name] = self.opened.get(device.name, 0) + 1
        return drv

    def drop(self, name: str) -> None:
        """Close the device's session (after a failed push, or at shutdown)."""
        with self._lock:
            drv = self._open.pop(name, None)
        if drv is not None:
            drv.close()

    def close(self) -> None:
        with self._lock:
            names = list(self._open)
        for name in names:
            self.drop(name)


class EarlyLogins:
    """Sessions opened in threads while ``enforcer apply`` is still starting up, for its push.

    A cold ``apply`` used to log in only once it had imported the push half of enforcer, read the
    store and taken the lease: at 10,000 routes 0.5-0.7 s of login (most of it bcrypt opening a
    passphrase-protected key, which leaves the interpreter free) stood behind 0.5-0.8 s of imports.
    Only the login and reads move earlier: the device's config
    (:meth:`~enforcer.drivers.base.Driver.read_ahead`, for drivers whose device verifies it at
    commit) and, with it, whether a commit is pending (FRR: one ``commit-pending show-running``).
    Nothing is sent before :func:`enforcer.service.push_device` holds the lease and takes the
    session from :meth:`use`: a "none pending" answer spares the question after the lease (the
    device still refuses a commit over one that became pending since), a "pending" one is asked
    again under the lease, where settling it is safe.
    A login that failed fails there, as that device's result; sessions never used are closed by
    :meth:`close`."""

    def __init__(self, devices: list[Device], open_driver: Callable[[Device], Driver], read_ahead: bool = True):
        """``read_ahead=False``: log in only (``apply --wait``: a read taken before waiting for
        another pusher's lease would be stale by the time of the commit, which would refuse it)."""
        #: How a device this did not log into (or whose inventory entry changed since) is opened.
        self.fallback: Callable[[Device], Driver] = open_driver
        self._opening: dict[str, tuple[threading.Event, list]] = {}
        for dev in devices:
            done, box = threading.Event(), []
            self._opening[dev.name] = (done, box)
            threading.Thread(target=self._open, args=(dev, open_driver, done, box, read_ahead),
                             name=f"login-{dev.name}", daemon=True).start()  # fmt: skip

    @staticmethod
    def _open(dev: Device, open_driver: Callable[[Device], Driver], done: threading.Event, box: list,
              read_ahead: bool = False) -> None:
        try:
            drv = open_driver(dev)
            drv.open()
            try:
                if read_ahead:
                    drv.read_ahead()
            except BaseException:
                drv.close()
                raise
            box.append(drv)
        except BaseException as exc:  # noqa: BLE001 - raised by use(), in the push that needs it
            box.append(exc)
        finally:
            done.set()

    @contextmanager
    def use(self, device: Device) -> Iterator[Driver]:
        """The device's session, once its login finished (a device it did not log into opens now)."""
        opening = self._opening.pop(device.name, None)
        if opening is not None:
            opening[0].wait()
            [got] = opening[1]
            if not isinstance(got, BaseException) and got.device != device:  # the inventory changed meanwhile
                got.close()
                opening = None
        if opening is None:
            opening = (threading.Event(), [])
            self._open(device, self.fallback, *opening)
        [got] = opening[1]
        if isinstance(got, BaseException):
            raise got
        try:
            yield got
        finally:
            got.close()

    def close(self) -> None:
        """Close every session no push took (the apply failed before reaching its device)."""
        for done, box in self._opening.values():
            done.wait()
            for got in box:
                if not isinstance(got, BaseException):
                    try:
                        got.close()
                    except Exception:  # noqa: BLE001 - close never raises
                        pass
        self._opening.clear()
