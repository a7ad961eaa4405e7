"""The store's tables and the records read from them (SQLAlchemy 2 declarative models).

Timestamps are stored as naive UTC (SQLite has no time zones) and come back timezone-aware.
The audit table is append-only by contract: :class:`enforcer.store.Store` only ever inserts into it.
"""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime
from functools import lru_cache
from ipaddress import IPv4Address, IPv4Network, IPv6Network, ip_network
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.event import listens_for
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from . import feed
from .model import ActionKind, ActionParams, Enforcement, Status, Violation, trusted


@lru_cache(maxsize=4096)
def _params(encoded: str) -> ActionParams:
    """Parameters repeat across thousands of rows (one playbook step each): parse each once."""
    return ActionParams.model_validate(json.loads(encoded))


@lru_cache(maxsize=4096)
def _roles(encoded: str) -> frozenset[str]:
    """Role lists repeat across rows as parameters do: one frozenset per distinct list."""
    return frozenset(json.loads(encoded) or ())


def _json_text(value: Any) -> str:
    """A JSON column as text: the stored text where the query asked for it (``store._rows_as_stored``),
    else the decoded value encoded again (an ORM row, a row built in memory)."""
    return value if isinstance(value, str) else json.dumps(value if value is not None else None, sort_keys=True)


def _target(text: str) -> IPv4Network | IPv6Network:
    """A stored target (``str`` of a validated network, so canonical): an IPv4 one from its
    integer, a fifth of the string parse that was a third of reading 100,000 rows."""
    address, _, length = text.partition("/")
    if ":" in address or not length:
        return ip_network(text)
    return _ipv4(int.from_bytes(socket.inet_pton(socket.AF_INET, address)), int(length))


def _ipv4(packed: int, length: int) -> IPv4Network:
    """``IPv4Network((packed, length))`` as its ``__init__`` (CPython 3.11) leaves it, without the
    argument parsing before it: 0.70 -> 0.26 s for 100,000 /32s, most of what reading the rows
    into models had left. Checked against the real constructor at import (:func:`_ipv4_is_exact`);
    where it differs the real one is used. Host bits still refuse the row, as strict does.

    ``packed`` is four bytes' worth (``inet_pton``'s), all ``IPv4Address(packed)`` checks: the
    address is made as that leaves it (its ``_ip``), without its ``__init__`` and range check, and
    the mask read by its ``_ip`` rather than ``__int__``, and the (mask, length) pair of a valid
    length taken from a list of the constructor's own (four Python calls a row of 100,000)."""
    net = _NEW_V4(IPv4Network)
    address = _NEW_V4(IPv4Address)
    address._ip = packed
    net.network_address = address
    net.netmask, net._prefixlen = _V4_MASKS[length] if 0 <= length <= 32 else _V4_MASK(length)
    if packed & net.netmask._ip != packed:
        raise ValueError(f"{IPv4Address(packed)}/{length} has host bits set")
    if length == 31:
        net.hosts = net.__iter__
    elif length == 32:
        net.hosts = lambda: [IPv4Address(packed)]
    return net


_NEW_V4, _V4_MASK = object.__new__, IPv4Network._make_netmask
#: ``_make_netmask(n)`` for every valid length: the very pairs it caches and returns.
_V4_MASKS = [_V4_MASK(n) for n in range(33)]


def _ipv4_is_exact() -> bool:
    for packed, length in ((0x0A010203, 32), (0x0A010202, 31), (0x0A010200, 30), (0x0A010200, 24), (0, 0)):
        real, fast = IPv4Network((packed, length)), _ipv4(packed, length)
        small = length >= 30  # hosts() of a /0 is 2**32 addresses: compared on the small ones
        if (real != fast or hash(real) != hash(fast) or vars(real).keys() != vars(fast).keys()
                or type(fast.network_address) is not type(real.network_address)
                or fast.network_address._ip != real.network_address._ip
                or str(real) != str(fast) or (small and list(real.hosts()) != list(fast.hosts()))):
            return False
    return True


if not _ipv4_is_exact():  # pragma: no cover - another CPython's ipaddress: the constructor itself
    def _ipv4(packed: int, length: int) -> IPv4Network:  # noqa: F811
        return IPv4Network((packed, length))


_ACTIONS = {a.value: a for a in ActionKind}
_VIOLATIONS = {v.value: v for v in Violation}
_STATUSES = {s.value: s for s in Status}


class Base(DeclarativeBase):
    pass


def naive_utc(dt: datetime | None) -> datetime | None:
    return None if dt is None else dt.astimezone(UTC).replace(tzinfo=None)


def aware_utc(dt: datetime | None) -> datetime | None:
    return None if dt is None else dt.replace(tzinfo=UTC)


#: The statuses of a current decision (enforced, or held for approval): what keys and holders bind to.
LIVE = ("active", "pending")
_LIVE_SQL = text("status IN ('active', 'pending')")


class DecisionRow(Base):
    __tablename__ = "decisions"
    __table_args__ = (
        # An idempotency key belongs to the decision it created while that decision is current; once it
        # has ended (unblock, TTL) the key is free, so a re-alert with the same key enforces again.
        # Partial (live rows only) on SQLite and PostgreSQL: see _live_key_where below.
        Index("ix_decisions_live_key", "idempotency_key", unique=True),
        # The guardrail counts of intake (migration 0003i): a key's decision, the last minute's detector decisions.
        Index("ix_decisions_key", "idempotency_key"),
        Index("ix_decisions_recent", "automatic", "created_at"),
        Index("ix_decisions_source_recent", "source", "actor", "created_at"),
        # The blackhole-space guardrail (``Tx.automatic_within``), partial: the automatic live decisions,
        # the rows counted (see _live_key_where below). PostgreSQL (migration 0008) reads it by
        # ``target LIKE 'prefix%'``: under a collation other than C a btree index of ``target`` cannot
        # answer a LIKE, ``text_pattern_ops`` compares byte by byte as LIKE does. SQLite (migration
        # 0009) reads it by a range of ``target`` named with ``INDEXED BY`` (its LIKE is case-insensitive,
        # and without the name its planner took ``ix_decisions_recent``: every automatic decision).
        Index("ix_decisions_space", "target"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    target: Mapped[str] = mapped_column(String(64), index=True)
    violation: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text, default="")
    customer: Mapped[str | None] = mapped_column(String(64), nullable=True)
    asn: Mapped[int | None] = mapped_column(Integer, nullable=True)
    forced: Mapped[bool] = mapped_column(Boolean, default=False)
    step: Mapped[int] = mapped_column(Integer, default=0)
    clause: Mapped[str] = mapped_column(Text, default="")
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    #: From a detector (hook or detector token): counted by the flood breaker; operators never are.
    automatic: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default=Status.ACTIVE.value, index=True)
    enforcements: Mapped[list[EnforcementRow]] = relationship(back_populates="decision", order_by="EnforcementRow.id")


#: The space index's operator class and rows on PostgreSQL, as :func:`_live_key_where` sets them
#: and migration 0008 creates them.
SPACE_OPS = {"target": "text_pattern_ops"}
SPACE_SQL = text("automatic IS true AND status IN ('active', 'pending')")
#: The same rows on SQLite (migration 0009), spelled as ``Tx.automatic_within``'s read spells its
#: terms: SQLite uses a partial index only for a query whose ``WHERE`` holds the index's own terms.
SPACE_WHERE_SQLITE = "automatic = 1 AND status IN ('active', 'pending')"


@listens_for(DecisionRow.__table__, "before_create")
def _live_key_where(table: Any, connection: Any, **kw: Any) -> None:
    """The live-key index's ``WHERE``, for the dialect that creates it (as ``sqlite_where=`` /
    ``postgresql_where=`` in ``Index()`` gave it, and as migration 0002 creates it): named in the
    ``Index()``, ``postgresql_where`` made SQLAlchemy import its PostgreSQL dialect (and asyncpg's,
    psycopg's, pg8000's) when this module loads — in every ``enforcer block`` on SQLite (issue 12.5).
    The space index's ``WHERE`` (and its operator class on PostgreSQL) is set here for the same reason."""
    name = connection.dialect.name
    if name in ("sqlite", "postgresql"):
        [index] = [i for i in table.indexes if i.name == "ix_decisions_live_key"]
        index.dialect_kwargs[f"{name}_where"] = _LIVE_SQL
    [index] = [i for i in table.indexes if i.name == "ix_decisions_space"]
    if name == "postgresql":
        index.dialect_kwargs.update(postgresql_ops=SPACE_OPS, postgresql_where=SPACE_SQL)
    elif name == "sqlite":
        index.dialect_kwargs["sqlite_where"] = text(SPACE_WHERE_SQLITE)


class EnforcementRow(Base):
    __tablename__ = "enforcements"
    #: What is due for expiry, by one index range: every intake transaction asks (migration 0004). It
    #: serves every read by status too (the active set, its keys, its count): no index of status or
    #: expiry alone (migration 0007; tests/test_query_plans.py holds each hot read to an index).
    __table_args__ = (Index("ix_enforcements_due", "status", "expires_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    decision_id: Mapped[int] = mapped_column(ForeignKey("decisions.id"), index=True)
    action: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(64))
    violation: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    customer: Mapped[str | None] = mapped_column(String(64), nullable=True)
    asn: Mapped[int | None] = mapped_column(Integer, nullable=True)
    comment: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default=Status.ACTIVE.value)
    #: The change serial of the transaction that last wrote the row, set by the database (enforcer.feed).
    changed: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    decision: Mapped[DecisionRow] = relationship(back_populates="enforcements")

    def to_model(self) -> Enforcement:
        """Rows were validated on the way in (intake → policy → store): rebuild the typed model
        directly rather than re-validating every field — the desired set is read on every plan,
        apply and OpenFlow sync, 10,000 rows at a time on a busy day."""
        return enforcement_from(*(getattr(self, name) for name in STORED))


feed.install(EnforcementRow.__table__)

#: The enforcement columns :func:`enforcement_from` takes, in its order (the store selects them so).
STORED = ("id", "decision_id", "action", "target", "violation", "params", "roles", "customer", "asn", "comment",
          "created_at", "expires_at", "status")


def enforcement_from(
    id: int, decision_id: int, action: str, target: str, violation: str, params: Any, roles: Any,
    customer: str | None, asn: int | None, comment: str, created_at: datetime, expires_at: datetime | None,
    status: str,
) -> Enforcement:
    """One stored enforcement, from its columns (:data:`STORED`) as a row holds them: positional,
    because a SQLAlchemy row's attribute lookup was a third of reading 100,000 rows. The JSON
    columns' stored text and the timestamps are taken here as :func:`_json_text` and
    :func:`aware_utc` take them (four Python calls fewer a row)."""
    return trusted(Enforcement, {
        "id": id,
        "decision_id": decision_id,
        "action": _ACTIONS[action],
        "target": _target(target),
        "violation": _VIOLATIONS[violation],
        "params": _params(params if params and type(params) is str else _json_text(params or {})),
        "roles": _roles(roles if roles and type(roles) is str else _json_text(roles or [])),
        "customer": customer,
        "asn": asn,
        "comment": comment,
        "created_at": None if created_at is None else created_at.replace(tzinfo=UTC),
        "expires_at": None if expires_at is None else expires_at.replace(tzinfo=UTC),
        "status": _STATUSES[status],
    })


# ------------------------------------------------------------------ holders (intake: ownership by causes)


class HolderRow(Base):
    """A cause that holds a decision open: an Alertmanager alert, a FastNetMon attack, an event.

    A detector's decision ends when its last holder resolves (or its TTL passes), so one alert
    resolving never lifts a block another alert about the same host still asks for. ``cause`` is
    the detector's own id for the alert ("" when the payload carries none: the caller itself holds).
    """

    __tablename__ = "holders"
    #: Its index finds a decision's holders too (decision_id leads it): no index of decision_id alone (0007).
    #: ``ix_holders_caller``: the holds of one caller (``Store.holds``), not every live decision (0008).
    __table_args__ = (
        UniqueConstraint("decision_id", "source", "actor", "cause", name="uq_holders_cause"),
        Index("ix_holders_caller", "source", "actor"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    decision_id: Mapped[int] = mapped_column(ForeignKey("decisions.id"))
    source: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(64))
    cause: Mapped[str] = mapped_column(String(200), default="")
    since: Mapped[datetime] = mapped_column(DateTime)
    refreshed_at: Mapped[datetime] = mapped_column(DateTime)


# ------------------------------------------------------------------ device leases (intake: one pusher per device)


class LeaseRow(Base):
    """Who pushes to a device right now, until when: one pusher per device across processes and instances.

    A holder renews its lease while it pushes; a holder that died loses it when ``expires_at`` passes.
    """

    __tablename__ = "device_leases"
    device: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    since: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime)


# ------------------------------------------------------------------ audit and applied state


class AuditRow(Base):
    """Append-only: rows are inserted, never updated or deleted."""

    __tablename__ = "audit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decision_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    violation: Mapped[str | None] = mapped_column(String(32), nullable=True)
    clause: Mapped[str] = mapped_column(Text, default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class AppliedRow(Base):
    """What enforcer last applied to a device: the current state of offline devices."""

    __tablename__ = "applied"
    device: Mapped[str] = mapped_column(String(64), primary_key=True)
    section: Mapped[str] = mapped_column(Text)
    applied_at: Mapped[datetime] = mapped_column(DateTime)


class SerialRow(Base):
    """One row, id 1: a counter moved in the same transaction as every decision or enforcement change.

    A saved plan records it; ``enforcer apply FILE`` refuses the plan once it has moved (the
    desired set the plan was made from is no longer the store's). Audit and applied-state writes
    leave it alone: pushing a plan must not make the plan stale.
    """

    __tablename__ = "serial"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


# ------------------------------------------------------------------ customer notices (enforcer.notify)


class NoticeRow(Base):
    """The durable outbox of customer notices: one row per audit entry that starts, escalates or
    ends an enforcement (``audit_id`` is unique, so a notice is derived once however many workers
    run), rendered when the event happens and retried until the mail relay accepts it."""

    __tablename__ = "notices"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    audit_id: Mapped[int] = mapped_column(Integer, unique=True)
    decision_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    customer: Mapped[str | None] = mapped_column(String(64), nullable=True)
    kind: Mapped[str] = mapped_column(String(16))  # start | escalation | end
    status: Mapped[str] = mapped_column(String(16), index=True)  # queued | sent | opted-out | no-contact
    recipient: Mapped[str] = mapped_column(String(320), default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text, default="")
    html: Mapped[str] = mapped_column(Text, default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


# ------------------------------------------------------------------ console sessions (enforcer.console.session)


class EndedSessionRow(Base):
    """A console session ended by logout before its cookie expired: refused from then on by every
    instance sharing the store. Kept only until ``expires_at``, when the cookie is dead anyway and
    the row is swept (:meth:`enforcer.console.session.Sessions.end`)."""

    __tablename__ = "ended_sessions"
    sid: Mapped[str] = mapped_column(String(32), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)


class AuditEntry(BaseModel):
    model_config = ConfigDict(frozen=True)
    id: int
    at: datetime
    actor: str
    source: str
    action: str
    target: str | None
    decision_id: int | None
    violation: str | None
    clause: str
    reason: str
    detail: dict[str, Any]


class DecisionRecord(BaseModel):
    """A stored decision with its enforcements, as the CLI and API show it."""

    model_config = ConfigDict(frozen=True)
    id: int
    target: str
    violation: Violation
    source: str
    actor: str
    reason: str
    customer: str | None
    asn: int | None
    forced: bool
    step: int
    clause: str
    created_at: datetime
    expires_at: datetime | None
    status: Status
    enforcements: list[Enforcement]


def decision_record(row: DecisionRow) -> DecisionRecord:
    return DecisionRecord(
        id=row.id,
        target=row.target,
        violation=Violation(row.violation),
        source=row.source,
        actor=row.actor,
        reason=row.reason,
        customer=row.customer,
        asn=row.asn,
        forced=row.forced,
        step=row.step,
        clause=row.clause,
        created_at=aware_utc(row.created_at),
        expires_at=aware_utc(row.expires_at),
        status=Status(row.status),
        enforcements=[e.to_model() for e in row.enforcements],
    )
