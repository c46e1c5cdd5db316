"""``notifykit serve`` watching the workers: a thread that looks every few seconds whether a
worker was seen within two leases (:meth:`notifykit.Notifier.watch_workers`).

When none was, the alert ``notifykit.worker.down`` is raised and sent by this process (no worker
is there to send it), and, until one is back, this process runs the due-work tick too, so
escalation steps and heartbeats still page; said loudly in the log. With ``dispatch: celery`` the
workers are Celery's, not in the ledger: nothing is watched, and the log says so.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from notifykit.notifier import Notifier

__all__ = ["WorkerWatchdog"]

logger = logging.getLogger("notifykit.server")

#: the longest between two looks at the workers
MAX_INTERVAL = 15.0
#: while no worker is seen, the log says so again this often
REMIND_EVERY = 600.0


class WorkerWatchdog:
    """The watch's thread (:meth:`start`, :meth:`stop`)."""

    def __init__(self, notifier: Notifier, interval: float | None = None) -> None:
        self.notifier = notifier
        window = 2 * notifier.config.worker.lease
        self.window = window
        self.interval = interval or max(0.25, min(MAX_INTERVAL, window / 8))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._down = False
        self._said = 0.0

    def start(self) -> WorkerWatchdog:
        if self.notifier.config.scaleout.dispatch == "celery":
            logger.info("dispatch: celery: the workers are Celery's, not watched by serve")
            return self
        logger.info(
            "watching the workers: notifykit.worker.down is raised when none is seen for %gs "
            "(two worker.lease periods)",
            self.window,
        )
        self._thread = threading.Thread(target=self._run, name="notifykit-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.check()
            self._stop.wait(self.interval)

    def check(self) -> None:
        """One look (errors logged, never raised: the next look tries again)."""
        try:
            result = self.notifier.watch_workers()
        except Exception as err:
            logger.error(
                "watching the workers failed (%s: %s); trying again in %gs",
                type(err).__name__,
                err,
                self.interval,
                exc_info=not _known(err),
            )
            return
        now = time.monotonic()
        if result.down and (not self._down or now - self._said >= REMIND_EVERY):
            self._said = now
            logger.error(
                "NO NOTIFYKIT WORKER SEEN for %gs (two worker.lease periods): %s; this serve "
                "process sends it itself and runs the due-work tick (escalation steps, group "
                "timers, heartbeats) until a worker is back: start notifykit worker",
                self.window,
                "alert notifykit.worker.down raised"
                if result.changed == "down"
                else "alert notifykit.worker.down is raised",
            )
        elif not result.down and self._down:
            logger.warning(
                "a notifykit worker is back (%d seen)%s; serve stops running the due-work tick",
                result.workers,
                ": alert notifykit.worker.down resolved" if result.changed == "back" else "",
            )
        self._down = result.down


def _known(err: Exception) -> bool:
    from notifykit.errors import NotifykitError

    return isinstance(err, NotifykitError)
