"""Prometheus Alertmanager → decisions: an alert's labels say what to block and why.

The webhook receiver gets Alertmanager's version-4 payload: ``status``, ``groupLabels``,
``commonLabels``, ``alerts[]`` with each alert's own ``status`` (``firing`` / ``resolved``),
``labels``, ``annotations``, ``startsAt``, ``endsAt`` and ``fingerprint``. Every alert in the
group is one item:

* the target is the first of the labels ``enforcer_target``, ``target``, ``prefix``, ``ip``,
  ``address``, ``src_ip`` (or the label named by ``target_label``);
* the category is the label ``enforcer_violation``, ``violation`` or ``category``, else the
  receiver's default (``?violation=scanning`` on the webhook URL);
* optional labels ``customer``, ``asn``, ``ttl``; the reason is the ``summary`` or
  ``description`` annotation, else the alert name;
* a ``resolved`` alert releases its hold on what Alertmanager opened for that target
  (``on_resolved=end``, the default: the block ends with the last alert holding it) or is left
  to expire by its TTL (``on_resolved=keep``).

The alert's ``fingerprint`` is the cause that holds the block: two rules firing about one host
hold one decision, and it ends only when both have resolved; a repeat notification refreshes it.

The idempotency key is the alert's fingerprint plus its ``startsAt``: Alertmanager re-sends a
firing group every ``repeat_interval`` and on retries, and those must not stack up; the same
alert firing again after it resolved is a new offence (new ``startsAt``) and may escalate.
"""

from __future__ import annotations

from typing import Any, Literal

from ..model import Decision, InvalidInput
from . import End, Item, Skip, build, digest, each, need, one_of, prefix

SOURCE = "alertmanager"
TARGET_LABELS = ("enforcer_target", "target", "prefix", "ip", "address", "src_ip")
VIOLATION_LABELS = ("enforcer_violation", "violation", "category")
OnResolved = Literal["end", "keep"]


def from_webhook(
    payload: Any,
    *,
    on_resolved: OnResolved = "end",
    violation: str | None = None,
    target_label: str | None = None,
    actor: str = SOURCE,
) -> list[Item]:
    """One Alertmanager webhook body → one item per alert in the group (a bad alert is :class:`Invalid`)."""
    version = need(payload, "version")
    if str(version) != "4":
        raise InvalidInput("version", f"{version!r}: only Alertmanager webhook version 4 is understood")
    alerts = need(payload, "alerts")
    if not isinstance(alerts, list):
        raise InvalidInput("alerts", "expected a list")
    group_status = one_of("status", payload.get("status") or "firing", ("firing", "resolved"))
    return each(
        alerts,
        lambda where, a: _alert(where, a, group_status, on_resolved, violation, target_label, actor),
        prefix="alerts.",
    )


def _alert(
    where: str,
    alert: Any,
    group_status: str,
    on_resolved: OnResolved,
    default_violation: str | None,
    target_label: str | None,
    actor: str,
) -> Item:
    if not isinstance(alert, dict):
        raise InvalidInput(where, "expected a JSON object")
    labels = alert.get("labels") or {}
    annotations = alert.get("annotations") or {}
    if not isinstance(labels, dict) or not isinstance(annotations, dict):
        raise InvalidInput(f"{where}.labels", "labels and annotations must be JSON objects")
    status = one_of(f"{where}.status", alert.get("status") or group_status, ("firing", "resolved"))
    names = (target_label,) if target_label else TARGET_LABELS
    label = next((n for n in names if labels.get(n)), None)
    if label is None:
        wanted = ", ".join(names)
        raise InvalidInput(f"{where}.labels.{names[0]}", f"missing: one of the labels {wanted} names the target")
    target = prefix(f"{where}.labels.{label}", labels[label])
    vlabel = next((n for n in VIOLATION_LABELS if labels.get(n)), None)
    violation = labels[vlabel] if vlabel else default_violation
    if violation is None:
        raise InvalidInput(
            f"{where}.labels.violation", "missing: set the label, or ?violation=CATEGORY on the webhook URL"
        )
    fingerprint = str(alert.get("fingerprint") or digest(sorted(labels.items())))[:100]
    if status == "resolved":
        if on_resolved == "keep":
            return Skip(reason=f"{target} resolved; on_resolved=keep leaves the block to its TTL")
        reason = f"Alertmanager: {labels.get('alertname', 'alert')} resolved"
        return build(End, {"violation": f"{where}.labels.{vlabel or 'violation'}"}, target=target, source=SOURCE,
                     violation=violation, actor=actor, reason=reason, cause=fingerprint)
    starts = alert.get("startsAt") or ""
    text = annotations.get("summary") or annotations.get("description") or labels.get("alertname") or ""
    fields = {
        "target": f"{where}.labels.{label}",
        "violation": f"{where}.labels.{vlabel or 'violation'}",
        "customer": f"{where}.labels.customer",
        "asn": f"{where}.labels.asn",
        "ttl": f"{where}.labels.ttl",
        "reason": f"{where}.annotations.summary",
    }
    optional = {k: labels[k] for k in ("customer", "asn", "ttl") if labels.get(k)}
    return build(
        Decision,
        fields,
        target=target,
        violation=violation,
        source=SOURCE,
        actor=actor,
        reason=f"Alertmanager {labels.get('alertname', 'alert')}: {text}"[:1024],
        idempotency_key=f"{fingerprint}:{starts}"[:200],
        cause=fingerprint,
        **optional,
    )
