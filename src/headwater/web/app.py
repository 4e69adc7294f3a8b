"""The pages: pipelines, a pipeline, runs, a run (and a task run's panel), operations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Body, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from headwater.api.problems import problem
from headwater.domain.states import RunState, TaskRunState
from headwater.errors import NotFound
from headwater.services.context import Services
from headwater.services.views import (
    get_pipeline_page,
    get_run_page,
    get_task_run_detail,
    list_pipeline_overviews,
    list_queue_depths,
)
from headwater.services.workers import list_workers
from headwater.store import runs as run_store
from headwater.web.format import FILTERS
from headwater.web.graphs import pipeline_graph, run_progress
from headwater.web.layouts import Layout, LayoutCache, fits

HERE = Path(__file__).parent
STATIC = HERE / "static"
BUNDLE = STATIC / "dist" / "app.js"
RUNS_PER_PAGE = 50


@dataclass
class Pages:
    """What every page handler needs: the services, the templates, the layout cache."""

    svc: Services
    templates: Jinja2Templates
    layouts: LayoutCache

    def page(self, request: Request, name: str, **context: Any) -> HTMLResponse:
        return self.templates.TemplateResponse(request, name, context)

    def graph_of(self, plan: Any) -> dict[str, Any]:
        graph = pipeline_graph(plan)
        graph["layout"] = self.layouts.find(graph["version"])
        return graph

    async def read(self, fn: Any, *args: Any) -> Any:
        """fn(svc, *args) off the event loop; a NotFound becomes a 404 page (not JSON)."""
        try:
            return await run_in_threadpool(fn, self.svc, *args)
        except NotFound as exc:
            raise _PageNotFound(str(exc)) from exc


def install(app: FastAPI, svc: Services) -> None:
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.filters.update(FILTERS)
    templates.env.globals["bundle_built"] = BUNDLE.exists()
    templates.env.globals["run_states"] = [s.value for s in RunState]
    templates.env.globals["task_run_states"] = [s.value for s in TaskRunState]
    app.mount("/static", StaticFiles(directory=STATIC, check_dir=False), name="static")
    pages = Pages(svc, templates, LayoutCache())

    @app.exception_handler(_PageNotFound)
    async def not_found(request: Request, exc: _PageNotFound) -> HTMLResponse:
        response = pages.page(request, "not_found.html", message=str(exc))
        response.status_code = 404
        return response

    _pipeline_pages(app, pages)
    _run_pages(app, pages)
    _operations_pages(app, pages)


def _pipeline_pages(app: FastAPI, pages: Pages) -> None:
    @app.get("/", include_in_schema=False)
    async def pipelines(request: Request) -> HTMLResponse:
        found = await pages.read(list_pipeline_overviews)
        return pages.page(request, "pipelines.html", pipelines=found, nav="pipelines")

    @app.get("/pipelines/{name}", include_in_schema=False)
    async def pipeline(request: Request, name: str) -> HTMLResponse:
        view = await pages.read(get_pipeline_page, name)
        recent = await pages.read(_list_runs, {"pipeline": name}, 10)
        return pages.page(
            request,
            "pipeline.html",
            view=view,
            graph=pages.graph_of(view.plan),
            recent=recent,
            nav="pipelines",
        )

    @app.put("/ui/pipelines/{name}/layout", include_in_schema=False, status_code=204)
    async def put_layout(name: str, version: str, layout: Layout = Body()) -> Response:
        """A browser's layout of the pipeline's current version, kept for later pages."""
        view = await pages.read(get_pipeline_page, name)
        graph = pipeline_graph(view.plan)
        if graph["version"] != version:
            return problem(
                409, "conflict", "Not the current version", f"{name} is now at {graph['version']}"
            )
        wrong = fits(layout, graph)
        if wrong is not None:
            return problem(
                422,
                "invalid-request",
                "Layout does not fit",
                wrong,
                [{"path": wrong.split(":")[0], "message": wrong}],
            )
        pages.layouts.put(version, layout)
        return Response(status_code=204)


def _run_pages(app: FastAPI, pages: Pages) -> None:
    @app.get("/runs", include_in_schema=False)
    async def runs(
        request: Request,
        pipeline: str = "",
        state: str = "",
        since: str = "",
        until: str = "",
        cursor: str | None = Query(None, max_length=64),
    ) -> HTMLResponse:
        errors: dict[str, str] = {}
        filters: dict[str, Any] = {"pipeline": pipeline or None, "before_id": cursor}
        if state and state not in {s.value for s in RunState}:
            errors["state"] = f"unknown state {state!r}"
        else:
            filters["state"] = state or None
        for field, key, text in (
            ("since", "created_after", since),
            ("until", "created_before", until),
        ):
            try:
                filters[key] = _epoch(text)
            except ValueError:
                errors[field] = "not a date and time (YYYY-MM-DDTHH:MM, UTC)"
        found = [] if errors else await pages.read(_list_runs, filters, RUNS_PER_PAGE + 1)
        overviews = await pages.read(list_pipeline_overviews)
        query = {"pipeline": pipeline, "state": state, "since": since, "until": until}
        return pages.page(
            request,
            "runs.html",
            runs=found[:RUNS_PER_PAGE],
            next_cursor=found[RUNS_PER_PAGE - 1].id if len(found) > RUNS_PER_PAGE else None,
            query=query,
            pipeline_names=[p.name for p in overviews],
            errors=errors,
            first_page=cursor is None,
            nav="runs",
        )

    @app.get("/runs/{run_id}", include_in_schema=False)
    async def run(request: Request, run_id: str) -> HTMLResponse:
        view = await pages.read(get_run_page, run_id)
        return pages.page(
            request,
            "run.html",
            view=view,
            graph=pages.graph_of(view.plan),
            progress=run_progress(view),
            nav="runs",
        )

    @app.get("/runs/{run_id}/task-runs/{task_run_id}", include_in_schema=False)
    async def task_run(request: Request, run_id: str, task_run_id: int) -> HTMLResponse:
        detail = await pages.read(get_task_run_detail, run_id, task_run_id)
        return pages.page(request, "task_run.html", d=detail)


def _operations_pages(app: FastAPI, pages: Pages) -> None:
    @app.get("/workers", include_in_schema=False)
    async def workers(request: Request) -> HTMLResponse:
        found = await pages.read(list_workers, True)
        return pages.page(request, "workers.html", workers=found, now=_now(), nav="workers")

    @app.get("/queues", include_in_schema=False)
    async def queues(request: Request) -> HTMLResponse:
        depths = await pages.read(list_queue_depths)
        return pages.page(request, "queues.html", queues=depths, nav="queues")

    @app.get("/schedules", include_in_schema=False)
    async def schedules(request: Request) -> HTMLResponse:
        return pages.page(request, "schedules.html", nav="schedules")

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        return Response(status_code=204)


class _PageNotFound(Exception):
    """A page's subject does not exist: answered with an HTML 404 page."""


def _list_runs(svc: Services, filters: dict[str, Any], limit: int) -> list[run_store.RunRow]:
    with svc.db.read() as conn:
        return run_store.list_runs(conn, limit=limit, **filters)


def _epoch(text: str) -> float | None:
    """A datetime-local value (taken as UTC) as epoch seconds; '' is no bound."""
    if not text:
        return None
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _now() -> float:
    return datetime.now(UTC).timestamp()
