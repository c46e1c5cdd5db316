"""The worker: claims due deliveries from the ledger and delivers them on a pool of threads.

Several workers (threads, processes, hosts) can share one ledger: each claims deliveries under a
lease, renews it while the work is in flight, and a dead worker's leases expire so another takes
its work over. Deliveries a dead worker left ``sending`` become ``unknown`` (they may have been
sent). On :meth:`Worker.stop` (SIGTERM/SIGINT in ``notifykit worker``) it claims nothing more and
starts no new request, lets the requests in flight finish and be recorded, and gives back at once
what it had claimed but not started; ``stop(wait=False)`` (a second signal) stops waiting for the
requests in flight too (their deliveries are recorded ``unknown``). A worker running in a thread
other than the main one stops by itself when the main thread ends (the interpreter is exiting), and
an exit hook waits a little for it, so a worker left running never hangs the exit nor leaves its
claims leased. Every so often it also runs :meth:`~notifykit.Notifier.reconcile`.

When idle it waits on :meth:`~notifykit.ledger.base.Ledger.wait_for_work` (PostgreSQL: a
``NOTIFY`` from any process; SQLite: work added in this process, or a datagram on its wake-up
socket from another), at most until the next due time or the poll interval, so new work starts
at once without polling the database.
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
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, InvalidStateError, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from notifykit.channels.stop import SendStop, stopping_on
from notifykit.ledger.base import Change
from notifykit.plan.planner import DeliveryJob
from notifykit.report import Notification
from notifykit.worker.dispatch import group_batches, log_outcomes

if TYPE_CHECKING:
    from notifykit.notifier import Notifier

__all__ = ["Worker", "WorkerResult"]

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
        if not worker._finished.wait(max(0.0, deadline - time.monotonic())):
            worker.stop(wait=False, reason="the interpreter is exiting")
            worker._finished.wait(1.0)


def _register_exit_hook() -> None:
    # Registered at the first run, not at import: atexit runs hooks last-registered first, so
    # this one runs before the hooks of what the worker uses (a sandbox simulator's stop).
    global _exit_hook_registered
    with _exit_hook:
        if not _exit_hook_registered:
            atexit.register(_stop_at_exit)
            _exit_hook_registered = True


@dataclass
class WorkerResult:
    """What a worker run did: the states its deliveries ended the run in."""

    counts: dict[str, int] = field(default_factory=dict)
    recovered: int = 0
    reconciled: int = 0

    def add(self, changes: list[Change]) -> None:
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
        kit: Notifier,
        *,
        threads: int | None = None,
        lease: float | None = None,
        poll: float | None = None,
        batch: int | None = None,
        name: str | None = None,
        clock: Callable[[], float] | None = None,
        reconcile_every: float | None = None,
    ) -> None:
        settings = kit.config.worker
        self.kit = kit
        self.threads = threads or settings.threads
        self.lease = lease or settings.lease
        self.poll = poll or settings.poll
        self.batch = batch or settings.batch
        self.name = name or default_name()
        self.clock = clock or kit.clock
        self.reconcile_every = reconcile_every or settings.reconcile_every
        self._stop = threading.Event()
        # A future that completes on stop(), so waiting on work in flight wakes up at once.
        self._stopped: Future[None] = Future()
        # What the dispatcher's sends check: no new request once stopped (see stop()).
        self._send_stop = SendStop()
        self._finished = threading.Event()
        self._finished.set()  # not running
        self._inflight: dict[Future[list[Change]], list[str]] = {}
        self._inflight_lock = threading.Lock()

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
        ledger = self.kit.ledger
        _register_exit_hook()
        self._finished.clear()
        _running.add(self)
        try:
            return self._run(ledger, drain)
        finally:
            _running.discard(self)
            self._finished.set()

    def _run(self, ledger: Any, drain: bool) -> WorkerResult:
        result = WorkerResult()
        on_main = threading.current_thread() is threading.main_thread()
        host = socket.gethostname()
        ledger.heartbeat(self.name, host, os.getpid(), self.clock())
        renewer = threading.Thread(
            target=self._renew_leases, args=(host,), name=f"{self.name}-leases", daemon=True
        )
        renewer.start()
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
        try:
            while not self._stop.is_set():
                if not on_main and not threading.main_thread().is_alive():
                    # The interpreter is exiting: its executors take no new work, and a worker
                    # in a plain thread would keep the process alive for ever.
                    logger.info("worker %s: the main thread ended; stopping", self.name)
                    self.stop(reason="the main thread ended")
                    break
                now = self.clock()
                recovered = self.kit._recover(now)
                log_outcomes(recovered, self.name)
                result.recovered += len(recovered)
                result.add(recovered)
                if now - last_reconcile >= self.reconcile_every:
                    last_reconcile = now
                    with stopping_on(self._send_stop):  # its lookups end at stop() too
                        result.reconciled += len(self.kit.reconcile())
                self._routing_tick(now)
                claimed: list[DeliveryJob] = []
                room = len(self._inflight) < self.threads
                if room and not self._stop.is_set():
                    claimed = ledger.claim(self.name, now, self.lease, self.batch)
                for n, group in enumerate(group_batches(claimed)):
                    try:
                        future = executor.submit(
                            self.kit.dispatcher.deliver,
                            ledger,
                            self.name,
                            group,
                            notification,
                            stop=self._send_stop,
                        )
                    except RuntimeError:  # the interpreter is exiting: no executor takes work
                        rest = [j.id for later in group_batches(claimed)[n:] for j in later]
                        self._release(rest)
                        self.stop(reason="the interpreter is exiting")
                        break
                    with self._inflight_lock:
                        self._inflight[future] = [j.id for j in group]
                self._collect(result, block=not claimed, drain=drain)
                # Done draining only when there was room to claim and nothing was due: with the
                # pool full, an empty claim says nothing about what is left.
                if drain and room and not claimed and not self._inflight:
                    break
        finally:
            self.stop()
            self._finish(executor, result)
            renewer.join(timeout=5)
        return result

    def _collect(self, result: WorkerResult, *, block: bool, drain: bool) -> None:
        """Gather finished work; when idle, wait for work to finish, for the next due time, or
        for the poll interval."""
        with self._inflight_lock:
            futures = list(self._inflight)
        if block and futures:
            waiting: list[Future[Any]] = [*futures, self._stopped]
            wait(waiting, timeout=self.poll, return_when=FIRST_COMPLETED)
        elif block and not drain:
            next_due = self.kit.ledger.next_due()
            routing_due = self._routing_due()
            if routing_due is not None:
                next_due = routing_due if next_due is None else min(next_due, routing_due)
            timeout = self.poll
            if next_due is not None:
                timeout = max(0.0, min(self.poll, next_due - self.clock()))
            self._wait_for_work(timeout)
        with self._inflight_lock:
            done = [f for f in self._inflight if f.done()]
            for future in done:
                del self._inflight[future]
        for future in done:
            self._record(future, result)

    def _wait_for_work(self, timeout: float) -> None:
        """Wait up to ``timeout`` for the ledger's wake-up, in slices so :meth:`stop` is heeded
        within :data:`STOP_CHECK` seconds."""
        deadline = time.monotonic() + timeout
        while not self._stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0 or self.kit.ledger.wait_for_work(min(left, STOP_CHECK)):
                return

    def _routing_tick(self, now: float) -> None:
        """Escalation steps and waiting alert groups that are due become deliveries (stored in
        the ledger, then claimed like any other, by this worker or another)."""
        try:
            self.kit.router.tick(now)
        except Exception:
            # A broken store or step must not stop deliveries; the step stays pending and is
            # tried again next loop.
            logger.exception("worker %s: planning due escalation steps failed", self.name)

    def _routing_due(self) -> float | None:
        try:
            return self.kit.router.next_due()
        except Exception:
            logger.exception("worker %s: reading the next escalation time failed", self.name)
            return None

    def _record(self, future: Future[list[Change]], result: WorkerResult) -> None:
        try:
            changes = future.result()
            result.add(changes)
            # A step whose delivery failed at once escalates to the next step now.
            self.kit.router.on_changes(changes)
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
        for future in pending:
            if not future.cancelled():
                self._record(future, result)
        with self._inflight_lock:
            self._inflight.clear()
        self._release(unstarted)

    def _release(self, ids: list[str]) -> None:
        """Give back claimed deliveries that were never started (their lease cleared now)."""
        if not ids:
            return
        try:
            self.kit.ledger.release(self.name, ids)
        except Exception:
            logger.exception("worker %s: releasing %d deliveries failed", self.name, len(ids))

    def _renew_leases(self, host: str) -> None:
        interval = max(0.05, self.lease / 3)
        while not self._stop.wait(interval):
            with self._inflight_lock:
                ids = [i for group in self._inflight.values() for i in group]
            try:
                now = self.clock()
                self.kit.ledger.renew(self.name, ids, now + self.lease)
                self.kit.ledger.heartbeat(self.name, host, os.getpid(), now)
            except Exception:
                logger.exception("worker %s: renewing leases failed", self.name)
