"""The decisions API: block, read, unblock; bad input is a 4xx naming the field, never a 500."""

from __future__ import annotations

import pytest

from .conftest import auth

BLOCK = {"target": "203.0.113.7", "violation": "spam", "reason": "spamtrap hits", "ttl": "2h"}


@pytest.fixture
def noc(tokens):
    return auth(tokens["operator"])


def test_block_read_list_unblock(client, noc):
    r = client.post("/v1/decisions", json=BLOCK, headers=noc)
    assert r.status_code == 201
    created = r.json()
    assert created["created"] is True and created["enforcements"][0]["action"] == "acl"
    did = created["decision_id"]

    got = client.get(f"/v1/decisions/{did}", headers=noc).json()
    assert got["target"] == "203.0.113.7/32" and got["actor"] == "noc" and got["source"] == "api"
    assert [d["id"] for d in client.get("/v1/decisions", headers=noc).json()] == [did]

    r = client.delete(f"/v1/decisions/{did}?reason=customer%20cleaned%20up", headers=noc)
    assert r.status_code == 200 and r.json()["status"] == "removed"
    assert client.get("/v1/decisions", headers=noc).json() == []
    assert [d["status"] for d in client.get("/v1/decisions?active=false", headers=noc).json()] == ["removed"]
    again = client.delete(f"/v1/decisions/{did}", headers=noc)
    assert again.status_code == 409 and again.json()["error"]["field"] == "decision_id"


def test_unknown_decision_is_a_404(client, noc):
    for method in ("get", "delete"):
        r = getattr(client, method)("/v1/decisions/4242", headers=noc)
        assert r.status_code == 404
        assert r.json() == {"error": {"field": "decision_id", "reason": "no decision with id 4242"}}


@pytest.mark.parametrize(
    ("body", "status", "field", "says"),
    [
        ({**BLOCK, "target": "203.0.113.0/33"}, 422, "target", "prefix length 33 > 32"),
        ({**BLOCK, "target": "203.0.113.1/24"}, 422, "target", "host bits set"),
        ({**BLOCK, "violation": "jaywalking"}, 422, "violation", "spam"),
        ({**BLOCK, "ttl": "forever"}, 422, "ttl", "duration"),
        ({**BLOCK, "colour": "red"}, 422, "colour", "Extra inputs"),
        ({"violation": "spam"}, 422, "target", "required"),
        ({**BLOCK, "target": "198.51.100.201"}, 409, "target", "protected"),
        ({**BLOCK, "target": "203.0.0.0/16"}, 409, "target", "broader than /24"),
        ({**BLOCK, "violation": "bgp-hijack", "asn": 65000}, 422, "customer", "known customer"),
    ],
)
def test_bad_or_refused_decisions_name_the_field(client, noc, ctx, body, status, field, says):
    r = client.post("/v1/decisions", json=body, headers=noc)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["field"] == field and says in err["reason"]
    assert ctx.store.snapshot()["decisions"] == 0


def test_a_body_that_is_not_json_is_a_400(client, noc):
    r = client.post("/v1/decisions", content=b"target=203.0.113.7", headers={**noc, "Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["field"] == "body"


@pytest.mark.parametrize(("url", "field"), [("/v1/audit?limit=0", "limit"), ("/v1/decisions/0", "decision_id"),
                                            ("/v1/decisions/abc", "decision_id"), ("/v1/decisions?active=maybe", "active")])
def test_bad_query_and_path_values_name_the_parameter(client, noc, url, field):
    r = client.get(url, headers=noc)
    assert r.status_code == 422 and r.json()["error"]["field"] == field


def test_unknown_paths_and_methods_answer_json(client, noc):
    assert client.get("/v2/decisions", headers=noc).json()["error"]["field"] == "path"
    r = client.put("/v1/decisions", headers=noc)
    assert r.status_code == 405 and r.json()["error"]["field"] == "method"


def test_idempotency_key_header_makes_a_retry_harmless(client, noc, ctx):
    headers = {**noc, "Idempotency-Key": "ticket-8812"}
    first = client.post("/v1/decisions", json=BLOCK, headers=headers)
    second = client.post("/v1/decisions", json=BLOCK, headers=headers)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["decision_id"] == second.json()["decision_id"] and second.json()["created"] is False
    assert ctx.store.snapshot()["decisions"] == 1


def test_dry_run_previews_and_stores_nothing(client, noc, ctx):
    r = client.post("/v1/decisions?dry_run=true", json=BLOCK, headers=noc)
    assert r.status_code == 200 and r.json()["dry_run"] is True
    assert r.json()["enforcements"][0]["params"]["ports"] == [25, 465, 587]
    assert ctx.store.snapshot()["decisions"] == 0


def test_audit_shows_who_blocked_what(client, noc):
    client.post("/v1/decisions", json=BLOCK, headers=noc)
    entries = client.get("/v1/audit?limit=5", headers=noc).json()
    block = [e for e in entries if e["action"] == "block"]
    assert block and block[-1]["actor"] == "noc" and block[-1]["target"] == "203.0.113.7/32"


def test_plan_shows_the_pending_change_per_device(client, noc):
    client.post("/v1/decisions", json=BLOCK, headers=noc)
    plans = {p["device"]: p for p in client.get("/v1/plan", headers=noc).json()}
    assert set(plans) == {"edge1", "fw1"}
    assert plans["fw1"]["added"] > 0 and "203.0.113.7" in plans["fw1"]["diff"]
    assert client.get("/v1/plan?device=nope", headers=noc).json()["error"]["field"] == "device"


def test_reusing_an_idempotency_key_for_another_decision_is_a_409(client, noc, ctx):
    headers = {**noc, "Idempotency-Key": "ticket-8813"}
    assert client.post("/v1/decisions", json=BLOCK, headers=headers).status_code == 201
    r = client.post("/v1/decisions", json={**BLOCK, "target": "203.0.113.8"}, headers=headers)
    assert r.status_code == 409 and r.json()["error"]["field"] == "idempotency_key"
    assert "203.0.113.7/32" in r.json()["error"]["reason"]
    assert [d.target for d in ctx.store.decisions()] == ["203.0.113.7/32"]


def test_a_huge_ttl_is_a_422_not_a_crash(client, noc):
    for ttl in (10**20, "99999999999d"):
        r = client.post("/v1/decisions", json={**BLOCK, "ttl": ttl}, headers=noc)
        assert r.status_code == 422 and r.json()["error"]["field"] == "ttl"


def test_booleans_and_numbers_are_not_guessed_from_strings(client, noc):
    r = client.post("/v1/decisions", json={**BLOCK, "force": "yes"}, headers=noc)
    assert r.status_code == 422 and r.json()["error"]["field"] == "force"
