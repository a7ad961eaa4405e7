"""The durable desired set and the append-only audit log (SQLAlchemy; SQLite by default).

Decisions and their enforcements are written in one transaction, so nothing is ever half-stored.
SQLite runs in WAL mode with a busy timeout (one writer, many readers, no "database is locked"
on a busy NOC box); any SQLAlchemy URL works, PostgreSQL for several enforcer instances.
Timestamps are stored as naive UTC and come back timezone-aware.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Text, cast, create_engine, event, func, select, text, type_coerce
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from .admission import ActiveCount, Tx, move_serial
from .collector import bulk_work
from .migrate import migrate
from .model import Decision, Enforcement, Prefix, Refused, Status, now
from .tables import (
    LIVE,
    STORED,
    AppliedRow,
    AuditEntry,
    AuditRow,
    Base,
    DecisionRecord,
    DecisionRow,
    EnforcementRow,
    HolderRow,
    SerialRow,
    aware_utc,
    decision_record,
    enforcement_from,
    naive_utc,
)


class DuplicateDecision(Exception):
    """An idempotency key seen before; carries the id of the decision that already holds it."""

    def __init__(self, decision_id: int):
        self.decision_id = decision_id
        super().__init__(f"decision {decision_id} already holds this idempotency key")


#: SQLite connections kept open per store (each is a file handle, not a server process).
SQLITE_POOL = 32

#: The PostgreSQL advisory lock every intake write transaction takes ("enfw"): writers queue on it.
WRITE_LOCK = 0x656E6677


class Store:
    def __init__(self, url: str):
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {"future": True}
        if self.is_sqlite:
            _private_file(url)
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
            # serve's request threads, group-commit leaders and device workers use a connection each at
            # once: past the default 5 kept, every checkout opened a file and ran the pragmas anew.
            kwargs.update(pool_size=SQLITE_POOL, max_overflow=SQLITE_POOL)
        self.engine = create_engine(url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
            event.listen(self.engine, "begin", _sqlite_begin)
        serial = SerialRow.__table__
        #: the change serial's row, read by the same statement that finds the schema current
        found = migrate(self.engine, [select(serial.c.value).where(serial.c.id == 1).scalar_subquery()])
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._writers = threading.RLock()
        self._active = ActiveCount()  # the last intake commit's active count (Tx.active)
        #: (change serial, every active enforcement then): answers the next read while the serial stands
        self._desired: tuple[int, list[Enforcement]] | None = None
        _count_changes(self, serial_row=found is not None and found[0] is not None)

    @contextmanager
    def session(self, *, write: bool = False) -> Iterator[Session]:
        """A transaction; ``write=True`` for one that writes (an audit entry, a device's applied section).

        On SQLite a writing session queues on the process's writer lock and takes the database's
        write lock at its start, as :meth:`write` does: left to SQLite's busy handler (which polls
        with sleeps of up to 100 ms) a device worker's audit entry that met an intake transaction
        slept while holding nothing, and an intake transaction that met the worker's slept while
        holding the writer lock, so every writer behind it slept too — 80 % of a single submit's
        time in serve with the loop on. PostgreSQL needs neither: its rows lock one by one.
        """
        queued = write and self.is_sqlite
        with self._writers if queued else nullcontext(), self._sessions() as s, s.begin():
            if queued:
                s.connection(execution_options={"enforcer_immediate": True})
            yield s

    @contextmanager
    def write(self) -> Iterator[Tx]:
        """One write transaction that serialises writers: what it reads stays true until it commits.

        SQLite: ``BEGIN IMMEDIATE`` (the write lock is taken before the first read, not at the
        first write, so two submits cannot both count 4 under a cap of 5). PostgreSQL: a
        transaction-scoped advisory lock, released by the commit; reads after it see every
        earlier writer's commit (READ COMMITTED takes a new snapshot per statement).

        SQLite's writers of one process queue on a lock here first: SQLite's own busy handler
        polls with sleeps, and under serve's request threads and device workers a writer could
        lose every poll for the whole busy timeout ("database is locked", a 500 on a loaded box).
        Other processes still meet the busy timeout. On PostgreSQL this process's writers queue
        there too, ahead of the advisory lock they would wait on anyway: group commit's leader
        waits in that queue before it takes its group (:meth:`queued`).
        """
        with self._writers, self._sessions() as s:
            with s.begin():
                if self.is_sqlite:
                    s.connection(execution_options={"enforcer_immediate": True})
                else:
                    s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": WRITE_LOCK})
                tx = Tx(s, counts=self._active)
                yield tx
            if tx.kept is not None:  # committed: the count intake left, at the serial it left (Tx.active)
                self._active.at = tx.kept

    def queued(self) -> AbstractContextManager[Any]:
        """This process's place in the writers' queue: the re-entrant lock every :meth:`write` (and
        on SQLite every writing session) queues on. Group commit's leader waits here before it
        takes its group (:mod:`enforcer.groupcommit`), then writes without waiting again."""
        return self._writers

    @contextmanager
    def reading(self) -> Iterator[Tx]:
        """The same reads as :meth:`write` in a transaction that is never committed (dry runs)."""
        with self._sessions() as s:
            yield Tx(s)
            s.rollback()

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
        automatic: bool = False,
    ) -> DecisionRecord:
        """Store a decision, its enforcements and the audit entry atomically.

        Raises :class:`DuplicateDecision` when a decision in force already holds the idempotency key.
        """
        at = now()
        with self.write() as tx:
            held = tx.by_key(decision.idempotency_key, at)
            if held is not None:
                raise DuplicateDecision(held.id)
            tx.expire_due(at)  # a key whose decision's TTL passed is free: mark that decision expired first
            return tx.insert(decision, customer=customer, step=step, clause=clause, expires_at=expires_at,
                             enforcements=enforcements, status=status, automatic=automatic, at=at)

    def end_decision(
        self, decision_id: int, *, status: Status, actor: str, source: str, reason: str, action: str | None = None
    ) -> DecisionRecord:
        """Unblock (``removed``), reject (``action="reject"``) or expire a decision and its enforcements, audited."""
        with self.write() as tx:
            row = tx.s.get(DecisionRow, decision_id)
            if row is None:
                raise KeyError(decision_id)
            tx.end(row, status=status, actor=actor, source=source, reason=reason, at=now(), action=action)
            tx.s.flush()
            return decision_record(row)

    def approve_decision(
        self, decision_id: int, *, actor: str, source: str, reason: str, max_active: int | None = None
    ) -> DecisionRecord:
        """A held (pending) decision and its enforcements become active: they join the desired set.

        ``max_active``: the blast-radius cap holds for approvals too (checked in the same transaction).
        """
        with self.write() as tx:
            row = tx.s.get(DecisionRow, decision_id)
            if row is None or row.status != Status.PENDING.value:
                raise KeyError(decision_id)
            adding = sum(e.status == Status.PENDING.value for e in row.enforcements)
            active = tx.active()
            if max_active is not None and active + adding > max_active:
                raise Refused("blast_radius", f"{active} active enforcements; the cap is {max_active}")
            row.status = Status.ACTIVE.value
            for e in row.enforcements:
                if e.status == Status.PENDING.value:
                    e.status = Status.ACTIVE.value
            tx.audit(now(), actor=actor, source=source, action="approve", row=row, reason=reason,
                     detail={"before": Status.PENDING.value, "after": Status.ACTIVE.value})
            tx.s.flush()
            return decision_record(row)

    def expire_due(self, at: datetime | None = None) -> list[DecisionRecord]:
        """Mark every decision whose enforcements have all passed their expiry as expired (one transaction)."""
        with self.write() as tx:
            return [decision_record(r) for r in tx.expire_due(at or now())]

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
        self.pushed(audit={"actor": actor, "source": source, "action": action, "target": target,
                           "decision_id": decision_id, "violation": violation, "clause": clause, "reason": reason,
                           "detail": detail})

    def set_applied(self, device: str, section: str) -> None:
        self.pushed((device, section))

    def pushed(self, applied: tuple[str, str] | None = None, audit: dict[str, Any] | None = None) -> None:
        """What a push leaves, in one transaction: ``applied`` (device, the section it now holds:
        an offline device's live state) and an audit entry (:meth:`audit`'s keywords).

        One write, not two: serve's device workers write after every push, and each write is a
        turn of the write lock that intake waits for.
        """
        at = naive_utc(now())
        with self.session(write=True) as s:
            if applied is not None:
                device, section = applied
                row = s.get(AppliedRow, device)
                if row is None:
                    s.add(AppliedRow(device=device, section=section, applied_at=at))
                else:
                    row.section, row.applied_at = section, at
            if audit is not None:
                detail = json.loads(json.dumps(audit.get("detail") or {}, default=str))
                s.add(AuditRow(at=at, **{"clause": "", "reason": "", **audit, "detail": detail}))

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
        """The desired set: active enforcements not yet past their expiry, in id order.

        The rows are read again only when the change serial moved since the last read (it moves in
        the transaction of every decision or enforcement write, :func:`_count_changes`): a script
        rendering seven devices, or a plan then a push, read 10,000 rows into models once per call.
        The serial is read first, in the rows' transaction, so rows newer than it only make the next
        call read again. Expiry is decided here, at ``at``, over the active rows kept."""
        at = (at or now()).astimezone(UTC)  # a naive ``at`` is local time, as naive_utc reads it
        with self.session() as s:
            serial = s.scalar(select(SerialRow.value).where(SerialRow.id == 1)) or 0
            kept = self._desired
            if kept is None or kept[0] != serial:
                kept = (serial, self._read_active(s))
                self._desired = kept
        return [e for e in kept[1] if e.expires_at is None or e.expires_at > at]

    def _read_active(self, s: Session) -> list[Enforcement]:
        """Every enforcement with status active, expired or not, as models (plain rows, not ORM
        objects: this runs on every plan, apply and OpenFlow sync after a change).

        Sorted by id here, not by ``ORDER BY``: the rows come by ``ix_enforcements_due`` (status,
        expiry), and the database's sort of the whole wide rows cost more than sorting ids."""
        table = EnforcementRow.__table__
        q = select(*_rows_as_stored()).where(table.c.status == Status.ACTIVE.value)
        with bulk_work():
            return [enforcement_from(*r) for r in sorted(s.execute(q).all(), key=_first)]

    def active_keys(self, at: datetime | None = None, role: str | None = None) -> list[tuple[int, datetime | None]]:
        """(id, expiry) of the active enforcements a device of ``role`` may carry (no roles named,
        or ``role`` among them): two columns, filtered in SQL, so a caller that keeps the models
        it read before (:mod:`enforcer.desired`) loads only the new rows. In id order, sorted here
        as :meth:`_read_active` sorts."""
        table = EnforcementRow.__table__
        q = _active(select(table.c.id, table.c.expires_at), at or now())
        if role is not None:
            # JSON lists are stored as text on SQLite and PostgreSQL alike: '["edge", "core"]'. A
            # LIKE may match a little more (a "_" in a role name); build_section filters exactly.
            roles = cast(table.c.roles, Text)
            q = q.where(table.c.roles.is_(None) | roles.in_(("[]", "null")) | roles.like(f'%"{role}"%'))
        with self.session() as s:
            return [(i, aware_utc(x)) for i, x in sorted(s.execute(q).all(), key=_first)]

    def enforcements_by_id(self, ids: list[int]) -> list[Enforcement]:
        """The enforcements with these ids (any status), in id order, read in chunks of 500."""
        table = EnforcementRow.__table__
        out: list[Enforcement] = []
        with self.session() as s, bulk_work():
            for i in range(0, len(ids), 500):
                rows = s.execute(select(*_rows_as_stored()).where(table.c.id.in_(ids[i:i + 500]))
                                 .order_by(table.c.id)).all()
                out.extend(enforcement_from(*r) for r in rows)
        return out

    def enforcements_changed_since(self, serial: int) -> list[Enforcement]:
        """The change feed: every enforcement written after change serial ``serial`` (any status;
        one index range, :mod:`enforcer.feed`), in id order. Read the serial first: every write up
        to it is then in the answer."""
        table = EnforcementRow.__table__
        with self.session() as s:
            # sorted here: with ORDER BY id, SQLite (no ANALYZE) scans the table in id order instead of
            # the ``changed`` index — every active row per read (10,000 active: 5.9 → 1.1 ms a call)
            rows = s.execute(select(*_rows_as_stored()).where(table.c.changed > serial)).all()
            return sorted((enforcement_from(*r) for r in rows), key=lambda e: e.id)

    def get_decision(self, decision_id: int) -> DecisionRecord | None:
        with self.session() as s:
            row = s.get(DecisionRow, decision_id)
            return None if row is None else decision_record(row)

    def decision_by_key(self, key: str) -> DecisionRecord | None:
        """The newest decision that carried ``key`` (in force or not: the key is live only while it is)."""
        with self.session() as s:
            row = s.scalars(select(DecisionRow).where(DecisionRow.idempotency_key == key)
                            .order_by(DecisionRow.id.desc())).first()
            return None if row is None else decision_record(row)

    def decisions(self, active_only: bool = True, target: Prefix | None = None) -> list[DecisionRecord]:
        with self.session() as s:
            q = select(DecisionRow).order_by(DecisionRow.id)
            if active_only:  # current decisions: enforced, or held for approval
                q = q.where(DecisionRow.status.in_((Status.ACTIVE.value, Status.PENDING.value)))
            if target is not None:
                q = q.where(DecisionRow.target == str(target))
            return [decision_record(r) for r in s.scalars(q).all()]

    def holds(self, source: str, actor: str) -> list[tuple[str, str]]:
        """``(target, cause)`` of every hold ``source``/``actor`` has on a current decision: what a
        detector that can list its own open alerts (CrowdSec's startup stream) compares them with.

        Read from the caller's holders (``ix_holders_caller``), each decision by its id, the status
        checked here: a status in the query let PostgreSQL read every live decision (the live-key
        index holds exactly those) and probe each one's holders instead (migration 0008)."""
        with self.session() as s:
            rows = s.execute(
                select(DecisionRow.target, HolderRow.cause, DecisionRow.status)
                .select_from(HolderRow)
                .join(DecisionRow, HolderRow.decision_id == DecisionRow.id)
                .where(HolderRow.source == source, HolderRow.actor == actor)
                .order_by(DecisionRow.id, HolderRow.cause)
            ).all()
        return [(target, cause) for target, cause, status in rows if status in LIVE]

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
                for t in (DecisionRow, EnforcementRow, HolderRow, AuditRow, AppliedRow)
            }


def _rows_as_stored() -> list[Any]:
    """The enforcements table's columns, its JSON ones (params, roles) as the text stored: the
    model cache keys on that text (:meth:`EnforcementRow.to_model`), and decoding then encoding
    it again per row was a fifth of reading 100,000. A driver that decodes JSON itself
    (psycopg) still hands over the values, which to_model encodes as before."""
    columns = EnforcementRow.__table__.c
    return [type_coerce(columns[name], Text).label(name) if name in ("params", "roles") else columns[name]
            for name in STORED]


def _first(row: Any) -> Any:
    """A row's first column (its id), the key the active set is sorted by."""
    return row[0]


def _active(q: Any, at: datetime) -> Any:
    """``q`` narrowed to the desired set at ``at``: active and not yet past its expiry."""
    table = EnforcementRow.__table__
    return q.where(table.c.status == Status.ACTIVE.value).where(
        table.c.expires_at.is_(None) | (table.c.expires_at > naive_utc(at)))


def _count_changes(store: Store, serial_row: bool) -> None:
    """Move the change serial inside every transaction that writes a decision or an enforcement.

    Hooked on the session, not on each write method: a flush holding a new, changed or deleted
    decision/enforcement row, or a bulk UPDATE/DELETE of those tables, bumps it in the same
    transaction, so the serial can never lag the desired set, whichever method wrote it (a bulk
    INSERT of an intake batch too). ``serial_row``: the store's open found the serial's row (else
    it is made here).
    """
    watched = (DecisionRow, EnforcementRow)

    bump = move_serial

    def on_flush(session: Session, *_: Any) -> None:
        dirty = (o for o in session.dirty if session.is_modified(o))
        if any(isinstance(o, watched) for o in (*session.new, *session.deleted, *dirty)):
            bump(session)

    def on_bulk(state: Any) -> None:
        writes = state.is_insert or state.is_update or state.is_delete
        if writes and state.bind_mapper and state.bind_mapper.class_ in watched:
            bump(state.session)

    try:
        if not serial_row:
            with store.session() as s:
                if s.get(SerialRow, 1) is None:
                    s.add(SerialRow(id=1, value=0))
    except IntegrityError:
        pass  # another process created it first
    event.listen(store._sessions, "before_flush", on_flush)
    event.listen(store._sessions, "do_orm_execute", on_bulk)


def _private_file(url: str) -> None:
    """Create a new SQLite store file 0600: it holds every decision, customer and API token hash.

    SQLite gives its -wal and -shm files the database file's mode, so they are private too.
    """
    path = make_url(url).database
    if not path or path == ":memory:" or os.path.exists(path):
        return
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


def _sqlite_begin(conn: Any) -> None:
    """:meth:`Store.write` begins IMMEDIATE itself; pysqlite's own BEGIN (before the first write) would
    come too late, after the reads the guardrails count. Other transactions keep pysqlite's begin."""
    if conn.get_execution_options().get("enforcer_immediate"):
        conn.exec_driver_sql("BEGIN IMMEDIATE")


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
    "HolderRow",
    "Store",
]
