"""Detector adapters: each turns one detector's own payload into typed intake items.

An adapter is a pure function (no store, no inventory, no clock): payload in, a list of
:class:`~enforcer.model.Decision` (block this), :class:`End` (the detector says the condition
cleared: end what *it* opened), :class:`Skip` (understood, nothing to enforce, and why) or
:class:`Invalid` (one bad element of a batch) out. A payload that is malformed as a whole raises
:class:`~enforcer.model.InvalidInput` naming the payload field, so the edge can answer a 422 the
detector's operator can act on. The idempotency key each adapter derives from the payload
(attack uuid, alert fingerprint + start) is what makes a webhook retry harmless;
:func:`enforcer.hooks.intake.claim` then ties source and key to the hook and the caller.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..model import Decision, InvalidInput, PrefixT, Violation, parse_prefix, validation_error_to_invalid
from ..notify_call import digest, one_of  # noqa: F401 - the adapters' helpers, kept where the light client can reach them

#: Sources that belong to people and to enforcer itself: no detector payload may speak as them.
RESERVED_SOURCES = frozenset({"cli", "api", "reconcile", "operator"})


class End(BaseModel):
    """End the active decisions ``source`` opened for ``target`` (unban, alert resolved).

    ``violation`` None: whatever category the source opened (FastNetMon's unban may not say
    which direction the attack had).
    """

    model_config = ConfigDict(frozen=True)
    target: PrefixT
    source: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$")]
    violation: Violation | None = None
    actor: str = "detector"
    reason: str = ""
    #: The alert/attack/event that resolved: only its hold is released. None: every hold of this caller.
    cause: str | None = None


class Skip(BaseModel):
    """A well-formed alert that asks for no enforcement (informational, or not ours to act on)."""

    model_config = ConfigDict(frozen=True)
    reason: str


class Invalid(BaseModel):
    """One malformed element of a batch (an alert in an Alertmanager group, an event in a list).

    Reported per item, so one bad alert does not lose the others: Alertmanager never retries a
    4xx, and a whole-group 422 would drop the good alerts with the bad one.
    """

    model_config = ConfigDict(frozen=True)
    field: str
    reason: str


Item = Decision | End | Skip | Invalid
M = TypeVar("M", bound=BaseModel)


def build(model: type[M], fields: dict[str, str], **values: Any) -> M:
    """Validate ``values`` into ``model``; a failure names the payload's field (``fields``: model → payload)."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        err = validation_error_to_invalid(exc)
        raise InvalidInput(fields.get(err.field, err.field), err.reason) from None


def each(elements: list[Any], adapt: Callable[[str, Any], Item], prefix: str = "") -> list[Item]:
    """Adapt every element of a batch on its own: a bad one becomes :class:`Invalid`, the rest stand."""
    out: list[Item] = []
    for i, element in enumerate(elements):
        try:
            out.append(adapt(f"{prefix}{i}", element))
        except InvalidInput as exc:
            out.append(Invalid(field=exc.field, reason=exc.reason))
    return out


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
