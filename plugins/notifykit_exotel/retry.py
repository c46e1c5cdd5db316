"""Retry policy and client-side rate limiter for the Exotel client.

The retry rules follow the one fact that matters for a messaging API without idempotency keys:
a GET can be repeated freely, but repeating a POST that Exotel may have processed sends the SMS or
places the call twice. So POSTs are retried only when the request provably never reached Exotel
(the connection was refused or never established) or Exotel rejected it before processing (429,
503). Everything else after a POST is raised with ``maybe_sent=True``.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["RateLimiter", "RetryPolicy"]

INITIAL_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 8.0
MAX_RETRY_AFTER = 60.0
DEFAULT_MAX_RETRIES = 3

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


def _jitter(upto: float) -> float:
    return float(random.uniform(0, upto))


class RateLimiter:
    """A thread-safe token bucket that keeps a client under ``limit`` requests per ``period``.

    Exotel answers more than 200 requests a minute per account with 429. A plain token bucket
    with capacity ``limit`` refilled at ``limit/period`` can let ``2 * limit`` through in one
    period (a full bucket, then a period of refill), so this one holds ``burst`` tokens and
    refills at ``(limit - burst) / period``: in *any* window of ``period`` seconds at most
    ``burst + (limit - burst) = limit`` requests start. A caller over the budget waits its turn
    (FIFO by reservation) instead of drawing a 429.

    Share one instance between clients of the same account to keep them under one budget.
    """

    def __init__(
        self,
        limit: int = 200,
        period: float = 60.0,
        *,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if limit < 2:
            raise ValueError("limit must be at least 2 requests per period")
        if period <= 0:
            raise ValueError("period must be positive")
        if burst is None:
            burst = max(1, limit // 4)
        if not 1 <= burst < limit:
            raise ValueError(f"burst must be between 1 and limit - 1 ({limit - 1})")
        self.limit = limit
        self.period = period
        self.burst = burst
        self.rate = (limit - burst) / period
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._updated = clock()
        self.waited = 0.0  # total seconds callers spent waiting, for diagnostics and benchmarks

    def __repr__(self) -> str:
        return f"RateLimiter(limit={self.limit}, period={self.period}, burst={self.burst})"

    def acquire(self) -> float:
        """Take one request's slot, waiting if the budget is spent. Returns the seconds waited."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            self._tokens -= 1
            wait = 0.0 if self._tokens >= 0 else -self._tokens / self.rate
            self.waited += wait
        if wait > 0:
            self._sleep(wait)
        return wait
