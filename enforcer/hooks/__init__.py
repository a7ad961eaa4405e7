"""Detector adapters: each turns one detector's own payload into typed intake items.

An adapter is a pure function (no store, no inventory, no clock): payload in, a list of
:class:`~enforcer.model.Decision` (block this), :class:`End` (the detector says the condition
cleared: end what *it* opened) or :class:`Skip` (understood, nothing to enforce, and why) out.
Anything malformed raises :class:`~enforcer.model.InvalidInput` naming the payload field, so the
edge can answer a 422 the detector's operator can act on. The idempotency key each adapter
derives from the payload (attack uuid, alert fingerprint + start) is what makes a webhook retry
harmless.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..model import Decision, InvalidInput, PrefixT, Violation, parse_prefix, validation_error_to_invalid


class End(BaseModel):
    """End the active decisions ``source`` opened for ``target`` (unban, alert resolved)."""

    model_config = ConfigDict(frozen=True)
    target: PrefixT
    source: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$")]
    violation: Violation | None = None
    actor: str = "detector"
    reason: str = ""


class Skip(BaseModel):
    """A well-formed alert that asks for no enforcement (informational, or not ours to act on)."""

    model_config = ConfigDict(frozen=True)
    reason: str


Item = Decision | End | Skip


def decision(fields: dict[str, str], **values: Any) -> Decision:
    """Build a Decision; a validation failure names the payload's field (``fields`` maps model → payload)."""
    try:
        return Decision.model_validate(values)
    except ValidationError as exc:
        err = validation_error_to_invalid(exc)
        raise InvalidInput(fields.get(err.field, err.field), err.reason) from None
    except OverflowError:  # a duration beyond what timedelta holds, before the 365-day check sees it
        raise InvalidInput(fields.get("ttl", "ttl"), f"{values.get('ttl')!r} is far beyond the maximum") from None


def end(fields: dict[str, str], **values: Any) -> End:
    """Build an End; a validation failure names the payload's field, as :func:`decision` does."""
    try:
        return End.model_validate(values)
    except ValidationError as exc:
        err = validation_error_to_invalid(exc)
        raise InvalidInput(fields.get(err.field, err.field), err.reason) from None


def prefix(field: str, value: Any) -> Any:
    """A payload's address or prefix → network, or InvalidInput naming the payload field."""
    if value is None or value == "":
        raise InvalidInput(field, "missing")
    try:
        return parse_prefix(value)
    except ValueError as exc:
        raise InvalidInput(field, str(exc)) from None


def need(payload: Any, field: str) -> Any:
    """``payload[field]`` for a dict payload, else InvalidInput naming the missing field."""
    if not isinstance(payload, dict):
        raise InvalidInput(field.rpartition(".")[0] or "body", "expected a JSON object")
    key = field.rpartition(".")[2]
    if key not in payload or payload[key] in (None, ""):
        raise InvalidInput(field, "missing")
    return payload[key]


def digest(*parts: Any) -> str:
    """A short stable hash of payload parts, for idempotency keys when the detector gives no id."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


__all__ = ["End", "Item", "Skip", "decision", "digest", "end", "need", "prefix"]
