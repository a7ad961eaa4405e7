"""Desired set → each device's enforcer-managed section, rendered whole from Jinja2 templates.

``build_section`` picks the enforcements a device carries (by role, by the customer's attachment,
by what its platform supports) and turns them into typed entries; ``render_section`` feeds those to
``templates/<platform>/section.j2``. Templates never decide *whether* to block: they only spell
the entries in the platform's syntax. Removal is therefore a re-render without the entry.

Defence in depth against injection: every ``{{ expression }}`` passes through :func:`_finalize`,
which refuses a string holding anything but ``[A-Za-z0-9 ._:/@+=-]``. Typed values (networks,
ints, enums) print as themselves; a newline or ``;`` from anywhere fails the render.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from functools import cache
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_network
from pathlib import Path
from typing import Any

import jinja2
import yaml
from pydantic import BaseModel, ConfigDict

from . import nftables, setconf
from .conftree import Differ, SlotFacts, TreeFacts, canonical
from .inventory import AntiSpoofMethod, Device, Inventory, Platform, PrefixSet
from .limits import Limit
from .model import (
    BLACKHOLE,
    ActionKind,
    Address,
    Community,
    Enforcement,
    EnforcerError,
    Prefix,
    now,
)
from .resources import TEMPLATES
from .section import (
    TRAFFIC_ACTIONS,
    AclRule,
    AntiSpoof,
    ComposedDeny,
    ComposedRtbh,
    InterfaceAcl,
    MeteredRate,
    NullRoute,
    PrefixFilter,
    RateLimit,
    RtbhGuard,
    RtbhRoute,
    Section,
)
from .seqnum import SeqRange, number

#: The section entries are defined in enforcer/section.py; render keeps exporting them (callers
#: import Section and friends from here).
__all__ = [
    "TRAFFIC_ACTIONS", "AclRule", "AntiSpoof", "ComposedDeny", "ComposedRtbh", "InterfaceAcl", "MeteredRate",
    "NullRoute", "PrefixFilter", "RateLimit", "RtbhGuard", "RtbhRoute", "Section", "PlatformInfo", "RenderError",
    "Rendered",
    "allocate_meters", "build_section", "environment", "platform_info", "render_push", "render_section",
    "TEMPLATES_DIR",
]

TEMPLATES_DIR = TEMPLATES
_SAFE_TEXT = re.compile(r"[A-Za-z0-9 ._:/@+=-]*")
#: What a template may print: validated text and typed values. A list or dict (an inventory value of
#: the wrong shape) would print its repr, brackets, quotes and commas included. ``Undefined`` is
#: the empty ``{{ x if c }}`` without an else (StrictUndefined still raises on a missing name).
_PRINTABLE = (str, int, IPv4Network, IPv6Network, IPv4Address, IPv6Address, Community, jinja2.Undefined)
#: Every character ``str.splitlines`` breaks a line on.
_LINE_BREAK = re.compile("[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")


class RenderError(EnforcerError):
    """A template failed, or tried to print a value that is not a validated type."""


class Rendered(str):
    """A line that enforcer's own templates produced (or the device already holds in the managed
    section): ``push.j2`` may print it verbatim, which :func:`_finalize` allows for nothing else."""


# ------------------------------------------------------------------ platform facts


class PlatformInfo(BaseModel):
    """``templates/<platform>/platform.yaml``: what the platform supports and how its config is spelled."""

    model_config = ConfigDict(frozen=True)
    name: str
    actions: tuple[ActionKind, ...]
    comment: str = "!"
    managed: tuple[str, ...] = ()
    description: str = ""
    #: Junos: the per-interface filter also carries the rate-limit terms (so they decide it too)
    acl_carries_rate_limits: bool = False
    #: OpenFlow: rate limits are switch meters, numbered in the device's band (allocate_meters)
    meters: bool = False
    tree: TreeFacts | None = None
    slots: SlotFacts | None = None
    limits: tuple[Limit, ...] = ()  # what the device refuses past a length (enforcer.limits)
    #: how the platform can do anti-spoof (``Device.anti_spoof``); uRPF where the device has it
    anti_spoof_methods: tuple[AntiSpoofMethod, ...] = (AntiSpoofMethod.ACL,)
    #: appended to the refusal of a method the platform lacks (where to do it instead)
    anti_spoof_hint: str = ""


@cache
def platform_info(platform: Platform, templates_dir: Path = TEMPLATES_DIR) -> PlatformInfo:
    path = templates_dir / platform.value / "platform.yaml"
    if not path.exists():
        raise RenderError(f"{path}: missing (every platform folder declares its actions)")
    data = yaml.safe_load(path.read_text()) or {}
    return PlatformInfo.model_validate({"name": platform.value, **data})


@cache
def _differ(platform: Platform, templates_dir: Path = TEMPLATES_DIR) -> Differ:
    info = platform_info(platform, templates_dir)
    assert info.tree is not None
    return Differ(info.tree, info.managed)


# ------------------------------------------------------------------ selection


def _carries(device: Device, enf: Enforcement) -> bool:
    return not enf.roles or device.role in enf.roles


def _key(p: Prefix) -> tuple[int, int, int]:
    return (p.version, int(p.network_address), p.prefixlen)


def _merge_ids(groups: dict[Any, list[Enforcement]]) -> Iterable[tuple[Any, tuple[int, ...], str]]:
    for key, items in groups.items():
        items = sorted(items, key=lambda e: e.id)
        yield key, tuple(e.id for e in items), items[0].comment


def build_section(
    device: Device,
    enforcements: Iterable[Enforcement],
    inventory: Inventory,
    at: datetime | None = None,
    templates_dir: Path = TEMPLATES_DIR,
) -> Section:
    """The typed content of ``device``'s managed section for the enforcements active at ``at``."""
    at = at or now()
    supported = set(platform_info(device.platform, templates_dir).actions)
    acl: dict[tuple, list[Enforcement]] = {}
    nulls: dict[tuple, list[Enforcement]] = {}
    rtbh: dict[tuple, list[Enforcement]] = {}
    rates: dict[tuple, list[Enforcement]] = {}
    hijacks: dict[str, list[Enforcement]] = {}
    spoof: dict[str, list[Enforcement]] = {}
    unsupported: list[tuple[int, ActionKind]] = []
    protected: list[int] = []
    guarded = PrefixSet(inventory.guardrails.protected)

    for e in enforcements:
        if not e.active_at(at) or not _carries(device, e):
            continue
        if e.action in TRAFFIC_ACTIONS and guarded.overlaps(e.target):
            # Last line of defence: intake refuses these, but the protected list may have grown
            # since the decision was stored. Never render a traffic block over infrastructure.
            protected.append(e.id)
            continue
        if e.action in (ActionKind.PREFIX_FILTER, ActionKind.ANTI_SPOOF):
            att = inventory.attachment(e.customer or "", device.name) if e.customer else None
            if att is None:
                continue
            if e.action is ActionKind.PREFIX_FILTER and att.neighbor is None:
                continue
            if e.action is ActionKind.ANTI_SPOOF and att.interface is None:
                continue
        if e.action not in supported:
            unsupported.append((e.id, e.action))
            continue
        p = e.params
        match e.action:
            case ActionKind.ACL:
                acl.setdefault((_key(e.target), e.target, e.violation, p.protocol, p.ports, p.direction), []).append(e)
            case ActionKind.NULL_ROUTE:
                nulls.setdefault((_key(e.target), e.target, e.violation), []).append(e)
            case ActionKind.RTBH:
                rtbh.setdefault((_key(e.target), e.target, p.community or BLACKHOLE), []).append(e)
            case ActionKind.RATE_LIMIT:
                rate = p.rate_bps or 10_000_000
                burst = p.burst_bytes or max(15_000, rate // 8 // 10)
                rates.setdefault((_key(e.target), e.target, rate, burst, p.direction), []).append(e)
            case ActionKind.PREFIX_FILTER:
                hijacks.setdefault(e.customer or "", []).append(e)
            case ActionKind.ANTI_SPOOF:
                spoof.setdefault(e.customer or "", []).append(e)

    def ordered(groups: dict[tuple, list[Enforcement]]) -> dict[tuple, list[Enforcement]]:
        return dict(sorted(groups.items(), key=lambda kv: kv[0][:1] + tuple(str(x) for x in kv[0][2:])))

    section = Section(
        device=device,
        acl=tuple(
            AclRule(ids=ids, comment=c, target=k[1], violation=k[2], protocol=k[3], ports=k[4], direction=k[5])
            for k, ids, c in _merge_ids(ordered(acl))
        ),
        null_routes=tuple(
            NullRoute(ids=ids, comment=c, target=k[1], violation=k[2]) for k, ids, c in _merge_ids(ordered(nulls))
        ),
        rtbh=tuple(
            RtbhRoute(ids=ids, comment=c, target=k[1], community=k[2]) for k, ids, c in _merge_ids(ordered(rtbh))
        ),
        rate_limits=tuple(
            RateLimit(ids=ids, comment=c, target=k[1], rate_bps=k[2], burst_bytes=k[3], direction=k[4])
            for k, ids, c in _merge_ids(ordered(rates))
        ),
        prefix_filters=tuple(_prefix_filter(inventory, device, cid, items) for cid, items in sorted(hijacks.items())),
        anti_spoof=tuple(_anti_spoof(inventory, device, cid, items) for cid, items in sorted(spoof.items())),
        customer_neighbors=_customer_neighbors(inventory, device) if rtbh else (),
        unsupported=tuple(sorted(unsupported)),
        protected=tuple(sorted(protected)),
    )
    info = platform_info(device.platform, templates_dir)
    ifaces, acls = _interface_acls(section, info.acl_carries_rate_limits)
    metered = allocate_meters(section.rate_limits, int(device.optional_args.get("meter_span", 65536))) \
        if info.meters else ()
    return section.model_copy(update={"acl_interfaces": ifaces, "interface_acls": acls, "metered": metered})


def allocate_meters(rates: Iterable[RateLimit], span: int) -> tuple[MeteredRate, ...]:
    """Meter ids for the rate limits that own a flow (the first, by enforcement id, per target and
    side), without collision, stable across renders as far as possible: each gets its preferred id
    (first enforcement id mod ``span``) unless a lower entry prefers it too; those that lost take
    the next free id above it (wrapping). A full band fails the render rather than leaving a
    target unlimited. Returned in enforcement-id order."""
    owners: dict[tuple, RateLimit] = {}
    for r in sorted(rates, key=lambda r: r.ids):
        owners.setdefault((r.target.version, r.direction, r.target), r)
    taken: dict[int, RateLimit] = {}
    ids: dict[tuple[int, ...], int] = {}
    for r in owners.values():
        if r.ids[0] % span not in taken:
            taken[r.ids[0] % span] = r
            ids[r.ids] = r.ids[0] % span
    for r in owners.values():
        if r.ids in ids:
            continue
        pref = r.ids[0] % span
        free = next((m for m in [*range(pref + 1, span), *range(0, pref)] if m not in taken), None)
        if free is None:
            raise RenderError(f"meter band full: no free meter id for enforcement {r.ids[0]} "
                              "(optional_args meter_span)")
        taken[free] = r
        ids[r.ids] = free
    return tuple(MeteredRate(rate=r, meter=ids[r.ids]) for r in owners.values())


def _interface_acls(section: Section, with_rate_limits: bool) -> tuple[tuple[str, ...], tuple[InterfaceAcl, ...]]:
    """Which inbound ACL each interface gets, per family (see :class:`InterfaceAcl`)."""
    device = section.device
    ifaces = tuple(dict.fromkeys([*device.attach_interfaces, *(a.interface for a in section.anti_spoof)]))
    out: list[InterfaceAcl] = []
    for iface in ifaces:
        facing = iface in device.attach_interfaces
        spoofers = [a.customer for a in section.anti_spoof if a.interface == iface and a.method is AntiSpoofMethod.ACL]
        for family in (4, 6):
            entries = [r for r in section.acl if r.target.version == family]
            if with_rate_limits:
                entries += [r for r in section.rate_limits if r.target.version == family]
            if spoofers:
                out.append(InterfaceAcl(interface=iface, family=family, denies=facing,
                                        name=f"ENFORCER-AS-{'-'.join(spoofers)}-V{family}"))
            elif facing and entries:
                out.append(InterfaceAcl(interface=iface, family=family, denies=True, name=f"ENFORCER-ACL-V{family}"))
    return ifaces, tuple(sorted(out, key=lambda a: (a.interface, a.family)))


def _customer_neighbors(inv: Inventory, device: Device) -> tuple[Address, ...]:
    """The customers' BGP sessions on ``device``: where RTBH routes must never be announced."""
    neighbors = {a.neighbor for c in inv.customers.values() for a in c.attachments
                 if a.device == device.name and a.neighbor is not None}
    return tuple(sorted(neighbors, key=_key_addr))


def _key_addr(a: Address) -> tuple[int, int]:
    return (a.version, int(a))


def _prefix_filter(inv: Inventory, device: Device, cid: str, items: list[Enforcement]) -> PrefixFilter:
    att = inv.attachment(cid, device.name)
    assert att is not None and att.neighbor is not None
    denied = sorted({e.target for e in items}, key=_key)
    return PrefixFilter(
        ids=tuple(sorted(e.id for e in items)),
        customer=cid,
        neighbor=att.neighbor,
        asn=inv.customers[cid].asn,
        denied=tuple(denied),
    )


def _anti_spoof(inv: Inventory, device: Device, cid: str, items: list[Enforcement]) -> AntiSpoof:
    att = inv.attachment(cid, device.name)
    assert att is not None and att.interface is not None
    allowed = list(inv.customers[cid].prefixes)
    # The customer's router speaks BGP, ND and ICMP from its interconnect address, which is rarely
    # inside its own prefixes: without these permits anti-spoof drops the customer's own session.
    for extra in [*att.interconnect, *([ip_network(att.neighbor)] if att.neighbor is not None else [])]:
        if not any(extra.version == p.version and extra.subnet_of(p) for p in allowed):  # type: ignore[arg-type]
            allowed.append(extra)
    return AntiSpoof(
        ids=tuple(sorted(e.id for e in items)),
        customer=cid,
        interface=att.interface,
        allowed=tuple(sorted(allowed, key=_key)),
        method=device.anti_spoof,
    )


# ------------------------------------------------------------------ Jinja2


def _finalize(value: Any) -> Any:
    """Every printed expression: typed values pass, strings must be in the safe character set.

    A line break of any kind (``str.splitlines`` splits on ten of them) is refused whatever the
    type, :class:`Rendered` included: one printed value must never become two device lines.
    ``fullmatch`` matters: ``re.match`` with ``$`` accepts a trailing newline, which split a Junos line.
    """
    if value is None:
        raise RenderError("template printed None (a missing value)")
    if not isinstance(value, _PRINTABLE):
        raise RenderError(f"refusing to print a {type(value).__name__} into a device config: {value!s:.40}")
    text = str(value)
    if _LINE_BREAK.search(text):
        raise RenderError(f"refusing to print unsafe text (a line break) into a device config: {text[:40]!r}")
    if isinstance(value, str) and not isinstance(value, Rendered) and not _SAFE_TEXT.fullmatch(value):
        raise RenderError(f"refusing to print unsafe text into a device config: {value[:40]!r}")
    scoped = value.network_address if isinstance(value, IPv6Network) else value
    if isinstance(scoped, IPv6Address) and scoped.scope_id:
        raise RenderError(f"refusing to print an address with a zone id into a device config: {value!s:.40}")
    return value


def _netmask(p: Prefix) -> str:
    return str(p.netmask)


def _wildcard(p: Prefix) -> str:
    return str(p.hostmask)


def _ids(ids: tuple[int, ...]) -> str:
    return "+".join(str(i) for i in ids)


def _kbps(bps: int) -> int:
    return max(1, bps // 1000)


def _v4(items: Iterable[Any]) -> list[Any]:
    return [i for i in items if _family(i) == 4]


def _v6(items: Iterable[Any]) -> list[Any]:
    return [i for i in items if _family(i) == 6]


def _family(item: Any) -> int:
    if isinstance(item, IPv4Network | IPv6Network):
        return item.version
    for attr in ("target", "neighbor"):
        if hasattr(item, attr):
            return getattr(item, attr).version
    raise RenderError(f"no address family for {type(item).__name__}")


@cache
def environment(templates_dir: Path = TEMPLATES_DIR) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir)),
        undefined=jinja2.StrictUndefined,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters.update(netmask=_netmask, wildcard=_wildcard, ids=_ids, kbps=_kbps, v4=_v4, v6=_v6)
    return env


def render_section(
    section: Section, templates_dir: Path = TEMPLATES_DIR, live: str = "", ranges: dict[str, SeqRange] | None = None
) -> str:
    """The device's whole managed section as text, normalised: no trailing spaces, one final newline.

    ``live`` (the device's live section) only decides sequence numbers: an entry the device
    already holds keeps its number, so an update is entry by entry (:mod:`enforcer.seqnum`);
    ``ranges`` confines entries placed in an operator's object to enforcer's reserved range.
    """
    platform = section.device.platform
    slots = platform_info(platform, templates_dir).slots
    if section.set_chains is None and slots is not None and slots.set_chains:
        # Not composed against a live config (goldens, validate, a device never read): every
        # Junos list is free. Imported here: compose_junos builds on the render's types.
        from .compose_junos import compose_junos

        section = compose_junos(section, None, slots)[0]
    try:
        template = environment(templates_dir).get_template(f"{platform.value}/section.j2")
        text = template.render(section=section, device=section.device, ActionKind=ActionKind)
    except RenderError:
        raise
    except jinja2.TemplateError as exc:
        raise RenderError(f"templates/{platform.value}: {exc}") from exc
    lines = [ln.rstrip() for ln in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    if not lines:
        return ""
    text = number("\n".join(lines) + "\n", live, ranges)
    tree = platform_info(platform, templates_dir).tree
    if slots is not None and slots.set_chains:
        return setconf.canonical(text, slots)
    return canonical(text, tree) if tree is not None else text


def render_push(
    device: Device, desired: str, live: str, removed: list[str], templates_dir: Path = TEMPLATES_DIR,
    config: str | None = None,
) -> str:
    """The merge candidate that turns ``live`` into ``desired`` on this platform: the exact text sent.

    Line-oriented platforms (a ``tree`` in platform.yaml) get the ordered, entry-level diff of
    :mod:`enforcer.conftree`; the others print their ``push.j2`` (nftables empties and restates its
    own table in one transaction, :mod:`enforcer.nftables`; Junos deletes and sets changed objects,
    OpenFlow states the whole flow set).
    ``removed`` is kept for those templates; the tree diff finds what left by itself. Junos
    (``slots.set_chains``) gets :func:`enforcer.setconf.candidate`, which reads the operator's
    values of each list it rewrites from the device's full ``config``.
    """
    info = platform_info(device.platform, templates_dir)
    if info.slots is not None and info.slots.set_chains:
        lines = setconf.candidate(live, desired, config or None, info.slots)
        return "\n".join(lines) + "\n" if lines else "\n"
    if info.tree is not None:
        lines = _differ(device.platform, templates_dir).candidate(live, desired)
        return "\n".join(ln.rstrip() for ln in lines) + "\n" if lines else "\n"
    template = environment(templates_dir).get_template(f"{device.platform.value}/push.j2")
    try:
        replace = nftables.transition(live, desired) if device.platform is Platform.NFTABLES else []
        text = template.render(
            device=device,
            desired=[Rendered(x) for x in desired.splitlines()],
            live=[Rendered(x) for x in live.splitlines()],
            removed=[Rendered(x) for x in removed],
            replace=[Rendered(x) for x in replace],
        )
    except (jinja2.TemplateError, nftables.TransitionError) as exc:
        raise RenderError(f"templates/{device.platform.value}/push.j2: {exc}") from exc
    return "\n".join(ln.rstrip() for ln in text.splitlines()).strip("\n") + "\n"
