"""Generic JSON events for detectors without an adapter."""

from datetime import timedelta
from ipaddress import ip_network

import pytest

from enforcer.hooks import End
from enforcer.hooks.generic import from_events
from enforcer.model import Decision, InvalidInput, Violation


def test_an_event_becomes_a_decision_keyed_by_its_event_id(payload):
    [item] = from_events(payload("generic/scanning_event.json"))
    assert isinstance(item, Decision)
    assert item.target == ip_network("198.51.100.7/32") and item.violation is Violation.SCANNING
    assert item.ttl == timedelta(hours=2)
    assert item.source == "suricata" and item.idempotency_key == "suricata:ids-4711"


def test_resolved_event_ends_what_that_source_opened(payload):
    [item] = from_events(payload("generic/scanning_resolved.json"))
    assert isinstance(item, End) and item.source == "suricata"


def test_a_list_of_events(payload):
    items = from_events([payload("generic/scanning_event.json"), payload("generic/scanning_resolved.json")])
    assert [type(i) for i in items] == [Decision, End]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"target": "198.51.100.7", "violation": "scanning", "tll": "2h"}, "tll"),
        ({"violation": "scanning"}, "target"),
        ({"target": "198.51.100.7"}, "violation"),
        ({"target": "198.51.100.7", "violation": "scanning", "ttl": "forever"}, "ttl"),
        ({"target": "198.51.100.7", "violation": "jaywalking"}, "violation"),
        ([{"target": "198.51.100.7", "violation": "scanning"}, {"target": "x", "violation": "spam"}], "1.target"),
        ("198.51.100.7", "body"),
    ],
)
def test_malformed_events_name_the_field(body, field):
    with pytest.raises(InvalidInput) as err:
        from_events(body)
    assert err.value.field == field


def test_a_resolved_event_with_an_impossible_source_names_the_field():
    with pytest.raises(InvalidInput) as err:
        from_events({"target": "198.51.100.7", "violation": "scanning", "status": "resolved", "source": "Ä×+"})
    assert err.value.field == "source"
