"""Rate limits shared by every process and host: one budget per provider account.

Exotel allows about 200 requests a minute *per account*. One limiter per process (the provider
client's own) is right on one host; with several workers, or Celery workers on several hosts,
each would spend the whole budget and the account draws 429s. ``limiter:`` in the config names
a store every process reaches, and the composition root (:mod:`notifykit.runtime`) hands the
provider's ``connect()`` a :class:`LimiterFactory` (as ``context.rate_limiter``) to build the
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

**The store going away is no reason to page nobody.** When the store cannot be reached (Redis
down, PostgreSQL unreachable, a timeout: :class:`LimiterUnavailable`), a limiter given the
provider's own in-process limiter (``local=``, the same limit and window) grants from it instead:
each process keeps to the account's limit on its own, so a short outage may let through up to the
limit once per process. :class:`StoreOutage` logs one warning when the outage starts and one line
when the store is back, and has the store asked again with backoff (one request every
:data:`RECHECK_FIRST` to :data:`RECHECK_MOST` seconds), not on every request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from notifykit.limits.base import (
    DEFAULT_HOLD,
    DEFAULT_MARGIN,
    Backend,
    Limiter,
    LimiterError,
    LimiterFactory,
    Limiters,
    LimiterUnavailable,
    SharedRateLimiter,
    StoreOutage,
)

if TYPE_CHECKING:
    from notifykit.config.scaleout import LimiterSettings

__all__ = [
    "DEFAULT_HOLD",
    "DEFAULT_MARGIN",
    "Backend",
    "Limiter",
    "LimiterError",
    "LimiterFactory",
    "LimiterUnavailable",
    "Limiters",
    "SharedRateLimiter",
    "StoreOutage",
    "open_limiters",
]


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
