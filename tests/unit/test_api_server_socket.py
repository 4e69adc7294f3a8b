"""The socket `headwater serve` listens on."""

from __future__ import annotations

import asyncio
import socket
import threading

import pytest
from fastapi import FastAPI

from headwater.api.server import bind, server_config


def test_connections_are_served_without_nagle_delays() -> None:
    """asyncio disables Nagle's algorithm only on sockets that declare TCP; without it,
    each response on a kept-alive connection waited for a delayed ACK (~40 ms)."""
    accepted: list[int] = []

    async def main() -> None:
        listening = bind("127.0.0.1", 0)
        port = listening.getsockname()[1]

        class Record(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                sock = transport.get_extra_info("socket")
                accepted.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        server = await asyncio.get_running_loop().create_server(Record, sock=listening)
        async with server:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            while not accepted:
                await asyncio.sleep(0.01)
            writer.close()

    # In a thread of its own: another test in this process may have left an event loop
    # marked as running in the main thread, and asyncio.run() refuses to nest.
    thread = threading.Thread(target=lambda: asyncio.run(main()))
    thread.start()
    thread.join(30)
    assert accepted, "no connection was accepted"
    assert accepted[0] != 0


def test_the_server_runs_on_httptools_and_uvloop_without_an_access_log() -> None:
    uvloop = pytest.importorskip("uvloop", reason="uvloop is not installed on Windows")
    config = server_config(FastAPI())
    config.load()
    assert config.http_protocol_class.__name__ == "HttpToolsProtocol"
    assert config.get_loop_factory() is uvloop.new_event_loop
    assert config.access_log is False
