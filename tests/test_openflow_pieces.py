"""The switch's desired flows in pieces equal the whole render, and one more decision renders one piece.

With 10,000 active, every sync built, rendered, parsed and diffed the whole section (2.2 s per
decision through ``enforcer serve``). :mod:`enforcer.controller.pieces` renders ACL and
null-route enforcements by target bucket and keeps each piece until its ids or expiries move;
these tests hold it to the whole render, flow for flow, and count the work a change costs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address

from enforcer.controller import pieces as pieces_mod
from enforcer.controller.flows import diff, parse_state
from enforcer.controller.pieces import Pieces, Wanted, diff_pieces
from enforcer.render import build_section, render_section

from .test_openflow_flows import OWNER, SPOOF_INVENTORY, SWITCH, enf, every_entry_kind


def whole(enforcements, inventory=SPOOF_INVENTORY):
    return parse_state(render_section(build_section(SWITCH, enforcements, inventory)), OWNER)


def mixed() -> list:
    spoof = enf(99, "anti-spoof", "198.18.0.11", "spoofing").model_copy(update={"customer": "c1"})
    # the same target twice (merged into one entry, its first id the cookie), and targets in one bucket
    twice = [enf(500, "null-route", "198.18.9.9"), enf(501, "null-route", "198.18.9.9")]
    return [*every_entry_kind(), spoof, *twice, *(enf(600 + i, "null-route", str(IPv4Address("100.64.0.1") + i)) for i in range(300))]


def as_set(state):
    return set(state.flows), set(state.meters)


def test_the_pieces_together_are_the_whole_render_for_every_entry_kind():
    active = mixed()
    flows = Pieces().desired(SWITCH, OWNER, Wanted(active, SPOOF_INVENTORY))
    assert len(flows.pieces) > 10, "the bulk is not split"
    assert as_set(flows.state) == as_set(whole(active))
    assert len(flows.state.flows) == len(whole(active).flows), "a flow is in two pieces"


def test_one_more_decision_with_ten_thousand_active_renders_one_piece_and_diffs_only_it(monkeypatch):
    active = [enf(1000 + i, "null-route", str(IPv4Address("100.64.0.1") + i)) for i in range(10_000)]
    source = Pieces()
    before = source.desired(SWITCH, OWNER, Wanted(active, SPOOF_INVENTORY))
    first = source.rendered
    assert first == len(before.pieces) > 100

    diffed: list[int] = []
    real_diff = pieces_mod.diff
    monkeypatch.setattr(pieces_mod, "diff", lambda want, have: diffed.append(len(want.flows)) or real_diff(want, have))
    after = source.desired(SWITCH, OWNER, Wanted([*active, enf(20_000, "null-route", "198.18.0.12")], SPOOF_INVENTORY))
    assert source.rendered - first == 1, "a new decision re-rendered more than its own piece"
    plan = diff_pieces(after, before)
    assert len(diffed) == 1 and diffed[0] < 100, f"the diff walked {diffed} flows, not one piece"
    assert [f.text() for f in plan.add_flows] == [
        "cookie=0xe4f0000000004e20 priority=41032 ip,nw_dst=198.18.0.12 actions=drop",
        "cookie=0xe4f0000000004e20 priority=41032 ip,nw_src=198.18.0.12 actions=drop",
    ]
    assert not plan.delete_flows and plan.summary() == diff(after.state, before.state).summary()


def test_an_ended_or_refreshed_decision_re_renders_its_piece_and_the_diff_equals_the_whole_one():
    active = mixed()
    source = Pieces()
    before = source.desired(SWITCH, OWNER, Wanted(active, SPOOF_INVENTORY))
    later = datetime.now(UTC) + timedelta(days=1)
    changed = [e for e in active if e.id not in (101, 601)]  # an ACL and a null route end
    changed[0] = changed[0].model_copy(update={"expires_at": later})  # a detector's repeat moved one expiry
    changed = [*changed, enf(950, "rate-limit", "198.18.30.1", "excessive-bandwidth", rate_bps="5Mbit")]
    after = source.desired(SWITCH, OWNER, Wanted(changed, SPOOF_INVENTORY))
    assert as_set(after.state) == as_set(whole(changed))
    piecewise, complete = diff_pieces(after, before), diff(after.state, before.state)
    assert piecewise.summary() == complete.summary() and piecewise.summary()["flows_deleted"] > 0
    assert [f.text() for f in piecewise.add_flows] == [f.text() for f in complete.add_flows]
    assert [f.text() for f in piecewise.delete_flows] == [f.text() for f in complete.delete_flows]
    assert piecewise.add_meters == complete.add_meters


def test_another_inventory_renders_every_piece_again():
    active = mixed()
    source = Pieces()
    source.desired(SWITCH, OWNER, Wanted(active, SPOOF_INVENTORY))
    first = source.rendered
    reloaded = SPOOF_INVENTORY.model_copy()  # the controller re-read a changed inventory file
    flows = source.desired(SWITCH, OWNER, Wanted(active, reloaded))
    assert source.rendered - first == len(flows.pieces)


def test_one_more_decision_with_ten_thousand_active_files_only_itself_into_a_piece(monkeypatch):
    """The store hands over the (id, expiry) keys with the enforcements: what changed since the last
    sync is two set differences, and only the new enforcement's target is hashed into a piece —
    grouping all 10,000 again (their targets' hashes, every piece's signature) was ~45 ms a sync."""
    active = [enf(1000 + i, "null-route", str(IPv4Address("100.64.0.1") + i)) for i in range(10_000)]
    keys = frozenset((e.id, e.expires_at) for e in active)
    source = Pieces()
    before = source.desired(SWITCH, OWNER, Wanted(active, SPOOF_INVENTORY, None, keys))
    filed: list[int] = []
    real_piece_of = pieces_mod.piece_of
    monkeypatch.setattr(pieces_mod, "piece_of", lambda e: filed.append(e.id) or real_piece_of(e))
    new = enf(20_000, "null-route", "198.18.0.12")
    after = source.desired(SWITCH, OWNER, Wanted([*active, new], SPOOF_INVENTORY, None,
                                                  keys | {(new.id, new.expires_at)}))
    assert filed == [20_000], f"{len(filed)} enforcements filed into pieces for one new decision"
    assert len(after.state.flows) == len(before.state.flows) + 2
    again = source.desired(SWITCH, OWNER, Wanted([*active, new], SPOOF_INVENTORY, None,
                                                  keys | {(new.id, new.expires_at)}))
    assert again is after and filed == [20_000], "nothing changed, yet the pieces were made again"
