"""Generic JSON events for detectors without an adapter."""

from datetime import timedelta
from ipaddress import ip_network

import pytest

from enforcer.hooks import End, Invalid
from enforcer.hooks.generic import from_events
from enforcer.model import Decision, InvalidInput, Violation


def test_an_event_becomes_a_decision_keyed_by_its_event_id(payload):
    [item] = from_events(payload("generic/scanning_event.json"))
    assert isinstance(item, Decision)
    assert item.target == ip_network("198.51.100.7/32") and item.violation is Violation.SCANNING
    assert item.ttl == timedelta(hours=2)
    assert item.idempotency_key == "suricata:ids-4711"


def test_the_payload_names_its_detector_but_never_the_source(payload):
    """A payload choosing ``source: fastnetmon`` (or ``api``) could end that source's blocks."""
    [item] = from_events({**payload("generic/scanning_event.json"), "source": "fastnetmon"})
    assert item.source == "generic" and item.reason.startswith("fastnetmon: ")


@pytest.mark.parametrize("name", ["api", "cli", "reconcile", "operator"])
def test_reserved_source_names_are_refused(payload, name):
    for doc in ("generic/scanning_event.json", "generic/scanning_resolved.json"):
        with pytest.raises(InvalidInput) as err:
            from_events({**payload(doc), "source": name})
        assert err.value.field == "source" and "reserved" in err.value.reason


def test_resolved_event_ends_what_the_generic_hook_opened(payload):
    [item] = from_events(payload("generic/scanning_resolved.json"))
    assert isinstance(item, End) and item.source == "generic"


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


def test_one_bad_event_in_a_list_is_invalid_alone():
    items = from_events([{"target": "198.51.100.7", "violation": "scanning"}, {"target": "x", "violation": "spam"},
                         "not an object"])
    assert isinstance(items[0], Decision)
    assert [(i.field) for i in items[1:]] == ["1.target", "2"]
    assert all(isinstance(i, Invalid) for i in items[1:])
