"""Task-run outputs: small JSON lives in the database only, larger outputs and files a
task wrote in the artifact store.

A small output (at most OUTPUT_INLINE_MAX_BYTES of JSON, no files) is kept in
`task_runs.output` with its arguments in `task_runs.args`: downstream task runs read it
there, the cache finds it there by key, and the API shows it as the task run's
`output.json` and `params.json` (`database_files`). Writing those as files too cost a
folder and three file creations per task run, more than the rest of a quick task's
bookkeeping on a virtual disk.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from headwater.artifacts import ArtifactStore
from headwater.domain.states import TASK_RUN_OK, TaskRunState
from headwater.store import runs as run_store
from headwater.store.runs import TaskRunRow

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

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
        output = row.output
        if output == run_store.OUTPUT_NOT_READ:  # a row read without it (upstream rows)
            output = run_store.task_run_output(conn, row.id)
        if output is not None:
            value = json.loads(output)
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

    def cached(
        self, conn: Connection, pipeline: str, task: str, cache_key: str
    ) -> tuple[str, str | None] | None:
        """(output, arguments) JSON of an earlier success of `task` with this cache key
        whose output is in the database; None if there is none (the artifact store may
        still hold a larger one)."""
        return run_store.cached_output(conn, pipeline, task, cache_key)


def kept_in_database(
    state: TaskRunState, output: str | None, artifact: bool, is_map_parent: bool
) -> bool:
    """Whether a task run's outputs are its database row alone (no artifact of its own:
    the store's files under its key, if any, are another run's)."""
    return state in TASK_RUN_OK and output is not None and not artifact and not is_map_parent


def database_files(output: str | None, args: str | None) -> dict[str, bytes]:
    """`output.json` and `params.json` of a task run whose output is in the database."""
    if output is None:
        return {}
    files = {OUTPUT_FILE: output.encode()}
    if args is not None:
        files[PARAMS_FILE] = pretty_params(args)
    return files


def pretty_params(args_json: str) -> bytes:
    """`params.json`: the task run's arguments, indented for a person to read."""
    return (json.dumps(json.loads(args_json), indent=2, ensure_ascii=False) + "\n").encode()


def inline_output(output_json: str) -> str | None:
    """The JSON to keep in the database, or None when it is too large for a row."""
    return output_json if len(output_json) <= OUTPUT_INLINE_MAX_BYTES else None
