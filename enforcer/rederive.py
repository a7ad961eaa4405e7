"""The desired set as the *current* playbooks would make it from the stored decisions.

A stored enforcement keeps the action and parameters its playbook gave it when it was decided, so
that editing a playbook never silently changes what is on the network. That is right for
``apply`` and wrong for review: a pull request that changes the spam playbook's ports plans "no
changes". ``enforcer plan --rederive`` plans with this set instead, and lists, per decision,
what the new playbooks change — the review answer to "what would this playbook change do to the
blocks already in force?".

Each active decision keeps its ladder step (its offence count when decided), target, customer,
expiry and enforcement ids (the ids appear in the rendered output); only what the playbook
decides — action, parameters, roles — is taken from the current playbook's rung for that step.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from .model import Decision, Enforcement, Status, Violation, now
from .policy import Playbook, enforcements_for
from .tables import DecisionRecord


class PlaybookChange(BaseModel):
    """One decision whose enforcement the current playbook would make differently."""

    model_config = ConfigDict(frozen=True)
    decision_id: int
    target: str
    violation: Violation
    changes: dict[str, tuple[str, str]]  # field → (stored, re-derived), as text


def rederive(records: list[DecisionRecord], playbooks: dict[Violation, Playbook],
             at: datetime | None = None) -> tuple[list[Enforcement], list[PlaybookChange]]:  # fmt: skip
    """(the re-derived desired set, the decisions it changes) from the active decision records."""
    at = at or now()
    desired: list[Enforcement] = []
    changed: list[PlaybookChange] = []
    for rec in records:
        stored = [e for e in rec.enforcements
                  if e.status is Status.ACTIVE and (e.expires_at is None or e.expires_at > at)]  # fmt: skip
        if rec.status is not Status.ACTIVE or not stored or rec.violation not in playbooks:
            desired += stored
            continue
        decision = Decision(target=rec.target, violation=rec.violation, customer=rec.customer, asn=rec.asn)
        _, specs = enforcements_for(decision, playbooks[rec.violation], rec.step)
        first = stored[0]
        fresh = [first.model_copy(update={"action": s.action, "params": s.params, "roles": s.roles}) for s in specs]
        desired += fresh
        diff = _differences(first, fresh[0])
        if diff:
            changed.append(PlaybookChange(decision_id=rec.id, target=rec.target, violation=rec.violation, changes=diff))
    return sorted(desired, key=lambda e: e.id), changed


def _differences(stored: Enforcement, fresh: Enforcement) -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    if stored.action != fresh.action:
        out["action"] = (stored.action.value, fresh.action.value)
    old, new = stored.params.model_dump(mode="json"), fresh.params.model_dump(mode="json")
    for key in sorted(old.keys() | new.keys()):
        if old.get(key) != new.get(key):
            out[f"params.{key}"] = (str(old.get(key)), str(new.get(key)))
    if stored.roles != fresh.roles:
        out["roles"] = (",".join(sorted(stored.roles)), ",".join(sorted(fresh.roles)))
    return out
