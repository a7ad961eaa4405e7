"""Bulk reads and renders do not make the cyclic collector walk the heap again and again (issue 12.1).

Counted, not timed: the collections CPython starts (``gc.callbacks``) while the store reads a few
thousand enforcements and a device's section is rendered from them.
"""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from enforcer import collector, service
from enforcer.settings import Settings
from enforcer.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from scale_inputs import store_active, write_inventory  # noqa: E402


@contextmanager
def collections() -> Iterator[list[int]]:
    """The generation of each collection CPython starts inside the block."""
    seen: list[int] = []

    def count(phase: str, info: dict) -> None:
        if phase == "start":
            seen.append(info["generation"])

    gc.collect()  # what earlier tests left is not counted here
    gc.callbacks.append(count)
    try:
        yield seen
    finally:
        gc.callbacks.remove(count)


def test_reading_thousands_of_enforcements_starts_no_full_collection(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store_active(url, 4000, lambda i: ["edge"])
    store = Store(url)
    with collections() as seen:
        assert len(store.active_enforcements()) == 4000
    # 4,000 models, networks, dicts: ~50 young collections at CPython's threshold of 700.
    assert len(seen) <= 2, seen
    assert 2 not in seen


def test_rendering_a_4000_entry_acl_starts_no_full_collection(tmp_path: Path, monkeypatch) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store_active(url, 4000, lambda i: ["edge"])
    monkeypatch.setenv("ENFORCER_INVENTORY", str(write_inventory(tmp_path / "inv", [("r1", "ios", "edge")], 5000)))
    monkeypatch.setenv("ENFORCER_DB", url)
    ctx = service.Context.open(Settings.from_env())
    service.render_device(ctx, "r1")  # templates compiled, caches warm: not what is counted
    with collections() as seen:
        text = service.render_device(ctx, "r1")
    assert text.count(" deny ") == 3 * 4000  # three ports per entry: everything was printed
    assert 2 not in seen
    assert len(seen) <= 5, seen


def test_the_threshold_comes_back_when_the_last_of_concurrent_blocks_ends() -> None:
    before = gc.get_threshold()
    inside, release = threading.Event(), threading.Event()

    def other() -> None:
        with collector.bulk_work():
            inside.set()
            release.wait(10)

    t = threading.Thread(target=other)
    with collector.bulk_work():
        assert gc.get_threshold()[0] == collector.BULK_THRESHOLD
        t.start()
        assert inside.wait(10)
    assert gc.get_threshold()[0] == collector.BULK_THRESHOLD  # the other thread is still inside
    release.set()
    t.join(10)
    assert gc.get_threshold() == before


def test_a_process_that_switched_automatic_collection_off_keeps_it_off() -> None:
    before = gc.get_threshold()
    gc.set_threshold(0)
    try:
        with collector.bulk_work():
            assert gc.get_threshold()[0] == 0
        assert gc.get_threshold()[0] == 0
    finally:
        gc.set_threshold(*before)


def test_a_bulk_read_inside_a_paused_sync_leaves_the_pause_on_and_the_threshold_as_it_was() -> None:
    """The controller's store read (bulk_work) runs inside its sync's pause (collector_paused):
    the two switches of the one module compose in either order."""
    before = gc.get_threshold()
    with collector.collector_paused():
        with collector.bulk_work():
            assert not gc.isenabled() and gc.get_threshold()[0] == collector.BULK_THRESHOLD
        assert not gc.isenabled() and gc.get_threshold() == before
    assert gc.isenabled()
    with collector.bulk_work():
        with collector.collector_paused():
            assert not gc.isenabled()
        assert gc.isenabled() and gc.get_threshold()[0] == collector.BULK_THRESHOLD
    assert gc.get_threshold() == before


def test_a_command_line_plan_runs_no_collection_and_gives_the_collector_back(
    cli, tmp_path: Path, db_url: str, monkeypatch
) -> None:
    """``enforcer plan`` is the whole life of its process: the collector stays off while it runs
    (it walked the desired set the store read had made: 0.3 s of a 100,000-enforcement plan) and
    is switched back on, without a collection, when it ends (here the test's own process)."""
    store_active(db_url, 3000, lambda i: ["edge"])
    devices = [("r1", "ios", "edge"), ("r2", "junos", "edge"), ("r3", "nftables", "edge")]
    monkeypatch.setenv("ENFORCER_INVENTORY", str(write_inventory(tmp_path / "inv", devices, 5000)))
    during: list[list[int]] = []
    plan = service.plan

    def counted(*args, **kwargs):  # the pass itself: the CLI's own parsing and printing are not counted
        with collections() as seen:
            try:
                return plan(*args, **kwargs)
            finally:
                during.append(list(seen))

    monkeypatch.setattr(service, "plan", counted)
    monkeypatch.setattr(collector, "BULK_THRESHOLD", 1000)  # 3,000 enforcements then stand for 300,000
    code, out, _ = cli("plan")
    assert code == 0 and "Plan: " in out
    assert "deny   tcp host 10.0.11.183 any eq smtp" in out  # the last of 3,000: all of them were read
    assert during == [[]]  # before: young collections and a middle one over the 3,000 models read
    assert gc.isenabled()


def test_one_command_composes_with_a_paused_sync_and_with_itself() -> None:
    """Whichever block ends last switches the collector back on, and only if it was on before."""
    assert gc.isenabled()
    with collector.one_command():
        with collector.collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the pause's end does not switch it on under a one-shot command
        with collector.one_command():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    with collector.collector_paused():
        with collector.one_command():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the pause still runs
    assert gc.isenabled()
    gc.disable()
    try:
        with collector.one_command():
            pass
        assert not gc.isenabled()  # a process that had it off keeps it off
    finally:
        gc.enable()


def test_what_a_command_left_alive_is_not_walked_by_the_next_young_collection() -> None:
    """After the block the young generations are empty: what the command still holds (the store's
    desired set) went to the oldest generation uncollected, where only a full collection looks."""
    gc.unfreeze()  # nothing frozen by an earlier test (the controller's pause): the move is a splice then
    with collector.one_command():
        kept = [[i] for i in range(20_000)]
    assert len(gc.get_objects(0)) + len(gc.get_objects(1)) < 1000
    assert gc.is_tracked(kept[-1]) and any(o is kept for o in gc.get_objects(2))
