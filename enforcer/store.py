"""The durable desired set and the append-only audit log (SQLAlchemy; SQLite by default).

Decisions and their enforcements are written in one transaction, so nothing is ever half-stored.
SQLite runs in WAL mode with a busy timeout (one writer, many readers, no "database is locked"
on a busy NOC box); any SQLAlchemy URL works, PostgreSQL for several enforcer instances.
Timestamps are stored as naive UTC and come back timezone-aware.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import create_engine, event, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from .model import Decision, Enforcement, Prefix, Status, Violation, now
from .tables import (
    AppliedRow,
    AuditEntry,
    AuditRow,
    Base,
    DecisionRecord,
    DecisionRow,
    EnforcementRow,
    SerialRow,
    aware_utc,
    decision_record,
    naive_utc,
)


class DuplicateDecision(Exception):
    """An idempotency key seen before; carries the id of the decision that already holds it."""

    def __init__(self, decision_id: int):
        self.decision_id = decision_id
        super().__init__(f"decision {decision_id} already holds this idempotency key")


class Store:
    def __init__(self, url: str):
        self.url = url
        is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {"future": True}
        if is_sqlite:
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        self.engine = create_engine(url, **kwargs)
        if is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        Base.metadata.create_all(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        _count_changes(self)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions() as s, s.begin():
            yield s

    # ------------------------------------------------------------ writes

    def add_decision(
        self,
        decision: Decision,
        *,
        customer: str | None,
        step: int,
        clause: str,
        expires_at: datetime | None,
        enforcements: list[dict[str, Any]],
        status: Status = Status.ACTIVE,
    ) -> DecisionRecord:
        """Store a decision, its enforcements and the audit entry atomically.

        Raises :class:`DuplicateDecision` when the idempotency key is already stored.
        """
        at = now()
        try:
            with self.session() as s:
                row = DecisionRow(
                    target=str(decision.target),
                    violation=decision.violation.value,
                    source=decision.source,
                    actor=decision.actor,
                    reason=decision.reason,
                    customer=customer,
                    asn=decision.asn,
                    forced=decision.force,
                    step=step,
                    clause=clause,
                    idempotency_key=decision.idempotency_key,
                    created_at=naive_utc(at),
                    expires_at=naive_utc(expires_at),
                    status=status.value,
                )
                s.add(row)
                s.flush()
                for spec in enforcements:
                    s.add(
                        EnforcementRow(
                            decision_id=row.id,
                            violation=decision.violation.value,
                            customer=customer,
                            asn=decision.asn,
                            comment=decision.comment,
                            created_at=naive_utc(at),
                            status=status.value,
                            **{**spec, "expires_at": naive_utc(spec["expires_at"])},
                        )
                    )
                s.flush()
                s.add(
                    AuditRow(
                        at=naive_utc(at),
                        actor=decision.actor,
                        source=decision.source,
                        action="block-held" if status is Status.PENDING else (
                            "block-forced" if decision.force else "block"
                        ),
                        target=str(decision.target),
                        decision_id=row.id,
                        violation=decision.violation.value,
                        clause=clause,
                        reason=decision.reason,
                        detail={
                            "before": None,
                            "after": [
                                {k: (str(v) if k == "expires_at" else v) for k, v in spec.items()}
                                for spec in enforcements
                            ],
                            "step": step,
                            "expires_at": expires_at.isoformat() if expires_at else None,
                        },
                    )
                )
                s.flush()
                s.refresh(row)
                return decision_record(row)
        except IntegrityError:
            if decision.idempotency_key is None:
                raise
            existing = self.decision_by_key(decision.idempotency_key)
            if existing is None:
                raise
            raise DuplicateDecision(existing.id) from None

    def end_decision(self, decision_id: int, *, status: Status, actor: str, source: str, reason: str) -> DecisionRecord:
        """Unblock (``removed``) or expire a decision and all its enforcements, audited."""
        with self.session() as s:
            row = s.get(DecisionRow, decision_id)
            if row is None:
                raise KeyError(decision_id)
            before = row.status
            row.status = status.value
            for e in row.enforcements:
                if e.status in (Status.ACTIVE.value, Status.PENDING.value):
                    e.status = status.value
            s.add(
                AuditRow(
                    at=naive_utc(now()),
                    actor=actor,
                    source=source,
                    action="unblock" if status is Status.REMOVED else status.value,
                    target=row.target,
                    decision_id=row.id,
                    violation=row.violation,
                    clause=row.clause,
                    reason=reason,
                    detail={"before": before, "after": status.value},
                )
            )
            s.flush()
            return decision_record(row)

    def approve_decision(self, decision_id: int, *, actor: str, source: str, reason: str) -> DecisionRecord:
        """A held (pending) decision and its enforcements become active: they join the desired set."""
        with self.session() as s:
            row = s.get(DecisionRow, decision_id)
            if row is None or row.status != Status.PENDING.value:
                raise KeyError(decision_id)
            row.status = Status.ACTIVE.value
            for e in row.enforcements:
                if e.status == Status.PENDING.value:
                    e.status = Status.ACTIVE.value
            s.add(
                AuditRow(
                    at=naive_utc(now()),
                    actor=actor,
                    source=source,
                    action="approve",
                    target=row.target,
                    decision_id=row.id,
                    violation=row.violation,
                    clause=row.clause,
                    reason=reason,
                    detail={"before": Status.PENDING.value, "after": Status.ACTIVE.value},
                )
            )
            s.flush()
            return decision_record(row)

    def expire_due(self, at: datetime | None = None) -> list[DecisionRecord]:
        """Mark every decision whose enforcements have all passed their expiry as expired."""
        at = at or now()
        ended = []
        with self.session() as s:
            rows = s.scalars(
                select(EnforcementRow).where(
                    # Held (pending) decisions expire too: an approval after the TTL enforces nothing.
                    EnforcementRow.status.in_((Status.ACTIVE.value, Status.PENDING.value)),
                    EnforcementRow.expires_at.is_not(None),
                    EnforcementRow.expires_at <= naive_utc(at),
                )
            ).all()
            decision_ids = sorted({r.decision_id for r in rows})
            for r in rows:
                r.status = Status.EXPIRED.value
        for did in decision_ids:
            rec = self.get_decision(did)
            current = (Status.ACTIVE, Status.PENDING)
            if rec and rec.status in current and all(e.status not in current for e in rec.enforcements):
                ended.append(
                    self.end_decision(did, status=Status.EXPIRED, actor="enforcer", source="reconcile", reason="ttl")
                )
        return ended

    def audit(
        self,
        *,
        actor: str,
        source: str,
        action: str,
        target: str | None = None,
        decision_id: int | None = None,
        violation: str | None = None,
        clause: str = "",
        reason: str = "",
        detail: dict[str, Any] | None = None,
    ) -> None:
        with self.session() as s:
            s.add(
                AuditRow(
                    at=naive_utc(now()),
                    actor=actor,
                    source=source,
                    action=action,
                    target=target,
                    decision_id=decision_id,
                    violation=violation,
                    clause=clause,
                    reason=reason,
                    detail=json.loads(json.dumps(detail or {}, default=str)),
                )
            )

    def set_applied(self, device: str, section: str) -> None:
        with self.session() as s:
            row = s.get(AppliedRow, device)
            if row is None:
                s.add(AppliedRow(device=device, section=section, applied_at=naive_utc(now())))
            else:
                row.section = section
                row.applied_at = naive_utc(now())

    # ------------------------------------------------------------ reads

    def serial(self) -> int:
        """The change serial: moves with every decision or enforcement write (see :class:`SerialRow`)."""
        with self.session() as s:
            return s.scalar(select(SerialRow.value).where(SerialRow.id == 1)) or 0

    def last_applied(self, device: str) -> str | None:
        with self.session() as s:
            row = s.get(AppliedRow, device)
            return None if row is None else row.section

    def active_enforcements(self, at: datetime | None = None) -> list[Enforcement]:
        """The desired set: active enforcements not yet past their expiry."""
        at = at or now()
        table = EnforcementRow.__table__
        with self.session() as s:
            # Plain rows, not ORM objects: this runs on every plan, apply and OpenFlow sync.
            rows = s.execute(
                select(table)
                .where(table.c.status == Status.ACTIVE.value)
                .where((table.c.expires_at.is_(None)) | (table.c.expires_at > naive_utc(at)))
                .order_by(table.c.id)
            ).all()
            return [EnforcementRow.to_model(r) for r in rows]

    def get_decision(self, decision_id: int) -> DecisionRecord | None:
        with self.session() as s:
            row = s.get(DecisionRow, decision_id)
            return None if row is None else decision_record(row)

    def decision_by_key(self, key: str) -> DecisionRecord | None:
        with self.session() as s:
            row = s.scalars(select(DecisionRow).where(DecisionRow.idempotency_key == key)).first()
            return None if row is None else decision_record(row)

    def decisions(self, active_only: bool = True, target: Prefix | None = None) -> list[DecisionRecord]:
        with self.session() as s:
            q = select(DecisionRow).order_by(DecisionRow.id)
            if active_only:  # current decisions: enforced, or held for approval
                q = q.where(DecisionRow.status.in_((Status.ACTIVE.value, Status.PENDING.value)))
            if target is not None:
                q = q.where(DecisionRow.target == str(target))
            return [decision_record(r) for r in s.scalars(q).all()]

    def prior_offences(self, target: Prefix, violation: Violation, window: timedelta) -> int:
        """Decisions for the same target and category inside the escalation window (any status)."""
        since = naive_utc(now() - window)
        with self.session() as s:
            return s.scalar(
                select(func.count(DecisionRow.id)).where(
                    DecisionRow.target == str(target),
                    DecisionRow.violation == violation.value,
                    DecisionRow.created_at >= since,
                )
            ) or 0

    def count_since(self, since: datetime) -> int:
        with self.session() as s:
            return s.scalar(select(func.count(DecisionRow.id)).where(DecisionRow.created_at >= naive_utc(since))) or 0

    def count_active(self) -> int:
        with self.session() as s:
            return (
                s.scalar(select(func.count(EnforcementRow.id)).where(EnforcementRow.status == Status.ACTIVE.value))
                or 0
            )

    def history(self, limit: int = 100, decision_id: int | None = None) -> list[AuditEntry]:
        with self.session() as s:
            q = select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)
            if decision_id is not None:
                q = q.where(AuditRow.decision_id == decision_id)
            rows = s.scalars(q).all()
            return [
                AuditEntry(
                    id=r.id,
                    at=aware_utc(r.at),
                    actor=r.actor,
                    source=r.source,
                    action=r.action,
                    target=r.target,
                    decision_id=r.decision_id,
                    violation=r.violation,
                    clause=r.clause,
                    reason=r.reason,
                    detail=r.detail or {},
                )
                for r in reversed(rows)
            ]

    def snapshot(self) -> dict[str, int]:
        """Row counts, for tests that prove a refused request changed nothing."""
        with self.session() as s:
            return {
                t.__tablename__: s.scalar(select(func.count()).select_from(t)) or 0
                for t in (DecisionRow, EnforcementRow, AuditRow, AppliedRow)
            }


def _count_changes(store: Store) -> None:
    """Move the change serial inside every transaction that writes a decision or an enforcement.

    Hooked on the session, not on each write method: a flush holding a new, changed or deleted
    decision/enforcement row, or a bulk UPDATE/DELETE of those tables, bumps it in the same
    transaction, so the serial can never lag the desired set, whichever method wrote it.
    """
    watched = (DecisionRow, EnforcementRow)

    def bump(session: Session) -> None:
        conn = session.connection()  # not session.execute: that would flush, inside a flush
        if not conn.execute(update(SerialRow).where(SerialRow.id == 1).values(value=SerialRow.value + 1)).rowcount:
            conn.execute(insert(SerialRow).values(id=1, value=1))  # the table was emptied

    def on_flush(session: Session, *_: Any) -> None:
        dirty = (o for o in session.dirty if session.is_modified(o))
        if any(isinstance(o, watched) for o in (*session.new, *session.deleted, *dirty)):
            bump(session)

    def on_bulk(state: Any) -> None:
        if (state.is_update or state.is_delete) and state.bind_mapper and state.bind_mapper.class_ in watched:
            bump(state.session)

    try:
        with store.session() as s:
            if s.get(SerialRow, 1) is None:
                s.add(SerialRow(id=1, value=0))
    except IntegrityError:
        pass  # another process created it first
    event.listen(store._sessions, "before_flush", on_flush)
    event.listen(store._sessions, "do_orm_execute", on_bulk)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # FULL: a decision acknowledged (exit 0, HTTP 2xx) survives a power cut, not only a crash.
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


__all__ = [
    "AppliedRow",
    "AuditEntry",
    "AuditRow",
    "Base",
    "DecisionRecord",
    "DecisionRow",
    "DuplicateDecision",
    "EnforcementRow",
    "Store",
]
