"""BGPalerter alerts: a customer AS announcing a prefix it must not becomes a bgp-hijack for that AS."""

from ipaddress import ip_network

import pytest

from enforcer.hooks import Skip
from enforcer.hooks.bgpalerter import from_webhook
from enforcer.model import Decision, InvalidInput, Violation


def test_more_specific_hijack_filters_the_announced_prefix_for_the_announcing_as(payload):
    [item] = from_webhook(payload("bgpalerter/hijack_more_specific.json"))
    assert isinstance(item, Decision)
    assert item.violation is Violation.BGP_HIJACK
    assert item.target == ip_network("203.0.113.128/25")
    assert item.asn == 64511
    assert item.source == "bgpalerter"
    assert item.reason.startswith("BGPalerter hijack: A new prefix 203.0.113.128/25")


def test_exact_prefix_hijack(payload):
    [item] = from_webhook(payload("bgpalerter/hijack_same_prefix.json"))
    assert item.target == ip_network("198.51.100.0/24") and item.asn == 64511


def test_rpki_invalid_route_is_treated_as_a_hijack_by_its_origin(payload):
    [item] = from_webhook(payload("bgpalerter/rpki_invalid.json"))
    assert item.violation is Violation.BGP_HIJACK
    assert item.target == ip_network("198.51.100.0/24") and item.asn == 64511


def test_rpki_unknown_is_not_evidence_of_a_hijack(payload):
    [item] = from_webhook(payload("bgpalerter/rpki_not_covered.json"))
    assert isinstance(item, Skip) and "not covered by a ROA" in item.reason


def test_visibility_loss_names_no_announcer_and_is_skipped(payload):
    [item] = from_webhook(payload("bgpalerter/visibility.json"))
    assert isinstance(item, Skip) and "visibility" in item.reason


def test_stock_text_template_is_understood_from_the_summary(payload):
    [item] = from_webhook(payload("bgpalerter/stock_template_hijack.json"))
    assert item.target == ip_network("203.0.113.128/25") and item.asn == 64511


def test_the_same_alert_twice_has_one_key_and_a_later_one_another(payload):
    doc = payload("bgpalerter/hijack_more_specific.json")
    first = from_webhook(doc)[0].idempotency_key
    assert from_webhook(dict(doc))[0].idempotency_key == first
    assert from_webhook({**doc, "earliest": "2024-04-15 09:00:00"})[0].idempotency_key != first


def test_an_as_set_origin_is_refused_naming_neworigin(payload):
    with pytest.raises(InvalidInput) as err:
        from_webhook(payload("bgpalerter/hijack_as_set.json"))
    assert err.value.field == "neworigin" and "AS set" in err.value.reason


def test_a_body_without_channel_or_summary_names_channel():
    with pytest.raises(InvalidInput) as err:
        from_webhook({"prefix": "203.0.113.0/24"})
    assert err.value.field == "channel"


def test_a_bad_announced_prefix_names_newprefix(payload):
    doc = {**payload("bgpalerter/hijack_more_specific.json"), "newprefix": "203.0.113.128/33"}
    with pytest.raises(InvalidInput) as err:
        from_webhook(doc)
    assert err.value.field == "newprefix" and "33" in err.value.reason


@pytest.mark.parametrize("key", ["channel", "summary", "text", "message"])
def test_a_text_key_of_another_json_type_names_the_key(key):
    """A template without quotes can send a number or list where text belongs: a 422, never a crash."""
    with pytest.raises(InvalidInput) as err:
        from_webhook({"channel": "hijack", key: ["A new prefix"], "newprefix": "203.0.113.128/25"})
    assert err.value.field == key


def test_bgpalerters_own_opsgenie_template_hijack_is_enforced(payload):
    """The summary is in ``description`` there, the channel under ``details``, no newprefix/neworigin."""
    [item] = from_webhook(payload("bgpalerter/opsgenie_hijack.json"))
    assert isinstance(item, Decision)
    assert item.target == ip_network("203.0.113.128/25") and item.asn == 64511
    assert item.reason.startswith("BGPalerter hijack: A new prefix 203.0.113.128/25")


def test_bgpalerters_own_opsgenie_template_rpki_invalid_is_enforced(payload):
    [item] = from_webhook(payload("bgpalerter/opsgenie_rpki_invalid.json"))
    assert isinstance(item, Decision)
    assert item.target == ip_network("198.51.100.0/24") and item.asn == 64511


def test_bgpalerters_own_opsgenie_template_visibility_is_skipped(payload):
    [item] = from_webhook(payload("bgpalerter/opsgenie_visibility.json"))
    assert isinstance(item, Skip) and "visibility" in item.reason


def test_the_prefix_description_in_enforcers_template_is_not_taken_for_the_summary(payload):
    """Enforcer's template has ``description`` = the prefix's description: the summary still wins."""
    [item] = from_webhook(payload("bgpalerter/hijack_more_specific.json"))
    assert "customer-a web farm" not in item.reason.split(":")[0]
    assert item.reason.startswith("BGPalerter hijack: A new prefix")
