"""Services: what every use case needs, built once per process."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from headwater.artifacts import ArtifactStore, open_artifact_store
from headwater.config import Settings
from headwater.services.outputs import OutputReader
from headwater.services.plans import PlanCache, RunCache
from headwater.store.engine import Database, open_database
from headwater.store.migrate import ensure_schema


class Services:
    """The database, artifact store and caches that services share."""

    __slots__ = ("artifacts", "db", "listeners", "outputs", "plans", "run_writer", "runs")

    def __init__(self, db: Database, artifacts: ArtifactStore) -> None:
        self.db, self.artifacts = db, artifacts
        self.plans = PlanCache()
        self.runs = RunCache()
        self.outputs = OutputReader(artifacts)
        # Called after a commit that made work ready: wakes in-process workers at once.
        self.listeners: list[Callable[[], None]] = []
        # The thread that creates runs for concurrent callers in batches
        # (services.run_batches), started on first use.
        self.run_writer: Any = None

    def notify(self) -> None:
        for listener in list(self.listeners):
            listener()

    def close(self) -> None:
        if self.run_writer is not None:
            self.run_writer.stop()
        self.db.dispose()
        close = getattr(self.artifacts, "close", None)
        if close is not None:
            close()


def open_services(settings: Settings) -> Services:
    """Connect to the database (creating or upgrading its schema) and the artifact store."""
    db = open_database(settings.database_url)
    ensure_schema(db)
    return Services(db, open_artifact_store(settings.artifacts))
