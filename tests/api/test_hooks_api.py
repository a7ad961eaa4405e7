"""Detector payloads over HTTP end in the right enforcement in the store, and clear when the alert clears."""

from __future__ import annotations

import pytest

from enforcer.api.tokens import create_token

from .conftest import auth, fixture


@pytest.fixture
def fnm(tokens):
    return auth(tokens["detector"])


def _active(ctx):
    return {(e.target.exploded, e.action.value): e for e in ctx.store.active_enforcements()}


def test_fastnetmon_ban_blackholes_the_victim_and_unban_lifts_it(client, ctx, fnm):
    r = client.post("/v1/hooks/fastnetmon", json=fixture("fastnetmon/ban_incoming.json"), headers=fnm)
    assert r.status_code == 200 and r.json()["results"][0]["outcome"] == "created"
    rtbh = _active(ctx)[("203.0.113.10/32", "rtbh")]
    assert str(rtbh.params.community) == "65535:666"

    r = client.post("/v1/hooks/fastnetmon", json=fixture("fastnetmon/unban_incoming.json"), headers=fnm)
    assert r.json()["results"][0]["outcome"] == "ended"
    assert _active(ctx) == {}


def test_a_fastnetmon_unban_leaves_an_operators_block_on_the_same_host(client, ctx, fnm, tokens):
    noc = auth(tokens["operator"])
    client.post("/v1/decisions", json={"target": "203.0.113.10", "violation": "ddos-victim"}, headers=noc)
    client.post("/v1/hooks/fastnetmon", json=fixture("fastnetmon/ban_incoming.json"), headers=fnm)
    assert len(ctx.store.decisions()) == 2
    client.post("/v1/hooks/fastnetmon", json=fixture("fastnetmon/unban_incoming.json"), headers=fnm)
    assert [d.source for d in ctx.store.decisions()] == ["api"]


def test_an_unban_without_direction_lifts_an_outgoing_ban(client, ctx, fnm):
    """Advanced's ``unban IP`` does not say the direction: the ban must lift all the same."""
    client.post("/v1/hooks/fastnetmon", json=fixture("fastnetmon/ban_outgoing.json"), headers=fnm)
    assert ("203.0.113.66/32", "rate-limit") in _active(ctx)
    r = client.post("/v1/hooks/fastnetmon", json={"ip": "203.0.113.66", "action": "unban"}, headers=fnm)
    assert r.json()["results"][0]["outcome"] == "ended"
    assert _active(ctx) == {}


def test_an_unban_without_direction_ends_only_categories_the_token_may_act_on(client, ctx, tokens):
    victim_only = auth(create_token(ctx.store, "fnm-victim", "detector", ("ddos-victim",)))
    out_only = auth(create_token(ctx.store, "fnm-out", "detector", ("ddos-outbound",)))
    client.post("/v1/hooks/fastnetmon", json=fixture("fastnetmon/ban_incoming.json"), headers=victim_only)
    r = client.post("/v1/hooks/fastnetmon", json={"ip": "203.0.113.10", "action": "unban"}, headers=out_only)
    assert r.json()["results"][0]["outcome"] == "nothing-to-end"
    assert ("203.0.113.10/32", "rtbh") in _active(ctx)
    r = client.post("/v1/hooks/fastnetmon", json={"ip": "203.0.113.10", "action": "unban"}, headers=victim_only)
    assert r.json()["results"][0]["outcome"] == "ended" and _active(ctx) == {}


def test_a_ban_without_direction_is_a_422_naming_the_field(client, ctx, fnm):
    doc = fixture("fastnetmon/ban_incoming.json")
    del doc["attack_details"]["attack_direction"]
    r = client.post("/v1/hooks/fastnetmon", json=doc, headers=fnm)
    assert r.status_code == 422 and r.json()["error"]["field"] == "attack_details.attack_direction"
    assert ctx.store.snapshot()["decisions"] == 0


@pytest.mark.parametrize("direction", [[1], {"incoming": True}, 3, "sideways"])
def test_a_fastnetmon_direction_of_any_wrong_type_is_a_422_not_a_500(client, fnm, direction):
    doc = fixture("fastnetmon/ban_incoming.json")
    del doc["attack_details"]["attack_direction"]
    r = client.post("/v1/hooks/fastnetmon", json={**doc, "direction": direction}, headers=fnm)
    assert r.status_code == 422 and r.json()["error"]["field"] == "direction", r.text


def test_an_unban_for_a_host_never_banned_is_harmless(client, ctx, fnm):
    r = client.post("/v1/hooks/fastnetmon", json=fixture("fastnetmon/unban_incoming.json"), headers=fnm)
    assert r.status_code == 200 and r.json()["results"][0]["outcome"] == "nothing-to-end"


def test_fastnetmon_outgoing_attack_rate_limits_the_source(client, ctx, fnm):
    client.post("/v1/hooks/fastnetmon", json=fixture("fastnetmon/ban_outgoing.json"), headers=fnm)
    limit = _active(ctx)[("203.0.113.66/32", "rate-limit")]
    assert limit.violation.value == "ddos-outbound" and limit.params.rate_bps == 10_000_000


def test_fastnetmon_status_update_is_acknowledged_and_stores_nothing(client, ctx, fnm):
    r = client.post("/v1/hooks/fastnetmon", json=fixture("fastnetmon/attack_status.json"), headers=fnm)
    assert r.status_code == 200 and r.json()["results"][0]["outcome"] == "skipped"
    assert ctx.store.snapshot()["decisions"] == 0


def test_bgpalerter_hijack_filters_the_prefix_on_the_announcing_customers_session(client, ctx, fnm):
    r = client.post("/v1/hooks/bgpalerter", json=fixture("bgpalerter/hijack_more_specific.json"), headers=fnm)
    assert r.status_code == 200, r.text
    pf = _active(ctx)[("203.0.113.128/25", "prefix-filter")]
    assert pf.customer == "cust-b" and pf.asn == 64511


def test_bgpalerter_visibility_loss_is_acknowledged_without_enforcement(client, ctx, fnm):
    r = client.post("/v1/hooks/bgpalerter", json=fixture("bgpalerter/visibility.json"), headers=fnm)
    assert r.status_code == 200 and r.json()["results"][0]["outcome"] == "skipped"
    assert ctx.store.snapshot()["decisions"] == 0


def test_bgpalerter_hijack_by_an_as_that_is_not_our_customer_is_a_422(client, ctx, fnm):
    doc = {**fixture("bgpalerter/hijack_same_prefix.json"), "neworigin": "AS65010"}
    r = client.post("/v1/hooks/bgpalerter", json=doc, headers=fnm)
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "customer" and r.json()["results"][0]["outcome"] == "invalid"


def test_alertmanager_group_blocks_each_alert_and_resolved_ends_one(client, ctx, tokens):
    am = auth(tokens["detector"])
    r = client.post("/v1/hooks/alertmanager", json=fixture("alertmanager/firing_two_alerts.json"), headers=am)
    assert [x["outcome"] for x in r.json()["results"]] == ["created", "created"]
    assert {t for t, _ in _active(ctx)} == {"203.0.113.45/32", "203.0.113.46/32"}

    r = client.post("/v1/hooks/alertmanager", json=fixture("alertmanager/resolved_one_alert.json"), headers=am)
    assert r.json()["results"][0]["outcome"] == "ended"
    assert {t for t, _ in _active(ctx)} == {"203.0.113.46/32"}


def test_alertmanager_repeat_notifications_do_not_stack(client, ctx, tokens):
    am = auth(tokens["detector"])
    for _ in range(3):  # repeat_interval re-sends of the same firing group
        client.post("/v1/hooks/alertmanager", json=fixture("alertmanager/firing_two_alerts.json"), headers=am)
    assert ctx.store.snapshot()["decisions"] == 2


def test_alertmanager_resolved_can_be_kept_until_ttl(client, ctx, tokens):
    am = auth(tokens["detector"])
    client.post("/v1/hooks/alertmanager", json=fixture("alertmanager/firing_two_alerts.json"), headers=am)
    r = client.post("/v1/hooks/alertmanager?on_resolved=keep", json=fixture("alertmanager/resolved_one_alert.json"),
                    headers=am)
    assert r.json()["results"][0]["outcome"] == "skipped"
    assert len(_active(ctx)) == 2


def test_one_bad_alert_does_not_lose_the_rest_of_its_group(client, ctx, tokens):
    """Alertmanager never retries a 4xx: the good alert is stored, the bad one reported by name."""
    doc = fixture("alertmanager/firing_two_alerts.json")
    doc["alerts"][1]["labels"]["src_ip"] = "203.0.113.999"
    r = client.post("/v1/hooks/alertmanager", json=doc, headers=auth(tokens["detector"]))
    assert r.status_code == 200
    good, bad = r.json()["results"]
    assert good["outcome"] == "created" and good["target"] == "203.0.113.45/32"
    assert bad["outcome"] == "invalid" and bad["error"]["field"] == "alerts.1.labels.src_ip"
    assert {t for t, _ in _active(ctx)} == {"203.0.113.45/32"}


def test_a_group_with_no_good_alert_is_a_422_naming_the_first_bad_one(client, ctx, tokens):
    doc = fixture("alertmanager/firing_two_alerts.json")
    doc["alerts"][0]["labels"]["src_ip"] = "not-an-ip"
    doc["alerts"][1]["labels"]["violation"] = "jaywalking"
    r = client.post("/v1/hooks/alertmanager", json=doc, headers=auth(tokens["detector"]))
    assert r.status_code == 422 and r.json()["error"]["field"] == "alerts.0.labels.src_ip"
    assert [x["outcome"] for x in r.json()["results"]] == ["invalid", "invalid"]
    assert ctx.store.snapshot()["decisions"] == 0


def test_a_refused_alert_does_not_lose_the_others_in_its_group(client, ctx, tokens):
    doc = fixture("alertmanager/firing_two_alerts.json")
    doc["alerts"][0]["labels"]["src_ip"] = "198.51.100.201"  # protected
    r = client.post("/v1/hooks/alertmanager", json=doc, headers=auth(tokens["detector"]))
    assert r.status_code == 200
    assert [x["outcome"] for x in r.json()["results"]] == ["refused", "created"]
    assert r.json()["results"][0]["error"]["field"] == "target"


def test_generic_event_and_its_resolution(client, ctx, tokens):
    noc = auth(tokens["operator"])
    r = client.post("/v1/hooks/generic", json=fixture("generic/scanning_event.json"), headers=noc)
    assert r.json()["results"][0]["outcome"] == "created"
    assert ("198.51.100.7/32", "acl") in _active(ctx)
    r = client.post("/v1/hooks/generic", json=fixture("generic/scanning_resolved.json"), headers=noc)
    assert r.json()["results"][0]["outcome"] == "ended" and _active(ctx) == {}


@pytest.mark.parametrize("hook", ["fastnetmon", "bgpalerter", "alertmanager", "generic"])
def test_every_hook_answers_json_errors_for_garbage(client, tokens, hook):
    noc = auth(tokens["operator"])
    r = client.post(f"/v1/hooks/{hook}", content=b"\x00not json", headers={**noc, "Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["field"] == "body"
    r = client.post(f"/v1/hooks/{hook}", json={"unexpected": True}, headers=noc)
    assert 400 <= r.status_code < 500 and set(r.json()["error"]) == {"field", "reason"}


def test_one_idempotency_key_on_two_different_alerts_refuses_the_second(client, ctx, fnm):
    headers = {**fnm, "Idempotency-Key": "delivery-1"}
    client.post("/v1/hooks/fastnetmon", json=fixture("fastnetmon/ban_incoming.json"), headers=headers)
    r = client.post("/v1/hooks/fastnetmon", json=fixture("fastnetmon/ban_outgoing.json"), headers=headers)
    assert r.status_code == 409 and r.json()["error"]["field"] == "idempotency_key"
    assert [d.target for d in ctx.store.decisions()] == ["203.0.113.10/32"]
