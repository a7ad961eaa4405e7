"""Issue 14.2: counters read from nft's JSON listing belong to the enforcements named in comments."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from enforcer.counters import Counter, by_decision, nft_counters

# `nft -j list table inet enforcer` from nftables 1.0.6 (Debian 12) with a counted set and two
# counted rules, as it printed it (one line); the counts edited to non-zero values and a second
# element added, a prefix, in the form nft -j prints prefixes.
CAPTURE = (
    '{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, '
    '{"table": {"family": "inet", "name": "enforcer", "handle": 1}}, '
    '{"set": {"family": "inet", "name": "null-v4", "table": "enforcer", "type": "ipv4_addr", "handle": 2, '
    '"flags": ["interval"], "elem": [{"elem": {"val": "203.0.113.7", "comment": "2014 malware-hosting", '
    '"counter": {"packets": 12, "bytes": 1008}}}, {"elem": {"val": {"prefix": {"addr": "203.0.113.8", "len": 31}}, '
    '"comment": "2015+2016 malware-hosting", "counter": {"packets": 3, "bytes": 180}}}], "stmt": [{"counter": null}]}}, '
    '{"chain": {"family": "inet", "table": "enforcer", "name": "forward", "handle": 1, "type": "filter", '
    '"hook": "forward", "prio": -10, "policy": "accept"}}, '
    '{"rule": {"family": "inet", "table": "enforcer", "chain": "forward", "handle": 3, "comment": '
    '"enforcer null-route", "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, '
    '"right": "@null-v4"}}, {"counter": {"packets": 15, "bytes": 1188}}, {"drop": null}]}}, '
    '{"rule": {"family": "inet", "table": "enforcer", "chain": "forward", "handle": 4, "comment": '
    '"4014 rate-limit ticket 401", "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip", '
    '"field": "saddr"}}, "right": "198.51.100.30"}}, {"limit": {"rate": 1250000, "burst": 1250000, "per": "second", '
    '"inv": true, "rate_unit": "bytes", "burst_unit": "bytes"}}, {"counter": {"packets": 7000, "bytes": 9800000}}, '
    '{"drop": null}]}}]}'
)


def test_each_set_element_and_rule_counter_goes_to_the_enforcements_its_comment_names():
    counts = nft_counters(CAPTURE)
    assert counts == {
        2014: Counter(packets=12, bytes=1008),
        2015: Counter(packets=3, bytes=180),
        2016: Counter(packets=3, bytes=180),
        4014: Counter(packets=7000, bytes=9800000),
    }  # the set's shared drop rule ("enforcer null-route") is no one enforcement's figure


def test_a_decision_sums_its_enforcements_and_a_missing_table_counts_nothing():
    enforcements = [
        SimpleNamespace(id=2014, decision_id=1),
        SimpleNamespace(id=4014, decision_id=1),
        SimpleNamespace(id=9, decision_id=2),
    ]
    assert by_decision(enforcements, nft_counters(CAPTURE)) == {1: Counter(packets=7012, bytes=9801008)}
    assert nft_counters("") == {}
    assert Counter(packets=7012, bytes=9801008).human() == "7.0k pkts 9.8M B"


def test_10000_counted_elements_are_summed_as_integers_not_a_model_per_element_and_sum(monkeypatch):
    import json

    elems = [{"elem": {"val": f"10.{i // 250}.{i % 250}.1", "comment": f"{i // 2} malware-hosting",
                       "counter": {"packets": i, "bytes": 60 * i}}} for i in range(10_000)]  # fmt: skip
    listing = json.dumps({"nftables": [{"set": {"name": "null-v4", "elem": elems}}]})
    validated = []
    init = Counter.__init__
    monkeypatch.setattr(Counter, "__init__", lambda self, **kw: validated.append(1) or init(self, **kw))
    counts = nft_counters(listing)
    assert validated == []  # before: 20,000 (one per element, one per sum)
    monkeypatch.undo()
    assert counts == {i: Counter(packets=4 * i + 1, bytes=60 * (4 * i + 1)) for i in range(5_000)}


def test_summing_two_devices_and_a_decisions_enforcements_validates_no_counter_again(monkeypatch):
    from contextlib import contextmanager

    from enforcer.counters import read_counters

    one = {i: Counter(packets=i, bytes=60 * i) for i in range(10_000)}
    other = {i: Counter(packets=1, bytes=2) for i in range(0, 10_000, 2)}
    devices = {"edge-1": one, "edge-2": other}

    @contextmanager
    def driver(device):
        yield SimpleNamespace(get_counters=lambda: devices[device])

    ctx = SimpleNamespace(inventory=SimpleNamespace(devices={name: name for name in devices}), driver=driver)
    validated = []
    init = Counter.__init__
    monkeypatch.setattr(Counter, "__init__", lambda self, **kw: validated.append(1) or init(self, **kw))
    total = read_counters(ctx)
    decisions = by_decision([SimpleNamespace(id=i, decision_id=i // 4) for i in range(10_000)], total)
    assert len(validated) <= 2  # before: one per sum, 15,000 and 10,000 more
    monkeypatch.undo()
    assert total == {i: Counter(packets=i + (i % 2 == 0), bytes=60 * i + 2 * (i % 2 == 0)) for i in range(10_000)}
    assert decisions[1] == Counter(packets=4 + 5 + 6 + 7 + 2, bytes=60 * 22 + 4)


def test_a_counter_nft_prints_otherwise_is_read_as_the_model_reads_it():
    import json

    import pydantic

    def listing(counter: object) -> str:
        elem = {"elem": {"val": "203.0.113.7", "comment": "7 spam", "counter": counter}}
        return json.dumps({"nftables": [{"set": {"name": "null-v4", "elem": [elem, elem]}}]})

    for odd in ({"packets": "5", "bytes": 300}, {"packets": 5, "bytes": 300, "extra": 1}, {"packets": True}, {}):
        assert nft_counters(listing(odd)) == {7: Counter(**odd) + Counter(**odd)}, odd
    with pytest.raises(pydantic.ValidationError, match="packets"):
        nft_counters(listing({"packets": "many", "bytes": 1}))


def test_a_block_that_never_counts_is_flagged_and_one_whose_traffic_stopped_too():
    from enforcer.counters import Sampler

    s = Sampler(idle=600)
    s.observe({1: Counter(), 2: Counter(packets=5, bytes=300)}, at=0)
    assert s.flag(1, at=300) is None  # too early to say
    s.observe({1: Counter(), 2: Counter(packets=900, bytes=54_000)}, at=300)
    assert s.flag(1, at=600) == "no traffic seen"
    assert s.flag(2, at=600) is None  # still counting 5 minutes ago
    s.observe({1: Counter(), 2: Counter(packets=900, bytes=54_000)}, at=1000)
    assert s.flag(2, at=1000) == "traffic stopped 11 min ago"
    assert s.flag(3, at=1000) is None  # never read: no claim either way


def test_the_idle_threshold_is_each_categorys_playbook_flag_idle_after(tmp_path, monkeypatch):
    from datetime import timedelta

    from enforcer import service
    from enforcer.counters import CounterCache
    from enforcer.model import Decision, Violation
    from enforcer.settings import Settings

    from .conftest import EXAMPLE_INVENTORY

    ctx = service.Context.open(Settings(inventory=EXAMPLE_INVENTORY, db=f"sqlite:///{tmp_path / 'e.db'}"))
    books = dict(ctx.playbooks)
    books[Violation.SCANNING] = books[Violation.SCANNING].model_copy(update={"flag_idle_after": timedelta(hours=2)})
    ctx.__dict__["playbooks"] = books  # as if playbooks/scanning.yaml said `flag_idle_after: 2h`
    assert books[Violation.SPAM].flag_idle_after == timedelta(minutes=10)  # the default

    def block(target: str, violation: str) -> int:
        d = Decision.model_validate({"target": target, "violation": violation, "actor": "noc", "source": "cli"})
        return service.submit(ctx, d).decision_id

    scanner, spammer = block("203.0.113.7", "scanning"), block("203.0.113.8", "spam")
    cache = CounterCache(ctx, ttl=0)
    # the example inventory's devices are offline and count nothing: as if they counted zero
    zero = {e.id: Counter() for d in (scanner, spammer) for e in ctx.store.get_decision(d).enforcements}
    monkeypatch.setattr("enforcer.counters.read_counters", lambda _ctx: zero)
    cache.read(at=0)
    assert cache.sampler.flag(spammer, at=900) == "no traffic seen"  # 15 min > spam's 10
    assert cache.sampler.flag(scanner, at=900) is None  # scanning waits 2 h
    assert cache.sampler.flag(scanner, at=7200) == "no traffic seen"


def test_a_playbook_with_a_bad_flag_idle_after_is_refused_naming_the_field(tmp_path):
    import shutil

    from enforcer.model import EnforcerError
    from enforcer.policy import load_playbooks

    from .conftest import REPO

    folder = tmp_path / "playbooks"
    shutil.copytree(REPO / "playbooks", folder)
    path = folder / "scanning.yaml"
    path.write_text(path.read_text() + "flag_idle_after: soon\n")
    with pytest.raises(EnforcerError, match="flag_idle_after"):
        load_playbooks(folder)


def test_a_playbook_that_opts_in_lifts_an_idle_block_early_and_others_stay(tmp_path):
    from datetime import timedelta

    from enforcer import service
    from enforcer.counters import Sampler, lift_idle
    from enforcer.model import Decision, Violation
    from enforcer.settings import Settings

    from .conftest import EXAMPLE_INVENTORY

    ctx = service.Context.open(Settings(inventory=EXAMPLE_INVENTORY, db=f"sqlite:///{tmp_path / 'e.db'}"))
    books = dict(ctx.playbooks)
    books[Violation.DDOS_VICTIM] = books[Violation.DDOS_VICTIM].model_copy(
        update={"lift_when_idle": timedelta(minutes=15)}
    )
    ctx.__dict__["playbooks"] = books  # the cached_property, as if playbooks/ddos-victim.yaml said so

    def block(target: str, violation: str) -> int:
        d = Decision.model_validate({"target": target, "violation": violation, "actor": "noc", "source": "cli"})
        return service.submit(ctx, d).decision_id

    victim, spammer = block("203.0.113.7", "ddos-victim"), block("203.0.113.8", "spam")
    s = Sampler(idle=600)
    s.observe({victim: Counter(packets=4000, bytes=10**6), spammer: Counter()}, at=0)
    assert lift_idle(ctx, s, at=600) == []  # the flood stopped 10 min ago: not yet 15
    assert lift_idle(ctx, s, at=960) == [victim]  # the spam ACL never counted, but spam did not opt in
    assert ctx.store.get_decision(victim).status.value == "removed"
    assert ctx.store.get_decision(spammer).status.value == "active"
    (entry,) = [e for e in ctx.store.history() if e.action == "unblock"]
    assert entry.actor == "enforcer" and "lift_when_idle" in entry.reason
