"""One pusher per device, across processes and instances: a lease row per device in the store.

Every path that pushes (``enforcer apply``, a hook run locally, the serve loop, a second
instance on the same PostgreSQL) takes the device's lease first; a second pusher gets
:class:`DeviceBusy` ("device busy: pushed by X since T") instead of pushing over the first —
two pushers at once would each commit over, or roll back to, the other's checkpoint. The
lease is taken and checked in the store's serialised write transaction (SQLite ``BEGIN
IMMEDIATE``, PostgreSQL advisory lock), renewed while the push runs, and released after it; a
holder that dies (SIGKILL, a lost instance) loses it ``ttl`` seconds after its last renewal.

A pusher may instead wait for the lease (``enforcer apply --wait SECONDS``): it polls, bounded by
its wait, and never takes the device from the holder — the holder's commit and confirm finish first.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from sqlalchemy import delete

from .model import EnforcerError, now
from .settings import LEASE_TTL  # how long a dead pusher blocks a device (ENFORCER_LEASE_TTL)
from .store import Store
from .tables import LeaseRow, aware_utc, naive_utc

log = logging.getLogger(__name__)

#: Seconds between two tries of a pusher waiting for a lease.
WAIT_POLL = 0.5

#: How a push result says another pusher had the device (not the device's fault: no backoff).
BUSY = "device busy: "


class DeviceBusy(EnforcerError):
    """Another pusher holds the device's lease."""

    def __init__(self, device: str, holder: str, since: datetime):
        self.device, self.holder, self.since = device, holder, since
        super().__init__(f"{BUSY}pushed by {holder} since {since.isoformat(timespec='seconds')}")


def holder_name(role: str) -> str:
    """Who pushes, as another pusher is told: the role, the host and the process, and a unique tail."""
    return f"{role} on {socket.gethostname()} pid {os.getpid()} [{uuid.uuid4().hex[:8]}]"


def acquire(store: Store, device: str, holder: str, ttl: float = LEASE_TTL) -> None:
    """Take (or renew) ``device``'s lease for ``holder``; :class:`DeviceBusy` while another holds it."""
    with store.write() as tx:
        at = now()  # inside: a time read before the writers' queue can be seconds old when it is written
        row = tx.s.get(LeaseRow, device)
        if row is not None and row.holder != holder and row.expires_at > naive_utc(at):
            raise DeviceBusy(device, row.holder, aware_utc(row.since))
        until = naive_utc(at + timedelta(seconds=ttl))
        if row is None:
            tx.s.add(LeaseRow(device=device, holder=holder, since=naive_utc(at), expires_at=until))
        elif row.holder != holder:  # the previous holder's lease lapsed: it is ours from now
            row.holder, row.since, row.expires_at = holder, naive_utc(at), until
        else:
            row.expires_at = until


def extend(store: Store, device: str, holder: str, ttl: float = LEASE_TTL) -> bool:
    """Renew ``holder``'s lease on ``device``; False when it is no longer ``holder``'s (it lapsed and
    another pusher took it, whether or not that one has given it back since): a lost lease is never
    taken again by a renewal, which would date it from before the other pusher's push."""
    with store.write() as tx:
        row = tx.s.get(LeaseRow, device)
        if row is None or row.holder != holder:
            return False
        row.expires_at = naive_utc(now() + timedelta(seconds=ttl))
        return True


def acquire_waiting(store: Store, device: str, holder: str, wait: float, ttl: float = LEASE_TTL) -> None:
    """:func:`acquire`, trying again every :data:`WAIT_POLL` seconds for up to ``wait`` seconds;
    still busy then, the last :class:`DeviceBusy` is raised."""
    deadline = time.monotonic() + wait
    while True:
        try:
            acquire(store, device, holder, ttl)
            return
        except DeviceBusy:
            left = deadline - time.monotonic()
            if left <= 0:
                raise
            time.sleep(min(WAIT_POLL, left))


def release(store: Store, device: str, holder: str) -> None:
    """Give the lease back (only if still ours: a lapsed lease may have a new holder)."""
    with store.write() as tx:
        tx.s.execute(delete(LeaseRow).where(LeaseRow.device == device, LeaseRow.holder == holder))


def current(store: Store, device: str) -> tuple[str, datetime, datetime] | None:
    """(holder, since, expires at) of ``device``'s lease, if any is in force."""
    with store.session() as s:
        row = s.get(LeaseRow, device)
        if row is None or row.expires_at <= naive_utc(now()):
            return None
        return row.holder, aware_utc(row.since), aware_utc(row.expires_at)


@contextmanager
def device_lease(
    store: Store, device: str, holder: str, ttl: float = LEASE_TTL, wait: float = 0.0
) -> Iterator[None]:
    """Hold ``device``'s lease for the block, renewed every ``ttl / 3`` seconds; released after.
    ``wait``: seconds to wait for a lease another pusher holds (0: busy at once)."""
    acquire_waiting(store, device, holder, wait, ttl)
    done = threading.Event()

    def renew() -> None:
        while not done.wait(ttl / 3):
            try:
                if not extend(store, device, holder, ttl):
                    log.warning("%s: the lease of %s lapsed and was taken by another pusher", device, holder)
                    return
            except Exception:  # a renewal failed: the lease lapses after ttl, the push goes on
                continue

    keeper = threading.Thread(target=renew, name=f"lease-{device}", daemon=True)
    keeper.start()
    try:
        yield
    finally:
        done.set()
        keeper.join()
        release(store, device, holder)


#: Seconds a kept lease (:class:`KeptLease`) stays taken after its last push: a decision that follows
#: within it is pushed with no lease write at all; another pusher waits at most this long more.
KEEP_IDLE = 1.0


class KeptLease:
    """A device's lease held across a burst of short pushes, given back once idle for ``idle`` seconds.

    serve's OpenFlow worker pushes one decision in one round trip to the controller (a few ms), but
    :func:`device_lease` around it wrote twice (take, give back: an fsync'd SQLite transaction each,
    ~12 ms apiece on this disk), each a turn of the write lock the next decision's intake waits for.
    Kept, a push inside a burst writes nothing for the lease: it is still in force, as the store says,
    because it was last written less than ``ttl / 2`` ago (timed from before that write, so the row's
    own expiry is later still) and every renewal since succeeded. The keeper thread renews it every
    ``ttl / 3`` while it is held, as :func:`device_lease` does, and gives it back ``idle`` seconds
    after the last push ended; a renewal that finds the lease taken by another pusher drops it here
    too, so the next :meth:`hold` takes it again through :func:`acquire` (busy, if the other still
    holds it). One pusher per device holds exactly as before: another pusher is kept off while the
    row is in force, and the row is in force whenever this one pushes.
    """

    def __init__(self, store: Store, device: str, holder: str, ttl: float = LEASE_TTL, idle: float = KEEP_IDLE,
                 clock: Callable[[], float] = time.monotonic):
        self.store, self.device, self.holder, self.ttl, self.idle = store, device, holder, ttl, idle
        self._clock = clock  # a test's clock stands for a process frozen past its lease
        self._cond = threading.Condition()  # guards everything below; the keeper sleeps on it
        self._held = False
        self._fresh_until = 0.0  # monotonic: before it, the row is in force with more than ttl / 2 left
        self._users = 0
        self._last_used = 0.0
        self._stopping = False
        self._keeper: threading.Thread | None = None
        #: Lease writes (take, renew, give back) this object made, for the tests that count them.
        self.writes = 0

    @property
    def held(self) -> bool:
        return self._held

    @contextmanager
    def hold(self) -> Iterator[None]:
        """The lease for one push: no write while the kept one is fresh; :class:`DeviceBusy` as :func:`acquire`."""
        with self._cond:
            if not (self._held and self._clock() < self._fresh_until):
                self._take()
            self._users += 1
        try:
            yield
        finally:
            with self._cond:
                self._users -= 1
                self._last_used = self._clock()
                self._cond.notify_all()  # the keeper times the idle spell from now

    def _take(self) -> None:
        """(Under the lock.) Renew the kept row, or take it anew when it was never ours or was lost."""
        stamp = self._clock()
        if self._held:
            self.writes += 1
            if extend(self.store, self.device, self.holder, self.ttl):
                self._fresh_until = stamp + self.ttl / 2
                return
            self._held = False  # it lapsed and another pusher took it: take it anew, or be told busy
            log.warning("%s: the kept lease of %s lapsed and was taken by another pusher", self.device, self.holder)
        self.writes += 1
        acquire(self.store, self.device, self.holder, self.ttl)
        self._held, self._fresh_until, self._stopping = True, stamp + self.ttl / 2, False
        if self._keeper is None:
            self._keeper = threading.Thread(target=self._keep, name=f"kept-lease-{self.device}", daemon=True)
            self._keeper.start()

    def _keep(self) -> None:
        """Renew every ttl / 3 while held; give back after ``idle`` seconds without a push."""
        renew_at = self._clock() + self.ttl / 3
        with self._cond:
            try:
                while self._held and not self._stopping:
                    at = self._clock()
                    if self._users == 0 and at >= self._last_used + self.idle:
                        self._give_back()
                        break
                    if at >= renew_at:
                        try:
                            self._take()
                        except Exception:  # busy, or the store failed: the next hold takes it (or is told busy)
                            self._held = False
                            break
                        renew_at = at + self.ttl / 3
                    until = renew_at if self._users else min(renew_at, self._last_used + self.idle)
                    self._cond.wait(max(0.005, until - at))
            finally:
                self._keeper = None  # under the lock: the next take starts a keeper of its own

    def _give_back(self) -> None:
        """(Under the lock.)"""
        self._held = False
        self.writes += 1
        try:
            release(self.store, self.device, self.holder)
        except Exception:  # the row lapses ttl after its last renewal
            log.exception("%s: giving back the lease of %s failed", self.device, self.holder)

    def release(self) -> None:
        """Give the lease back now (before a push that takes it itself, and at shutdown)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            if self._held:
                self._give_back()
