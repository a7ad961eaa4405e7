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

So such a step runs with the collector paused: :func:`enforcer.collector.collector_paused`, the
process's one module of collector switches (the store's bulk reads raise its threshold there too);
an incremental sync defers the occasional full collection to the idle controller (``defer_full``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eventlet import tpool

from ..collector import CHECK_EVERY, FULL_GROWTH, collect_if_due, collector_paused, full_due

__all__ = ["CHECK_EVERY", "FULL_GROWTH", "collect_if_due", "collector_paused", "full_due", "off_hub"]


def off_hub(work: Callable[..., Any], *args: Any, defer_full: bool = False) -> Any:
    """``work(*args)`` in a native thread, the collector paused, while the calling green thread waits
    (``defer_full``: a full collection due at its end waits for the idle controller,
    :func:`enforcer.collector.collector_paused`)."""
    return tpool.execute(_in_pause, defer_full, work, *args)


def _in_pause(defer_full: bool, work: Callable[..., Any], *args: Any) -> Any:
    with collector_paused(defer_full):
        return work(*args)
