"""Each device's state as the console shows it: in sync, drifted, failing or busy.

The reconcile loop already plans every device against its live configuration on each pass; the
board keeps what each pass found (no extra session to the device per page view): whether the
push was verified, which of the store's enforcements the device then held, when, how long it
took, and the last error. A device is *drifted* when the enforcements the store gives it now
differ from the ones its last verified push carried: a new or ended decision waiting for its push.

The section it compares is rendered from the very inputs the worker pushed (a decision stored
while the push ran is not counted as verified), and only when a page asks for the device's state,
then kept: the board used to render the device's whole section after every push, on its own
thread but on the same two cores as the push workers — at 10,000 active, a second of CPU per push
beside the next decision's render, for a page nobody may be looking at.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from ..model import now
from ..push import PushResult


def digest(section: str) -> str:
    return hashlib.sha256(section.encode()).hexdigest()


@dataclass(frozen=True)
class DeviceState:
    device: str
    state: str  # in sync | drifted | failing | busy | unknown
    last_push: datetime | None
    last_error: str | None
    seconds: float | None
    summary: str


@dataclass
class _Seen:
    verified: Callable[[], str] | None = None  # renders the section of the push last verified
    digest: str | None = None  # of that section, once a page asked
    at: datetime | None = None
    ok: bool = True
    error: str | None = None
    seconds: float | None = None
    summary: str = ""
    busy: bool = False


class DeviceBoard:
    """Filled from the reconcile loop's threads, read by the console's requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, _Seen] = {}
        self.version = 0  # grows with every change below: the console's live pages follow it

    def begin_pass(self, devices: list[str]) -> None:
        with self._lock:
            for name in devices:
                self._seen.setdefault(name, _Seen()).busy = True
            self.version += 1

    def done(self, device: str, result: PushResult | None, pushed: Callable[[], str] | None) -> None:
        """A pass on ``device`` ended; ``pushed()`` renders the section of the inputs it pushed
        (None: a pass that pushed nothing new; the last verified section stands)."""
        with self._lock:
            seen = self._seen.setdefault(device, _Seen())
            seen.busy = False
            self.version += 1
            if result is None:
                return
            seen.at, seen.ok, seen.error, seen.seconds = now(), result.ok, result.error, result.seconds
            seen.summary = result.summary
            if result.ok and pushed is not None:
                seen.verified, seen.digest = pushed, None

    def state(self, device: str, desired: str) -> DeviceState:
        """The device's state against ``desired``, the section the store renders for it now."""
        with self._lock:
            seen = self._seen.get(device, _Seen())
            verified = seen.verified if seen.digest is None else None
        if verified is not None:  # rendered outside the lock: the push workers never wait for a page
            try:
                found: str | None = digest(verified())
            except Exception:  # noqa: BLE001 - a failed render leaves the device unknown, never the page dead
                found = None
            with self._lock:
                if seen.verified is verified:
                    seen.digest = found
                    if found is None:
                        seen.verified = None
        with self._lock:
            if seen.busy:
                state = "busy"
            elif not seen.ok:
                state = "failing"
            elif seen.verified is None:
                state = "unknown"
            else:
                state = "in sync" if seen.digest == digest(desired) else "drifted"
            return DeviceState(device, state, seen.at, seen.error, seen.seconds, seen.summary)
