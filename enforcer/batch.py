"""One intake batch inside one write transaction: read once, decide in order, insert in bulk.

Per decision, :func:`enforcer.policy.decide` needs a snapshot (the decision in force for its
key, the same offence in force, the escalation count, the caps). Read one query per question
per decision, a batch of 1,000 costs 7,000 queries and 4,000 ORM flushes — 30 ms a decision on
the shared box. Here the questions are asked once for the whole batch (every key and every
target in one ``IN`` each), the answers are kept current in memory as each admitted decision is
added, and the rows go to the database in four bulk INSERTs at the end (decisions, enforcements,
holders, audit). The transaction holds the write lock throughout (:meth:`enforcer.store.Store.write`),
so nothing but this batch changes what was read.

A decision that answers with one stored earlier in the same batch (a repeat, a retried key) is
rare; for it the pending rows are inserted first, so it answers with a real decision id.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import bindparam, func, insert, select

from .admission import Tx, move_serial
from .model import Decision, Enforcement, Status
from .policy import Snapshot
from .tables import LIVE, AuditRow, DecisionRecord, DecisionRow, EnforcementRow, HolderRow, decision_record, naive_utc

#: An in-batch decision not yet inserted: its position in :attr:`Batch.pending`.
Pending = int

# Built once (see enforcer.admission): a single submit runs each of these, and building them cost as much.
_BY_KEYS = select(DecisionRow.id, DecisionRow.idempotency_key, DecisionRow.status, DecisionRow.expires_at).where(
    DecisionRow.idempotency_key.in_(bindparam("keys", expanding=True)))
_BY_TARGETS = select(DecisionRow.id, DecisionRow.target, DecisionRow.violation, DecisionRow.source,
                     DecisionRow.created_at, DecisionRow.status, DecisionRow.expires_at).where(
    DecisionRow.target.in_(bindparam("targets", expanding=True))).order_by(DecisionRow.id)
_INSERT: dict[type, Any] = {t: insert(t) for t in (DecisionRow, EnforcementRow, HolderRow, AuditRow)}
_RETURNING = {t: insert(t).returning(t.id, sort_by_parameter_order=True) for t in (DecisionRow, EnforcementRow)}
_LAST = {t: select(func.max(t.id)) for t in (DecisionRow, EnforcementRow)}


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


class Batch:
    """The snapshot reads and the inserts of one batch (``decisions`` are those it may be asked about)."""

    def __init__(self, tx: Tx, decisions: list[Decision], at: datetime):
        self.tx = tx
        self.at = at
        self.now = naive_utc(at)
        self.pending: list[dict[str, Any]] = []  # decision rows, with their enforcement/holder/audit rows
        self.audits: list[dict[str, Any]] = []  # in order: a breaker's audit between two blocks stays between
        self.stored: list[Added] = []
        keys = sorted({d.idempotency_key for d in decisions if d.idempotency_key})
        self.keys: dict[str, int | tuple[str, Pending]] = {}
        if keys:  # every decision that ever had these keys (few): those in force are told apart here
            for r in tx.s.execute(_BY_KEYS, {"keys": keys}):
                if self._in_force(r):
                    self.keys[r.idempotency_key] = r.id
        self.targets: dict[str, _Seen] = defaultdict(_Seen)
        targets = sorted({str(d.target) for d in decisions})
        rows = tx.s.execute(_BY_TARGETS, {"targets": targets}).all()
        for r in rows:
            seen = self.targets[r.target]
            seen.created[r.violation].append(r.created_at)
            if self._in_force(r):
                seen.in_force.setdefault((r.violation, r.source), r.id)

    def _in_force(self, row: Any) -> bool:
        """:func:`enforcer.admission.in_force`, on a row already read."""
        return row.status in LIVE and (row.expires_at is None or row.expires_at > self.now)

    # ------------------------------------------------------------ the snapshot of one decision

    def snapshot(self, decision: Decision, window: timedelta, space: tuple, *, automatic: bool) -> Snapshot:
        """What :func:`enforcer.policy.decide` reads. The flood and breadth counts are read for a
        detector's decision only: the policy never applies them to an operator's (0 there)."""
        seen = self.targets[str(decision.target)]
        cutoff = naive_utc(self.at - window)
        by_key = self.keys.get(decision.idempotency_key) if decision.idempotency_key else None
        duplicate = seen.in_force.get((decision.violation.value, decision.source))
        minute = self.at - timedelta(minutes=1)
        return Snapshot(
            by_key=self._record(by_key),
            duplicate=self._record(duplicate),
            new_automatic=self.tx.new_since(minute) if automatic else 0,
            new_from_source=self.tx.new_since(minute, source=decision.source, actor=decision.actor) if automatic else 0,
            active=self.tx.active(),
            prior=sum(t >= cutoff for t in seen.created[decision.violation.value]),  # type: ignore[operator]
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
            enforcements: list[dict[str, Any]], status: Status, automatic: bool) -> Pending:
        """Queue a decision with its enforcements, first holder and audit entry; later items see it."""
        at = self.now
        row = {"target": str(decision.target), "violation": decision.violation.value, "source": decision.source,
               "actor": decision.actor, "reason": decision.reason, "customer": customer, "asn": decision.asn,
               "forced": decision.force, "step": step, "clause": clause, "idempotency_key": decision.idempotency_key,
               "automatic": automatic, "created_at": at, "expires_at": naive_utc(expires_at), "status": status.value}
        ref: tuple[str, Pending] = ("pending", len(self.stored) + len(self.pending))
        common = {"violation": row["violation"], "customer": customer, "asn": decision.asn,
                  "comment": decision.comment, "created_at": at, "status": status.value}
        action = "block-held" if status is Status.PENDING else ("block-forced" if decision.force else "block")
        self.pending.append({
            "row": row,
            "enforcements": [{**spec, **common, "expires_at": naive_utc(spec["expires_at"])} for spec in enforcements],
            "holder": {"source": decision.source, "actor": decision.actor, "cause": decision.cause or "",
                       "since": at, "refreshed_at": at},
            "audit": len(self.audits),
        })
        self.audits.append({
            "at": at, "actor": decision.actor, "source": decision.source, "action": action, "target": row["target"],
            "decision_id": ref, "violation": row["violation"], "clause": clause, "reason": decision.reason,
            "detail": {"before": None,
                       "after": [{k: (str(v) if k == "expires_at" else v) for k, v in spec.items()}
                                 for spec in enforcements],
                       "step": step, "expires_at": expires_at.isoformat() if expires_at else None,
                       "cause": decision.cause},
        })
        if decision.idempotency_key:
            self.keys[decision.idempotency_key] = ref
        seen = self.targets[row["target"]]
        seen.in_force.setdefault((row["violation"], row["source"]), ref)
        seen.created[row["violation"]].append(at)
        self.tx.tally.inserted(SimpleNamespace(**row), len(enforcements) if status is Status.ACTIVE else 0)
        return ref[1]

    def audit(self, **entry: Any) -> None:
        """An audit entry with no decision (a breaker's trip), in its place among the batch's."""
        self.audits.append({"at": self.now, "decision_id": None, "clause": "", **entry})

    def _insert(self, table: type[DecisionRow] | type[EnforcementRow], rows: list[dict[str, Any]]) -> list[int]:
        """Insert ``rows``; their ids, in order.

        PostgreSQL: one multi-row INSERT … RETURNING, ordered by SQLAlchemy's sentinel. SQLite has
        no such ordering, and SQLAlchemy falls back to one INSERT per row (2,000 statements for a
        list of 1,000); but this transaction holds SQLite's one write lock, so the ids after the
        largest one are this batch's alone: they are given explicitly, in one executemany.
        """
        conn = self.tx.s.connection()
        if conn.dialect.name != "sqlite":
            return list(conn.scalars(_RETURNING[table], rows).all())
        first = (conn.scalar(_LAST[table]) or 0) + 1
        ids = list(range(first, first + len(rows)))
        conn.execute(_INSERT[table], [{**r, "id": i} for r, i in zip(rows, ids, strict=True)])
        return ids

    def flush(self) -> list[Added]:
        """Insert every queued row (ids in queue order) and every audit entry; what was added, in order."""
        s = self.tx.s
        if self.pending:
            move_serial(s)  # Core INSERTs, past the session's hooks: the desired set changes here
            ids = self._insert(DecisionRow, [p["row"] for p in self.pending])
            erows = [{**e, "decision_id": did} for p, did in zip(self.pending, ids, strict=True)
                     for e in p["enforcements"]]
            eids = iter(self._insert(EnforcementRow, erows) if erows else [])
            s.connection().execute(_INSERT[HolderRow], [{**p["holder"], "decision_id": did}
                                                       for p, did in zip(self.pending, ids, strict=True)])
            for p, did in zip(self.pending, ids, strict=True):
                self.audits[p["audit"]]["decision_id"] = did
                self.stored.append(Added(did, Status(p["row"]["status"]), p["row"]["step"], [
                    EnforcementRow.to_model(SimpleNamespace(**e, id=next(eids), decision_id=did))  # type: ignore[arg-type]
                    for e in p["enforcements"]]))
            self.pending.clear()
        waiting = [a for a in self.audits if not isinstance(a.get("decision_id"), tuple)]
        if waiting:
            s.connection().execute(_INSERT[AuditRow], waiting)
            self.audits = [a for a in self.audits if isinstance(a.get("decision_id"), tuple)]
        return self.stored
