"""Definitions kept in the database: the task registry, and pipelines defined as recipes
through the API (created, versioned, enabled or disabled, deleted).

The server never imports user code (DESIGN rule 8): recipes are compiled against the
task definitions code locations registered when their workers started, with the same
validation (and the same problem messages) as `headwater validate`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from headwater.authoring.recipes import TaskLookup, compile_recipe
from headwater.domain.problems import Problem
from headwater.domain.spec import PipelineSpec, TaskDef
from headwater.errors import Conflict, DefinitionError, NotFound
from headwater.services.context import Services
from headwater.store import pipelines as pipeline_store
from headwater.store import tasks as task_store
from headwater.store.pipelines import PipelineRow, VersionRow
from headwater.store.tasks import TaskRow

API_ORIGIN = "api"
# Where problems and node sources of a recipe posted through the API say they are.
API_RECIPE_FILE = "api"


def recipe_file(recipe: dict[str, Any]) -> str:
    """``api:NAME``: the place problems and node sources name for a posted recipe."""
    name = recipe.get("name")
    return f"{API_RECIPE_FILE}:{name}" if isinstance(name, str) else API_RECIPE_FILE


def register_tasks(svc: Services, definitions: Sequence[TaskDef], location: str) -> None:
    """Store the definitions of a code location's tasks (name, version, parameter schema,
    settings, source) so recipes posted through the API can use them."""
    with svc.db.read() as conn:
        if not task_store.changed_tasks(conn, definitions, location):
            return  # the usual case: a worker of an unchanged project starting again
    with svc.db.write() as conn:
        task_store.save_tasks(conn, definitions, location, svc.db.clock(conn))


def list_registered_tasks(svc: Services) -> list[TaskRow]:
    with svc.db.read() as conn:
        return task_store.list_tasks(conn)


def get_registered_task(svc: Services, name: str) -> TaskRow:
    with svc.db.read() as conn:
        return task_store.get_task(conn, name)


@dataclass(frozen=True)
class Defined:
    name: str
    version_id: int
    created: bool  # False: a new version of a pipeline that existed


def define_pipeline(
    svc: Services, recipe: dict[str, Any], *, name: str | None = None, replace: bool = False
) -> Defined:
    """Create a pipeline from a recipe (or with `replace`, store a new version of it).

    `name`, when given, is the name the caller addressed; the recipe must carry it.
    Code-defined pipelines belong to their code location and cannot be replaced here."""
    with svc.db.write() as conn:
        file = recipe_file(recipe)
        spec = compile_recipe(recipe, file, _registered_task_lookup(conn))
        if name is not None and spec.name != name:
            raise DefinitionError(
                [
                    Problem(
                        file,
                        "$.name",
                        f"the recipe is named {spec.name!r}, the request addresses {name!r}",
                    )
                ],
                "the recipe is invalid",
            )
        old = pipeline_store.find_pipeline(conn, spec.name)
        live = old is not None and old.deleted_at is None
        if live and old is not None and old.origin != API_ORIGIN:
            raise Conflict(
                f"pipeline {spec.name} is defined by code; change it in its code location"
            )
        if live and not replace:
            raise Conflict(f"pipeline {spec.name} exists; PUT a recipe to make a new version")
        version_id = pipeline_store.save_version(conn, spec, API_ORIGIN, svc.db.clock(conn))
    return Defined(spec.name, version_id, created=not live)


def delete_pipeline(svc: Services, name: str) -> None:
    """Hide a pipeline defined through the API: it is no longer listed and starts no
    runs; its versions and runs stay readable."""
    with svc.db.write() as conn:
        row = pipeline_store.get_pipeline(conn, name)
        if row.origin != API_ORIGIN:
            raise Conflict(f"pipeline {name} is defined by code; remove it from its code location")
        pipeline_store.mark_deleted(conn, name, svc.db.clock(conn))


def set_pipeline_enabled(svc: Services, name: str, enabled: bool) -> PipelineRow:
    """Enable or disable a pipeline (a disabled one refuses new runs); the row after."""
    with svc.db.write() as conn:
        pipeline_store.get_pipeline(conn, name)
        pipeline_store.set_enabled(conn, name, enabled, svc.db.clock(conn))
        return pipeline_store.get_pipeline(conn, name)


def list_pipeline_versions(svc: Services, name: str) -> tuple[PipelineRow, list[VersionRow]]:
    """A pipeline (deleted ones too: their runs keep pointing at these) and its versions."""
    with svc.db.read() as conn:
        row = pipeline_store.find_pipeline(conn, name)
        if row is None:
            raise NotFound(f"no pipeline named {name!r}")
        return row, pipeline_store.list_versions(conn, name)


def get_pipeline_version(svc: Services, name: str, version_id: int) -> PipelineSpec:
    """The spec of one version of a pipeline (deleted pipelines' too)."""
    with svc.db.read() as conn:
        spec = svc.plans.get(conn, version_id).spec
    if spec.name != name:
        raise NotFound(f"pipeline {name} has no version {version_id}")
    return spec


def _registered_task_lookup(conn: Connection) -> TaskLookup:
    """Registered tasks by name, or by their import path (``module.function`` or
    ``module:function``) as recipe files may also name them."""
    by_name = {row.definition.name: row.definition for row in task_store.list_tasks(conn)}
    by_path = {task.callable.replace(":", "."): task for task in by_name.values() if task.callable}

    def find(name: str) -> TaskDef | None:
        return by_name.get(name) or by_path.get(name.replace(":", "."))

    return find
