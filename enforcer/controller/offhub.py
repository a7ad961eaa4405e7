"""CPU-bound steps of a sync, run where they cannot stop os-ken's hub: a native thread, without the
cyclic garbage collector.

The hub is one OS thread: on it, a sync with 50,000 flows desired computed for minutes without
yielding, nothing answered Open vSwitch's inactivity probe, and the switch disconnected itself
("no response to inactivity probe after 5 seconds") in the middle of every apply and plan. In a
native thread (eventlet's ``tpool``) the GIL still lets the hub run every few milliseconds — but
not during a collection of the cyclic garbage collector, which holds the GIL for as long as it
walks every tracked object. With 100,000 flows desired and installed (flows, matches, addresses,
models, caches: millions of objects), each full collection stopped every thread for 2–5.5 s on the
loaded machine, a few of them per sync, and the switch still disconnected during apply
(``bench/openflow_scale.py``; measured by a green thread ticking every 10 ms beside the work:
the longest gap was 5.6 s with the collector on, 0.27 s with it paused).

So while any such step runs the collector is paused; when the last one ends, one collection of
the young generations (only the objects made since: the step's cyclic garbage is all there, since
nothing was promoted while paused) frees what the step left, and :func:`gc.freeze` moves every
survivor out of the collector's sight, so later collections walk only what is new. What is frozen
is mostly the controller's long-lived state (the confirmed switch state, parsed-line caches,
models), which reference counting frees when it is dropped — but a frozen object that later
becomes part of an unreachable cycle is never examined again, so frozen alone leaks it. Hence, once
the frozen set has grown by half since the last full collection (:data:`FULL_GROWTH`, looked
at every :data:`CHECK_EVERY` pauses), the end of a pause unfreezes, collects everything and
freezes again: the cost of full collections stays
proportional to what was allocated (Python's own rule for its oldest generation, applied at the
end of a step, where a pause of the hub is one per growth, not several per sync).

That one full collection walks every object (about a second at 10,000 flows installed, loaded):
at the end of a one-decision sync it was that decision's latency (issue 12's < 20 ms: one
decision in ~25 took 0.6–1 s at 10,000 active). A pause that says so (``defer_full``: the
controller's incremental syncs) leaves a due full collection to :func:`collect_if_due`, which the
controller calls once it has been idle a moment — or to the next pause that does not defer, or to
the :data:`DEFER_MAX`-th deferring one: a stream that never pauses still gets it.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from eventlet import tpool

_lock = threading.Lock()
_running = 0
#: A full collection (unfreeze, collect all, freeze) is due once the frozen set grew this much.
FULL_GROWTH = 1.5
#: ...looked at every this many pauses: counting the frozen set walks it (1 ms per ~100,000 objects).
CHECK_EVERY = 64
_frozen_at_full = 0
_pauses = 0
#: A due full collection is put off by at most this many deferring pauses.
DEFER_MAX = 256
_full_due = False
_deferred = 0
#: Full collections run (tests count them).
full_collections = 0


def off_hub(work: Callable[..., Any], *args: Any, defer_full: bool = False) -> Any:
    """``work(*args)`` in a native thread, the collector paused, while the calling green thread waits."""
    return tpool.execute(_in_pause, defer_full, work, *args)


def _in_pause(defer_full: bool, work: Callable[..., Any], *args: Any) -> Any:
    with collector_paused(defer_full):
        return work(*args)


@contextmanager
def collector_paused(defer_full: bool = False) -> Iterator[None]:
    """No cyclic collection while the block runs (in any thread: the collector is per process);
    nested and concurrent blocks share one pause, and the last one out collects and freezes.

    Also for work on the hub that makes many objects: os-ken parsing a full read of 100,000
    flow stats (a million objects) would otherwise trigger full collections that walk the
    growing list of replies again and again. ``defer_full``: see the module's docstring."""
    global _running, _pauses, _full_due, _deferred
    with _lock:
        _running += 1
        gc.disable()
    try:
        yield
    finally:
        with _lock:
            _running -= 1
            if _running == 0:
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
                gc.enable()


def _collect_full() -> None:
    """(Under the lock, the collector disabled.)"""
    global _frozen_at_full, _full_due, full_collections
    gc.unfreeze()  # frozen cycles that became garbage are collectable again
    gc.collect()
    gc.freeze()
    _frozen_at_full, _full_due = gc.get_freeze_count(), False
    full_collections += 1


def full_due() -> bool:
    return _full_due


def collect_if_due() -> bool:
    """The full collection a deferring pause left, now (when no pause runs); whether it ran."""
    with _lock:
        if not _full_due or _running:
            return False
        gc.disable()
        try:
            _collect_full()
        finally:
            gc.enable()
        return True
