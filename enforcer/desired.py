"""One device's desired set, read incrementally: the serial says whether anything changed at all,
the device's role which rows it may carry, and a row read once is not read again.

``enforcer serve`` asks for a device's inputs on every wake of its worker. Reading every active
row and building its model each time (0.7 s for 10,000 rows) made one more decision cost as much
as the whole set; here a wake costs one two-column query over the device's role (ids and
expiries) and the models of the rows it has not seen, so the render is fed only what the device
carries. The rows come from the store each time — nothing is remembered that the store did not
say — and a device whose inputs (the ids and expiries it carries) did not move is not rendered
nor read at all (:class:`enforcer.pipeline.DeviceWorker`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime

from .model import Enforcement
from .store import Store


@dataclass(frozen=True)
class Inputs:
    """What one device's render depends on in the store, read at one moment."""

    #: The store's change serial read *before* the rows: a write during the read moves it.
    serial: int
    #: (id, expiry) of every active enforcement the device may carry: equal keys, equal render.
    keys: frozenset[tuple[int, datetime | None]]
    enforcements: list[Enforcement]

    def next_expiry(self, after: datetime) -> datetime | None:
        """The first moment one of these leaves the desired set: the device's next render is due then."""
        return min((x for _, x in self.keys if x is not None and x > after), default=None)


class DesiredState:
    """The models of the active enforcements, kept by id across reads, shared by every device worker."""

    def __init__(self, store: Store):
        self.store = store
        self._models: dict[int, Enforcement] = {}
        self._lock = threading.Lock()

    def serial(self) -> int:
        return self.store.serial()

    def inputs(self, role: str | None, at: datetime) -> Inputs:
        """The active enforcements a device of ``role`` may carry at ``at``; only unseen rows are loaded."""
        serial = self.store.serial()
        keys = self.store.active_keys(at, role)
        with self._lock:
            known = dict(self._models)
        missing = [i for i, x in keys if (m := known.get(i)) is None or m.expires_at != x]
        if missing:  # a new row, or one whose expiry a detector's repeat refreshed
            loaded = {e.id: e for e in self.store.enforcements_by_id(missing)}
            with self._lock:
                self._models.update(loaded)
                if len(self._models) > 2 * len(keys) + 1_000:  # ended rows: forget them now and then
                    wanted = {i for i, _ in keys}
                    self._models = {i: e for i, e in self._models.items() if i in wanted}
            known.update(loaded)
        return Inputs(serial, frozenset(keys), [known[i] for i, _ in keys if i in known])
