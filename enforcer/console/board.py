"""Each device's state as the console shows it: in sync, drifted, failing or busy.

The reconcile loop already plans every device against its live configuration on each pass; the
board keeps what each pass found (no extra session to the device per page view): whether the
push was verified, the store's section for the device at that moment, when, how long it took,
and the last error. A device is *drifted* when the section rendered from the store now differs
from the one it had when its last push was verified on the device: a new or ended decision
waiting for its push.

That section is rendered on the board's own thread, never on the device's push worker: the render
reads every active row, and a worker that rendered it after each push made the device's next
decision wait for a page nobody may be looking at (24 % of serve's time at 1,000 active). Renders
asked for while one runs are coalesced; the device shows *busy* until its render is in.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from ..model import now
from ..plan import DevicePlan
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
    verified: str | None = None  # digest of the section last verified on the device
    at: datetime | None = None
    ok: bool = True
    error: str | None = None
    seconds: float | None = None
    summary: str = ""
    busy: bool = False
    verifying: bool = False  # pushed and verified; the section it now holds is being rendered


class DeviceBoard:
    """Filled from the reconcile loop's threads, read by the console's requests."""

    def __init__(self, render: Callable[[str], str]) -> None:
        """``render(device)``: the section the store renders for it now (``service.render_device``).
        Compared before composition with the live configuration, which the push adds: the same
        store renders the same section, whatever the operator's own config makes of it."""
        self.render = render
        self._lock = threading.Lock()
        self._seen: dict[str, _Seen] = {}
        self._to_render: set[str] = set()
        self._renderer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="board")
        self.version = 0  # grows with every change below: the console's live pages follow it

    def begin_pass(self, devices: list[str]) -> None:
        with self._lock:
            for name in devices:
                self._seen.setdefault(name, _Seen()).busy = True
            self.version += 1

    def done(self, plan: DevicePlan, result: PushResult | None) -> None:
        with self._lock:
            seen = self._seen.setdefault(plan.device, _Seen())
            seen.busy = False
            self.version += 1
            if result is None:
                return
            seen.at, seen.ok, seen.error, seen.seconds = now(), result.ok, result.error, result.seconds
            seen.summary = result.summary
            if not result.ok:
                return
            seen.verifying = True
            start = not self._to_render
            self._to_render.add(plan.device)
        if start:
            self._renderer.submit(self._render_waiting)

    def _render_waiting(self) -> None:
        """Render each device waiting for its verified section; one that asks again meanwhile is
        rendered again (its last push is what the board must show)."""
        while True:
            with self._lock:
                if not self._to_render:
                    return
                device = self._to_render.pop()
            try:
                verified: str | None = digest(self.render(device))
            except Exception:  # noqa: BLE001 - a failed render leaves the device unknown, never the board dead
                verified = None
            with self._lock:
                seen = self._seen.setdefault(device, _Seen())
                seen.verified = verified
                seen.verifying = device in self._to_render
                self.version += 1

    def state(self, device: str, desired: str) -> DeviceState:
        """The device's state against ``desired``, the section the store renders for it now."""
        with self._lock:
            seen = self._seen.get(device, _Seen())
            if seen.busy or seen.verifying:
                state = "busy"
            elif not seen.ok:
                state = "failing"
            elif seen.verified is None:
                state = "unknown"
            else:
                state = "in sync" if seen.verified == digest(desired) else "drifted"
            return DeviceState(device, state, seen.at, seen.error, seen.seconds, seen.summary)
