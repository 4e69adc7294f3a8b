"""Workers as the database sees them: registration, heartbeats, shutdown, death."""

from __future__ import annotations

from collections.abc import Sequence

from headwater.services.context import Services
from headwater.store import claims as claim_store
from headwater.store import workers as worker_store
from headwater.store.workers import WorkerRow


def register_worker(
    svc: Services, *, worker_id: str, host: str, pid: int, queues: Sequence[str], concurrency: int
) -> None:
    with svc.db.write() as conn:
        worker_store.register(
            conn,
            worker_id=worker_id,
            host=host,
            pid=pid,
            queues=queues,
            concurrency=concurrency,
            now=svc.db.clock(conn),
        )


def heartbeat(
    svc: Services, worker_id: str, attempt_ids: Sequence[int], lease_seconds: float
) -> set[int]:
    """Renew every lease the worker holds (one statement) and record that it is alive;
    the attempt ids still live. The others were lost or cancelled: stop them."""
    with svc.db.write() as conn:
        live = claim_store.renew_leases(svc.db, conn, attempt_ids, lease_seconds)
        worker_store.beat(conn, worker_id, len(live))
    return live


def set_worker_state(svc: Services, worker_id: str, state: str) -> None:
    with svc.db.write() as conn:
        worker_store.set_state(conn, worker_id, state, svc.db.clock(conn))


def mark_dead_workers(svc: Services, silent_seconds: float) -> int:
    """Workers whose last heartbeat is older than `silent_seconds` are marked dead."""
    with svc.db.write() as conn:
        now = svc.db.clock(conn)
        return worker_store.mark_dead(conn, now - silent_seconds, now)


def list_workers(svc: Services, include_stopped: bool = False) -> list[WorkerRow]:
    with svc.db.read() as conn:
        return worker_store.list_workers(conn, include_stopped)
