"""The console's login session and CSRF tokens, signed with the standard library's HMAC.

A person logs in with the same API token a script uses; the session cookie then names that token
(its name and creation time, signed) rather than holding its secret, so a stolen cookie cannot be
turned into an API token, and revoking the token ends every session made with it at the next
request. The cookie is ``Secure; HttpOnly; SameSite=Strict``. Each form carries a CSRF token
derived from the session (synchroniser token); the login form, made before any session exists,
uses a double-submit cookie instead.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time

from ..api.tokens import Token, list_tokens

COOKIE = "enforcer_session"
LOGIN_CSRF_COOKIE = "enforcer_login_csrf"
LIFETIME = 12 * 3600  # one NOC shift


def _stamp(token: Token) -> str:
    """The token's creation time: a token made later under a revoked one's name opens no old session."""
    return str(round(token.created_at.timestamp() * 1_000_000))


class Sessions:
    """Makes and checks session cookies. The key comes from ``ENFORCER_CONSOLE_SECRET`` (several
    instances behind one name share it) or is random per process (sessions end on restart)."""

    def __init__(self, secret: bytes | None = None):
        env = os.environ.get("ENFORCER_CONSOLE_SECRET")
        self.secret = secret or (env.encode() if env else secrets.token_bytes(32))

    def _sign(self, payload: str) -> str:
        return hmac.new(self.secret, payload.encode(), hashlib.sha256).hexdigest()

    def make(self, token: Token, at: float | None = None) -> str:
        expires = int((at or time.time()) + LIFETIME)
        name = base64.urlsafe_b64encode(token.name.encode()).decode()
        payload = f"{name}.{_stamp(token)}.{expires}"
        return f"{payload}.{self._sign(payload)}"

    def check(self, cookie: str | None, store, at: float | None = None) -> Token | None:
        """The live token behind a session cookie, or None (bad signature, expired, revoked)."""
        if not cookie or cookie.count(".") < 3:
            return None
        payload, _, signature = cookie.rpartition(".")
        if not hmac.compare_digest(signature, self._sign(payload)):
            return None
        name_b64, created, expires = payload.rsplit(".", 2)
        if not expires.isdigit() or int(expires) < (at or time.time()):
            return None
        try:
            name = base64.urlsafe_b64decode(name_b64.encode()).decode()
        except (ValueError, UnicodeDecodeError):
            return None
        return next(
            (
                t
                for t in list_tokens(store)
                if t.name == name and not t.revoked and _stamp(t) == created
            ),
            None,
        )

    def csrf(self, cookie: str) -> str:
        return self._sign("csrf:" + cookie)[:40]

    def csrf_ok(self, cookie: str, presented: str | None) -> bool:
        return bool(presented) and hmac.compare_digest(self.csrf(cookie), presented or "")
