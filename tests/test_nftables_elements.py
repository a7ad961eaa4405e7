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
