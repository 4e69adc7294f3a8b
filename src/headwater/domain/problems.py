"""A Problem: one thing wrong with a definition or with arguments, and where it is."""

from __future__ import annotations

from headwater.domain.records import NamedTuple


class Problem(NamedTuple):
    """One error found by validation.

    `location` names the file (``pipelines/etl.yaml``) or the Python source line
    (``pipelines/etl.py:42``); `path` is a JSON path inside the document
    (``$.tasks[2].args.threshold``) or, for run arguments, the field name.
    """

    location: str
    path: str
    message: str

    def __str__(self) -> str:
        where = ": ".join(part for part in (self.location, self.path) if part)
        return f"{where}: {self.message}" if where else self.message

    def to_dict(self) -> dict[str, str]:
        return {"location": self.location, "path": self.path, "message": self.message}
