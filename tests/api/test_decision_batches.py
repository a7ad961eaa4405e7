"""A list body on ``POST /v1/decisions``: one transaction, a result per item, one bad item fails only itself."""

from __future__ import annotations

from enforcer.api.app import MAX_BATCH

from ..helpers import wait_for
from .conftest import auth
from .test_exactly_once import sample

SPAM = {"violation": "spam", "reason": "spamtrap hits", "ttl": "2h"}


def test_a_list_stores_the_good_items_and_says_what_became_of_each(client, tokens, ctx):
    body = [{**SPAM, "target": "203.0.113.7"}, {**SPAM, "target": "203.0.113.0/33"},
            {**SPAM, "target": "198.51.100.201"}, {**SPAM, "target": "203.0.113.8", "colour": "red"},
            {**SPAM, "target": "203.0.113.9"}]
    r = client.post("/v1/decisions", json=body, headers=auth(tokens["operator"]))
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["outcome"] for x in results] == ["created", "invalid", "refused", "invalid", "created"]
    assert results[1]["error"] == {"field": "target", "reason": "203.0.113.0/33: prefix length 33 > 32"}
    assert results[2]["error"]["field"] == "target" and "protected" in results[2]["error"]["reason"]
    assert results[3]["error"]["field"] == "colour"
    assert {d.target for d in ctx.store.decisions()} == {"203.0.113.7/32", "203.0.113.9/32"}
    assert {x["decision_id"] for x in results if x["decision_id"]} == {d.id for d in ctx.store.decisions()}
    assert all(d.actor == "noc" and d.source == "api" for d in ctx.store.decisions())


def test_a_list_with_nothing_accepted_answers_the_first_items_status(client, tokens, ctx):
    body = [{**SPAM, "target": "198.51.100.201"}, {**SPAM, "target": "203.0.113.0/33"}]
    r = client.post("/v1/decisions", json=body, headers=auth(tokens["operator"]))
    assert r.status_code == 409
    assert r.json()["error"]["field"] == "target" and len(r.json()["results"]) == 2
    assert ctx.store.snapshot()["decisions"] == 0


def test_one_item_outside_the_tokens_categories_refuses_the_whole_list(client, tokens, ctx):
    body = [{**SPAM, "target": "203.0.113.7"}, {**SPAM, "violation": "scanning", "target": "203.0.113.8"}]
    r = client.post("/v1/decisions", json=body, headers=auth(tokens["detector"]))
    assert r.status_code == 403 and r.json()["error"]["field"] == "violation"
    assert ctx.store.snapshot()["decisions"] == 0


def test_a_retried_list_with_its_idempotency_key_stores_nothing_twice(client, tokens, ctx):
    body = [{**SPAM, "target": "203.0.113.7"}, {**SPAM, "target": "203.0.113.8"}]
    headers = {**auth(tokens["operator"]), "Idempotency-Key": "batch-1"}
    first = client.post("/v1/decisions", json=body, headers=headers).json()["results"]
    again = client.post("/v1/decisions", json=body, headers=headers).json()["results"]
    assert [x["outcome"] for x in again] == ["duplicate", "duplicate"]
    assert [x["decision_id"] for x in again] == [x["decision_id"] for x in first]
    assert ctx.store.snapshot()["decisions"] == 2


def test_a_detectors_list_is_counted_by_the_flood_breaker(client, tokens, ctx):
    settings = ctx.settings.inventory / "settings.yaml"
    settings.write_text(settings.read_text() + "  max_new_per_minute: 3\n")
    ctx.__dict__.pop("inventory", None)  # read the new cap
    body = [{"violation": "ddos-victim", "target": f"192.0.2.{i}"} for i in range(1, 6)]
    results = client.post("/v1/decisions", json=body, headers=auth(tokens["detector"])).json()["results"]
    assert [x["outcome"] for x in results] == ["created"] * 3 + ["refused"] * 2
    assert results[3]["error"]["field"] == "rate"


def test_a_list_longer_than_the_batch_limit_or_empty_is_a_422(client, tokens, ctx):
    for body in ([{**SPAM, "target": "203.0.113.7"}] * (MAX_BATCH + 1), []):
        r = client.post("/v1/decisions", json=body, headers=auth(tokens["operator"]))
        assert r.status_code == 422 and r.json()["error"]["field"] == "body", r.text
    assert ctx.store.snapshot()["decisions"] == 0


def test_a_dry_run_list_previews_and_stores_nothing(client, tokens, ctx):
    body = [{**SPAM, "target": "203.0.113.7"}, {**SPAM, "target": "203.0.113.8"}]
    r = client.post("/v1/decisions?dry_run=true", json=body, headers=auth(tokens["operator"]))
    assert [x["outcome"] for x in r.json()["results"]] == ["dry-run", "dry-run"]
    assert ctx.store.snapshot()["decisions"] == 0


def test_a_stored_list_is_counted_per_item_and_each_decision_reaches_the_devices(served, tokens):
    """The loop is kicked for the list; each created decision starts its own latency clock."""
    before = sample(served, "enforcer_decision_applied_seconds_count")
    body = [{**SPAM, "target": f"203.0.113.{i}"} for i in range(1, 4)] + [{**SPAM, "target": "198.51.100.201"}]
    assert served.post("/v1/decisions", json=body, headers=auth(tokens["operator"])).status_code == 200
    wait_for(lambda: sample(served, "enforcer_decision_applied_seconds_count") == before + 3, timeout=60)
    assert sample(served, "enforcer_decisions_total", source="api", category="spam", outcome="created") == 3
    assert sample(served, "enforcer_decisions_total", source="api", category="spam", outcome="refused") == 1
    assert sample(served, "enforcer_active_enforcements") == 3
