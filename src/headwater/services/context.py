"""Services: what every use case needs, built once per process."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from headwater.artifacts import ArtifactStore, open_artifact_store
from headwater.config import Settings
from headwater.services.outputs import OutputReader
from headwater.services.plans import PlanCache, RunCache
from headwater.store.engine import Database, open_database
from headwater.store.migrate import ensure_schema


@dataclass
class Services:
    """The database, artifact store and caches that services share."""

    db: Database
    artifacts: ArtifactStore
    plans: PlanCache = field(default_factory=PlanCache)
    runs: RunCache = field(default_factory=RunCache)
    outputs: OutputReader = field(init=False)
    # Called after a commit that made work ready: wakes in-process workers at once.
    listeners: list[Callable[[], None]] = field(default_factory=list)
    # The thread that creates runs for concurrent callers in batches (services.run_batches),
    # started on first use.
    run_writer: Any = None

    def __post_init__(self) -> None:
        self.outputs = OutputReader(self.artifacts)

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
