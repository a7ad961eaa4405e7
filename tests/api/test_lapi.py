"""``GET /v1/decisions/stream``: enforcer's decisions as a CrowdSec LAPI stream, per bouncer key."""

from __future__ import annotations

from .conftest import auth


def _block(client, tokens, target: str, violation: str) -> int:
    r = client.post("/v1/decisions", json={"target": target, "violation": violation, "ttl": "2h"},
                    headers=auth(tokens["operator"]))  # fmt: skip
    assert r.status_code in (200, 201), r.text
    return r.json()["decision_id"] if "decision_id" in r.json() else r.json()["id"]


def _stream(client, key: str, startup: bool):
    return client.get("/v1/decisions/stream", params={"startup": str(startup).lower()}, headers={"X-Api-Key": key})


def test_the_stream_lists_offenders_then_only_changes(client, tokens):
    _block(client, tokens, "192.0.2.77", "scanning")
    _block(client, tokens, "192.0.2.90", "ddos-victim")  # a victim: no source to refuse
    first = _stream(client, tokens["reader"], startup=True).json()
    assert first["deleted"] is None
    [ban] = first["new"]
    assert (ban["type"], ban["scope"], ban["value"], ban["scenario"]) == ("ban", "Ip", "192.0.2.77", "enforcer/scanning")
    assert ban["duration"].endswith("s") and 7000 < int(ban["duration"][:-1]) <= 7200
    assert _stream(client, tokens["reader"], startup=False).json() == {"new": None, "deleted": None}

    assert client.delete(f"/v1/decisions/{ban['id']}", headers=auth(tokens["operator"])).status_code == 200
    gone = _stream(client, tokens["reader"], startup=False).json()
    assert gone["new"] is None and [d["value"] for d in gone["deleted"]] == ["192.0.2.77"]


def test_each_key_has_its_own_view_of_what_changed(client, tokens):
    _block(client, tokens, "192.0.2.77", "intrusion")
    assert _stream(client, tokens["reader"], startup=True).json()["new"]
    assert _stream(client, tokens["detector"], startup=False).json()["new"], "a first poll without startup gets all"


def test_a_range_is_a_range_decision(client, tokens):
    _block(client, tokens, "192.0.2.64/28", "spam")
    [ban] = _stream(client, tokens["reader"], startup=True).json()["new"]
    assert (ban["scope"], ban["value"]) == ("Range", "192.0.2.64/28")


def test_an_unknown_key_is_refused(client):
    r = client.get("/v1/decisions/stream", headers={"X-Api-Key": "enf_nope"})
    assert r.status_code == 401 and r.json()["error"]["field"] == "x-api-key"
