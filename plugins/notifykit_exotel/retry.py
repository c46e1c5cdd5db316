"""Retry policy and client-side rate limiter for the Exotel client.

The retry rules follow the one fact that matters for a messaging API without idempotency keys:
a GET can be repeated freely, but repeating a POST that Exotel may have processed sends the SMS or
places the call twice. So POSTs are retried only when the request provably never reached Exotel
(the connection was refused or never established) or Exotel rejected it before processing (429,
503). Everything else after a POST is raised with ``maybe_sent=True``.
"""

from __future__ import annotations

import bisect
import logging
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

__all__ = [
    "DEFAULT_RATE_LIMIT",
    "DEFAULT_RATE_WINDOW",
    "Limiter",
    "RateLimiter",
    "RetryPolicy",
    "SharedLimiter",
]

log = logging.getLogger("notifykit_exotel")

INITIAL_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 8.0
MAX_RETRY_AFTER = 60.0
DEFAULT_MAX_RETRIES = 3
#: the rate limiter's safety margin, as a fraction of its period (see RateLimiter)
DEFAULT_MARGIN = 0.01
#: Exotel's rate limit per account (it answers more with 429): requests per window...
DEFAULT_RATE_LIMIT = 200
#: ...of this many seconds
DEFAULT_RATE_WINDOW = 60.0

# Statuses that are safe to retry for any method: Exotel rejected the request before processing.
REJECTED_BEFORE_PROCESSING = frozenset({429, 503})
# Statuses also retried for GETs, which have no side effects.
TRANSIENT_FOR_GET = frozenset({500, 502, 503, 504, 429})


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait before retrying a failed request.

    Delays grow exponentially from ``initial_delay`` up to ``max_delay``, with "equal jitter"
    (half fixed, half random) so concurrent clients do not retry in lockstep. A ``Retry-After``
    header, when Exotel sends one, replaces the computed delay (capped at ``max_retry_after``).
    ``sleep`` is injectable so tests can observe the waits instead of spending them.
    """

    max_retries: int = DEFAULT_MAX_RETRIES
    initial_delay: float = INITIAL_RETRY_DELAY
    max_delay: float = MAX_RETRY_DELAY
    max_retry_after: float = MAX_RETRY_AFTER
    retry_post_when_rejected: bool = True
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError("max_retries must be 0 or more")
        if self.initial_delay < 0 or self.max_delay < self.initial_delay:
            raise ValueError("need 0 <= initial_delay <= max_delay")

    @classmethod
    def none(cls) -> RetryPolicy:
        """A policy that never retries."""
        return cls(max_retries=0)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt + 1`` (``attempt`` counts from 0)."""
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.max_retry_after)
        base = min(self.initial_delay * 2.0**attempt, self.max_delay)
        return base / 2 + _jitter(base / 2)

    def should_retry(self, method: str, *, status: int | None, reached_server: bool) -> bool:
        """Whether a failed request may be sent again.

        ``status`` is the HTTP status (``None`` when no response came); ``reached_server`` is
        ``False`` only when the request provably never reached Exotel (connection refused or never
        established).
        """
        if method.upper() in ("GET", "HEAD"):
            return status is None or status in TRANSIENT_FOR_GET
        if not reached_server:
            return True
        return self.retry_post_when_rejected and status in REJECTED_BEFORE_PROCESSING


class Limiter(Protocol):
    """What the client calls around each request: :class:`RateLimiter`, or a limiter shared
    by every process and host of an account (notifykit's ``limiter:``, see
    :class:`SharedLimiter`)."""

    def acquire(self) -> float: ...

    def release(self) -> None: ...


class SharedLimiter:
    """A limiter in a shared store (Redis, PostgreSQL) seen by the client. While the store
    cannot be reached the shared limiter grants from its local one (notifykit's
    ``SharedRateLimiter``); when it fails all the same (the store refused the grant),
    :meth:`acquire` raises :class:`~notifykit_exotel.errors.LimiterUnavailableError` (a
    *transient* failure of the sender's own: nothing was sent, a retry later is safe) instead of
    the store's own error, which the channel would have to call ambiguous."""

    def __init__(self, limiter: Limiter) -> None:
        self.limiter = limiter

    def __repr__(self) -> str:
        return f"SharedLimiter({self.limiter!r})"

    def acquire(self) -> float:
        from .errors import LimiterUnavailableError

        try:
            return self.limiter.acquire()
        except Exception as err:
            raise LimiterUnavailableError(
                f"the shared rate limiter is unavailable ({err}); nothing was sent"
            ) from None

    def release(self) -> None:
        # A lost release only keeps the slot counted until the limiter's hold runs out.
        try:
            self.limiter.release()
        except Exception as err:
            log.warning("the shared rate limiter could not release a slot: %s", err)


def after_window(start: float, window: float) -> float:
    """``start + window``, rounded up where floating point would round it down: a grant one ulp
    early would let a server that computes ``grant - window`` still count ``start``."""
    end = start + window
    while end - window < start:
        end = math.nextafter(end, math.inf)
    return end


def _jitter(upto: float) -> float:
    return float(random.uniform(0, upto))


class RateLimiter:
    """A thread-safe sliding-log limiter: at most ``limit`` requests in any ``period`` seconds.

    Exotel answers more than 200 requests a minute per account with 429. This limiter keeps a log
    of the last ``limit`` requests and lets a new one start only when fewer than ``limit`` of them
    are in flight or finished within the last ``period + margin`` seconds. So all ``limit``
    requests of a window can go at once (a broadcast of 100 requests under 200/minute does not
    wait at all), and the next one goes as soon as the oldest leaves the window.

    **Why it never exceeds the limit** (as the server counts, by arrival): a request is counted
    from the moment it is granted until ``period + margin`` after it *finished* (the client calls
    :meth:`release` when the answer, or the error, is in). A request arrives at the server after
    its grant and before it finishes. Take any ``limit + 1`` arrivals within ``period`` of each
    other, and the one of them granted last: when it was granted, every other one had already
    been granted and either was still in flight or had finished after the first of those
    arrivals, which is less than ``period`` before the grant. So ``limit`` requests were counted
    and the grant could not have happened. No assumption about network delay is needed.

    **The margin** (default 1% of ``period``: 0.6 s on a minute) covers what the proof cannot: the
    server's clock running at a slightly different rate, and a server that rounds its timestamps
    (to a whole second, say) before comparing. Raise it if a server still answers 429.

    A caller that only calls :meth:`acquire` (and never :meth:`release`) is counted from its grant
    until its own thread's next :meth:`acquire`, a safe bound for synchronous callers. ``burst``,
    if given, also caps how many start at once: at most ``burst`` in any ``period * burst /
    limit`` seconds (the rest are spread out). A caller over the budget waits its turn, in order
    of arrival, instead of drawing a 429.

    Share one instance between clients of the same account to keep them under one budget.
    """

    def __init__(
        self,
        limit: int = DEFAULT_RATE_LIMIT,
        period: float = DEFAULT_RATE_WINDOW,
        *,
        margin: float | None = None,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError("limit must be a whole number of requests, at least 1")
        if not period > 0 or period == float("inf"):
            raise ValueError("period must be a positive number of seconds")
        if margin is None:
            margin = period * DEFAULT_MARGIN
        if not margin >= 0:
            raise ValueError("margin must be 0 or more seconds")
        if burst is not None and not 1 <= burst < limit:
            raise ValueError(f"burst must be between 1 and limit - 1 ({limit - 1}), or None")
        self.limit = limit
        self.period = period
        self.margin = margin
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._changed = threading.Condition(threading.Lock())
        #: finish times (or grant times, for callers that never release) of recent requests,
        #: ascending; only those within the last period + margin matter
        self._done: list[float] = []
        #: requests granted and not yet finished, by id, with their grant time and thread
        self._open: dict[int, tuple[float, threading.Thread]] = {}
        self._next_id = 0
        self._local = threading.local()
        self.waited = 0.0  # total seconds callers spent waiting, for diagnostics and benchmarks

    def __repr__(self) -> str:
        burst = f", burst={self.burst}" if self.burst is not None else ""
        return (
            f"RateLimiter(limit={self.limit}, period={self.period:g}, margin={self.margin:g}"
            f"{burst})"
        )

    def acquire(self) -> float:
        """Take one request's slot, waiting if the budget is spent. Returns the seconds waited.

        Call :meth:`release` from the same thread when the request has finished.
        """
        me = threading.current_thread()
        with self._changed:
            now = self._clock()
            self._close_own(now)
            while True:
                grant = self._grant_time(now)
                if grant is not None:
                    break
                # Every counted request is still in flight: wait for one to finish.
                self._changed.wait(timeout=self.period)
                now = self._clock()
                self._forget_dead(now)
            wait = max(0.0, grant - now)
            self.waited += wait
            self._next_id += 1
            self._open[self._next_id] = (grant, me)
            self._local.slot = self._next_id
        if wait > 0:
            self._sleep(wait)
            # The clock read after the sleep may stand a rounding short of the grant (``now +
            # (grant - now)`` in floating point is not always ``grant``): sleep that remainder
            # too, so that no request starts before its grant. One ulp, so a step or two.
            for _ in range(4):
                short = grant - self._clock()
                if short <= 0:
                    break
                self._sleep(short)
        return wait

    def release(self) -> None:
        """Say that the request this thread last acquired has finished (answered or failed).

        It stays counted for ``period + margin`` from now. Calling it twice is harmless.
        """
        with self._changed:
            self._close_own(self._clock())
            self._changed.notify_all()

    # -- internals (called with the lock held) -----------------------------------------------

    def _close_own(self, now: float) -> None:
        slot = getattr(self._local, "slot", None)
        if slot is None:
            return
        self._local.slot = None
        entry = self._open.pop(slot, None)
        if entry is not None:
            bisect.insort(self._done, max(entry[0], now))

    def _forget_dead(self, now: float) -> None:
        # A thread that died holding a slot will never release it.
        for slot, (granted, thread) in list(self._open.items()):
            if not thread.is_alive():
                del self._open[slot]
                bisect.insort(self._done, max(granted, now))

    def _grant_time(self, now: float) -> float | None:
        """The earliest time at or after ``now`` a new request may start, or ``None`` while
        every slot is held by a request in flight."""
        window = self.period + self.margin
        done = self._done
        # Finish times at or before now - window can never count again.
        stale = bisect.bisect_right(done, now - window)
        if stale:
            del done[:stale]
        grant = self._earliest(now, self.limit, window)
        if grant is None or self.burst is None:
            return grant
        spread = self._earliest(now, self.burst, window * self.burst / self.limit)
        return None if spread is None else max(grant, spread)

    def _earliest(self, now: float, limit: int, window: float) -> float | None:
        # Fewer than ``limit`` requests may be counted at the grant: open ones always count;
        # a finished one counts while its finish time is within ``window`` before the grant.
        room = limit - len(self._open)
        if room <= 0:
            return None
        if len(self._done) < room:
            return now
        return max(now, after_window(self._done[-room], window))
