"""CrowdSec LAPI stream answers (shapes as 1.4.6 prints them) → decisions, ends and skips, and the
holds they leave: a block two CrowdSec decisions hold ends when the last of them is deleted."""

from datetime import timedelta
from ipaddress import ip_network

import pytest

from enforcer import service
from enforcer.hooks import End, Invalid, Skip
from enforcer.hooks.crowdsec import from_stream, go_duration
from enforcer.hooks.crowdsec_stream import apply_stream
from enforcer.model import Decision, InvalidInput, Violation
from enforcer.resources import EXAMPLE_INVENTORY
from enforcer.settings import Settings

BAN = {"duration": "59m58.995275553s", "id": 1, "origin": "cscli", "scenario": "crowdsecurity/ssh-bf",
       "scope": "Ip", "type": "ban", "value": "192.0.2.77"}


def test_a_ban_is_a_decision_for_its_remaining_duration():
    [item] = from_stream({"deleted": None, "new": [BAN]})
    assert isinstance(item, Decision)
    assert item.target == ip_network("192.0.2.77/32") and item.violation is Violation.INTRUSION
    assert item.ttl == timedelta(minutes=59, seconds=58) and item.idempotency_key == "decision:1"
    assert item.cause == "decision:1"


def test_remedies_and_scopes_the_network_cannot_enforce_are_skipped():
    items = from_stream({"new": [{**BAN, "type": "captcha"}, {**BAN, "scope": "Country", "value": "XX"},
                                 {**BAN, "simulated": True}]})  # fmt: skip
    assert [type(i) for i in items] == [Skip, Skip, Skip]


def test_a_deleted_decision_ends_what_crowdsec_opened():
    [item] = from_stream({"new": None, "deleted": [{**BAN, "duration": "-3.2s"}]})
    assert isinstance(item, End) and item.source == "crowdsec" and item.violation is None
    assert item.cause is None, "CrowdSec reports a deletion once the address has no decision left"


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


@pytest.fixture
def ctx(tmp_path, db_url) -> service.Context:
    return service.Context.open(Settings(inventory=EXAMPLE_INVENTORY, db=db_url, output=tmp_path / "out"))


def _held(ctx) -> list[tuple[str, str]]:
    return [(d.status.value, d.source) for d in ctx.store.decisions(active_only=False)
            if str(d.target) == "192.0.2.77/32"]  # fmt: skip


SECOND = {**BAN, "id": 2, "origin": "crowdsec", "scenario": "crowdsecurity/ssh-slow-bf"}


def test_each_crowdsec_decision_on_a_blocked_host_holds_the_block_and_its_deletion_ends_crowdsecs_holds_only(ctx):
    """Issue 10.2 for CrowdSec: the holds carry CrowdSec's decision ids; its deletion of the address
    ends CrowdSec's block (every CrowdSec hold), and the operator's own block on the host stays."""
    first = apply_stream(ctx, {"new": [BAN], "deleted": None}, startup=False, violation=Violation.SPAM)
    again = apply_stream(ctx, {"new": [SECOND], "deleted": None}, startup=False, violation=Violation.SPAM)
    assert [r.outcome for r in first + again] == ["created", "duplicate"]
    assert ctx.store.holds("crowdsec", "crowdsec") == [("192.0.2.77/32", "decision:1"), ("192.0.2.77/32", "decision:2")]
    service.submit(ctx, Decision(target="192.0.2.77", violation="intrusion", actor="alice", reason="ticket 9"))

    gone = {**SECOND, "duration": "-1.5s"}
    [ended] = apply_stream(ctx, {"new": None, "deleted": [gone]}, startup=False, violation=Violation.SPAM)
    assert ended.outcome == "ended" and _held(ctx) == [("removed", "crowdsec"), ("active", "cli")], ended
    assert ctx.store.holds("crowdsec", "crowdsec") == [] and ctx.store.holds("cli", "alice") == [("192.0.2.77/32", "")]


def test_a_startup_pull_releases_the_holds_of_crowdsec_decisions_it_no_longer_lists(ctx):
    apply_stream(ctx, {"new": [BAN, SECOND]}, startup=True, violation=Violation.SPAM)
    apply_stream(ctx, {"new": [SECOND]}, startup=True, violation=Violation.SPAM)  # decision 1 went meanwhile
    assert ctx.store.holds("crowdsec", "crowdsec") == [("192.0.2.77/32", "decision:2")]
    assert _held(ctx) == [("active", "crowdsec")]
    apply_stream(ctx, {"new": None}, startup=True, violation=Violation.SPAM)
    assert _held(ctx) == [("removed", "crowdsec")]
