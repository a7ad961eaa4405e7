"""The console's login session and CSRF tokens, signed with the standard library's HMAC.

A person logs in with the same API token a script uses; the session cookie then names that token
(its name and creation time, signed) rather than holding its secret, so a stolen cookie cannot be
turned into an API token, and revoking the token ends every session made with it at the next
request. The cookie is ``Secure; HttpOnly; SameSite=Strict``. Each form carries a CSRF token
derived from the session (synchroniser token); the login form, made before any session exists,
uses a double-submit cookie instead.

Logout ends the session in the store, not only in the browser: each cookie carries a random
session id inside its signed payload, and logout records that id with the cookie's own expiry
(``ended_sessions``), which :meth:`Sessions.check` looks up on every request. A list of the
sessions *ended* was chosen over a table of every live session: logging in and reading a page
write nothing, the cookie stays the whole session (so instances need no shared state beyond the
store and the key they share already), and the list only holds what was logged out in the last
12 hours — each row is swept once its cookie would have expired anyway. It lives in the store, not
in memory, so that a session ended on one instance is refused by every other on the same
(PostgreSQL) store. A cookie made before session ids existed has none to record: it is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import bindparam, delete, select
from sqlalchemy.exc import IntegrityError

from ..api.tokens import Token, list_tokens
from ..store import Store
from ..tables import EndedSessionRow

COOKIE = "enforcer_session"
LOGIN_CSRF_COOKIE = "enforcer_login_csrf"
LIFETIME = 12 * 3600  # one NOC shift

_ENDED = select(EndedSessionRow.sid).where(EndedSessionRow.sid == bindparam("sid"))


def _stamp(token: Token) -> str:
    """The token's creation time: a token made later under a revoked one's name opens no old session."""
    return str(round(token.created_at.timestamp() * 1_000_000))


def _utc(epoch: float) -> datetime:
    """Seconds since the epoch as the store keeps time: naive UTC."""
    return datetime.fromtimestamp(epoch, UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class _Claims:
    """What a cookie whose signature holds says: whose session, until when, which one."""

    name: str
    created: str
    expires: int
    sid: str


class Sessions:
    """Makes, checks and ends session cookies. The key comes from ``ENFORCER_CONSOLE_SECRET`` (several
    instances behind one name share it) or is random per process (sessions end on restart)."""

    def __init__(self, secret: bytes | None = None):
        env = os.environ.get("ENFORCER_CONSOLE_SECRET")
        self.secret = secret or (env.encode() if env else secrets.token_bytes(32))

    def _sign(self, payload: str) -> str:
        return hmac.new(self.secret, payload.encode(), hashlib.sha256).hexdigest()

    def make(self, token: Token, at: float | None = None) -> str:
        expires = int((at or time.time()) + LIFETIME)
        name = base64.urlsafe_b64encode(token.name.encode()).decode()
        payload = f"{name}.{_stamp(token)}.{expires}.{secrets.token_urlsafe(16)}"
        return f"{payload}.{self._sign(payload)}"

    def _claims(self, cookie: str | None, at: float | None) -> _Claims | None:
        """The cookie's claims if this key signed it and it has not expired, else None."""
        if not cookie or cookie.count(".") != 4:
            return None
        payload, _, signature = cookie.rpartition(".")
        if not hmac.compare_digest(signature, self._sign(payload)):
            return None
        name_b64, created, expires, sid = payload.split(".")
        if not expires.isdigit() or int(expires) < (at or time.time()):
            return None
        try:
            name = base64.urlsafe_b64decode(name_b64.encode()).decode()
        except (ValueError, UnicodeDecodeError):
            return None
        return _Claims(name=name, created=created, expires=int(expires), sid=sid)

    def check(self, cookie: str | None, store: Store, at: float | None = None) -> Token | None:
        """The live token behind a session cookie, or None (bad signature, expired, logged out, revoked)."""
        claims = self._claims(cookie, at)
        if claims is None:
            return None
        with store.engine.connect() as conn:  # one primary-key read per request, as authenticate()
            if conn.execute(_ENDED, {"sid": claims.sid}).first() is not None:
                return None
        return next(
            (t for t in list_tokens(store) if t.name == claims.name and not t.revoked and _stamp(t) == claims.created),
            None,
        )

    def end(self, cookie: str | None, store: Store, at: float | None = None) -> None:
        """Logout: record the session as ended until its cookie expires, for every instance on the
        store; sweep the records whose cookie has expired since (the table holds only what may
        still be replayed). A cookie that opens nothing already needs no record."""
        claims = self._claims(cookie, at)
        if claims is None:
            return
        try:
            with store.session(write=True) as s:
                s.execute(delete(EndedSessionRow).where(EndedSessionRow.expires_at < _utc(at or time.time())))
                s.add(EndedSessionRow(sid=claims.sid, expires_at=_utc(claims.expires)))
        except IntegrityError:  # logged out twice at once (two tabs): one record is the same end
            pass

    def csrf(self, cookie: str) -> str:
        return self._sign("csrf:" + cookie)[:40]

    def csrf_ok(self, cookie: str, presented: str | None) -> bool:
        return bool(presented) and hmac.compare_digest(self.csrf(cookie), presented or "")
