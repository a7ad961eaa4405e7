"""The web console served by ``enforcer serve`` under ``/console``: server-rendered, no build step.

Every page is complete HTML, readable without JavaScript (a ``<noscript>`` refresh keeps it live);
with JavaScript a few lines fetch the page's own URL for its ``<main>`` on each server-sent
``change`` event (``/console/events``, :mod:`.live`), or every two seconds where the event stream
is unavailable, and tick the expiry countdowns each second. Handlers parse, call :mod:`enforcer.service` (the functions
the CLI and API call) and render; they decide nothing.
"""

from __future__ import annotations

import secrets
import time
from datetime import datetime
from ipaddress import ip_network
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field

from .. import service
from ..api import errors
from ..api.auth import current_token
from ..api.metrics import carriers
from ..api.served import served
from ..api.tokens import Token, authenticate
from ..catalog import CATALOG
from ..counters import Counter, Sampler, by_decision
from ..hooks.intake import approve_decision
from ..model import EnforcerError, Status, now
from ..render import render_push
from .live import change_events, page_version
from .session import COOKIE, LOGIN_CSRF_COOKIE, Sessions
from .terminal import remaining

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.globals["remaining"] = remaining


class LoginRequired(Exception):
    pass


class ConsoleRefused(Exception):
    """A live token the console does not serve (a detector's): a 403 on the login form, saying why."""


#: Why a detector token is refused, at login and for a session made before the rule.
DETECTOR_REFUSED = (
    "a detector token is a machine credential that only submits decisions in its categories; "
    "the console needs a reader or operator token"
)


def register(app: FastAPI) -> None:
    """Mount the console on the API app. Its own router: the API's write guard wants a bearer token
    on every POST, and a browser form carries a session cookie and a CSRF token instead."""
    app.state.sessions = Sessions()
    app.include_router(router)
    app.include_router(api)
    app.mount("/console/static", StaticFiles(directory=HERE / "static"), name="console-static")

    @app.exception_handler(LoginRequired)
    async def _to_login(request: Request, _exc: LoginRequired) -> Response:
        return RedirectResponse(f"/console/login?next={quote(request.url.path)}", status_code=303)

    @app.exception_handler(ConsoleRefused)
    async def _refused(request: Request, exc: ConsoleRefused) -> Response:
        response = _login_page(request, request.url.path, 403, str(exc))
        response.delete_cookie(COOKIE, path="/console")
        return response


router = APIRouter(prefix="/console", include_in_schema=False)
api = APIRouter(prefix="/v1", tags=["counters"])


class DecisionCounter(BaseModel):
    decision_id: int
    packets: int
    bytes: int
    flag: str | None = Field(description="'no traffic seen' or 'traffic stopped N min ago': the block may be idle")


def counters_of(request: Request) -> tuple[dict[int, Counter], Sampler]:
    """Per decision, what its enforcements dropped (cached: devices are read at most every 10 s)."""
    s = served(request)
    cache = s.counters
    counts = cache.read()
    return by_decision(cache.counted(counts), counts), cache.sampler


@api.get(
    "/counters",
    response_model=list[DecisionCounter],
    responses=errors.READ_ERRORS,
    summary="What each active decision dropped, from the devices' own counters",
)
def decision_counters(request: Request, _: Token = Depends(current_token)) -> list[DecisionCounter]:
    totals, sampler = counters_of(request)
    at = time.monotonic()
    return [
        DecisionCounter(decision_id=d, packets=c.packets, bytes=c.bytes, flag=sampler.flag(d, at))
        for d, c in sorted(totals.items())
    ]


def _user(request: Request) -> Token:
    token = request.app.state.sessions.check(request.cookies.get(COOKIE), served(request).ctx.store)
    if token is None:
        raise LoginRequired()
    if not token.may_use_console():  # a session made before detector tokens were refused at login
        raise ConsoleRefused(_refuse(request, token, f"session: {DETECTOR_REFUSED}"))
    return token


def _refuse(request: Request, token: Token, reason: str) -> str:
    """Audit a live token the console turns away (``forbidden``, source ``console``) as the API
    audits its 403s, at most one row a minute per address and token; returns ``reason``."""
    s = served(request)
    s.console_denials.deny(
        s.ctx.store,
        client=request.client.host if request.client else "unknown",
        action="forbidden",
        actor=token.name,
        path=request.url.path,
        method=request.method,
        reason=reason,
    )
    return reason


def _viewer(request: Request) -> tuple[Token, service.Context]:
    """The logged-in token and the served Context: what every page starts from."""
    return _user(request), served(request).ctx


def _page(request: Request, name: str, user: Token | None, status_code: int = 200, **values: Any) -> Response:
    """The whole page, or (``X-Console-Fragment``, the poller) only what its ``<main>`` holds."""
    cookie = request.cookies.get(COOKIE, "")
    values |= {
        "user": user,
        "csrf": request.app.state.sessions.csrf(cookie) if user else "",
        "fragment": request.headers.get("x-console-fragment") == "1",
        "page": name.removesuffix(".html"),
        "now": now(),
    }
    return templates.TemplateResponse(request, name, values, status_code=status_code)


def _check_csrf(request: Request, presented: str) -> None:
    if not request.app.state.sessions.csrf_ok(request.cookies.get(COOKIE, ""), presented):
        raise EnforcerError("csrf: the form is stale or was not made by this console; reload the page")


# ------------------------------------------------------------------ login


@router.get("/", response_class=HTMLResponse)
def index() -> Response:
    return RedirectResponse("/console/active", status_code=303)


def _login_page(request: Request, next: str, status_code: int = 200, error: str = "") -> Response:
    """The login form with a fresh double-submit nonce (its cookie set), and why the last try failed."""
    nonce = secrets.token_urlsafe(24)
    response = _page(request, "login.html", None, status_code, next=_local(next), login_csrf=nonce, error=error)
    response.set_cookie(LOGIN_CSRF_COOKIE, nonce, secure=True, httponly=True, samesite="strict", path="/console")
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/console/active") -> Response:
    return _login_page(request, next)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    token: Annotated[str, Form(max_length=200)],
    csrf: Annotated[str, Form(max_length=200)],
    next: Annotated[str, Form(max_length=500)] = "/console/active",
) -> Response:
    store = served(request).ctx.store
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    found = authenticate(store, token.strip()) if expected and secrets.compare_digest(expected, csrf) else None
    if found is None:
        # Audited as the API audits its 401s (one row a minute per address): a console that
        # guesses tokens in silence would be the API's brute-force guard with a side door.
        s = served(request)
        s.console_denials.deny(store, client=request.client.host if request.client else "unknown",
                               action="auth-failed", actor="anonymous", path=request.url.path,
                               method=request.method,
                               reason="unknown or revoked token" if expected and secrets.compare_digest(expected, csrf)
                               else "stale or foreign login form")  # fmt: skip
        return _login_page(request, next, 401, "token: unknown or revoked token (or the form expired)")
    if not found.may_use_console():
        return _login_page(request, next, 403, _refuse(request, found, f"token: {DETECTOR_REFUSED}"))
    store.audit(actor=found.name, source="console", action="console-login", reason=f"{found.scope} session")
    response = RedirectResponse(_local(next), status_code=303)
    response.set_cookie(
        COOKIE,
        request.app.state.sessions.make(found),
        secure=True,
        httponly=True,
        samesite="strict",
        path="/console",
        max_age=12 * 3600,
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/console")
    return response


@router.post("/logout")
def logout(request: Request, csrf: Annotated[str, Form(max_length=200)]) -> Response:
    """End the session in the store (a copy of the cookie opens nothing after), then in the browser."""
    user = _user(request)
    _check_csrf(request, csrf)
    store = served(request).ctx.store
    request.app.state.sessions.end(request.cookies.get(COOKIE), store)
    store.audit(actor=user.name, source="console", action="console-logout", reason=f"{user.scope} session")
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(COOKIE, path="/console")
    return response


def _local(target: str) -> str:
    """Only a path inside the console: ``next=`` must never send a user off to another site."""
    return target if target.startswith("/console/") and not target.startswith("//") else "/console/active"


# ------------------------------------------------------------------ pages


@router.get("/active", response_class=HTMLResponse)
def active(request: Request) -> Response:
    user, ctx = _viewer(request)
    rows = []
    for rec in service.list_decisions(ctx):
        if rec.status is not Status.ACTIVE:
            continue
        customer = ctx.inventory.customer_of(rec.customer, ip_network(rec.target))
        rows.append(
            {
                "decision": rec,
                "customer": customer,
                "clause": CATALOG[rec.violation].clauses[0],
                "devices": sorted(carriers(ctx.inventory, rec.enforcements)),
            }
        )
    totals, sampler = counters_of(request)
    at = time.monotonic()
    for r in rows:
        did = r["decision"].id
        r["dropped"] = totals[did].human() if did in totals else None
        r["packets"] = totals[did].packets if did in totals else None
        r["flag"] = sampler.flag(did, at)
    return _page(request, "active.html", user, rows=rows)


@router.get("/events")
def events(request: Request) -> Response:
    """Server-sent ``change`` events for the live pages (:mod:`.live`); a session is needed to open it."""
    _user(request)
    s = served(request)
    return StreamingResponse(
        change_events(lambda: page_version(s)),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get("/devices", response_class=HTMLResponse)
def devices(request: Request) -> Response:
    user = _user(request)
    s = served(request)
    states = [s.board.state(name, service.render_device(s.ctx, name)) for name in s.ctx.inventory.devices]
    return _page(request, "devices.html", user, states=states, devices=s.ctx.inventory.devices)


@router.get("/history", response_class=HTMLResponse)
def history(
    request: Request,
    action: str = "",
    actor: str = "",
    target: str = "",
    decision: str = "",
    limit: int = 200,
) -> Response:
    user = _user(request)
    entries = service.history(served(request).ctx, limit=5000)
    filters = {"action": action.strip(), "actor": actor.strip(), "target": target.strip(), "decision": decision.strip()}

    def keep(e: Any) -> bool:
        return (
            (not filters["action"] or e.action == filters["action"])
            and (not filters["actor"] or filters["actor"].lower() in e.actor.lower())
            and (not filters["target"] or filters["target"] in (e.target or ""))
            and (not filters["decision"] or str(e.decision_id or "") == filters["decision"])
        )

    shown = [e for e in reversed(entries) if keep(e)][: max(1, min(limit, 5000))]
    actions = sorted({e.action for e in entries})
    return _page(request, "history.html", user, entries=shown, filters=filters, actions=actions)


@router.get("/approvals", response_class=HTMLResponse)
def approvals(request: Request, error: str = "", done: str = "") -> Response:
    user = _user(request)
    held = [r for r in service.list_decisions(served(request).ctx) if r.status is Status.PENDING]
    return _page(request, "approvals.html", user, held=held, error=error, done=done)


@router.post("/decisions/{decision_id}/{verdict}")
def decide(
    request: Request,
    decision_id: int,
    verdict: str,
    csrf: Annotated[str, Form(max_length=200)],
    reason: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    """Approve or reject a held decision: operator sessions only, CSRF-checked, audited as the token."""
    user = _user(request)
    s = served(request)
    try:
        _check_csrf(request, csrf)
        if not user.may_operate():
            raise EnforcerError(f"authorization: a {user.scope} session cannot {verdict}; it needs operator")
        if verdict == "approve":
            approve_decision(s.ctx, decision_id, actor=user.name, source="console", reason=reason)
        elif verdict == "reject":
            service.reject(s.ctx, decision_id, actor=user.name, source="console", reason=reason)
        else:
            raise EnforcerError(f"verdict: {verdict!r} is neither approve nor reject")
    except EnforcerError as exc:
        return RedirectResponse(f"/console/approvals?error={quote(str(exc))}", status_code=303)
    s.kick()
    return RedirectResponse(f"/console/approvals?done={quote(f'decision {decision_id}: {verdict}d')}", status_code=303)


@router.get("/plan", response_class=HTMLResponse)
def plan(request: Request) -> Response:
    """Each device's diff and the exact commands ``apply`` would send it, before anything is sent."""
    user, ctx = _viewer(request)
    rows = []
    for p in service.plan(ctx):
        commands = ""
        if p.has_changes and not p.error:
            try:
                # the plan's own candidate: what apply sends (Junos reads the operator's lists from the config)
                commands = p.candidate or render_push(
                    ctx.inventory.device(p.device), p.desired, p.live, p.removed_lines
                )
            except EnforcerError as exc:
                commands = f"(cannot render: {exc})"
        rows.append({"plan": p, "commands": commands})
    return _page(request, "plan.html", user, rows=rows)


def iso(dt: datetime | None) -> str:
    return dt.isoformat() if dt else ""


def age(dt: datetime) -> str:
    """How long ago, in the countdown's units (``remaining`` of the same span, the other way)."""
    at = now()
    return remaining(at + (at - dt), at)


templates.env.globals.update(iso=iso, age=age)
