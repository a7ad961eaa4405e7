"""Every error the API answers is JSON ``{"error": {"field": ..., "reason": ...}}``.

Client faults are 4xx and name the field: 400 a body that is not JSON at all, 401 no or a bad
token, 403 a token outside its scope, 404 nothing there, 409 a guardrail refused a well-formed
request (or the decision is already ended), 413 a body over the size limit, 422 a value that does
not validate. A 500 means a bug in enforcer, never bad input: FastAPI's own validation errors are
rewritten to this shape too.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..hooks.intake import ErrorDetail, NotFound
from ..inventory import InventoryError
from ..model import EnforcerError, InvalidInput, Refused

log = logging.getLogger("enforcer.api")


class ErrorResponse(BaseModel):
    error: ErrorDetail


ERR: dict[str, Any] = {"model": ErrorResponse}
#: The errors each kind of route documents (every route may also answer 413 for a huge body).
READ_ERRORS: dict[int | str, dict[str, Any]] = {401: ERR, 422: ERR}
WRITE_ERRORS: dict[int | str, dict[str, Any]] = {400: ERR, 401: ERR, 403: ERR, 409: ERR, 413: ERR, 422: ERR}


class ApiError(Exception):
    """Raised by handlers: becomes ``status`` with the field and reason."""

    def __init__(self, status: int, field: str, reason: str, headers: dict[str, str] | None = None):
        self.status = status
        self.field = field
        self.reason = reason
        self.headers = headers
        super().__init__(f"{status} {field}: {reason}")


def _json(status: int, field: str, reason: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"field": field, "reason": reason}}, status_code=status, headers=headers)


#: Union-member tags pydantic puts in an error's location (``GenericEvent``, ``list[...]``,
#: ``constrained-int``): not fields, so not shown.
_UNION_TAG = re.compile(r"^(constrained-\w+|function-.*|.*\[.*\]|[A-Z][a-z]+[A-Z]\w*)$")


def _validation_field(err: dict[str, Any]) -> str:
    loc = [str(p) for p in err.get("loc", ()) if not _UNION_TAG.match(str(p))]
    if loc and loc[0] in ("body", "query", "path", "header", "cookie"):
        loc = loc[1:] or loc
    return ".".join(loc) or "body"


def _most_telling(errors: list[dict[str, Any]]) -> dict[str, Any]:
    """Of a union's errors, the one about a value rather than "not a list" for the member not meant."""
    telling = [e for e in errors if not str(e.get("type", "")).endswith("_type")]
    return (telling or errors or [{}])[0]


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        return _json(exc.status, exc.field, exc.reason, exc.headers)

    @app.exception_handler(NotFound)
    async def _not_found(_: Request, exc: NotFound) -> JSONResponse:
        return _json(404, exc.field, exc.reason)

    @app.exception_handler(InvalidInput)
    async def _invalid(_: Request, exc: InvalidInput) -> JSONResponse:
        return _json(422, exc.field, exc.reason)

    @app.exception_handler(Refused)
    async def _refused(_: Request, exc: Refused) -> JSONResponse:
        return _json(409, exc.field, exc.reason)

    @app.exception_handler(InventoryError)
    async def _inventory(_: Request, exc: InventoryError) -> JSONResponse:
        log.error("inventory error: %s", exc)
        return _json(503, "inventory", str(exc))

    @app.exception_handler(EnforcerError)
    async def _enforcer(_: Request, exc: EnforcerError) -> JSONResponse:
        log.error("enforcer error: %s", exc)
        return _json(503, "server", str(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = _most_telling(list(exc.errors()))
        if first.get("type") == "json_invalid":
            return _json(400, "body", f"not valid JSON: {first.get('ctx', {}).get('error', 'parse error')}")
        reason = str(first.get("msg", "invalid")).removeprefix("Value error, ")
        return _json(422, _validation_field(first), reason)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        field = {400: "body", 404: "path", 405: "method"}.get(exc.status_code, "request")
        reason = str(exc.detail)
        if exc.status_code == 404 and reason == "Not Found":
            reason = f"no such endpoint: {request.url.path}"
        return _json(exc.status_code, field, reason, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _bug(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return _json(500, "server", "internal error (a bug in enforcer; see the server log)")
