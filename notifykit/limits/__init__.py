"""Rate limits shared by every process and host: one budget per provider account.

Exotel allows about 200 requests a minute *per account*. One limiter per process (the provider
client's own) is right on one host; with several workers, or Celery workers on several hosts,
each would spend the whole budget and the account draws 429s. ``limiter:`` in the config names
a store every process reaches, and the composition root (:mod:`notifykit.runtime`) hands the
provider's ``connect()`` a :class:`LimiterFactory` (as ``settings["rate_limiter"]``) to build the
account's limiter from:

- ``limiter: redis://host:6379/0`` — :class:`~notifykit.limits.redis.RedisBackend`, an atomic
  sliding-window log in Redis (one Lua script per grant, Redis's own clock);
- ``limiter: postgresql`` — :class:`~notifykit.limits.postgres.PostgresBackend`, the same log in
  the ledger's PostgreSQL database, for deployments without Redis.

Either way the limiter is one :class:`SharedRateLimiter` over the backend's ``grant`` and
``finish``.

Both keep the guarantee of the provider's local limiter (``notifykit_exotel.RateLimiter``): a
request is counted from its grant until ``window + margin`` after it finished
(:meth:`Limiter.release`), so no window of the provider's holds more than ``limit`` arrivals,
whatever the network delays; and a request is granted as soon as one of the last ``limit`` leaves
the window, so a backlog drains at close to the limit.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from notifykit.errors import NotifykitError

if TYPE_CHECKING:
    from notifykit.config.scaleout import LimiterSettings

__all__ = [
    "DEFAULT_HOLD",
    "DEFAULT_MARGIN",
    "Limiter",
    "LimiterError",
    "LimiterFactory",
    "SharedRateLimiter",
    "open_limiters",
]

#: the safety margin, as a fraction of the window (as the local limiter's)
DEFAULT_MARGIN = 0.01
#: how long a granted request that is never released (its process died) stays counted as in
#: flight, before its ``window + margin`` starts; longer than any request's timeout
DEFAULT_HOLD = 120.0


class LimiterError(NotifykitError):
    """The shared limiter's store cannot be reached or refused an operation. Nothing was sent
    when :meth:`Limiter.acquire` raises it."""


class Limiter(Protocol):
    """What a provider client calls around each request (``notifykit_exotel.RateLimiter`` has
    the same shape)."""

    def acquire(self) -> float:
        """Wait for a slot of the budget; returns the seconds waited."""
        ...

    def release(self) -> None:
        """The request this thread last acquired for has finished (answered or failed)."""
        ...


class Backend(Protocol):
    """A store of sliding logs, one per key: what :class:`SharedRateLimiter` asks."""

    location: str

    def grant(self, key: str, member: str, limit: int, window: float) -> float | None:
        """Count ``member`` as a request in flight and return ``None`` when fewer than ``limit``
        requests count within ``window``; else the seconds to wait before asking again."""
        ...

    def finish(self, key: str, member: str, window: float) -> None:
        """``member`` finished: it counts for ``window`` from now, then no more."""
        ...

    def limiter(self, key: str, limit: int, window: float, margin: float) -> Limiter: ...

    def close(self) -> None: ...


#: the longest a waiting acquire() sleeps before asking again while every slot is in flight (a
#: release elsewhere cannot wake it: it asks the store again)
MAX_POLL = 0.05


class SharedRateLimiter:
    """One account's sliding log in a shared store (Redis, PostgreSQL); thread-safe, and shared
    with every process and host whose limiter names the same store and key. A request counts
    from its grant until ``window + margin`` after its release, as in the local limiter."""

    def __init__(
        self, backend: Backend, key: str, limit: int, window: float, margin: float
    ) -> None:
        self.backend = backend
        self.key = key
        self.limit = limit
        self.period = window
        self.margin = margin
        self._local = threading.local()
        self.waited = 0.0

    def __repr__(self) -> str:
        return (
            f"SharedRateLimiter({self.key!r}, limit={self.limit}, period={self.period:g}, "
            f"margin={self.margin:g}, on {self.backend.location})"
        )

    def acquire(self) -> float:
        """Wait for a slot; returns the seconds waited. :raises LimiterError: the store is
        unreachable (nothing was granted, so nothing may be sent)."""
        self.release()  # a caller that never released: counted until its next acquire
        member = os.urandom(16).hex()  # unique per grant, as uuid4 (which imports platform)
        window = self.period + self.margin
        started = time.monotonic()
        while True:
            wait = self.backend.grant(self.key, member, self.limit, window)
            if wait is None:
                break
            # The oldest counted request is still in flight when the wait is past a window.
            time.sleep(max(0.001, min(wait, MAX_POLL if wait > window else wait)))
        self._local.member = member
        waited = time.monotonic() - started
        self.waited += waited
        return waited

    def release(self) -> None:
        """This thread's request finished: it counts for ``window + margin`` from now."""
        member = getattr(self._local, "member", None)
        if member is None:
            return
        self._local.member = None
        self.backend.finish(self.key, member, self.period + self.margin)


class LimiterFactory:
    """Handed to a provider's ``connect()`` as ``settings["rate_limiter"]``: call it with the
    account's identity on the provider's side (Exotel: its SID) and its budget, and get the one
    limiter every process and host shares for that account. Limiters are cached, so clients of
    one account in this process share one object too."""

    def __init__(self, backend: Backend, provider: str, margin: float | None) -> None:
        self._backend = backend
        self.provider = provider
        self._margin = margin
        self._made: dict[tuple[str, int, float], Limiter] = {}
        self._lock = threading.Lock()

    def __call__(self, account: str, limit: int, window: float) -> Limiter:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError("a shared rate limit needs a whole number of requests, at least 1")
        if not window > 0:
            raise ValueError("a shared rate limit needs a positive window in seconds")
        margin = window * DEFAULT_MARGIN if self._margin is None else self._margin * window
        key = f"{self.provider}:{account}"
        with self._lock:
            found = self._made.get((key, limit, window))
            if found is None:
                found = self._backend.limiter(key, limit, window, margin)
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


def open_limiters(settings: LimiterSettings, ledger_url: Callable[[], str]) -> Limiters:
    """The backend ``limiter:`` names. ``ledger_url`` gives the ledger's location, for
    ``limiter: postgresql``.

    :raises LimiterError: the driver is missing or the store cannot be reached.
    """
    if settings.kind == "redis":
        from notifykit.limits.redis import RedisBackend

        return Limiters(
            RedisBackend(settings.url, prefix=settings.prefix, hold=settings.hold), settings.margin
        )
    from notifykit.limits.postgres import PostgresBackend

    url = settings.url or ledger_url()
    return Limiters(PostgresBackend(url, hold=settings.hold), settings.margin)
