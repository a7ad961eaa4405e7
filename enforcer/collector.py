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
This composes with :func:`enforcer.controller.offhub.collector_paused` (which disables and enables
the collector and never changes a threshold).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: Young-generation threshold during bulk work: ~140x fewer collections than CPython's 700.
BULK_THRESHOLD = 100_000

_lock = threading.Lock()
_running = 0
_saved: tuple[int, ...] = ()


@contextmanager
def bulk_work() -> Iterator[None]:
    """Run the block with the young generation's threshold raised; nested and concurrent blocks
    share one raise, and the last one out restores what the process had."""
    global _running, _saved
    with _lock:
        if _running == 0:
            _saved = gc.get_threshold()
            if _saved[0]:  # 0: the process chose no automatic collection, leave it so
                gc.set_threshold(max(BULK_THRESHOLD, _saved[0]), *_saved[1:])
        _running += 1
    try:
        yield
    finally:
        with _lock:
            _running -= 1
            if _running == 0:
                gc.set_threshold(*_saved)
