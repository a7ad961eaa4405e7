"""Devices, customers and protected prefixes, read from a Nornir SimpleInventory folder.

An inventory folder holds ``hosts.yaml`` (devices), ``groups.yaml`` and ``defaults.yaml`` exactly as
Nornir reads them (resolved in Nornir's order by :mod:`enforcer.inventory_nornir`; enforcer's keys
under ``data:``, or flat at the top as in ``inventory/example``), plus enforcer's ``customers.yaml``
and ``settings.yaml`` (guardrails). Credentials are best named by environment variable
(``username_env``/``password_env``, read at connect time); a Nornir ``username``/``password`` in the
files is honoured when no variable is named, because that is how many Nornir inventories are kept.
"""

from __future__ import annotations

import os
import re
from bisect import bisect_right
from collections.abc import Iterable
from enum import StrEnum
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from .inventory_nornir import ATTRIBUTES, resolve_host
from .limits import interface_names_over_limit
from .model import _NAME, AddressT, Asn, FileProblems, InterfaceName, Name, Prefix, PrefixT, Violation
from .resources import load_yaml


class Platform(StrEnum):
    """One template folder each (``templates/<platform>/``)."""

    IOS = "ios"
    IOSXR = "iosxr"
    JUNOS = "junos"
    EOS = "eos"
    NXOS = "nxos"
    FRR = "frr"
    NFTABLES = "nftables"
    OPENFLOW = "openflow"


class Transport(StrEnum):
    """How a device is reached; ``offline`` renders to files (Aerleon-style) instead of pushing."""

    NAPALM = "napalm"
    FRR = "frr"
    LINUX = "linux"
    OPENFLOW = "openflow"
    OFFLINE = "offline"


DEFAULT_TRANSPORT = {
    Platform.IOS: Transport.NAPALM,
    Platform.IOSXR: Transport.NAPALM,
    Platform.JUNOS: Transport.NAPALM,
    Platform.EOS: Transport.NAPALM,
    Platform.NXOS: Transport.NAPALM,
    Platform.FRR: Transport.FRR,
    Platform.NFTABLES: Transport.LINUX,
    Platform.OPENFLOW: Transport.OPENFLOW,
}


#: Nornir platform names (NAPALM drivers and netmiko device types) → enforcer's template folder.
PLATFORM_ALIASES = {
    "cisco_ios": Platform.IOS,
    "cisco_xe": Platform.IOS,
    "iosxe": Platform.IOS,
    "cisco_xr": Platform.IOSXR,
    "juniper_junos": Platform.JUNOS,
    "juniper": Platform.JUNOS,
    "arista_eos": Platform.EOS,
    "cisco_nxos": Platform.NXOS,
    "nxos_ssh": Platform.NXOS,
    "linux": Platform.NFTABLES,
}
#: Nornir platforms that are also NAPALM driver names, used as ``napalm_driver`` when none is given.
NAPALM_DRIVERS = {"ios", "iosxr", "junos", "eos", "nxos", "nxos_ssh"}


class ConnectionOptions(BaseModel):
    """One Nornir ``connection_options`` entry, resolved (``host.get_connection_parameters(name)``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    hostname: str | None = None
    port: int | None = None
    username: str | None = None
    password: SecretStr | None = None
    platform: str | None = None
    extras: dict[str, Any] = Field(default_factory=dict)


class InventoryError(FileProblems):
    """A problem in the inventory files (or a device or customer the inventory does not have)."""


class AntiSpoofMethod(StrEnum):
    """How a device enforces anti-spoof on a customer port (``anti_spoof:`` per device or group).

    ``acl``: a permit-list of the customer's sources (its prefixes, interconnect subnets, BGP
    neighbour addresses, link-local and ND); ``urpf-strict`` / ``urpf-loose``: the router's own
    unicast reverse-path check (the source must be routed back out of the arrival interface /
    out of any interface), which follows the customer's routes by itself and needs no list."""

    ACL = "acl"
    URPF_STRICT = "urpf-strict"
    URPF_LOOSE = "urpf-loose"


#: ``optional_args`` keys that templates print into a device line (templates/junos): typed as names.
PRINTED_OPTIONAL_ARGS = ("enforcer_customer_group", "enforcer_upstream_group")


class Device(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: Name
    platform: Platform
    role: Name
    hostname: str | None = Field(default=None, pattern=r"^[A-Za-z0-9.:_-]{1,253}$")
    port: int | None = Field(default=None, ge=1, le=65535)
    transport: Transport | None = None
    napalm_driver: Name | None = None
    username_env: Name | None = None
    password_env: Name | None = None
    datapath_id: int | None = Field(default=None, ge=0, le=2**64 - 1)
    bgp_asn: Asn | None = None
    attach_interfaces: tuple[InterfaceName, ...] = ()
    snapshot: Path | None = None
    netns: Name | None = None
    optional_args: dict[str, Any] = Field(default_factory=dict)
    groups: tuple[Name, ...] = ()
    #: the entry numbers enforcer may use inside the operator's own lists (first, last); the
    #: platform's default otherwise (enforcer/compose.py checks it against the live config)
    sequence_range: tuple[int, int] | None = None
    #: the anti-spoof method (checked against the platform's ``anti_spoof_methods`` at load)
    anti_spoof: AntiSpoofMethod = AntiSpoofMethod.ACL

    @field_validator("sequence_range")
    @classmethod
    def _range_order(cls, v: tuple[int, int] | None) -> tuple[int, int] | None:
        if v is not None and not 1 <= v[0] <= v[1] <= 4_294_967_294:
            raise ValueError(f"{v[0]}-{v[1]}: needs 1 <= first <= last <= 4294967294")
        return v
    username: str | None = None
    password: SecretStr | None = None
    connection_options: dict[str, ConnectionOptions] = Field(default_factory=dict)
    #: Other tools' ``data:`` keys, kept as they are (enforcer neither reads nor refuses them).
    data: dict[str, Any] = Field(default_factory=dict)

    @field_validator("optional_args")
    @classmethod
    def _printed_names(cls, v: dict[str, Any]) -> dict[str, Any]:
        """The ``optional_args`` a template prints (a Junos BGP group name) must be one name: a
        space would add a token to the line (``CUSTOMERS import X``), which ``finalize`` allows."""
        for key in PRINTED_OPTIONAL_ARGS:
            if key in v and not (isinstance(v[key], str) and re.fullmatch(_NAME, v[key])):
                raise ValueError(f"{key}: {v[key]!r} is not a name (letters, digits and . _ : @ -)")
        return v

    @field_validator("platform", mode="before")
    @classmethod
    def _nornir_platform(cls, v: object) -> object:
        return PLATFORM_ALIASES.get(v, v) if isinstance(v, str) else v

    @property
    def effective_transport(self) -> Transport:
        return self.transport or DEFAULT_TRANSPORT[self.platform]

    def credentials(self) -> tuple[str | None, str | None]:
        """The named environment variables, read at connect time (a missing one yields None); the
        inventory's own Nornir ``username``/``password`` only where no variable is named."""
        user = os.environ.get(self.username_env) if self.username_env else self.username
        if self.password_env:
            pw = os.environ.get(self.password_env)
        else:
            pw = self.password.get_secret_value() if self.password else None
        return user, pw


class Attachment(BaseModel):
    """Where a customer connects: a device, the interface, the BGP neighbor address if it peers,
    and the interconnect subnet of the link (at most one per family). The customer's router
    sources its BGP session, ND and ICMP errors from the interconnect, which is rarely inside the
    customer's own prefixes: anti-spoof permits it, so blocking spoofing never cuts the customer off."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    device: Name
    interface: InterfaceName | None = None
    neighbor: AddressT | None = None
    interconnect: tuple[PrefixT, ...] = ()

    @field_validator("interconnect")
    @classmethod
    def _one_per_family(cls, v: tuple[Prefix, ...]) -> tuple[Prefix, ...]:
        for family in (4, 6):
            mine = [str(p) for p in v if p.version == family]
            if len(mine) > 1:
                raise ValueError(f"{', '.join(mine)}: at most one IPv{family} interconnect subnet per attachment")
        return v

    @model_validator(mode="after")
    def _neighbor_inside(self) -> Attachment:
        """A neighbour outside its family's interconnect is a typo in one of them: anti-spoof would
        permit the wrong subnet and drop the customer's session."""
        n = self.neighbor
        subnet = next((p for p in self.interconnect if n is not None and p.version == n.version), None)
        if n is not None and subnet is not None and n not in subnet:
            raise ValueError(f"interconnect: {subnet} does not contain the neighbor {n}")
        return self


def _email_address(value: str) -> str:
    """pydantic's ``EmailStr`` check, the same function and the same errors, run only when an inventory
    names an address: ``EmailStr`` imports email-validator (and idna, unicodedata) when the model is
    defined, a tenth of ``enforcer block``'s start-up for an inventory that has none (issue 12.5)."""
    from pydantic.networks import validate_email

    return validate_email(value)[1]


#: An e-mail address, normalised as ``EmailStr`` normalises it (its JSON schema says so too).
EmailAddress = Annotated[str, AfterValidator(_email_address), Field(json_schema_extra={"format": "email"})]


class Customer(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    id: Name
    name: str = Field(default="", max_length=128)
    asn: Asn | None = None
    prefixes: tuple[PrefixT, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    # Customer notices (enforcer.notify): where they go, and the customer's own opt-outs.
    abuse_contact: EmailAddress | None = None
    notices: bool = Field(default=True, description="false: this customer opted out of every notice")
    notices_opt_out: tuple[Violation, ...] = Field(default=(), description="categories this customer is not told of")


class SmtpServer(BaseModel):
    """The mail relay notices go through; the password is named by an environment variable, never stored."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    host: str = Field(default="127.0.0.1", min_length=1, max_length=253)
    port: int = Field(default=25, ge=1, le=65535)
    starttls: bool = False
    username: str | None = None
    password_env: str | None = None
    timeout: float = Field(default=10.0, gt=0, le=120, description="seconds: a dead relay never stalls the worker")


class NoticeSettings(BaseModel):
    """``settings.yaml`` ``notices:``: customer notices when an enforcement starts, escalates or ends."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    enabled: bool = False
    sender: EmailAddress = "abuse@localhost.localdomain"
    reply_to: EmailAddress | None = None
    smtp: SmtpServer = SmtpServer()
    opt_out: tuple[Violation, ...] = Field(default=(), description="categories no customer is told of")
    interval: float = Field(default=10.0, gt=0, le=3600, description="seconds between the serve worker's passes")
    first_retry: float = Field(default=30.0, gt=0, le=3600, description="seconds before the first retry; doubles")


class Guardrails(BaseModel):
    """Limits that protect the network from operator mistakes and detector floods."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    protected: tuple[PrefixT, ...] = ()
    max_prefixlen_v4: int = Field(default=24, ge=0, le=32, description="broader than this needs --force")
    max_prefixlen_v6: int = Field(default=48, ge=0, le=128, description="broader than this needs --force")
    max_new_per_minute: int = Field(default=120, ge=1, description="detector decisions per rolling minute, all "
                                    "detectors (the flood breaker; operators are never stopped by it)")
    max_new_per_minute_per_source: int | None = Field(default=None, ge=1, description="the same, for one detector "
                                                      "(source and token): one flapping detector cannot use it all")
    max_active: int = Field(default=50_000, ge=1, description="active enforcements, all devices")
    own_space: tuple[PrefixT, ...] = Field(default=(), description="the operator's own addresses besides customers' "
                                           "prefixes: where a detector may null-route or RTBH (RFC 7999 3.3)")
    max_detector_hosts_per_customer: int = Field(default=16, ge=1, description="detector blocks in force inside one "
                                                 "customer's space before the next is held for approval")


class Inventory(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    path: Path | None = None
    devices: dict[str, Device]
    customers: dict[str, Customer] = Field(default_factory=dict)
    guardrails: Guardrails = Guardrails()
    notices: NoticeSettings = NoticeSettings()

    @field_validator("devices")
    @classmethod
    def _not_empty(cls, v: dict[str, Device]) -> dict[str, Device]:
        if not v:
            raise ValueError("no devices")
        return v

    def device(self, name: str) -> Device:
        try:
            return self.devices[name]
        except KeyError:
            raise InventoryError([f"device: no device named {name!r} in the inventory"]) from None

    def customer(self, cid: str) -> Customer:
        try:
            return self.customers[cid]
        except KeyError:
            raise InventoryError([f"customer: no customer {cid!r} in the inventory"]) from None

    def customer_by_asn(self, asn: int) -> Customer | None:
        return next((c for c in self.customers.values() if c.asn == asn), None)

    def customer_of(self, customer: str | None, target: IPv4Network | IPv6Network) -> Customer | None:
        """A decision's customer: the one it names, else the one whose address space holds the target."""
        return self.customers.get(customer or "") or self.customer_owning(target)

    def customer_owning(self, target: IPv4Network | IPv6Network) -> Customer | None:
        """The customer whose prefixes hold ``target``: whom a block on one of its hosts concerns."""
        return next(
            (c for c in self.customers.values() if any(p.version == target.version and target.subnet_of(p)
                                                       for p in c.prefixes)),  # type: ignore[arg-type]
            None,
        )

    def attachment(self, customer: str, device: str) -> Attachment | None:
        cust = self.customers.get(customer)
        if cust is None:
            return None
        return next((a for a in cust.attachments if a.device == device), None)


def _read_yaml(path: Path, problems: list[str]) -> Any:
    if not path.exists():
        return None
    try:
        return load_yaml(path.read_text()) or {}
    except yaml.YAMLError as exc:
        problems.append(f"{path}: not valid YAML: {exc}")
        return None


#: Keys of :class:`Device` an inventory may set (``name`` is the host's key, ``groups`` Nornir's).
DEVICE_KEYS = set(Device.model_fields) - {"name", "groups", "data", *ATTRIBUTES, "connection_options"}


def _flat_key_problems(where: Path, elements: dict[str, Any]) -> list[str]:
    """A top-level key that is neither Nornir's nor enforcer's: Nornir would drop it silently, so it
    is most likely a typo (``rol: edge``), and refused here with its file and path."""
    allowed = {*ATTRIBUTES, "groups", "data", "connection_options", *DEVICE_KEYS}
    problems = []
    for name, body in elements.items():
        for key in (body or {}).keys() - allowed:
            path = f"{name}.{key}" if name else key
            problems.append(f"{where}: {path}: not a Nornir attribute or an enforcer key (other keys go under data:)")
    return problems


def _device_fields(name: str, resolved: dict[str, Any]) -> dict[str, Any]:
    """What :class:`Device` validates: Nornir's attributes, overridden by enforcer's keys in data."""
    attrs = {k: v for k, v in resolved["attributes"].items() if v is not None}
    data = resolved["data"]
    fields = {**attrs, **{k: v for k, v in data.items() if k in DEVICE_KEYS}}
    if "napalm_driver" not in fields and attrs.get("platform") in NAPALM_DRIVERS:
        fields["napalm_driver"] = attrs["platform"]
    fields.update(name=name, groups=resolved["groups"], connection_options=resolved["connection_options"],
                  data={k: v for k, v in data.items() if k not in DEVICE_KEYS})  # fmt: skip
    return fields


def _errors(path: Path, prefix: str, exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in (prefix, *err["loc"]) if p != "")
        out.append(f"{path}: {loc}: {err['msg'].removeprefix('Value error, ')}")
    return out


def load_inventory(path: str | os.PathLike[str]) -> Inventory:
    """Read and validate a whole inventory folder; every problem is reported, not just the first."""
    root = Path(path)
    if not root.is_dir():
        raise InventoryError([f"{root}: inventory folder does not exist"])
    problems: list[str] = []
    hosts = _read_yaml(root / "hosts.yaml", problems)
    if hosts is None and not problems:
        problems.append(f"{root / 'hosts.yaml'}: missing")
    groups = _read_yaml(root / "groups.yaml", problems) or {}
    defaults = _read_yaml(root / "defaults.yaml", problems) or {}
    customers_raw = _read_yaml(root / "customers.yaml", problems) or {}
    settings = _read_yaml(root / "settings.yaml", problems) or {}
    if problems:
        raise InventoryError(problems)

    hosts = hosts or {}
    problems += _flat_key_problems(root / "hosts.yaml", hosts)
    problems += _flat_key_problems(root / "groups.yaml", groups)
    problems += _flat_key_problems(root / "defaults.yaml", {"": defaults})
    devices: dict[str, Device] = {}
    for name in hosts:
        files = (root / "hosts.yaml", root / "groups.yaml")
        resolved = resolve_host(name, hosts, groups, defaults, problems, where=files)
        merged = _device_fields(name, resolved)
        if merged.get("snapshot"):
            merged["snapshot"] = (root / merged["snapshot"]).resolve()
        try:
            devices[name] = Device.model_validate(merged)
        except ValidationError as exc:
            problems.extend(_errors(root / "hosts.yaml", str(name), exc))

    problems += _anti_spoof_problems(root / "hosts.yaml", devices)
    customers: dict[str, Customer] = {}
    for cid, body in (customers_raw or {}).items():
        try:
            cust = Customer.model_validate({"id": cid, **(body or {})})
        except ValidationError as exc:
            problems.extend(_errors(root / "customers.yaml", str(cid), exc))
            continue
        for i, att in enumerate(cust.attachments):
            if att.device not in devices:
                problems.append(
                    f"{root / 'customers.yaml'}: {cid}.attachments.{i}.device: unknown device {att.device!r}"
                )
        customers[cid] = cust

    # A name the platform cannot take would make the device refuse every push: refused here.
    problems += [f"{root / file}: {where}: {reason}"
                 for file, where, reason in interface_names_over_limit(devices.values(), customers.values())]
    try:
        guardrails = Guardrails.model_validate(settings.get("guardrails", {}) or {})
    except ValidationError as exc:
        problems.extend(_errors(root / "settings.yaml", "guardrails", exc))
        guardrails = Guardrails()
    try:
        notices = NoticeSettings.model_validate(settings.get("notices", {}) or {})
    except ValidationError as exc:
        problems.extend(_errors(root / "settings.yaml", "notices", exc))
        notices = NoticeSettings()
    if problems:
        raise InventoryError(list(dict.fromkeys(problems)))
    try:
        return Inventory(path=root, devices=devices, customers=customers, guardrails=guardrails, notices=notices)
    except ValidationError as exc:
        raise InventoryError(_errors(root, "", exc)) from None


def _anti_spoof_problems(where: Path, devices: dict[str, Device]) -> list[str]:
    """A device set to a method its platform lacks (uRPF on FRR, which has no data plane): one
    line each, at load, rather than an anti-spoof block that silently filters nothing."""
    out = []
    for name, dev in devices.items():
        if dev.anti_spoof is AntiSpoofMethod.ACL:  # every platform has it: no facts to read (start-up)
            continue
        from .platforms import platform_info  # platforms imports this module: look the facts up when called

        info = platform_info(dev.platform)
        if dev.anti_spoof not in info.anti_spoof_methods:
            offered = ", ".join(info.anti_spoof_methods) or "none"
            out.append(f"{where}: {name}.anti_spoof: {dev.anti_spoof}: {dev.platform} has no uRPF "
                       f"(offers: {offered}){info.anti_spoof_hint}")
    return out


def covers(prefixes: tuple[IPv4Network | IPv6Network, ...], target: IPv4Network | IPv6Network) -> bool:
    """True when ``target`` overlaps any of ``prefixes`` (either contains the other)."""
    return any(
        p.version == target.version and (target.subnet_of(p) or p.subnet_of(target))  # type: ignore[arg-type]
        for p in prefixes
    )


class PrefixSet:
    """:func:`covers` for many targets against one list: built once, O(log n) per target.

    Two CIDR blocks overlap exactly when their address ranges intersect, so the prefixes of each
    family are merged into sorted disjoint ranges and a target is looked up by bisection. A
    render asks this once per enforcement per device (100,000 x 100 in the plan of issue 12),
    where a scan of the whole list each time was half the plan's time.
    """

    def __init__(self, prefixes: Iterable[IPv4Network | IPv6Network]) -> None:
        self._starts: dict[int, list[int]] = {4: [], 6: []}
        self._ends: dict[int, list[int]] = {4: [], 6: []}
        ranges = sorted((p.version, int(p.network_address), int(p.broadcast_address)) for p in prefixes)
        for version, start, end in ranges:
            starts, ends = self._starts[version], self._ends[version]
            if ends and start <= ends[-1] + 1:
                ends[-1] = max(ends[-1], end)
            else:
                starts.append(start)
                ends.append(end)

    def overlaps(self, target: IPv4Network | IPv6Network) -> bool:
        """True when ``target`` overlaps any of the prefixes (either contains the other)."""
        starts = self._starts[target._version]  # what ``version`` reads, without its Python call
        if not starts:  # nothing protected in this family: the usual case, asked 100,000s of times
            return False
        # ``int()`` of the address and the lengths, read as those read them (no Python call each).
        first = target.network_address._ip
        # The last address from the prefix length: ``broadcast_address`` is a cached_property,
        # whose lookup was most of this method's time over 100,000 targets.
        last = first | ((1 << (target._max_prefixlen - target._prefixlen)) - 1)
        i = bisect_right(starts, last) - 1
        return i >= 0 and self._ends[target._version][i] >= first


__all__ = [
    "Attachment",
    "Customer",
    "Device",
    "Guardrails",
    "Inventory",
    "InventoryError",
    "Platform",
    "PrefixSet",
    "Transport",
    "covers",
    "ip_network",
    "load_inventory",
    "IPv4Network",
    "IPv6Network",
]
