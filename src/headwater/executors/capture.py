"""Per-attempt logs: stdout, stderr and `logging` records of a task running in a thread.

`sys.stdout`/`sys.stderr` are replaced, while a worker runs, by proxies that write to
the current attempt's log (a context variable) or, outside attempts, to the real stream.
Each attempt's log is three files: stdout.log, stderr.log and combined.log (both, in
the order written).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from contextvars import ContextVar
from typing import IO, Any

STREAMS = ("stdout", "stderr")


class AttemptLog:
    """Log files of one attempt, created (with their folder) on first write: most
    attempts print nothing, and skipping their folders saves a mkdir per task run."""

    def __init__(self, log_dir: str, on_first_write: Callable[[], object] | None = None) -> None:
        self.log_dir = log_dir
        self._files: dict[str, IO[bytes]] = {}
        self._lock = threading.Lock()
        # Told once, before the first byte lands (the worker records where the log is,
        # so it can be followed live; an attempt that prints nothing costs nothing).
        self._on_first_write = on_first_write

    def write(self, stream: str, data: str | bytes) -> None:
        raw = data.encode("utf-8", "replace") if isinstance(data, str) else data
        if not raw:
            return
        with self._lock:
            for name in (stream, "combined"):
                handle = self._files.get(name)
                if handle is None:
                    if self._on_first_write is not None:
                        first, self._on_first_write = self._on_first_write, None
                        first()
                    os.makedirs(self.log_dir, exist_ok=True)
                    path = os.path.join(self.log_dir, f"{name}.log")
                    handle = self._files[name] = open(path, "ab")  # noqa: SIM115 - kept open
                handle.write(raw)
                handle.flush()  # followers (`logs --follow`) read the file as it grows

    def close(self) -> None:
        with self._lock:
            for handle in self._files.values():
                handle.close()
            self._files.clear()


current_log: ContextVar[AttemptLog | None] = ContextVar("headwater_attempt_log", default=None)


class _StreamProxy:
    def __init__(self, name: str, real: Any) -> None:
        self._name, self._real = name, real

    def write(self, text: str) -> int:
        log = current_log.get()
        if log is None:
            return int(self._real.write(text))
        log.write(self._name, text)
        return len(text)

    def flush(self) -> None:
        if current_log.get() is None:
            self._real.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def _make_handler() -> Any:
    import logging

    class LogHandler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            log = current_log.get()
            if log is not None:
                try:
                    log.write("stderr", self.format(record) + "\n")
                except Exception:  # noqa: BLE001 - logging must never break the task
                    self.handleError(record)

    handler = LogHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    return handler


# Made and added to the root logger once logging is loaded: at `install` when a task's
# module imported it, else as soon as anything imports it while a worker runs (a task in
# its own body, say: _RouteWhenLoaded), before that import returns.
_HANDLER: Any = None
_routed = False  # _HANDLER is on the root logger
_when_loaded: list[Callable[[], object]] = []  # to do once logging is loaded
_installed = 0
_install_lock = threading.Lock()
_saved: tuple[Any, Any] | None = None


def install() -> None:
    """Start routing output to attempt logs (counted: nested workers may install too)."""
    global _installed, _saved
    with _install_lock:
        _installed += 1
        if _installed == 1:
            _saved = (sys.stdout, sys.stderr)
            sys.stdout = _StreamProxy("stdout", sys.stdout)
            sys.stderr = _StreamProxy("stderr", sys.stderr)
            if _logging_loaded():
                _route()
            elif not any(isinstance(f, _RouteWhenLoaded) for f in sys.meta_path):
                _set_meta_path([_RouteWhenLoaded(), *sys.meta_path])


def uninstall() -> None:
    global _installed, _saved, _routed
    with _install_lock:
        _installed -= 1
        if _installed == 0 and _saved is not None:
            if isinstance(sys.stdout, _StreamProxy):
                sys.stdout = _saved[0]
            if isinstance(sys.stderr, _StreamProxy):
                sys.stderr = _saved[1]
            _saved = None
            _set_meta_path([f for f in sys.meta_path if not isinstance(f, _RouteWhenLoaded)])
            if _routed:
                sys.modules["logging"].getLogger().removeHandler(_HANDLER)
                _routed = False


def route_logging() -> None:
    """Route `logging` records to attempt logs if logging has been loaded since
    `install` (cheap: called as each inline attempt starts)."""
    if _installed and not _routed and _logging_loaded():
        with _install_lock:
            if _installed:
                _route()


def when_logging_loaded(configure: Callable[[], object]) -> None:
    """Call `configure` now if logging is loaded, else when attempt logs start to receive
    its records (`install`, `route_logging`)."""
    with _install_lock:
        if not (_routed or _logging_loaded()):
            _when_loaded.append(configure)
            return
    configure()


def _set_meta_path(finders: list[Any]) -> None:
    """Replace `sys.meta_path` rather than change it in place: a thread importing at that
    moment goes on over the list it started with (a finder taken out of a list being
    walked would make it skip the next one)."""
    sys.meta_path = finders


def _logging_loaded() -> bool:
    """logging is imported and done executing (not still being imported by a thread, which
    holds its module lock until then: see _RouteWhenLoaded)."""
    module = sys.modules.get("logging")
    return module is not None and not getattr(module.__spec__, "_initializing", False)


class _RouteWhenLoaded:
    """A meta path finder that finds nothing itself: the first import of logging while a
    worker runs is loaded by logging's own loader, then routed to attempt logs before the
    import returns, so a task that imports logging in its own body has its records,
    INFO included, in that attempt's log.

    Routing there takes `_install_lock` while the importing thread holds logging's module
    lock. No thread holding `_install_lock` waits for that lock: they route only once
    `_logging_loaded()`, when importing logging no longer locks anything."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != "logging":
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec = None if finder is self or find is None else find(name, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _ThenRoute(spec.loader)
                return spec
        return None


class _ThenRoute:
    """logging's loader, then routing (and the loader put back on the module)."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self._loader.exec_module(module)
        module.__loader__ = module.__spec__.loader = self._loader
        with _install_lock:
            _set_meta_path([f for f in sys.meta_path if not isinstance(f, _RouteWhenLoaded)])
            if _installed:
                _route()


def _route() -> None:
    global _HANDLER, _routed
    if not _routed and "logging" in sys.modules:
        while _when_loaded:
            _when_loaded.pop(0)()
        if _HANDLER is None:
            _HANDLER = _make_handler()
        sys.modules["logging"].getLogger().addHandler(_HANDLER)
        _routed = True
