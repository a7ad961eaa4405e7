"""Issue 14.3: customer notices, delivered to a real SMTP server on loopback (aiosmtpd)."""

from __future__ import annotations

import email
import shutil
import socket
import time
from datetime import timedelta
from email.message import Message
from email.policy import default as default_policy
from pathlib import Path

import pytest
import yaml
from aiosmtpd.controller import Controller

from enforcer import notify, service
from enforcer.catalog import CATALOG
from enforcer.inventory import InventoryError, load_inventory
from enforcer.model import Decision, Violation, now
from enforcer.settings import Settings

from .conftest import EXAMPLE_INVENTORY

ABUSE = "abuse@globex.example.net"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mailbox:
    """aiosmtpd handler: every message the server accepted, parsed, with its envelope recipients."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        self.messages.append((list(envelope.rcpt_tos), email.message_from_bytes(envelope.content, policy=default_policy)))
        return "250 OK"


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def relay(port):
    """Start a real SMTP server on loopback when called; stopped at the end of the test."""
    started: list[Controller] = []

    def start() -> Mailbox:
        box = Mailbox()
        c = Controller(box, hostname="127.0.0.1", port=port)
        c.start()
        started.append(c)
        return box

    yield start
    for c in started:
        c.stop()


def make_inventory(tmp_path: Path, port: int, **customer_extra) -> Path:
    inv = tmp_path / "inventory"
    shutil.copytree(EXAMPLE_INVENTORY, inv)
    customers = yaml.safe_load((inv / "customers.yaml").read_text())
    customers["globex"].update({"abuse_contact": ABUSE, **customer_extra})
    (inv / "customers.yaml").write_text(yaml.safe_dump(customers))
    settings = yaml.safe_load((inv / "settings.yaml").read_text())
    settings["notices"] = {
        "enabled": True,
        "sender": "abuse-desk@provider.example.net",
        "smtp": {"host": "127.0.0.1", "port": port, "timeout": 5},
        "first_retry": 0.2,
        "interval": 0.1,
        "opt_out": ["ddos-victim"],
    }
    (inv / "settings.yaml").write_text(yaml.safe_dump(settings))
    return inv


@pytest.fixture
def ctx(tmp_path, port) -> service.Context:
    inv = make_inventory(tmp_path, port)
    return service.Context.open(Settings(inventory=inv, db=f"sqlite:///{tmp_path / 'e.db'}", output=tmp_path / "out"))


def block(ctx: service.Context, target: str, violation: str = "spam", ttl: str = "2h", **extra) -> int:
    d = Decision.model_validate(
        {"target": target, "violation": violation, "ttl": ttl, "actor": "noc", "source": "cli", **extra}
    )
    return service.submit(ctx, d).decision_id


def body(msg: Message, subtype: str) -> str:
    return msg.get_body(preferencelist=(subtype,)).get_content()


def test_spam_block_notice_reaches_the_customers_abuse_contact_with_addresses_expiry_and_clause(ctx, relay):
    box = relay()
    did = block(ctx, "203.0.113.7")  # globex's address space: found by prefix, no --customer needed
    expires = ctx.store.get_decision(did).expires_at

    assert notify.run_once(ctx.store, ctx.inventory)

    ((rcpt, msg),) = box.messages
    assert rcpt == [ABUSE] and msg["To"] == ABUSE
    clause = CATALOG[Violation.SPAM].clauses[0]
    for part in (body(msg, "plain"), body(msg, "html")):
        assert "203.0.113.7/32" in part
        assert expires.strftime("%Y-%m-%d %H:%M UTC") in part
        assert " ".join(clause.text.split()) in " ".join(part.split()).replace("&#34;", '"').replace("&#39;", "'")
        assert clause.provider in part
    assert "spam" in msg["Subject"] and "203.0.113.7/32" in msg["Subject"]
    sent = [e for e in ctx.store.history() if e.action == "notice-sent"]
    assert len(sent) == 1 and sent[0].decision_id == did and ABUSE in sent[0].reason


def test_relay_down_enforcement_is_applied_anyway_and_the_notice_arrives_once_it_returns(ctx, relay):
    did = block(ctx, "203.0.113.7")
    worker = notify.NoticeWorker(ctx.store, ctx.inventory, interval=0.1)
    worker.start()
    try:
        report = service.reconcile_once(ctx)
        assert all(r.ok for r in report.results) and any(r.changed for r in report.results)
        assert not any(p.has_changes for p in service.plan(ctx))  # the block is on the devices
        deadline = time.monotonic() + 60
        while not any(n.attempts >= 2 for n in notify.notices(ctx.store)):
            assert time.monotonic() < deadline, notify.notices(ctx.store)
            time.sleep(0.05)
        (queued,) = notify.notices(ctx.store)
        assert queued.status == "queued" and "refused" in queued.last_error.lower()

        box = relay()
        while not box.messages:
            assert time.monotonic() < deadline, notify.notices(ctx.store)
            time.sleep(0.05)
        while notify.notices(ctx.store)[0].status != "sent":
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        worker.stop()
    assert notify.run_once(ctx.store, ctx.inventory) == []  # nothing left: delivered exactly once
    ((rcpt, msg),) = box.messages
    assert rcpt == [ABUSE] and "203.0.113.7/32" in body(msg, "plain")
    assert [e.action for e in ctx.store.history() if e.action.startswith("notice")][-1] == "notice-sent"
    assert ctx.store.get_decision(did).status.value == "active"


def test_unblock_sends_an_end_notice_and_a_repeat_offence_an_escalation(ctx, relay):
    box = relay()
    first = block(ctx, "203.0.113.7")
    service.unblock(ctx, str(first), actor="noc", source="cli", reason="relay closed")
    block(ctx, "203.0.113.7")  # a second spam offence within the window: the ladder's next step
    notify.run_once(ctx.store, ctx.inventory)

    kinds = [n.kind for n in notify.notices(ctx.store)]
    assert kinds == ["start", "end", "escalation"]
    subjects = [m["Subject"] for _, m in box.messages]
    assert subjects[1].startswith("Lifted") and subjects[2].startswith("Escalated")
    assert "has ended" in body(box.messages[1][1], "plain")


def test_opt_outs_per_category_and_per_customer_withhold_the_notice_and_say_so(tmp_path, port, relay):
    box = relay()
    inv = make_inventory(tmp_path, port, notices_opt_out=["phishing"])
    ctx = service.Context.open(Settings(inventory=inv, db=f"sqlite:///{tmp_path / 'e.db'}", output=tmp_path / "o"))
    block(ctx, "203.0.113.7", "ddos-victim")  # opted out for every customer in settings.yaml
    block(ctx, "203.0.113.8", "phishing")  # globex opted out of phishing notices
    block(ctx, "203.0.113.9", "spam")

    notify.run_once(ctx.store, ctx.inventory)

    assert [n.status for n in notify.notices(ctx.store)] == ["opted-out", "opted-out", "sent"]
    assert len(box.messages) == 1
    assert len([e for e in ctx.store.history() if e.action == "notice-withheld"]) == 2


def test_customer_without_a_contact_gets_no_notice_and_blocks_are_unaffected(ctx, relay):
    box = relay()
    block(ctx, "198.51.100.7")  # acme: no abuse_contact in the inventory
    notify.run_once(ctx.store, ctx.inventory)
    assert [n.status for n in notify.notices(ctx.store)] == ["no-contact"]
    assert box.messages == []


def test_a_retry_waits_for_its_backoff(ctx, port):
    block(ctx, "203.0.113.7")
    at = now()
    assert notify.run_once(ctx.store, ctx.inventory, at) == []  # relay down: first attempt fails
    (n,) = notify.notices(ctx.store)
    assert n.attempts == 1 and n.next_attempt_at > at
    assert notify.deliver_due(ctx.store, ctx.inventory, at) == []
    assert notify.notices(ctx.store)[0].attempts == 1  # not due yet: not tried again
    assert notify.retry_after(1, 30) == timedelta(seconds=30) and notify.retry_after(20, 30) == timedelta(hours=1)


def test_invalid_abuse_contact_is_refused_at_load_naming_the_field(tmp_path, port):
    inv = make_inventory(tmp_path, port)
    customers = yaml.safe_load((inv / "customers.yaml").read_text())
    customers["globex"]["abuse_contact"] = "not an address"
    (inv / "customers.yaml").write_text(yaml.safe_dump(customers))
    with pytest.raises(InventoryError) as exc:
        load_inventory(inv)
    assert "customers.yaml: globex.abuse_contact:" in str(exc.value)


def test_notices_cli_lists_the_outbox(tmp_path, port, relay, monkeypatch):
    from typer.testing import CliRunner

    from enforcer.cli import app

    relay()
    inv = make_inventory(tmp_path, port)
    env = {"ENFORCER_INVENTORY": str(inv), "ENFORCER_DB": f"sqlite:///{tmp_path / 'e.db'}", "COLUMNS": "120"}
    runner = CliRunner()
    assert runner.invoke(app, ["block", "203.0.113.7", "--violation", "spam"], env=env).exit_code == 0
    sent = runner.invoke(app, ["notices", "send", "--json"], env=env)
    assert sent.exit_code == 0 and '"queued": 0' in sent.stdout
    listing = runner.invoke(app, ["notices", "list"], env=env)
    assert listing.exit_code == 0 and ABUSE in listing.stdout and "sent" in listing.stdout
