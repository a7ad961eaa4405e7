"""Watch a router's BGP table continuously while something else happens (a push, an unblock).

"The customer's prefix was never withdrawn, not even for a moment" cannot be checked by looking
before and after: a lapse of a second between two looks is invisible. :class:`TableWatch` polls
in a background thread for as long as its ``with`` block runs, recording every observation, so
a test asserts over all of them — and proves it was watching during the change by waiting
(:meth:`TableWatch.observe_after`) for observations taken after the change completed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from .nodes import Node
from .probes import bgp_table


@dataclass(frozen=True)
class Observation:
    """One look at the table: when (``time.monotonic``) and which prefixes it held."""

    at: float
    prefixes: frozenset[str]


class TableWatch:
    """Poll ``node``'s BGP table (or ``look()``) until the ``with`` block ends; every answer is kept.

    A poll that raises ends the watch and the error is raised again on exit: a watch that stopped
    looking must not pass for one that saw nothing wrong.
    """

    def __init__(
        self, node: Node, family: int = 4, look: Callable[[], frozenset[str]] | None = None, interval: float = 0.02
    ):
        self.node = node
        self.interval = interval  # between looks: a look takes longer (a vtysh run), this spares the CPU
        self._look = look or (lambda: frozenset(bgp_table(node, family)))
        self.observations: list[Observation] = []
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"watch-{node.name}", daemon=True)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                prefixes = self._look()
                self.observations.append(Observation(time.monotonic(), prefixes))
                self._stop.wait(self.interval)
        except BaseException as exc:  # noqa: BLE001 - re-raised in __exit__
            self._error = exc

    def __enter__(self) -> TableWatch:
        self._thread.start()
        self.observe_after(time.monotonic())
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None):
        self._stop.set()
        self._thread.join(timeout=30)
        if self._error is not None and exc is None:
            raise self._error

    def observe_after(self, moment: float, count: int = 3, within: float = 30.0) -> None:
        """Wait until ``count`` observations were taken after ``moment`` (raise at the deadline)."""
        deadline = time.monotonic() + within
        while sum(1 for o in list(self.observations) if o.at > moment) < count:
            if self._error is not None:
                raise self._error
            if time.monotonic() > deadline:
                raise TimeoutError(f"watch of {self.node.name}: fewer than {count} looks in {within:.0f}s")
            self._stop.wait(0.02)

    def without(self, prefix: str) -> list[Observation]:
        """Observations in which ``prefix`` was missing."""
        return [o for o in self.observations if prefix not in o.prefixes]

    def with_(self, prefix: str) -> list[Observation]:
        """Observations in which ``prefix`` was present."""
        return [o for o in self.observations if prefix in o.prefixes]
