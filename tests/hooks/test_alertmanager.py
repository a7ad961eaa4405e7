"""Alertmanager webhook groups: labels pick target and category; resolved ends the block."""

from ipaddress import ip_network

import pytest

from enforcer.hooks import End, Invalid, Skip
from enforcer.hooks.alertmanager import from_webhook
from enforcer.model import Decision, InvalidInput, Violation


def test_each_firing_alert_in_a_group_is_one_decision(payload):
    items = from_webhook(payload("alertmanager/firing_two_alerts.json"))
    assert [type(i) for i in items] == [Decision, Decision]
    assert [i.target for i in items] == [ip_network("203.0.113.45/32"), ip_network("203.0.113.46/32")]
    assert all(i.violation is Violation.SPAM and i.source == "alertmanager" for i in items)
    assert items[0].idempotency_key == "1a30ba71cca2921f:2024-02-06T13:08:45.828Z"
    assert "812 SMTP connections" in items[0].reason


def test_resolved_alert_ends_the_block_by_default(payload):
    [item] = from_webhook(payload("alertmanager/resolved_one_alert.json"))
    assert isinstance(item, End)
    assert item.target == ip_network("203.0.113.45/32") and item.violation is Violation.SPAM


def test_resolved_alert_can_be_left_to_its_ttl(payload):
    [item] = from_webhook(payload("alertmanager/resolved_one_alert.json"), on_resolved="keep")
    assert isinstance(item, Skip)


def test_each_alert_follows_its_own_status_inside_a_firing_group(payload):
    items = from_webhook(payload("alertmanager/mixed_group.json"))
    assert [type(i) for i in items] == [End, Decision]


def test_receiver_default_category_applies_when_no_label_names_one(payload):
    [item] = from_webhook(payload("alertmanager/firing_no_category.json"), violation="scanning")
    assert item.violation is Violation.SCANNING and item.target == ip_network("198.51.100.99/32")


def test_no_category_anywhere_names_the_label(payload):
    [item] = from_webhook(payload("alertmanager/firing_no_category.json"))
    assert isinstance(item, Invalid) and item.field == "alerts.0.labels.violation"


def test_a_custom_target_label(payload):
    doc = payload("alertmanager/firing_no_category.json")
    doc["alerts"][0]["labels"]["offender"] = "198.51.100.100"
    [item] = from_webhook(doc, violation="scanning", target_label="offender")
    assert item.target == ip_network("198.51.100.100/32")


def test_an_unknown_category_label_names_it_and_the_other_alert_stands(payload):
    doc = payload("alertmanager/firing_two_alerts.json")
    doc["alerts"][1]["labels"]["violation"] = "jaywalking"
    good, bad = from_webhook(doc)
    assert isinstance(good, Decision) and good.target == ip_network("203.0.113.45/32")
    assert isinstance(bad, Invalid) and bad.field == "alerts.1.labels.violation"


def test_a_bad_target_label_names_it(payload):
    doc = payload("alertmanager/firing_two_alerts.json")
    doc["alerts"][0]["labels"]["src_ip"] = "not-an-ip"
    bad, good = from_webhook(doc)
    assert isinstance(bad, Invalid) and bad.field == "alerts.0.labels.src_ip"
    assert isinstance(good, Decision)


@pytest.mark.parametrize("alert", [["not", "an", "object"], {"labels": {"src_ip": "203.0.113.9"}, "status": ["firing"]}])
def test_an_alert_of_the_wrong_shape_is_invalid_alone(payload, alert):
    doc = payload("alertmanager/firing_two_alerts.json")
    doc["alerts"].append(alert)
    items = from_webhook(doc)
    assert [type(i) for i in items] == [Decision, Decision, Invalid]
    assert items[2].field.startswith("alerts.2")


def test_other_payload_versions_are_refused(payload):
    doc = {**payload("alertmanager/firing_two_alerts.json"), "version": "3"}
    with pytest.raises(InvalidInput) as err:
        from_webhook(doc)
    assert err.value.field == "version"
