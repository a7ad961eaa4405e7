"""Bulk work without the cyclic garbage collector walking the heap again and again.

Reading 100,000 enforcements and building, printing and diffing a section per device makes
millions of objects that reference counting alone frees: models, networks, strings, lists. CPython
(3.11) starts a young collection every 700 new container objects and, every few of those, may walk
every tracked object: the 100,000-enforcement plan ran about 3,800 young and 15 full collections,
some 6 s of CPU of its 16 s (``gc.callbacks``, ``bench/plan_scale.py``'s store), and the 10,000-entry
ACL for seven platforms 12 full collections, about 1.5 s of its 7.

While :func:`bulk_work` runs (any thread: the collector is per process), the young generation's
threshold is :data:`BULK_THRESHOLD` instead of 700, so the same work triggers a few dozen young
collections and no full one; the threshold the process had is restored when the last block ends.
The collector is not switched off: a cycle made during the work is still collected, only later
(at most :data:`BULK_THRESHOLD` objects later), so nothing can pile up, whatever runs beside it.
The OpenFlow controller needs more: with 100,000 flows desired and installed, even the few full
collections left would hold the GIL for seconds while os-ken's hub must answer the switch's
inactivity probe. :func:`collector_paused` switches the collector off for its block and, when the
last block ends, collects the young generations once and freezes what survives (see its docstring).
Both are process-wide switches shared by nested and concurrent blocks (:class:`_Shared`); they
compose (one disables and enables, the other changes a threshold), so a store read inside a paused
sync is fine. A one-shot command (``enforcer plan``) runs with the collector off to its end
(:func:`one_command`), which composes with both.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

#: Young-generation threshold during bulk work: ~140x fewer collections than CPython's 700.
BULK_THRESHOLD = 100_000
#: A full collection (unfreeze, collect all, freeze) is due once the frozen set grew this much...
FULL_GROWTH = 1.5
#: ...looked at every this many pauses: counting the frozen set walks it (1 ms per ~100,000 objects).
CHECK_EVERY = 64


class _Shared:
    """A process-wide setting of the collector that nested and concurrent blocks share: the first
    block in calls ``enter``, the last one out calls ``leave`` (both under the lock)."""

    def __init__(self, enter: Callable[[], None], leave: Callable[..., None]):
        self._enter, self._leave = enter, leave
        self._lock = threading.Lock()
        self._running = 0

    @contextmanager
    def held(self, *leave_args: object) -> Iterator[None]:
        """The block under the setting; ``leave_args`` go to ``leave`` if this block is the last one out."""
        with self._lock:
            if self._running == 0:
                self._enter()
            self._running += 1
        try:
            yield
        finally:
            with self._lock:
                self._running -= 1
                if self._running == 0:
                    self._leave(*leave_args)


# ------------------------------------------------------------------ bulk work: a raised threshold

_saved: tuple[int, ...] = ()


def _raise_threshold() -> None:
    global _saved
    _saved = gc.get_threshold()
    if _saved[0]:  # 0: the process chose no automatic collection, leave it so
        gc.set_threshold(max(BULK_THRESHOLD, _saved[0]), *_saved[1:])


def _restore_threshold() -> None:
    gc.set_threshold(*_saved)


_bulk = _Shared(_raise_threshold, _restore_threshold)


def bulk_work() -> contextlib.AbstractContextManager[None]:
    """Run the block with the young generation's threshold raised; nested and concurrent blocks
    share one raise, and the last one out restores what the process had."""
    return _bulk.held()


# ------------------------------------------------------------------ a paused collector (the OpenFlow hub)

_frozen_at_full = 0
_pauses = 0
#: A due full collection is put off by at most this many deferring pauses.
DEFER_MAX = 256
_full_due = False
_deferred = 0
#: Full collections run (tests count them).
full_collections = 0


def _end_pause(defer_full: bool = False) -> None:
    """Collect what the paused work left (all young: nothing was promoted while paused), freeze
    the survivors, and now and then collect everything (see :func:`collector_paused`)."""
    global _pauses, _full_due, _deferred
    gc.collect(1)
    gc.freeze()
    _pauses += 1
    if not _full_due and _pauses % CHECK_EVERY == 0 \
            and gc.get_freeze_count() >= max(1, _frozen_at_full) * FULL_GROWTH:
        _full_due, _deferred = True, 0
    if _full_due:
        if defer_full and _deferred < DEFER_MAX:
            _deferred += 1
        else:
            _collect_full()
    if not _one_command:  # a command of a process that ends with it keeps the collector off (one_command)
        gc.enable()


def _collect_full() -> None:
    """(Under the pause's lock, the collector disabled.)"""
    global _frozen_at_full, _full_due, full_collections
    gc.unfreeze()  # frozen cycles that became garbage are collectable again
    gc.collect()
    gc.freeze()
    _frozen_at_full, _full_due = gc.get_freeze_count(), False
    full_collections += 1


_paused = _Shared(gc.disable, _end_pause)


# ------------------------------------------------------------------ a command whose process ends with it

_one_command = 0


@contextmanager
def one_command() -> Iterator[None]:
    """No cyclic collection while a command whose process ends with it runs (``enforcer plan``
    from the command line), and no collection when it ends: the collector is only switched back on.

    Raising the young threshold (:func:`bulk_work`) still left a 100,000-enforcement plan of 100
    devices about 0.5 s of CPU in the collector (``gc.callbacks``, ``bench/plan_scale.py``'s store):
    a dozen young collections of 100,000 objects each, and one middle-generation collection that
    walks the whole desired set the store read had just made (a million objects, 0.3 s). All of it
    looked at objects that reference counting frees; the cyclic garbage of that whole plan is about
    5,000 objects (a section's print leaves none: ``render._render_and_let_go``), left to the
    process's exit here. Not for ``serve``, the API or any
    loop: there, garbage would pile up with every pass. A paused sync (:func:`collector_paused`)
    inside the block leaves the collector off when it ends; the block's end switches it back on
    only if it was on before (a caller in the same process, a test, gets its collector back)."""
    global _one_command
    with _paused._lock:
        was = gc.isenabled()
        gc.disable()
        _one_command += 1
    try:
        yield
    finally:
        with _paused._lock:
            _one_command -= 1
            if was and not _one_command and not _paused._running:
                _age_young()
                gc.enable()


def _age_young() -> None:
    """Move every object in the young generations to the oldest one, uncollected, as if it had
    survived there: switched back on after a long block, the collector's first young collection
    would otherwise walk all that the block left alive (the store's desired set, still held by the
    command's context: 0.17 s at 100,000). Cyclic garbage among them waits for the next full
    collection. Done with freeze + unfreeze (two list splices) only while nothing else is frozen:
    unfreeze would hand the paused controller's frozen state back to the collector too."""
    if gc.get_freeze_count() == 0:
        gc.freeze()
        gc.unfreeze()


def full_due() -> bool:
    """A full collection is due and was put off by deferring pauses (:func:`collect_if_due` runs it)."""
    return _full_due


def collect_if_due() -> bool:
    """The full collection a deferring pause left, now (when no pause runs); whether it ran."""
    with _paused._lock:
        if not _full_due or _paused._running:
            return False
        gc.disable()
        try:
            _collect_full()
        finally:
            gc.enable()
        return True


def collector_paused(defer_full: bool = False) -> contextlib.AbstractContextManager[None]:
    """No cyclic collection while the block runs (in any thread: the collector is per process);
    nested and concurrent blocks share one pause, and the last one out collects and freezes.

    When the last block ends, one collection of the young generations (only the objects made
    since: the work's cyclic garbage is all there) frees what the work left, and :func:`gc.freeze`
    moves every survivor out of the collector's sight, so later collections walk only what is new.
    What is frozen is mostly long-lived state (the controller's confirmed switch state, parsed-line
    caches, models), which reference counting frees when it is dropped — but a frozen object that
    later becomes part of an unreachable cycle is never examined again, so frozen alone leaks it.
    Hence, once the frozen set has grown by :data:`FULL_GROWTH` since the last full collection
    (looked at every :data:`CHECK_EVERY` pauses), the end of a pause unfreezes, collects everything
    and freezes again: the cost of full collections stays proportional to what was allocated.

    Also for work on os-ken's hub that makes many objects: parsing a full read of 100,000 flow
    stats (a million objects) would otherwise trigger full collections that walk the growing list
    of replies again and again.

    That one full collection walks every object (about a second at 10,000 flows installed, loaded):
    at the end of a one-decision sync it was that decision's latency (issue 12's < 20 ms: one
    decision in ~25 took 0.6–1 s at 10,000 active). A pause that says so (``defer_full``: the
    OpenFlow controller's incremental syncs) leaves a due full collection to :func:`collect_if_due`,
    which the controller calls once it has been idle a moment, or to the next pause that does not
    defer, or to the :data:`DEFER_MAX`-th deferring one: a stream that never pauses still gets it."""
    return _paused.held(defer_full)
