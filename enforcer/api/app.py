"""The HTTP API: parse, authorize, call one function of :mod:`enforcer.service`, format.

``create_app(ctx_factory)`` builds the app; the Context is made once, at start-up (or on the
first request), so tests hand in a factory over a temporary SQLite store. With
``reconcile=True`` the app also runs a push worker per device (:class:`enforcer.pipeline.Pipeline`)
and wakes the devices a decision touches after every accepted decision or unblock: decisions that
arrive while a device pushes go together into its next push. The detector hooks are in
:mod:`enforcer.api.webhooks`.

A 2xx to a submit means the decision is durably stored (the store commits before we answer);
a replay of the same idempotency key answers 200 with the same decision id and stores nothing.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any, Literal

from fastapi import Body, Depends, FastAPI, Path, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError, WithJsonSchema

from .. import service
from ..hooks import Invalid, Item, intake
from ..hooks.intake import ItemResult, apply_items, decision_from_api, end_decision, outcome_of, verdict
from ..hooks.results import BatchErrorResponse, BatchResponse
from ..inventory import InventoryError
from ..model import MAX_TTL, Decision, InvalidInput, Refused, Violation, validation_error_to_invalid
from ..plan import DevicePlan
from ..store import AuditEntry, DecisionRecord
from . import errors, lapi, webhooks
from .auth import Guarded, check_submit, current_token, get_ctx, operator
from .errors import ApiError
from .limits import MAX_BODY, BodyLimit
from .served import Served, served
from .tokens import Scope, Token

try:
    VERSION = version("enforcer")
except PackageNotFoundError:  # running from a checkout that was never installed
    VERSION = "0"

DB_ID = Annotated[int, Path(ge=1, le=2**63 - 1, description="Decision id")]
MAX_TTL_SECONDS = int(MAX_TTL.total_seconds())


class DecisionIn(BaseModel):
    """A decision as a client submits it; the token supplies the actor, ``api`` the source."""

    model_config = ConfigDict(extra="forbid")
    target: str = Field(max_length=64, description="IP address or prefix", examples=["203.0.113.7"])
    violation: Violation
    reason: str = Field(default="", max_length=1024)
    ttl: Annotated[str, Field(max_length=16)] | Annotated[StrictInt, Field(ge=1, le=MAX_TTL_SECONDS)] | None = Field(
        default=None, description="30m, 2h, 7d or seconds; default from the playbook"
    )
    expires_at: datetime | None = None
    customer: str | None = Field(default=None, max_length=64)
    asn: StrictInt | None = Field(default=None, ge=1, le=4294967295)
    force: StrictBool = Field(default=False, description="Past the prefix-length guardrail (operator tokens only)")


#: Decisions in one list body: one store transaction, answered well inside a client's timeout.
MAX_BATCH = 1000

#: The items of a list body, each validated by the route (as DecisionIn), so one bad item fails only itself.
DecisionList = Annotated[
    list[Annotated[dict[str, Any], WithJsonSchema({"$ref": "#/components/schemas/DecisionIn"})]],
    Field(min_length=1, max_length=MAX_BATCH),
]

BATCH_DOC = f"""One decision (a `DecisionIn` object), or a list of 1 to {MAX_BATCH}, stored in one transaction.

A list answers **200** with `results`, one per item in the order sent, each with its `outcome`:
`created` or `held` (stored: what a single submit answers with 201), `duplicate` (a replay: 200),
`dry-run`, `refused` (a guardrail: 409, with `error`) or `invalid` (422, with `error`). One bad
item is only its own result: the others are stored all the same, each item seeing the ones before
it (a cap stops the list where it is reached). When no item is accepted the answer is that first
item's status (409 or 422) with its `error`, and `results` for all. With an `Idempotency-Key`,
item *n* carries the key `KEY:n`. The token must be allowed every item's category (else 403, nothing stored).
"""


class Health(BaseModel):
    status: Literal["ok"]
    version: str
    active_enforcements: int


def create_app(
    ctx_factory: Callable[[], service.Context],
    *,
    reconcile: bool = False,
    interval: float = 30.0,
    coalesce: float = 0.0,
    max_body: int = MAX_BODY,
    docs: bool = False,
) -> FastAPI:
    """The app; ``docs=True`` (``enforcer serve --docs``) also serves ``/docs`` and ``/redoc`` and
    the spec without a token, for a test bench. By default only ``/healthz`` and ``/metrics``
    answer without one: the spec maps every route and its limits, a reader token reads it."""
    lock = threading.Lock()

    def ensure(app: FastAPI) -> Served:
        with lock:
            if getattr(app.state, "served", None) is None:
                app.state.served = Served(ctx_factory())
            return app.state.served

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = ensure(app)
        if reconcile:
            state.start_loop(interval, coalesce)
        try:
            yield
        finally:
            state.stop()

    app = FastAPI(
        title="enforcer",
        version=VERSION,
        description="AUP enforcement controller: decisions in, device configuration out. "
        "Errors are `{\"error\": {\"field\", \"reason\"}}`.",
        lifespan=lifespan,
        openapi_url="/openapi.json" if docs else None,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
    )
    app.router.route_class = Guarded
    errors.install(app)
    app.add_middleware(BodyLimit, max_bytes=max_body)
    app.add_middleware(_EnsureState, ensure=ensure)

    if not docs:
        _spec_route(app)
    _service_routes(app)
    lapi.register(app)  # before /v1/decisions/{decision_id}, which would take "stream" for an id
    _decision_routes(app)
    webhooks.register(app)
    from ..console import web as console_web  # the console imports the API's pieces: import it last

    console_web.register(app)
    return app


class _EnsureState:
    """The app's :class:`Served` made before any route runs (a test's client may skip the lifespan).

    Pure ASGI: Starlette's ``@app.middleware("http")`` wraps every request in a task group and
    memory streams, per-request work a stream of single decisions paid on each POST.
    """

    def __init__(self, app: Any, ensure: Callable[[FastAPI], Served]):
        self.app = app
        self.ensure = ensure

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.ensure(scope["app"])
        await self.app(scope, receive, send)


def _spec_route(app: FastAPI) -> None:
    """``/openapi.json`` for any valid token (the committed copy is docs/openapi.json)."""

    @app.get("/openapi.json", include_in_schema=False)
    def spec(_: Token = Depends(current_token)) -> JSONResponse:
        return JSONResponse(app.openapi())


def _service_routes(app: FastAPI) -> None:
    @app.get("/healthz", response_model=Health, tags=["service"], summary="Liveness and store reachability")
    def healthz(ctx: service.Context = Depends(get_ctx)) -> Health:
        return Health(status="ok", version=VERSION, active_enforcements=ctx.store.count_active())

    metrics_doc: dict[str, Any] = {
        "response_class": PlainTextResponse,
        "tags": ["service"],
        "responses": {200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    }

    @app.get("/metrics", summary="Prometheus metrics", **metrics_doc)
    def prometheus(request: Request) -> Response:
        return Response(generate_latest(served(request).metrics.registry), media_type=CONTENT_TYPE_LATEST)

    # The GET's headers and no body (RFC 9110 §9.3.2): a 405 here failed uptime probes.
    @app.head("/metrics", summary="Prometheus metrics, headers only (a probe or a scraper's check)", **metrics_doc)
    def prometheus_head(request: Request) -> Response:
        body = generate_latest(served(request).metrics.registry)
        return Response(media_type=CONTENT_TYPE_LATEST, headers={"content-length": str(len(body))})

    @app.get("/v1/plan", response_model=list[DevicePlan], tags=["plan"],
             responses={404: errors.ERR, **errors.READ_ERRORS}, summary="What the next push would change, per device")
    def plan(
        device: Annotated[str | None, Query(max_length=64, description="One inventory device")] = None,
        _: Token = Depends(current_token),
        ctx: service.Context = Depends(get_ctx),
    ) -> list[DevicePlan]:
        if device is not None:
            inventory = ctx.inventory  # a broken inventory is the server's problem (503), not a 404
            try:
                inventory.device(device)
            except InventoryError:
                raise ApiError(404, "device", f"no device named {device!r} in the inventory") from None
        return service.plan(ctx, device)

    @app.get("/v1/audit", response_model=list[AuditEntry], tags=["audit"], responses=errors.READ_ERRORS,
             summary="The audit log, oldest first, the last LIMIT entries")
    def audit(
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        _: Token = Depends(current_token),
        ctx: service.Context = Depends(get_ctx),
    ) -> list[AuditEntry]:
        return service.history(ctx, limit=limit)


def _submit_list(request: Request, state: Served, ctx: service.Context, token: Token, body: list[dict[str, Any]],
                 *, dry_run: bool, key: str | None) -> Response:
    """A list body: each item validated on its own (a bad one is its own ``invalid`` result), the
    decisions stored in one transaction, a result per item in the order sent."""
    items: list[Item] = []
    for n, raw in enumerate(body):
        try:
            values = DecisionIn.model_validate(raw).model_dump(exclude_none=True)
            items.append(decision_from_api(values, actor=token.name, key=key and f"{key}:{n}"))
        except (ValidationError, InvalidInput) as exc:
            err = validation_error_to_invalid(exc) if isinstance(exc, ValidationError) else exc
            items.append(Invalid(field=err.field, reason=err.reason))
    decisions = [i for i in items if isinstance(i, Decision)]
    check_submit(request, token, [d.violation for d in decisions], any(d.force for d in decisions))
    results = apply_items(ctx, items, source="api", dry_run=dry_run, automatic=token.scope is Scope.DETECTOR)
    state.record(results)
    status, error = verdict(results)
    payload = BatchResponse(results=results) if error is None else BatchErrorResponse(error=error, results=results)
    return webhooks.answer(payload, status)


def _decision_routes(app: FastAPI) -> None:
    @app.post(
        "/v1/decisions",
        response_model=service.SubmitResult,
        status_code=201,
        tags=["decisions"],
        summary="Submit a decision (201 stored; 200 a replay of the same idempotency key, or a dry run), "
        f"or a list of at most {MAX_BATCH} (200, a result per item)",
        description=BATCH_DOC,
        responses={**errors.WRITE_ERRORS, 200: {"model": service.SubmitResult | BatchResponse},
                   409: {"model": BatchErrorResponse}, 422: {"model": BatchErrorResponse}},
    )
    def submit(
        request: Request,
        response: Response,
        body: Annotated[DecisionIn | DecisionList, Body()],
        dry_run: Annotated[bool, Query(description="Validate and preview only; store nothing")] = False,
        idempotency_key: webhooks.IdempotencyKey = None,
        token: Token = Depends(current_token),
        ctx: service.Context = Depends(get_ctx),
    ) -> Any:
        state = served(request)
        if isinstance(body, list):
            return _submit_list(request, state, ctx, token, body, dry_run=dry_run, key=idempotency_key)
        try:
            decision = decision_from_api(body.model_dump(exclude_none=True), actor=token.name, key=idempotency_key)
        except InvalidInput:
            state.metrics.decision("api", body.violation.value, "invalid")
            raise
        check_submit(request, token, [decision.violation], decision.force)
        try:
            # A detector's too-broad decision waits for an operator's approval; an operator forces instead.
            result = service.submit(ctx, decision, dry_run=dry_run, automatic=token.scope is Scope.DETECTOR)
        except (InvalidInput, Refused) as exc:
            state.metrics.decision("api", decision.violation.value,
                                   "refused" if isinstance(exc, Refused) else "invalid")
            raise
        outcome = outcome_of(result)
        state.record([ItemResult(outcome=outcome, source="api", violation=decision.violation.value,
                                 decision_id=result.decision_id or None, enforcements=result.enforcements)])
        if not result.created:
            response.status_code = 200
        return result

    @app.get("/v1/decisions", response_model=list[DecisionRecord], tags=["decisions"],
             responses=errors.READ_ERRORS, summary="List decisions (active only by default)")
    def list_decisions(
        active: Annotated[bool, Query(description="Only active decisions")] = True,
        _: Token = Depends(current_token),
        ctx: service.Context = Depends(get_ctx),
    ) -> list[DecisionRecord]:
        return service.list_decisions(ctx, active_only=active)

    @app.get("/v1/decisions/{decision_id}", response_model=DecisionRecord, tags=["decisions"],
             responses={404: errors.ERR, **errors.READ_ERRORS}, summary="One decision with its enforcements")
    def get_decision(
        decision_id: DB_ID, _: Token = Depends(current_token), ctx: service.Context = Depends(get_ctx)
    ) -> DecisionRecord:
        rec = service.get_decision(ctx, decision_id)
        if rec is None:
            raise ApiError(404, "decision_id", f"no decision with id {decision_id}")
        return rec

    @app.post("/v1/decisions/{decision_id}/approve", response_model=DecisionRecord, tags=["decisions"],
              responses={404: errors.ERR, **errors.WRITE_ERRORS},
              summary="Approve a held decision (a detector's block broader than the guardrail): it is enforced")
    def approve_decision(
        request: Request,
        decision_id: DB_ID,
        reason: Annotated[str, Query(max_length=1024)] = "",
        token: Token = Depends(operator),
        ctx: service.Context = Depends(get_ctx),
    ) -> DecisionRecord:
        approved = intake.approve_decision(ctx, decision_id, actor=token.name, source="api", reason=reason)
        served(request).kick()
        return approved

    @app.post("/v1/decisions/{decision_id}/reject", response_model=DecisionRecord, tags=["decisions"],
              responses={404: errors.ERR, **errors.WRITE_ERRORS},
              summary="Reject a held decision: it ends without ever being enforced")
    def reject_decision(
        decision_id: DB_ID,
        reason: Annotated[str, Query(max_length=1024)] = "",
        token: Token = Depends(operator),
        ctx: service.Context = Depends(get_ctx),
    ) -> DecisionRecord:
        return intake.reject_decision(ctx, decision_id, actor=token.name, source="api", reason=reason)

    @app.delete("/v1/decisions/{decision_id}", response_model=DecisionRecord, tags=["decisions"],
                responses={404: errors.ERR, **errors.WRITE_ERRORS},
                summary="Unblock: end a decision (enforced or held) and its enforcements")
    def delete_decision(
        request: Request,
        decision_id: DB_ID,
        reason: Annotated[str, Query(max_length=1024)] = "",
        token: Token = Depends(operator),
        ctx: service.Context = Depends(get_ctx),
    ) -> DecisionRecord:
        ended = end_decision(ctx, decision_id, actor=token.name, source="api", reason=reason)
        served(request).record([ItemResult(outcome="ended", source="api", violation=ended.violation.value)])
        return ended
