"""For operators: workers, queues, Prometheus metrics at /metrics, and CORS (off unless
the `cors_origins` setting names origins)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI, Query
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from headwater.config import Settings
from headwater.services.context import Services
from headwater.services.workers import list_workers
from headwater.store import stats

API = "/api/v1"
# Attempt durations span sub-second tasks to hour-long loads.
DURATION_BOUNDS = (0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14400.0)


class WorkerOut(BaseModel):
    id: str
    host: str
    pid: int
    queues: list[str] = Field(description="[] means every queue")
    concurrency: int
    state: str = Field(description="running, stopping, stopped or dead")
    running: int = Field(description="attempts it holds")
    started_at: float
    heartbeat_at: float
    stopped_at: float | None


class QueueOut(BaseModel):
    queue: str
    ready: int = Field(description="task runs waiting for a worker")
    running: int
    oldest_ready_age_seconds: float | None = Field(
        description="how long the longest-waiting ready task run has waited"
    )


def install(app: FastAPI, svc: Services) -> None:
    settings: Settings | None = getattr(app.state, "settings", None)
    registry = CollectorRegistry()
    registry.register(_StoreCollector(svc))
    _measure_requests(app, registry)
    if settings is not None and settings.cors_origins.strip():
        app.add_middleware(
            CORSMiddleware,
            allow_origins=[o.strip() for o in settings.cors_origins.split(",") if o.strip()],
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["Content-Range", "Accept-Ranges", "Content-Disposition"],
        )

    @app.get(f"{API}/workers", tags=["operations"])
    def workers(
        include_stopped: bool = Query(False, description="also workers that stopped"),
    ) -> list[WorkerOut]:
        """Workers, newest first: where they run, what they listen to, their heartbeat."""
        return [
            WorkerOut.model_validate(w, from_attributes=True)
            for w in list_workers(svc, include_stopped)
        ]

    @app.get(f"{API}/queues", tags=["operations"])
    def queues() -> list[QueueOut]:
        """Queues with work in them: ready and running task runs, and the oldest wait."""
        with svc.db.read() as conn:
            found = stats.queue_stats(conn, svc.db.clock(conn))
        return [QueueOut.model_validate(q, from_attributes=True) for q in found]

    @app.get(
        "/metrics",
        tags=["operations"],
        response_class=Response,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    def metrics() -> Response:
        """Prometheus metrics (text format)."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


class _StoreCollector(Collector):
    """Fleet-wide numbers, read from the database at each scrape."""

    def __init__(self, svc: Services) -> None:
        self.svc = svc

    def collect(self) -> Iterator[Metric]:
        with self.svc.db.read() as conn:
            now = self.svc.db.clock(conn)
            queues = stats.queue_stats(conn, now)
            runs = stats.runs_by_state(conn)
            workers = stats.workers_by_state(conn)
            reaps = stats.lease_reaps(conn)
            durations = stats.attempt_durations(conn, DURATION_BOUNDS)
        yield _gauge("headwater_runs", "Runs by state", "state", runs)
        yield _gauge("headwater_workers", "Workers by state", "state", workers)
        yield _gauge(
            "headwater_queue_ready", "Ready task runs", "queue", {q.queue: q.ready for q in queues}
        )
        yield _gauge(
            "headwater_queue_running",
            "Running task runs",
            "queue",
            {q.queue: q.running for q in queues},
        )
        yield _gauge(
            "headwater_queue_oldest_ready_age_seconds",
            "How long the oldest ready task run has waited",
            "queue",
            {q.queue: q.oldest_ready_age_seconds or 0.0 for q in queues},
        )
        yield CounterMetricFamily(
            "headwater_lease_reaps", "Attempts ended because their lease expired", value=reaps
        )
        histogram = HistogramMetricFamily(
            "headwater_attempt_duration_seconds", "Durations of ended attempts", labels=["state"]
        )
        for d in durations:
            buckets = [(str(b), n) for b, n in zip(DURATION_BOUNDS, d.bucket_counts, strict=True)]
            histogram.add_metric([d.state], [*buckets, ("+Inf", d.count)], d.total_seconds)
        yield histogram


def _gauge(name: str, doc: str, label: str, values: dict[str, Any]) -> GaugeMetricFamily:
    gauge = GaugeMetricFamily(name, doc, labels=[label])
    for key, value in sorted(values.items()):
        gauge.add_metric([key], value)
    return gauge


def _measure_requests(app: FastAPI, registry: CollectorRegistry) -> None:
    latency = Histogram(
        "headwater_http_request_duration_seconds",
        "HTTP requests by route template, method and status",
        ["method", "route", "status"],
        registry=registry,
    )
    app.add_middleware(_RequestTimer, histogram=latency)


class _RequestTimer:
    """Plain ASGI middleware (no buffering, so Server-Sent Events pass through); the
    time to the response's headers, labelled by route template to bound the series."""

    def __init__(self, app: ASGIApp, histogram: Histogram) -> None:
        self.app, self.histogram = app, histogram

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                route = scope.get("route")
                self.histogram.labels(
                    scope["method"],
                    getattr(route, "path", "unmatched"),
                    str(message["status"]),
                ).observe(time.perf_counter() - started)
            await send(message)

        await self.app(scope, receive, timed_send)
