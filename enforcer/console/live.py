"""Server-sent events for the console's live pages: a ``change`` event whenever what they show may
have changed, so an open page refreshes within a second instead of on the next two-second poll.

The event carries no page content, only a version (a digest of the latest audit entry, the device
board's pass count, the counters and the minute): the page then fetches its own ``<main>`` the way
the poller does, through the same authenticated request, so rendering stays in one place and a
stream can never show what the session may not see. Browsers without ``EventSource``, or whose
stream fails, fall back to polling (``static/console.js``).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool

#: How often the version is computed, and how long a quiet stream waits before a keep-alive comment
#: (proxies close idle connections).
EVERY, KEEPALIVE = 1.0, 15.0


def page_version(s: Any) -> str:
    """What the live pages show, as a short digest: ``s`` is the running app's Served."""
    latest = s.ctx.store.history(limit=1)
    counts = sorted((i, c.packets, c.bytes) for i, c in s.counters.read().items())
    parts = (latest[-1].id if latest else 0, s.board.version, counts, int(time.time() // 60))  # ages move per minute
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


async def change_events(read_version: Callable[[], str], every: float = EVERY,
                        keepalive: float = KEEPALIVE) -> AsyncIterator[str]:
    """The ``text/event-stream`` body: the current version at once, then each new one."""
    yield f"retry: {int(every * 2000)}\n\n"
    last, quiet = None, 0.0
    while True:
        current = await run_in_threadpool(read_version)
        if current != last:
            yield f"event: change\ndata: {current}\n\n"
            last, quiet = current, 0.0
        elif quiet >= keepalive:
            yield ": keep-alive\n\n"
            quiet = 0.0
        await asyncio.sleep(every)
        quiet += every
