"""Who is calling: the bearer token on each request, checked against the hashed token store.

``Authorization: Bearer enf_...`` is the normal form. HTTP Basic with the token as the password
(``https://fastnetmon:enf_...@enforcer:8080/v1/hooks/fastnetmon``) is accepted as well, for
detectors whose webhook setting is a bare URL. A missing or bad token is a 401, a token outside
its scope a 403; both leave an audit entry and nothing else.
"""

from __future__ import annotations

import base64
import binascii

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .. import service
from ..model import Violation
from .errors import ApiError
from .tokens import Token, authenticate

bearer = HTTPBearer(auto_error=False, description="An enforcer API token (`enforcer token create`)")


def get_ctx(request: Request) -> service.Context:
    return request.app.state.ctx


def _presented(request: Request, creds: HTTPAuthorizationCredentials | None) -> str | None:
    if creds is not None:
        return creds.credentials
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or None
    return None


def _deny(ctx: service.Context, request: Request, status: int, actor: str, reason: str, field: str) -> ApiError:
    ctx.store.audit(
        actor=actor[:64],
        source="api",
        action="auth-failed" if status == 401 else "forbidden",
        target=request.url.path[:64],
        reason=reason,
        detail={"method": request.method, "path": request.url.path,
                "client": request.client.host if request.client else None},
    )
    headers = {"WWW-Authenticate": 'Bearer realm="enforcer"'} if status == 401 else None
    return ApiError(status, field, reason, headers)


def current_token(
    request: Request,
    creds: HTTPAuthorizationCredentials | None = Depends(bearer),
    ctx: service.Context = Depends(get_ctx),
) -> Token:
    """Any valid token (reading needs no more); 401 otherwise."""
    secret = _presented(request, creds)
    if not secret:
        raise _deny(ctx, request, 401, "anonymous", "missing bearer token", "authorization")
    token = authenticate(ctx.store, secret)
    if token is None:
        raise _deny(ctx, request, 401, "anonymous", "unknown or revoked token", "authorization")
    return token


def operator(
    request: Request, token: Token = Depends(current_token), ctx: service.Context = Depends(get_ctx)
) -> Token:
    if not token.may_operate():
        raise _deny(ctx, request, 403, token.name, f"a {token.scope} token cannot do this; it needs operator",
                    "authorization")
    return token


def check_submit(ctx: service.Context, request: Request, token: Token, violations: list[Violation | None],
                 force: bool = False) -> None:
    """403 unless ``token`` may act on every one of ``violations`` (None: only an operator may)."""
    for v in violations:
        if v is None and not token.may_operate():
            raise _deny(ctx, request, 403, token.name, "only an operator token may act on every category",
                        "violation")
        if v is not None and not token.may_submit(v):
            allowed = ", ".join(token.categories) or "none"
            raise _deny(ctx, request, 403, token.name,
                        f"token {token.name!r} ({token.scope}) may not submit {v}; allowed: {allowed}", "violation")
    if force and not token.may_operate():
        raise _deny(ctx, request, 403, token.name, "only an operator token may force past guardrails", "force")
