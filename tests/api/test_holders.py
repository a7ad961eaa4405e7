"""A detector's block is held by its causes: it ends when the last alert holding it resolves.

Before: two Alertmanager alerts (two rules) about one host made two decisions, and the first
one resolving ended *both*; the other alert's repeat was then a ``duplicate`` of an ended
decision, so the host stayed reachable while an alert still fired. Through the real
Alertmanager webhook format (version 4), on the app with an offline nftables edge.
"""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest

from enforcer import service
from enforcer.api.tokens import create_token
from enforcer.model import now

from .conftest import auth, fixture

HOST = "203.0.113.45"


def alert(name: str, fingerprint: str, status: str = "firing", ttl: str | None = None) -> dict:
    """An Alertmanager v4 delivery of one alert about HOST, shaped like the captured fixture."""
    body = copy.deepcopy(fixture("alertmanager/firing_two_alerts.json"))
    one = body["alerts"][0]
    one["labels"].update({"alertname": name, "src_ip": HOST, "violation": "spam"})
    if ttl:
        one["labels"]["ttl"] = ttl
    one["fingerprint"], one["status"] = fingerprint, status
    if status == "resolved":
        one["endsAt"] = "2024-02-06T14:08:45.828Z"
    body["alerts"], body["status"] = [one], status
    body["groupLabels"] = {"alertname": name}
    return body


@pytest.fixture
def am(tokens):
    return auth(tokens["detector"])


def post(client, headers, body) -> dict:
    r = client.post("/v1/hooks/alertmanager", json=body, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["results"][0]


def enforced(ctx) -> bool:
    """The nftables edge's managed section (what the next push puts on the box) blocks HOST."""
    return HOST in service.render_device(ctx, "fw1")


def test_two_alerts_hold_one_block_resolving_one_keeps_it_both_end_it(client, ctx, am):
    first = post(client, am, alert("OutboundSpamBurst", "aaaa0001"))
    second = post(client, am, alert("SmtpRateHigh", "bbbb0002"))
    assert (first["outcome"], second["outcome"]) == ("created", "duplicate")
    assert second["decision_id"] == first["decision_id"]
    assert enforced(ctx)

    r = post(client, am, alert("OutboundSpamBurst", "aaaa0001", "resolved"))
    assert r["outcome"] == "released" and r["held_by_others"] == [first["decision_id"]]
    assert enforced(ctx)  # SmtpRateHigh still fires: the host stays blocked

    r = post(client, am, alert("SmtpRateHigh", "bbbb0002", "resolved"))
    assert r["outcome"] == "ended" and r["ended"] == [first["decision_id"]]
    assert not enforced(ctx)
    assert [e.action for e in ctx.store.history(limit=3)] == ["hold", "release", "unblock"]


def test_the_other_alerts_repeat_after_one_resolved_is_still_the_same_block(client, ctx, am):
    first = post(client, am, alert("OutboundSpamBurst", "aaaa0001"))
    post(client, am, alert("SmtpRateHigh", "bbbb0002"))
    post(client, am, alert("OutboundSpamBurst", "aaaa0001", "resolved"))
    repeat = post(client, am, alert("SmtpRateHigh", "bbbb0002"))
    assert repeat["outcome"] == "duplicate" and repeat["decision_id"] == first["decision_id"]
    assert enforced(ctx)


def test_a_repeat_notification_refreshes_the_blocks_expiry(client, ctx, am, monkeypatch):
    first = post(client, am, alert("OutboundSpamBurst", "aaaa0001", ttl="1h"))
    expires = ctx.store.get_decision(first["decision_id"]).expires_at
    later = now() + timedelta(minutes=50)
    monkeypatch.setattr("enforcer.decisions.now", lambda: later)
    post(client, am, alert("OutboundSpamBurst", "aaaa0001", ttl="1h"))  # repeat_interval: the alert still fires
    rec = ctx.store.get_decision(first["decision_id"])
    assert rec.expires_at >= expires + timedelta(minutes=49)
    assert all(e.expires_at == rec.expires_at for e in rec.enforcements)


def test_a_re_alert_after_the_ttl_passed_enforces_again(client, ctx, am, monkeypatch):
    first = post(client, am, alert("OutboundSpamBurst", "aaaa0001", ttl="1h"))
    later = now() + timedelta(hours=2)
    monkeypatch.setattr("enforcer.decisions.now", lambda: later)
    again = post(client, am, alert("OutboundSpamBurst", "aaaa0001", ttl="1h"))  # same key: fingerprint + startsAt
    assert again["outcome"] == "created" and again["decision_id"] != first["decision_id"]
    assert [str(e.target) for e in ctx.store.active_enforcements(later)] == [f"{HOST}/32"]


def test_a_re_alert_after_an_operators_unblock_enforces_again(client, ctx, am, tokens):
    first = post(client, am, alert("OutboundSpamBurst", "aaaa0001"))
    r = client.delete(f"/v1/decisions/{first['decision_id']}", headers=auth(tokens["operator"]))
    assert r.status_code == 200
    again = post(client, am, alert("OutboundSpamBurst", "aaaa0001"))
    assert again["outcome"] == "created"
    assert enforced(ctx)


# ------------------------------------------------------------------ ownership per token (issue 11, point 6)


def test_a_detectors_unban_ends_only_what_its_own_token_opened(client, ctx):
    fnm_a = auth(create_token(ctx.store, "fnm-a", "detector", ("ddos-victim",)))
    fnm_b = auth(create_token(ctx.store, "fnm-b", "detector", ("ddos-victim",)))
    ban = fixture("fastnetmon/ban_incoming.json")
    unban = fixture("fastnetmon/unban_incoming.json")
    opened = client.post("/v1/hooks/fastnetmon", json=ban, headers=fnm_a).json()["results"][0]
    r = client.post("/v1/hooks/fastnetmon", json=unban, headers=fnm_b).json()["results"][0]
    assert r["outcome"] == "nothing-to-end"
    assert [d.id for d in ctx.store.decisions()] == [opened["decision_id"]]
    r = client.post("/v1/hooks/fastnetmon", json=unban, headers=fnm_a).json()["results"][0]
    assert r["outcome"] == "ended" and ctx.store.decisions() == []


def test_two_tokens_banning_one_host_each_hold_it_until_both_unban(client, ctx):
    fnm_a = auth(create_token(ctx.store, "fnm-a", "detector", ("ddos-victim",)))
    fnm_b = auth(create_token(ctx.store, "fnm-b", "detector", ("ddos-victim",)))
    ban = fixture("fastnetmon/ban_incoming.json")
    unban = fixture("fastnetmon/unban_incoming.json")
    client.post("/v1/hooks/fastnetmon", json=ban, headers=fnm_a)
    assert client.post("/v1/hooks/fastnetmon", json=ban, headers=fnm_b).json()["results"][0]["outcome"] == "duplicate"
    assert client.post("/v1/hooks/fastnetmon", json=unban, headers=fnm_a).json()["results"][0]["outcome"] == "released"
    assert len(ctx.store.active_enforcements()) == 1
    assert client.post("/v1/hooks/fastnetmon", json=unban, headers=fnm_b).json()["results"][0]["outcome"] == "ended"
    assert ctx.store.active_enforcements() == []


def test_fastnetmon_communitys_all_zero_attack_uuid_is_no_key(client, ctx, am):
    """Before: the zero uuid was the key of the first ban, so a second host's ban was a 409."""
    zero = "00000000-0000-0000-0000-000000000000"
    for host in ("203.0.113.10", "203.0.113.11"):
        doc = fixture("fastnetmon/ban_incoming.json")
        doc["ip"], doc["attack_details"]["attack_uuid"] = host, zero
        r = client.post("/v1/hooks/fastnetmon", json=doc, headers=am)
        assert r.status_code == 200 and r.json()["results"][0]["outcome"] == "created", r.text
    assert sorted(d.target for d in ctx.store.decisions()) == ["203.0.113.10/32", "203.0.113.11/32"]
