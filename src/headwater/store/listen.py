"""Wake-ups from PostgreSQL: LISTEN on the ready channel in a thread of its own.

If the listening connection drops (a database restart), the caller falls back to
polling and this reconnects, with a growing pause, until it is stopped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from headwater.store.claims import READY_CHANNEL
from headwater.store.engine import Database

log = logging.getLogger("headwater.listen")
RECONNECT_MAX_SECONDS = 5.0
CHECK_STOP_SECONDS = 1.0


def listen_for_ready(
    db: Database,
    wake: Callable[[], None],
    stop: threading.Event,
    on_state: Callable[[bool], None] = lambda listening: None,
) -> None:
    """Call `wake()` on each notification until `stop` is set. `on_state(True)` once
    listening, `on_state(False)` when the connection is lost (poll meanwhile)."""
    import psycopg

    conninfo = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    pause = 0.1
    while not stop.is_set():
        try:
            with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
                conn.execute(f"LISTEN {READY_CHANNEL}")
                on_state(True)
                pause = 0.1
                wake()  # anything made ready while we were not listening
                while not stop.is_set():
                    for _ in conn.notifies(timeout=CHECK_STOP_SECONDS, stop_after=1):
                        wake()
        except psycopg.Error as exc:
            on_state(False)
            log.warning("lost the LISTEN connection (%s); polling until it is back", exc)
            stop.wait(pause)
            pause = min(pause * 2, RECONNECT_MAX_SECONDS)
