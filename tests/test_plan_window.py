"""The plan's diff over the differing middle alone (enforcer/plan.py ``differing_middle``) is
difflib's diff over the whole section, byte for byte: the hunks, their line numbers, the counts
and the removed lines. The oracle is difflib itself, called over the whole lists as the plan did
before the cut; the texts are random, with few distinct lines so that repeats abound (a section
is full of ``\\t}`` and ``!``), edited anywhere, first and last lines included."""

from __future__ import annotations

import difflib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from enforcer import plan
from enforcer.inventory import Platform, Transport

EXAMPLES = 3000
#: Few distinct lines, so that most lines repeat; the numbered ones are unique.
LINES = st.one_of(st.sampled_from(["a", "b", "}", "", " !"]), st.integers(0, 40).map(lambda i: f"line {i}"))


def whole_counts(live: list[str], desired: list[str]) -> tuple[int, int, int, list[str]]:
    """diff_counts as it was: difflib's opcodes over the whole lists."""
    if not live or not desired:
        return len(desired), 0, len(live), list(live)
    added = changed = removed = 0
    removed_lines: list[str] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=live, b=desired, autojunk=False).get_opcodes():
        if tag == "insert":
            added += j2 - j1
        elif tag == "delete":
            removed += i2 - i1
            removed_lines.extend(live[i1:i2])
        elif tag == "replace":
            changed += min(i2 - i1, j2 - j1)
            added += max(0, (j2 - j1) - (i2 - i1))
            removed += max(0, (i2 - i1) - (j2 - j1))
            removed_lines.extend(live[i1:i2])
    return added, changed, removed, removed_lines


def whole_diff(live: list[str], desired: list[str]) -> list[str]:
    return list(difflib.unified_diff(live, desired, "live", "desired", lineterm=""))


@st.composite
def edited(draw, lines=LINES, size=st.integers(0, 60)):
    """(live, desired): a random text, and the same text after a few random edits (insert, delete,
    replace, each anywhere: position 0 and the end are drawn as often as any)."""
    length = draw(size)
    live = draw(st.lists(lines, min_size=length, max_size=length + 5))
    desired = list(live)
    for _ in range(draw(st.integers(0, 4))):
        end = len(desired)
        at = draw(st.one_of(st.integers(0, min(3, end)), st.integers(max(0, end - 3), end), st.integers(0, end)))
        cut = draw(st.integers(0, 3))
        new = draw(st.lists(lines, max_size=3))
        desired[at : at + cut] = new
    return live, desired


@st.composite
def one_run(draw, lines=st.sampled_from(["z", "w"]), added=st.sampled_from(["z", "w", "x"])):
    """(live, desired): lines only added in one place, or (swapped) only removed."""
    live = draw(st.lists(lines, max_size=10))
    at = draw(st.integers(0, len(live)))
    desired = [*live[:at], *draw(st.lists(added, min_size=1, max_size=3)), *live[at:]]
    return (desired, live) if draw(st.booleans()) else (live, desired)


def assert_same_as_whole(live: list[str], desired: list[str]) -> None:
    assert plan.diff_counts(live, desired) == whole_counts(live, desired)
    assert plan.unified_diff(live, desired, "live", "desired") == whole_diff(live, desired)
    for n in (0, 1, 2):
        assert plan.unified_diff(live, desired, "live", "desired", n=n) == list(
            difflib.unified_diff(live, desired, "live", "desired", n=n, lineterm="")
        )


@pytest.mark.parametrize(
    ("texts", "examples"),
    [
        (edited(), 2000),
        (edited(lines=st.sampled_from(["z", "w"]), size=st.integers(0, 8)), 1000),  # nearly every line a repeat
        (one_run(), 1000),
    ],
    ids=["few-distinct-lines", "two-distinct-lines", "only-added-or-only-removed"],
)
def test_the_cut_diff_is_difflibs_whole_diff_on_random_edits_of_random_texts(texts, examples):
    ran = []

    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(texts)
    def prop(pair: tuple[list[str], list[str]]) -> None:
        assert_same_as_whole(*pair)
        ran.append(pair)

    prop()
    assert len(ran) >= examples
    assert sum(plan.differing_middle(*t) not in (None, (0, 0)) for t in ran) > examples // 10, "the cut was taken"


def test_the_cut_diff_is_difflibs_when_difflib_would_take_a_repeated_line_for_junk():
    """200 lines or more, one of them more than 1 % of them (difflib.unified_diff's autojunk: it
    matches such a line only beside others, so a common first run of ``!`` alone is no match)."""
    ran = []
    junky = st.one_of(st.just("!"), st.integers(0, 10**6).map(lambda i: f"unique {i}"))

    @settings(
        max_examples=200,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(edited(lines=junky, size=st.integers(195, 230)))
    def prop(pair: tuple[list[str], list[str]]) -> None:
        assert_same_as_whole(*pair)
        ran.append(pair)

    prop()
    assert any(plan._autojunk(desired) for _, desired in ran)
    # "!" only in the differing middle, four times in 209 lines: junk to difflib over the whole
    # section (never matched), a match over the 15 lines cut out of it.
    outer = [f"line {i}" for i in range(200)]
    live = [*outer[:100], *(x for i in range(4) for x in (f"old {i}", "!")), "old 4", *outer[100:]]
    desired = [*outer[:100], *(x for i in range(4) for x in (f"new {i}", "!")), "new 4", *outer[100:]]
    assert plan.differing_middle(live, desired) == (100, 100)
    assert plan._autojunk(desired) and not plan._autojunk(desired[97:112])
    cut = difflib.unified_diff(live[97:112], desired[97:112], "live", "desired", lineterm="")
    assert [ln for ln in cut if not ln.startswith("@@")] != [
        ln for ln in whole_diff(live, desired) if not ln.startswith("@@")
    ], "junk matters here"
    assert_same_as_whole(live, desired)
    # Five "!" in a middle of 250 lines cut out of 1,250: junk to difflib over the cut alone.
    outer = [f"line {i}" for i in range(1000)]
    middle = [f"{{}} {i}" if i % 50 != 25 else "!" for i in range(250)]
    live = [*outer[:500], *(x.format("old") for x in middle), *outer[500:]]
    desired = [*outer[:500], *(x.format("new") for x in middle), *outer[500:]]
    assert plan.differing_middle(live, desired) == (500, 500)
    assert not plan._autojunk(desired) and plan._autojunk(desired[497:753])
    assert_same_as_whole(live, desired)


def test_edge_cases_empty_texts_equal_texts_and_edits_at_either_end():
    base = ["x", "}", "y", "}", "x"]
    for live, desired in [
        ([], []),
        ([], base),
        (base, []),
        (base, base),
        (base, ["z", *base]),
        (base, [*base, "z"]),
        (base, base[1:]),
        (base, base[:-1]),
        (["a"] * 6, ["a"] * 8),
        (["a"] * 8, ["a"] * 6),
        (["z", "z", "z"], ["z", "w", "z", "z"]),
        (["z", "z", "z"], ["z", "z"]),
    ]:
        assert_same_as_whole(live, desired)


def test_a_longer_common_end_matching_earlier_is_diffed_whole():
    """``a = P S``, ``b = P B S`` with ``S`` longer than ``P`` and found at an earlier start of ``a``:
    difflib over the whole pairs ``S`` differently from the cut; the cut is refused."""
    live, desired = ["z", "z", "z"], ["z", "w", "z", "z"]
    assert plan.differing_middle(live, desired) is None
    assert_same_as_whole(live, desired)


def _section(n: int) -> list[str]:
    """A 10,000-element set as nft prints it: two elements a line, then a chain."""
    lines = ["table inet enforcer {", "\tset null-v4 {", "\t\ttype ipv4_addr", "\t\tflags interval", "\t\tcounter"]
    hosts = [f'100.64.{i // 250}.{i % 250 + 1} counter comment "{i} malware-hosting"' for i in range(n)]
    rows = [", ".join(hosts[i : i + 2]) for i in range(0, n, 2)]
    lines += ["\t\telements = { " + rows[0] + ","] + ["\t\t\t     " + r + "," for r in rows[1:-1]]
    lines += [
        "\t\t\t     " + rows[-1] + " }",
        "\t}",
        "\tchain forward {",
        "\t\ttype filter hook forward priority filter - 10; policy accept;",
        '\t\tip daddr @null-v4 counter drop comment "enforcer null-route"',
        "\t}",
        "}",
    ]
    return lines


def test_one_changed_line_of_a_ten_thousand_element_section_is_diffed_on_a_few_lines(monkeypatch):
    """The diff of one more decision is difflib's over the whole section, found by difflib over
    the changed line and its context: no matcher sees the 5,000 lines."""
    live = _section(10_000)
    desired = list(live)
    desired[2500] = desired[2500].replace('"4990 malware-hosting"', '"4990+10001 malware-hosting"')
    expected_diff = difflib.unified_diff(live, desired, "linux-edge1 (live)", "linux-edge1 (desired)", lineterm="")
    expected = "".join(f"{ln}\n" for ln in expected_diff)
    expected_counts = whole_counts(live, desired)
    seen: list[int] = []

    class Counting(difflib.SequenceMatcher):
        def set_seq2(self, b):
            seen.append(len(b))
            super().set_seq2(b)

    monkeypatch.setattr(difflib, "SequenceMatcher", Counting)
    made = plan.make_plan(
        "linux-edge1", Platform.NFTABLES, Transport.LINUX, "\n".join(desired) + "\n", "\n".join(live) + "\n"
    )
    assert made.diff == expected
    assert (made.added, made.changed, made.removed, made.removed_lines) == expected_counts == (0, 1, 0, [live[2500]])
    assert "@@ -2498,7 +2498,7 @@" in made.diff
    assert seen and max(seen) <= 7, f"difflib matched {max(seen)} lines"
