"""One device's desired set, kept current from the store's change feed: a wake reads the rows the
change wrote, not the active set.

``enforcer serve`` asks for a device's inputs on every wake of its worker. Reading every active
row (0.7 s for 10,000 models), and later every active row's id and expiry (``Store.active_keys``:
10,000 rows parsed per wake, a quarter of a push at 10,000 active), made one more decision cost
as much as the whole set. Here the first read loads the active set once; every later one reads
the store's serial and, when it moved, the rows written since the serial last read
(:meth:`~enforcer.store.Store.enforcements_changed_since`, :mod:`enforcer.feed`): one new decision
is one row read. Everything still comes from the store — a row's status and expiry as the store
says them, nothing remembered that it did not say — and a device whose inputs (the ids and
expiries it carries) did not move is not rendered nor read at all
(:class:`enforcer.pipeline.DeviceWorker`).

Per role, the rows a device of that role carries (no role named, or its own) are kept in id order
with their expiries in a heap: a row leaves when the store ends it, or when its expiry passes —
the first expiry is known without a scan, and the worker is due then.
"""

from __future__ import annotations

import heapq
import threading
from dataclasses import dataclass
from datetime import datetime

from . import feed
from .model import Enforcement, Status
from .store import Store

Key = tuple[int, datetime | None]
#: Changes a role's view remembers (ids), so that two of its snapshots compare by what changed between them.
LOG_KEEP = 50_000


class Keys:
    """The (id, expiry) of every row of one role's view at one version of it: a frozen snapshot
    that compares and subtracts by the view's change log.

    Each device worker (serve's, the controller's) asked for its inputs on every wake, and each time
    they were a new frozenset of every active key, compared (or subtracted, :mod:`enforcer.controller.pieces`)
    against the last one: at 10,000 active about 0.6 ms to build and 0.4 ms per comparison, twice per
    decision, in the two processes. Here a snapshot is a copy of the view's id → key map (a C copy,
    ~0.05 ms) and its version; two snapshots of one view compare equal by version, and their
    difference is read from the ids the view changed in between. Against anything else (another
    view, a set, a snapshot older than the log) it is a frozenset of the same keys, built once."""

    __slots__ = ("_view", "_version", "_items", "_frozen")

    def __init__(self, view: _RoleView | None, version: int, items: dict[int, Key]):
        self._view, self._version, self._items = view, version, items
        self._frozen: frozenset[Key] | None = None

    def frozen(self) -> frozenset[Key]:
        if self._frozen is None:
            self._frozen = frozenset(self._items.values())
        return self._frozen

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self):
        return iter(self._items.values())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, tuple) and len(key) == 2 and self._items.get(key[0]) == key

    def __hash__(self) -> int:
        return hash(self.frozen())

    def _between(self, other: Keys) -> set[int] | None:
        """The ids changed between the two snapshots, when the view's log still holds them."""
        view = self._view
        if view is None or other._view is not view:
            return None
        return view.changed_between(self._version, other._version)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Keys):
            if other._view is self._view and other._version == self._version and self._view is not None:
                return True
            ids = self._between(other)
            if ids is not None:
                return all(self._items.get(i) == other._items.get(i) for i in ids)
            return self.frozen() == other.frozen()
        if isinstance(other, (set, frozenset)):
            return self.frozen() == other
        return NotImplemented

    def __sub__(self, other: object) -> frozenset[Key]:
        if isinstance(other, Keys):
            ids = self._between(other)
            if ids is not None:
                mine, theirs = self._items, other._items
                return frozenset(mine[i] for i in ids if i in mine and mine[i] != theirs.get(i))
            return self.frozen() - other.frozen()
        if isinstance(other, (set, frozenset)):
            return self.frozen() - other
        return NotImplemented

    def __rsub__(self, other: object) -> frozenset[Key]:
        if isinstance(other, (set, frozenset)):
            return frozenset(other) - self.frozen()
        return NotImplemented

    def __repr__(self) -> str:
        return f"Keys({len(self)} at version {self._version})"


@dataclass(frozen=True)
class Inputs:
    """What one device's render depends on in the store, read at one moment."""

    #: The store's change serial read *before* the rows: a write during the read moves it.
    serial: int
    #: (id, expiry) of every active enforcement the device may carry: equal keys, equal render
    #: (:class:`Keys`: a frozenset's comparisons, by what changed).
    keys: Keys | frozenset[Key]
    enforcements: list[Enforcement]
    #: The first expiry among them (all later than the moment they were read at), None if none expires.
    first_expiry: datetime | None = None

    def next_expiry(self, after: datetime) -> datetime | None:
        """The first moment one of these leaves the desired set: the device's next render is due then."""
        if self.first_expiry is not None and self.first_expiry > after:
            return self.first_expiry
        return min((x for _, x in self.keys if x is not None and x > after), default=None)


class _RoleView:
    """The active rows one role carries, in id order, with the heap of their expiries."""

    def __init__(self, role: str | None, rows: dict[int, Enforcement], lock: threading.Lock | None = None):
        self.role = role
        self.lock = lock or threading.Lock()  # the state's: the log is trimmed under it
        self.rows: dict[int, Enforcement] = {}
        self.keys: dict[int, tuple[int, datetime | None]] = {}
        self.expiries: list[tuple[datetime, int]] = []
        #: The ids whose key changed, in order; ``log_base`` changes were forgotten before the first.
        self.log: list[int] = []
        self.log_base = 0
        for e in rows.values():
            if self.carries(e):
                self.put(e)
        self.log_base, self.log = len(self.log), []  # a new view: nothing to compare with before it

    def carries(self, e: Enforcement) -> bool:
        return self.role is None or not e.roles or self.role in e.roles

    def put(self, e: Enforcement) -> bool:
        """Keep ``e`` (new, or the store's newer version of a row); False when it came out of id order."""
        in_order = e.id in self.rows or not self.rows or e.id > next(reversed(self.rows))
        self.rows[e.id] = e
        key = (e.id, e.expires_at)
        if self.keys.get(e.id) != key:
            self.keys[e.id] = key
            self._changed(e.id)
        if e.expires_at is not None:
            heapq.heappush(self.expiries, (e.expires_at, e.id))
        return in_order

    def drop(self, i: int) -> None:
        self.rows.pop(i, None)
        if self.keys.pop(i, None) is not None:
            self._changed(i)

    def _changed(self, i: int) -> None:
        self.log.append(i)
        if len(self.log) > 2 * LOG_KEEP:
            forget = len(self.log) - LOG_KEEP
            del self.log[:forget]
            self.log_base += forget

    @property
    def version(self) -> int:
        return self.log_base + len(self.log)

    def snapshot(self) -> Keys:
        return Keys(self, self.version, dict(self.keys))

    def changed_between(self, a: int, b: int) -> set[int] | None:
        """The ids changed from version ``min(a, b)`` to ``max(a, b)``; None once the log forgot them."""
        lo, hi = min(a, b), max(a, b)
        with self.lock:
            if lo < self.log_base or hi > self.version:
                return None
            return set(self.log[lo - self.log_base:hi - self.log_base])

    def apply(self, changed: list[Enforcement], at: datetime) -> None:
        """The rows the feed returned: each is kept while the store holds it active, else dropped."""
        ordered = True
        for e in changed:
            if e.status is Status.ACTIVE and self.carries(e) and (e.expires_at is None or e.expires_at > at):
                ordered = self.put(e) and ordered
            else:
                self.drop(e.id)
        if not ordered:  # an approved (once held) row older than the newest: rare, sort once
            self._sort()

    def expire(self, at: datetime) -> None:
        """Drop the rows whose expiry has passed by ``at`` (the heap's stale entries go with them)."""
        heap = self.expiries
        while heap and heap[0][0] <= at:
            x, i = heapq.heappop(heap)
            if (e := self.rows.get(i)) is not None and e.expires_at == x:
                self.drop(i)
        if len(heap) > 2 * len(self.rows) + 1_000:  # refreshed expiries left stale entries: rebuild
            self.expiries = [(x, i) for i, (_, x) in self.keys.items() if x is not None]
            heapq.heapify(self.expiries)

    def first_expiry(self) -> datetime | None:
        heap = self.expiries
        while heap and ((e := self.rows.get(heap[0][1])) is None or e.expires_at != heap[0][0]):
            heapq.heappop(heap)  # a row ended, or its expiry refreshed since
        return heap[0][0] if heap else None

    def _sort(self) -> None:
        self.rows = dict(sorted(self.rows.items()))
        self.keys = {i: self.keys[i] for i in self.rows}


class DesiredState:
    """The active enforcements, followed through the store's change feed, shared by every device worker.

    An ``at`` earlier than one asked before may miss the rows that expired in between (serve's
    workers ask at their ``now()``, and an enforcement's last milliseconds are not worth a scan).
    """

    def __init__(self, store: Store):
        self.store = store
        self._serial: int | None = None  # the serial the views are current at (None: not read yet)
        self._views: dict[str | None, _RoleView] = {}
        #: Every active row, for a role asked for the first time (a row expired by time leaves when
        #: the store marks it expired: the feed brings that too).
        self._rows: dict[int, Enforcement] = {}
        self._lock = threading.Lock()
        #: A database the feed has no trigger for stamps nothing: every move of the serial is a full read there.
        self._feed = bool(feed.statements(store.engine.dialect.name))
        #: Rows read from the store (full loads and feed), for the tests that count work.
        self.rows_read = 0

    def serial(self) -> int:
        return self.store.serial()

    def inputs(self, role: str | None, at: datetime, serial: int | None = None) -> Inputs:
        """The active enforcements a device of ``role`` may carry at ``at``: the rows written since
        the last read are read, nothing else. ``serial``: the store's serial as the caller just read
        it (before any of the rows: a write since only makes the next read read it again)."""
        with self._lock:
            if serial is None or (self._serial is not None and serial < self._serial):
                serial = self.store.serial()  # another worker followed further since: a reset is told apart
            self._follow(serial, at)
            view = self._views.get(role)
            if view is None:
                view = self._views[role] = _RoleView(role, self._rows, self._lock)
            view.expire(at)
            return Inputs(serial, view.snapshot(), list(view.rows.values()), view.first_expiry())

    def _follow(self, serial: int, at: datetime) -> None:
        if self._serial is not None and serial == self._serial:
            return
        if self._serial is None or serial < self._serial or not self._feed:  # first read, the serial reset
            rows = self.store.active_enforcements(at)
            self.rows_read += len(rows)
            self._rows = {e.id: e for e in rows}
            self._views = {}
        else:
            changed = self.store.enforcements_changed_since(self._serial)
            self.rows_read += len(changed)
            for e in changed:
                if e.status is Status.ACTIVE and (e.expires_at is None or e.expires_at > at):
                    self._rows[e.id] = e
                else:
                    self._rows.pop(e.id, None)
            for view in self._views.values():
                view.apply(changed, at)
        self._serial = serial
