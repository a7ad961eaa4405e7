"""What a CLI merge candidate would change on a live config, as ``compare_config`` reports it."""

from __future__ import annotations

import pytest

from enforcer.drivers import REGISTRY, driver_class, get_driver
from enforcer.drivers.base import DriverError
from enforcer.drivers.confdiff import merge_diff
from enforcer.inventory import Device, Transport

LIVE = """\
Building configuration...

Current configuration:
!
frr version 8.4.4
frr defaults traditional
hostname edge
ip route 203.0.113.10/32 Null0 tag 667
ip route 192.0.2.200/32 Null0
!
router bgp 64500
 neighbor 192.0.2.6 remote-as 64510
 !
 address-family ipv4 unicast
  network 192.0.2.101/32
 exit-address-family
exit
!
ip prefix-list ENFORCER-HIJACK-cust1-V4 seq 10 deny 198.51.100.128/25 le 32
ip prefix-list ENFORCER-HIJACK-cust1-V4 seq 1000000 permit 0.0.0.0/0 le 32
!
end
"""


def test_a_candidate_the_router_already_holds_changes_nothing():
    candidate = "ip route 203.0.113.10/32 Null0 tag 667\nrouter bgp 64500\n address-family ipv4 unicast\n"
    assert merge_diff(LIVE, candidate) == ""


def test_new_lines_show_with_their_parents_and_removals_only_when_the_router_has_them():
    candidate = """\
no ip route 203.0.113.10/32 Null0 tag 667
no ip route 203.0.113.99/32 Null0 tag 667
ip route 203.0.113.11/32 Null0 tag 667
router bgp 64500
 address-family ipv4 unicast
  neighbor 192.0.2.6 prefix-list ENFORCER-HIJACK-cust1-V4 in
 exit-address-family
exit
"""
    assert merge_diff(LIVE, candidate).splitlines() == [
        "-ip route 203.0.113.10/32 Null0 tag 667",
        " router bgp 64500",
        "  address-family ipv4 unicast",
        "+  neighbor 192.0.2.6 prefix-list ENFORCER-HIJACK-cust1-V4 in",
        "+ip route 203.0.113.11/32 Null0 tag 667",
    ]


def test_negating_a_whole_list_and_restating_it_unchanged_is_no_change():
    candidate = """\
no ip prefix-list ENFORCER-HIJACK-cust1-V4
ip prefix-list ENFORCER-HIJACK-cust1-V4 seq 10 deny 198.51.100.128/25 le 32
ip prefix-list ENFORCER-HIJACK-cust1-V4 seq 1000000 permit 0.0.0.0/0 le 32
"""
    assert merge_diff(LIVE, candidate) == ""


def test_negating_a_block_removes_everything_inside_it():
    diff = merge_diff(LIVE, "no router bgp 64500\n")
    assert diff.splitlines()[0] == "-router bgp 64500"
    assert "-  network 192.0.2.101/32" in diff.splitlines()


def test_every_transport_has_a_driver_and_unknown_modules_fail_with_the_device_name(monkeypatch):
    assert set(REGISTRY) == set(Transport)
    assert driver_class(Transport.FRR).__name__ == "FrrDriver"
    assert driver_class(Transport.LINUX).__name__ == "LinuxDriver"
    monkeypatch.setitem(REGISTRY, Transport.OPENFLOW, "enforcer.drivers.no_such_module:X")
    dev = Device(name="sw1", platform="openflow", role="access", datapath_id=1)
    with pytest.raises(DriverError) as err:
        get_driver(dev)
    assert err.value.device == "sw1"


# ---------------------------------------------------------------- cost of the change, not the config


def _full_diff_and_undo(live: str, candidate: str) -> tuple[list[str], list[str]]:
    """The merge on the whole parsed config (what compare and the undo computed before focusing)."""
    from enforcer.drivers.confdiff import _copy, apply_merge, parse, tree_diff
    from enforcer.drivers.undo import _undo

    before = parse(live)
    after = _copy(before)
    apply_merge(after, parse(candidate))
    return tree_diff(before, after), _undo(before, after, 0)


def test_a_one_route_push_onto_ten_thousand_routes_parses_the_route_not_the_config(monkeypatch):
    """compare and undo used to parse, copy and walk every line of the running config per push
    (a quarter of a second of the driver's CPU at 10,000 routes): now only the blocks it touches."""
    from enforcer.drivers import confdiff
    from enforcer.drivers.undo import undo_candidate

    live = LIVE.replace("!\nend\n", "".join(f"ip route 100.64.{i // 256}.{i % 256}/32 Null0 tag 667\n"
                                            for i in range(10_000)) + "!\nend\n")
    parsed: list[int] = []
    real = confdiff.parse
    monkeypatch.setattr(confdiff, "parse", lambda text, comment="!": parsed.append(len(text.splitlines()))
                        or real(text, comment))
    add = "ip route 198.18.0.1/32 Null0 tag 667\nrouter bgp 64500\n neighbor 192.0.2.6 description x\n"
    assert merge_diff(live, add) == (" router bgp 64500\n+ neighbor 192.0.2.6 description x\n"
                                     "+ip route 198.18.0.1/32 Null0 tag 667\n")
    assert undo_candidate(live, add) == ("no ip route 198.18.0.1/32 Null0 tag 667\nrouter bgp 64500\n"
                                         " no neighbor 192.0.2.6 description x\n")
    remove = "no ip route 100.64.1.1/32 Null0 tag 667\n"
    assert merge_diff(live, remove) == "-ip route 100.64.1.1/32 Null0 tag 667\n"
    assert undo_candidate(live, remove) == "ip route 100.64.1.1/32 Null0 tag 667\n"
    assert sum(parsed) < 60, parsed  # the candidates and the blocks they name, never 10,000 lines


def test_a_bulk_push_indexes_word_prefixes_only_where_a_no_line_is_merged(monkeypatch):
    """10,000 new routes: nothing is negated, so no block needs its prefix index (it was built for
    every child of every parsed block: half of the undo's CPU). Removing them: the live block that
    the ``no`` lines are merged into is indexed once, and the result is the same."""
    from enforcer.drivers import confdiff
    from enforcer.drivers.undo import undo_candidate

    routes = [f"ip route 100.64.{i // 256}.{i % 256}/32 Null0 tag 667" for i in range(10_000)]
    add, remove = "".join(r + "\n" for r in routes), "".join(f"no {r}\n" for r in routes)
    full = LIVE.replace("!\nend\n", add + "!\nend\n")
    indexed: list[str] = []
    real = confdiff._word_prefixes
    monkeypatch.setattr(confdiff, "_word_prefixes", lambda line: indexed.append(line) or real(line))
    assert undo_candidate(LIVE, add) == "".join(f"no {r}\n" for r in reversed(routes))
    assert indexed == []
    confdiff.merged.cache_clear()
    assert undo_candidate(full, remove) == add and merge_diff(full, remove).count("\n-ip route") == 9_999
    assert len(indexed) <= 2 * 10_000  # the live routes indexed once, the removed ones unindexed once


def _holds_a_line_twice(block) -> bool:
    lines = [c.line for c in block.children]
    return len(lines) != len(set(lines)) or any(_holds_a_line_twice(c) for c in block.children)


def test_the_focused_merge_is_the_merge_of_the_whole_config():
    """Random configs and candidates (nested blocks, duplicates, ``no`` of prefixes, odd spacing):
    the diff and the undo are the same as with the whole config parsed. (A block that holds one line
    twice is left out: the whole-config diff pairs the second with the first, and FRR never prints
    one.)"""
    import random

    from enforcer.drivers.confdiff import merged, parse
    from enforcer.drivers.undo import undo_candidate

    rng = random.Random(12)
    words = ["ip", "route", "router", "bgp", "neighbor", "10.0.0.1", "prefix-list", "L", "seq", "5", "tag"]

    def line() -> str:
        return " ".join(rng.choice(words) for _ in range(rng.randint(1, 4)))

    def config(n: int) -> str:
        out = []
        for _ in range(n):
            out.append(rng.choice([line(), "!", "end", "exit", "frr version 8.4", "! a comment", ""]))
            for _ in range(rng.choice([0, 0, 1, 3])):
                out.append(" " * rng.randint(1, 2) + line())
                if rng.random() < 0.3:
                    out.append("  " + line())
        return "\n".join(out) + "\n"

    checked = 0
    for case in range(1500):
        live = rng.choice(["", "  indented first\n", " !\n"]) + config(rng.randint(0, 30))
        if _holds_a_line_twice(parse(live)):
            continue
        checked += 1
        cand_lines = []
        for _ in range(rng.randint(1, 5)):
            picked = rng.choice([ln for ln in live.splitlines() if ln.strip()] or ["x"])
            cand_lines.append(rng.choice([line(), picked.strip(), "no " + picked.strip(),
                                          "no " + " ".join(picked.split()[:1]), " " + line()]))
        candidate = "\n".join(cand_lines) + "\n"
        merged.cache_clear()
        want_diff, want_undo = _full_diff_and_undo(live, candidate)
        assert merge_diff(live, candidate).splitlines() == want_diff, repr((case, live, candidate))
        assert undo_candidate(live, candidate).splitlines() == want_undo, repr((case, live, candidate))
    assert checked > 300
