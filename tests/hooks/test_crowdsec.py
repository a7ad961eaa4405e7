"""CrowdSec LAPI stream answers (shapes as 1.4.6 prints them) → decisions, ends and skips."""

from datetime import timedelta
from ipaddress import ip_network

import pytest

from enforcer.hooks import End, Invalid, Skip
from enforcer.hooks.crowdsec import from_stream, go_duration
from enforcer.model import Decision, InvalidInput, Violation

BAN = {"duration": "59m58.995275553s", "id": 1, "origin": "cscli", "scenario": "crowdsecurity/ssh-bf",
       "scope": "Ip", "type": "ban", "value": "192.0.2.77"}


def test_a_ban_is_a_decision_for_its_remaining_duration():
    [item] = from_stream({"deleted": None, "new": [BAN]})
    assert isinstance(item, Decision)
    assert item.target == ip_network("192.0.2.77/32") and item.violation is Violation.INTRUSION
    assert item.ttl == timedelta(minutes=59, seconds=58) and item.idempotency_key == "decision:1"


def test_remedies_and_scopes_the_network_cannot_enforce_are_skipped():
    items = from_stream({"new": [{**BAN, "type": "captcha"}, {**BAN, "scope": "Country", "value": "XX"},
                                 {**BAN, "simulated": True}]})  # fmt: skip
    assert [type(i) for i in items] == [Skip, Skip, Skip]


def test_a_deleted_decision_ends_what_crowdsec_opened():
    [item] = from_stream({"new": None, "deleted": [{**BAN, "duration": "-3.2s"}]})
    assert isinstance(item, End) and item.source == "crowdsec" and item.violation is None


def test_a_bad_decision_is_invalid_on_its_own_naming_its_field():
    items = from_stream({"new": [{**BAN, "value": "192.0.2.999"}, BAN]})
    assert isinstance(items[0], Invalid) and items[0].field == "new.0.value"
    assert isinstance(items[1], Decision)


@pytest.mark.parametrize(("text", "seconds"), [("4h", 14400), ("3h59m58.12s", 14398), ("90s", 90), ("1m0.5s", 60)])
def test_go_durations(text, seconds):
    assert go_duration("d", text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "forever", "-1s", "0.2s", "3d"])
def test_bad_or_spent_go_durations_name_the_field(text):
    with pytest.raises(InvalidInput) as err:
        go_duration("new.0.duration", text)
    assert err.value.field == "new.0.duration"
