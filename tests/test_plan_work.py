"""The work a plan does per device, counted (issue 12: 100,000 enforcements over 100 devices).

Counted, not timed: sections numbered, config texts parsed into trees, difflib matchers built.
What the plan prints is compared with difflib's own output and with the plan before these counts.
"""

from __future__ import annotations

import difflib

import pytest

from enforcer import conftree, plan, render, service
from enforcer.inventory import Platform, Transport
from enforcer.model import Decision
from enforcer.settings import Settings

from .conftest import EXAMPLE_INVENTORY


@pytest.fixture
def ctx(tmp_path):
    ctx = service.Context.open(Settings(inventory=EXAMPLE_INVENTORY, db=f"sqlite:///{tmp_path / 'e.db'}"))
    for i in range(3):
        service.submit(ctx, Decision.model_validate({"target": f"203.0.113.{i + 10}", "violation": "spam",
                                                     "source": "test", "actor": "noc"}))  # fmt: skip
    return ctx


def test_a_device_holding_nothing_yet_has_its_section_numbered_once_per_plan(ctx, monkeypatch) -> None:
    """The withholding check numbers the section alone, the plan against the live section: with
    nothing live (a first push, an offline device) and no operator's object composed with, that is
    the same numbering, done once."""
    once = 0
    for name in ["iosxr-edge1", "junos-edge1", "eos-edge1", "nxos-edge1", "of-edge1"]:
        monkeypatch.setattr(render, "finishes", 0)
        [p] = service.plan(ctx, name)
        assert p.desired and not p.live and not p.slots and not p.error, name
        assert render.finishes == 1, name
        once += 1
    assert once == 5


def test_a_device_with_a_live_section_is_numbered_against_it(ctx, monkeypatch) -> None:
    """The memo answers only the very same inputs: another live section is numbered anew."""
    device = next(d for d in ctx.inventory.devices.values() if d.platform is Platform.IOS)
    section = render.build_section(device, ctx.store.active_enforcements(), ctx.inventory)
    printed = render.print_section(section)
    monkeypatch.setattr(render, "finishes", 0)
    alone = render.finish_section(section, printed)
    assert render.finish_section(section, printed) is alone and render.finishes == 1
    live = alone.replace(" 10 remark", " 15 remark")
    against = render.finish_section(section, printed, live=live)
    assert render.finishes == 2 and against != alone and " 15 remark" in against
    render.forget(device.name)


def test_the_merge_candidate_and_the_refresh_check_parse_each_text_once(ctx, monkeypatch) -> None:
    """An IOS plan parsed its desired section three times (the candidate, twice in the refresh
    check) and the live one twice: now each distinct text once, all the same trees."""
    device = ctx.inventory.device("ios-edge1")
    texts: list[str] = []
    real = conftree._parse
    monkeypatch.setattr(conftree, "_parse", lambda text, facts: texts.append(text) or real(text, facts))
    [p] = service.plan(ctx, device.name)
    assert p.candidate and not p.error
    assert p.desired in texts and len(texts) == len(set(texts)), [t[:30] for t in texts]


@pytest.mark.parametrize("live,desired", [([], []), ([], ["a"]), ([], ["a", " b", "c"]), (["a"], []),
                                          (["a", "b"], []), (["a"], ["b"]), (["a", "b"], ["a", "c", "b"])])
def test_the_plan_s_diff_is_difflib_s_and_one_empty_side_builds_no_matcher(live, desired, monkeypatch) -> None:
    made = [0]
    real = difflib.SequenceMatcher.__init__

    def counted(self, *a, **k):
        made[0] += 1
        real(self, *a, **k)

    monkeypatch.setattr(difflib.SequenceMatcher, "__init__", counted)
    p = plan.make_plan("d", Platform.IOS, Transport.OFFLINE, "".join(f"{x}\n" for x in desired),
                       "".join(f"{x}\n" for x in live))
    expected = "".join(ln + "\n" for ln in difflib.unified_diff(live, desired, fromfile="d (live)",
                                                                tofile="d (desired)", lineterm=""))
    assert p.diff == expected
    assert (p.added, p.removed) == ((len(desired), len(live)) if not live or not desired else (p.added, p.removed))
    if not live or not desired:
        assert made[0] == 1  # the expected diff's own; the plan built none


def test_outside_one_device_s_plan_no_tree_is_kept(ctx) -> None:
    """A thread keeps its trees only while it plans one device: serve's workers would otherwise
    each hold their device's last big sections as trees."""
    device = ctx.inventory.device("ios-edge1")
    [p] = service.plan(ctx, device.name)
    facts = render.platform_info(device.platform).tree
    assert getattr(conftree._parsed, "trees", None) is None
    before = conftree.parses
    assert conftree.parse(p.desired, facts) is not conftree.parse(p.desired, facts)
    assert conftree.parses == before + 2
    with conftree.trees_kept():
        assert conftree.parse(p.desired, facts) is conftree.parse(p.desired, facts)
    assert getattr(conftree._parsed, "trees", None) is None
