"""Anti-spoof that keeps the customer up (issue 9 point 3): the interconnect subnet, the BGP
neighbour, link-local and ND are always permitted; uRPF (strict / loose) as the method where the
platform has it, chosen per device, composed with the port's live uRPF statement.

The live configurations are the shared vendor-format captures-by-hand of
``tests/fixtures/running`` (see its README for the sources), with the uRPF lines written the way
the vendors' configuration guides show them under the interface.
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from ipaddress import ip_network

import pytest

from enforcer import service
from enforcer.inventory import InventoryError, load_inventory
from enforcer.model import ActionKind, Enforcement
from enforcer.render import build_section, render_section

from .conftest import EXAMPLE_INVENTORY
from .test_compose import (
    RUNNING,
    T0,
    ctx_with,  # noqa: F401  (a fixture: the tests take it as a parameter)
    plan_and_candidate,
)


def spoofing(eid: int, customer: str = "acme") -> Enforcement:
    prefix = {"acme": "198.51.100.0/25", "globex": "203.0.113.0/24"}[customer]
    return Enforcement(id=eid, decision_id=eid, action=ActionKind.ANTI_SPOOF, target=ip_network(prefix),
                       violation="spoofing", customer=customer, created_at=T0, expires_at=T0 + timedelta(days=1))


def inventory_with(tmp_path, customers: str = "", hosts: dict[str, str] | None = None):
    inv = tmp_path / "inv"
    shutil.copytree(EXAMPLE_INVENTORY, inv)
    if customers:
        (inv / "customers.yaml").write_text(customers)
    for device, extra in (hosts or {}).items():
        text = (inv / "hosts.yaml").read_text()
        (inv / "hosts.yaml").write_text(text.replace(f"{device}:\n", f"{device}:\n{extra}", 1))
    return load_inventory(inv)


ONE_CUSTOMER = """acme:
  asn: 64500
  prefixes: [198.51.100.0/25, 2001:db8:100::/48]
  attachments:
    - {{device: {device}, interface: {iface}, neighbor: {neighbor}, interconnect: {interconnect}}}
"""


# -- the interconnect subnet in the inventory

@pytest.mark.parametrize(("interconnect", "said"), [
    ("[192.0.2.200/30]", "interconnect: 192.0.2.200/30 does not contain the neighbor 192.0.2.101"),
    ("[192.0.2.100/30, 192.0.2.96/30]", "192.0.2.100/30, 192.0.2.96/30: at most one IPv4 interconnect"),
    ("[192.0.2.101/30]", "192.0.2.101/30"),
], ids=["outside", "two-v4", "host-bits"])
def test_an_interconnect_that_does_not_hold_the_neighbour_is_one_line_naming_the_field(tmp_path, interconnect, said):
    text = ONE_CUSTOMER.format(device="ios-edge1", iface="GigabitEthernet0/0/1", neighbor="192.0.2.101",
                               interconnect=interconnect)
    with pytest.raises(InventoryError) as exc:
        inventory_with(tmp_path, text)
    (line,) = [ln for ln in str(exc.value).splitlines() if "acme" in ln]
    assert "customers.yaml" in line and "attachments" in line and said in line


def test_an_ipv6_interconnect_beside_an_ipv4_neighbour_is_not_checked_against_it(tmp_path):
    text = ONE_CUSTOMER.format(device="ios-edge1", iface="GigabitEthernet0/0/1", neighbor="192.0.2.101",
                               interconnect="[192.0.2.100/30, 2001:db8:ffff:1::/126]")
    att = inventory_with(tmp_path, text).attachment("acme", "ios-edge1")
    assert [str(p) for p in att.interconnect] == ["192.0.2.100/30", "2001:db8:ffff:1::/126"]


#: What each platform prints for the interconnect, link-local and ND permits, IPv4 then IPv6,
#: written from the vendors' ACL guides (tests/fixtures/running/README.md, Sources).
PERMITS = {
    "ios-edge1": (["permit ip 192.0.2.100 0.0.0.3 any"],
                  ["permit ipv6 2001:DB8:FFFF:1::/126 any", "permit ipv6 FE80::/10 any",
                   "permit icmp any any nd-ns", "permit icmp any any nd-na"]),
    "eos-edge1": (["permit ip 192.0.2.112/30 any"],
                  ["permit ipv6 2001:db8:ffff:3::/126 any", "permit ipv6 fe80::/10 any",
                   "permit icmpv6 any any neighbor-solicitation", "permit icmpv6 any any neighbor-advertisement"]),
    "nxos-edge1": (["permit ip 192.0.2.120/30 any"],
                   ["permit ipv6 2001:db8:ffff:4::/126 any", "permit ipv6 fe80::/10 any",
                    "permit icmp any any nd-ns", "permit icmp any any nd-na"]),
    "iosxr-edge1": (["permit ipv4 192.0.2.116 0.0.0.3 any"],
                    ["permit ipv6 2001:db8:ffff:5::/126 any", "permit ipv6 fe80::/10 any",
                     "permit icmpv6 any any nd-ns", "permit icmpv6 any any nd-na"]),
    # Junos: a discard term whose `except`s are the permits; ND is sourced from link-local, the
    # unspecified address (DAD) or the interconnect, all excepted
    "junos-edge1": (["from source-address 192.0.2.104/30 except"],
                    ["from source-address 2001:db8:ffff:2::/126 except", "from source-address fe80::/10 except",
                     "from source-address ::/128 except"]),
}
SUBNETS = {"ios-edge1": ("GigabitEthernet0/0/1", "192.0.2.101", "[192.0.2.100/30, 2001:db8:ffff:1::/126]"),
           "junos-edge1": ("ge-0/0/1.0", "192.0.2.105", "[192.0.2.104/30, 2001:db8:ffff:2::/126]"),
           "eos-edge1": ("Ethernet1", "192.0.2.113", "[192.0.2.112/30, 2001:db8:ffff:3::/126]"),
           "nxos-edge1": ("Ethernet1/1", "192.0.2.121", "[192.0.2.120/30, 2001:db8:ffff:4::/126]"),
           "iosxr-edge1": ("GigabitEthernet0/0/0/1", "192.0.2.117", "[192.0.2.116/30, 2001:db8:ffff:5::/126]")}


@pytest.mark.parametrize("device", sorted(PERMITS))
def test_anti_spoof_permits_the_interconnect_link_local_and_nd_on_every_acl_platform(tmp_path, device):
    """The customer's router sources its BGP session, ND and ICMP errors from the interconnect,
    outside its own prefixes: dropped, the customer is cut off by its own anti-spoof block."""
    iface, neighbor, interconnect = SUBNETS[device]
    inv = inventory_with(tmp_path, ONE_CUSTOMER.format(device=device, iface=iface, neighbor=neighbor,
                                                       interconnect=interconnect))
    dev = inv.device(device)
    text = render_section(build_section(dev, [spoofing(701)], inv, at=T0))
    v4, v6 = PERMITS[device]
    for want in v4 + v6:
        assert sum(ln.endswith(" " + want) for ln in text.splitlines()) == 1, want
    # the neighbour is inside the interconnect: no separate host entry for it
    assert neighbor not in text


# -- uRPF as the method

URPF_LINES = {
    # (device, port, strict lines, loose lines) as each vendor's uRPF guide shows them under the interface
    "ios-edge1": ("GigabitEthernet0/0/1", [" ip verify unicast source reachable-via rx",
                                           " ipv6 verify unicast source reachable-via rx"]),
    "eos-edge1": ("Ethernet1", ["   ip verify unicast source reachable-via rx",
                                "   ipv6 verify unicast source reachable-via rx"]),
    "nxos-edge1": ("Ethernet1/1", ["  ip verify unicast source reachable-via rx",
                                   "  ipv6 verify unicast source reachable-via rx"]),
    "iosxr-edge1": ("GigabitEthernet0/0/0/1", [" ipv4 verify unicast source reachable-via rx",
                                               " ipv6 verify unicast source reachable-via rx"]),
}
CUSTOMER = {"ios-edge1": "acme", "eos-edge1": "acme", "nxos-edge1": "globex", "iosxr-edge1": "globex"}


@pytest.mark.parametrize("mode", ["strict", "loose"])
@pytest.mark.parametrize("device", sorted(URPF_LINES))
def test_urpf_on_a_free_port_sets_the_reverse_path_check_and_binds_no_acl(ctx_with, device, mode):  # noqa: F811
    """The operator's BCP 38 ACL stays bound on the port (the ACL slot is not used at all)."""
    iface, lines = URPF_LINES[device]
    keyword = "rx" if mode == "strict" else "any"
    platform = device.split("-")[0]
    config = (RUNNING / platform / "occupied.txt").read_text()
    ctx = ctx_with(device, config, f"  anti_spoof: urpf-{mode}\n")
    plan, candidate = plan_and_candidate(ctx, device, [spoofing(701, CUSTOMER[device])])
    assert plan.error is None, plan.error
    assert [(s.slot, s.mode.value) for s in plan.slots] == [(f"interface {iface} uRPF (IPv4)", "free"),
                                                            (f"interface {iface} uRPF (IPv6)", "free")]
    body = [ln for ln in candidate.splitlines() if ln not in ("root",)]
    assert body == [f"interface {iface}", *(ln.replace(" rx", f" {keyword}") for ln in lines)]
    assert "ENFORCER-AS" not in candidate and "access-group" not in candidate


@pytest.mark.parametrize("device", sorted(URPF_LINES))
def test_urpf_already_set_by_enforcer_reads_back_and_unblock_removes_it_alone(ctx_with, device):  # noqa: F811
    iface, lines = URPF_LINES[device]
    platform = device.split("-")[0]
    config = (RUNNING / platform / "occupied.txt").read_text()
    head = next(ln for ln in config.splitlines() if ln == f"interface {iface}")
    live = config.replace(head + "\n", head + "\n" + "\n".join(lines) + "\n", 1)
    ctx = ctx_with(device, live, "  anti_spoof: urpf-strict\n")
    still, _ = plan_and_candidate(ctx, device, [spoofing(701, CUSTOMER[device])])
    assert still.error is None and not still.has_changes
    plan, candidate = plan_and_candidate(ctx, device, [])
    body = [ln for ln in candidate.splitlines() if ln != "root"]
    negated = [ln[: len(ln) - len(ln.lstrip())] + "no " + ln.strip() for ln in lines]
    assert body == [f"interface {iface}", *negated]


@pytest.mark.parametrize(("family", "line"), [(4, " ip verify unicast source reachable-via any allow-default"),
                                              (6, " ipv6 verify unicast source reachable-via any")],
                         ids=["ipv4", "ipv6"])
def test_urpf_where_the_operator_has_another_urpf_line_fails_closed(ctx_with, family, line):  # noqa: F811
    config = (RUNNING / "ios" / "occupied.txt").read_text().replace(
        "interface GigabitEthernet0/0/1\n", f"interface GigabitEthernet0/0/1\n{line}\n", 1)
    ctx = ctx_with("ios-edge1", config, "  anti_spoof: urpf-strict\n")
    plan, candidate = plan_and_candidate(ctx, "ios-edge1", [spoofing(701)])
    assert candidate is None and not plan.has_changes
    assert (f"interface GigabitEthernet0/0/1 uRPF (IPv{family}): refused ({line.strip()}): the operator's "
            f"`{line.strip()}` is on GigabitEthernet0/0/1") in plan.error
    # the operator's line is never read as enforcer's: with no anti-spoof, nothing to remove
    plan, candidate = plan_and_candidate(ctx, "ios-edge1", [])
    assert plan.error is None and not plan.has_changes


def test_urpf_on_a_port_outside_attach_interfaces_fails_closed(ctx_with):  # noqa: F811
    config = (RUNNING / "ios" / "occupied.txt").read_text()
    ctx = ctx_with("ios-edge1", config, "  anti_spoof: urpf-loose\n")
    hosts = ctx.settings.inventory / "hosts.yaml"
    hosts.write_text(hosts.read_text().replace("attach_interfaces: [GigabitEthernet0/0/1, GigabitEthernet0/0/2]",
                                               "attach_interfaces: [GigabitEthernet0/0/2]"))
    ctx = service.Context.open(ctx.settings)
    plan, candidate = plan_and_candidate(ctx, "ios-edge1", [spoofing(701)])
    assert candidate is None
    assert ("interface GigabitEthernet0/0/1 uRPF (IPv4): refused (GigabitEthernet0/0/1): GigabitEthernet0/0/1 is "
            "not in attach_interfaces of ios-edge1") in plan.error


def test_urpf_on_junos_is_rpf_check_in_group_enforcer(tmp_path):
    inv = inventory_with(tmp_path, hosts={"junos-edge1": "  anti_spoof: urpf-loose\n"})
    text = render_section(build_section(inv.device("junos-edge1"), [spoofing(701)], inv, at=T0))
    assert text.splitlines() == [
        "set groups ENFORCER interfaces ge-0/0/1 unit 0 family inet rpf-check mode loose",
        "set groups ENFORCER interfaces ge-0/0/1 unit 0 family inet6 rpf-check mode loose",
        "set apply-groups ENFORCER",
    ]


@pytest.mark.parametrize(("device", "said"), [
    ("frr-edge1", "frr-edge1.anti_spoof: urpf-strict: frr has no uRPF (offers: none): FRR has no data plane; "
                  "set anti_spoof on the nftables device"),
    ("of-edge1", "of-edge1.anti_spoof: urpf-strict: openflow has no uRPF (offers: none)"),
])
def test_urpf_on_a_platform_without_it_is_one_line_at_load(tmp_path, device, said):
    with pytest.raises(InventoryError) as exc:
        inventory_with(tmp_path, hosts={device: "  anti_spoof: urpf-strict\n"})
    assert said in str(exc.value) and len(str(exc.value).splitlines()) == 1


def test_an_unknown_anti_spoof_method_names_the_field(tmp_path):
    with pytest.raises(InventoryError) as exc:
        inventory_with(tmp_path, hosts={"ios-edge1": "  anti_spoof: urpf\n"})
    assert "ios-edge1.anti_spoof" in str(exc.value) and "urpf-strict" in str(exc.value)


def test_junos_urpf_is_set_deleted_and_read_back_per_unit_never_the_whole_group(ctx_with):  # noqa: F811
    """The rpf-check lines live in group ENFORCER beside enforcer's static routes: a change
    deletes that unit's and family's rpf-check alone, never `groups ENFORCER` (the routes too)."""
    config = (RUNNING / "junos" / "occupied.txt").read_text()
    ctx = ctx_with("junos-edge1", config, "  anti_spoof: urpf-strict\n")
    plan, candidate = plan_and_candidate(ctx, "junos-edge1", [spoofing(701)])
    assert plan.error is None, plan.error
    lines = candidate.splitlines()
    assert "set groups ENFORCER interfaces ge-0/0/1 unit 0 family inet rpf-check" in lines
    assert "set groups ENFORCER interfaces ge-0/0/1 unit 0 family inet6 rpf-check" in lines
    assert "set apply-groups ENFORCER" in lines
    loose = ctx_with("junos-edge1", config + "".join(ln + "\n" for ln in lines if ln.startswith("set ")),
                     "  anti_spoof: urpf-loose\n")
    plan, candidate = plan_and_candidate(loose, "junos-edge1", [spoofing(701)])
    assert plan.error is None, plan.error
    lines = candidate.splitlines()
    assert "delete groups ENFORCER interfaces ge-0/0/1 unit 0 family inet rpf-check" in lines
    assert "set groups ENFORCER interfaces ge-0/0/1 unit 0 family inet rpf-check mode loose" in lines
    assert not any(ln in ("delete groups ENFORCER", "delete apply-groups ENFORCER") for ln in lines)
