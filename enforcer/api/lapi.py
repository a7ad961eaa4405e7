"""A CrowdSec-compatible decision stream, so CrowdSec's own bouncers enforce enforcer's decisions on hosts.

``GET /v1/decisions/stream`` is the Local API route every CrowdSec bouncer polls (the real
``crowdsec-firewall-bouncer`` included): ``X-Api-Key`` names an enforcer token (any scope: it
only reads), ``startup=true`` asks for the whole set, later polls for what changed since that
key's previous poll: ``{"new": [...], "deleted": [...]}``, ``null`` when empty, as CrowdSec does.

A bouncer drops traffic *from* an address, so the stream carries the decisions whose target is
the offender — spam, outbound DDoS, scanning, intrusion, malware or phishing hosting, illegal
content — and not those whose target is a victim or a route (ddos-victim, bgp-hijack, spoofing,
excessive-bandwidth). One stream decision per active enforcer decision: ``id`` is the decision's,
``duration`` the time to its expiry (Go syntax, ``3599s``), ``scenario`` ``enforcer/<category>``.

What each key was last sent is held in the serving process: after a restart a bouncer's next poll
gets the whole set as ``new`` again (harmless: a bouncer adds what it has), but a decision ended
while the process was down is never sent as ``deleted``; it still leaves the bouncer when its
``duration`` runs out.
"""

from __future__ import annotations

import threading
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, Header, Query, Request
from pydantic import BaseModel

from .. import service
from ..model import Status, Violation, now
from ..tables import DecisionRecord
from .auth import _deny, get_ctx
from .errors import ERR
from .tokens import Token, authenticate

#: The categories whose target is the source of the abuse: what a host may refuse traffic from.
OFFENDERS = frozenset({Violation.SPAM, Violation.DDOS_OUTBOUND, Violation.SCANNING, Violation.INTRUSION,
                       Violation.MALWARE_HOSTING, Violation.PHISHING, Violation.ILLEGAL_CONTENT})  # fmt: skip
#: No expiry: ten years, the longest a bouncer's set timeout needs to be.
FOREVER = "87600h"


class LapiDecision(BaseModel):
    """One decision as CrowdSec's LAPI prints it (``pkg/models/decision.go``)."""

    id: int
    origin: str = "enforcer"
    type: Literal["ban"] = "ban"
    scope: Literal["Ip", "Range"]
    value: str
    duration: str
    scenario: str
    simulated: bool = False


class LapiStream(BaseModel):
    new: list[LapiDecision] | None
    deleted: list[LapiDecision] | None


class Streams:
    """What each bouncer key was last sent, to answer its next poll with the difference."""

    def __init__(self) -> None:
        self._sent: dict[str, dict[int, LapiDecision]] = {}
        self._lock = threading.Lock()

    def poll(self, key: str, current: dict[int, LapiDecision], startup: bool) -> LapiStream:
        with self._lock:
            before = {} if startup else self._sent.get(key, {})
            self._sent[key] = current
        new = [d for i, d in current.items() if i not in before]
        deleted = [d for i, d in before.items() if i not in current]
        return LapiStream(new=new or None, deleted=deleted or None)


def lapi_decision(record: DecisionRecord) -> LapiDecision:
    host = record.target.endswith(("/32", "/128"))
    remaining = (record.expires_at - now()).total_seconds() if record.expires_at else None
    return LapiDecision(
        id=record.id,
        scope="Ip" if host else "Range",
        value=record.target.rsplit("/", 1)[0] if host else record.target,
        duration=f"{max(int(remaining), 1)}s" if remaining is not None else FOREVER,
        scenario=f"enforcer/{record.violation.value}",
    )


def offenders(ctx: service.Context) -> dict[int, LapiDecision]:
    """The active decisions a host should refuse traffic from, as stream decisions by id."""
    return {r.id: lapi_decision(r) for r in service.list_decisions(ctx)
            if r.status is Status.ACTIVE and r.violation in OFFENDERS}  # fmt: skip


def api_key(request: Request, x_api_key: Annotated[str | None, Header()] = None) -> Token:
    """CrowdSec's bouncer authentication: the key in ``X-Api-Key``; a 401 like every bad token here
    (CrowdSec says 403; a bouncer treats both as "not allowed" and retries)."""
    token = authenticate(get_ctx(request).store, x_api_key or "")
    if token is None:
        raise _deny(request, 401, "anonymous", "missing, unknown or revoked API key", "x-api-key")
    return token


def register(app: FastAPI) -> None:
    streams = Streams()

    @app.get("/v1/decisions/stream", response_model=LapiStream, tags=["crowdsec"], responses={401: ERR, 422: ERR},
             summary="CrowdSec LAPI decision stream, for CrowdSec bouncers (X-Api-Key: an enforcer token)")
    def decision_stream(
        startup: Annotated[bool, Query(description="The whole set (a bouncer's first poll), not the changes")]
        = False,
        token: Token = Depends(api_key),
        ctx: service.Context = Depends(get_ctx),
    ) -> LapiStream:
        return streams.poll(token.name, offenders(ctx), startup)
