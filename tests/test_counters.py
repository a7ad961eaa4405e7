"""Issue 14.2: counters read from nft's JSON listing belong to the enforcements named in comments."""

from __future__ import annotations

from types import SimpleNamespace

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
