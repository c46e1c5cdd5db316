"""A progress line on the terminal while a send waits on a provider account's rate limit.

Exotel allows about 200 requests a minute per account, so a broadcast of 1,000 SMS (or a few calls
to many people) spends most of its time waiting for the limiter, and without a word it looks
hung. When a request has waited more than :data:`DELAY` seconds, ``notifykit notify``/``send``/
``resolve`` show on stderr, on one line rewritten in place, which account's limit they wait on
and how many requests they made so far; the line is erased when the waiting is over. Only when
stderr is a terminal, and never with ``--json`` (the CLI decides: :func:`watch_rate_limits`
wraps each account client's limiter, as ``-v`` does to log its waits).
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from notifykit.channels import Limiter
    from notifykit.notifier import Notifier

__all__ = ["DELAY", "RateProgress", "watch_rate_limits"]

#: how long a request waits on the rate limit before the progress line shows
DELAY = 2.0
#: how often the line is brought up to date
TICK = 0.25


class RateProgress:
    """The progress line of one command: fed by the wrapped limiters, drawn by a thread of its
    own (a request waiting inside ``acquire()`` cannot draw it)."""

    def __init__(
        self,
        stream: TextIO,
        *,
        delay: float = DELAY,
        tick: float = TICK,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream
        self._delay = delay
        self._tick = tick
        self._clock = clock
        self._lock = threading.Lock()
        #: per waiting request: its account, its limiter, when it started waiting
        self._waiting: dict[int, tuple[str, Any, float]] = {}
        self._made: dict[str, int] = {}
        self._next = 0
        self._shown = False
        self._line = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def wrap(self, limiter: Limiter, account: str) -> Limiter:
        """A limiter that reports its waits here and otherwise is ``limiter``."""
        return _WatchedLimiter(limiter, account, self)

    def acquire(self, limiter: Any, account: str) -> float:
        with self._lock:
            token = self._next
            self._next += 1
            self._waiting[token] = (account, limiter, self._clock())
            self._start()
        granted = False
        try:
            waited = float(limiter.acquire() or 0.0)
            granted = True
            return waited
        finally:
            with self._lock:
                del self._waiting[token]
                if granted:
                    self._made[account] = self._made.get(account, 0) + 1
                if self._shown and not self._waiting:
                    self._erase()

    def close(self) -> None:
        """Stop drawing, and erase the line if it is shown (the command's output follows)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        with self._lock:
            if self._shown:
                self._erase()

    # -- drawing (under the lock) -----------------------------------------------------------

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="notifykit-rate-progress", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._tick):
            with self._lock:
                self._draw()

    def _draw(self) -> None:
        if not self._waiting:
            return
        account, limiter, since = min(self._waiting.values(), key=lambda w: w[2])
        waited = self._clock() - since
        if waited < self._delay:
            return
        made = self._made.get(account, 0)
        line = (
            f"notifykit: waiting on the rate limit of account {account}{_budget(limiter)}: "
            f"{made} request{'' if made == 1 else 's'} made, waiting {waited:.0f} s"
        )
        if self._shown and line == self._line:
            return
        self._write(f"\r{line}\x1b[K")
        self._shown, self._line = True, line

    def _erase(self) -> None:
        self._write("\r\x1b[K")
        self._shown = False

    def _write(self, text: str) -> None:
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):  # the terminal went away: nothing to show it on
            self._stop.set()


def _budget(limiter: Any) -> str:
    limit, period = getattr(limiter, "limit", None), getattr(limiter, "period", None)
    if not isinstance(limit, int) or not isinstance(period, int | float):
        return ""
    return f" ({limit} request{'' if limit == 1 else 's'} per {period:g} s)"


class _WatchedLimiter:
    """A client's rate limiter whose waits feed a :class:`RateProgress`."""

    def __init__(self, limiter: Any, account: str, progress: RateProgress) -> None:
        self._limiter = limiter
        self._account = account
        self._progress = progress

    def acquire(self) -> float:
        return self._progress.acquire(self._limiter, self._account)

    def release(self) -> None:
        release = getattr(self._limiter, "release", None)
        if callable(release):
            release()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._limiter, name)

    def __repr__(self) -> str:
        return f"<watched {self._limiter!r}>"


def watch_rate_limits(notifier: Notifier, stream: TextIO) -> RateProgress:
    """Wrap the rate limiter of every account's client (a client declaring one, see
    :class:`~notifykit.channels.RateLimitedClient`) so its waits show on ``stream``; the caller
    closes the result when the command ends."""
    from notifykit.channels import wrap_rate_limiter

    progress = RateProgress(stream)
    for account in notifier.config.accounts:
        client = notifier.client(account)
        if isinstance(getattr(client, "rate_limiter", None), _WatchedLimiter):
            continue
        wrap_rate_limiter(client, functools.partial(progress.wrap, account=account))
    return progress
