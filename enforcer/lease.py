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
from collections.abc import Iterator
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
