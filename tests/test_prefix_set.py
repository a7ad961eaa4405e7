"""PrefixSet (the render's index of protected prefixes) answers exactly what the scan answers."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network, ip_network

from hypothesis import given, settings
from hypothesis import strategies as st

from enforcer.inventory import PrefixSet, covers


def _v4() -> st.SearchStrategy[IPv4Network]:
    # A /20 of space: prefixes collide, nest and touch often enough to test the merge.
    return st.builds(lambda a, n: ip_network((0xC6336000 + a, n), strict=False),
                     st.integers(0, 4095), st.integers(18, 32))  # fmt: skip


def _v6() -> st.SearchStrategy[IPv6Network]:
    return st.builds(lambda a, n: ip_network(((0x20010DB8 << 96) + (a << 100), n), strict=False),
                     st.integers(0, 255), st.integers(24, 128))  # fmt: skip


prefix = st.one_of(_v4(), _v6())


@settings(max_examples=400, deadline=None)
@given(st.lists(prefix, max_size=30), st.lists(prefix, min_size=1, max_size=20))
def test_overlaps_equals_the_scan(prefixes: list, targets: list) -> None:
    index = PrefixSet(prefixes)
    for target in targets:
        assert index.overlaps(target) == covers(tuple(prefixes), target), (prefixes, target)


def test_touching_ranges_merge_without_covering_the_gap() -> None:
    index = PrefixSet([ip_network("198.51.100.0/25"), ip_network("198.51.100.128/25"), ip_network("198.51.102.0/24")])
    assert index.overlaps(ip_network("198.51.100.0/24"))
    assert index.overlaps(ip_network("198.51.100.200/32"))
    assert not index.overlaps(ip_network("198.51.101.0/24"))
    assert index.overlaps(ip_network("198.51.96.0/20"))
    assert not index.overlaps(ip_network("2001:db8::/32"))
