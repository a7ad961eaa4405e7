"""Tokens and scopes: who may read, who may block what, who may unblock; refusals leave only an audit entry."""

from __future__ import annotations

import base64

import pytest

from enforcer.api.tokens import authenticate, create_token, list_tokens, revoke_token

from .conftest import auth, fixture

BLOCK = {"target": "203.0.113.7", "violation": "spam", "reason": "spamtrap hits"}


def _stored(ctx) -> int:
    return ctx.store.snapshot()["decisions"]


def test_no_token_is_a_401_that_leaves_only_an_audit_entry(client, ctx):
    r = client.post("/v1/decisions", json=BLOCK)
    assert r.status_code == 401
    assert r.json() == {"error": {"field": "authorization", "reason": "missing bearer token"}}
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert _stored(ctx) == 0
    last = ctx.store.history(limit=1)[0]
    assert (last.action, last.actor, last.target) == ("auth-failed", "anonymous", "/v1/decisions")


def test_an_unknown_token_is_a_401(client, ctx):
    r = client.get("/v1/decisions", headers=auth("enf_not-a-real-token"))
    assert r.status_code == 401 and r.json()["error"]["reason"] == "unknown or revoked token"


def test_a_revoked_token_stops_working_at_once(client, ctx, tokens):
    assert client.get("/v1/decisions", headers=auth(tokens["reader"])).status_code == 200
    revoke_token(ctx.store, "dashboard")
    assert client.get("/v1/decisions", headers=auth(tokens["reader"])).status_code == 401


def test_a_reader_can_read_but_not_block(client, ctx, tokens):
    assert client.get("/v1/audit", headers=auth(tokens["reader"])).status_code == 200
    r = client.post("/v1/decisions", json=BLOCK, headers=auth(tokens["reader"]))
    assert r.status_code == 403 and r.json()["error"]["field"] == "authorization"
    assert _stored(ctx) == 0
    last = ctx.store.history(limit=1)[0]
    assert (last.action, last.actor) == ("forbidden", "dashboard")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/decisions", {"target": "not-an-address", "violation": "jaywalking"}),
        ("/v1/decisions", b"\x00not json"),
        ("/v1/hooks/bgpalerter", {"channel": "visibility", "summary": "withdrawn"}),  # would be "skipped"
        ("/v1/hooks/generic", [{"tll": "2h"}]),
    ],
)
def test_a_reader_is_refused_before_its_body_is_read(client, ctx, tokens, path, body):
    """Scope first: a reader learns nothing from validation, and gets no "skipped" for a hook."""
    headers = {**auth(tokens["reader"]), "Content-Type": "application/json"}
    r = client.post(path, content=body, headers=headers) if isinstance(body, bytes) else \
        client.post(path, json=body, headers=headers)
    assert r.status_code == 403, r.text
    assert r.json()["error"]["field"] == "authorization"
    assert _stored(ctx) == 0


def test_no_token_is_a_401_even_for_a_body_that_is_not_json(client):
    r = client.post("/v1/hooks/generic", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 401


def test_a_flood_of_bad_tokens_writes_one_audit_row_a_minute_per_address(client, ctx):
    denials = client.app.state.served.denials
    clock = [1000.0]
    denials.clock = lambda: clock[0]
    for _ in range(50):
        assert client.get("/v1/decisions", headers=auth("enf_guess")).status_code == 401
    rows = [e for e in ctx.store.history(limit=100) if e.action == "auth-failed"]
    assert len(rows) == 1 and rows[0].detail["repeats"] == 0

    clock[0] += 61  # a minute later the next denial writes a row carrying the count in between
    client.get("/v1/decisions", headers=auth("enf_guess"))
    rows = [e for e in ctx.store.history(limit=100) if e.action == "auth-failed"]
    assert len(rows) == 2 and rows[-1].detail["repeats"] == 49
    assert rows[-1].detail["client"] == "testclient"


def test_denials_still_counted_at_shutdown_are_written(ctx):
    from .conftest import _client

    with _client(ctx, reconcile=False) as c:
        for _ in range(5):
            c.get("/v1/audit", headers=auth("enf_guess"))
    rows = [e for e in ctx.store.history(limit=100) if e.action == "auth-failed"]
    assert [r.detail["repeats"] for r in rows] == [0, 4]


def test_a_detector_blocks_its_own_categories_only(client, ctx, tokens):
    assert client.post("/v1/decisions", json=BLOCK, headers=auth(tokens["detector"])).status_code == 201
    r = client.post("/v1/decisions", json={**BLOCK, "violation": "scanning"}, headers=auth(tokens["detector"]))
    assert r.status_code == 403 and "may not submit scanning" in r.json()["error"]["reason"]
    assert _stored(ctx) == 1


def test_a_detector_cannot_force_past_guardrails_or_unblock(client, tokens):
    r = client.post("/v1/decisions", json={**BLOCK, "target": "203.0.0.0/16", "force": True},
                    headers=auth(tokens["detector"]))
    assert r.status_code == 403 and r.json()["error"]["field"] == "force"
    created = client.post("/v1/decisions", json=BLOCK, headers=auth(tokens["detector"])).json()
    r = client.delete(f"/v1/decisions/{created['decision_id']}", headers=auth(tokens["detector"]))
    assert r.status_code == 403


def test_a_detector_hook_outside_its_categories_is_refused_whole(client, ctx, tokens):
    scan = fixture("alertmanager/firing_no_category.json")
    r = client.post("/v1/hooks/alertmanager?violation=scanning", json=scan, headers=auth(tokens["detector"]))
    assert r.status_code == 403
    assert _stored(ctx) == 0


def test_basic_auth_with_the_token_as_password_for_url_only_webhooks(client, tokens):
    basic = base64.b64encode(f"fastnetmon:{tokens['detector']}".encode()).decode()
    r = client.post("/v1/hooks/fastnetmon", json=fixture("fastnetmon/ban_incoming.json"),
                    headers={"Authorization": f"Basic {basic}"})
    assert r.status_code == 200 and r.json()["results"][0]["outcome"] == "created"


def test_tokens_are_stored_hashed_and_listed_without_secrets(ctx):
    secret = create_token(ctx.store, "ids-sensor", "detector", ("scanning",))
    with ctx.store.engine.connect() as conn:
        dump = "\n".join(str(row) for row in conn.exec_driver_sql("SELECT * FROM api_tokens"))
    assert secret not in dump
    assert authenticate(ctx.store, secret).name == "ids-sensor"
    [listed] = [t for t in list_tokens(ctx.store) if t.name == "ids-sensor"]
    assert listed.categories == ("scanning",) and "enf_" not in listed.model_dump_json()


def test_health_and_metrics_need_no_token(client):
    assert client.get("/healthz").json()["status"] == "ok"
    assert client.get("/metrics").status_code == 200
