"""``rederive``: each re-derived enforcement keeps its own id, whatever the rung makes.

Every rung makes one enforcement today, so the CLI tests (tests/test_plan_rederive.py) never see
a decision with two. These drive :func:`enforcer.rederive.rederive` with rungs that make more or
fewer than were stored: ids stay unique (they key the rendered trace lines and the plan), a
dropped enforcement leaves the desired set, and the count change is listed as a playbook change.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from enforcer import rederive as module
from enforcer.model import ActionKind, Enforcement, Status, Violation, now
from enforcer.policy import EnforcementSpec, load_playbooks
from enforcer.tables import DecisionRecord

from .conftest import EXAMPLE_INVENTORY

PLAYBOOKS = load_playbooks(EXAMPLE_INVENTORY.parent.parent / "playbooks")


def _record(decision_id: int, enforcement_ids: list[int]) -> DecisionRecord:
    at = now()
    stored = [
        Enforcement(id=i, decision_id=decision_id, action=ActionKind.NULL_ROUTE, target="198.51.100.10/32",
                    violation=Violation.SPAM, created_at=at, expires_at=at + timedelta(days=1))
        for i in enforcement_ids
    ]  # fmt: skip
    return DecisionRecord(id=decision_id, target="198.51.100.10/32", violation=Violation.SPAM, source="cli",
                          actor="noc", reason="t", customer=None, asn=None, forced=False, step=0, clause="",
                          created_at=at, expires_at=at + timedelta(days=1), status=Status.ACTIVE,
                          enforcements=stored)  # fmt: skip


def _rung(monkeypatch, *actions: ActionKind) -> None:
    def specs(decision, book, step):
        return 0, [EnforcementSpec(action=a, target=decision.target, params=book.ladder[0].params(),
                                   roles=frozenset(), ttl=timedelta(days=1)) for a in actions]  # fmt: skip

    monkeypatch.setattr(module, "enforcements_for", specs)


@pytest.mark.parametrize("stored", [[7], [7, 8]])
def test_a_rung_that_makes_two_enforcements_gives_each_its_own_id(monkeypatch, stored):
    _rung(monkeypatch, ActionKind.ACL, ActionKind.NULL_ROUTE)
    desired, changes = module.rederive([_record(3, stored), _record(9, [20])], PLAYBOOKS)
    ids = [e.id for e in desired]
    assert len(ids) == len(set(ids)) == 4, ids
    assert [e.action for e in desired if e.decision_id == 3] == [ActionKind.ACL, ActionKind.NULL_ROUTE]
    assert all(i in ids for i in stored)
    if len(stored) == 1:  # the new one is planned above every stored id, the count change listed
        assert max(ids) == 22 and changes[0].changes["enforcements"] == ("1", "2")


def test_a_rung_that_makes_fewer_drops_the_rest_and_says_so(monkeypatch):
    _rung(monkeypatch, ActionKind.ACL)
    desired, changes = module.rederive([_record(3, [7, 8])], PLAYBOOKS)
    assert [(e.id, e.action) for e in desired] == [(7, ActionKind.ACL)]
    assert changes[0].changes["enforcements"] == ("2", "1")
    assert changes[0].changes["action"] == ("null-route", "acl")
