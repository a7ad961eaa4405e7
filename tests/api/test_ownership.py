"""A detector speaks only for itself: the hook decides the source, the token owns the keys.

A generic event cannot end FastNetMon's ban or an operator's block by naming their source, nor
take over FastNetMon's idempotency keys by reusing its attack ids.
"""

from __future__ import annotations

import pytest

from .conftest import auth, fixture

UUID = "041eb504-2b33-4ff7-a6b7-8235408d5062"  # the attack id in fastnetmon/ban_incoming.json


@pytest.fixture
def det(tokens):
    return auth(tokens["detector"])


def _active_sources(ctx) -> list[str]:
    return sorted(d.source for d in ctx.store.decisions())


def test_a_generic_event_naming_fastnetmon_cannot_end_its_ban(client, ctx, det):
    client.post("/v1/hooks/fastnetmon", json=fixture("fastnetmon/ban_incoming.json"), headers=det)
    r = client.post("/v1/hooks/generic", headers=det, json={
        "target": "203.0.113.10", "violation": "ddos-victim", "status": "resolved", "source": "fastnetmon"})
    assert r.json()["results"][0]["outcome"] == "nothing-to-end"
    assert _active_sources(ctx) == ["fastnetmon"]


def test_a_generic_event_cannot_end_an_operators_block(client, ctx, det, tokens):
    client.post("/v1/decisions", json={"target": "203.0.113.7", "violation": "spam"}, headers=auth(tokens["operator"]))
    for source in ("api", "operator", "cli"):
        r = client.post("/v1/hooks/generic", headers=det, json={
            "target": "203.0.113.7", "violation": "spam", "status": "resolved", "source": source})
        assert r.status_code == 422 and r.json()["error"]["field"] == "source"
    r = client.post("/v1/hooks/generic", headers=det, json={
        "target": "203.0.113.7", "violation": "spam", "status": "resolved", "source": "suricata"})
    assert r.json()["results"][0]["outcome"] == "nothing-to-end"
    assert _active_sources(ctx) == ["api"]


def test_a_generic_event_reusing_fastnetmons_attack_id_does_not_take_its_key(client, ctx, det):
    """Before: ``fastnetmon:<uuid>`` was the key of both, so FastNetMon's real ban was refused."""
    r = client.post("/v1/hooks/generic", headers=det, json={
        "target": "203.0.113.99", "violation": "ddos-victim", "source": "fastnetmon", "event_id": UUID})
    assert r.json()["results"][0]["outcome"] == "created"
    r = client.post("/v1/hooks/fastnetmon", json=fixture("fastnetmon/ban_incoming.json"), headers=det)
    assert r.status_code == 200 and r.json()["results"][0]["outcome"] == "created", r.text
    decisions = {d.target: d for d in ctx.store.decisions()}
    assert decisions["203.0.113.10/32"].source == "fastnetmon" and decisions["203.0.113.99/32"].source == "generic"


def test_one_idempotency_key_on_two_hooks_is_two_deliveries(client, ctx, det):
    headers = {**det, "Idempotency-Key": "delivery-7"}
    r = client.post("/v1/hooks/fastnetmon", json=fixture("fastnetmon/ban_incoming.json"), headers=headers)
    assert r.json()["results"][0]["outcome"] == "created"
    r = client.post("/v1/hooks/generic", json={"target": "203.0.113.99", "violation": "spam"}, headers=headers)
    assert r.status_code == 200 and r.json()["results"][0]["outcome"] == "created", r.text


def test_keys_are_stored_in_the_hooks_and_tokens_namespace(client, ctx, det):
    client.post("/v1/hooks/fastnetmon", json=fixture("fastnetmon/ban_incoming.json"), headers=det)
    [decision] = ctx.store.decisions()
    assert ctx.store.decision_by_key(f"hook:fastnetmon:fastnetmon-1:{UUID}").id == decision.id
