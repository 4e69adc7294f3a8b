"""Ending runs that could not start before their expires_at (fastlane's expiration)."""

from __future__ import annotations

from headwater.domain.states import RunState
from headwater.services.context import Services
from headwater.services.runs import end_run
from headwater.store import expiry as expiry_store

EXPIRE_BATCH = 100


def expire_runs(svc: Services, limit: int = EXPIRE_BATCH) -> int:
    """End as expired the runs past their expires_at that no attempt has started;
    how many. A run whose first attempt begins meanwhile is left to run."""
    with svc.db.read() as conn:
        run_ids = expiry_store.list_expired_run_ids(conn, svc.db.clock(conn), limit)
    expired = sum(end_run(svc, run_id, RunState.EXPIRED, unless_started=True) for run_id in run_ids)
    if expired:
        svc.notify()
    return expired
