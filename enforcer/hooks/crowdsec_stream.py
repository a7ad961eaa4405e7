"""Follow a CrowdSec Local API's decision stream as a bouncer does, and enforce it through the playbooks.

The first pull asks for the whole set (``startup=true``); CrowdSec then sends only what changed.
Because a deletion made while enforcer was not listening never comes again, the startup answer is
also the truth about what CrowdSec still wants: every hold CrowdSec has in enforcer whose CrowdSec
decision it no longer lists is released then (the block ends with its last holder). Each pull's
changes are stored, then pushed to the devices at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from .. import service
from ..model import Decision, EnforcerError, Violation
from . import End
from .crowdsec import SOURCE, from_stream
from .intake import ItemResult, apply_items, claim


class StreamError(EnforcerError):
    """The LAPI could not be reached or answered something other than a decision stream."""


def pull(client: httpx.Client, *, startup: bool) -> Any:
    """One ``GET /v1/decisions/stream``; the JSON answer (CrowdSec answers ``null`` lists as null)."""
    try:
        r = client.get("/v1/decisions/stream", params={"startup": "true" if startup else "false"})
    except httpx.HTTPError as exc:
        raise StreamError(f"{client.base_url}: {exc}") from None
    if r.status_code != 200:
        raise StreamError(f"{client.base_url}: HTTP {r.status_code} {r.text[:200]}")
    try:
        return r.json()
    except ValueError:
        raise StreamError(f"{client.base_url}: the answer is not JSON") from None


def apply_stream(ctx: service.Context, payload: Any, *, startup: bool, violation: Violation,
                 caller: str = "lapi") -> list[ItemResult]:  # fmt: skip
    """Store what one stream answer asks for; on startup, release the holds of CrowdSec decisions it
    no longer lists (after the listed ones have refreshed theirs)."""
    items = claim(from_stream(payload, violation=violation), hook=SOURCE, caller=caller)
    if startup:
        listed = {(str(i.target), i.cause or "") for i in items if isinstance(i, Decision)}
        stale = sorted(set(ctx.store.holds(SOURCE, SOURCE)) - listed)
        items += [End(target=t, source=SOURCE, actor=SOURCE, cause=cause,
                      reason=f"{cause or 'its decision'} no longer in CrowdSec's decisions")
                  for t, cause in stale]  # fmt: skip
    return apply_items(ctx, items, source=SOURCE)


def follow(ctx: service.Context, client: httpx.Client, *, interval: float, violation: Violation,
           once: bool = False, report: Callable[[list[ItemResult], list], None] = lambda r, p: None,
           warn: Callable[[str], None] = lambda m: None) -> None:  # fmt: skip
    """Pull, store, push, every ``interval`` seconds (``once``: a single startup pull, errors raised).

    A LAPI that cannot be reached is retried at the next interval, from a startup pull again if
    none has succeeded yet: CrowdSec restarting must not stop enforcement.
    """
    startup = True
    while True:
        try:
            payload = pull(client, startup=startup)
        except StreamError as exc:
            if once:
                raise
            warn(str(exc))
            time.sleep(interval)
            continue
        results = apply_stream(ctx, payload, startup=startup, violation=violation)
        pushed = []
        if any(r.outcome in ("created", "ended") for r in results):
            pushed = [r for _, r in service.apply(ctx, actor=SOURCE, source=SOURCE) if r is not None]
        report(results, pushed)
        if once:
            return
        startup = False
        time.sleep(interval)
