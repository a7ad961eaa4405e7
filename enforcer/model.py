"""Typed values that cross enforcer's boundaries: decisions, enforcements, targets, actions.

Everything downstream of intake (policy, store, render, plan, drivers) receives these types and
never a raw string: a prefix is an ``ipaddress`` network, a category an enum, a duration a
``timedelta``. Free text (the operator's reason) is kept for the audit log only; the one piece of
text a template may print is a :class:`SafeComment`, reduced to a harmless character set.
No I/O here.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_network
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)

# The errors live apart (no pydantic) for the light commands; every caller still imports them from here.
from .errors import EnforcerError, FileProblems, InvalidInput, Refused  # noqa: F401

Prefix = IPv4Network | IPv6Network
Address = IPv4Address | IPv6Address


class Violation(StrEnum):
    """The AUP violation categories; :mod:`enforcer.catalog` grounds each in the seed policies."""

    SPAM = "spam"
    DDOS_OUTBOUND = "ddos-outbound"
    DDOS_VICTIM = "ddos-victim"
    SCANNING = "scanning"
    INTRUSION = "intrusion"
    SPOOFING = "spoofing"
    BGP_HIJACK = "bgp-hijack"
    EXCESSIVE_BANDWIDTH = "excessive-bandwidth"
    MALWARE_HOSTING = "malware-hosting"
    PHISHING = "phishing"
    ILLEGAL_CONTENT = "illegal-content"


class ActionKind(StrEnum):
    """What the network does. ``anti-spoof`` is the ACL family that permits only a customer's prefixes."""

    ACL = "acl"
    NULL_ROUTE = "null-route"
    RTBH = "rtbh"
    RATE_LIMIT = "rate-limit"
    PREFIX_FILTER = "prefix-filter"
    ANTI_SPOOF = "anti-spoof"


#: Actions that drop or police traffic (as opposed to filtering routes or sources). Here, not in
#: ``enforcer.section`` (which re-exports it): the policy needs it, and ``enforcer block`` none of the
#: section's models (issue 12.5).
TRAFFIC_ACTIONS = frozenset({ActionKind.ACL, ActionKind.NULL_ROUTE, ActionKind.RTBH, ActionKind.RATE_LIMIT})


class Protocol(StrEnum):
    ANY = "any"
    TCP = "tcp"
    UDP = "udp"
    ICMP = "icmp"


class Direction(StrEnum):
    """Which side of a packet an ACL matches the target on."""

    SOURCE = "source"
    DESTINATION = "destination"


class Status(StrEnum):
    ACTIVE = "active"
    REMOVED = "removed"
    EXPIRED = "expired"
    PENDING = "pending"


# ---------------------------------------------------------------- parsing helpers

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_TTL = timedelta(days=365)


def parse_duration(value: Any) -> timedelta:
    """``30m``, ``2h``, ``7d`` (or seconds as a number) → timedelta; 1 s .. 365 d."""
    if isinstance(value, timedelta):
        td = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if not -1e12 < value < 1e12:  # timedelta itself overflows near 1e14 s
            raise ValueError(f"longer than the {MAX_TTL.days}-day maximum")
        td = timedelta(seconds=value)
    elif isinstance(value, str):
        m = _DURATION.match(value)
        if not m:
            raise ValueError(f"{value!r} is not a duration like 30s, 30m, 2h, 7d or 1w")
        seconds = int(m.group(1)) * _UNITS[m.group(2)]
        if seconds > MAX_TTL.total_seconds():
            raise ValueError(f"longer than the {MAX_TTL.days}-day maximum")
        td = timedelta(seconds=seconds)
    else:
        raise ValueError(f"{value!r} is not a duration")
    if td <= timedelta(0):
        raise ValueError("must be positive")
    if td > MAX_TTL:
        raise ValueError(f"longer than the {MAX_TTL.days}-day maximum")
    return td


def format_duration(td: timedelta) -> str:
    secs = int(td.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if secs % size == 0 and secs >= size:
            return f"{secs // size}{unit}"
    return f"{secs}s"


def parse_prefix(value: Any) -> Prefix:
    """An address or prefix → network; a host address becomes /32 or /128; host bits refused."""
    if isinstance(value, IPv4Network | IPv6Network):
        return value
    if isinstance(value, IPv4Address | IPv6Address):
        return ip_network(value)
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not an IP address or prefix")
    text = value.strip()
    if not text or any(c.isspace() for c in text):
        raise ValueError(f"{value!r}: not a valid IP address or prefix")
    if "%" in text:
        # ipaddress accepts any text after an IPv6 zone id ("fe80::1%x;}flush"): never a target.
        raise ValueError(f"{text}: zone ids (%...) are not allowed")
    try:
        return ip_network(text, strict=True)
    except ValueError as exc:
        if "/" in text:
            addr, _, plen = text.partition("/")
            if plen.isdigit():
                maxlen = 128 if ":" in addr else 32
                if int(plen) > maxlen:
                    raise ValueError(f"{text}: prefix length {plen} > {maxlen}") from None
            if "has host bits set" in str(exc):
                raise ValueError(f"{text}: host bits set (did you mean {ip_network(text, strict=False)}?)") from None
        raise ValueError(f"{text}: not a valid IP address or prefix") from None


_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]?)(bit|bps|b)?(?:/s)?\s*$", re.I)
_RATE_MULT = {"": 1, "k": 1_000, "m": 1_000_000, "g": 1_000_000_000}


def parse_rate(value: Any) -> int:
    """``10Mbit``, ``500kbit``, ``1Gbps`` or a number of bits per second → int bits per second."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        m = _RATE.match(value)
        if m:
            return int(float(m.group(1)) * _RATE_MULT[m.group(2).lower()])
    raise ValueError(f"{value!r} is not a rate like 10Mbit, 500kbit or 1Gbit")


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def now() -> datetime:
    return datetime.now(UTC)


_Model = TypeVar("_Model", bound=BaseModel)
#: Per model class, the one fields-set its :func:`trusted` models given every field share.
_ALL_FIELDS: dict[type[BaseModel], set[str]] = {}


def trusted(cls: type[_Model], values: dict[str, Any]) -> _Model:
    """A ``cls`` from values already validated, every field given in ``cls``'s field order: what
    ``model_construct`` builds, without its per-field alias and default lookups, which made it
    slower than validating. For the store's rows (validated on the way in) and the entries a
    section builds from validated enforcements: 100,000 of each in a big plan. Only for models
    with no extra fields, private attributes or post-init (tests/test_model.py holds it equal to
    ``model_construct``).

    Every model of a class given all its fields shares one fields-set: a set of 13 names per
    enforcement was 73 MB of a 100,000-enforcement plan. Sharing is safe because pydantic only
    ever adds to a model's set the names of fields (all already in it) and copies it for a copy."""
    model = cls.__new__(cls)
    object.__setattr__(model, "__dict__", values)
    every = _ALL_FIELDS.get(cls)
    if every is None:
        every = _ALL_FIELDS.setdefault(cls, set(cls.model_fields))
    object.__setattr__(model, "__pydantic_fields_set__", every if len(values) == len(every) else set(values))
    object.__setattr__(model, "__pydantic_extra__", None)
    object.__setattr__(model, "__pydantic_private__", None)
    return model


def _no_zone(value: Any) -> Any:
    if isinstance(value, str) and "%" in value:
        raise ValueError(f"{value}: zone ids (%...) are not allowed")
    if isinstance(value, IPv6Address) and value.scope_id:
        raise ValueError(f"{value}: zone ids (%...) are not allowed")
    return value


PrefixT = Annotated[Prefix, BeforeValidator(parse_prefix), PlainSerializer(str, return_type=str)]
#: An interface address with no IPv6 zone id (the zone's text would reach a template).
AddressT = Annotated[Address, BeforeValidator(_no_zone), PlainSerializer(str, return_type=str)]
DurationT = Annotated[timedelta, BeforeValidator(parse_duration), PlainSerializer(format_duration, return_type=str)]
UtcDatetime = Annotated[datetime, AfterValidator(_utc)]

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,63}$"
#: Identifiers that may reach a template (customer ids, device names, interface names).
Name = Annotated[str, Field(pattern=_NAME)]
#: Interface names: letters, digits and the punctuation vendors use (Gi0/0/1, xe-0/0/0:1.100, Ethernet1/1),
#: and at most one ``.N`` subinterface or unit, a number: Junos prints what follows the dot as ``unit N``
#: ("ge-0/0/1." made ``unit  family``, a line Junos refuses).
InterfaceName = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_/:-]{0,53}(\.[0-9]{1,10})?$")]
Asn = Annotated[int, Field(ge=1, le=4294967295)]
Port = Annotated[int, Field(ge=1, le=65535)]

_COMMENT_BAD = re.compile(r"[^A-Za-z0-9 ._:/@+=-]")
COMMENT_MAX = 48


def safe_comment(text: str | None) -> str:
    """Reduce free text to something every platform prints harmlessly inside a remark/description.

    Control characters (newline above all), quotes, ``;``, ``#``, ``!``, ``{}`` and the like become
    spaces; runs of spaces collapse; the result is cut to :data:`COMMENT_MAX` characters. A reason
    such as ``"x\\nno router bgp 65000"`` becomes the harmless ``"x no router bgp 65000"`` on one line.
    """
    if not text:
        return ""
    cleaned = _COMMENT_BAD.sub(" ", text)
    cleaned = " ".join(cleaned.split())
    return cleaned[:COMMENT_MAX].rstrip()


SafeComment = Annotated[str, AfterValidator(safe_comment)]


class Community(BaseModel):
    """A standard BGP community ``ASN:VALUE`` (16 bits each); 65535:666 is BLACKHOLE (RFC 7999)."""

    model_config = ConfigDict(frozen=True)
    asn: int = Field(ge=0, le=65535)
    value: int = Field(ge=0, le=65535)

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, data: Any) -> Any:
        if isinstance(data, str):
            m = re.fullmatch(r"(\d{1,5}):(\d{1,5})", data.strip())
            if not m:
                raise ValueError(f"{data!r} is not a community like 65535:666")
            return {"asn": int(m.group(1)), "value": int(m.group(2))}
        return data

    def __str__(self) -> str:
        return f"{self.asn}:{self.value}"


BLACKHOLE = Community(asn=65535, value=666)


class ActionParams(BaseModel):
    """Parameters of one action; which ones matter depends on the :class:`ActionKind`."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    protocol: Protocol = Protocol.ANY
    ports: tuple[Port, ...] = ()
    direction: Direction = Direction.SOURCE
    rate_bps: Annotated[int, BeforeValidator(parse_rate)] | None = Field(default=None, ge=8_000, le=400_000_000_000)
    burst_bytes: int | None = Field(default=None, ge=1_500, le=1_000_000_000)
    community: Community | None = None

    @field_validator("ports")
    @classmethod
    def _sorted_unique(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(sorted(set(v)))

    @model_validator(mode="after")
    def _ports_need_l4(self) -> ActionParams:
        if self.ports and self.protocol not in (Protocol.TCP, Protocol.UDP):
            raise ValueError("ports need protocol tcp or udp")
        return self


class Decision(BaseModel):
    """A violation decided by a person or a detector: what, who, why, for how long.

    Built only through validation (``Decision.model_validate``), so every field is typed.
    ``reason`` is kept verbatim for the audit log; templates only ever see ``comment``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    target: PrefixT
    violation: Violation
    source: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$")] = "cli"
    actor: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")] = "operator"
    reason: Annotated[str, Field(max_length=1024, pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$")] = ""
    ttl: DurationT | None = None
    expires_at: UtcDatetime | None = None
    customer: Name | None = None
    asn: Asn | None = None
    force: bool = False
    idempotency_key: Annotated[str, Field(max_length=200)] | None = None
    #: The detector's own id of what it saw (alert fingerprint, attack uuid, event id): the cause that
    #: holds the block open until the detector says it resolved. None: the caller itself holds it.
    cause: Annotated[str, Field(max_length=200)] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Decision:
        if self.ttl is not None and self.expires_at is not None:
            raise ValueError("give ttl or expires_at, not both")
        if self.expires_at is not None:
            at = now()
            if self.expires_at <= at:
                raise InvalidInputValue("expires_at", f"{self.expires_at.isoformat()} is in the past")
            if self.expires_at > at + MAX_TTL:
                raise InvalidInputValue("expires_at", f"more than the {MAX_TTL.days}-day maximum from now")
        if self.violation is Violation.BGP_HIJACK and self.customer is None and self.asn is None:
            raise InvalidInputValue("customer", "bgp-hijack needs the customer (or ASN) announcing the prefix")
        return self

    @property
    def comment(self) -> str:
        return safe_comment(self.reason)

    def expiry(self, default_ttl: timedelta | None, at: datetime | None = None) -> datetime | None:
        """The absolute expiry: explicit ``expires_at``, else ``ttl``, else the playbook's default."""
        if self.expires_at is not None:
            return self.expires_at
        ttl = self.ttl or default_ttl
        return None if ttl is None else (at or now()) + ttl


class InvalidInputValue(ValueError):
    """A ValueError raised inside a model validator that knows which field is at fault."""

    def __init__(self, field: str, reason: str):
        self.field = field
        super().__init__(reason)


class Enforcement(BaseModel):
    """One action on the network derived from a decision: the unit of the desired set.

    ``roles`` says which device roles carry it; customer-scoped actions (prefix-filter,
    anti-spoof) go only where that customer attaches. ``id`` is the store's; it appears in
    rendered output (remark / cookie) so an operator can trace a line back to its decision.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    id: int
    decision_id: int
    action: ActionKind
    target: PrefixT
    violation: Violation
    params: ActionParams = ActionParams()
    roles: frozenset[Name] = frozenset()
    customer: Name | None = None
    asn: Asn | None = None
    comment: SafeComment = ""
    created_at: UtcDatetime
    expires_at: UtcDatetime | None = None
    status: Status = Status.ACTIVE

    @property
    def family(self) -> int:
        return self.target.version

    def active_at(self, at: datetime) -> bool:
        return self.status is Status.ACTIVE and (self.expires_at is None or self.expires_at > at)


def validation_error_to_invalid(exc: Exception) -> InvalidInput:
    """Turn a pydantic ValidationError into one :class:`InvalidInput` naming the first bad field."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"] if not isinstance(p, int)) or "input"
        ctx_err = (err.get("ctx") or {}).get("error")
        if isinstance(ctx_err, InvalidInputValue):
            return InvalidInput(ctx_err.field, str(ctx_err))
        msg = err["msg"]
        for lead in ("Value error, ", "Assertion failed, "):
            msg = msg.removeprefix(lead)
        if err["type"] == "enum":
            msg = f"{err.get('input')!r} is not one of: {err['ctx']['expected']}"
        elif err["type"] == "string_pattern_mismatch":
            msg = f"{err.get('input')!r} has characters or a length that are not allowed"
        return InvalidInput(loc, msg)
    return InvalidInput("input", str(exc))
