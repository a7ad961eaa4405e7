"""The HTTP API: parse, authorize, call one function of :mod:`enforcer.service`, format.

``create_app(ctx_factory)`` builds the app; the Context is made once, at start-up (or on the
first request), so tests hand in a factory over a temporary SQLite store. With
``reconcile=True`` the app also runs the reconcile loop (:class:`enforcer.reconcile.Reconciler`)
in a background thread and kicks it after every accepted decision or unblock: decisions that
arrive close together coalesce into one push per device.

A 2xx to a submit means the decision is durably stored (the store commits before we answer);
a replay of the same idempotency key answers 200 with the same decision id and stores nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import asynccontextmanager
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any, Literal

from fastapi import Body, Depends, FastAPI, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError

from .. import service
from ..hooks import End, Item, bgpalerter, fastnetmon, generic
from ..hooks import alertmanager as am
from ..model import MAX_TTL, Decision, InvalidInput, Refused, Status, Violation, validation_error_to_invalid
from ..plan import DevicePlan
from ..reconcile import Reconciler
from ..store import AuditEntry, DecisionRecord
from . import errors
from .auth import check_submit, current_token, get_ctx, operator
from .errors import ApiError, ErrorResponse
from .intake import ItemResult, apply_items
from .metrics import Metrics
from .schemas import AlertmanagerWebhook, BGPalerterAlert, FastNetMonCallback, GenericEvent
from .tokens import Token, ensure_tables

try:
    VERSION = version("enforcer")
except PackageNotFoundError:  # running from a checkout that was never installed
    VERSION = "0"

DB_ID = Annotated[int, Path(ge=1, le=2**63 - 1, description="Decision id")]
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", max_length=120, pattern=r"^[\x21-\x7e]+$",
           description="Repeat a request with the same key: one decision, whatever the number of deliveries"),
]

MAX_TTL_SECONDS = int(MAX_TTL.total_seconds())
DryRun = Annotated[bool, Query(description="Adapt and validate only; store nothing")]

ERR = {"model": ErrorResponse}
READ_ERRORS: dict[int | str, dict[str, Any]] = {401: ERR, 422: ERR}
WRITE_ERRORS: dict[int | str, dict[str, Any]] = {400: ERR, 401: ERR, 403: ERR, 409: ERR, 422: ERR}


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


class HookResponse(BaseModel):
    results: list[ItemResult]


class HookErrorResponse(BaseModel):
    error: errors.ErrorDetail
    results: list[ItemResult] = []


class Health(BaseModel):
    status: Literal["ok"]
    version: str
    active_enforcements: int


HOOK_ERRORS: dict[int | str, dict[str, Any]] = {
    400: ERR, 401: ERR, 403: ERR, 409: {"model": HookErrorResponse}, 422: {"model": HookErrorResponse},
}


class _Loop(Reconciler):
    """The reconcile loop, telling the metrics when each pass started and how it went."""

    def __init__(self, ctx: service.Context, metrics: Metrics, interval: float, coalesce: float):
        super().__init__(ctx, interval=interval, coalesce=coalesce, on_report=self._report)
        self.metrics = metrics
        self._started = 0.0

    def run_pass(self) -> service.ReconcileReport:
        self._started = time.monotonic()
        return super().run_pass()

    def _report(self, report: service.ReconcileReport) -> None:
        self.metrics.report(report, backlog=bool(self.backoff.failures), started=self._started)


def create_app(
    ctx_factory: Callable[[], service.Context],
    *,
    reconcile: bool = False,
    interval: float = 30.0,
    coalesce: float = 0.2,
) -> FastAPI:
    lock = threading.Lock()

    def state(app: FastAPI) -> None:
        with lock:
            if getattr(app.state, "ctx", None) is None:
                ctx = ctx_factory()
                ensure_tables(ctx.store)
                app.state.metrics = Metrics(active=ctx.store.count_active)
                app.state.loop = None
                app.state.ctx = ctx

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Iterator[None]:
        state(app)
        if reconcile:
            app.state.loop = _Loop(app.state.ctx, app.state.metrics, interval, coalesce)
            app.state.loop.start()
        try:
            yield
        finally:
            if app.state.loop is not None:
                app.state.loop.stop()

    app = FastAPI(
        title="enforcer",
        version=VERSION,
        description="AUP enforcement controller: decisions in, device configuration out. "
        "Errors are `{\"error\": {\"field\", \"reason\"}}`.",
        lifespan=lifespan,
    )
    errors.install(app)

    @app.middleware("http")
    async def _ensure_state(request: Request, call_next: Callable[..., Any]) -> Any:
        if getattr(request.app.state, "ctx", None) is None:
            state(request.app)
        return await call_next(request)

    def metrics(request: Request) -> Metrics:
        return request.app.state.metrics

    def kick(request: Request) -> None:
        loop = request.app.state.loop
        if loop is not None:
            loop.kick()

    def record(request: Request, results: list[ItemResult]) -> None:
        m = metrics(request)
        for r in results:
            m.decision(r.source or "none", r.violation or "none", r.outcome)
            if r.outcome == "created" and r.decision_id:
                m.stored(r.decision_id)
        if any(r.outcome in ("created", "ended") for r in results):
            kick(request)

    # ------------------------------------------------------------ health and metrics

    @app.get("/healthz", response_model=Health, tags=["service"], summary="Liveness and store reachability")
    def healthz(ctx: service.Context = Depends(get_ctx)) -> Health:
        return Health(status="ok", version=VERSION, active_enforcements=ctx.store.count_active())

    @app.get(
        "/metrics",
        response_class=PlainTextResponse,
        tags=["service"],
        summary="Prometheus metrics",
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    def prometheus(request: Request) -> Response:
        return Response(generate_latest(metrics(request).registry), media_type=CONTENT_TYPE_LATEST)

    # ------------------------------------------------------------ decisions

    @app.post(
        "/v1/decisions",
        response_model=service.SubmitResult,
        status_code=201,
        tags=["decisions"],
        summary="Submit a decision (201 stored; 200 a replay of the same idempotency key, or a dry run)",
        responses={200: {"model": service.SubmitResult}, **WRITE_ERRORS},
    )
    def submit(
        request: Request,
        response: Response,
        body: DecisionIn,
        dry_run: Annotated[bool, Query(description="Validate and preview only; store nothing")] = False,
        idempotency_key: IdempotencyKey = None,
        token: Token = Depends(current_token),
        ctx: service.Context = Depends(get_ctx),
    ) -> service.SubmitResult:
        values = body.model_dump(exclude_none=True)
        values.update(source="api", actor=token.name)
        if idempotency_key:
            values["idempotency_key"] = f"api:{token.name}:{idempotency_key}"
        try:
            decision = Decision.model_validate(values)
        except (ValidationError, OverflowError) as exc:
            metrics(request).decision("api", str(values.get("violation", "none")), "invalid")
            if isinstance(exc, OverflowError):  # "999999999999d": beyond timedelta, before the 365-day check
                raise InvalidInput("ttl", f"{values.get('ttl')!r} is far beyond the maximum") from None
            raise validation_error_to_invalid(exc) from None
        check_submit(ctx, request, token, [decision.violation], decision.force)
        try:
            result = service.submit(ctx, decision, dry_run=dry_run)
        except (InvalidInput, Refused) as exc:
            outcome = "refused" if isinstance(exc, Refused) else "invalid"
            metrics(request).decision("api", decision.violation.value, outcome)
            raise
        outcome = "dry-run" if result.dry_run else ("created" if result.created else "duplicate")
        record(request, [ItemResult(outcome=outcome, source="api", violation=decision.violation.value,
                                    decision_id=result.decision_id or None)])
        if not result.created:
            response.status_code = 200
        return result

    @app.get("/v1/decisions", response_model=list[DecisionRecord], tags=["decisions"], responses=READ_ERRORS,
             summary="List decisions (active only by default)")
    def list_decisions(
        active: Annotated[bool, Query(description="Only active decisions")] = True,
        _: Token = Depends(current_token),
        ctx: service.Context = Depends(get_ctx),
    ) -> list[DecisionRecord]:
        return service.list_decisions(ctx, active_only=active)

    @app.get("/v1/decisions/{decision_id}", response_model=DecisionRecord, tags=["decisions"],
             responses={404: ERR, **READ_ERRORS}, summary="One decision with its enforcements")
    def get_decision(
        decision_id: DB_ID, _: Token = Depends(current_token), ctx: service.Context = Depends(get_ctx)
    ) -> DecisionRecord:
        rec = service.get_decision(ctx, decision_id)
        if rec is None:
            raise ApiError(404, "decision_id", f"no decision with id {decision_id}")
        return rec

    @app.delete("/v1/decisions/{decision_id}", response_model=DecisionRecord, tags=["decisions"],
                responses={404: ERR, **WRITE_ERRORS}, summary="Unblock: end a decision and its enforcements")
    def delete_decision(
        request: Request,
        decision_id: DB_ID,
        reason: Annotated[str, Query(max_length=1024)] = "",
        token: Token = Depends(operator),
        ctx: service.Context = Depends(get_ctx),
    ) -> DecisionRecord:
        rec = service.get_decision(ctx, decision_id)
        if rec is None:
            raise ApiError(404, "decision_id", f"no decision with id {decision_id}")
        if rec.status is not Status.ACTIVE:
            raise ApiError(409, "decision_id", f"decision {decision_id} is already {rec.status}")
        try:
            [ended] = service.unblock(ctx, str(decision_id), actor=token.name, source="api", reason=reason)
        except InvalidInput:  # ended by someone else between our read and our write
            raise ApiError(409, "decision_id", f"decision {decision_id} is no longer active") from None
        metrics(request).decision("api", rec.violation.value, "ended")
        kick(request)
        return ended

    # ------------------------------------------------------------ plan and audit

    @app.get("/v1/plan", response_model=list[DevicePlan], tags=["plan"], responses={404: ERR, **READ_ERRORS},
             summary="What the next push would change, per device")
    def plan(
        device: Annotated[str | None, Query(max_length=64, description="One inventory device")] = None,
        _: Token = Depends(current_token),
        ctx: service.Context = Depends(get_ctx),
    ) -> list[DevicePlan]:
        return service.plan(ctx, device)

    @app.get("/v1/audit", response_model=list[AuditEntry], tags=["audit"], responses=READ_ERRORS,
             summary="The audit log, oldest first, the last LIMIT entries")
    def audit(
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        _: Token = Depends(current_token),
        ctx: service.Context = Depends(get_ctx),
    ) -> list[AuditEntry]:
        return service.history(ctx, limit=limit)

    # ------------------------------------------------------------ detector hooks

    def run_hook(
        request: Request, items: list[Item], token: Token, ctx: service.Context, key: str | None, dry_run: bool
    ) -> Any:
        if key:
            many = sum(isinstance(i, Decision) for i in items) > 1
            items = [
                i.model_copy(update={"idempotency_key": f"hook:{token.name}:{key}" + (f":{n}" if many else "")})
                if isinstance(i, Decision) else i
                for n, i in enumerate(items)
            ]
        check_submit(ctx, request, token, [i.violation for i in items if isinstance(i, Decision | End)])
        results = apply_items(ctx, items, dry_run=dry_run)
        record(request, results)
        if results and not any(r.accepted for r in results):
            first = next(r for r in results if r.error is not None)
            status = 409 if first.outcome == "refused" else 422
            payload = HookErrorResponse(error=first.error, results=results)
            return JSONResponse(payload.model_dump(mode="json"), status_code=status)
        return HookResponse(results=results)

    def adapted(request: Request, source: str, adapt: Callable[[], list[Item]]) -> list[Item]:
        try:
            return adapt()
        except InvalidInput:
            metrics(request).decision(source, "none", "invalid")
            raise

    hook = {"response_model": HookResponse, "tags": ["hooks"], "responses": HOOK_ERRORS}

    @app.post("/v1/hooks/fastnetmon", summary="FastNetMon JSON callback (web_callback_url)", **hook)
    def hook_fastnetmon(
        request: Request,
        body: FastNetMonCallback,
        dry_run: DryRun = False,
        idempotency_key: IdempotencyKey = None,
        token: Token = Depends(current_token),
        ctx: service.Context = Depends(get_ctx),
    ) -> Any:
        payload = body.model_dump(exclude_unset=True)
        items = adapted(request, "fastnetmon", lambda: fastnetmon.from_callback(payload, actor=token.name))
        return run_hook(request, items, token, ctx, idempotency_key, dry_run)

    @app.post("/v1/hooks/bgpalerter", summary="BGPalerter reportHTTP alert", **hook)
    def hook_bgpalerter(
        request: Request,
        body: BGPalerterAlert,
        dry_run: DryRun = False,
        idempotency_key: IdempotencyKey = None,
        token: Token = Depends(current_token),
        ctx: service.Context = Depends(get_ctx),
    ) -> Any:
        payload = body.model_dump(exclude_unset=True)
        items = adapted(request, "bgpalerter", lambda: bgpalerter.from_webhook(payload, actor=token.name))
        return run_hook(request, items, token, ctx, idempotency_key, dry_run)

    @app.post("/v1/hooks/alertmanager", summary="Prometheus Alertmanager webhook (version 4)", **hook)
    def hook_alertmanager(
        request: Request,
        body: AlertmanagerWebhook,
        on_resolved: Annotated[Literal["end", "keep"], Query(description="A resolved alert ends the block, "
                                                              "or leaves it to its TTL")] = "end",
        violation: Annotated[Violation | None, Query(description="Category when no label names one")] = None,
        target_label: Annotated[str | None, Query(max_length=64, description="Label holding the target")] = None,
        dry_run: DryRun = False,
        idempotency_key: IdempotencyKey = None,
        token: Token = Depends(current_token),
        ctx: service.Context = Depends(get_ctx),
    ) -> Any:
        payload = body.model_dump(exclude_unset=True)
        items = adapted(
            request,
            "alertmanager",
            lambda: am.from_webhook(payload, on_resolved=on_resolved, violation=violation and violation.value,
                                    target_label=target_label, actor=token.name),
        )
        return run_hook(request, items, token, ctx, idempotency_key, dry_run)

    @app.post("/v1/hooks/generic", summary="Generic JSON event(s)", **hook)
    def hook_generic(
        request: Request,
        body: Annotated[GenericEvent | list[GenericEvent], Body(description="One event or a list")],
        dry_run: DryRun = False,
        idempotency_key: IdempotencyKey = None,
        token: Token = Depends(current_token),
        ctx: service.Context = Depends(get_ctx),
    ) -> Any:
        payload = (
            [e.model_dump(exclude_unset=True) for e in body] if isinstance(body, list)
            else body.model_dump(exclude_unset=True)
        )
        items = adapted(request, "generic", lambda: generic.from_events(payload, actor=token.name))
        return run_hook(request, items, token, ctx, idempotency_key, dry_run)

    return app
