"""Bodies are capped: a huge delivery is a 413 answered before anything reads it, a huge batch a 422."""

from __future__ import annotations

import json

from enforcer.api.limits import MAX_BODY
from enforcer.api.webhooks import MAX_EVENTS

from .conftest import auth

EVENT = {"target": "198.51.100.7", "violation": "spam", "reason": "x" * 1000}


def _huge() -> bytes:
    return json.dumps([EVENT] * (MAX_BODY // 1000 + 10)).encode()


def test_a_body_over_the_limit_is_a_413_naming_the_body(client, ctx, tokens):
    body = _huge()
    assert len(body) > MAX_BODY
    r = client.post("/v1/hooks/generic", content=body,
                    headers={**auth(tokens["operator"]), "Content-Type": "application/json"})
    assert r.status_code == 413
    assert r.json()["error"]["field"] == "body" and str(MAX_BODY) in r.json()["error"]["reason"]
    assert ctx.store.snapshot()["decisions"] == 0


def test_a_chunked_body_over_the_limit_is_a_413_too(client, ctx, tokens):
    """No Content-Length to refuse up front: the stream is counted and cut at the limit."""
    body = _huge()

    def chunks():
        for i in range(0, len(body), 64 * 1024):
            yield body[i:i + 64 * 1024]

    r = client.post("/v1/hooks/generic", content=chunks(),
                    headers={**auth(tokens["operator"]), "Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["field"] == "body"
    assert ctx.store.snapshot()["decisions"] == 0


def test_a_body_within_the_limit_passes_whole(client, ctx, tokens):
    events = [{**EVENT, "target": f"198.51.100.{i}"} for i in range(1, 4)]
    r = client.post("/v1/hooks/generic", json=events, headers=auth(tokens["operator"]))
    assert [x["outcome"] for x in r.json()["results"]] == ["created"] * 3


def test_a_generic_batch_longer_than_the_cap_is_a_422(client, ctx, tokens):
    events = [{"target": "198.51.100.7", "violation": "spam"}] * (MAX_EVENTS + 1)
    r = client.post("/v1/hooks/generic", json=events, headers=auth(tokens["operator"]))
    assert r.status_code == 422 and str(MAX_EVENTS) in r.json()["error"]["reason"]
    assert ctx.store.snapshot()["decisions"] == 0
