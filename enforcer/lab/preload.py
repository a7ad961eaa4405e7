"""A busy day's active decisions straight into the store, for lab tests and benchmarks that need many fast.

Intake (guardrails, playbook, audit, holders; one flush per row) stored 20–300 decisions/s on the
shared 2-core machine, and the one-by-one ``Tx.insert`` path about 25/s under load: building
50,000 decisions that way took longer than the benchmark that needed them. Here the playbook runs
once (a dry-run submit of the first target, so the enforcements are exactly what intake would
derive) and its rows are copied for every target in bulk INSERTs of :data:`CHUNK` decisions. The
audit log and holders are not written: nothing that derives the desired set reads them. Not a
path for real decisions — the store's change serial moves as for any write (bulk INSERTs count).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, insert, select, update

from ..model import Decision, Status, now
from ..tables import DecisionRow, EnforcementRow, naive_utc

CHUNK = 5_000


def preload(
    ctx: Any, targets: Sequence[Any], violation: str = "malware-hosting", actor: str = "preload",
    ending: Sequence[int] = (),
) -> list[int]:
    """One active ``violation`` decision per target (``ctx``: an :class:`enforcer.service.Context`);
    their ids. ``ending``: decisions that end in the same transaction (a set replaced at once)."""
    from .. import service

    if not targets:
        return []
    template = service.submit(ctx, Decision.model_validate(
        {"target": str(targets[0]), "violation": violation, "actor": actor}), dry_run=True)  # fmt: skip
    at = naive_utc(now())
    expires = max((naive_utc(e.expires_at) for e in template.enforcements if e.expires_at), default=None)
    ids: list[int] = []
    with ctx.store.write() as tx:
        _end(tx, ending)
        next_id = (tx.s.scalar(select(func.max(DecisionRow.id))) or 0) + 1
        for start in range(0, len(targets), CHUNK):
            chunk = [str(t) for t in targets[start:start + CHUNK]]
            first = next_id + start
            decisions = [{"id": first + i, "target": t, "violation": violation, "source": "cli", "actor": actor,
                          "reason": "preload", "created_at": at, "expires_at": expires,
                          "status": Status.ACTIVE.value} for i, t in enumerate(chunk)]  # fmt: skip
            tx.s.execute(insert(DecisionRow), decisions)
            rows = [{"decision_id": first + i, "action": e.action.value, "target": f"{t}/{e.target.prefixlen}",
                     "violation": violation, "params": e.params.model_dump(mode="json"), "roles": sorted(e.roles),
                     "created_at": at, "expires_at": naive_utc(e.expires_at), "status": Status.ACTIVE.value}
                    for i, t in enumerate(chunk) for e in template.enforcements]  # fmt: skip
            tx.s.execute(insert(EnforcementRow), rows)
            ids += [d["id"] for d in decisions]
    return ids


def end(store: Any, ids: Sequence[int]) -> None:
    """End these decisions and their enforcements in one transaction (status removed)."""
    with store.write() as tx:
        _end(tx, ids)


def _end(tx: Any, ids: Sequence[int]) -> None:
    for start in range(0, len(ids), CHUNK):
        chunk = list(ids[start:start + CHUNK])
        tx.s.execute(update(DecisionRow).where(DecisionRow.id.in_(chunk)).values(status=Status.REMOVED.value))
        tx.s.execute(update(EnforcementRow).where(EnforcementRow.decision_id.in_(chunk))
                     .values(status=Status.REMOVED.value))  # fmt: skip
