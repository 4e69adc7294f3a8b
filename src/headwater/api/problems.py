"""Errors as problem+json (RFC 9457), mapped in one place.

Every error body has a stable `type` (``urn:headwater:problem:<slug>``), a `title`, the
HTTP `status`, a human `detail`, and for validation a list of `errors` with the
`path` of each bad field and a `message`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from headwater.errors import (
    Conflict,
    DefinitionError,
    Forbidden,
    HeadwaterError,
    NotFound,
    StoreUnavailable,
    Unauthenticated,
    ValidationError,
)

MEDIA_TYPE = "application/problem+json"
_BY_ERROR: list[tuple[type[HeadwaterError], int, str, str]] = [
    (NotFound, 404, "not-found", "Not found"),
    (ValidationError, 422, "invalid-arguments", "Invalid arguments"),
    (DefinitionError, 422, "invalid-definition", "Invalid definition"),
    (Conflict, 409, "conflict", "Conflict"),
    (Unauthenticated, 401, "unauthenticated", "Unauthenticated"),
    (Forbidden, 403, "forbidden", "Forbidden"),
    (StoreUnavailable, 503, "database-unavailable", "Database unavailable"),
]
_BY_STATUS = {
    400: "bad-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "too-large",
    415: "unsupported-media-type",
    422: "invalid-request",
}


def problem(
    status: int, slug: str, title: str, detail: str, errors: list[dict[str, str]] | None = None
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"urn:headwater:problem:{slug}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE)


def install(app: FastAPI) -> None:
    @app.exception_handler(HeadwaterError)
    async def _headwater(_request: Request, exc: HeadwaterError) -> JSONResponse:
        for kind, status, slug, title in _BY_ERROR:
            if isinstance(exc, kind):
                problems = getattr(exc, "problems", None)
                errors = (
                    [{"path": p.path, "message": p.message} for p in problems]
                    if problems is not None
                    else None
                )
                return problem(status, slug, title, str(exc).splitlines()[0], errors)
        return problem(500, "internal", "Internal error", str(exc))

    @app.exception_handler(RequestValidationError)
    async def _request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"path": ".".join(str(p) for p in err["loc"]), "message": err["msg"]}
            for err in exc.errors()
        ]
        return problem(
            422,
            "invalid-request",
            "Invalid request",
            f"{len(errors)} problem(s) in the request",
            errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug = _BY_STATUS.get(exc.status_code, f"http-{exc.status_code}")
        return problem(exc.status_code, slug, str(exc.detail), str(exc.detail))
