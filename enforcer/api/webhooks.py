"""The detector hooks, ``POST /v1/hooks/<name>``: one route per adapter, registered from :data:`HOOKS`.

Every hook runs the same steps: adapt the payload (:mod:`enforcer.hooks`), claim the items for
this hook and this token (:func:`~enforcer.hooks.intake.claim`: the decisions' source is the
hook, their keys live in the token's namespace), check the token may act on their categories,
apply them one by one and answer a result per item (:func:`~enforcer.hooks.intake.verdict`:
200 unless nothing was accepted).

(No ``from __future__ import annotations`` here: the route's body annotation is each hook's own
type, which FastAPI must see as a type, not as a string to resolve.)
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Body, Depends, FastAPI, Header, Query, Request, Response
from pydantic import BaseModel, Field

from .. import service
from ..hooks import Item, alertmanager, bgpalerter, fastnetmon, generic
from ..hooks.intake import apply_items, categories, claim, verdict
from ..hooks.results import BatchErrorResponse, BatchResponse
from ..model import InvalidInput, Violation
from .auth import check_submit, current_token, get_ctx
from .errors import ERR
from .schemas import AlertmanagerWebhook, BGPalerterAlert, FastNetMonCallback, GenericEvent
from .served import served
from .tokens import Token

IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", max_length=120, pattern=r"^[\x21-\x7e]+$",
           description="Repeat a request with the same key: one decision, whatever the number of deliveries"),
]


def answer(payload: BaseModel, status: int = 200) -> Response:
    """``payload`` as the JSON body, serialised once by pydantic's own encoder: a list's answer
    carries every item's enforcements, and validating the returned model again against the
    route's ``response_model``, then dumping it to Python and JSON-encoding that, cost as much as
    deciding the list (the schema in the spec still comes from ``response_model``)."""
    return Response(payload.model_dump_json(), status_code=status, media_type="application/json")


DryRun = Annotated[bool, Query(description="Adapt and validate only; store nothing")]
#: Events in one generic delivery: stored in one transaction, and a delivery should answer in seconds.
MAX_EVENTS = 500


HOOK_ERRORS: dict[int | str, dict[str, Any]] = {
    400: ERR, 401: ERR, 403: ERR, 409: {"model": BatchErrorResponse}, 413: ERR, 422: {"model": BatchErrorResponse},
}


def no_options() -> dict[str, Any]:
    return {}


def alertmanager_options(
    on_resolved: Annotated[Literal["end", "keep"], Query(description="A resolved alert ends the block, "
                                                         "or leaves it to its TTL")] = "end",
    violation: Annotated[Violation | None, Query(description="Category when no label names one")] = None,
    target_label: Annotated[str | None, Query(max_length=64, description="Label holding the target")] = None,
) -> dict[str, Any]:
    return {"on_resolved": on_resolved, "violation": violation and violation.value, "target_label": target_label}


def fastnetmon_options(
    on_unban: Annotated[Literal["end", "keep"], Query(
        description="An unban ends the block, or leaves it to its TTL (FastNetMon cannot see behind a blackhole)")]
    = "end",
    ttl: Annotated[str | None, Query(max_length=32, description="How long a ban's block lasts (90s, 1h); "
                                     "default: the playbook's")] = None,
) -> dict[str, Any]:
    return {"on_unban": on_unban, "ttl": ttl}


@dataclass(frozen=True)
class Hook:
    """One detector hook: its name (the URL's last part and its decisions' source) and adapter."""

    name: str
    summary: str
    body: Any  # the request body's type, as OpenAPI documents it
    adapt: Callable[..., list[Item]]  # adapt(payload, actor=token name, **options)
    options: Callable[..., dict[str, Any]] = no_options  # a FastAPI dependency: the hook's query parameters


HOOKS = (
    Hook("fastnetmon", "FastNetMon JSON callback (web_callback_url)", FastNetMonCallback, fastnetmon.from_callback,
         fastnetmon_options),
    Hook("bgpalerter", "BGPalerter reportHTTP alert", BGPalerterAlert, bgpalerter.from_webhook),
    Hook("alertmanager", "Prometheus Alertmanager webhook (version 4)", AlertmanagerWebhook,
         alertmanager.from_webhook, alertmanager_options),
    Hook("generic", f"Generic JSON event(s): one, or a list of at most {MAX_EVENTS}",
         GenericEvent | Annotated[list[GenericEvent], Field(max_length=MAX_EVENTS)], generic.from_events),
)


def _plain(body: Any) -> Any:
    """The validated body back as the JSON the adapters read (only the keys that were sent)."""
    if isinstance(body, list):
        return [_plain(b) for b in body]
    return body.model_dump(exclude_unset=True)


def register(app: FastAPI) -> None:
    for hook in HOOKS:
        _add(app, hook)


def _add(app: FastAPI, hook: Hook) -> None:
    def endpoint(
        request: Request,
        body: Annotated[hook.body, Body()],
        options: dict[str, Any] = Depends(hook.options),
        dry_run: DryRun = False,
        idempotency_key: IdempotencyKey = None,
        token: Token = Depends(current_token),
        ctx: service.Context = Depends(get_ctx),
    ) -> Any:
        state = served(request)
        try:
            items = hook.adapt(_plain(body), actor=token.name, **options)
        except InvalidInput:
            state.metrics.decision(hook.name, "none", "invalid")
            raise
        items = claim(items, hook=hook.name, caller=token.name, key=idempotency_key)
        check_submit(request, token, categories(items))
        within = None if token.may_operate() else token.categories
        results = apply_items(ctx, items, source=hook.name, dry_run=dry_run, within=within)
        state.record(results)
        status, error = verdict(results)
        if error is not None:
            return answer(BatchErrorResponse(error=error, results=results), status)
        return answer(BatchResponse(results=results))

    app.post(f"/v1/hooks/{hook.name}", name=f"hook_{hook.name}", summary=hook.summary, response_model=BatchResponse,
             tags=["hooks"], responses=HOOK_ERRORS)(endpoint)
