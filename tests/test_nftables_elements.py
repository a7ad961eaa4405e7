"""The element-level nftables candidate (enforcer/nftables.py ``element_changes``), on listings as
``nft list table`` prints them (tabs, two IPv4 elements a line, counters and comments)."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from enforcer import nftables
from enforcer.drivers.linux import normalize

LIVE = (
    "table inet enforcer {\n"
    "\tset null-v4 {\n"
    "\t\ttype ipv4_addr\n"
    "\t\tflags interval\n"
    "\t\tcounter\n"
    '\t\telements = { 192.0.2.1 counter comment "11 malware-hosting", 192.0.2.2 counter comment "12 malware-hosting",\n'
    '\t\t\t     192.0.2.3 counter comment "ops, by hand" }\n'
    "\t}\n"
    "\tchain forward {\n"
    "\t\ttype filter hook forward priority filter - 10; policy accept;\n"
    '\t\tip daddr @null-v4 counter drop comment "enforcer null-route"\n'
    "\t}\n"
    "}\n"
)


def test_a_block_and_an_unblock_are_one_add_and_one_delete_whatever_the_line_layout():
    desired = LIVE.replace('192.0.2.2 counter comment "12 malware-hosting",\n\t\t\t     ', "").replace(
        '"ops, by hand" }', '"ops, by hand", 192.0.2.9 counter comment "19 malware-hosting" }'
    )
    assert nftables.element_changes(LIVE, desired) == [
        "delete element inet enforcer null-v4 { 192.0.2.2 }",
        'add element inet enforcer null-v4 { 192.0.2.9 counter comment "19 malware-hosting" }',
    ]


def test_an_element_whose_comment_names_one_more_enforcement_is_deleted_and_added_in_the_same_transaction():
    desired = LIVE.replace('"11 malware-hosting"', '"11+13 malware-hosting"')
    assert nftables.element_changes(LIVE, desired) == [
        "delete element inet enforcer null-v4 { 192.0.2.1 }",
        'add element inet enforcer null-v4 { 192.0.2.1 counter comment "11+13 malware-hosting" }',
    ]


def test_anything_but_elements_changing_restates_the_table():
    assert nftables.element_changes(LIVE, LIVE.replace("counter drop", "drop")) is None  # a rule
    assert nftables.element_changes(LIVE, LIVE.replace("flags interval\n", "")) is None  # a set's shape
    assert nftables.element_changes(LIVE, LIVE.replace("null-v4", "null-v6")) is None  # an object
    assert nftables.element_changes("", LIVE) is None  # no table yet: transition() creates it


def test_the_same_table_is_no_statement_at_all():
    assert nftables.element_changes(LIVE, LIVE) == []


def test_each_push_splits_only_the_changed_lines_of_the_set_that_changed(monkeypatch):
    """The elements on the lines the live and desired sets share are in both: only the lines
    between the common first and last ones are split (one more decision: the set's last line,
    and the line it grows). A set that did not change (the ACL's, here) is not split at all."""
    acl = (
        "\tset acl-src-any-v4 {\n\t\ttype ipv4_addr\n\t\tflags interval\n\t\tcounter\n"
        '\t\telements = { 198.51.100.7 counter comment "40 scanning" }\n\t}\n'
    )
    live = LIVE.replace("\tset null-v4 {", acl + "\tset null-v4 {")
    first = live.replace('"ops, by hand" }', '"ops, by hand", 192.0.2.9 counter comment "19 malware-hosting" }')
    second = first.replace('"19 malware-hosting" }', '"19 malware-hosting", 192.0.2.10 counter comment "20 x" }')
    nftables._split_set.cache_clear()
    split: list[str] = []
    real = nftables._elements
    monkeypatch.setattr(nftables, "_elements", lambda body: split.append(body) or real(body))
    assert nftables.element_changes(live, first) == [
        'add element inet enforcer null-v4 { 192.0.2.9 counter comment "19 malware-hosting" }'
    ]
    read_back = "".join(first)  # the device's listing: an equal text, not the same object
    assert nftables.element_changes(read_back, second) == [
        'add element inet enforcer null-v4 { 192.0.2.10 counter comment "20 x" }'
    ]
    assert not any("198.51.100.7" in body for body in split), "the ACL's set is split"
    assert not any("192.0.2.1 " in body for body in split), "a line both texts share is split"
    assert split == [
        '\t\t\t     192.0.2.3 counter comment "ops, by hand" ',
        '\t\t\t     192.0.2.3 counter comment "ops, by hand", 192.0.2.9 counter comment "19 malware-hosting" ',
        '\t\t\t     192.0.2.3 counter comment "ops, by hand", 192.0.2.9 counter comment "19 malware-hosting" ',
        '\t\t\t     192.0.2.3 counter comment "ops, by hand", 192.0.2.9 counter comment "19 malware-hosting", '
        '192.0.2.10 counter comment "20 x" ',
    ]


FIXTURES = Path(__file__).parent / "fixtures" / "nftables"


def _listing(name: str) -> str:
    """A real ``nft list table`` capture (tests/fixtures/nftables/README.md) as the driver sees it."""
    return normalize((FIXTURES / name).read_text())


def every_element(text: str) -> dict[str, list[str]]:
    """The oracle: each set's elements, by name, split from the whole ``elements = { … }`` statement
    at each comma outside a quoted comment (what nft reads), every element of the set."""
    found = {}
    for m in re.finditer(r'^\tset (\S+) \{$(?:(?!^\t\}$).)*?elements = \{ ((?:[^"}]|"[^"]*")*) \}', text, re.M | re.S):
        found[m.group(1)] = [x.strip() for x in re.findall(r'(?:[^,"]|"[^"]*")+', m.group(2)) if x.strip()]
    return found


def oracle(live: str, desired: str) -> list[str]:
    """The statements of every element that leaves (deletes first) and every element that comes."""
    old, new = every_element(live), every_element(desired)
    deletes, adds = [], []
    for name, elements in new.items():
        gone = [x for x in old[name] if x not in set(elements)]
        coming = [x for x in elements if x not in set(old[name])]
        if gone:
            deletes.append(f"delete element inet enforcer {name} {{ {', '.join(x.split(' ', 1)[0] for x in gone)} }}")
        if coming:
            adds.append(f"add element inet enforcer {name} {{ {', '.join(coming)} }}")
    return deletes + adds


def test_the_edits_nft_applied_are_the_element_candidate_between_its_two_listings():
    """tests/fixtures/nftables/edits.nft, applied by nft 1.0.6, between its listings before and after:
    the prefix and the re-commented host come back as they were applied, deletes by key alone."""
    before, after = _listing("listing-s.nft"), _listing("after-s.nft")
    assert (
        nftables.element_changes(before, after)
        == [
            "delete element inet enforcer null-v4 { 172.16.5.0/24, 198.18.0.5, 198.18.0.7 }",
            "delete element inet enforcer null-v6 { 2001:db8:3::1 }",
            'add element inet enforcer null-v4 { 9.9.9.9 counter comment "4001 malware-hosting", '
            '198.18.0.7 counter comment "2006+4004 malware-hosting", 198.18.0.250 counter comment "4002 spam, ticket 9", '
            '198.18.1.150 counter comment "4003 malware-hosting" }',
            'add element inet enforcer null-v6 { 2001:db8:ff::1 counter comment "4005 malware-hosting" }',
        ]
        == oracle(before, after)
    )
    assert (
        nftables.element_changes(after, before)
        == [
            "delete element inet enforcer null-v4 { 9.9.9.9, 198.18.0.7, 198.18.0.250, 198.18.1.150 }",
            "delete element inet enforcer null-v6 { 2001:db8:ff::1 }",
            'add element inet enforcer null-v4 { 172.16.5.0/24 counter comment "1991 ddos-outbound, by hand", '
            '198.18.0.5 counter comment "2004 malware-hosting", 198.18.0.7 counter comment "2006 malware-hosting" }',
            'add element inet enforcer null-v6 { 2001:db8:3::1 counter comment "3003 malware-hosting" }',
        ]
        == oracle(after, before)
    )
    stateful = normalize((FIXTURES / "listing.nft").read_text())  # counter packets 0 bytes 0, then normalized
    assert nftables.element_changes(stateful, after) == nftables.element_changes(before, after)


def _laid_out(text: str, sets: dict[str, list[str]]) -> str:
    """``text`` with each named set's elements replaced, laid out as nft prints them (IPv4 two to a
    line, IPv6 one, continuation lines indented by three tabs and five spaces)."""
    for name, elements in sets.items():
        per = 1 if ":" in (elements or ["x"])[0].split(" ", 1)[0] else 2
        rows = ",\n\t\t\t     ".join(", ".join(elements[i : i + per]) for i in range(0, len(elements), per))
        pattern = rf'(^\tset {re.escape(name)} \{{$(?:(?!^\t\}}$).)*?elements = \{{ )(?:[^"}}]|"[^"]*")*( \}})'
        text = re.sub(pattern, lambda m, rows=rows: m.group(1) + rows + m.group(2), text, count=1, flags=re.M | re.S)
    return text


@st.composite
def edited_sets(draw):
    """A real listing's sets, each with a few elements removed, added anywhere, or re-commented."""
    live = _listing("listing-s.nft")
    sets = every_element(live)
    for name in draw(st.lists(st.sampled_from(["null-v4", "null-v6", "acl-src-icmp-v4"]), max_size=3, unique=True)):
        elements = list(sets[name])
        for _ in range(draw(st.integers(1, 4))):
            at = draw(
                st.one_of(
                    st.integers(0, 2),
                    st.integers(max(0, len(elements) - 2), len(elements)),
                    st.integers(0, len(elements)),
                )
            )
            kind = draw(st.sampled_from(["add", "remove", "recomment"]))
            if kind == "add":
                host = f"2001:db8:aa::{at:x}" if name.endswith("v6") else f"192.0.2.{at % 250 + 1}"
                elements.insert(at, f'{host} counter comment "{9000 + at} drawn, with a comma"')
            elif elements and kind == "remove":
                del elements[min(at, len(elements) - 1)]
            elif elements:
                i = min(at, len(elements) - 1)
                elements[i] = elements[i].replace('"', '"9999+', 1)
        if elements:
            sets[name] = elements
    return live, _laid_out(live, sets)


def test_the_element_candidate_is_every_element_compared_on_random_edits_of_a_real_listing():
    ran = []

    @settings(
        max_examples=400, derandomize=True, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )
    @given(edited_sets())
    def prop(pair: tuple[str, str]) -> None:
        live, desired = pair
        assert nftables.element_changes(live, desired) == oracle(live, desired)
        assert nftables.element_changes(desired, live) == oracle(desired, live)
        ran.append(pair)

    prop()
    assert len(ran) == 400 and sum(a != b for a, b in ran) > 300


def test_one_more_decision_at_ten_thousand_elements_splits_a_line_or_two_not_the_set(monkeypatch):
    """The 10,000-element set as nft 1.0.6 listed it (the layout of listing-s.nft): one more host
    at its end, or a comment in its middle naming one more enforcement; the elements split are
    those of the changed lines. (An element leaving the middle of an IPv4 set moves every later
    element by half a line, as nft lays them out two to a line: that diff is the rest of the set.)"""
    hosts = [f'100.64.{i // 250}.{i % 250 + 1} counter comment "{i} malware-hosting"' for i in range(10_000)]
    live = _laid_out(_listing("listing-s.nft"), {"null-v4": hosts})
    more = _laid_out(live, {"null-v4": [*hosts, '198.18.0.1 counter comment "10001 malware-hosting"']})
    middle = hosts[5000].replace('"5000 ', '"5000+10002 ')
    recommented = _laid_out(live, {"null-v4": [*hosts[:5000], middle, *hosts[5001:]]})
    split: list[str] = []
    real = nftables._elements
    monkeypatch.setattr(nftables, "_elements", lambda body: split.append(body) or real(body))
    assert (
        nftables.element_changes(live, more)
        == oracle(live, more)
        == [
            'add element inet enforcer null-v4 { 198.18.0.1 counter comment "10001 malware-hosting" }',
        ]
    )
    assert (
        nftables.element_changes(live, recommented)
        == oracle(live, recommented)
        == [
            "delete element inet enforcer null-v4 { 100.64.20.1 }",
            f"add element inet enforcer null-v4 {{ {middle} }}",
        ]
    )
    assert sum(body.count(",") + 1 for body in split) < 20, "the whole set was split"


def test_texts_nft_would_not_print_are_still_compared_element_by_element():
    """An element split over two lines, or one standing twice (a text nft never prints, a set holds
    a key once): the changed lines alone would give another answer, so every element is compared."""
    split_over = LIVE.replace(
        '192.0.2.2 counter comment "12 malware-hosting",\n\t\t\t     ',
        '192.0.2.2\n\t\t\t     counter comment "12 malware-hosting", ',
    )
    desired = split_over.replace('"12 malware-hosting"', '"12+13 malware-hosting"')
    changes = nftables.element_changes(split_over, desired)
    assert changes == oracle(split_over, desired) and len(changes) == 2
    assert changes[1].startswith("add element inet enforcer null-v4 { 192.0.2.2\n")
    twice = LIVE.replace(
        '"ops, by hand" }', '"ops, by hand",\n\t\t\t     192.0.2.1 counter comment "11 malware-hosting" }'
    )
    assert nftables.element_changes(twice, LIVE) == oracle(twice, LIVE) == []
