"""``enforcer validate``: inventory, playbooks and templates checked together, every problem listed.

Templates are checked by rendering a sample of every supported action in both address families
for every platform the inventory uses, so a typo in a rarely used template fails here, not at
3 a.m. during an attack.
"""

from __future__ import annotations

from datetime import timedelta
from ipaddress import ip_address, ip_network

from .inventory import Attachment, Customer, Device, Inventory, InventoryError, Platform, load_inventory
from .model import ActionKind, ActionParams, Enforcement, EnforcerError, Protocol, Violation, now
from .policy import PlaybookError, load_playbooks
from .render import RenderError, build_section, platform_info, render_push, render_section
from .settings import Settings

_SAMPLE_TARGETS = {4: ip_network("192.0.2.1/32"), 6: ip_network("2001:db8::1/128")}


def _sample(platform: Platform) -> tuple[Inventory, Device, list[Enforcement]]:
    dev = Device(
        name="validate", platform=platform, role="edge", bgp_asn=64500, attach_interfaces=("eth1",), datapath_id=1
    )
    cust = Customer(
        id="sample",
        asn=64501,
        prefixes=(ip_network("198.51.100.0/24"), ip_network("2001:db8:1::/48")),
        attachments=(Attachment(device="validate", interface="eth2", neighbor=ip_address("192.0.2.254")),),
    )
    inv = Inventory(devices={"validate": dev}, customers={"sample": cust})
    at = now()
    enfs = []
    for i, action in enumerate(ActionKind):
        for fam, target in _SAMPLE_TARGETS.items():
            params = ActionParams(protocol=Protocol.TCP, ports=(25,)) if action is ActionKind.ACL else ActionParams()
            if action is ActionKind.RATE_LIMIT:
                params = ActionParams(rate_bps=10_000_000)
            enfs.append(
                Enforcement(
                    id=i * 10 + fam,
                    decision_id=1,
                    action=action,
                    target=target,
                    violation=Violation.SCANNING,
                    params=params,
                    customer="sample",
                    created_at=at,
                    expires_at=at + timedelta(hours=1),
                )
            )
    return inv, dev, enfs


def validate_templates(platforms: set[Platform]) -> list[str]:
    problems = []
    for platform in sorted(platforms):
        try:
            platform_info(platform)
            inv, dev, enfs = _sample(platform)
            text = render_section(build_section(dev, enfs, inv))
            render_push(dev, text, "", [])
            render_section(build_section(dev, [], inv))
        except (RenderError, EnforcerError, OSError) as exc:
            problems.append(f"templates/{platform.value}: {exc}")
    return problems


def validate_all(settings: Settings) -> list[str]:
    problems: list[str] = []
    inventory = None
    try:
        inventory = load_inventory(settings.inventory)
    except InventoryError as exc:
        problems.extend(exc.problems)
    try:
        load_playbooks(settings.playbooks)
    except PlaybookError as exc:
        problems.extend(exc.problems)
    platforms = {d.platform for d in inventory.devices.values()} if inventory else set(Platform)
    problems.extend(validate_templates(platforms))
    return problems
