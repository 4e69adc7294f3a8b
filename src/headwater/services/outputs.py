"""Reading task-run outputs: inline JSON from the database when small, else the artifact."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any

from sqlalchemy.engine import Connection

from headwater.artifacts import ArtifactStore
from headwater.store import runs as run_store
from headwater.store.runs import TaskRunRow

OUTPUT_INLINE_MAX_BYTES = 64 * 1024
OUTPUT_FILE = "output.json"
PARAMS_FILE = "params.json"
_CACHE_ENTRIES = 4096


class OutputReader:
    """Outputs of finished task runs. They never change, so they are cached by id."""

    def __init__(self, artifacts: ArtifactStore) -> None:
        self.artifacts = artifacts
        self._cache: OrderedDict[int, Any] = OrderedDict()
        self._lock = threading.Lock()

    def value(self, conn: Connection, pipeline: str, row: TaskRunRow) -> Any:
        with self._lock:
            if row.id in self._cache:
                return self._cache[row.id]
        value: Any
        if row.output is not None:
            value = json.loads(row.output)
        elif row.is_map_parent:
            children = run_store.map_children(conn, row.run_id, row.node_id)
            value = [self.value(conn, pipeline, child) for child in children]
        else:
            assert row.cache_key is not None, f"task run {row.id} has no output"
            prefix = self.artifacts.prefix(pipeline, row.task, row.cache_key)
            value = json.loads(self.artifacts.read_bytes(prefix, OUTPUT_FILE))
        with self._lock:
            self._cache[row.id] = value
            while len(self._cache) > _CACHE_ENTRIES:
                self._cache.popitem(last=False)
        return value


def inline_output(output_json: str) -> str | None:
    """The JSON to keep in the database, or None when it is too large for a row."""
    return output_json if len(output_json) <= OUTPUT_INLINE_MAX_BYTES else None
