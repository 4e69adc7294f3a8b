"""The running task's context: `headwater.current_context()` inside a task.

    ctx = headwater.current_context()
    (ctx.output_dir / "clean.csv").write_text(...)   # saved with the task's output
    ctx.attempt                                        # 1 on the first try
    ctx.artifact_uri("clean.csv")                      # where that file will be kept

Files written under `output_dir` are stored beside ``output.json`` in the task run's
artifact folder when the attempt succeeds, and are discarded if it fails.
"""

from __future__ import annotations

import os
import stat
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING

from headwater.domain.records import FrozenRecord
from headwater.errors import HeadwaterError

if TYPE_CHECKING:
    from pathlib import Path


class TaskContext(FrozenRecord):
    """What a running task knows about itself: `headwater.current_context()`."""

    __match_args__ = (
        "run_id",
        "pipeline",
        "node_id",
        "map_index",
        "attempt",
        "staging_path",
        "artifact_root",
    )
    __slots__ = __match_args__
    run_id: str
    pipeline: str
    node_id: str
    map_index: int  # -1 unless this task run is one element of a .map
    attempt: int
    staging_path: str  # output_dir, before anything asked for it
    artifact_root: str  # where output_dir's files are stored once the attempt succeeds

    def __init__(
        self,
        run_id: str,
        pipeline: str,
        node_id: str,
        map_index: int,
        attempt: int,
        staging_path: str,
        artifact_root: str,
    ) -> None:
        self._set(
            run_id=run_id,
            pipeline=pipeline,
            node_id=node_id,
            map_index=map_index,
            attempt=attempt,
            staging_path=staging_path,
            artifact_root=artifact_root,
        )

    @property
    def output_dir(self) -> Path:
        """The folder whose files are kept with the output (created on first use)."""
        from pathlib import Path  # loaded by tasks that write files, not by every run

        return Path(make_staging_dir(self.staging_path))

    def artifact_uri(self, name: str) -> str:
        """The path or URL file `name` of `output_dir` will have once stored."""
        return f"{self.artifact_root.rstrip('/')}/{name}"


def make_staging_dir(path: str) -> str:
    """Create the staging folder `path` (`ArtifactStore.staging_dir`) unless it exists,
    and its parent, the process's staging root, when no task has made that yet."""
    _make_private_dir(os.path.dirname(path))
    os.makedirs(path, exist_ok=True)
    return path


def _make_private_dir(path: str) -> None:
    """A folder only this user may enter, as tempfile.mkdtemp makes them."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        # Made before, by this process: its random name was known only here. Anything
        # else found there (a link, another user's folder) is not ours to write into.
        found = os.lstat(path)
        if not stat.S_ISDIR(found.st_mode) or found.st_uid != _UID:
            raise
        if found.st_mode & 0o077:  # made by a task itself (os.makedirs), with the umask's
            os.chmod(path, 0o700)


_UID = os.getuid() if hasattr(os, "getuid") else 0
_current: ContextVar[TaskContext | None] = ContextVar("headwater_task_context", default=None)


def current_context() -> TaskContext:
    found = _current.get()
    if found is None:
        raise HeadwaterError(
            "current_context() is only available while a task runs "
            "under headwater (not when the function is called directly)"
        )
    return found


def set_context(ctx: TaskContext | None) -> Token[TaskContext | None]:
    return _current.set(ctx)


def reset_context(token: Token[TaskContext | None]) -> None:
    _current.reset(token)
