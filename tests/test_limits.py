"""``limits.over_limits``: the whole-text scan before the line-by-line check changes nothing it finds."""

from __future__ import annotations

import random

import pytest

from enforcer.limits import Limit, over_limits, platform_limits
from enforcer.resources import TEMPLATES


def _line_by_line(text: str, limits: tuple[Limit, ...]) -> list[tuple[str, str, int, int]]:
    """The check as it was: every line, every limit, every match."""
    found = []
    for line in text.splitlines():
        for limit in limits:
            for m in limit.regex.finditer(line):
                if len(m.group(1).encode()) > limit.max:
                    found.append((line, limit.what, len(m.group(1).encode()), limit.max))
    return found


_TRICKY = (
    Limit(what="anchored", max=6, pattern=r'^\s*name "([^"]*)"$'),
    Limit(what="across", max=5, pattern=r"x([^y]*)y"),
    Limit(what="ahead", max=3, pattern=r"(?=k)(k\w*)"),
    Limit(what="word", max=4, pattern=r"\b(w\w*)\B"),
    Limit(what="end", max=2, pattern=r"(z+)\Z"),
)
_PIECES = ['comment "', '"', 'iifname "', 'oifname "', 'name "', "x", "y", "k", "w", "z", " ", "\t", "\n", "\n",
           "\n", "abcdefghij", "é", "𝄞", "ab", "12345678901234567890", "\r", "\x85", "\u2028"]  # fmt: skip


def _text(rng: random.Random, breaks: bool) -> str:
    pieces = _PIECES if breaks else [p for p in _PIECES if p not in ("\r", "\x85", "\u2028")]
    return "".join(rng.choice(pieces) for _ in range(rng.randint(0, 120)))


@pytest.mark.parametrize("seed", range(6))
def test_the_same_findings_in_the_same_order_as_line_by_line(seed: int) -> None:
    rng = random.Random(seed)
    platforms = sorted(p.name for p in TEMPLATES.iterdir() if (p / "platform.yaml").exists())
    sets = [platform_limits(p) for p in platforms if platform_limits(p)]
    sets += [_TRICKY, _TRICKY[:1], _TRICKY[1:2], _TRICKY[2:3], _TRICKY[3:4], _TRICKY[4:]]
    for _ in range(1500):
        limits = rng.choice(sets)
        text = _text(rng, breaks=rng.random() < 0.2)
        got = [(o.line, o.what, o.length, o.max) for o in over_limits(text, limits)]
        assert got == _line_by_line(text, limits), (text, limits)


class _Counting:
    """A compiled pattern that counts the lines it is asked to scan."""

    def __init__(self, limit: Limit) -> None:
        self.inner, self.lines = limit.regex, 0

    def finditer(self, line: str):  # noqa: ANN201
        self.lines += 1
        return self.inner.finditer(line)


def test_a_5000_line_section_is_checked_line_by_line_only_where_a_value_may_be_over() -> None:
    limits = platform_limits("nftables")
    assert {lim.what for lim in limits} >= {"comment", "interface name"}
    counting = []
    for limit in limits:
        limit.__dict__.pop("regex", None)
        wrapper = _Counting(limit)
        limit.__dict__["regex"] = wrapper
        counting.append(wrapper)
    try:
        lines = [f'\t\t\t10.{i // 250}.{i % 250}.1 comment "enf {i}",' for i in range(5000)]
        lines[1234] = '\t\t\t10.9.9.9 comment "' + "x" * 200 + '",'
        lines.append('\t\tiifname "a-very-long-interface-name" drop')
        found = over_limits("\n".join(lines), limits)
    finally:
        for limit in limits:
            limit.__dict__.pop("regex", None)
    assert [(o.what, o.length) for o in found] == [("comment", 200), ("interface name", 26)]
    assert [c.lines for c in counting] == [2, 2]  # before: every one of the 5,001 lines, per limit


def _mutated(rng: random.Random, text: str) -> str:
    """``text`` with a few lines added, dropped or changed: the next section of the same device."""
    lines = text.split("\n")
    for _ in range(rng.randint(0, 3)):
        where = rng.randint(0, len(lines))
        what = rng.random()
        if what < 0.4:
            lines.insert(where, _text(rng, breaks=rng.random() < 0.05).replace("\n", ""))
        elif what < 0.7 and lines:
            del lines[min(where, len(lines) - 1)]
        elif lines:
            lines[min(where, len(lines) - 1)] = _text(rng, breaks=rng.random() < 0.05)
    return "\n".join(lines)


@pytest.mark.parametrize("seed", range(4))
def test_a_devices_next_sections_get_the_same_findings_as_the_whole_check(seed: int) -> None:
    rng = random.Random(seed)
    platforms = sorted(p.name for p in TEMPLATES.iterdir() if (p / "platform.yaml").exists())
    sets = [platform_limits(p) for p in platforms if platform_limits(p)] + [_TRICKY, _TRICKY[1:2], _TRICKY[3:4]]
    for round_ in range(60):
        slot, limits = f"device-{seed}-{round_}", rng.choice(sets)
        text = "\n".join(_text(rng, breaks=False) for _ in range(rng.randint(0, 12)))
        for _ in range(25):
            got = [(o.line, o.what, o.length, o.max) for o in over_limits(text, limits, slot=slot)]
            assert got == _line_by_line(text, limits), (text, limits)
            text = _mutated(rng, text)


def test_one_more_element_checks_only_its_own_line_not_the_whole_section(monkeypatch) -> None:
    import enforcer.limits as limits_module

    limits = platform_limits("nftables")
    scans = []
    whole = limits_module._suspect_lines
    monkeypatch.setattr(limits_module, "_suspect_lines", lambda text, lim: scans.append(len(text)) or whole(text, lim))
    counting = []
    for limit in limits:
        limit.__dict__.pop("regex", None)
        wrapper = _Counting(limit)
        limit.__dict__["regex"] = wrapper
        counting.append(wrapper)
    try:
        lines = [f'\t\t\t10.{i // 250}.{i % 250}.1 comment "enf {i}",' for i in range(5000)]
        assert over_limits("\n".join(lines) + "\n", limits, slot="edge-1") == []
        assert len(scans) == 1  # the first section: the whole check
        lines.insert(2500, '\t\t\t10.99.0.1 comment "enf 5000",')
        for c in counting:
            c.lines = 0
        assert over_limits("\n".join(lines) + "\n", limits, slot="edge-1") == []
        assert len(scans) == 1 and [c.lines for c in counting] == [1, 1]  # before: the whole check again
        lines.insert(10, '\t\t\t10.99.0.2 comment "' + "x" * 200 + '",')
        found = over_limits("\n".join(lines) + "\n", limits, slot="edge-1")
    finally:
        for limit in limits:
            limit.__dict__.pop("regex", None)
    assert [(o.what, o.length) for o in found] == [("comment", 200)]
    assert len(scans) == 2  # a new line over the limit: the whole check, for its order


def test_a_one_shot_pass_keeps_no_devices_lines_after_it(tmp_path, monkeypatch):
    """``plan`` and ``apply`` check each device once: the clean lines a device's check kept are
    dropped with its other render memos (``render.forget``), or a 100,000-enforcement plan would
    hold every line it printed to its end."""
    from enforcer import limits as limits_module
    from enforcer import service
    from enforcer.model import Decision
    from enforcer.settings import Settings

    from .conftest import EXAMPLE_INVENTORY

    ctx = service.Context.open(Settings(inventory=EXAMPLE_INVENTORY, db=f"sqlite:///{tmp_path / 's.db'}",
                                        output=tmp_path / "out"))  # fmt: skip
    service.submit(ctx, Decision(target="198.51.100.7", violation="spam", source="cli", actor="alice"))
    names = set(ctx.inventory.devices)
    seen: list[set] = []
    check = limits_module.over_limits

    def watched(text, lim, slot=None):
        found = check(text, lim, slot=slot)
        seen.append({k[0] for k in limits_module._clean})
        return found

    monkeypatch.setattr("enforcer.withhold.over_limits", watched)
    service.plan(ctx, None)
    assert any(s & names for s in seen)  # the checks kept lines while their device was planned
    assert not {k[0] for k in limits_module._clean} & names
