"""The controller's one full garbage collection per growth of its long-lived state (enforcer.collector, through enforcer.controller.offhub)
runs when the controller is idle, never at the end of a one-decision sync, where it was that decision's
latency (about a second at 10,000 flows: one decision in ~25 of bench/openflow_latency.py at 10,000 active)."""

from __future__ import annotations

import gc

# isort: off
import enforcer.controller  # noqa: F401 - selects os-ken's eventlet hub: it must load before os-ken
from os_ken.lib import hub

# isort: on
from enforcer import collector
from enforcer.controller import app as app_module
from enforcer.controller import offhub
from tests.test_openflow_controller import DPID, active, enf, switch, wait_until  # noqa: F401 - fixtures


def _full_collections() -> list[int]:
    """Every collection of the oldest generation from now on (gc.callbacks: the interpreter's own count)."""
    seen: list[int] = []

    def count(phase: str, info: dict) -> None:
        if phase == "start" and info["generation"] == 2:
            seen.append(1)

    gc.callbacks.append(count)
    return seen


def _make_full_collection_due(monkeypatch) -> None:
    monkeypatch.setattr(collector, "CHECK_EVERY", 1)
    monkeypatch.setattr(collector, "_frozen_at_full", 1)  # the frozen set "grew" far past FULL_GROWTH
    assert not offhub.full_due()


def test_a_one_decision_sync_leaves_a_due_full_collection_to_the_idle_controller(switch, active, monkeypatch):  # noqa: F811
    assert switch.app.sync(DPID).ok  # the switch as desired, read back: the next syncs are incremental
    _make_full_collection_due(monkeypatch)
    seen = _full_collections()
    try:
        active.append(enf(7, "198.18.0.12"))
        report = switch.app.sync(DPID, full=False)
        assert report.ok and report.changes["flows_added"] == 2, report
        assert seen == [], "a full collection ran inside the decision's sync"
        assert offhub.full_due()
        monkeypatch.setattr(app_module, "IDLE_COLLECT", 0.05)
        collector = hub.spawn(switch.app._collect_when_idle)
        try:
            wait_until("the idle collection", lambda: not offhub.full_due())
        finally:
            hub.kill(collector)
        assert seen, "the due full collection never ran"
    finally:
        gc.callbacks[:] = [c for c in gc.callbacks if getattr(c, "__name__", "") != "count"]


def test_a_stream_that_never_idles_still_gets_its_full_collection(monkeypatch):
    _make_full_collection_due(monkeypatch)
    monkeypatch.setattr(collector, "DEFER_MAX", 3)
    before = collector.full_collections
    for _ in range(3):
        with offhub.collector_paused(defer_full=True):
            pass
    assert offhub.full_due() and collector.full_collections == before  # put off three times ...
    with offhub.collector_paused(defer_full=True):
        pass
    assert not offhub.full_due() and collector.full_collections == before + 1  # ... not a fourth
