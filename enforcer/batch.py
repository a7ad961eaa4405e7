"""One intake batch inside one write transaction: read once, decide in order, insert in bulk.

Per decision, :func:`enforcer.policy.decide` needs a snapshot (the decision in force for its
key, the same offence in force, the escalation count, the caps). Read one query per question
per decision, a batch of 1,000 costs 7,000 queries and 4,000 ORM flushes — 30 ms a decision on
the shared box. Here the questions are asked once for the whole batch (every key and every
target in one ``IN`` each), the answers are kept current in memory as each admitted decision is
added, and the rows go to the database in four bulk INSERTs at the end (decisions, enforcements,
holders, audit). The transaction holds the write lock throughout (:meth:`enforcer.store.Store.write`),
so nothing but this batch changes what was read.

The rows are written as the database driver takes them (:class:`_Encoder`): a batch's times and
JSON values repeat (one clock, one playbook step), so each distinct one is encoded once, and the
ids are the batch's own, given in the INSERTs (no ``RETURNING`` to order). Storing 10,000 this way
costs a fifth of what SQLAlchemy's per-row processing did (issue 12.5, ``bench/ingest.py --bulk``).
On PostgreSQL the rows go by ``COPY … FROM STDIN`` (psycopg 3's ``cursor.copy``) instead of an
executemany: one stream per table, in the same transaction, so a conflict still fails the whole
batch with SQLAlchemy's ``IntegrityError`` and nothing of it is kept (``tests/test_batch_copy.py``).

A decision that answers with one stored earlier in the same batch (a repeat, a retried key) is
rare; for it the pending rows are inserted first, so it answers with a real decision id.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, text
from sqlalchemy.exc import DBAPIError

from .admission import Tx, move_serial
from .model import ActionParams, Decision, Enforcement, Status, trusted
from .policy import EnforcementSpec, Snapshot
from .tables import (
    LIVE,
    AuditRow,
    DecisionRecord,
    DecisionRow,
    EnforcementRow,
    HolderRow,
    aware_utc,
    decision_record,
    naive_utc,
)

#: An in-batch decision not yet inserted: its position in :attr:`Batch.pending`.
Pending = int

# Built once (see enforcer.admission): a single submit runs each of these, and building them cost as much.
# On the table's columns, not the mapped class's: a Core select runs without the ORM's mapper
# configuration, which a preview (``block --dry-run``) then never pays (tests/test_cli_imports.py).
_D = DecisionRow.__table__.c
_BY_KEYS = select(_D.id, _D.idempotency_key, _D.status, _D.expires_at).where(
    _D.idempotency_key.in_(bindparam("keys", expanding=True)))
_BY_TARGETS = select(_D.id, _D.target, _D.violation, _D.source, _D.created_at, _D.status, _D.expires_at).where(
    _D.target.in_(bindparam("targets", expanding=True))).order_by(_D.id)
_LAST = {t: select(func.max(t.id)) for t in (DecisionRow, EnforcementRow)}
#: PostgreSQL: ``n`` ids from the table's own sequence, in one statement (the ids of concurrent
#: writers never collide; this batch's rows then go in one plain executemany, no RETURNING).
_NEXT_IDS = text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)")

#: Each enforcement row carries its write's serial from the INSERT itself (the serial moved first in
#: this transaction): SQLite's feed trigger then has nothing to stamp, and skips its second write
#: of the row (:mod:`enforcer.feed`); PostgreSQL's sets the same value in place.
_SERIAL_NOW = "(SELECT value FROM serial WHERE id = 1)"
#: Each backend's driver's named placeholder (sqlite3: ``:name``, psycopg: ``%(name)s``), for rows as dicts.
_PLACEHOLDER = {"sqlite": ":{}", "postgresql": "%({})s"}
_SQL: dict[tuple[str, str, frozenset[str]], str] = {}


def _copy_sql(model: type[Any], given: frozenset[str]) -> tuple[str, list[str]]:
    """PostgreSQL: the ``COPY`` of ``model``'s ``given`` columns, and their order in each row.

    No ``changed`` column: COPY takes values only, and the feed's BEFORE INSERT trigger stamps each
    row with the serial this transaction moved (:mod:`enforcer.feed`), as it does the INSERT's."""
    key = (model.__tablename__, "copy", given)
    sql = _SQL.get(key)
    names = [c.name for c in model.__table__.columns if c.name in given]
    if sql is None:
        sql = _SQL[key] = f"COPY {model.__tablename__} ({', '.join(names)}) FROM STDIN"
    return sql, names


def _insert_sql(model: type[Any], backend: str, given: frozenset[str]) -> str:
    """The plain ``INSERT`` of ``model``'s ``given`` columns, in the driver's own placeholders.

    Run as driver SQL (``exec_driver_sql``): the rows go to the driver's executemany as they are
    (encoded by :class:`_Encoder`). A Core ``insert()`` even over untyped columns still built
    every row's parameters again (``construct_params``), a tenth of storing 10,000 decisions."""
    key = (model.__tablename__, backend, given)
    sql = _SQL.get(key)
    if sql is None:
        mark = _PLACEHOLDER[backend]
        names = [c.name for c in model.__table__.columns if c.name in given]
        values = [mark.format(n) for n in names]
        if model is EnforcementRow:
            names.append("changed")
            values.append(_SERIAL_NOW)
        sql = _SQL[key] = f"INSERT INTO {model.__tablename__} ({', '.join(names)}) VALUES ({', '.join(values)})"
    return sql


#: ``json.dumps``'s own string encoder (its default, ``ensure_ascii``): the same text, without the call's set-up.
_string = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]
#: One item of a block's audit ``after`` list, as ``json.dumps`` prints the dict (its key order, its separators).
_AFTER = '{{"action": {}, "target": {}, "params": {}, "roles": {}, "expires_at": {}}}'


def block_detail(after: list[str], step: int, expires_at: datetime | None, cause: str | None) -> str:
    """A block's audit detail, the text ``json.dumps`` gives for ``{"before": None, "after": [...],
    "step", "expires_at", "cause"}``, from ``after``'s items already printed (:data:`_AFTER`: their
    parameters and roles are the batch's one JSON text each). ``json.dumps`` of the whole dict per
    decision was a tenth of storing 10,000; ``tests/test_batch_detail.py`` holds the two equal."""
    expiry = _string(expires_at.isoformat()) if expires_at else "null"
    return (f'{{"before": null, "after": [{", ".join(after)}], "step": {int(step)}, "expires_at": {expiry}, '
            f'"cause": {"null" if cause is None else _string(cause)}}}')


class _Encoder:
    """Values as the driver takes them, each distinct one encoded once per batch.

    Times go through the dialect's own DateTime processing (SQLite stores text; PostgreSQL's
    driver takes the datetime), JSON through ``json.dumps`` as SQLAlchemy's JSON type would;
    everything else (text, integers, booleans, None) the driver takes as it is.
    """

    def __init__(self, conn: Connection):
        dialect = conn.dialect
        self._time: Callable[[Any], Any] | None = DecisionRow.__table__.c.created_at.type.dialect_impl(
            dialect).bind_processor(dialect)
        self._times: dict[datetime | None, Any] = {}
        self._json: dict[int, tuple[object, str]] = {}  # id(value) → (value, its JSON): the value is kept alive

    def time(self, at: datetime | None) -> Any:
        """A naive UTC time as the driver takes it."""
        if at is None or self._time is None:
            return at
        out = self._times.get(at)
        if out is None:
            out = self._times[at] = self._time(at)
        return out

    def json(self, value: Any) -> str:
        """A JSON column's text; ``value`` repeats by identity (a step's parameters, a role list)."""
        got = self._json.get(id(value))
        if got is None:
            got = self._json[id(value)] = (value, json.dumps(value))
        return got[1]


@dataclass
class _Seen:
    """What the store (and the batch so far) holds for one target."""

    #: (violation, source) → the first decision in force for it: a stored id or a pending one.
    in_force: dict[tuple[str, str], int | tuple[str, Pending]] = field(default_factory=dict)
    #: violation → creation times (naive UTC) of every decision, for the escalation window.
    created: dict[str, list[datetime]] = field(default_factory=lambda: defaultdict(list))


@dataclass
class Added:
    """An admitted decision, as :meth:`Batch.flush` stored it."""

    decision_id: int
    status: Status
    step: int
    enforcements: list[Enforcement]


@dataclass
class _Queued:
    """A decision waiting for :meth:`Batch.flush`: its row, its enforcements' rows and models, its holder."""

    row: dict[str, Any]
    enforcements: list[dict[str, Any]]
    models: list[dict[str, Any]]  # each enforcement's typed values, in Enforcement's field order, ids to come
    holder: dict[str, Any]
    audit: int  # its audit entry's position in Batch.audits


class _Rendered:
    """A step's parameters as stored (a dict in the JSON column and the audit), made once per batch."""

    def __init__(self) -> None:
        self._dumped: dict[int, tuple[ActionParams, dict[str, Any]]] = {}
        self._roles: dict[frozenset[str], list[str]] = {}

    def params(self, params: ActionParams) -> dict[str, Any]:
        got = self._dumped.get(id(params))
        if got is None:
            got = self._dumped[id(params)] = (params, params.model_dump(mode="json"))
        return got[1]

    def roles(self, roles: frozenset[str]) -> list[str]:
        got = self._roles.get(roles)
        if got is None:
            got = self._roles[roles] = sorted(roles)
        return got


class Batch:
    """The snapshot reads and the inserts of one batch (``decisions`` are those it may be asked about)."""

    def __init__(self, tx: Tx, decisions: list[Decision], at: datetime):
        self.tx = tx
        self.at = at
        self.now = naive_utc(at)
        self._at = aware_utc(self.now)
        self.pending: list[_Queued] = []
        self.audits: list[dict[str, Any]] = []  # in order: a breaker's audit between two blocks stays between
        self.stored: list[Added] = []
        self._conn = tx.s.connection()
        self._enc = _Encoder(self._conn)
        self._rendered = _Rendered()
        self._untils: dict[datetime | None, tuple[Any, datetime | None, str]] = {}
        # Each target's text, once: str() of a network is a few microseconds, and it was taken four times per decision.
        self._text: dict[int, str] = {id(d): str(d.target) for d in decisions}
        keys = sorted({d.idempotency_key for d in decisions if d.idempotency_key})
        self.keys: dict[str, int | tuple[str, Pending]] = {}
        if keys:  # every decision that ever had these keys (few): those in force are told apart here
            for r in tx.s.execute(_BY_KEYS, {"keys": keys}):
                if self._in_force(r):
                    self.keys[r.idempotency_key] = r.id
        self.targets: dict[str, _Seen] = defaultdict(_Seen)
        targets = sorted(set(self._text.values()))
        rows = tx.s.execute(_BY_TARGETS, {"targets": targets}).all()
        for r in rows:
            seen = self.targets[r.target]
            seen.created[r.violation].append(r.created_at)
            if self._in_force(r):
                seen.in_force.setdefault((r.violation, r.source), r.id)

    def text(self, decision: Decision) -> str:
        """``str(decision.target)``, taken once per decision of the batch."""
        got = self._text.get(id(decision))
        return got if got is not None else str(decision.target)

    def _in_force(self, row: Any) -> bool:
        """:func:`enforcer.admission.in_force`, on a row already read."""
        return row.status in LIVE and (row.expires_at is None or row.expires_at > self.now)

    # ------------------------------------------------------------ the snapshot of one decision

    def snapshot(self, decision: Decision, window: timedelta, space: tuple, *, automatic: bool) -> Snapshot:
        """What :func:`enforcer.policy.decide` reads. The flood and breadth counts are read for a
        detector's decision only: the policy never applies them to an operator's (0 there)."""
        seen = self.targets[self.text(decision)]
        cutoff = naive_utc(self.at - window)
        by_key = self.keys.get(decision.idempotency_key) if decision.idempotency_key else None
        duplicate = seen.in_force.get((decision.violation.value, decision.source))
        minute = self.at - timedelta(minutes=1)
        created = seen.created.get(decision.violation.value)
        return Snapshot(
            by_key=self._record(by_key),
            duplicate=self._record(duplicate),
            new_automatic=self.tx.new_since(minute) if automatic else 0,
            new_from_source=self.tx.new_since(minute, source=decision.source, actor=decision.actor) if automatic else 0,
            active=self.tx.active(),
            prior=sum(t >= cutoff for t in created) if created else 0,  # type: ignore[operator]
            hosts_in_space=self.tx.automatic_within(space, self.at) if automatic else 0,
        )

    def _record(self, ref: int | tuple[str, Pending] | None) -> DecisionRecord | None:
        if ref is None:
            return None
        if isinstance(ref, tuple):  # stored earlier in this batch: insert what waits, then read it back
            self.flush()
            ref = self.stored[ref[1]].decision_id
        row = self.tx.s.get(DecisionRow, ref)
        assert row is not None
        return decision_record(row)

    # ------------------------------------------------------------ writes

    def add(self, decision: Decision, *, customer: str | None, step: int, clause: str, expires_at: datetime | None,
            specs: Sequence[EnforcementSpec], expiries: Sequence[datetime | None], status: Status,
            automatic: bool) -> Pending:
        """Queue a decision with its enforcements, first holder and audit entry; later items see it.

        ``expiries``: each spec's absolute expiry (``expires_at`` is the latest)."""
        enc, at, target = self._enc, self.now, self.text(decision)
        violation, state = decision.violation.value, status.value
        created = enc.time(at)
        row = {"target": target, "violation": violation, "source": decision.source, "actor": decision.actor,
               "reason": decision.reason, "customer": customer, "asn": decision.asn, "forced": decision.force,
               "step": step, "clause": clause, "idempotency_key": decision.idempotency_key, "automatic": automatic,
               "created_at": created, "expires_at": self._until(expires_at)[0], "status": state}
        ref: tuple[str, Pending] = ("pending", len(self.stored) + len(self.pending))
        comment = decision.comment
        rows, models, after = [], [], []
        for spec, until in zip(specs, expiries, strict=True):
            stored_until, aware_until, until_json = self._until(until)
            params, roles = self._rendered.params(spec.params), self._rendered.roles(spec.roles)
            spec_text = target if spec.target is decision.target else str(spec.target)
            params_json, roles_json = enc.json(params), enc.json(roles)
            rows.append({"action": spec.action.value, "target": spec_text, "violation": violation,
                         "params": params_json, "roles": roles_json, "customer": customer,
                         "asn": decision.asn, "comment": comment, "created_at": created,
                         "expires_at": stored_until, "status": state})
            models.append({"action": spec.action, "target": spec.target, "violation": decision.violation,
                           "params": spec.params, "roles": spec.roles, "customer": customer, "asn": decision.asn,
                           "comment": comment, "created_at": self._at, "expires_at": aware_until,
                           "status": status})
            after.append(_AFTER.format(_string(spec.action.value), _string(spec_text), params_json, roles_json,
                                       until_json))
        action = "block-held" if status is Status.PENDING else ("block-forced" if decision.force else "block")
        self.pending.append(_Queued(row, rows, models, {
            "source": decision.source, "actor": decision.actor, "cause": decision.cause or "",
            "since": created, "refreshed_at": created}, len(self.audits)))
        self.audits.append({
            "at": created, "actor": decision.actor, "source": decision.source, "action": action, "target": target,
            "decision_id": ref, "violation": violation, "clause": clause, "reason": decision.reason,
            "detail": block_detail(after, step, expires_at, decision.cause),
        })
        if decision.idempotency_key:
            self.keys[decision.idempotency_key] = ref
        seen = self.targets[target]
        seen.in_force.setdefault((violation, decision.source), ref)
        seen.created[violation].append(at)
        self.tx.tally.inserted(automatic=automatic, created_at=at, source=decision.source, actor=decision.actor,
                               target=decision.target, active=len(specs) if status is Status.ACTIVE else 0)
        return ref[1]

    def _until(self, until: datetime | None) -> tuple[Any, datetime | None, str]:
        """An expiry as the row stores it, as the model holds it, and as the audit's JSON prints it
        (``str(until)``): a batch's expiries repeat (one clock, one TTL per step), each is made once."""
        got = self._untils.get(until)
        if got is None:
            naive = naive_utc(until)
            got = self._untils[until] = (self._enc.time(naive), aware_utc(naive), _string(str(until)))
        return got

    def audit(self, **entry: Any) -> None:
        """An audit entry with no decision (a breaker's trip), in its place among the batch's."""
        detail = json.dumps(entry.pop("detail", None) or {}, default=str)
        self.audits.append({"at": self._enc.time(self.now), "decision_id": None, "clause": "", **entry,
                            "detail": detail})

    def _ids(self, model: type[DecisionRow] | type[EnforcementRow], n: int) -> list[int]:
        """``n`` new ids for ``model``'s rows, ascending: this batch's alone.

        SQLite: the ids after the largest one (this transaction holds SQLite's one write lock).
        PostgreSQL: from the table's sequence. Either way the rows go in one plain executemany:
        SQLAlchemy can order a multi-row ``INSERT … RETURNING`` only by a sentinel, which on
        PostgreSQL cost four times the insert itself and on SQLite fell back to a statement per row.
        """
        name = self._conn.dialect.name
        if name == "sqlite":
            first = (self._conn.scalar(_LAST[model]) or 0) + 1
            return list(range(first, first + n))
        if name == "postgresql":
            return sorted(self._conn.scalars(_NEXT_IDS, {"table": model.__tablename__, "n": n}))
        raise NotImplementedError(f"bulk intake on {name}")  # pragma: no cover - SQLite and PostgreSQL only

    def _insert(self, model: type[Any], rows: list[dict[str, Any]]) -> None:
        """``rows`` (dicts of the same columns) into ``model``'s table: one executemany, or on
        PostgreSQL one COPY (:meth:`_copy`)."""
        if self._conn.dialect.name == "postgresql":
            self._copy(model, rows)
            return
        sql = _insert_sql(model, self._conn.dialect.name, frozenset(rows[0]))
        self._conn.exec_driver_sql(sql, rows)  # type: ignore[arg-type]

    def _copy(self, model: type[Any], rows: list[dict[str, Any]]) -> None:
        """PostgreSQL: ``rows`` by ``COPY … FROM STDIN`` on this transaction's own connection.

        The pipelined executemany still sent a statement per row; COPY streams them all and the
        server parses each value by its column's type (times, JSON text, booleans as psycopg prints
        them). The driver's error is raised as SQLAlchemy would have raised it for the INSERT
        (``IntegrityError`` for a unique or foreign-key conflict); the transaction, failed on the
        server, is rolled back by the caller's ``with`` as before: no row of the batch is kept."""
        sql, names = _copy_sql(model, frozenset(rows[0]))
        dialect = self._conn.dialect
        raw = self._conn.connection.dbapi_connection
        assert raw is not None
        try:
            with raw.cursor() as cursor, cursor.copy(sql) as copy:
                for row in rows:
                    copy.write_row([row[n] for n in names])
        except dialect.loaded_dbapi.Error as exc:
            raise DBAPIError.instance(sql, None, exc, dialect.loaded_dbapi.Error, dialect=dialect) from exc

    def flush(self) -> list[Added]:
        """Insert every queued row (ids in queue order) and every audit entry; what was added, in order."""
        if self.pending:
            move_serial(self.tx.s)  # Core INSERTs, past the session's hooks: the desired set changes here
            ids = self._ids(DecisionRow, len(self.pending))
            for q, did in zip(self.pending, ids, strict=True):
                q.row["id"] = did
            self._insert(DecisionRow, [q.row for q in self.pending])
            erows = [e for q in self.pending for e in q.enforcements]
            eids = iter(self._ids(EnforcementRow, len(erows)) if erows else [])
            holders = []
            for q, did in zip(self.pending, ids, strict=True):
                added = []
                for e, m in zip(q.enforcements, q.models, strict=True):
                    eid = next(eids)
                    e["id"], e["decision_id"] = eid, did
                    added.append(trusted(Enforcement, {"id": eid, "decision_id": did, **m}))
                q.holder["decision_id"] = did
                holders.append(q.holder)
                self.audits[q.audit]["decision_id"] = did
                self.stored.append(Added(did, Status(q.row["status"]), q.row["step"], added))
            if erows:
                self._insert(EnforcementRow, erows)
            self._insert(HolderRow, holders)
            self.pending.clear()
        waiting = [a for a in self.audits if not isinstance(a.get("decision_id"), tuple)]
        if waiting:
            self._insert(AuditRow, waiting)
            self.audits = [a for a in self.audits if isinstance(a.get("decision_id"), tuple)]
        return self.stored
