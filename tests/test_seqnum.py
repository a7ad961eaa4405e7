"""Sequence numbers in a printed section (enforcer.seqnum): the fast paths for long runs of
numbered lines (one ACL's 1,000s of entries) give what a line-by-line walk gives."""

from enforcer.seqnum import PLACEHOLDER, SeqRange, allocate, number


def test_two_acls_with_the_same_entry_heads_are_numbered_apart():
    text = "\n".join([
        "ip access-list extended A",
        f" {PLACEHOLDER} deny ip host 192.0.2.1 any",
        f" {PLACEHOLDER} deny ip host 192.0.2.2 any",
        "ip access-list extended B",
        f" {PLACEHOLDER} deny ip host 192.0.2.3 any",
        "",
    ])  # fmt: skip
    assert number(text).splitlines() == [
        "ip access-list extended A",
        " 10 deny ip host 192.0.2.1 any",
        " 20 deny ip host 192.0.2.2 any",
        "ip access-list extended B",
        " 10 deny ip host 192.0.2.3 any",
    ]


def test_a_run_broken_by_a_nested_line_keeps_its_parent():
    text = "\n".join(["ipv4 access-list A", f" {PLACEHOLDER} deny 1", f" {PLACEHOLDER} deny 2", "  remark x",
                      f" {PLACEHOLDER} deny 3", "ipv4 access-list B", f" {PLACEHOLDER} deny 4"])  # fmt: skip
    assert number(text).splitlines() == ["ipv4 access-list A", " 10 deny 1", " 20 deny 2", "  remark x",
                                         " 30 deny 3", "ipv4 access-list B", " 10 deny 4"]  # fmt: skip


def test_live_numbers_stay_and_new_entries_go_between():
    assert allocate(["a", "b", "c"], {"a": 10, "c": 20}, SeqRange()) == [10, 15, 20]


def test_a_first_push_numbers_every_entry_step_apart():
    assert allocate(["a", "b", "c"], {}, SeqRange(lo=0, hi=100, step=10)) == [10, 20, 30]
    assert allocate(["a", "b", "c"], {}, SeqRange(lo=0, hi=6, step=10)) == [2, 4, 6]
