"""The ledger going away and coming back, as one sender sees it.

A PostgreSQL restart or failover, a PgBouncer restart, a SQLite file locked by another process
past ``busy_timeout``: for a while every ledger call fails with
:class:`~notifykit.errors.LedgerUnavailable`. The worker's loop, its lease keeper and its record
retries all report those failures to one :class:`Outage`, which logs one WARNING when the outage
starts and one INFO line when the worker's loop gets through again, not a line per attempt.
Each caller waits between its attempts by a :class:`Backoff` of its own.
"""

from __future__ import annotations

import logging
import threading
import time

from notifykit.errors import LedgerError

__all__ = ["INITIAL_DELAY", "MAX_DELAY", "Backoff", "Outage"]

logger = logging.getLogger("notifykit.worker")

#: the first wait before trying the ledger again, doubled at each failure up to MAX_DELAY
INITIAL_DELAY = 0.5
MAX_DELAY = 10.0


class Backoff:
    """Waits that double from ``initial`` to ``maximum``: 0.5, 1, 2, 4, 8, 10, 10... seconds."""

    def __init__(self, initial: float = INITIAL_DELAY, maximum: float = MAX_DELAY) -> None:
        self.initial = initial
        self.maximum = maximum
        self._next = initial

    def next(self) -> float:
        """The wait before the next attempt (each call doubles the one after)."""
        delay = self._next
        self._next = min(self._next * 2, self.maximum)
        return delay

    def reset(self) -> None:
        self._next = self.initial


class Outage:
    """Whether the ledger is unavailable to ``who`` (``"worker w1"``), said once per outage.

    :meth:`failed` is called by whoever's ledger call failed (any thread); :meth:`over` by the
    worker's loop after a pass that reached the ledger, so a lucky call in the middle of an
    outage does not end it early and start another. A call that began before the end of the
    last outage and failed after it (it waited for a connection all along) belongs to that
    outage, not to a new one: callers say when theirs began (``time.monotonic()``)."""

    def __init__(self, who: str) -> None:
        self.who = who
        self._lock = threading.Lock()
        self._since: float | None = None
        self._ended = float("-inf")
        self._failures = 0
        #: outages seen so far (the n-th one's warning says so)
        self.count = 0

    @property
    def ongoing(self) -> bool:
        return self._since is not None

    def failed(self, err: LedgerError, began: float | None = None) -> None:
        """A ledger call (begun at ``began``, if known) failed with a transient error: the
        first of an outage is logged."""
        with self._lock:
            if self._since is None and began is not None and began < self._ended:
                return  # a straggler of the outage that just ended
            self._failures += 1
            if self._since is not None:
                return
            self._since = time.monotonic()
            self.count += 1
            count = self.count
        logger.warning(
            "%s: the ledger is unavailable (%s); retrying with backoff (%g to %gs between "
            "tries). Requests in flight finish, and their outcomes are recorded once it is back "
            "(outage %d since start)",
            self.who,
            err,
            INITIAL_DELAY,
            MAX_DELAY,
            count,
        )

    def over(self) -> None:
        """The ledger answered again: the end of an outage, if one was going on, is logged."""
        if self._since is None:  # the common case, without the lock
            return
        with self._lock:
            if self._since is None:
                return
            self._ended = time.monotonic()
            lasted = self._ended - self._since
            failures, self._since, self._failures = self._failures, None, 0
        logger.info(
            "%s: the ledger is back after %.1fs (%d failed call%s retried)",
            self.who,
            lasted,
            failures,
            "" if failures == 1 else "s",
        )
