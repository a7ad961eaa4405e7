"""Junos slots (issue 9), against `tests/fixtures/running/junos` (written as Junos 21.4 prints
`show configuration | display set`, from Juniper's guides; see the README there).

`occupied.txt`: the customer port ge-0/0/1.0 has the operator's `filter input CUST-ACME-IN` (IPv4)
and `CUST-ACME-IN-V6`; acme's neighbour 192.0.2.105 has its own import chain `REJECT-BOGONS
CUST-ACME-IN` (the group's is `REJECT-BOGONS CUSTOMER-DEFAULT`, ending in reject); the upstream
group's export chain ends in `REJECT-ALL`. `no-room.txt`: ge-0/0/1.0's IPv4 input-list already
holds 16 filters.

A plan's candidate is checked as commands and then loaded onto the live config the way
`load set` applies it (:func:`load_set`), and planned again: the device converges, and unblock
gives back the operator's configuration line for line.
"""

from __future__ import annotations

import pytest

from enforcer.model import ActionKind, ActionParams

from . import test_compose
from .test_compose import RUNNING, acl, hijack, plan_and_candidate, rtbh, spoofing

ctx_with = test_compose.ctx_with  # the fixture: a context whose device snapshot is the given config

OCCUPIED = (RUNNING / "junos" / "occupied.txt").read_text()
NO_ROOM = (RUNNING / "junos" / "no-room.txt").read_text()
DEVICE = "junos-edge1"
GE1 = "set interfaces ge-0/0/1 unit 0 family"
ACME = "set protocols bgp group CUSTOMERS neighbor 192.0.2.105 import"


def load_set(config: str, candidate: str) -> str:
    """``candidate`` applied as `load set` does: `delete X` removes X and everything under it,
    `set X` adds the statement (a list value goes to the end of its list)."""
    lines = config.splitlines()
    for command in candidate.splitlines():
        verb, _, path = command.partition(" ")
        if verb == "delete":
            lines = [ln for ln in lines if ln != f"set {path}" and not ln.startswith(f"set {path} ")]
        elif verb == "set" and command not in lines:
            lines.append(command)
        else:
            assert verb in ("set", "delete"), command
    return "\n".join(lines) + "\n"


def plan(ctx_with, config: str, enforcements, extra: str = ""):
    p, _ = plan_and_candidate(ctx_with(DEVICE, config, extra), DEVICE, enforcements)
    return p


def lines_of(config: str, prefix: str) -> list[str]:
    return [ln for ln in config.splitlines() if ln.startswith(prefix)]


def round_trip(ctx_with, config: str, enforcements) -> tuple[str, str]:
    """(the config after the block's push, after the unblock's), each push re-planned to no change."""
    blocked = load_set(config, plan(ctx_with, config, enforcements).candidate)
    assert not plan(ctx_with, blocked, enforcements).has_changes, "the device converges once pushed"
    unblocked = load_set(blocked, plan(ctx_with, blocked, []).candidate)
    assert not plan(ctx_with, unblocked, []).has_changes
    return blocked, unblocked


BLOCKS = [acl(601, "203.0.113.5/32", (25,)), acl(602, "2001:db8:300::/48")]


def test_filter_input_becomes_an_input_list_with_enforcers_filter_first(ctx_with):
    p = plan(ctx_with, OCCUPIED, BLOCKS)
    assert p.error is None
    modes = {s.slot: (s.mode.value, s.operator_object) for s in p.slots}
    assert modes["interface ge-0/0/1.0 inbound filter (IPv4)"] == ("composed", "CUST-ACME-IN")
    assert modes["interface ge-0/0/1.0 inbound filter (IPv6)"] == ("composed", "CUST-ACME-IN-V6")
    assert modes["interface ge-0/0/2.0 inbound filter (IPv4)"] == ("free", None)
    assert all("changes an operator object" in s.reason for s in p.slots if s.mode.value == "composed")
    commands = p.candidate.splitlines()
    # `input` and `input-list` never both: the operator's `input` goes in the same commit
    assert "delete interfaces ge-0/0/1 unit 0 family inet filter input" in commands
    assert commands.index("delete interfaces ge-0/0/1 unit 0 family inet filter input") < commands.index(
        f"{GE1} inet filter input-list ENFORCER-ACL-V4")
    blocked = load_set(OCCUPIED, p.candidate)
    assert lines_of(blocked, f"{GE1} inet filter") == [f"{GE1} inet filter input-list ENFORCER-ACL-V4",
                                                       f"{GE1} inet filter input-list CUST-ACME-IN"]
    assert lines_of(blocked, f"{GE1} inet6 filter") == [f"{GE1} inet6 filter input-list ENFORCER-ACL-V6",
                                                        f"{GE1} inet6 filter input-list CUST-ACME-IN-V6"]
    # the free port: enforcer's filter, then the one-term accept filter ending a list of enforcer's
    assert lines_of(blocked, "set interfaces ge-0/0/2 unit 0 family inet filter") == [
        "set interfaces ge-0/0/2 unit 0 family inet filter input-list ENFORCER-ACL-V4",
        "set interfaces ge-0/0/2 unit 0 family inet filter input-list ENFORCER-ACCEPT-V4"]
    # enforcer's filter ends in no accept: what it does not discard goes on to CUST-ACME-IN
    own = lines_of(blocked, "set firewall family inet filter ENFORCER-ACL-V4 ")
    assert own and not any(ln.endswith(" accept") for ln in own)
    assert "set firewall family inet filter ENFORCER-ACCEPT-V4 term ENFORCER-ACCEPT then accept" in blocked


@pytest.mark.parametrize("family", [4, 6])
def test_unblock_gives_the_operator_its_filter_input_back(ctx_with, family):
    block = [BLOCKS[0] if family == 4 else BLOCKS[1]]
    blocked, unblocked = round_trip(ctx_with, OCCUPIED, block)
    assert "ENFORCER" not in unblocked
    assert sorted(unblocked.splitlines()) == sorted(OCCUPIED.splitlines())


@pytest.mark.parametrize("family", [4, 6])
def test_anti_spoof_composes_first_in_the_list_since_it_only_discards(ctx_with, family):
    """Unlike IOS's permit-list, Junos's anti-spoof term discards what is not the customer's and
    accepts nothing: it sits in front of the operator's BCP 38 filter without shadowing it."""
    spoof = spoofing(701)
    p = plan(ctx_with, OCCUPIED, [spoof])
    assert p.error is None
    fam, suffix = ("inet", "") if family == 4 else ("inet6", "-V6")
    blocked = load_set(OCCUPIED, p.candidate)
    assert lines_of(blocked, f"{GE1} {fam} filter") == [f"{GE1} {fam} filter input-list ENFORCER-AS-acme-V{family}",
                                                       f"{GE1} {fam} filter input-list CUST-ACME-IN{suffix}"]
    assert not any(ln.endswith(" accept") for ln in lines_of(blocked, f"set firewall family {fam} filter ENFORCER-AS-"))


LISTED = OCCUPIED.replace(f"{GE1} inet filter input CUST-ACME-IN\n",
                          f"{GE1} inet filter input-list DROP-NTP-AMP\n{GE1} inet filter input-list CUST-ACME-IN\n")


def test_an_operators_input_list_gets_enforcers_filter_inserted_first_and_back_on_unblock(ctx_with):
    blocked, unblocked = round_trip(ctx_with, LISTED, [BLOCKS[0]])
    assert lines_of(blocked, f"{GE1} inet filter") == [f"{GE1} inet filter input-list ENFORCER-ACL-V4",
                                                       f"{GE1} inet filter input-list DROP-NTP-AMP",
                                                       f"{GE1} inet filter input-list CUST-ACME-IN"]
    assert lines_of(unblocked, f"{GE1} inet filter") == lines_of(LISTED, f"{GE1} inet filter")


def test_a_full_input_list_fails_closed_and_the_other_family_still_says_how_it_would_compose(ctx_with):
    p = plan(ctx_with, NO_ROOM, BLOCKS)
    assert p.candidate == "" and not p.has_changes
    assert p.error.startswith("interface ge-0/0/1.0 inbound filter (IPv4): refused (DROP-MARTIAN-0 ")
    assert "already holds 16 filters, the most Junos takes" in p.error
    v6 = next(s for s in p.slots if s.slot == "interface ge-0/0/1.0 inbound filter (IPv6)")
    assert (v6.mode.value, v6.operator_object) == ("composed", "CUST-ACME-IN-V6")


def test_a_rate_limit_in_front_of_the_operators_filter_fails_closed(ctx_with):
    """A policer term ends in `then accept`, which would skip the operator's filter."""
    limit = acl(801, "198.51.100.30/32").model_copy(update={"action": ActionKind.RATE_LIMIT,
                                                            "params": ActionParams()})
    p = plan(ctx_with, OCCUPIED, [limit])
    assert "interface ge-0/0/1.0 inbound filter (IPv4): refused (CUST-ACME-IN): ENFORCER-ACL-V4 carries " \
           "rate-limit terms" in p.error


# -- import chains: enforcer's policy first in the neighbour's effective chain, never dropping
#    the group's (a neighbour-level import replaces the group's).

@pytest.mark.parametrize(("target", "family"), [("203.0.113.128/25", 4), ("2001:db8:300::/48", 6)])
def test_hijack_policy_goes_first_in_the_neighbours_own_import_chain(ctx_with, target, family):
    p = plan(ctx_with, OCCUPIED, [hijack(501, target)])
    assert p.error is None
    [slot] = p.slots
    assert (slot.slot, slot.mode.value, slot.operator_object) == (
        f"neighbor 192.0.2.105 import chain (IPv{family})", "composed", "REJECT-BOGONS CUST-ACME-IN")
    blocked = load_set(OCCUPIED, p.candidate)
    assert lines_of(blocked, ACME) == [f"{ACME} ENFORCER-HIJACK-acme-V{family}", f"{ACME} REJECT-BOGONS",
                                       f"{ACME} CUST-ACME-IN"]
    policy = lines_of(blocked, f"set policy-options policy-statement ENFORCER-HIJACK-acme-V{family} ")
    assert policy[-1].endswith("then reject") and not any(ln.endswith("accept") for ln in policy)
    assert sorted(round_trip(ctx_with, OCCUPIED, [hijack(501, target)])[1].splitlines()) == sorted(OCCUPIED.splitlines())


INHERITING = "\n".join(ln for ln in OCCUPIED.splitlines() if not ln.startswith(ACME)) + "\n"


def test_a_neighbour_inheriting_the_groups_chain_gets_it_restated_after_enforcers(ctx_with):
    p = plan(ctx_with, INHERITING, [hijack(501, "203.0.113.128/25")])
    [slot] = p.slots
    assert slot.mode.value == "composed" and "restated" in slot.reason
    blocked, unblocked = round_trip(ctx_with, INHERITING, [hijack(501, "203.0.113.128/25")])
    assert lines_of(blocked, ACME) == [f"{ACME} ENFORCER-HIJACK-acme-V4", f"{ACME} REJECT-BOGONS",
                                       f"{ACME} CUSTOMER-DEFAULT"]
    # unblock: the neighbour-level chain enforcer made goes, the group's applies again
    assert lines_of(unblocked, ACME) == []
    assert sorted(unblocked.splitlines()) == sorted(INHERITING.splitlines())


def test_an_ipv6_neighbour_inheriting_the_groups_chain_is_found_in_its_group(ctx_with):
    """initech speaks BGP over IPv6 (2001:db8:ffff::6, in CUSTOMERS, no import of its own)."""
    initech = "set protocols bgp group CUSTOMERS neighbor 2001:db8:ffff::6 import"
    blocked, unblocked = round_trip(ctx_with, OCCUPIED, [hijack(503, "2001:db8:300::/48", "initech")])
    assert lines_of(blocked, initech) == [f"{initech} ENFORCER-HIJACK-initech-V6", f"{initech} REJECT-BOGONS",
                                          f"{initech} CUSTOMER-DEFAULT"]
    assert sorted(unblocked.splitlines()) == sorted(OCCUPIED.splitlines())


def test_a_neighbour_in_no_group_is_refused_rather_than_created(ctx_with):
    gone = "\n".join(ln for ln in OCCUPIED.splitlines() if "neighbor 192.0.2.105 " not in ln) + "\n"
    p = plan(ctx_with, gone, [hijack(501, "203.0.113.128/25")])
    assert p.error == ("neighbor 192.0.2.105 import chain (IPv4): refused: neighbor 192.0.2.105 is in no BGP "
                       "group on junos-edge1: enforcer would create the session; configure it, or fix customer "
                       "acme's attachment")


# -- RTBH export: first in the upstream group's chain (which ends in REJECT-ALL), and a guard
#    first in the customer group's.

UPSTREAM = "set protocols bgp group UPSTREAM export"
CUSTOMERS = "set protocols bgp group CUSTOMERS export"


@pytest.mark.parametrize("target", ["203.0.113.9", "2001:db8:100::9"], ids=["ipv4", "ipv6"])
def test_rtbh_export_goes_first_upstream_and_a_guard_keeps_it_from_the_customers(ctx_with, target):
    p = plan(ctx_with, OCCUPIED, [rtbh(301, target)])
    assert p.error is None
    modes = {s.slot: (s.mode.value, s.operator_object) for s in p.slots}
    assert modes == {"group UPSTREAM export chain (RTBH, upstream)": ("composed", "STATIC-TO-BGP REJECT-ALL"),
                     "group CUSTOMERS export chain (RTBH guard, customers)": ("free", None)}
    blocked, unblocked = round_trip(ctx_with, OCCUPIED, [rtbh(301, target)])
    assert lines_of(blocked, UPSTREAM) == [f"{UPSTREAM} ENFORCER-RTBH", f"{UPSTREAM} STATIC-TO-BGP",
                                           f"{UPSTREAM} REJECT-ALL"]
    assert lines_of(blocked, CUSTOMERS) == [f"{CUSTOMERS} ENFORCER-RTBH-GUARD"]
    guard = lines_of(blocked, "set policy-options policy-statement ENFORCER-RTBH-GUARD ")
    assert guard == ["set policy-options policy-statement ENFORCER-RTBH-GUARD term RTBH from community ENFORCER-RTBH",
                     "set policy-options policy-statement ENFORCER-RTBH-GUARD term RTBH then reject"]
    assert "set policy-options community ENFORCER-RTBH members 65535:666" in blocked
    assert sorted(unblocked.splitlines()) == sorted(OCCUPIED.splitlines())


def test_rtbh_guard_goes_first_in_a_customer_groups_own_export_and_neighbour_exports(ctx_with):
    config = OCCUPIED.replace("set protocols bgp group CUSTOMERS type external\n",
                              "set protocols bgp group CUSTOMERS type external\n"
                              "set protocols bgp group CUSTOMERS export CUSTOMER-OUT\n"
                              "set protocols bgp group CUSTOMERS neighbor 192.0.2.105 export ACME-OUT\n")
    blocked, unblocked = round_trip(ctx_with, config, [rtbh(301, "203.0.113.9")])
    assert lines_of(blocked, CUSTOMERS) == [f"{CUSTOMERS} ENFORCER-RTBH-GUARD", f"{CUSTOMERS} CUSTOMER-OUT"]
    acme = "set protocols bgp group CUSTOMERS neighbor 192.0.2.105 export"
    assert lines_of(blocked, acme) == [f"{acme} ENFORCER-RTBH-GUARD", f"{acme} ACME-OUT"]
    assert sorted(unblocked.splitlines()) == sorted(config.splitlines())


def test_a_group_inheriting_the_global_export_gets_it_restated_after_rtbh_and_loses_it_again(ctx_with):
    """A group's export replaces BGP's global one: the upstream group without its own keeps the
    global chain after ENFORCER-RTBH, and unblock leaves it inheriting again."""
    config = OCCUPIED.replace(f"{UPSTREAM} STATIC-TO-BGP\n{UPSTREAM} REJECT-ALL\n", "").replace(
        "set protocols bgp group UPSTREAM type external\n",
        "set protocols bgp export STATIC-TO-BGP\nset protocols bgp export REJECT-ALL\n"
        "set protocols bgp group UPSTREAM type external\n")
    blocked, unblocked = round_trip(ctx_with, config, [rtbh(301, "203.0.113.9")])
    assert lines_of(blocked, UPSTREAM) == [f"{UPSTREAM} ENFORCER-RTBH", f"{UPSTREAM} STATIC-TO-BGP",
                                           f"{UPSTREAM} REJECT-ALL"]
    assert lines_of(blocked, CUSTOMERS) == [f"{CUSTOMERS} ENFORCER-RTBH-GUARD", f"{CUSTOMERS} STATIC-TO-BGP",
                                            f"{CUSTOMERS} REJECT-ALL"]
    assert sorted(unblocked.splitlines()) == sorted(config.splitlines())


def test_rtbh_without_the_upstream_group_or_with_a_customer_in_it_fails_closed(ctx_with):
    p = plan(ctx_with, OCCUPIED, [rtbh(301, "203.0.113.9")], "  optional_args: {enforcer_upstream_group: TRANSIT}\n")
    assert p.error.startswith("group TRANSIT export chain (RTBH): refused: the upstream group TRANSIT is not "
                              "configured on junos-edge1")
    mixed = OCCUPIED.replace("group CUSTOMERS neighbor 192.0.2.105", "group UPSTREAM neighbor 192.0.2.105")
    p = plan(ctx_with, mixed, [rtbh(301, "203.0.113.9")])
    assert "a customer session is in the upstream group UPSTREAM" in p.error and p.candidate == ""



def test_enforcer_plan_shows_the_composed_slot_as_a_change_to_an_operator_object(cli, tmp_path):
    """What the NOC sees: `enforcer plan` notes the operator's filter list changing, and
    `--json` carries each slot's mode and the operator's object."""
    import json
    import shutil

    from .conftest import EXAMPLE_INVENTORY

    inv = tmp_path / "inv"
    shutil.copytree(EXAMPLE_INVENTORY, inv)
    (inv / "snapshots" / "junos-edge1.cfg").write_text(OCCUPIED)
    (inv / "hosts.yaml").write_text((inv / "hosts.yaml").read_text().replace(
        "junos-edge1:\n", "junos-edge1:\n  snapshot: snapshots/junos-edge1.cfg\n", 1))
    code, _, err = cli("--inventory", str(inv), "block", "198.51.100.66", "--violation", "spam")
    assert code == 0, err
    code, out, _ = cli("--inventory", str(inv), "plan", "--device", "junos-edge1", "--json")
    [plan] = json.loads(out)
    slot = next(s for s in plan["slots"] if s["slot"] == "interface ge-0/0/1.0 inbound filter (IPv4)")
    assert (slot["mode"], slot["operator_object"]) == ("composed", "CUST-ACME-IN")
    assert "delete interfaces ge-0/0/1 unit 0 family inet filter input" in plan["candidate"].splitlines()
    code, out, _ = cli("--inventory", str(inv), "plan", "--device", "junos-edge1")
    assert "composed with operator's CUST-ACME-IN (operator object changed)" in " ".join(out.split())


def test_a_filter_set_again_prints_after_newer_ones_and_the_plan_still_converges(ctx_with):
    """Junos prints statements in creation order: after a change ENFORCER-ACL-V4 (deleted and set
    again) comes after ENFORCER-ACCEPT-V4. That order means nothing; a filter list's does."""
    from .test_running_fixtures import enforced_set

    enforced = (RUNNING / "junos" / "enforced.txt").read_text()
    accept = "set firewall family inet filter ENFORCER-ACCEPT-V4 term ENFORCER-ACCEPT then accept\n"
    first_term = "set firewall family inet filter ENFORCER-ACL-V4 term ENFORCER-101 from source-address"
    moved = enforced.replace(accept, "").replace(first_term, accept + first_term)
    assert moved != enforced
    assert not plan(ctx_with, moved, enforced_set("acme")).has_changes
    acl, acc = (f"{GE1} inet filter input-list ENFORCER-ACL-V4\n", f"{GE1} inet filter input-list ENFORCER-ACCEPT-V4\n")
    swapped = moved.replace(acl + acc, acc + acl)
    assert swapped != moved
    assert plan(ctx_with, swapped, enforced_set("acme")).has_changes, "a list's order is kept"
