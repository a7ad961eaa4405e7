"""Customer notices: when an enforcement starts, escalates or ends, tell the customer's abuse contact.

The seed policies oblige the provider to forward complaints to the customer and the customer to
remedy the violation, so each notice names what was done (the action), to what (the affected
addresses), when it started and when it ends, and the AUP clause it enforces, quoted from the
catalog with the policy it comes from.

Delivery must never hold enforcement back and never lose a notice, so it runs off the audit log:
the audit entry that starts or ends a decision is written in the same transaction as the decision,
and :func:`derive` turns each such entry into exactly one row of the ``notices`` outbox (its
``audit_id`` is unique). :func:`deliver_due` then hands queued rows to the SMTP relay, and a relay
that is down only pushes a row's next attempt back (30 s, doubling, at most an hour) — the row stays
queued until it is accepted. Every notice sent, and every one withheld by an opt-out, is audited.
"""

from __future__ import annotations

import logging
import os
import smtplib
import threading
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from ipaddress import ip_network
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from .catalog import CATALOG
from .inventory import Customer, Inventory, NoticeSettings
from .model import ActionKind, Violation, now
from .resources import TEMPLATES as DEVICE_TEMPLATES
from .tables import AuditRow, DecisionRecord, NoticeRow, aware_utc, naive_utc

log = logging.getLogger("enforcer.notify")

TEMPLATES = DEVICE_TEMPLATES / "notices"

#: The audit actions a customer is told about, and what each means for them.
KINDS = {"block": "start", "block-forced": "start", "approve": "start", "unblock": "end", "expired": "end"}

#: How far back :func:`derive` looks for events without a notice: a worker that was down for a
#: week still catches up, and a first start on an old store does not mail its whole history.
BACKFILL = timedelta(days=7)
MAX_RETRY = timedelta(hours=1)

#: Plain words for each action, as a customer (not a network engineer) reads them.
ACTION_WORDS = {
    ActionKind.ACL: "traffic filtered by an access list",
    ActionKind.NULL_ROUTE: "all traffic dropped (null route)",
    ActionKind.RTBH: "all traffic dropped at our edge and our upstreams (remotely triggered blackhole)",
    ActionKind.RATE_LIMIT: "traffic rate-limited",
    ActionKind.PREFIX_FILTER: "route announcements filtered",
    ActionKind.ANTI_SPOOF: "traffic with spoofed source addresses dropped",
}


class Notice(BaseModel):
    """A notice as the CLI, API and console show it."""

    model_config = ConfigDict(frozen=True)
    id: int
    audit_id: int
    decision_id: int | None
    customer: str | None
    kind: str
    status: str
    recipient: str
    subject: str
    attempts: int
    next_attempt_at: datetime
    last_error: str
    created_at: datetime
    sent_at: datetime | None


def _environment(folder: Path) -> Environment:
    return Environment(
        loader=FileSystemLoader(folder),
        undefined=StrictUndefined,
        autoescape=select_autoescape(["html.j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_notice(
    kind: str,
    decision: DecisionRecord,
    customer: Customer,
    settings: NoticeSettings,
    event_at: datetime,
    folder: Path = TEMPLATES,
) -> tuple[str, str, str]:
    """Subject, plain-text body and HTML body of one notice, from ``templates/notices/``;
    ``kind`` is start, escalation or end."""
    cat = CATALOG[decision.violation]
    clause = cat.clauses[0]
    actions = [
        {
            "words": ACTION_WORDS[e.action],
            "action": e.action.value,
            "target": e.target,
            "params": e.params.model_dump(mode="json", exclude_defaults=True),
            "expires_at": e.expires_at,
        }
        for e in decision.enforcements
    ]
    values = {
        "kind": kind,
        "decision": decision,
        "customer": customer,
        "category": cat,
        "clause": clause,
        "actions": actions,
        "addresses": sorted({str(e.target) for e in decision.enforcements} or {decision.target}),
        "sender": settings.sender,
        "event_at": event_at,
        "fmt": lambda dt: dt.strftime("%Y-%m-%d %H:%M UTC") if dt else "no expiry (until lifted)",
    }
    env = _environment(folder)
    subject = " ".join(env.get_template("subject.j2").render(values).split())
    return subject, env.get_template("notice.txt.j2").render(values), env.get_template("notice.html.j2").render(values)


def _withheld(customer: Customer | None, violation: Violation, settings: NoticeSettings) -> str | None:
    """Why no notice goes out for this customer and category, or None when one does."""
    if customer is None:
        return "no-contact"
    if not customer.notices or violation in customer.notices_opt_out or violation in settings.opt_out:
        return "opted-out"
    if customer.abuse_contact is None:
        return "no-contact"
    return None


def derive(store, inventory: Inventory, at: datetime | None = None) -> int:
    """Make one outbox row for each audit entry that starts or ends an enforcement and has none yet.

    Safe to run from several workers at once: the unique ``audit_id`` makes a second insert fail,
    and that entry is simply skipped. Returns the number of rows made.
    """
    at = at or now()
    settings = inventory.notices
    with store.session() as s:
        done = select(NoticeRow.audit_id)
        entries = s.scalars(
            select(AuditRow)
            .where(AuditRow.action.in_(KINDS), AuditRow.at >= naive_utc(at - BACKFILL), AuditRow.id.not_in(done))
            .order_by(AuditRow.id)
        ).all()
    made = 0
    for entry in entries:
        decision = store.get_decision(entry.decision_id) if entry.decision_id else None
        if decision is None:
            continue
        customer = inventory.customer_of(decision.customer, ip_network(decision.target))
        withheld = _withheld(customer, decision.violation, settings)
        kind = KINDS[entry.action]
        if kind == "start" and decision.step > 0:
            kind = "escalation"  # a repeat offence climbed the playbook's ladder
        row = NoticeRow(
            audit_id=entry.id,
            decision_id=decision.id,
            customer=customer.id if customer else None,
            kind=kind,
            status=withheld or "queued",
            next_attempt_at=naive_utc(at),
            created_at=naive_utc(at),
        )
        if withheld is None:
            assert customer is not None and customer.abuse_contact is not None
            row.recipient = customer.abuse_contact
            row.subject, row.text, row.html = render_notice(kind, decision, customer, settings, aware_utc(entry.at))
        try:
            with store.session() as s:
                s.add(row)
        except IntegrityError:  # another worker derived it first
            continue
        made += 1
        if withheld == "opted-out":
            store.audit(actor="enforcer", source="notify", action="notice-withheld", target=decision.target,
                        decision_id=decision.id, violation=decision.violation.value,
                        reason=f"{row.kind} notice: customer {row.customer} opted out of {decision.violation}")
    return made


def _message(row: NoticeRow, settings: NoticeSettings) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = settings.sender
    msg["To"] = row.recipient
    if settings.reply_to:
        msg["Reply-To"] = settings.reply_to
    msg["Subject"] = row.subject
    msg["Date"] = format_datetime(aware_utc(row.created_at))
    # One Message-ID per notice, the same on every retry: a relay or mailbox that got a copy
    # before a timeout can recognise the repeat.
    msg["Message-ID"] = make_msgid(idstring=f"enforcer-notice-{row.id}-{row.audit_id}", domain="enforcer.invalid")
    msg.set_content(row.text)
    msg.add_alternative(row.html, subtype="html")
    return msg


def send(msg: EmailMessage, settings: NoticeSettings) -> None:
    """Hand one message to the configured relay; raises OSError / SMTPException on any failure."""
    smtp = settings.smtp
    with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout) as client:
        if smtp.starttls:
            client.starttls()
        if smtp.username:
            client.login(smtp.username, os.environ.get(smtp.password_env or "", ""))
        client.send_message(msg)


def retry_after(attempts: int, first: float = 30.0) -> timedelta:
    """``first`` seconds (30), then doubling, at most an hour: a relay back from an outage gets the
    queue soon, and one that stays down costs a few attempts an hour."""
    return min(timedelta(seconds=first) * (2 ** max(attempts - 1, 0)), MAX_RETRY)


def deliver_due(store, inventory: Inventory, at: datetime | None = None) -> list[int]:
    """Send every queued notice whose next attempt is due; returns the ids that went out.

    Each row is claimed first (its next attempt moved past the send timeout), so two workers
    never send the same notice, and a worker that dies mid-send leaves it to be retried.
    """
    at = at or now()
    settings = inventory.notices
    sent = []
    with store.session() as s:
        due = s.scalars(
            select(NoticeRow.id).where(NoticeRow.status == "queued", NoticeRow.next_attempt_at <= naive_utc(at))
        ).all()
    for nid in due:
        with store.session() as s:
            row = s.get(NoticeRow, nid)
            lease = naive_utc(at + timedelta(seconds=settings.smtp.timeout * 3))
            claimed = s.execute(
                update(NoticeRow)
                .where(NoticeRow.id == nid, NoticeRow.status == "queued")
                .where(NoticeRow.next_attempt_at == row.next_attempt_at)
                .values(next_attempt_at=lease)
            ).rowcount
            msg = _message(row, settings) if claimed else None
        if msg is None:
            continue
        try:
            send(msg, settings)
        except (OSError, smtplib.SMTPException) as exc:
            _failed(store, nid, at, settings.first_retry, str(exc) or repr(exc))
            continue
        with store.session() as s:
            row = s.get(NoticeRow, nid)
            row.status, row.sent_at, row.attempts = "sent", naive_utc(now()), row.attempts + 1
            detail = {"notice": row.id, "kind": row.kind, "recipient": row.recipient, "attempts": row.attempts}
            decision_id, customer = row.decision_id, row.customer
        store.audit(actor="enforcer", source="notify", action="notice-sent", decision_id=decision_id,
                    reason=f"{detail['kind']} notice to {customer} <{detail['recipient']}>", detail=detail)
        sent.append(nid)
    return sent


def _failed(store, nid: int, at: datetime, first_retry: float, error: str) -> None:
    with store.session() as s:
        row = s.get(NoticeRow, nid)
        row.attempts += 1
        row.last_error = error[:500]
        row.next_attempt_at = naive_utc(at + retry_after(row.attempts, first_retry))
        attempts, decision_id = row.attempts, row.decision_id
    log.warning("notice %s: attempt %s failed, retrying: %s", nid, attempts, error)
    store.audit(actor="enforcer", source="notify", action="notice-failed", decision_id=decision_id,
                reason=error[:200], detail={"notice": nid, "attempts": attempts})


def run_once(store, inventory: Inventory, at: datetime | None = None) -> list[int]:
    """Derive what is new, then send what is due (the worker's one pass; ``enforcer notices send``)."""
    if not inventory.notices.enabled:
        return []
    derive(store, inventory, at)
    return deliver_due(store, inventory, at)


def notices(store, limit: int = 100) -> list[Notice]:
    with store.session() as s:
        rows = s.scalars(select(NoticeRow).order_by(NoticeRow.id.desc()).limit(limit)).all()
        return [_notice(r) for r in reversed(rows)]


def _notice(r: NoticeRow) -> Notice:
    values = {name: getattr(r, name) for name in Notice.model_fields}
    for name in ("next_attempt_at", "created_at", "sent_at"):
        values[name] = aware_utc(values[name])
    return Notice(**values)


def queued(store) -> int:
    with store.session() as s:
        return s.scalar(select(func.count(NoticeRow.id)).where(NoticeRow.status == "queued")) or 0


class NoticeWorker:
    """``enforcer serve``'s notice thread, apart from the reconcile loop: a mail relay that hangs
    costs this thread its timeout, never a push."""

    def __init__(self, store, inventory: Inventory, interval: float = 10.0):
        self.store, self.inventory, self.interval = store, inventory, interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                run_once(self.store, self.inventory)
            except Exception:  # a bad row or a store hiccup: log it, try again next pass
                log.exception("notice pass failed")
            self._stop.wait(self.interval)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="enforcer-notices", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
