"""The worker: claims ready task runs up to its free slots, supervises each attempt in a
thread, renews all its leases in one statement per heartbeat, stops attempts whose lease
was refused, reaps other workers' expired leases, and shuts down gracefully.

Wake-ups: on PostgreSQL a LISTEN thread wakes the loop as soon as work is made ready
(polling at most every `poll_seconds`, ≤ 1 s, while that connection is down); on SQLite,
work made ready by this process wakes it at once and other processes' work is polled.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence

from headwater.config import Settings
from headwater.domain.states import RUN_TERMINAL
from headwater.errors import StaleLease, StoreUnavailable
from headwater.executors import Executors, capture
from headwater.logs import get_logger
from headwater.services.attempts import (
    ClaimRequest,
    claim_work_for,
    reap_expired_leases,
    release_attempts,
)
from headwater.services.context import Services
from headwater.services.workers import (
    heartbeat,
    mark_dead_workers,
    register_worker,
    set_worker_state,
)
from headwater.store import runs as run_store
from headwater.store import workers as worker_store
from headwater.store.claims import Claim
from headwater.worker.attempt import AttemptRunner, Pending, Supervised
from headwater.worker.code import CodeLocation
from headwater.worker.threads import AttemptThreads

log = get_logger("headwater.worker")
DEFAULT_GRACE_SECONDS = 30.0
MAX_POLL_SECONDS = 1.0
JOIN_SECONDS = 10.0  # the most a stopping worker waits for a heartbeat under way
QUICK_SECONDS = 0.005  # attempts quicker than this are claimed and recorded in batches
# An attempt this many times QUICK_SECONDS gives back the rest of its batch. Between the
# two, the batch goes on (its deadline still holds) and the next is half as large: on a
# loaded machine a quick task often takes a few milliseconds of wall time, and giving
# back a batch costs a transaction and a claim again.
SLOW_FACTOR = 10
MAX_BATCH = 64
GROWTH = 4  # a batch of quick tasks is followed by one this many times as large
BATCH_SECONDS = 1.0  # a batch gives back what it has not started after this long
_HOST = os.uname().nodename  # socket.gethostname(), without importing socket


class Worker:
    """Runs task runs from the database. With `run_id`, only that run's (a local run)."""

    def __init__(
        self,
        svc: Services,
        code: CodeLocation,
        settings: Settings,
        *,
        run_id: str | None = None,
        queues: Sequence[str] | None = None,
        concurrency: int | None = None,
        grace_seconds: float = DEFAULT_GRACE_SECONDS,
    ) -> None:
        self.svc, self.code, self.settings = svc, code, settings
        self.run_id, self.queues = run_id, list(queues) if queues else None
        self.concurrency = concurrency or settings.concurrency
        self.grace_seconds = grace_seconds
        self.id = f"{_HOST}-{os.getpid()}-{os.urandom(4).hex()}"
        self.executors = Executors()  # inline, process, command: each made when first used
        self.runner = AttemptRunner(svc, code, settings, self.executors)
        # Batches of quick attempts where this worker is alone on its run (a local run),
        # and in a fleet on PostgreSQL, where recording locks rows in one order (see
        # record_results) and heartbeats skip the leases a batch's transaction holds. On
        # SQLite a fleet's workers share one write lock: long write transactions of many
        # results would make the others (heartbeats among them) wait.
        alone = run_id is not None
        self._max_batch = MAX_BATCH if alone or svc.db.dialect == "postgresql" else 1
        self._claim_request = ClaimRequest(
            self.id, settings.lease_seconds, self.queues, self.run_id
        )
        self._held: dict[int, Supervised] = {}
        # Each attempt thread's batch size, kept from one claim of the loop to the next
        # (a thread that was running batches of 64 starts again at 64, not at 1).
        self._sizes = threading.local()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()  # stop claiming
        self._done = threading.Event()  # background threads end
        self.listening = False  # PostgreSQL: whether the LISTEN connection is up (else polling)

    # -- lifecycle --------------------------------------------------------------------

    def run(self, until: Callable[[], bool] | None = None) -> None:
        """Work until `stop()` (then drain gracefully), or until `until()` holds while
        nothing is held."""
        self._retrying(
            lambda: register_worker(
                self.svc,
                worker_id=self.id,
                host=_HOST,
                pid=os.getpid(),
                queues=self.queues or [],
                concurrency=self.concurrency,
            )
        )
        self.svc.listeners.append(self._wake.set)
        capture.install()
        heartbeat = threading.Thread(target=self._heartbeat_loop, daemon=True, name="hw-heartbeat")
        threads = [heartbeat]
        if self.svc.db.dialect == "postgresql":
            threads.append(threading.Thread(target=self._listen, daemon=True, name="hw-listen"))
        for thread in threads:
            thread.start()
        # The loop and the attempt threads run the hot path: on PostgreSQL each keeps a
        # connection of its own (within the pool's bound).
        self.svc.db.pin_thread()
        try:
            with AttemptThreads(
                self.concurrency, "hw-attempt", initializer=self.svc.db.pin_thread
            ) as pool:
                self._loop(pool, until)
                self._drain()
        finally:
            self._done.set()
            self._wake.set()
            # A heartbeat under way finishes before the caller may close the database:
            # closing a SQLite connection while another thread runs a statement on it
            # crashes the process. (The listener has a connection of its own.)
            heartbeat.join(JOIN_SECONDS)
            capture.uninstall()
            self.svc.listeners.remove(self._wake.set)
            self._retrying(
                lambda: set_worker_state(self.svc, self.id, worker_store.STOPPED), give_up_after=5.0
            )

    def stop(self) -> None:
        """Stop claiming; attempts held get `grace_seconds` to finish, then are released."""
        self._stop.set()
        self._wake.set()

    # -- the loop ---------------------------------------------------------------------

    def _loop(self, pool: AttemptThreads, until: Callable[[], bool] | None) -> None:
        poll = min(self.settings.poll_seconds, MAX_POLL_SECONDS)
        first = True
        while not self._stop.is_set():
            self._wake.clear()
            with self._lock:
                free = self.concurrency - len(self._held)
                idle = not self._held
            # Woken with nothing held, `until` is asked before claiming: a local run's
            # last result wakes the loop, and a claim then would find nothing. (Not
            # before the first claim: the run has only just started.)
            asked = idle and not first
            first = False
            if until is not None and asked and self._retrying(until):
                return
            try:
                claims = self._claim(free)
            except StoreUnavailable as exc:
                log.warning("cannot claim: %s", exc)
                self._stop.wait(poll)
                continue
            for claim in claims:
                held = Supervised(claim)
                with self._lock:
                    self._held[claim.attempt_id] = held
                pool.submit(self._supervise, held)
            if claims and len(claims) == free:
                continue
            with self._lock:
                idle = not self._held
            if until is not None and idle and not asked and self._retrying(until):
                return
            if not self._wake.is_set():
                self.svc.db.checkpoint()  # SQLite: while the attempts run (Database.checkpoint)
            self._wake.wait(poll)

    def _claim(self, free: int) -> list[Claim]:
        if free <= 0:
            return []
        return claim_work_for(self.svc, self._claim_request, free)

    def _supervise(self, held: Supervised) -> None:
        """Run attempts in this thread: the one given, then those its recording
        transaction claimed, until none is left or the worker stops.

        Quick attempts are taken in batches (a local run; a fleet on PostgreSQL): while
        the tasks of a batch run under QUICK_SECONDS each, the next claim takes GROWTH
        times as many (up to MAX_BATCH), run one after the other here and recorded together in
        one transaction; a batch with a task of QUICK_SECONDS up to SLOW_FACTOR times
        that makes the next one half as large. A slower task brings the
        batch back to one and gives back the batch's attempts not yet started, and so
        does a batch past its deadline, so slow tasks never queue behind each other in
        a thread for long."""
        batch, size = [held], getattr(self._sizes, "size", 1)
        while batch:
            batch, size = self._supervise_batch(batch, size)
        self._sizes.size = size

    def _supervise_batch(self, batch: list[Supervised], size: int) -> tuple[list[Supervised], int]:
        pending: list[Pending] = []
        following: list[Supervised] = []
        slow = unhurried = False
        # A batch holds its attempts' leases while it works through them: keep it well
        # inside a lease (and short in any case), whatever the machine's load.
        deadline = time.monotonic() + min(BATCH_SECONDS, self.settings.lease_seconds / 10)
        try:
            for index, held in enumerate(batch):
                late = index and time.monotonic() > deadline
                if index and (slow or late or self._stop.is_set()):
                    # A slow task, a long batch or a stop: give back what has not started
                    # (without using a retry) for other threads and workers. Their slots
                    # are free from now: the loop, woken by the release, claims for them.
                    given_back = batch[index:]
                    with self._lock:
                        for held in given_back:
                            self._held.pop(held.claim.attempt_id, None)
                    self._release([h.claim for h in given_back])
                    size = index if late and not slow else size
                    break
                item = self._attempt(held)
                if item is not None:
                    pending.append(item)
                slow = slow or held.executed_seconds >= QUICK_SECONDS * SLOW_FACTOR
                unhurried = unhurried or held.executed_seconds >= QUICK_SECONDS
            else:
                size = size // 2 if unhurried else size * GROWTH
            size = 1 if slow or not pending else max(1, min(size, self._max_batch))
            claimed = self.runner.record(pending, self._next_claim, size)
            following = [Supervised(claim) for claim in claimed]
        except Exception:
            log.exception("recording attempts failed inside the worker")
        finally:
            with self._lock:
                for held in batch:
                    self._held.pop(held.claim.attempt_id, None)
                for held in following:
                    self._held[held.claim.attempt_id] = held
            if len(following) < len(batch):
                self._wake.set()  # slots are free
        return following, size

    def _release(self, claims: list[Claim]) -> None:
        self._retrying(lambda: release_attempts(self.svc, claims), give_up_after=5.0)

    def _attempt(self, held: Supervised) -> Pending | None:
        """Run one attempt of a batch; its result, or None if there is none to record."""
        try:
            return self.runner.prepare_and_execute(held)
        except StaleLease as exc:
            log.warning("%s", exc)
        except StoreUnavailable as exc:
            # Not the task's fault: give the attempt back so it does not use up a retry.
            log.warning(
                "database unavailable during attempt %s (%s); releasing it",
                held.claim.attempt_id,
                exc,
            )
            self._retrying(
                lambda: release_attempts(self.svc, [held.claim]),
                give_up_after=2 * self.settings.lease_seconds,
            )
        except Exception:
            log.exception("attempt %s failed inside the worker", held.claim.attempt_id)
        return None

    def _next_claim(self) -> ClaimRequest | None:
        """What a thread finishing an attempt claims next in the same transaction: the
        same as the loop claims, unless the worker is stopping."""
        return None if self._stop.is_set() else self._claim_request

    def _drain(self) -> None:
        """Graceful stop: wait for held attempts, then release what is left."""
        if not self._held:
            return
        self._retrying(
            lambda: set_worker_state(self.svc, self.id, worker_store.STOPPING), give_up_after=5.0
        )
        deadline = time.monotonic() + self.grace_seconds
        while self._held and time.monotonic() < deadline:
            self._wake.wait(0.1)
            self._wake.clear()
        with self._lock:
            left = list(self._held.values())
        for held in left:
            log.warning(
                "releasing attempt %s (%s) back to ready", held.claim.attempt_id, held.claim.node_id
            )
            held.release = True
            held.cancelled.set()

    # -- background -------------------------------------------------------------------

    def _heartbeat_loop(self) -> None:
        while not self._done.wait(self.settings.heartbeat_seconds):
            with self._lock:
                ids = list(self._held)
            sent = time.monotonic()  # the renewed leases run from no earlier than this
            try:
                live = heartbeat(self.svc, self.id, ids, self.settings.lease_seconds)
                reap_expired_leases(self.svc)
                # Workers expire runs too, so a fleet without a scheduler still does.
                from headwater.services.expiry import expire_runs  # (the first beat loads it)

                expire_runs(self.svc)
                mark_dead_workers(self.svc, 2 * self.settings.lease_seconds)
            except StoreUnavailable as exc:
                log.warning("heartbeat failed (%s); retrying next beat", exc)
                continue
            except Exception:
                log.exception("heartbeat failed")
                continue
            with self._lock:
                for attempt_id in live:
                    if attempt_id in self._held:
                        self._held[attempt_id].lease_confirmed = sent
                for attempt_id in set(ids) - live:
                    held = self._held.get(attempt_id)
                    if held is not None and not held.finishing:
                        log.warning("lease of attempt %s refused: stopping it", attempt_id)
                        held.cancelled.set()

    def _listen(self) -> None:
        from headwater.store.listen import listen_for_ready

        def state(listening: bool) -> None:
            self.listening = listening

        listen_for_ready(self.svc.db, self._wake.set, self._done, state)

    def _retrying(self, action: Callable[[], object], give_up_after: float | None = None) -> bool:
        """Run a bookkeeping action, retrying while the database is unreachable."""
        deadline = None if give_up_after is None else time.monotonic() + give_up_after
        while True:
            try:
                return bool(action())
            except StoreUnavailable as exc:
                if deadline is not None and time.monotonic() > deadline:
                    log.warning("giving up: %s", exc)
                    return False
                log.warning("database unavailable (%s); retrying", exc)
                time.sleep(min(self.settings.poll_seconds, MAX_POLL_SECONDS))


def run_is_over(svc: Services, run_id: str) -> Callable[[], bool]:
    def check() -> bool:
        with svc.db.read() as conn:
            return run_store.get_run(conn, run_id).state in RUN_TERMINAL

    return check
