"""Errors as RFC 9457 problem details (``application/problem+json``).

Every error a client can see has a ``title`` (the kind), a ``detail`` (what
to do about it, the same sentence the command line prints), the ``status``,
and for validation errors the ``errors`` with the field each names.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from sitroom.errors import (
    BusyError,
    ConfigError,
    ConflictError,
    InputError,
    NotFoundError,
    SitroomError,
    StorageFullError,
)

PROBLEM = "application/problem+json"

_TITLES = {
    400: "Bad request",
    401: "Not signed in",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    412: "Precondition failed",
    413: "Request too large",
    415: "Unsupported media type",
    422: "Invalid input",
    428: "Precondition required",
    429: "Too many requests",
    500: "Server error",
    503: "Unavailable",
    507: "Storage full",
}

#: The JSON schema of a problem+json body, for the OpenAPI document.
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "For invalid input: each field and what is wrong with it",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
    "additionalProperties": True,
}

_MEANINGS = {
    400: "The body is not well-formed (malformed JSON)",
    401: "Not signed in: no, malformed, wrong or expired credentials",
    403: "The user's role or scope does not allow it",
    404: "An org unit or element named in the path or query does not exist",
    409: "The request conflicts with the stored data or names what sitroom does not know",
    412: "The If-Match or If-None-Match given does not hold for the stored value",
    413: "The request body is larger than the server accepts",
    415: "The body's content type is not one the operation reads",
    422: "A parameter or field is invalid (each is named in `errors`)",
    428: "The value exists: send If-Match with the ETag you read",
    429: "Too many failed sign-ins from this address: retry after the Retry-After seconds",
    503: "The database stayed busy: retry after the Retry-After seconds",
}


def responses(
    *statuses: int, meaning: dict[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI declarations of the problem+json answers an operation may give.

    ``meaning`` words a status for this operation instead of the common sentence.
    """
    meaning = meaning or {}
    return {
        status: {
            "description": meaning.get(status) or _MEANINGS.get(status, _TITLES[status]),
            "content": {PROBLEM: {"schema": PROBLEM_SCHEMA}},
        }
        for status in statuses
    }


#: What any operation behind sign-in may answer besides its own errors.
SIGNED_IN = (401, 403, 422, 429)
#: What any operation that reads a body may answer besides its own errors.
WRITES = (400, 401, 403, 413, 415, 422, 429, 503)


class Problem(Exception):
    """An HTTP error with a detail for the client (raise it from a route)."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or _TITLES.get(status, "Error")
        self.headers = headers or {}
        self.extra = extra


def problem_response(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {
        "type": "about:blank",
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def status_of(exc: SitroomError) -> int:
    """The HTTP status of a service error, by its kind."""
    from sitroom import errors

    for kind, status in (
        (getattr(errors, "AuthenticationError", None), 401),
        (getattr(errors, "ForbiddenError", None), 403),
        (NotFoundError, 404),
        (ConflictError, 409),
        (BusyError, 503),
        (StorageFullError, 507),
        (InputError, 422),
        (ConfigError, 500),
    ):
        if kind is not None and isinstance(exc, kind):
            return status
    return 422


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def install(app: FastAPI) -> None:
    """Answer every error with problem+json."""

    @app.exception_handler(Problem)
    async def _problem(_: Request, exc: Problem) -> JSONResponse:
        return problem_response(
            exc.status, exc.detail, title=exc.title, headers=exc.headers, **exc.extra
        )

    @app.exception_handler(SitroomError)
    async def _service(_: Request, exc: SitroomError) -> JSONResponse:
        status = status_of(exc)
        headers = {"Retry-After": "5"} if status == 503 else None
        return problem_response(status, str(exc), headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        broken = [err for err in exc.errors() if err.get("type") == "json_invalid"]
        if broken:
            # loc is ("body", <character offset>); ctx names what the decoder expected.
            err = broken[0]
            where = err.get("loc", ())[-1]
            why = (err.get("ctx") or {}).get("error") or "JSON decode error"
            at = f" at character {where}" if isinstance(where, int) else ""
            message = f"not valid JSON: {why}{at}"
            return problem_response(
                400, f"body: {message}", errors=[{"field": "body", "message": message}]
            )
        errors = [
            {"field": _field(err.get("loc", ())), "message": err.get("msg", "invalid")}
            for err in exc.errors()
        ]
        shown = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        return problem_response(422, shown or "the request is not valid", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else _TITLES.get(exc.status_code, "")
        return problem_response(exc.status_code, detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        import logging

        logging.getLogger("sitroom.server").exception(
            "unexpected error on %s %s", request.method, request.url.path
        )
        return problem_response(
            500, "the server failed to answer this request; the error is in its log"
        )
