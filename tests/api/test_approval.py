"""A detector cannot force a broad block: it is held, and only an operator's approval enforces it."""

from __future__ import annotations

from .conftest import auth


def test_detector_broad_block_is_held_until_an_operator_approves_it(client, ctx, tokens):
    det, noc = auth(tokens["detector"]), auth(tokens["operator"])
    r = client.post("/v1/decisions", json={"target": "203.0.112.0/23", "violation": "ddos-outbound"}, headers=det)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["pending"] is True
    assert ctx.store.active_enforcements() == []

    r = client.post(f"/v1/decisions/{body['decision_id']}/approve", headers=det)
    assert r.status_code == 403
    r = client.post(f"/v1/decisions/{body['decision_id']}/approve?reason=checked", headers=noc)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "active"
    assert [str(e.target) for e in ctx.store.active_enforcements()] == ["203.0.112.0/23"]
    assert ctx.store.history()[-1].action == "approve" and ctx.store.history()[-1].actor

    r = client.post(f"/v1/decisions/{body['decision_id']}/approve", headers=noc)
    assert r.status_code == 422 and r.json()["error"]["field"] == "decision_id"
    assert client.post("/v1/decisions/99999/approve", headers=noc).status_code == 404


def test_operator_broad_block_is_refused_without_force_and_never_held(client, ctx, tokens):
    noc = auth(tokens["operator"])
    r = client.post("/v1/decisions", json={"target": "203.0.112.0/23", "violation": "ddos-outbound"}, headers=noc)
    assert r.status_code == 409 and r.json()["error"]["field"] == "target"
    assert ctx.store.snapshot()["decisions"] == 0


def _held(client, det) -> int:
    r = client.post("/v1/decisions", json={"target": "203.0.112.0/23", "violation": "ddos-outbound"}, headers=det)
    assert r.status_code == 201 and r.json()["pending"], r.text
    return r.json()["decision_id"]


def test_a_held_decision_can_be_rejected_by_id_and_is_never_enforced(client, ctx, tokens):
    det, noc = auth(tokens["detector"]), auth(tokens["operator"])
    held = _held(client, det)
    assert client.post(f"/v1/decisions/{held}/reject", headers=det).status_code == 403
    r = client.post(f"/v1/decisions/{held}/reject?reason=false+positive", headers=noc)
    assert r.status_code == 200 and r.json()["status"] == "removed"
    assert ctx.store.history()[-1].action == "reject"
    assert client.post(f"/v1/decisions/{held}/approve", headers=noc).status_code == 422  # nothing left to approve
    assert ctx.store.active_enforcements() == []
    assert client.post("/v1/decisions/99999/reject", headers=noc).status_code == 404


def test_a_held_decision_can_be_unblocked_by_id(client, ctx, tokens):
    det, noc = auth(tokens["detector"]), auth(tokens["operator"])
    held = _held(client, det)
    r = client.delete(f"/v1/decisions/{held}", headers=noc)
    assert r.status_code == 200 and r.json()["status"] == "removed"
    assert ctx.store.decisions() == []


def test_an_approval_respects_the_blast_radius_cap(client, ctx, tokens, settings):
    """Before: approving a held decision bypassed ``max_active``."""
    det, noc = auth(tokens["detector"]), auth(tokens["operator"])
    held = _held(client, det)
    (settings.inventory / "settings.yaml").write_text("guardrails:\n  max_active: 1\n  own_space: [203.0.113.0/24]\n")
    ctx.__dict__.pop("inventory", None)  # the inventory as the next start-up reads it
    r = client.post("/v1/decisions", json={"target": "203.0.113.7", "violation": "spam"}, headers=noc)
    assert r.status_code == 201
    r = client.post(f"/v1/decisions/{held}/approve", headers=noc)
    assert r.status_code == 409 and r.json()["error"]["field"] == "blast_radius"
    assert ctx.store.get_decision(held).status == "pending"
