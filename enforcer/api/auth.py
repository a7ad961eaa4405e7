"""Who is calling: the bearer token on each request, checked against the hashed token store.

``Authorization: Bearer enf_...`` is the normal form. HTTP Basic with the token as the password
(``https://fastnetmon:enf_...@enforcer:8080/v1/hooks/fastnetmon``) is accepted as well, for
detectors whose webhook setting is a bare URL. A missing or bad token is a 401, a token outside
its scope a 403; both leave an audit trace (:class:`DenialLog`) and nothing else.

Write routes check the token *before* the body is read (:class:`Guarded`): a reader gets its 403
whatever it sends, never a 422 about a body it had no right to send.
"""

from __future__ import annotations

import base64
import binascii
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Request, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from .. import service
from ..model import Violation
from ..store import Store
from .errors import ApiError
from .tokens import Token, authenticate

bearer = HTTPBearer(auto_error=False, description="An enforcer API token (`enforcer token create`)")
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def get_ctx(request: Request) -> service.Context:
    return request.app.state.served.ctx


@dataclass
class _Window:
    since: float
    unlogged: int = 0


class DenialLog:
    """Audit refused requests without letting a flood of them write a row each.

    At most one audit row per (client address, kind, actor) per ``window`` seconds: the first
    denial of a window is written at once, the rest are counted, and the next row (or
    :meth:`flush` at shutdown) carries ``repeats``, how many went unwritten. An unauthenticated
    flood thus costs one row a minute per address instead of competing with decision commits.
    Beyond ``max_clients`` addresses, new ones share one ``*`` entry.
    """

    def __init__(
        self,
        window: float = 60.0,
        max_clients: int = 4096,
        clock: Callable[[], float] = time.monotonic,
        source: str = "api",
    ):
        self.window = window
        self.source = source  # the audit rows' source: "api", or "console" for the console's refusals
        self.max_clients = max_clients
        self.clock = clock
        self._seen: dict[tuple[str, str, str], _Window] = {}
        self._lock = threading.Lock()

    def _admit(self, key: tuple[str, str, str]) -> tuple[bool, int]:
        """(write a row now?, denials left unwritten before this one)."""
        at = self.clock()
        with self._lock:
            if key not in self._seen and len(self._seen) >= self.max_clients:
                self._seen = {k: w for k, w in self._seen.items() if w.unlogged or at - w.since < self.window}
                if len(self._seen) >= self.max_clients:
                    key = ("*", key[1], "*")
            seen = self._seen.get(key)
            if seen is not None and at - seen.since < self.window:
                seen.unlogged += 1
                return False, 0
            repeats = seen.unlogged if seen is not None else 0
            self._seen[key] = _Window(since=at)
            return True, repeats

    def deny(self, store: Store, *, client: str, action: str, actor: str, path: str, method: str, reason: str) -> None:
        write, repeats = self._admit((client, action, actor))
        if write:
            self._write(store, client, action, actor, reason, {"method": method, "path": path, "repeats": repeats},
                        target=path)

    def flush(self, store: Store) -> None:
        """Write what is still only counted (at shutdown)."""
        with self._lock:
            pending = [(k, w.unlogged) for k, w in self._seen.items() if w.unlogged]
            self._seen.clear()
        for (client, action, actor), n in pending:
            self._write(store, client, action, actor, f"{n} more denied in the last {self.window:.0f} s",
                        {"repeats": n}, target="-")

    def _write(
        self, store: Store, client: str, action: str, actor: str, reason: str, detail: dict[str, Any], target: str
    ) -> None:
        store.audit(
            actor=actor[:64],
            source=self.source,
            action=action,
            target=target[:64],
            reason=reason,
            detail={**detail, "client": client},
        )


def _presented(request: Request, creds: HTTPAuthorizationCredentials | None) -> str | None:
    if creds is not None:
        return creds.credentials
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or None
    return None


def _deny(request: Request, status: int, actor: str, reason: str, field: str) -> ApiError:
    request.app.state.served.denials.deny(
        get_ctx(request).store,
        client=request.client.host if request.client else "unknown",
        action="auth-failed" if status == 401 else "forbidden",
        actor=actor,
        path=request.url.path,
        method=request.method,
        reason=reason,
    )
    headers = {"WWW-Authenticate": 'Bearer realm="enforcer"'} if status == 401 else None
    return ApiError(status, field, reason, headers)


def _authenticate(request: Request, creds: HTTPAuthorizationCredentials | None) -> Token:
    secret = _presented(request, creds)
    if not secret:
        raise _deny(request, 401, "anonymous", "missing bearer token", "authorization")
    token = authenticate(get_ctx(request).store, secret)
    if token is None:
        raise _deny(request, 401, "anonymous", "unknown or revoked token", "authorization")
    return token


def _writer(request: Request) -> Token:
    token = _authenticate(request, None)
    if not token.may_write():
        raise _deny(request, 403, token.name, f"a {token.scope} token cannot change anything; it needs detector "
                    "or operator", "authorization")
    return token


class Guarded(APIRoute):
    """A route that authenticates write requests before FastAPI reads and validates their body."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()
        if not self.methods & WRITES:
            return handle

        async def guarded(request: Request) -> Response:
            request.state.token = await run_in_threadpool(_writer, request)
            return await handle(request)

        return guarded


def current_token(request: Request, creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Token:
    """Any valid token (reading needs no more); 401 otherwise. Write routes: the one :class:`Guarded` checked."""
    token = getattr(request.state, "token", None)
    return token if token is not None else _authenticate(request, creds)


def operator(request: Request, token: Token = Depends(current_token)) -> Token:
    if not token.may_operate():
        raise _deny(request, 403, token.name, f"a {token.scope} token cannot do this; it needs operator",
                    "authorization")
    return token


def check_submit(request: Request, token: Token, violations: list[Violation], force: bool = False) -> None:
    """403 unless ``token`` may act on every one of ``violations`` (and, for ``force``, is an operator)."""
    for v in violations:
        if not token.may_submit(v):
            allowed = ", ".join(token.categories) or "none"
            raise _deny(request, 403, token.name,
                        f"token {token.name!r} ({token.scope}) may not submit {v}; allowed: {allowed}", "violation")
    if force and not token.may_operate():
        raise _deny(request, 403, token.name, "only an operator token may force past guardrails", "force")
