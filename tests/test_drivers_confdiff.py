"""What a CLI merge candidate would change on a live config, as ``compare_config`` reports it."""

from __future__ import annotations

import pytest

from enforcer.drivers import REGISTRY, driver_class, get_driver
from enforcer.drivers.base import DriverError
from enforcer.drivers.confdiff import merge_diff
from enforcer.inventory import Device, Transport

LIVE = """\
Building configuration...

Current configuration:
!
frr version 8.4.4
frr defaults traditional
hostname edge
ip route 203.0.113.10/32 Null0 tag 667
ip route 192.0.2.200/32 Null0
!
router bgp 64500
 neighbor 192.0.2.6 remote-as 64510
 !
 address-family ipv4 unicast
  network 192.0.2.101/32
 exit-address-family
exit
!
ip prefix-list ENFORCER-HIJACK-cust1-V4 seq 10 deny 198.51.100.128/25 le 32
ip prefix-list ENFORCER-HIJACK-cust1-V4 seq 1000000 permit 0.0.0.0/0 le 32
!
end
"""


def test_a_candidate_the_router_already_holds_changes_nothing():
    candidate = "ip route 203.0.113.10/32 Null0 tag 667\nrouter bgp 64500\n address-family ipv4 unicast\n"
    assert merge_diff(LIVE, candidate) == ""


def test_new_lines_show_with_their_parents_and_removals_only_when_the_router_has_them():
    candidate = """\
no ip route 203.0.113.10/32 Null0 tag 667
no ip route 203.0.113.99/32 Null0 tag 667
ip route 203.0.113.11/32 Null0 tag 667
router bgp 64500
 address-family ipv4 unicast
  neighbor 192.0.2.6 prefix-list ENFORCER-HIJACK-cust1-V4 in
 exit-address-family
exit
"""
    assert merge_diff(LIVE, candidate).splitlines() == [
        "-ip route 203.0.113.10/32 Null0 tag 667",
        " router bgp 64500",
        "  address-family ipv4 unicast",
        "+  neighbor 192.0.2.6 prefix-list ENFORCER-HIJACK-cust1-V4 in",
        "+ip route 203.0.113.11/32 Null0 tag 667",
    ]


def test_negating_a_whole_list_and_restating_it_unchanged_is_no_change():
    candidate = """\
no ip prefix-list ENFORCER-HIJACK-cust1-V4
ip prefix-list ENFORCER-HIJACK-cust1-V4 seq 10 deny 198.51.100.128/25 le 32
ip prefix-list ENFORCER-HIJACK-cust1-V4 seq 1000000 permit 0.0.0.0/0 le 32
"""
    assert merge_diff(LIVE, candidate) == ""


def test_negating_a_block_removes_everything_inside_it():
    diff = merge_diff(LIVE, "no router bgp 64500\n")
    assert diff.splitlines()[0] == "-router bgp 64500"
    assert "-  network 192.0.2.101/32" in diff.splitlines()


def test_every_transport_has_a_driver_and_unknown_modules_fail_with_the_device_name(monkeypatch):
    assert set(REGISTRY) == set(Transport)
    assert driver_class(Transport.FRR).__name__ == "FrrDriver"
    assert driver_class(Transport.LINUX).__name__ == "LinuxDriver"
    monkeypatch.setitem(REGISTRY, Transport.OPENFLOW, "enforcer.drivers.no_such_module:X")
    dev = Device(name="sw1", platform="openflow", role="access", datapath_id=1)
    with pytest.raises(DriverError) as err:
        get_driver(dev)
    assert err.value.device == "sw1"
