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
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from headwater.errors import (
    Conflict,
    DefinitionError,
    Forbidden,
    HeadwaterError,
    NotFound,
    PipelineDisabled,
    StoreUnavailable,
    Unauthenticated,
    ValidationError,
)

MEDIA_TYPE = "application/problem+json"
_BY_ERROR: list[tuple[type[HeadwaterError], int, str, str]] = [
    (NotFound, 404, "not-found", "Not found"),
    (ValidationError, 422, "invalid-arguments", "Invalid arguments"),
    (DefinitionError, 422, "invalid-definition", "Invalid definition"),
    (PipelineDisabled, 409, "pipeline-disabled", "Pipeline disabled"),
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


class FieldProblem(BaseModel):
    path: str
    message: str


class Problem(BaseModel):
    """An error (RFC 9457)."""

    type: str = Field(description="urn:headwater:problem:<slug>, stable")
    title: str
    status: int
    detail: str
    errors: list[FieldProblem] | None = Field(None, description="for validation errors")


_DESCRIPTIONS = {
    400: "Bad request",
    403: "Forbidden (a link that expired or whose signature is wrong)",
    404: "Not found",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    416: "Range not satisfiable",
    422: "Invalid request or arguments",
    503: "Database unavailable",
}
# What any route may answer: a body that cannot be read, over the limit or malformed;
# a path naming nothing that exists; no database.
COMMON_STATUSES = (400, 404, 413, 422, 503)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` declaring problem+json bodies for these statuses."""
    return {
        status: {
            "description": _DESCRIPTIONS[status],
            "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
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


def _declare_schema(app: FastAPI) -> None:
    """Put the Problem schema in the OpenAPI components that `responses()` refers to."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        schema = app.openapi_schema
        if schema is None:
            schema = build()  # FastAPI keeps it as app.openapi_schema
            problem_schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
            found = schema.setdefault("components", {}).setdefault("schemas", {})
            found.update(problem_schema.pop("$defs", {}))
            found["Problem"] = problem_schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def install(app: FastAPI) -> None:
    _declare_schema(app)

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
