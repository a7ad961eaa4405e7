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

A rung and its stored enforcements pair by position, each keeping its own id: two enforcements
re-derived under one id would render as one trace line for two actions and collide in every
id-keyed structure. A rung that now makes fewer enforcements plans the removal of the rest; one
that makes more plans the extra ones under ids above every id in the records planned (the ids
``apply`` would give them are not known before it stores them: the plan is a review, never
applied as is).
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
    spare = max((e.id for rec in records for e in rec.enforcements), default=0)
    for rec in records:
        stored = [e for e in rec.enforcements
                  if e.status is Status.ACTIVE and (e.expires_at is None or e.expires_at > at)]  # fmt: skip
        if rec.status is not Status.ACTIVE or not stored or rec.violation not in playbooks:
            desired += stored
            continue
        decision = Decision(target=rec.target, violation=rec.violation, customer=rec.customer, asn=rec.asn)
        _, specs = enforcements_for(decision, playbooks[rec.violation], rec.step)
        fresh = []
        for i, spec in enumerate(specs):
            base = stored[min(i, len(stored) - 1)]
            update = {"action": spec.action, "params": spec.params, "roles": spec.roles}
            if i >= len(stored):
                spare += 1
                update["id"] = spare
            fresh.append(base.model_copy(update=update))
        desired += fresh
        diff: dict[str, tuple[str, str]] = {}
        for i, (old, new) in enumerate(zip(stored, fresh, strict=False)):  # a count change is listed below
            prefix = f"enforcement {old.id} " if i else ""
            diff |= {prefix + k: v for k, v in _differences(old, new).items()}
        if len(stored) != len(fresh):
            diff["enforcements"] = (str(len(stored)), str(len(fresh)))
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
