"""The reads and writes of one intake transaction (:meth:`enforcer.store.Store.write`).

A decision's fate depends on what the store holds: a live decision with the same key or for the
same offence, how many decisions arrived in the last minute, how many enforcements are active.
Reading those and writing the result in *one* transaction that serialises writers is what makes
the guardrails hold under concurrency (20 concurrent submits under a cap of 5 store 5, ten
identical ones store 1). :class:`Tx` offers exactly those reads and writes over one session;
the policy decides between them (:func:`enforcer.policy.decide`), as a pure function.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from ipaddress import ip_network
from typing import Any

from sqlalchemy import DateTime, bindparam, delete, func, insert, select, text, update
from sqlalchemy.orm import Session, selectinload

from .model import Decision, Prefix, Status, Violation
from .tables import (
    LIVE,
    SPACE_WHERE_SQLITE,
    AuditRow,
    DecisionRecord,
    DecisionRow,
    EnforcementRow,
    HolderRow,
    SerialRow,
    decision_record,
    naive_utc,
)

CURRENT = (Status.ACTIVE.value, Status.PENDING.value)


def in_force(at: datetime) -> Any:
    """Live and not past its expiry: a decision whose TTL passed is no duplicate, whatever its status says."""
    return DecisionRow.status.in_(LIVE) & (DecisionRow.expires_at.is_(None) | (DecisionRow.expires_at > naive_utc(at)))


def move_serial(session: Session) -> None:
    """Move the store's change serial in this transaction (:func:`enforcer.store._count_changes`).

    Once per transaction: readers compare serials, never count moves, and an intake batch's
    inserts and flushes would otherwise each be one more UPDATE of the same row.
    """
    transaction = session.get_transaction()
    if transaction is not None and session.info.get("serial_moved") is transaction:
        return
    conn = session.connection()  # not session.execute: that would flush, inside a flush
    if not conn.execute(_MOVE_SERIAL).rowcount:
        conn.execute(insert(SerialRow).values(id=1, value=1))  # the table was emptied
    session.info["serial_moved"] = transaction


# The statements every intake transaction runs, built once: building a SQLAlchemy statement
# (its expressions, its cache key) cost as much as running it, several times per single submit.
# The counts and the serial on the tables' columns (Core): a preview runs them without the ORM's
# mapper configuration (tests/test_cli_imports.py).
_SERIAL_T, _ENF_T = SerialRow.__table__, EnforcementRow.__table__
_MOVE_SERIAL = update(_SERIAL_T).where(_SERIAL_T.c.id == 1).values(value=_SERIAL_T.c.value + 1)
_ACTIVE = select(func.count(_ENF_T.c.id)).where(_ENF_T.c.status == Status.ACTIVE.value)
_SERIAL = select(_SERIAL_T.c.value).where(_SERIAL_T.c.id == 1)
_DUE = select(EnforcementRow).where(
    # Held (pending) decisions expire too: an approval after the TTL enforces nothing.
    EnforcementRow.status.in_(CURRENT), EnforcementRow.expires_at.is_not(None),
    EnforcementRow.expires_at <= bindparam("at"))


def text_prefix(p: Prefix) -> str:
    """What the text of every address inside ``p`` starts with (as ``str(ip_network(...))`` prints it).

    IPv4: the common start of the first and the last address — a prefix is an aligned block, so
    every octet between two endpoints of equal length shares their common digits, and endpoints of
    unequal length share none. IPv6: the hextets the prefix fixes, up to the first zero one (only
    zeros are ever compressed away, so the nonzero leading hextets print as they are).
    """
    if p.version == 4:
        first, last = str(p.network_address), str(p.broadcast_address)
        n = 0
        while n < min(len(first), len(last)) and first[n] == last[n]:
            n += 1
        return first[:n]
    fixed = []
    for i in range(min(p.prefixlen // 16, 7)):  # the eighth is followed by "/", not ":"
        hextet = (int(p.network_address) >> (112 - 16 * i)) & 0xFFFF
        if hextet == 0:
            break
        fixed.append(f"{hextet:x}:")
    return "".join(fixed)


#: Past every text that starts with a lead and goes on in ASCII (SQLite compares text bytewise).
_LAST = "\U0010ffff"
#: The space read on SQLite: the targets starting with ``lead`` as a range of ``ix_decisions_space``
#: (its LIKE is case-insensitive: no index answers it), named so that SQLite's planner cannot take
#: ``ix_decisions_recent`` (every automatic decision ever) instead, and fails to prepare rather than
#: scan if the index is gone (migration 0009). The ``WHERE`` holds the index's own terms, which is
#: what lets SQLite use a partial index.
_SPACE_SQLITE = text(
    "SELECT id, target FROM decisions INDEXED BY ix_decisions_space"
    f" WHERE {SPACE_WHERE_SQLITE} AND (expires_at IS NULL OR expires_at > :at)"
    " AND target >= :lead AND target < :past"
).bindparams(bindparam("at", type_=DateTime()))


def _within(net: Prefix, p: Prefix) -> bool:
    return net.version == p.version and net.subnet_of(p)  # type: ignore[arg-type]


@dataclass
class Tally:
    """The guardrail counts of one transaction, each read once and then kept current by its own inserts.

    A batch (:func:`enforcer.service.submit_many`) admits its items one after the other in one
    transaction: each item must see the earlier ones (the caps hold inside a batch as across
    batches), and re-counting every active row per item would make a batch quadratic.
    Only this transaction writes while it holds the write lock, so what it adds is all that changes.
    """

    active: int | None = None
    new: dict[tuple[datetime, str | None, str | None], int] = field(default_factory=dict)
    in_space: dict[tuple[Prefix, ...], int] = field(default_factory=dict)

    def inserted(self, *, automatic: bool, created_at: datetime, source: str, actor: str, target: Prefix,
                 active: int) -> None:
        """A decision was stored in this transaction (created at ``created_at``, naive UTC) with
        ``active`` active enforcements: count it where it counts."""
        if self.active is not None:
            self.active += active
        if not automatic:  # operators' decisions count toward the active set only
            return
        for since, src, act in self.new:
            if naive_utc(since) <= created_at and src in (None, source) and act in (None, actor):
                self.new[since, src, act] += 1
        for space in self.in_space:
            if any(_within(target, p) for p in space):
                self.in_space[space] += 1


@dataclass
class ActiveCount:
    """The active-enforcement count one of this process's intake transactions left, at the change serial
    it committed (:meth:`Tx.keep_active`).

    Counting the active set is a scan of every active row (3 ms at 40,000 on SQLite), once per
    transaction. The serial moves in every transaction that writes a decision or an enforcement,
    in any process (:func:`enforcer.store._count_changes`): while it still stands where our last
    intake commit left it, nothing changed the count since, and the count we left is the count.
    """

    #: (serial, active count), one tuple so that a reader never pairs one commit's serial with another's count.
    at: tuple[int, int] | None = None


@dataclass
class Tx:
    """One write transaction's session with the operations intake, release and expiry need."""

    s: Session
    tally: Tally = field(default_factory=Tally)
    counts: ActiveCount | None = None
    #: What :meth:`keep_active` found this transaction leaves: (serial, active count).
    kept: tuple[int, int] | None = None
    _counted: tuple[int, bool] | None = None  # the serial when the count was taken, and whether we had moved it

    # ------------------------------------------------------------ reads (the policy's snapshot)

    def by_key(self, key: str | None, at: datetime) -> DecisionRecord | None:
        """The decision in force that this idempotency key created (a key dies with its decision)."""
        if key is None:
            return None
        row = self.s.scalars(select(DecisionRow).where(DecisionRow.idempotency_key == key, in_force(at))).first()
        return None if row is None else decision_record(row)

    def new_since(self, since: datetime, *, source: str | None = None, actor: str | None = None) -> int:
        """Automatic decisions stored since ``since``: all of them, or one source's (and caller's)."""
        key = (since, source, actor)
        if key not in self.tally.new:
            q = select(func.count(DecisionRow.id)).where(DecisionRow.automatic.is_(True),
                                                         DecisionRow.created_at >= naive_utc(since))
            if source is not None:
                q = q.where(DecisionRow.source == source)
            if actor is not None:
                q = q.where(DecisionRow.actor == actor)
            self.tally.new[key] = self.s.scalar(q) or 0
        return self.tally.new[key]

    def active(self) -> int:
        """Active enforcements, all devices (counted once per transaction, then kept by :meth:`insert`);
        not counted at all while the serial stands where this process's last intake commit left it."""
        if self.tally.active is None:
            serial = self.s.scalar(_SERIAL) or 0
            cached = self.counts.at if self.counts is not None else None
            if cached is not None and cached[0] == serial:
                self.tally.active = cached[1]
            else:
                self.tally.active = self.s.scalar(_ACTIVE) or 0
            self._counted = (serial, self._moved())
        return self.tally.active

    def keep_active(self) -> None:
        """Intake's last write is done: the count, kept current by its own inserts since it was read,
        is what this transaction leaves at its serial (:meth:`Store.write` keeps it once committed).

        Only intake calls it: its writes after the count are all tallied (:meth:`Tally.inserted`).
        Kept only if nothing but this transaction moved the serial since the count was read (on
        PostgreSQL a writer outside the intake lock may commit in between: then the next counts).
        """
        if self._counted is None:
            return
        serial, moved = self._counted
        expected = serial + (1 if self._moved() and not moved else 0)
        if (self.s.scalar(_SERIAL) or 0) == expected:
            self.kept = (expected, self.tally.active or 0)

    def _moved(self) -> bool:
        return self.s.info.get("serial_moved") is self.s.get_transaction()

    def automatic_within(self, space: Sequence[Prefix], at: datetime) -> int:
        """Automatic decisions in force for addresses inside ``space`` (one customer's prefixes)."""
        if not space:
            return 0
        key = tuple(space)
        if key not in self.tally.in_space:
            inside: set[int] = set()
            sqlite = self.s.get_bind().dialect.name == "sqlite"
            for p in space:  # the text of every address in p starts with p's leading text: only those are read
                lead = text_prefix(p)
                if sqlite:
                    rows = self.s.execute(_SPACE_SQLITE, {"lead": lead, "past": lead + _LAST, "at": naive_utc(at)})
                else:
                    rows = self.s.execute(select(DecisionRow.id, DecisionRow.target).where(
                        DecisionRow.automatic.is_(True), in_force(at), DecisionRow.target.startswith(lead)))
                inside.update(i for i, t in rows if _within(ip_network(t), p))
            self.tally.in_space[key] = len(inside)
        return self.tally.in_space[key]

    def live_for(self, target: Prefix, source: str, violations: Sequence[Violation | None]) -> list[DecisionRow]:
        """The current decisions ``source`` opened for ``target`` in these categories (None: any)."""
        q = select(DecisionRow).where(DecisionRow.target == str(target), DecisionRow.source == source,
                                      DecisionRow.status.in_(LIVE)).order_by(DecisionRow.id)
        if None not in violations:
            q = q.where(DecisionRow.violation.in_([v.value for v in violations if v is not None]))
        return list(self.s.scalars(q).all())

    # ------------------------------------------------------------ writes

    def insert(self, decision: Decision, *, customer: str | None, step: int, clause: str,
               expires_at: datetime | None, enforcements: list[dict[str, Any]], status: Status,
               automatic: bool, at: datetime) -> DecisionRecord:
        """A decision, its enforcements, its first holder and the audit entry, in this transaction."""
        row = DecisionRow(
            target=str(decision.target), violation=decision.violation.value, source=decision.source,
            actor=decision.actor, reason=decision.reason, customer=customer, asn=decision.asn,
            forced=decision.force, step=step, clause=clause, idempotency_key=decision.idempotency_key,
            automatic=automatic, created_at=naive_utc(at), expires_at=naive_utc(expires_at), status=status.value,
        )
        self.s.add(row)
        self.s.flush()
        for spec in enforcements:
            self.s.add(EnforcementRow(
                decision_id=row.id, violation=decision.violation.value, customer=customer, asn=decision.asn,
                comment=decision.comment, created_at=naive_utc(at), status=status.value,
                **{**spec, "expires_at": naive_utc(spec["expires_at"])},
            ))
        self._add_holder(row.id, decision, at)
        self.tally.inserted(automatic=automatic, created_at=row.created_at, source=row.source, actor=row.actor,
                            target=decision.target, active=len(enforcements) if status is Status.ACTIVE else 0)
        action = "block-held" if status is Status.PENDING else ("block-forced" if decision.force else "block")
        self.audit(at, actor=decision.actor, source=decision.source, action=action, row=row, reason=decision.reason,
                   detail={"before": None,
                           "after": [{k: (str(v) if k == "expires_at" else v) for k, v in spec.items()}
                                     for spec in enforcements],
                           "step": step, "expires_at": expires_at.isoformat() if expires_at else None,
                           "cause": decision.cause})
        self.s.flush()
        self.s.refresh(row)
        return decision_record(row)

    def hold(self, decision_id: int, decision: Decision, expires_at: datetime | None, at: datetime) -> bool:
        """``decision``'s cause holds ``decision_id`` too (a second alert, a repeat): refresh its expiry.

        Returns True when the cause is new to the decision. The block's expiry moves out to
        ``expires_at`` (never in): a detector that keeps alerting keeps the block.
        """
        row = self.s.get(DecisionRow, decision_id)
        assert row is not None
        existing = self.s.scalars(select(HolderRow).where(*self._holder_is(decision_id, decision))).first()
        if existing is None:
            self._add_holder(decision_id, decision, at)
            self.audit(at, actor=decision.actor, source=decision.source, action="hold", row=row,
                       reason=decision.reason, detail={"cause": decision.cause})
        else:
            existing.refreshed_at = naive_utc(at)
        if expires_at is not None and row.expires_at is not None and naive_utc(expires_at) > row.expires_at:
            row.expires_at = naive_utc(expires_at)
            self.s.execute(update(EnforcementRow)
                           .where(EnforcementRow.decision_id == decision_id, EnforcementRow.status.in_(CURRENT),
                                  EnforcementRow.expires_at.is_not(None))
                           .values(expires_at=naive_utc(expires_at)))
        return existing is None

    def release(self, row: DecisionRow, *, source: str, actor: str, cause: str | None) -> int | None:
        """Drop this caller's hold (one cause, or all of them); the holds left, or None if it held none.

        A caller's identity-less hold ("") goes with any of its causes: the caller said its condition cleared.
        """
        mine = (HolderRow.decision_id == row.id, HolderRow.source == source, HolderRow.actor == actor)
        q = select(func.count(HolderRow.id)).where(*mine)
        if cause is not None:
            q = q.where(HolderRow.cause.in_((cause, "")))
        if not self.s.scalar(q):
            return None
        gone = delete(HolderRow).where(*mine)
        if cause is not None:
            gone = gone.where(HolderRow.cause.in_((cause, "")))
        self.s.execute(gone)
        return self.s.scalar(select(func.count(HolderRow.id)).where(HolderRow.decision_id == row.id)) or 0

    def end(self, row: DecisionRow, *, status: Status, actor: str, source: str, reason: str, at: datetime,
            action: str | None = None) -> None:
        """End a decision and its current enforcements (unblock or expiry); its holders and key go with it."""
        self.end_many([row], status=status, actor=actor, source=source, reason=reason, at=at, action=action)

    def end_many(self, rows: Sequence[DecisionRow], *, status: Status, actor: str, source: str, reason: str,
                 at: datetime, action: str | None = None) -> None:
        """:meth:`end` for many decisions, linear in their number whatever the session already holds.

        The holders go in one DELETE per 500 decisions that synchronises the session by the rows
        the database names (``fetch``), not by evaluating the criteria against every object the
        session holds (the default): ending 10,000 one by one in one transaction scanned the
        growing identity map 10,000 times and took over 10 minutes.
        """
        action = action or ("unblock" if status is Status.REMOVED else status.value)
        audits = []
        for row in rows:
            audits.append(_audit_row(at, actor=actor, source=source, action=action, row=row, reason=reason,
                                     detail={"before": row.status, "after": status.value}))
            row.status = status.value
            for e in row.enforcements:
                if e.status in CURRENT:
                    e.status = status.value
        if audits:  # one INSERT of many rows (ORM objects would be flushed one statement each)
            self.s.execute(insert(AuditRow), audits)
        ids = [row.id for row in rows]
        for i in range(0, len(ids), 500):
            self.s.execute(delete(HolderRow).where(HolderRow.decision_id.in_(ids[i:i + 500])),
                           execution_options={"synchronize_session": "fetch"})

    def expire_due(self, at: datetime) -> list[DecisionRow]:
        """Expire every enforcement past its TTL, and the decisions left with none current, at once.

        One transaction: a crash can leave neither an expired enforcement under a live decision
        (every later identical block would be a no-op) nor half of a decision's enforcements expired.
        The decisions are read 500 at a time with their enforcements, not one query each.
        """
        due = self.s.scalars(_DUE, {"at": naive_utc(at)}).all()
        for e in due:
            e.status = Status.EXPIRED.value
        ids = sorted({e.decision_id for e in due})
        ended: list[DecisionRow] = []
        for i in range(0, len(ids), 500):
            rows = self.s.scalars(select(DecisionRow).where(DecisionRow.id.in_(ids[i:i + 500]))
                                  .options(selectinload(DecisionRow.enforcements)).order_by(DecisionRow.id)).all()
            ended.extend(r for r in rows
                         if r.status in CURRENT and all(e.status not in CURRENT for e in r.enforcements))
        self.end_many(ended, status=Status.EXPIRED, actor="enforcer", source="reconcile", reason="ttl", at=at)
        self.s.flush()
        return ended

    def audit(self, at: datetime, *, actor: str, source: str, action: str, row: DecisionRow | None = None,
              target: str | None = None, violation: str | None = None, reason: str = "",
              detail: dict[str, Any] | None = None) -> None:
        self.s.add(AuditRow(**_audit_row(at, actor=actor, source=source, action=action, row=row, target=target,
                                         violation=violation, reason=reason, detail=detail)))

    # ------------------------------------------------------------ helpers

    def _add_holder(self, decision_id: int, decision: Decision, at: datetime) -> None:
        self.s.add(HolderRow(decision_id=decision_id, source=decision.source, actor=decision.actor,
                             cause=decision.cause or "", since=naive_utc(at), refreshed_at=naive_utc(at)))

    @staticmethod
    def _holder_is(decision_id: int, decision: Decision) -> tuple[Any, ...]:
        return (HolderRow.decision_id == decision_id, HolderRow.source == decision.source,
                HolderRow.actor == decision.actor, HolderRow.cause == (decision.cause or ""))


def _audit_row(at: datetime, *, actor: str, source: str, action: str, row: DecisionRow | None = None,
               target: str | None = None, violation: str | None = None, reason: str = "",
               detail: dict[str, Any] | None = None) -> dict[str, Any]:
    """One audit entry's columns: about ``row`` when given, else about ``target``/``violation``."""
    return {"at": naive_utc(at), "actor": actor, "source": source, "action": action,
            "target": row.target if row is not None else target, "decision_id": row.id if row is not None else None,
            "violation": row.violation if row is not None else violation,
            "clause": row.clause if row is not None else "", "reason": reason, "detail": detail or {}}
