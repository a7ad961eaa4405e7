"""Playbooks and guardrails: what a decision becomes, and what is refused before it is stored."""

from __future__ import annotations

from ipaddress import ip_address, ip_network
from pathlib import Path

import pytest

from enforcer import policy
from enforcer.inventory import Attachment, Customer, Device, Guardrails, Inventory
from enforcer.model import ActionKind, Decision, InvalidInput, Refused, Status
from enforcer.policy import PlaybookError, Snapshot, check_decision, enforcements_for, load_playbooks

REPO = Path(__file__).resolve().parent.parent
BOOKS = load_playbooks(REPO / "playbooks")


def inventory(**guardrails) -> Inventory:
    edge = Device(name="edge1", platform="frr", role="edge", bgp_asn=64500)
    cust = Customer(
        id="cust1",
        asn=64501,
        prefixes=(ip_network("198.51.100.0/24"),),
        attachments=(Attachment(device="edge1", interface="eth1", neighbor=ip_address("192.0.2.2")),),
    )
    return Inventory(
        devices={"edge1": edge},
        customers={"cust1": cust},
        guardrails=Guardrails(protected=(ip_network("192.0.2.0/28"),), **guardrails),
    )


def decide(target: str, violation: str, **kw) -> Decision:
    return Decision.model_validate({"target": target, "violation": violation, **kw})


def test_every_category_has_a_playbook():
    assert len(BOOKS) == 11


@pytest.mark.parametrize(
    ("violation", "first", "second"),
    [
        ("spam", ActionKind.ACL, ActionKind.NULL_ROUTE),
        ("ddos-outbound", ActionKind.RATE_LIMIT, ActionKind.NULL_ROUTE),
        ("ddos-victim", ActionKind.RTBH, ActionKind.RTBH),
        ("scanning", ActionKind.ACL, ActionKind.NULL_ROUTE),
        ("malware-hosting", ActionKind.NULL_ROUTE, ActionKind.NULL_ROUTE),
        ("excessive-bandwidth", ActionKind.RATE_LIMIT, ActionKind.RATE_LIMIT),
        ("intrusion", ActionKind.ACL, ActionKind.NULL_ROUTE),
        ("phishing", ActionKind.NULL_ROUTE, ActionKind.NULL_ROUTE),
        ("illegal-content", ActionKind.NULL_ROUTE, ActionKind.NULL_ROUTE),
        ("spoofing", ActionKind.ANTI_SPOOF, ActionKind.ANTI_SPOOF),
        ("bgp-hijack", ActionKind.PREFIX_FILTER, ActionKind.PREFIX_FILTER),
    ],
)
def test_ladder_escalates_on_repeat(violation, first, second):
    d = decide("203.0.113.7", violation, customer="cust1")
    assert enforcements_for(d, BOOKS[d.violation], 0)[1][0].action is first
    assert enforcements_for(d, BOOKS[d.violation], 1)[1][0].action is second
    assert enforcements_for(d, BOOKS[d.violation], 9)[1][0].action is second


def test_spam_acl_closes_the_mail_ports_only():
    d = decide("203.0.113.7", "spam")
    spec = enforcements_for(d, BOOKS[d.violation], 0)[1][0]
    assert spec.params.protocol.value == "tcp"
    assert spec.params.ports == (25, 465, 587)


def test_rtbh_carries_the_blackhole_community():
    d = decide("203.0.113.7", "ddos-victim")
    spec = enforcements_for(d, BOOKS[d.violation], 0)[1][0]
    assert str(spec.params.community) == "65535:666"


def test_protected_prefix_is_refused_even_forced():
    with pytest.raises(Refused, match="protected"):
        check_decision(decide("192.0.2.5", "malware-hosting", force=True), inventory(), BOOKS[decide("192.0.2.5", "spam").violation])


def test_a_block_covering_a_protected_prefix_is_refused():
    d = decide("192.0.2.0/24", "malware-hosting", force=True)
    with pytest.raises(Refused, match="protected"):
        check_decision(d, inventory(), BOOKS[d.violation])


def test_hijack_filter_may_not_cover_the_customers_own_prefix():
    d = decide("198.51.100.0/25", "bgp-hijack", customer="cust1")
    with pytest.raises(Refused, match="own prefixes"):
        check_decision(d, inventory(), BOOKS[d.violation])


def test_hijack_of_a_broad_foreign_prefix_needs_no_force():
    d = decide("203.0.0.0/16", "bgp-hijack", asn=64501)
    check_decision(d, inventory(), BOOKS[d.violation])


def snapshot(**counts) -> Snapshot:
    """What the store would hold: nothing, unless said."""
    base = {"by_key": None, "duplicate": None, "new_automatic": 0, "new_from_source": 0, "active": 0, "prior": 0,
            "hosts_in_space": 0}
    return Snapshot(**{**base, **counts})


def judge(target: str, violation: str, *, automatic: bool, inv: Inventory | None = None, **counts):
    d = Decision(target=target, violation=violation, source="fastnetmon" if automatic else "cli")
    return policy.decide(d, snapshot(**counts), inv or inventory(), BOOKS[d.violation], automatic=automatic)


def test_the_flood_breaker_stops_detectors_never_operators():
    with pytest.raises(Refused) as exc:
        judge("198.51.100.7", "ddos-victim", automatic=True, inv=inventory(max_new_per_minute=5), new_automatic=5)
    assert exc.value.field == "rate"
    assert judge("198.51.100.7", "ddos-victim", automatic=False, inv=inventory(max_new_per_minute=5),
                 new_automatic=500).status is Status.ACTIVE


def test_the_blast_radius_cap_holds_for_everyone():
    for automatic in (True, False):
        with pytest.raises(Refused) as exc:
            judge("198.51.100.7", "spam", automatic=automatic, inv=inventory(max_active=10), active=10)
        assert exc.value.field == "blast_radius"


def test_a_detector_may_not_blackhole_a_third_party_address_an_operator_may():
    """RFC 7999 3.3: 203.0.113.10 is no customer's and not the operator's: a detector's RTBH is refused."""
    with pytest.raises(Refused, match="no customer's and not in the operator's own space"):
        judge("203.0.113.10", "ddos-victim", automatic=True)
    assert judge("203.0.113.10", "ddos-victim", automatic=False).status is Status.ACTIVE
    assert judge("198.51.100.10", "ddos-victim", automatic=True).status is Status.ACTIVE  # cust1's host
    own = inventory(own_space=(ip_network("203.0.113.0/24"),))
    assert judge("203.0.113.10", "ddos-victim", automatic=True, inv=own).status is Status.ACTIVE


def test_a_detectors_block_that_does_not_drop_everything_may_name_any_address():
    """Rate limiting an outbound attacker or filtering spam is not a blackhole: no space check."""
    assert judge("203.0.113.66", "ddos-outbound", automatic=True).status is Status.ACTIVE


def test_a_detectors_block_of_a_customers_whole_prefix_is_held():
    assert judge("198.51.100.0/24", "ddos-victim", automatic=True).status is Status.PENDING
    with pytest.raises(Refused, match="--force"):  # an operator must say --force for a /24 covering the customer
        judge("198.51.100.0/23", "ddos-victim", automatic=False)


def test_a_detectors_block_beyond_n_of_one_customers_hosts_is_held():
    inv = inventory(max_detector_hosts_per_customer=3)
    assert judge("198.51.100.9", "ddos-victim", automatic=True, inv=inv, hosts_in_space=2).status is Status.ACTIVE
    assert judge("198.51.100.9", "ddos-victim", automatic=True, inv=inv, hosts_in_space=3).status is Status.PENDING


def test_broken_playbook_names_file_and_field(tmp_path):
    for f in (REPO / "playbooks").glob("*.yaml"):
        (tmp_path / f.name).write_text(f.read_text())
    (tmp_path / "spam.yaml").write_text("violation: spam\ndefault_ttl: soon\nladder:\n  - action: explode\n")
    with pytest.raises(PlaybookError) as exc:
        load_playbooks(tmp_path)
    text = "\n".join(exc.value.problems)
    assert "spam.yaml: default_ttl:" in text
    assert "spam.yaml: ladder.0.action:" in text


def test_a_detectors_too_broad_decision_is_held_until_an_operator_approves(tmp_path):
    from enforcer import service
    from enforcer.settings import Settings

    ctx = service.Context.open(Settings(inventory=REPO / "inventory" / "example", db=f"sqlite:///{tmp_path}/e.db"))
    broad = Decision(target="203.0.112.0/22", violation="malware-hosting", source="fastnetmon")
    with pytest.raises(Refused):
        service.submit(ctx, broad)  # without hold, a plain refusal
    held = service.submit(ctx, broad, automatic=True)
    assert held.created and held.pending
    assert ctx.store.active_enforcements() == []  # nothing enforced while held
    assert service.submit(ctx, broad, automatic=True).decision_id == held.decision_id  # re-alert: same decision
    approved = service.approve(ctx, held.decision_id, actor="alice", source="cli", reason="confirmed botnet /22")
    assert approved.status.value == "active"
    assert [str(e.target) for e in ctx.store.active_enforcements()] == ["203.0.112.0/22"]
    assert [e.action for e in ctx.store.history()][-2:] == ["block-held", "approve"]
    with pytest.raises(InvalidInput):
        service.approve(ctx, held.decision_id, actor="alice", source="cli")


def test_a_held_decision_that_is_refused_for_other_reasons_is_never_stored(tmp_path):
    from enforcer import service
    from enforcer.settings import Settings

    ctx = service.Context.open(Settings(inventory=REPO / "inventory" / "example", db=f"sqlite:///{tmp_path}/e.db"))
    with pytest.raises(Refused, match="protected"):
        service.submit(ctx, Decision(target="192.0.2.0/24", violation="malware-hosting", source="x"), automatic=True)
    assert ctx.store.snapshot()["decisions"] == 0


def test_a_held_decision_is_listed_and_expires_like_any_other(tmp_path):
    from datetime import timedelta

    from enforcer import service
    from enforcer.model import now
    from enforcer.settings import Settings

    ctx = service.Context.open(Settings(inventory=REPO / "inventory" / "example", db=f"sqlite:///{tmp_path}/e.db"))
    held = service.submit(ctx, Decision(target="203.0.112.0/22", violation="phishing", source="x", ttl="1h"), automatic=True)
    assert [d.id for d in service.list_decisions(ctx)] == [held.decision_id]
    ended = ctx.store.expire_due(at=now() + timedelta(hours=2))
    assert [d.id for d in ended] == [held.decision_id]
    assert ctx.store.get_decision(held.decision_id).status.value == "expired"
    with pytest.raises(InvalidInput):
        service.approve(ctx, held.decision_id, actor="alice", source="cli")
