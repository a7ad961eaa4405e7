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
from .limits import interface_names_over_limit
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


def validate_limits(inventory: Inventory) -> list[str]:
    """Interface names each device's platform would refuse (nft and Linux: 15 characters). The
    inventory loader refuses them already; this names them for an inventory built in code."""
    sections = {"hosts.yaml": "devices", "customers.yaml": "customers"}
    return [f"inventory: {sections[file]}.{where}: {reason}"
            for file, where, reason in interface_names_over_limit(inventory.devices.values(),
                                                                  inventory.customers.values())]


def validate_live(inventory: Inventory, driver_for=None) -> tuple[list[str], list[str]]:
    """Attachments checked against what each device really has: a BGP neighbour that is not a peer,
    an interface that does not exist. ``(problems, notes)``; a device that cannot be read is a note."""
    from .drivers import get_driver

    problems: list[str] = []
    notes: list[str] = []
    for dev in inventory.devices.values():
        attached = [(c.id, i, a) for c in inventory.customers.values() for i, a in enumerate(c.attachments)
                    if a.device == dev.name]  # fmt: skip
        if not attached:
            continue
        try:
            with (driver_for or get_driver)(dev) as drv:
                peers, interfaces = drv.bgp_peers(), drv.interfaces()
        except EnforcerError as exc:
            notes.append(f"{dev.name}: not checked live ({exc})")
            continue
        for cid, i, a in attached:
            where = f"inventory: customers.{cid}.attachments.{i}"
            if a.neighbor is not None and peers is not None and str(a.neighbor) not in peers:
                problems.append(f"{where}.neighbor: {a.neighbor} is not a BGP peer of {dev.name} "
                                f"(peers: {', '.join(sorted(peers)) or 'none'})")  # fmt: skip
            if a.interface and interfaces is not None and a.interface not in interfaces:
                problems.append(f"{where}.interface: {a.interface} does not exist on {dev.name}")
    return problems, notes


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
    if inventory is not None:
        problems.extend(validate_limits(inventory))
    problems.extend(validate_templates(set(Platform)))
    return problems
