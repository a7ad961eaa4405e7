"""Bearer tokens for the HTTP API: named, scoped, stored only as a hash, shown once.

Scopes, from least to most trusted:

* ``reader``: read decisions, plans and the audit log;
* ``detector``: submit decisions (and detector hooks) of its allowed categories only, and read
  through the API; never the web console (:meth:`Token.may_use_console`);
* ``operator``: everything, including unblock and ``force``.

A token is ``enf_`` + 32 random bytes (URL-safe base64); the store keeps its SHA-256. That is
enough for a high-entropy secret (no salt or slow hash needed: nobody can brute-force 256 bits)
and lets a request be authenticated with one indexed lookup; the final comparison is
constant-time all the same.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict
from sqlalchemy import JSON, DateTime, Integer, String, bindparam, select
from sqlalchemy.orm import Mapped, mapped_column

from ..model import InvalidInput, Violation, now
from ..store import Base, Store

PREFIX = "enf_"
#: No ":" (it separates the parts of idempotency-key namespaces, ``hook:<hook>:<token>:<key>``) and
#: no leading "@" (``@local`` is ``enforcer hook`` run without a token).
_TOKEN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")


class Scope(StrEnum):
    READER = "reader"
    DETECTOR = "detector"
    OPERATOR = "operator"


class TokenRow(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    scope: Mapped[str] = mapped_column(String(16))
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    digest: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class Token(BaseModel):
    """A token as the API and ``enforcer token list`` see it: never the secret."""

    model_config = ConfigDict(frozen=True)
    name: str
    scope: Scope
    categories: tuple[Violation, ...] = ()
    created_at: datetime
    revoked: bool = False

    def may_write(self) -> bool:
        return self.scope is not Scope.READER

    def may_submit(self, violation: Violation) -> bool:
        if self.scope is Scope.OPERATOR:
            return True
        return self.scope is Scope.DETECTOR and violation in self.categories

    def may_operate(self) -> bool:
        return self.scope is Scope.OPERATOR

    def may_use_console(self) -> bool:
        """Reader and operator tokens: a person's. A detector token is a machine's credential for
        submitting decisions in its categories; least privilege keeps it out of what the console
        shows (every active block, the customers, the audit log), so a leaked detector secret
        opens no console session."""
        return self.scope is not Scope.DETECTOR


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _ensure_table(store: Store) -> None:
    TokenRow.__table__.create(store.engine, checkfirst=True)


def _model(row: TokenRow) -> Token:
    return Token(
        name=row.name,
        scope=Scope(row.scope),
        categories=tuple(Violation(c) for c in row.categories or ()),
        created_at=row.created_at,
        revoked=row.revoked_at is not None,
    )


def parse_categories(text: str | None) -> tuple[Violation, ...]:
    """``spam,ddos-victim`` → categories; names the bad one."""
    if not text:
        return ()
    out = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        try:
            out.append(Violation(part))
        except ValueError:
            raise InvalidInput("categories", f"{part!r} is not one of: {', '.join(Violation)}") from None
    return tuple(dict.fromkeys(out))


def create_token(store: Store, name: str, scope: Scope | str, categories: tuple[Violation | str, ...] = ()) -> str:
    """Store a new token and return its secret (the only time it is ever visible)."""
    if not _TOKEN_NAME.fullmatch(name):
        raise InvalidInput("name", f"{name!r}: a letter or digit, then letters, digits and ._@-; 1-64 characters")
    try:
        scope = Scope(scope)
    except ValueError:
        raise InvalidInput("scope", f"{scope!r} is not one of: {', '.join(Scope)}") from None
    try:
        categories = tuple(dict.fromkeys(Violation(c) for c in categories))
    except ValueError as exc:
        raise InvalidInput("categories", str(exc)) from None
    if scope is Scope.DETECTOR and not categories:
        raise InvalidInput("categories", "a detector token needs the categories it may submit (--categories a,b)")
    if scope is not Scope.DETECTOR and categories:
        raise InvalidInput("categories", f"only detector tokens are limited to categories, not {scope}")
    _ensure_table(store)
    secret = PREFIX + secrets.token_urlsafe(32)
    with store.session() as s:
        if s.scalar(select(TokenRow).where(TokenRow.name == name)) is not None:
            raise InvalidInput("name", f"a token named {name!r} already exists (revoke it first)")
        s.add(
            TokenRow(
                name=name,
                scope=scope.value,
                categories=[c.value for c in categories],
                digest=_digest(secret),
                created_at=now().replace(tzinfo=None),
            )
        )
    store.audit(actor="operator", source="cli", action="token-create", target=name,
                detail={"scope": scope.value, "categories": [c.value for c in categories]})
    return secret


def list_tokens(store: Store) -> list[Token]:
    _ensure_table(store)
    with store.session() as s:
        return [_model(r) for r in s.scalars(select(TokenRow).order_by(TokenRow.name)).all()]


def revoke_token(store: Store, name: str) -> Token:
    """Revoke by name; revoked tokens stay listed (who had access, and until when)."""
    _ensure_table(store)
    with store.session() as s:
        row = s.scalar(select(TokenRow).where(TokenRow.name == name))
        if row is None:
            raise InvalidInput("name", f"no token named {name!r}")
        if row.revoked_at is None:
            row.revoked_at = now().replace(tzinfo=None)
        token = _model(row)
    store.audit(actor="operator", source="cli", action="token-revoke", target=name)
    return token


_BY_DIGEST = select(TokenRow.__table__).where(TokenRow.__table__.c.digest == bindparam("digest"))


def authenticate(store: Store, secret: str) -> Token | None:
    """The live token for this secret, or None (unknown or revoked)."""
    if not secret.startswith(PREFIX):
        return None
    presented = _digest(secret)
    # Every write request asks this, and a revocation must hold at once: one indexed query on a
    # pooled connection each time, without an ORM session and its objects (per-request cost of intake).
    with store.engine.connect() as conn:
        row = conn.execute(_BY_DIGEST, {"digest": presented}).first()
    if row is None or not hmac.compare_digest(row.digest, presented) or row.revoked_at is not None:
        return None
    return _model(row)  # type: ignore[arg-type]  # the row's columns, by the same names


def ensure_tables(store: Store) -> None:
    """Create the tokens table if this store predates it (the server calls this at start)."""
    _ensure_table(store)
