"""Printing nftables' named sets at 10,000 elements: the work of one more decision's print follows
the sets, not their elements (issue 12), and the collapse of nested targets stays exact."""

from __future__ import annotations

import random
from ipaddress import ip_network

import pytest

from enforcer import render, section
from enforcer.inventory import Platform, load_inventory
from enforcer.model import ActionKind, Direction, Enforcement, Protocol
from enforcer.render import Rendered, RenderError, build_section, print_section
from enforcer.section import NullRoute
from tests.helpers import python_calls
from tests.test_templates import EDGE, REPO, T0


@pytest.fixture(scope="module")
def inventory():
    return load_inventory(REPO / "inventory" / "example")


def _blocks(n: int, first: int = 1, action: ActionKind = ActionKind.NULL_ROUTE) -> list[Enforcement]:
    return [Enforcement(id=i, decision_id=i, action=action, target=ip_network(f"100.64.{i // 250}.{i % 250 + 1}"),
                        violation="malware-hosting", created_at=T0) for i in range(first, first + n)]  # fmt: skip


def test_printing_a_two_thousand_element_set_after_one_more_decision_costs_no_python_call_per_element(inventory):
    """The elements' lines come from the last print (render.EntryTexts, its look-ups a ``map`` in
    C); laying them out two to a line is one join (the ``rows`` filter), and a set whose elements
    are all apart is seen to be in C (section._apart). The Jinja loop over the elements and
    ``subnet_of`` per element made 33 calls per element; a Python loop per element for the look-ups,
    the collapse and the families, 4.1."""
    dev = inventory.device(EDGE[Platform.NFTABLES])
    given = _blocks(2000)
    print_section(build_section(dev, given, inventory, T0))
    more = build_section(dev, [*given, *_blocks(1, first=9000)], inventory, T0)
    printed = render.entry_prints
    calls = python_calls(print_section, more)
    assert render.entry_prints == printed + 1  # the one new element, through _element.j2
    assert calls < 2000 // 2, calls
    text = print_section(more)
    assert text.count(" counter comment ") == 2001 and "100.64.36.1 counter" in text


def test_each_match_set_is_built_once_per_print(inventory, monkeypatch):
    """The sets are asked for in two parts of the template (the sets, the rules): each is built
    once per print, not once per part."""
    dev = inventory.device(EDGE[Platform.NFTABLES])
    given = [*_blocks(30), *_blocks(20, first=500, action=ActionKind.ACL),
             Enforcement(id=900, decision_id=900, action=ActionKind.NULL_ROUTE, target=ip_network("2001:db8::1"),
                         violation="malware-hosting", created_at=T0)]  # fmt: skip
    built: list[int] = []
    real = section._match_set
    monkeypatch.setattr(section, "_match_set", lambda entries, *rest: built.append(rest[3]) or real(entries, *rest))
    text = print_section(build_section(dev, given, inventory, T0))
    assert "set null-v4 {" in text and "set null-v6 {" in text and "set acl-src-any-v4 {" in text
    assert sorted(built) == [4, 4, 6]


def _reference(targets: list) -> list:
    """The collapse as first written: each target not a subnet of the last one kept."""
    kept: list = []
    for t in targets:
        if not kept or not t.subnet_of(kept[-1]):
            kept.append(t)
    return kept


@pytest.mark.parametrize(("family", "twice"), [(4, True), (6, True), (4, False), (6, False)])
def test_the_collapse_keeps_exactly_the_targets_no_wider_one_already_covers(family, twice):
    """``twice``: one target twice, so one entry is always inside another (the pass); else many
    sets have none inside another (section._apart answers)."""
    rng = random.Random(12 + family + 100 * twice)
    base = ip_network("10.0.0.0/8" if family == 4 else "2001:db8::/32")
    width = base.max_prefixlen
    for _ in range(200):
        targets = set()
        for _ in range(rng.randrange(1, 40)):
            length = rng.choice([width, width, width - 1, width - 4, width - 8, base.prefixlen + 2])
            addr = int(base.network_address) + rng.randrange(0, 1 << (width - base.prefixlen))
            targets.add(ip_network((addr >> (width - length) << (width - length), length)))
        ordered = sorted(targets, key=lambda p: (int(p.network_address), p.prefixlen))
        if twice:
            ordered += ordered[:1]  # the same target twice (two violations): the second is inside the first
        ordered.sort(key=lambda p: (int(p.network_address), p.prefixlen))
        entries = [NullRoute(ids=(i,), target=t, violation="malware-hosting") for i, t in enumerate(ordered)]
        got = section._match_set(entries, Direction.DESTINATION, Protocol.ANY, (), family)
        assert [e.target for e in got.entries] == _reference(ordered)


def test_adjacent_prefixes_are_both_kept_and_a_covered_host_is_left_out():
    targets = [
        ip_network(x)
        for x in (
            "192.0.2.0/25",
            "192.0.2.5/32",
            "192.0.2.127/32",
            "192.0.2.128/25",
            "192.0.2.255/32",
            "198.51.100.1/32",
        )
    ]
    entries = [NullRoute(ids=(i,), target=t, violation="malware-hosting") for i, t in enumerate(targets)]
    got = section._match_set(entries, Direction.DESTINATION, Protocol.ANY, (), 4)
    assert [str(e.target) for e in got.entries] == ["192.0.2.0/25", "192.0.2.128/25", "198.51.100.1/32"]


def test_the_rows_filter_prints_only_enforcers_own_lines():
    """``rows`` joins lines past the print check (a block with line breaks): it takes only the
    lines enforcer's templates produced, each without a break of its own."""
    rows = render.environment().filters["rows"]
    assert rows([Rendered("a"), Rendered("b"), Rendered("c")], 2, ", ", ",\n\t") == "a, b,\n\tc"
    with pytest.raises(RenderError, match="only enforcer's own lines"):
        rows([Rendered("a"), "b; flush ruleset"], 2, ", ", ",\n")
    with pytest.raises(RenderError, match="only enforcer's own lines"):
        rows([Rendered("a\nflush ruleset")], 1, ", ", ",\n")
    with pytest.raises(RenderError, match="per row"):
        rows([Rendered("a")], 0, ", ", ",\n")


def test_the_push_work_bench_runs_and_times_every_step():
    """bench/nft_push_work.py keeps working (its figures are never asserted)."""
    from .helpers import bench_module

    bench = bench_module("nft_push_work")
    times = bench.run(active=20, steps=2)
    assert set(times) == set(bench.STEPS) and all(len(v) == 2 for v in times.values())
    assert "one more decision at 20 active" in bench.report(times, 20)
