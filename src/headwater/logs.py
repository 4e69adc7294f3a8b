"""headwater's loggers, loading logging when a line is first logged.

`headwater run` logs nothing when all goes well, and importing logging loads traceback,
tokenize, string and more (~5 ms of every run). `get_logger(name)` stands for
`logging.getLogger(name)`: each use of one of its attributes (`log.warning`) imports
logging and takes that attribute of the real logger, whose method is then called
straight from the caller's line (records name it as before).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    import logging


class _Logger:
    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        import logging

        return getattr(logging.getLogger(self._name), attribute)


def get_logger(name: str) -> logging.Logger:
    """`logging.getLogger(name)`, made on first use."""
    return cast("logging.Logger", _Logger(name))
