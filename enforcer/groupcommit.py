"""Group commit: single submits that arrive together share one write transaction.

Every submit must hold the store's one write lock for its reads and its insert (that is what
keeps the caps true under concurrency), and every commit is an fsync. Sixteen detectors posting
one decision each therefore queue for sixteen transactions one after the other. Here the first
caller leads: it takes every item queued so far (its own first) and runs them as one batch
(:func:`enforcer.decisions.submit_many`, the items in arrival order, each seeing the ones before);
whoever arrived meanwhile waits, and the first of them leads the next group once this one has
committed. A caller is answered when its own group commits: no one waits for more than the
group before its own, and one caller alone pays nothing but a lock.

The leader takes its group only once it holds ``queue`` (the store's writer queue, see
:meth:`enforcer.store.Store.queued`): while it waits there behind another writer (a device
worker's audit entry, a lease), the callers arriving meanwhile join its group instead of
waiting for the next transaction.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

#: Items in one group at most: one transaction stays short however many callers are waiting.
MAX_GROUP = 1000


@dataclass
class _Waiting:
    item: Any
    done: threading.Event = field(default_factory=threading.Event)
    lead: bool = False
    outcome: Any = None
    error: BaseException | None = None


class GroupCommit:
    """``group(item)`` → ``run([item, ...])[i]``, with concurrent callers' items in one ``run``."""

    def __init__(self, run: Callable[[list[Any]], list[Any]], limit: int = MAX_GROUP,
                 queue: Callable[[], AbstractContextManager[Any]] = nullcontext):
        self._run = run
        self._limit = limit
        self._queue_for = queue
        self._lock = threading.Lock()
        self._queue: list[_Waiting] = []
        self._leading = False

    def __call__(self, item: Any) -> Any:
        me = _Waiting(item)
        with self._lock:
            self._queue.append(me)
            if not self._leading:
                self._leading = me.lead = True
        if not me.lead:
            me.done.wait()  # answered by a leader, or made the leader of the next group
        if me.lead:
            self._lead()
        if me.error is not None:
            raise me.error
        return me.outcome

    def waiting(self) -> int:
        """Callers queued for the next group (tests wait on it)."""
        with self._lock:
            return len(self._queue)

    def _lead(self) -> None:
        """Run one group (the leader's own item first), answer it, and pass the lead to the next caller."""
        group: list[_Waiting] = []
        try:
            with self._queue_for():  # the group is taken once it is this leader's turn to write
                with self._lock:
                    group, self._queue = self._queue[: self._limit], self._queue[self._limit :]
                for w, outcome in zip(group, self._run([w.item for w in group]), strict=True):
                    w.outcome = outcome
        except BaseException as exc:  # the store failed: every caller of this group hears it
            if not group:  # failed before taking it: the leader's own item still needs its answer
                with self._lock:
                    group, self._queue = self._queue[:1], self._queue[1:]
            for w in group:
                w.error = exc
        for w in group:
            w.lead = False
            w.done.set()
        with self._lock:
            if self._queue:
                nxt = self._queue[0]
                nxt.lead = True
                nxt.done.set()
            else:
                self._leading = False
