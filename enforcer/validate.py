"""``enforcer validate``: inventory, playbooks and templates checked together, every problem listed.

Templates are checked by rendering a sample of every supported action in both address families
for every platform the inventory uses, so a typo in a rarely used template fails here, not at
3 a.m. during an attack.
"""

from __future__ import annotations

from datetime import timedelta
from ipaddress import ip_address, ip_network
from pathlib import Path

from .inventory import Attachment, Customer, Device, Inventory, InventoryError, Platform, load_inventory
from .model import ActionKind, ActionParams, Enforcement, EnforcerError, Protocol, Violation, now
from .policy import PlaybookError, load_playbooks
from .render import TEMPLATES_DIR, RenderError, build_section, platform_info, render_push, render_section
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


def validate_templates(platforms: set[Platform], templates_dir: Path = TEMPLATES_DIR) -> list[str]:
    """Render every supported action alone (so each broken template is named), then all of them
    together, then the push candidate both ways: empty → full, and full → empty (the negations)."""
    problems = []
    for platform in sorted(platforms):
        try:
            info = platform_info(platform, templates_dir)
        except (RenderError, EnforcerError, OSError) as exc:
            problems.append(f"templates/{platform.value}: {exc}")
            continue
        inv, dev, enfs = _sample(platform)
        for action in info.actions:
            chosen = [e for e in enfs if e.action is action]
            try:
                render_section(build_section(dev, chosen, inv, templates_dir=templates_dir), templates_dir)
            except (RenderError, EnforcerError) as exc:
                problems.append(f"templates/{platform.value}/{action.value}: {exc}")
        try:
            full = render_section(build_section(dev, enfs, inv, templates_dir=templates_dir), templates_dir)
            empty = render_section(build_section(dev, [], inv, templates_dir=templates_dir), templates_dir)
            render_push(dev, full, empty, [], templates_dir)
            render_push(dev, empty, full, full.splitlines(), templates_dir)
        except (RenderError, EnforcerError) as exc:
            problems.append(f"templates/{platform.value}/push.j2: {exc}")
    return problems


def validate_roles(inventory: Inventory, books: dict) -> list[str]:
    """A playbook whose roles no device has would store decisions that enforce nothing."""
    roles = {d.role for d in inventory.devices.values()}
    problems = []
    for book in books.values():
        for i, step in enumerate(book.ladder):
            wanted = set(step.roles if step.roles is not None else book.roles)
            if wanted and not wanted & roles:
                problems.append(
                    f"playbooks/{book.violation.value}.yaml: ladder.{i}.roles: no device in the inventory has role "
                    f"{' or '.join(sorted(wanted))} (roles present: {', '.join(sorted(roles))})"
                )
    return problems


def validate_all(settings: Settings) -> list[str]:
    problems: list[str] = []
    inventory = books = None
    try:
        inventory = load_inventory(settings.inventory)
    except InventoryError as exc:
        problems.extend(exc.problems)
    try:
        books = load_playbooks(settings.playbooks)
    except PlaybookError as exc:
        problems.extend(exc.problems)
    if inventory is not None and books is not None:
        problems.extend(validate_roles(inventory, books))
    problems.extend(validate_templates(set(Platform)))
    return problems
