"""FastNetMon's notify script and JSON callback, as FastNetMon sends them, become the right intake items."""

import json
from ipaddress import ip_network

import pytest

from enforcer.hooks import End, Skip
from enforcer.hooks.fastnetmon import from_callback, from_notify, notify_document
from enforcer.model import Decision, InvalidInput, Violation


def test_incoming_ban_blackholes_the_victim_host(payload):
    [item] = from_callback(payload("fastnetmon/ban_incoming.json"))
    assert isinstance(item, Decision)
    assert item.target == ip_network("203.0.113.10/32")
    assert item.violation is Violation.DDOS_VICTIM
    assert item.source == "fastnetmon"
    assert item.idempotency_key == "041eb504-2b33-4ff7-a6b7-8235408d5062"
    assert "282473 pps" in item.reason and "udp_flood" in item.reason


def test_outgoing_ban_cuts_off_the_attacking_host(payload):
    [item] = from_callback(payload("fastnetmon/ban_outgoing.json"))
    assert item.violation is Violation.DDOS_OUTBOUND
    assert item.target == ip_network("203.0.113.66/32")


def test_ipv6_victim_becomes_a_128(payload):
    [item] = from_callback(payload("fastnetmon/ban_incoming_ipv6.json"))
    assert item.target == ip_network("2001:db8:10::25/128")


def test_unban_ends_what_fastnetmon_opened_for_that_host(payload):
    [item] = from_callback(payload("fastnetmon/unban_incoming.json"))
    assert item == End(target="203.0.113.10/32", source="fastnetmon", violation=Violation.DDOS_VICTIM,
                       actor="fastnetmon", reason="FastNetMon unban", cause="041eb504-2b33-4ff7-a6b7-8235408d5062")


@pytest.mark.parametrize("name", ["fastnetmon/attack_status.json", "fastnetmon/ban_hostgroup.json"])
def test_status_updates_and_hostgroup_alerts_enforce_nothing(payload, name):
    [item] = from_callback(payload(name))
    assert isinstance(item, Skip)


def test_the_same_attack_delivered_twice_carries_one_key(payload):
    doc = payload("fastnetmon/ban_incoming.json")
    assert from_callback(doc)[0].idempotency_key == from_callback(json.loads(json.dumps(doc)))[0].idempotency_key


def test_community_notify_script_call_with_text_details_on_stdin(payload):
    stdin = payload("fastnetmon/community_ban_stdin.txt")
    [item] = from_notify(["203.0.113.10", "incoming", "282473", "ban"], stdin)
    assert item.violation is Violation.DDOS_VICTIM
    assert item.target == ip_network("203.0.113.10/32")
    assert "udp_flood" in item.reason
    again = from_notify(["203.0.113.10", "incoming", "282473", "ban"], stdin)[0]
    assert item.idempotency_key is not None and again.idempotency_key == item.idempotency_key


def test_community_unban_has_no_stdin_and_ends_the_block():
    [item] = from_notify(["203.0.113.10", "incoming", "0", "unban"], "")
    assert isinstance(item, End) and item.violation is Violation.DDOS_VICTIM


def test_advanced_json_notify_script_reads_the_document_from_stdin(payload):
    stdin = json.dumps(payload("fastnetmon/ban_outgoing.json"))
    [item] = from_notify([], stdin)
    assert item.violation is Violation.DDOS_OUTBOUND


def test_advanced_compatibility_unban_ends_whatever_direction_fastnetmon_banned():
    """``unban IP`` says no direction: an outgoing ban must be lifted too, not only ddos-victim."""
    [item] = from_notify(["unban", "203.0.113.10"], "")
    assert isinstance(item, End) and item.violation is None


def test_advanced_compatibility_ban_takes_the_direction_from_the_attack_details(payload):
    stdin = payload("fastnetmon/community_ban_stdin.txt")
    [item] = from_notify(["ban", "203.0.113.10"], stdin)
    assert item.violation is Violation.DDOS_VICTIM


def test_a_ban_without_a_direction_is_refused_not_guessed(payload):
    with pytest.raises(InvalidInput) as err:
        from_notify(["ban", "203.0.113.10"], "")
    assert err.value.field == "direction"
    doc = payload("fastnetmon/ban_outgoing.json")
    del doc["attack_details"]["attack_direction"]
    with pytest.raises(InvalidInput) as err:
        from_callback(doc)
    assert err.value.field == "attack_details.attack_direction" and "missing" in err.value.reason


def test_an_unban_without_a_direction_ends_any_category(payload):
    doc = payload("fastnetmon/unban_incoming.json")
    del doc["attack_details"]["attack_direction"]
    [item] = from_callback(doc)
    assert isinstance(item, End) and item.violation is None


@pytest.mark.parametrize("direction", [[1], {"a": 1}, 7, "sideways"])
def test_a_direction_of_the_wrong_type_names_the_field(payload, direction):
    doc = payload("fastnetmon/ban_incoming.json")
    del doc["attack_details"]["attack_direction"]
    doc["direction"] = direction
    with pytest.raises(InvalidInput) as err:
        from_callback(doc)
    assert err.value.field == "direction"


@pytest.mark.parametrize("action", [["ban"], {"ban": 1}, 1])
def test_an_action_of_the_wrong_type_names_the_field(payload, action):
    with pytest.raises(InvalidInput) as err:
        from_callback({**payload("fastnetmon/ban_incoming.json"), "action": action})
    assert err.value.field == "action"


def test_a_notify_call_is_the_same_document_the_web_callback_sends(payload):
    """One reading of the call, whether it is applied locally or posted to ``enforcer serve``."""
    stdin = payload("fastnetmon/community_ban_stdin.txt")
    doc, key = notify_document(["203.0.113.10", "incoming", "282473", "ban"], stdin)
    assert doc["ip"] == "203.0.113.10" and doc["action"] == "ban"
    assert doc["attack_details"]["attack_direction"] == "incoming"
    assert doc["attack_details"]["attack_type"] == "udp_flood"
    [local] = from_notify(["203.0.113.10", "incoming", "282473", "ban"], stdin)
    [posted] = from_callback(doc, key=key)
    assert local == posted


@pytest.mark.parametrize(
    ("args", "stdin", "field"),
    [
        (["203.0.113.10", "incoming", "lots", "ban"], "", "pps"),
        (["203.0.113.10", "sideways", "10", "ban"], "", "direction"),
        (["203.0.113.300", "incoming", "10", "ban"], "", "ip"),
        (["203.0.113.10", "incoming", "10", "nuke"], "", "action"),
        (["203.0.113.10"], "", "args"),
        ([], "{not json", "stdin"),
    ],
)
def test_malformed_calls_name_the_field(args, stdin, field):
    with pytest.raises(InvalidInput) as err:
        from_notify(args, stdin)
    assert err.value.field == field


def test_callback_without_ip_names_the_field(payload):
    doc = payload("fastnetmon/ban_incoming.json")
    del doc["ip"]
    with pytest.raises(InvalidInput) as err:
        from_callback(doc)
    assert err.value.field == "ip"


def test_direction_unknown_takes_the_side_with_more_packets(payload):
    """Community's text: incoming 282473 pps vs outgoing 12 → the host is the victim."""
    stdin = payload("fastnetmon/community_ban_stdin.txt")
    [item] = from_notify(["203.0.113.10", "unknown", "282473", "ban"], stdin)
    assert item.violation is Violation.DDOS_VICTIM
    doc = payload("fastnetmon/ban_outgoing.json")
    doc["attack_details"]["attack_direction"] = "unknown"
    [item] = from_callback(doc)
    assert item.violation is Violation.DDOS_OUTBOUND


def test_direction_unknown_without_counters_is_skipped_not_refused():
    [item] = from_notify(["203.0.113.10", "unknown", "282473", "ban"], "")
    assert isinstance(item, Skip) and "direction 'unknown'" in item.reason


def test_unban_with_direction_unknown_ends_any_category():
    [item] = from_notify(["203.0.113.10", "unknown", "0", "unban"], "")
    assert isinstance(item, End) and item.violation is None


def test_unban_with_on_unban_keep_ends_nothing(payload):
    """FastNetMon behind an upstream blackhole sees the attack end as soon as the blackhole works."""
    [item] = from_callback(payload("fastnetmon/unban_incoming.json"), on_unban="keep")
    assert isinstance(item, Skip) and "on_unban=keep" in item.reason
    [item] = from_notify(["203.0.113.10", "incoming", "0", "unban"], "", on_unban="keep")
    assert isinstance(item, Skip)


def test_a_ttl_sets_how_long_the_ban_lasts_and_a_bad_one_names_the_field():
    [item] = from_notify(["203.0.113.10", "incoming", "5", "ban"], "", ttl="90s")
    assert item.ttl.total_seconds() == 90
    with pytest.raises(InvalidInput) as err:
        from_notify(["203.0.113.10", "incoming", "5", "ban"], "", ttl="lots")
    assert err.value.field == "ttl"
