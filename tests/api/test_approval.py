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
