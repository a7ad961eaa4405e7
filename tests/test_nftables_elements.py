"""The element-level nftables candidate (enforcer/nftables.py ``element_changes``), on listings as
``nft list table`` prints them (tabs, two IPv4 elements a line, counters and comments)."""

from __future__ import annotations

from enforcer import nftables

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
        '"ops, by hand" }', '"ops, by hand", 192.0.2.9 counter comment "19 malware-hosting" }')
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


def test_each_push_splits_only_the_set_that_changed_and_only_its_new_text(monkeypatch):
    """The live set a push diffs against is, text for text, the set the last push printed: its
    elements are split once, for the push that printed it. A set that did not change (the ACL's,
    here) is not split at all."""
    acl = "\tset acl-src-any-v4 {\n\t\ttype ipv4_addr\n\t\tflags interval\n\t\tcounter\n" \
          '\t\telements = { 198.51.100.7 counter comment "40 scanning" }\n\t}\n'
    live = LIVE.replace("\tset null-v4 {", acl + "\tset null-v4 {")
    first = live.replace('"ops, by hand" }', '"ops, by hand", 192.0.2.9 counter comment "19 malware-hosting" }')
    second = first.replace('"19 malware-hosting" }', '"19 malware-hosting", 192.0.2.10 counter comment "20 x" }')
    nftables._split_set.cache_clear()
    split: list[str] = []
    real = nftables._elements
    monkeypatch.setattr(nftables, "_elements", lambda body: split.append(body) or real(body))
    assert nftables.element_changes(live, first) == [
        'add element inet enforcer null-v4 { 192.0.2.9 counter comment "19 malware-hosting" }']
    read_back = "".join(first)  # the device's listing: an equal text, not the same object
    assert nftables.element_changes(read_back, second) == [
        'add element inet enforcer null-v4 { 192.0.2.10 counter comment "20 x" }']
    assert len(split) == 3 and not any("198.51.100.7" in body for body in split)
