"""The FRR driver's collision check against a running config as FRR 8.4 prints it: an operator's
own static route on an address enforcer blocks is found, and enforcer's own routes (10,000 in a
bulk push) are recognised by their tag without parsing each address."""

from __future__ import annotations

from enforcer.drivers import frr
from enforcer.drivers.frr import FrrDriver
from enforcer.inventory import Device, Platform

OURS = [f"ip route 100.64.{i // 256}.{i % 256}/32 Null0 tag 667" for i in range(10_000)]
RUNNING = (
    "Building configuration...\n\nCurrent configuration:\n!\nfrr version 8.4.4\nfrr defaults traditional\n"
    "hostname edge\nservice integrated-vtysh-config\n!\nip route 192.0.2.192/27 Null0 tag 100\n"
    "ip route 100.64.0.7/32 Null0\n" + "".join(r + "\n" for r in OURS) + "!\nrouter bgp 64500\n"
    " neighbor 192.0.2.2 remote-as 64496\n!\nend\n"
)


class Router(FrrDriver):
    """The driver over a router whose running config is ``RUNNING`` (no SSH: get_config answers)."""

    def __init__(self):
        super().__init__(Device(name="edge", platform=Platform.FRR, role="edge", hostname="192.0.2.1"))

    def get_config(self) -> str:
        return RUNNING


def test_the_operators_route_on_a_blocked_address_collides_and_enforcers_own_routes_are_not_parsed(monkeypatch):
    parsed: list[str] = []
    real = frr.ip_network
    monkeypatch.setattr(frr, "ip_network", lambda text, strict=True: parsed.append(text) or real(text, strict))
    section = "".join(r + "\n" for r in [*OURS, "ip route 100.64.200.1/32 Null0 tag 667"])
    found = Router().conflicts(section)
    assert found == [("ip route 100.64.0.7/32 Null0 tag 667",
                      "collides with the operator's 'ip route 100.64.0.7/32 Null0'")]  # fmt: skip
    # the section's 10,001 routes and the operator's two; not the router's 10,000 enforcer routes again
    assert len(parsed) <= 10_001 + 2 + 1, len(parsed)
