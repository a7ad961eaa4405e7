"""No input wedges a device: what the device would refuse is withheld alone, the rest is rendered.

nft refuses a comment over 128 characters and an interface name over 15 (``templates/nftables/
platform.yaml`` ``limits:``); one such line used to make every later push to the box fail.
"""

from __future__ import annotations

from datetime import timedelta
from ipaddress import ip_network

import pytest

from enforcer.inventory import Attachment, Customer, Device, Inventory, Platform
from enforcer.limits import over_limits
from enforcer.model import ActionKind, ActionParams, Enforcement, Protocol, Violation, now
from enforcer.render import RenderError, platform_info
from enforcer.withhold import render_for

AT = now()
FW = Device(name="fw", platform=Platform.NFTABLES, role="edge", attach_interfaces=("eth1",))
INVENTORY = Inventory(
    devices={"fw": FW},
    customers={
        "cust1": Customer(
            id="cust1", prefixes=(ip_network("198.51.100.0/24"),),
            attachments=(Attachment(device="fw", interface="eth2"),),
        ),
        "cust2": Customer(
            id="cust2", prefixes=(ip_network("192.0.2.0/25"),),
            attachments=(Attachment(device="fw", interface="customer-port-16"),),  # 16 characters
        ),
    },
)  # fmt: skip


def _enf(id: int, action: ActionKind, target: str, customer: str | None = None, **params) -> Enforcement:
    return Enforcement(
        id=id, decision_id=id, action=action, target=target, violation=Violation.SPOOFING, customer=customer,
        params=ActionParams(**params), created_at=AT, expires_at=AT + timedelta(hours=1),
    )  # fmt: skip


SPOOFING = [_enf(1000 + i, ActionKind.ANTI_SPOOF, f"198.51.100.{i}/32", "cust1") for i in range(25)]
ACL = _enf(3000, ActionKind.ACL, "203.0.113.5/32", protocol=Protocol.TCP, ports=(25,))


def test_25_spoofing_decisions_for_one_customer_withhold_only_what_overflows_the_comment():
    rendered = render_for(FW, [*SPOOFING, ACL], INVENTORY, AT)
    assert not over_limits(rendered.desired, platform_info(Platform.NFTABLES).limits)
    withheld = dict(rendered.withheld)
    assert withheld and set(withheld) < {e.id for e in SPOOFING}, "the newest spoofing ids only"
    assert min(withheld) > max(set(e.id for e in SPOOFING) - set(withheld)), "older ones stay enforced"
    assert all("comment of" in why and "limit of 128" in why for why in withheld.values())
    assert 'iifname "eth2" ip saddr != 198.51.100.0/24 counter drop' in rendered.desired
    assert "203.0.113.5" in rendered.desired


def test_an_interface_name_over_15_characters_withholds_that_customers_anti_spoof_alone():
    theirs = _enf(2000, ActionKind.ANTI_SPOOF, "192.0.2.1/32", "cust2")
    rendered = render_for(FW, [theirs, SPOOFING[0], ACL], INVENTORY, AT)
    assert [i for i, _ in rendered.withheld] == [2000]
    assert "interface name of 16 characters" in rendered.withheld[0][1]
    assert "customer-port-16" not in rendered.desired
    assert 'iifname "eth2"' in rendered.desired and "203.0.113.5" in rendered.desired


def test_a_line_that_collides_with_an_operator_object_withholds_its_enforcement():
    null = _enf(4000, ActionKind.NULL_ROUTE, "203.0.113.9/32")

    def conflicts(text: str) -> list[tuple[str, str]]:
        return [(ln, "collides with the operator's 'ip daddr 203.0.113.9 accept'") for ln in text.splitlines()
                if "203.0.113.9" in ln]  # fmt: skip

    rendered = render_for(FW, [null, ACL], INVENTORY, AT, conflicts=conflicts)
    assert [i for i, _ in rendered.withheld] == [4000]
    assert "collides with the operator's" in rendered.withheld[0][1]
    assert "203.0.113.9" not in rendered.desired and "203.0.113.5" in rendered.desired


def test_a_problem_no_enforcement_can_be_blamed_for_is_an_error_for_the_device():
    with pytest.raises(RenderError, match="fw: collides"):
        render_for(FW, [ACL], INVENTORY, AT, conflicts=lambda text: [("table inet enforcer {", "collides")])


@pytest.mark.parametrize(
    "platform", [p for p in Platform if ActionKind.ACL in platform_info(p).actions and platform_info(p).limits]
)
def test_one_decision_with_the_longest_comment_and_id_fits_every_platform_limit(platform: Platform):
    # Intake cuts free text to 48 characters: a single decision can never be what overflows.
    dev = Device(name="d", platform=platform, role="edge", bgp_asn=65000, attach_interfaces=("eth1",))
    longest = max(Violation, key=lambda v: len(v.value))
    enf = Enforcement(
        id=2**63 - 1, decision_id=1, action=ActionKind.ACL, target="203.0.113.5/32", violation=longest,
        params=ActionParams(protocol=Protocol.TCP, ports=(25,)), comment="x" * 200, created_at=AT,
    )  # fmt: skip
    rendered = render_for(dev, [enf], Inventory(devices={"d": dev}), AT)
    assert rendered.withheld == [] and "x" * 40 in rendered.desired
