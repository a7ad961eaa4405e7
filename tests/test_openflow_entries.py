"""The controller's flows made straight from ACL and null-route entries are the template's, line for line.

``enforcer plan`` shows a switch's section as ``section.j2`` prints it; the controller pushes flows
it made from the section's entries without printing them (:mod:`enforcer.controller.entries`). A
drift between the two would push flows no plan showed, so every entry kind, and a random mix with
shared targets, merged ids and ports, is held to the parse of the printed text.
"""

from __future__ import annotations

import random
from ipaddress import IPv4Address, IPv6Address

import pytest

from enforcer import render
from enforcer.controller.entries import direct, entry_state
from enforcer.controller.flows import FlowError, parse_state
from enforcer.controller.pieces import Pieces, Wanted
from enforcer.render import build_section, render_section

from .test_openflow_flows import OWNER, SPOOF_INVENTORY, SWITCH, enf, every_entry_kind


def printed(section):
    return parse_state(render_section(section), OWNER)


def bulk_kinds():
    return [e for e in every_entry_kind() if e.action.value in ("acl", "null-route")]


def test_entry_flows_equal_the_printed_section_for_every_acl_and_null_route_kind():
    section = build_section(SWITCH, bulk_kinds(), SPOOF_INVENTORY)
    assert direct(section)
    made, shown = entry_state(section, OWNER), printed(section)
    assert made == shown, "the controller would push flows the plan does not show"
    assert made.text() == render_section(section)
    assert {f.match.proto for f in made.flows} == {None, "tcp", "udp", "icmp"}
    assert {f.match.family for f in made.flows} == {4, 6}


@pytest.mark.parametrize("seed", range(5))
def test_a_random_mix_with_shared_targets_merged_ids_and_repeated_ports_prints_the_same_flows(seed):
    rng = random.Random(seed)
    targets = [str(IPv4Address("100.64.0.0") + rng.randrange(40)) for _ in range(30)]
    targets += [f"100.65.{rng.randrange(4)}.0/24", str(IPv6Address("2001:db8::") + rng.randrange(8)), "2001:db8:9::/48"]
    items = []
    for i in range(300):
        target = rng.choice(targets)
        if rng.random() < 0.3:
            items.append(enf(1000 + i, "null-route", target, rng.choice(["malware-hosting", "phishing"])))
            continue
        protocol = rng.choice(["any", "tcp", "udp", "icmp"])
        ports = rng.sample([22, 25, 80, 443, 587], rng.randrange(3)) if protocol in ("tcp", "udp") else []
        items.append(enf(1000 + i, "acl", target, rng.choice(["spam", "scanning"]), protocol=protocol, ports=ports,
                         direction=rng.choice(["source", "destination"])))
    rng.shuffle(items)
    section = build_section(SWITCH, items, SPOOF_INVENTORY)
    made = entry_state(section, OWNER)
    assert made == printed(section)
    assert any(len(r.ids) > 1 for r in section.acl), "no merged entry: the cookie choice is untested"


def test_a_section_with_meters_or_anti_spoof_is_left_to_the_template():
    rate = enf(9, "rate-limit", "198.18.0.13", "excessive-bandwidth", rate_bps="10Mbit")
    section = build_section(SWITCH, [*bulk_kinds(), rate], SPOOF_INVENTORY)
    assert not direct(section)
    with pytest.raises(ValueError):
        entry_state(section, OWNER)


def test_a_port_on_a_protocol_without_ports_is_refused_as_the_parse_refuses_it():
    section = build_section(SWITCH, [enf(5, "acl", "198.18.0.5", "spam", protocol="icmp")], SPOOF_INVENTORY)
    bad = section.model_copy(update={"acl": (section.acl[0].model_copy(update={"ports": (25,)}),)})
    with pytest.raises(FlowError):
        printed(bad)
    with pytest.raises(FlowError):
        entry_state(bad, OWNER)


def test_ten_thousand_drops_reach_the_switchs_desired_set_without_a_template_print():
    """The bulk sync's flows: 10,000 ACL drops and null routes, no section printed nor parsed back
    (before: 512 pieces printed through Jinja and 20,000 lines parsed), the same flows as the print."""
    active = [enf(1000 + i, "acl", str(IPv4Address("100.64.0.1") + i), "scanning") for i in range(5_000)]
    active += [enf(9000 + i, "null-route", str(IPv4Address("100.80.0.1") + i)) for i in range(5_000)]
    before = render.prints
    pieces = Pieces()
    flows = pieces.desired(SWITCH, OWNER, Wanted(active, SPOOF_INVENTORY))
    assert render.prints == before and pieces.printed == 0, "a bulk piece went through the template"
    assert len(flows.state.flows) == 15_000
    whole = printed(build_section(SWITCH, active, SPOOF_INVENTORY))
    assert set(flows.state.flows) == set(whole.flows) and len(whole.flows) == 15_000
