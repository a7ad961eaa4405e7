"""Intake parsing: every value becomes a type once, and bad values name the field."""

from __future__ import annotations

from datetime import timedelta
from ipaddress import IPv4Network, IPv6Network

import pytest
from pydantic import ValidationError

from enforcer.model import (
    ActionParams,
    Decision,
    parse_duration,
    parse_prefix,
    parse_rate,
    safe_comment,
    validation_error_to_invalid,
)


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("30m", 1800), ("2h", 7200), ("7d", 604800), ("1w", 604800)])
def test_durations_parse(text, seconds):
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "2", "2x", "-5m", "0m", "1.5h", "400d"])
def test_bad_durations_are_refused(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_host_address_becomes_a_host_prefix():
    assert parse_prefix("203.0.113.7") == IPv4Network("203.0.113.7/32")
    assert parse_prefix("2001:db8::1") == IPv6Network("2001:db8::1/128")


@pytest.mark.parametrize(
    ("text", "message"),
    [("203.0.113.0/33", "prefix length 33 > 32"), ("2001:db8::/129", "prefix length 129 > 128"),
     ("203.0.113.7/24", "host bits set"), ("203.0.113.7\nno ip route", "not a valid"), ("203.0.113.7 x", "not a valid")],
)
def test_bad_prefixes_say_why(text, message):
    with pytest.raises(ValueError, match=message):
        parse_prefix(text)


def test_rates_parse():
    assert parse_rate("10Mbit") == 10_000_000
    assert parse_rate("500kbit") == 500_000
    assert parse_rate("1Gbps") == 1_000_000_000
    with pytest.raises(ValueError):
        parse_rate("fast")


def test_safe_comment_keeps_one_harmless_line():
    assert safe_comment("x\nno router bgp 65000") == "x no router bgp 65000"
    assert safe_comment("x; rm -rf /") == "x rm -rf /"
    assert safe_comment('a"b`c$(d)') == "a b c d"
    assert len(safe_comment("y" * 500)) <= 48


def test_decision_reason_is_kept_verbatim_but_comment_is_sanitised():
    d = Decision(target="203.0.113.7", violation="spam", reason="x\nno router bgp 65000")
    assert d.reason == "x\nno router bgp 65000"
    assert "\n" not in d.comment


def test_validation_error_names_the_field():
    with pytest.raises(ValidationError) as exc:
        Decision.model_validate({"target": "203.0.113.0/33", "violation": "spam"})
    invalid = validation_error_to_invalid(exc.value)
    assert invalid.field == "target"
    assert "33 > 32" in invalid.reason


def test_bgp_hijack_needs_a_customer():
    with pytest.raises(ValidationError) as exc:
        Decision.model_validate({"target": "192.0.2.0/24", "violation": "bgp-hijack"})
    assert validation_error_to_invalid(exc.value).field == "customer"


def test_ports_need_an_l4_protocol():
    with pytest.raises(ValidationError):
        ActionParams(ports=(25,))
    assert ActionParams(protocol="tcp", ports=(587, 25, 25)).ports == (25, 587)
