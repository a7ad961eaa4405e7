"""Claims of the README that no other test states whole: the bogon list and what stays allowed."""

from __future__ import annotations

import pytest

from enforcer.model import Refused
from enforcer.policy import check_decision

from .test_policy import BOOKS, decide, inventory

#: README, Guardrails: "bogons that can never be a legitimate traffic target", one address in each.
README_BOGONS = ["0.1.2.3", "127.0.0.1", "169.254.1.1", "224.0.0.5", "239.1.2.3", "240.0.0.1",
                 "::2", "fe80::1", "ff02::1", "::ffff:203.0.113.7"]

#: README, Guardrails: "Documentation ranges and RFC 1918 space are allowed".
README_ALLOWED = ["192.0.2.77", "198.51.100.7", "203.0.113.7", "2001:db8::7",
                  "10.1.2.3", "172.16.5.4", "192.168.1.1"]


@pytest.mark.parametrize("target", README_BOGONS)
def test_every_bogon_the_readme_lists_is_refused_even_forced(target):
    d = decide(target, "malware-hosting", force=True)
    with pytest.raises(Refused, match="bogon"):
        check_decision(d, inventory(), BOOKS[d.violation])


@pytest.mark.parametrize("target", README_ALLOWED)
def test_documentation_ranges_and_rfc1918_space_may_be_blocked(target):
    d = decide(target, "malware-hosting")
    check_decision(d, inventory(), BOOKS[d.violation])


def test_the_readmes_bogon_list_and_the_guardrails_own_list_are_the_same_ranges():
    """Both ways: each bogon the code refuses has an address in the README's list, and each README
    address falls in one of the code's bogons (a bogon added to one and not the other fails here)."""
    from ipaddress import ip_address

    from enforcer.policy import BOGONS

    addresses = [ip_address(a) for a in README_BOGONS]
    for bogon in BOGONS:
        assert any(a.version == bogon.version and a in bogon for a in addresses), bogon
    for address in addresses:
        assert any(address.version == b.version and address in b for b in BOGONS), address
