"""``/metrics``' dropped-traffic families and the counter reads follow the store's change serial:
a scrape with nothing changed builds no enforcement models, one after a change reads only what
changed, and the answer is always what a read of every counted enforcement gives."""

from __future__ import annotations

import random

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from enforcer import counters, service
from enforcer.counters import Counter, CounterCache, DroppedCollector, counted
from enforcer.model import Decision, Status
from enforcer.settings import Settings

from .conftest import EXAMPLE_INVENTORY


@pytest.fixture
def ctx(tmp_path):
    return service.Context.open(Settings(inventory=EXAMPLE_INVENTORY, db=f"sqlite:///{tmp_path / 'e.db'}"))


def _block(ctx, n: int, violation: str = "spam") -> int:
    d = Decision.model_validate({"target": f"203.0.113.{n}", "violation": violation, "actor": "noc", "source": "cli"})
    return service.submit(ctx, d).decision_id


def _ids(ctx, decision: int) -> list[int]:
    return [e.id for e in ctx.store.get_decision(decision).enforcements]


def _scrape(registry: CollectorRegistry) -> str:
    return generate_latest(registry).decode()


def _reference(ctx, counts: dict[int, Counter]) -> str:
    """The exposition as a read of every counted enforcement makes it."""
    from enforcer.counters import _dropped_families

    registry = CollectorRegistry()

    class Whole:
        def collect(self):
            yield from _dropped_families(counted(ctx.store, counts), counts)

    registry.register(Whole())
    return _scrape(registry)


def test_a_scrape_with_nothing_changed_builds_no_models_and_one_after_a_decision_reads_only_it(ctx, monkeypatch):
    decisions = [_block(ctx, n) for n in range(1, 41)]
    counts = {i: Counter(packets=d, bytes=60 * d) for d in decisions for i in _ids(ctx, d)}
    monkeypatch.setattr("enforcer.counters.read_counters", lambda _ctx: counts)
    cache = CounterCache(ctx, ttl=3600)
    registry = CollectorRegistry()
    registry.register(DroppedCollector(cache))
    first = _scrape(registry)
    assert first == _reference(ctx, counts)
    read = cache.counted.rows_read
    assert read == len(counts)
    built = []
    families = counters._dropped_families
    monkeypatch.setattr(counters, "_dropped_families", lambda *a: built.append(1) or families(*a))
    assert _scrape(registry) == first
    assert cache.counted.rows_read == read and built == []  # before: every counted enforcement read and built again
    newer = _block(ctx, 99)
    assert _scrape(registry) == first  # the devices' counts did not change: the new decision counts nothing yet
    assert cache.counted.rows_read - read == len(_ids(ctx, newer))  # the change feed's rows, not all 40 decisions'


@pytest.mark.parametrize("seed", range(3))
def test_the_followed_answer_equals_a_read_of_every_counted_enforcement(ctx, monkeypatch, seed):
    rng = random.Random(seed)
    current: dict[int, Counter] = {}
    monkeypatch.setattr("enforcer.counters.read_counters", lambda _ctx: current)
    cache = CounterCache(ctx, ttl=0)
    registry = CollectorRegistry()
    registry.register(DroppedCollector(cache))
    live: list[int] = []
    for step in range(40):
        what = rng.random()
        if what < 0.4 or not live:
            live.append(_block(ctx, step + 1, rng.choice(["spam", "scanning", "malware-hosting"])))
        elif what < 0.6:
            gone = live.pop(rng.randrange(len(live)))
            service.unblock(ctx, str(gone), actor="noc", source="cli", reason="test")
        if rng.random() < 0.7:  # the devices are read again: a new dict, some ids gone, one unknown
            ids = [i for d in live for i in _ids(ctx, d)] + [10_000 + step]
            current = {
                i: Counter(packets=rng.randint(0, 9), bytes=rng.randint(0, 900))
                for i in rng.sample(ids, rng.randint(0, len(ids)))
            }
        counts = cache.read()
        got = cache.counted(counts)
        assert got == counted(ctx.store, counts)
        assert all(e.status is Status.ACTIVE for e in got)
        assert _scrape(registry) == _reference(ctx, cache.read())
