"""Definitions through the API: pipelines created from recipes (JSON or YAML), their
versions, enable/disable and delete; and the task registry recipes draw from."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Path, Request, Response

from headwater.api import problems
from headwater.api.models import (
    PipelineDetail,
    PipelineSummary,
    PipelineVersions,
    TaskOut,
    VersionDetail,
    VersionOut,
)
from headwater.api.views import graph_of, pipeline_detail, pipeline_summary
from headwater.authoring.recipes import parse_recipe_text
from headwater.domain.problems import Problem
from headwater.errors import DefinitionError
from headwater.services import definitions as defs
from headwater.services.context import Services
from headwater.store.tasks import TaskRow

API = "/api/v1"
MAX_ID = 2**31 - 1  # pipeline version ids are INTEGER columns
VersionId = Annotated[int, Path(ge=1, le=MAX_ID)]
JSON_TYPES = ("application/json",)
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")
_RECIPE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "A recipe (see docs/recipe.schema.json), as JSON or YAML.",
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "application/yaml": {"schema": {"type": "string"}},
        },
    }
}
_WRITE_ERRORS = problems.responses(409, 415)


class UnsupportedMediaType(Exception):
    def __init__(self, media_type: str) -> None:
        super().__init__(media_type)
        self.media_type = media_type


async def read_recipe(request: Request) -> dict[str, Any]:
    """The request body as a recipe mapping; problems as the CLI reports them."""
    media_type = request.headers.get("content-type", "application/json").split(";")[0]
    media_type = media_type.strip().lower()
    if media_type not in JSON_TYPES + YAML_TYPES and not media_type.endswith("+json"):
        raise UnsupportedMediaType(media_type)
    body = await request.body()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise DefinitionError([Problem(defs.API_RECIPE_FILE, "$", "not UTF-8 text")]) from None
    return parse_recipe_text(text, defs.API_RECIPE_FILE, as_json=media_type not in YAML_TYPES)


def install(app: FastAPI, svc: Services) -> None:
    @app.exception_handler(UnsupportedMediaType)
    async def _unsupported(_request: Request, exc: UnsupportedMediaType) -> Response:
        return problems.problem(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            f"send the recipe as application/json or application/yaml, not {exc.media_type}",
        )

    _pipeline_writes(app, svc)
    _pipeline_versions(app, svc)
    _task_routes(app, svc)


def _pipeline_writes(app: FastAPI, svc: Services) -> None:
    @app.post(
        f"{API}/pipelines",
        status_code=201,
        tags=["definitions"],
        openapi_extra=_RECIPE_BODY,
        responses=_WRITE_ERRORS,
    )
    async def create_pipeline(request: Request, response: Response) -> PipelineDetail:
        """Create a pipeline from a recipe whose tasks are registered (or inline commands).
        It is validated like `headwater validate` does; a name in use is a 409."""
        recipe = await read_recipe(request)
        defined = defs.define_pipeline(svc, recipe)
        response.headers["Location"] = f"{API}/pipelines/{defined.name}"
        return pipeline_detail(svc, defined.name)

    @app.put(
        f"{API}/pipelines/{{name}}",
        tags=["definitions"],
        openapi_extra=_RECIPE_BODY,
        responses={201: {"description": "Created"}, **_WRITE_ERRORS, **problems.responses(404)},
    )
    async def replace_pipeline(name: str, request: Request, response: Response) -> PipelineDetail:
        """Store the recipe as the pipeline's new current version (created if new).
        Runs already started keep the version they started with."""
        recipe = await read_recipe(request)
        defined = defs.define_pipeline(svc, recipe, name=name, replace=True)
        if defined.created:
            response.status_code = 201
        return pipeline_detail(svc, defined.name)

    @app.delete(
        f"{API}/pipelines/{{name}}",
        status_code=204,
        tags=["definitions"],
        responses=problems.responses(404, 409),
    )
    def delete_pipeline(name: str) -> Response:
        """Delete a pipeline defined through the API: it is hidden and starts no runs;
        its runs and versions stay readable. Code-defined pipelines cannot be deleted."""
        defs.delete_pipeline(svc, name)
        return Response(status_code=204)

    @app.post(
        f"{API}/pipelines/{{name}}/disable",
        tags=["definitions"],
        responses=problems.responses(404),
    )
    def disable_pipeline(name: str) -> PipelineSummary:
        """New runs are refused (409) until the pipeline is enabled again."""
        defs.set_pipeline_enabled(svc, name, False)
        return pipeline_summary(svc, name)

    @app.post(
        f"{API}/pipelines/{{name}}/enable", tags=["definitions"], responses=problems.responses(404)
    )
    def enable_pipeline(name: str) -> PipelineSummary:
        defs.set_pipeline_enabled(svc, name, True)
        return pipeline_summary(svc, name)


def _pipeline_versions(app: FastAPI, svc: Services) -> None:
    @app.get(
        f"{API}/pipelines/{{name}}/versions",
        tags=["definitions"],
        responses=problems.responses(404),
    )
    def list_versions(name: str) -> PipelineVersions:
        """Every version of the pipeline, newest first (also of a deleted pipeline)."""
        row, versions = defs.list_pipeline_versions(svc, name)
        return PipelineVersions(
            name=row.name,
            origin=row.origin,
            enabled=row.enabled,
            deleted=row.deleted_at is not None,
            versions=[
                VersionOut(
                    version_id=v.id,
                    version=v.content_hash,
                    created_at=v.created_at,
                    current=v.id == row.current_version_id,
                )
                for v in versions
            ],
        )

    @app.get(
        f"{API}/pipelines/{{name}}/versions/{{version_id}}",
        tags=["definitions"],
        responses=problems.responses(404),
    )
    def get_version(name: str, version_id: VersionId) -> VersionDetail:
        """One version's spec and graph: what runs that started with it ran."""
        row, versions = defs.list_pipeline_versions(svc, name)
        spec = defs.get_pipeline_version(svc, name, version_id)
        version = next(v for v in versions if v.id == version_id)
        return VersionDetail(
            pipeline=name,
            version_id=version_id,
            version=version.content_hash,
            created_at=version.created_at,
            current=version_id == row.current_version_id,
            spec=spec.to_json_dict(),
            **graph_of(spec),
        )


def _task_routes(app: FastAPI, svc: Services) -> None:
    @app.get(f"{API}/tasks", tags=["definitions"])
    def list_tasks() -> list[TaskOut]:
        """Tasks registered by code locations, which recipes may use by name."""
        return [_task_out(row) for row in defs.list_registered_tasks(svc)]

    @app.get(f"{API}/tasks/{{name}}", tags=["definitions"], responses=problems.responses(404))
    def get_task(name: str) -> TaskOut:
        return _task_out(defs.get_registered_task(svc, name))


def _task_out(row: TaskRow) -> TaskOut:
    task = row.definition
    return TaskOut(
        name=task.name,
        version=task.version,
        kind=task.kind,
        description=task.description,
        params_schema=task.params_schema,
        output_schema=task.output_schema,
        retries=task.retries,
        timeout_seconds=task.timeout_seconds,
        cache=task.cache,
        queue=task.queue,
        tags=list(task.tags),
        source=str(task.source) if task.source else None,
        location=row.location,
        registered_at=row.registered_at,
    )
