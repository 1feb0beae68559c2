"""The exception tree and its one mapping to HTTP: every error is ``{"detail": "..."}``."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

__all__ = [
    "AlloopError", "NotFound", "Invalid", "Conflict", "Unauthorized", "Forbidden", "TooLarge", "Upstream",
    "StoreUnavailable", "install",
]


class AlloopError(Exception):
    """Base of every error the API reports; ``status`` is its HTTP code."""

    status = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(AlloopError):
    """An unknown project or item (404)."""

    status = 404


class Invalid(AlloopError):
    """Well-formed JSON that breaks a rule: a label outside the set, a wrong length (422)."""

    status = 422


class Conflict(AlloopError):
    """The request clashes with the campaign's state, e.g. a label past the budget (409)."""

    status = 409


class Unauthorized(AlloopError):
    """A missing or wrong bearer token (401)."""

    status = 401


class Forbidden(AlloopError):
    """A valid token without the right to this call (403)."""

    status = 403


class TooLarge(AlloopError):
    """A request body over the configured limit (413)."""

    status = 413


class Upstream(AlloopError):
    """A service alloop calls for this request (Label Studio) is unreachable or refused (502)."""

    status = 502


class StoreUnavailable(AlloopError):
    """The PostgreSQL store cannot be reached, or the connection broke mid-request (503, Retry-After).

    Nothing is retried: a write whose commit was cut off may or may not have landed, so the caller
    retries it with its ``Idempotency-Key`` (label writes) and gets the first answer if it did.
    """

    status = 503


def _location(loc: tuple) -> str:
    parts = [str(part) for part in loc if part not in ("body",)]
    return ".".join(parts) or "body"


def describe_validation(exc: RequestValidationError) -> str:
    """One readable sentence per problem: ``items.0.features: Input should be a valid list``."""
    messages = []
    for error in exc.errors()[:10]:
        messages.append(f"{_location(tuple(error.get('loc', ())))}: {error.get('msg', 'invalid')}")
    more = len(exc.errors()) - 10
    if more > 0:
        messages.append(f"... and {more} more")
    return "; ".join(messages)


def install(app: FastAPI) -> None:
    """Map every error to the one body shape."""

    @app.exception_handler(AlloopError)
    async def _alloop(_: Request, exc: AlloopError) -> JSONResponse:
        headers = {"Retry-After": "1"} if isinstance(exc, StoreUnavailable) else None
        return JSONResponse({"detail": exc.detail}, status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": describe_validation(exc)}, status_code=422)

    @app.exception_handler(OverflowError)
    async def _overflow(_: Request, exc: OverflowError) -> JSONResponse:
        # a safety net: every route bounds its integers, but a number past SQLite's
        # 64-bit range must never become a 500
        return JSONResponse({"detail": f"a number in the request is out of range ({exc})"}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=exc.headers)
