"""What every shared rate limit is made of: the :class:`Limiter` a provider client calls, the
:class:`Backend` protocol a store implements, :class:`SharedRateLimiter` over a backend with its
fallback to the provider's local limiter while the store is away (:class:`StoreOutage`), and the
factories the composition root hands providers. The package docstring says how they fit."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Protocol

from notifykit.channels.base import Limiter
from notifykit.errors import NotifykitError

__all__ = [
    "DEFAULT_HOLD",
    "DEFAULT_MARGIN",
    "Limiter",
    "LimiterError",
    "LimiterFactory",
    "LimiterUnavailable",
    "Limiters",
    "SharedRateLimiter",
    "StoreOutage",
]

#: the safety margin, as a fraction of the window (as the local limiter's)
DEFAULT_MARGIN = 0.01
#: how long a granted request that is never released (its process died) stays counted as in
#: flight, before its ``window + margin`` starts; longer than any request's timeout
DEFAULT_HOLD = 120.0
#: while the store is unreachable, the seconds before it is asked again; doubled after each
#: failed recheck up to RECHECK_MOST
RECHECK_FIRST = 2.0
RECHECK_MOST = 16.0

logger = logging.getLogger("notifykit.limits")


class LimiterError(NotifykitError):
    """The shared limiter's store refused an operation (or, as :class:`LimiterUnavailable`,
    cannot be reached). Nothing was sent when :meth:`Limiter.acquire` raises it: a failure of
    our own infrastructure, to be retried, never reported as the recipient not reached."""


class LimiterUnavailable(LimiterError):
    """The store cannot be reached: the connection was refused or lost, or it timed out. A
    :class:`SharedRateLimiter` with a local limiter falls back to it instead of raising.
    ``reason`` is the driver's error class (``ConnectionError``, ``OperationalError``...)."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class Backend(Protocol):
    """A store of sliding logs, one per key: what :class:`SharedRateLimiter` asks. ``grant``
    and ``finish`` raise :class:`LimiterUnavailable` when the store cannot be reached, and
    :class:`LimiterError` when it refuses."""

    location: str
    #: whether the store is reachable, as this process's limiters last saw it
    outage: StoreOutage

    def grant(self, key: str, member: str, limit: int, window: float) -> float | None:
        """Count ``member`` as a request in flight and return ``None`` when fewer than ``limit``
        requests count within ``window``; else the seconds to wait before asking again."""
        ...

    def finish(self, key: str, member: str, window: float) -> None:
        """``member`` finished: it counts for ``window`` from now, then no more."""
        ...

    def limiter(
        self, key: str, limit: int, window: float, margin: float, *, local: Limiter | None = None
    ) -> Limiter: ...

    def close(self) -> None: ...


#: the longest a waiting acquire() sleeps before asking again while every slot is in flight (a
#: release elsewhere cannot wake it: it asks the store again)
MAX_POLL = 0.05


class StoreOutage:
    """Whether a shared store is reachable, as the limiters of one process see it: one per
    backend, shared by the limiters of every account on it, so an outage is logged once
    however many accounts (and threads) notice it.

    While the store is up every request asks it. Once a request finds it unreachable
    (:meth:`failed`), one warning is logged and requests are granted locally; one request is let
    through to the store (:meth:`should_ask`) every ``recheck_first`` seconds, doubling up to
    ``recheck_most`` while it stays away, so a dead store costs a failed connection every few
    seconds rather than one per request. The first request that reaches it again
    (:meth:`answered`) logs that it is back."""

    def __init__(
        self,
        location: str,
        *,
        recheck_first: float = RECHECK_FIRST,
        recheck_most: float = RECHECK_MOST,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.location = location
        self.recheck_first = recheck_first
        self.recheck_most = recheck_most
        self._clock = clock
        self._lock = threading.Lock()
        self.down = False
        self._since = 0.0
        self._delay = recheck_first
        self._next_ask = 0.0
        self._rechecking = False
        self.outages = 0

    def __repr__(self) -> str:
        return f"<StoreOutage {self.location} {'down' if self.down else 'up'}>"

    def should_ask(self) -> bool:
        """Whether this request asks the store: always while it is up; while it is down, one
        request per recheck delay (the others are granted locally without waiting for it)."""
        if not self.down:
            return True
        with self._lock:
            now = self._clock()
            if not self.down or now >= self._next_ask:
                self._next_ask = now + self._delay  # one asker per delay, not every thread
                self._rechecking = self.down
                return True
            return False

    def failed(self, err: LimiterUnavailable) -> None:
        """A request found the store unreachable: the outage starts (logged once) or goes on
        (the next recheck waits longer)."""
        with self._lock:
            now = self._clock()
            if not self.down:
                self.down = True
                self._since = now
                self._delay = self.recheck_first
                self.outages += 1
                # Numbered from the second on: the CLI shows a warning text only once.
                again = f", outage {self.outages}" if self.outages > 1 else ""
                logger.warning(
                    "shared rate limit store %s unreachable (%s%s): limiting per process until "
                    "it is back; the account's limit may be exceeded by the number of processes",
                    self.location,
                    err.reason,
                    again,
                )
            elif self._rechecking:
                self._delay = min(self._delay * 2, self.recheck_most)
            else:
                return  # a request that set out before the outage was noticed
            self._rechecking = False
            self._next_ask = now + self._delay

    def answered(self) -> None:
        """A request reached the store: an outage, if there was one, is over."""
        if not self.down:
            return
        with self._lock:
            if not self.down:
                return
            self.down = self._rechecking = False
            logger.info(
                "shared rate limit store %s is back after %.0f s: one limit for every process "
                "again",
                self.location,
                self._clock() - self._since,
            )


class SharedRateLimiter:
    """One account's sliding log in a shared store (Redis, PostgreSQL); thread-safe, and shared
    with every process and host whose limiter names the same store and key. A request counts
    from its grant until ``window + margin`` after its release, as in the local limiter.

    ``local``: the provider's in-process limiter for the same account, limit and window, which
    grants while the store cannot be reached (see :class:`StoreOutage`); without it,
    :meth:`acquire` raises :class:`LimiterUnavailable` then. Each grant is released where it was
    made: one granted locally during an outage is never released into the store afterwards."""

    def __init__(
        self,
        backend: Backend,
        key: str,
        limit: int,
        window: float,
        margin: float,
        *,
        local: Limiter | None = None,
    ) -> None:
        self.backend = backend
        self.key = key
        self.limit = limit
        self.period = window
        self.margin = margin
        self.local = local
        self._local = threading.local()
        self.waited = 0.0

    def __repr__(self) -> str:
        return (
            f"SharedRateLimiter({self.key!r}, limit={self.limit}, period={self.period:g}, "
            f"margin={self.margin:g}, on {self.backend.location})"
        )

    def acquire(self) -> float:
        """Wait for a slot; returns the seconds waited. :raises LimiterError: the store refused
        the grant, or is unreachable and there is no local limiter (nothing was granted, so
        nothing may be sent)."""
        self.release()  # a caller that never released: counted until its next acquire
        outage = self.backend.outage
        started = time.monotonic()
        if self.local is None or outage.should_ask():
            try:
                waited = self._acquire_shared(started)
            except LimiterUnavailable as err:
                if self.local is None:
                    raise
                outage.failed(err)
            else:
                outage.answered()
                return waited
        waited = (time.monotonic() - started) + self.local.acquire()
        self._local.grant = None  # this thread's grant is the local limiter's
        self._local.in_local = True
        self.waited += waited
        return waited

    def _acquire_shared(self, started: float) -> float:
        member = os.urandom(16).hex()  # unique per grant, as uuid4 (which imports platform)
        window = self.period + self.margin
        while True:
            wait = self.backend.grant(self.key, member, self.limit, window)
            if wait is None:
                break
            # The oldest counted request is still in flight when the wait is past a window.
            time.sleep(max(0.001, min(wait, MAX_POLL if wait > window else wait)))
        self._local.grant = member
        waited = time.monotonic() - started
        self.waited += waited
        return waited

    def release(self) -> None:
        """This thread's request finished: it counts for ``window + margin`` from now, in the
        store or the local limiter, wherever it was granted. With a local limiter, a release
        the unreachable store cannot take is dropped (the request stays counted there until the
        backend's ``hold`` runs out)."""
        if getattr(self._local, "in_local", False):
            self._local.in_local = False
            assert self.local is not None
            self.local.release()
            return
        member = getattr(self._local, "grant", None)
        if member is None:
            return
        self._local.grant = None
        try:
            self.backend.finish(self.key, member, self.period + self.margin)
        except LimiterUnavailable as err:
            if self.local is None:
                raise
            self.backend.outage.failed(err)


class LimiterFactory:
    """Handed to a provider's ``connect()`` as ``context.rate_limiter``: call it with the
    account's identity on the provider's side (Exotel: its SID) and its budget, and get the one
    limiter every process and host shares for that account. Limiters are cached, so clients of
    one account in this process share one object too."""

    def __init__(self, backend: Backend, provider: str, margin: float | None) -> None:
        self._backend = backend
        self.provider = provider
        self._margin = margin
        self._made: dict[tuple[str, int, float], Limiter] = {}
        self._lock = threading.Lock()

    def __call__(
        self, account: str, limit: int, window: float, *, local: Limiter | None = None
    ) -> Limiter:
        """The account's shared limiter. ``local``: the provider's own limiter for the account
        (the same ``limit`` and ``window``), which grants while the store is unreachable (see
        :class:`SharedRateLimiter`); the first one given for an account is kept."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError("a shared rate limit needs a whole number of requests, at least 1")
        if not window > 0:
            raise ValueError("a shared rate limit needs a positive window in seconds")
        margin = window * DEFAULT_MARGIN if self._margin is None else self._margin * window
        key = f"{self.provider}:{account}"
        with self._lock:
            found = self._made.get((key, limit, window))
            if found is None:
                found = self._backend.limiter(key, limit, window, margin, local=local)
                self._made[(key, limit, window)] = found
            return found

    def __repr__(self) -> str:
        return f"<LimiterFactory {self.provider} on {self._backend!r}>"


class Limiters:
    """The shared limiters of one Notifier: one backend, one factory per provider."""

    def __init__(self, backend: Backend, margin: float | None) -> None:
        self.backend = backend
        self._margin = margin
        self._factories: dict[str, LimiterFactory] = {}
        self._lock = threading.Lock()

    def for_provider(self, provider: str) -> LimiterFactory:
        with self._lock:
            factory = self._factories.get(provider)
            if factory is None:
                factory = LimiterFactory(self.backend, provider, self._margin)
                self._factories[provider] = factory
            return factory

    def close(self) -> None:
        self.backend.close()
