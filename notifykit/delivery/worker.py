"""The worker: claims due deliveries from the ledger and delivers them on a pool of threads.

Several workers (threads, processes, hosts) can share one ledger: each claims deliveries under a
lease, renews it while the work is in flight (:class:`~notifykit.delivery.leases.LeaseKeeper`),
and a dead worker's leases expire so another takes its work over. Deliveries a dead worker left
``sending`` become ``unknown`` (they may have been sent). On :meth:`Worker.stop` (SIGTERM/SIGINT
in ``notifykit worker``) it claims nothing more, lets the requests in flight finish and be
recorded, and gives back what it had claimed but not started.

Each loop it runs its :class:`Duties` first — the due-work tick (recovery, groups whose timer is
due, escalation steps) and, every so often, reconciliation — then claims. The worker imports
none of that: the composition root hands it the duties.

When idle it waits on :meth:`~notifykit.ledger.base.Ledger.wait_for_work` (PostgreSQL: a
``NOTIFY`` from any process; SQLite: work added in this process, or a datagram on its wake-up
socket from another), at most until the next due time or the poll interval, so new work starts
at once without polling the database.

The ledger going away for a while (a PostgreSQL restart or failover, a PgBouncer restart, a
SQLite file locked by another process: :class:`~notifykit.errors.LedgerUnavailable`) does not
stop it: the loop tries again with backoff (0.5 s doubling to 10 s), the requests in flight
finish and their outcomes are recorded once the ledger is back, and it says so once per outage
(:class:`~notifykit.delivery.outage.Outage`). Any other :class:`~notifykit.errors.LedgerError`
ends the run.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, InvalidStateError, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from notifykit.channels.stop import SendStop, stopping_on
from notifykit.delivery.dispatch import group_batches, log_outcomes
from notifykit.delivery.outage import Backoff, Outage
from notifykit.errors import LedgerError, LedgerUnavailable
from notifykit.ledger.outcome import Change
from notifykit.metrics import Metrics

if TYPE_CHECKING:
    from notifykit.delivery.run import DeliveryRun
    from notifykit.ledger.base import Ledger
    from notifykit.model import Delivery, Notification
    from notifykit.plan.planner import DeliveryJob

__all__ = ["Duties", "Worker", "WorkerResult"]

logger = logging.getLogger("notifykit.worker")

#: the longest an idle worker waits before looking at its stop flag again
STOP_CHECK = 0.1


#: notifications a run keeps read (the one each batch belongs to is read once per batch at most)
NOTIFICATION_CACHE = 16
#: at interpreter exit, how long the exit hook lets running workers finish their requests in
#: flight before it stops waiting for them (then they are recorded ``unknown``)
EXIT_GRACE = 10.0

#: the workers whose run() is in progress (for the exit hook)
_running: set[Worker] = set()
_exit_hook = threading.Lock()
_exit_hook_registered = False


def _stop_at_exit() -> None:
    """Stop every worker still running when the interpreter exits (one left in a daemon
    thread, typically), and wait a little for each to record what it has in flight and give
    back the rest, instead of being frozen mid-send with its claims leased."""
    workers = list(_running)
    for worker in workers:
        worker.stop(reason="the interpreter is exiting")
    deadline = time.monotonic() + EXIT_GRACE
    for worker in workers:
        if not worker.finished.wait(max(0.0, deadline - time.monotonic())):
            worker.stop(wait=False, reason="the interpreter is exiting")
            worker.finished.wait(1.0)


def _register_exit_hook() -> None:
    # Registered at the first run, not at import: atexit runs hooks last-registered first, so
    # this one runs before the hooks of what the worker uses (a sandbox simulator's stop).
    global _exit_hook_registered
    with _exit_hook:
        if not _exit_hook_registered:
            atexit.register(_stop_at_exit)
            _exit_hook_registered = True


class Duties(Protocol):
    """What a worker does besides delivering, each loop (the pipeline's due-work tick)."""

    def recover(self, now: float) -> Sequence[Change]:
        """Deliveries left ``sending`` by dead senders become ``unknown``."""
        ...

    def tick(self, now: float) -> int:
        """Groups and escalation steps that are due become deliveries; returns how many
        notifications were stored."""
        ...

    def next_due(self) -> float | None:
        """When the next group or escalation step is due."""
        ...

    def reconcile(self) -> Sequence[Delivery]:
        """Look up deliveries whose status never came."""
        ...


@dataclass
class WorkerResult:
    """What a worker run did: the states its deliveries ended the run in."""

    counts: dict[str, int] = field(default_factory=dict)
    recovered: int = 0
    reconciled: int = 0

    def add(self, changes: Sequence[Change]) -> None:
        for change in changes:
            state = change.delivery.state.value
            self.counts[state] = self.counts.get(state, 0) + 1

    @property
    def delivered(self) -> int:
        return sum(self.counts.get(s, 0) for s in ("sent", "delivered"))

    @property
    def ok(self) -> bool:
        """Every delivery it made succeeded (nothing failed, unknown or left for a retry)."""
        return all(state in ("sent", "delivered", "skipped") for state in self.counts)

    def to_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "counts": dict(self.counts),
            "recovered": self.recovered,
            "reconciled": self.reconciled,
        }


def default_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    """Delivers what the ledger holds. Build it with :meth:`notifykit.Notifier.worker`."""

    def __init__(
        self,
        *,
        ledger: Ledger,
        run: DeliveryRun,
        duties: Duties,
        threads: int,
        lease: float,
        poll: float,
        batch: int,
        reconcile_every: float,
        clock: Callable[[], float],
        name: str | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.ledger = ledger
        self._metrics = metrics or Metrics()
        self._deliveries = run
        self._duties = duties
        self.threads = threads
        self.lease = lease
        self.poll = poll
        self.batch = batch
        self.name = name or default_name()
        self.clock = clock
        self.reconcile_every = reconcile_every
        self._stop = threading.Event()
        # A future that completes on stop(), so waiting on work in flight wakes up at once.
        self._stopped: Future[None] = Future()
        # What the dispatcher's sends check: no new request once stopped (see stop()).
        self._send_stop = SendStop()
        #: set while no run() is in progress
        self.finished = threading.Event()
        self.finished.set()
        self._inflight: dict[Future[list[Change]], list[str]] = {}
        self._inflight_lock = threading.Lock()
        #: the ledger going away and coming back, said once per outage
        self.outage = Outage(f"worker {self.name}")
        #: claimed deliveries a batch could not start because the ledger was unavailable (not
        #: sent): given back once it is back, rather than waiting out their lease
        self._unstarted: list[str] = []

    def stop(self, *, wait: bool = True, reason: str | None = None) -> None:
        """Ask the run to end: nothing more is claimed and no new request starts; the requests
        in flight finish and are recorded, and what was claimed but not started is given back.

        ``wait=False`` (a second SIGTERM/SIGINT in ``notifykit worker``): do not wait for the
        requests in flight either; their deliveries are recorded ``unknown`` (they may have been
        sent) and run() returns. ``reason`` is noted in the deliveries given back. Safe to call
        from a signal handler."""
        reason = reason or "Worker.stop()"
        self._stop.set()
        self._send_stop.stop(reason)
        if not wait:
            self._send_stop.abandon(reason)
        # (set by another thread in between: a signal handler and the run loop can both stop)
        with contextlib.suppress(InvalidStateError):
            self._stopped.set_result(None)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    @property
    def abandoned(self) -> bool:
        """Whether the run stopped waiting for requests in flight (``stop(wait=False)``)."""
        return self._send_stop.abandoned

    def run(self, *, drain: bool = False) -> WorkerResult:
        """Deliver until :meth:`stop` (or, with ``drain``, until nothing is due now)."""
        _register_exit_hook()
        self.finished.clear()
        _running.add(self)
        self._metrics.worker_running(True)
        try:
            return self._run(drain)
        finally:
            self._metrics.worker_running(False)
            _running.discard(self)
            self.finished.set()

    def _run(self, drain: bool) -> WorkerResult:
        ledger = self.ledger
        result = WorkerResult()
        on_main = threading.current_thread() is threading.main_thread()
        host = socket.gethostname()
        pid = os.getpid()
        outage = self.outage

        def heartbeat(now: float) -> None:
            ledger.heartbeat(self.name, host, pid, now)

        # The heartbeat rides on each renewal of the leases.
        keeper = self._deliveries.keeper(self.name, self.lease, also=heartbeat, outage=outage)
        last_reconcile = float("-inf")  # reconcile once at start, then every reconcile_every
        notifications: dict[str, Notification] = {}

        def notification(notification_id: str) -> Notification:
            found = notifications.get(notification_id)
            if found is None:
                found = ledger.notification(notification_id)
                # A few notifications are in flight at once; keeping more made the run's memory
                # grow with the work (each holds its data and recipients: ~7 KiB for 100).
                if len(notifications) >= NOTIFICATION_CACHE:
                    del notifications[next(iter(notifications))]  # the oldest
                notifications[notification_id] = found
            return found

        executor = ThreadPoolExecutor(self.threads, thread_name_prefix=f"{self.name}-send")
        backoff = Backoff()
        registered = False
        with keeper.running():
            try:
                while not self._stop.is_set():
                    if not on_main and not threading.main_thread().is_alive():
                        # The interpreter is exiting: its executors take no new work, and a
                        # worker in a plain thread would keep the process alive for ever.
                        logger.info("worker %s: the main thread ended; stopping", self.name)
                        self.stop(reason="the main thread ended")
                        break
                    self._metrics.worker_loop()
                    now = self.clock()
                    began = time.monotonic()
                    try:
                        if not registered:
                            heartbeat(now)
                            registered = True
                        self._give_back()
                        recovered = self._duties.recover(now)
                        log_outcomes(recovered, self.name)
                        result.recovered += len(recovered)
                        result.add(recovered)
                        if now - last_reconcile >= self.reconcile_every:
                            last_reconcile = now
                            with stopping_on(self._send_stop):  # its lookups end at stop() too
                                result.reconciled += len(self._duties.reconcile())
                        self._tick(now)
                        claimed: list[DeliveryJob] = []
                        room = len(self._inflight) < self.threads
                        if room and not self._stop.is_set():
                            claimed = ledger.claim(self.name, now, self.lease, self.batch)
                        groups = group_batches(claimed)
                        for n, group in enumerate(groups):
                            ids = [j.id for j in group]
                            keeper.hold(ids)
                            try:
                                future = executor.submit(
                                    self._deliveries.claimed,
                                    self.name,
                                    group,
                                    notification,
                                    stop=self._send_stop,
                                    record_for=self.lease,
                                    outage=outage,
                                )
                            except RuntimeError:  # the interpreter is exiting: no executor
                                self._release([j.id for later in groups[n:] for j in later])
                                self.stop(reason="the interpreter is exiting")
                                break
                            with self._inflight_lock:
                                self._inflight[future] = ids
                        self._collect(result, keeper.drop, block=not claimed, drain=drain)
                    except LedgerUnavailable as err:
                        # The ledger is away for now: what is in flight goes on (its outcomes
                        # wait in memory); the loop tries again after a wait.
                        outage.failed(err, began)
                        self._pause(backoff.next(), result, keeper.drop)
                        continue
                    outage.over()
                    backoff.reset()
                    # Done draining only when there was room to claim and nothing was due: with
                    # the pool full, an empty claim says nothing about what is left.
                    if drain and room and not claimed and not self._inflight:
                        break
            finally:
                self.stop()
                self._finish(executor, result)
        return result

    def _pause(
        self, delay: float, result: WorkerResult, done_with: Callable[[list[str]], None]
    ) -> None:
        """Wait ``delay`` seconds (less if stopped) while the ledger is unavailable, then gather
        the work that finished meanwhile."""
        self._stop.wait(delay)
        self._gather(result, done_with)

    def _give_back(self) -> None:
        """Release what batches could not start while the ledger was unavailable (only what
        is still ``pending`` and ours: one whose ``begin_send`` did commit stays as it is)."""
        with self._inflight_lock:
            ids, self._unstarted = self._unstarted, []
        if ids:
            try:
                self.ledger.release(self.name, ids)
            except BaseException:
                with self._inflight_lock:
                    self._unstarted.extend(ids)
                raise

    def _collect(
        self,
        result: WorkerResult,
        done_with: Callable[[list[str]], None],
        *,
        block: bool,
        drain: bool,
    ) -> None:
        """Gather finished work; when idle, wait for work to finish, for the next due time, or
        for the poll interval."""
        with self._inflight_lock:
            futures = list(self._inflight)
        if block and futures:
            waiting: list[Future[Any]] = [*futures, self._stopped]
            wait(waiting, timeout=self.poll, return_when=FIRST_COMPLETED)
        elif block and not drain:
            next_due = self.ledger.next_due()
            routing_due = self._routing_due()
            if routing_due is not None:
                next_due = routing_due if next_due is None else min(next_due, routing_due)
            timeout = self.poll
            if next_due is not None:
                timeout = max(0.0, min(self.poll, next_due - self.clock()))
            self._wait_for_work(timeout)
        self._gather(result, done_with)

    def _gather(self, result: WorkerResult, done_with: Callable[[list[str]], None]) -> None:
        """Take in the batches that finished (no ledger call)."""
        with self._inflight_lock:
            done = [(f, ids) for f, ids in self._inflight.items() if f.done()]
            for future, _ids in done:
                del self._inflight[future]
        for future, ids in done:
            done_with(ids)
            self._record(future, result, ids)

    def _wait_for_work(self, timeout: float) -> None:
        """Wait up to ``timeout`` for the ledger's wake-up, in slices so :meth:`stop` is heeded
        within :data:`STOP_CHECK` seconds."""
        deadline = time.monotonic() + timeout
        while not self._stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0 or self.ledger.wait_for_work(min(left, STOP_CHECK)):
                return

    def _tick(self, now: float) -> None:
        """Groups and escalation steps that are due become deliveries (stored in the ledger,
        then claimed like any other, by this worker or another)."""
        try:
            self._duties.tick(now)
        except LedgerUnavailable:
            raise  # the loop waits for the ledger
        except Exception:
            # A broken store must not stop deliveries; what is due stays due and is tried
            # again next loop (one group's or step's own trouble is contained in the tick).
            logger.exception("worker %s: the due-work tick failed", self.name)

    def _routing_due(self) -> float | None:
        try:
            return self._duties.next_due()
        except LedgerUnavailable:
            raise
        except Exception:
            logger.exception("worker %s: reading the next due time failed", self.name)
            return None

    def _record(self, future: Future[list[Change]], result: WorkerResult, ids: list[str]) -> None:
        try:
            result.add(future.result())
        except LedgerUnavailable as err:
            # Before anything was sent (reading the notification, marking them sending): the
            # batch is given back once the ledger is back, for whoever claims it next.
            self.outage.failed(err)
            with self._inflight_lock:
                self._unstarted.extend(ids)
        except Exception:
            # The ledger could not record an outcome (a full disk...): the deliveries stay
            # 'sending' and become 'unknown' when their lease expires; nothing is resent.
            logger.exception("worker %s: recording a batch failed", self.name)

    def _finish(self, executor: ThreadPoolExecutor, result: WorkerResult) -> None:
        with self._inflight_lock:
            pending = dict(self._inflight)
        unstarted: list[str] = []
        for future, ids in pending.items():
            if future.cancel():
                unstarted.extend(ids)
        executor.shutdown(wait=True)
        for future, ids in pending.items():
            if not future.cancelled():
                self._record(future, result, ids)
        with self._inflight_lock:
            self._inflight.clear()
            unstarted.extend(self._unstarted)
            self._unstarted = []
        self._release(unstarted)

    def _release(self, ids: list[str]) -> None:
        """Give back claimed deliveries that were never started (their lease cleared now)."""
        if not ids:
            return
        try:
            self.ledger.release(self.name, ids)
        except LedgerError as err:
            logger.warning(
                "worker %s: releasing %d deliveries failed (%s); they are claimed again once "
                "their lease runs out",
                self.name,
                len(ids),
                err,
            )
        except Exception:
            logger.exception("worker %s: releasing %d deliveries failed", self.name, len(ids))
