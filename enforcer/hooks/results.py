"""What became of one intake item: the shape the API answers and ``enforcer hook --url`` reads.

Apart from :mod:`enforcer.hooks.intake` so that a client (``enforcer hook fastnetmon --url``,
run by FastNetMon for every ban) can parse an answer without importing the service, the store
and the render stack behind intake: that import alone is most of a second of start-up.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from ..model import Enforcement

Outcome = Literal[
    "created", "held", "duplicate", "dry-run", "ended", "released", "nothing-to-end", "skipped", "refused", "invalid"
]


class ErrorDetail(BaseModel):
    """A field and the reason it was refused: the API's error body, and an item's error."""

    field: str
    reason: str


class ItemResult(BaseModel):
    """What became of one intake item."""

    model_config = ConfigDict(frozen=True)
    outcome: Outcome
    target: str | None = None
    violation: str | None = None
    source: str | None = None
    decision_id: int | None = None
    ended: list[int] = []
    #: ``released``: this caller's hold is gone, but these decisions stay (another alert still holds them).
    held_by_others: list[int] = []
    enforcements: list[Enforcement] = []
    reason: str | None = None
    error: ErrorDetail | None = None

    @property
    def accepted(self) -> bool:
        return self.outcome not in ("refused", "invalid")


class BatchResponse(BaseModel):
    """The answer to a batch (a list of decisions, a hook delivery): what became of each item, in order."""

    results: list[ItemResult]


class BatchErrorResponse(BaseModel):
    """No item of the batch was accepted: the first item's error, and every item's result.

    A single decision's refusal has the same ``error`` and no ``results``.
    """

    error: ErrorDetail
    results: list[ItemResult] = []
