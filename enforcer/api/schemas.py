"""Request bodies of the detector hooks, as OpenAPI documents them.

These describe each detector's own payload loosely (``extra="allow"``: detectors add fields
between versions, and a new field must never break enforcement). Every field an adapter in
:mod:`enforcer.hooks` reads is declared here with its type, so a wrong JSON type is a 422 naming
it; the adapters check types again, for the payloads that reach them without this schema (a
notify script's stdin).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from ..model import Violation

Open = ConfigDict(extra="allow")


class FastNetMonAttackDetails(BaseModel):
    model_config = Open
    attack_uuid: str | None = Field(default=None, max_length=64)
    attack_direction: Literal["incoming", "outgoing", "internal", "other"] | None = None
    attack_type: str | None = None
    attack_protocol: str | None = None
    attack_severity: str | None = None
    initial_attack_power: StrictInt | None = None
    peak_attack_power: StrictInt | None = None


class FastNetMonCallback(BaseModel):
    """FastNetMon's JSON attack document (web callback / JSON notify script)."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [{
        "ip": "203.0.113.10", "action": "ban", "alert_scope": "host",
        "attack_details": {"attack_uuid": "041eb504-2b33-4ff7-a6b7-8235408d5062", "attack_direction": "incoming",
                           "attack_type": "udp_flood", "attack_protocol": "udp", "peak_attack_power": 282473}}]})
    action: Literal["ban", "unban", "attack_details", "attack_status", "partial_block", "partial_unblock"]
    ip: str | None = Field(default=None, max_length=64, description="Host address (per-host alerts)")
    alert_scope: str | None = Field(default=None, description="host (enforced), hostgroup, network (skipped)")
    direction: Literal["incoming", "outgoing", "internal", "other"] | None = Field(
        default=None, description="Used when attack_details has no attack_direction; a ban needs one of the two"
    )
    attack_details: FastNetMonAttackDetails | None = None


class BGPalerterAlert(BaseModel):
    """BGPalerter reportHTTP body built by the template in docs/detectors.md (or the stock ``text`` one)."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [{
        "channel": "hijack", "type": "hijack", "prefix": "203.0.113.0/24", "asn": "AS64496",
        "newprefix": "203.0.113.128/25", "neworigin": "AS64511", "earliest": "2024-04-14 04:02:13",
        "summary": "A new prefix 203.0.113.128/25 is announced by AS64511. It should be instead "
                   "203.0.113.0/24 (customer-a web farm) announced by AS64496"}]})
    channel: str | None = Field(default=None, description="hijack and rpki are enforced; the rest skipped")
    type: str | None = None
    summary: str | None = None
    text: str | None = Field(default=None, description="The stock template's summary")
    message: str | None = Field(default=None, description="Summary under another name (read if neither is set)")
    prefix: str | None = None
    newprefix: str | None = Field(default=None, description="The announced prefix")
    asn: str | None = None
    neworigin: str | None = Field(default=None, description="The announcing AS, e.g. AS64511")
    earliest: str | None = None
    latest: str | None = None
    description: str | None = None


class AlertmanagerAlert(BaseModel):
    model_config = Open
    status: Literal["firing", "resolved"] | None = None
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    startsAt: str | None = None
    endsAt: str | None = None
    generatorURL: str | None = None
    fingerprint: str | None = Field(default=None, max_length=64)


class AlertmanagerWebhook(BaseModel):
    """Alertmanager's webhook payload, version 4."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [{
        "version": "4", "status": "firing", "receiver": "enforcer", "groupKey": "{}:{alertname=\"OutboundSpam\"}",
        "alerts": [{"status": "firing", "labels": {"alertname": "OutboundSpam", "src_ip": "203.0.113.45",
                                                    "violation": "spam"},
                    "annotations": {"summary": "812 SMTP connections/min"}, "startsAt": "2024-02-06T13:08:45.828Z",
                    "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "1a30ba71cca2921f"}]}]})
    version: str
    status: Literal["firing", "resolved"] | None = None
    receiver: str | None = None
    groupKey: str | None = None
    truncatedAlerts: StrictInt | None = None
    groupLabels: dict[str, str] = {}
    commonLabels: dict[str, str] = {}
    commonAnnotations: dict[str, str] = {}
    externalURL: str | None = None
    alerts: list[AlertmanagerAlert]


class GenericEvent(BaseModel):
    """One event from any detector; ``status: resolved`` ends what the generic hook opened for the target."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "target": "198.51.100.7", "violation": "scanning", "reason": "portscan seen by IDS", "ttl": "2h",
        "event_id": "ids-4711", "source": "suricata"}]})
    target: str = Field(max_length=64)
    violation: Violation
    reason: str | None = Field(default=None, max_length=1024)
    ttl: str | None = Field(default=None, max_length=16, description="30m, 2h, 7d")
    expires_at: datetime | None = None
    customer: str | None = Field(default=None, max_length=64)
    asn: StrictInt | None = Field(default=None, ge=1, le=4294967295)
    source: str | None = Field(
        default=None, max_length=32,
        description="The detector's name, shown in the reason; the decision's source is always generic "
        "(cli, api, reconcile and operator are refused)",
    )
    event_id: str | None = Field(default=None, max_length=150, description="Becomes the idempotency key")
    status: Literal["firing", "resolved"] = "firing"
    labels: dict[str, str] = {}
