"""Serving the API with uvicorn on a socket we bind ourselves, so port 0 works and the
real address can be printed (tests and `make demo` read it)."""

from __future__ import annotations

import signal
import socket
from collections.abc import Callable
from types import FrameType

import uvicorn
from fastapi import FastAPI


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio turns Nagle's algorithm off only on sockets that say
    # they are TCP, and with it on, every keep-alive response waited ~40 ms for an ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


class _Stopped(Exception):
    """SIGINT or SIGTERM, re-raised by uvicorn after its graceful shutdown."""


def _stop(signum: int, _frame: FrameType | None) -> None:
    raise _Stopped(signum)


def server_config(app: FastAPI) -> uvicorn.Config:
    """uvicorn's settings: its `auto` choices, which are httptools' C parser and uvloop
    when installed (pyproject requires both off Windows; see its comment for why), and
    no access log: a formatted line written for every request, on the busiest paths."""
    return uvicorn.Config(app, log_level="warning", access_log=False)


def serve(app: FastAPI, host: str, port: int, on_ready: Callable[[str], None]) -> None:
    """Serve until SIGINT/SIGTERM, then return normally (so callers can stop what they
    started): uvicorn shuts down gracefully, then re-raises the signal with the handlers
    it found, which are ours."""
    sock = bind(host, port)
    bound_host, bound_port = sock.getsockname()[:2]
    url = f"http://{bound_host if ':' not in bound_host else f'[{bound_host}]'}:{bound_port}"
    server = uvicorn.Server(server_config(app))
    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    on_ready(url)
    try:
        server.run(sockets=[sock])
    except _Stopped:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
