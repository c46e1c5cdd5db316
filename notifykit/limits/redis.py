"""The shared rate limiter in Redis: an atomic sliding-window log per provider account.

The log of an account is a sorted set at ``<prefix>:<provider>:<account>`` (by default
``notifykit:limit:exotel:<SID>``): one member per request, scored by when it stops being *in
flight* (a request in flight is scored ``grant + hold``, far ahead; :meth:`release` rescores it to
its finish time). A request counts while its score is later than ``now - (window + margin)``.
One Lua script, run atomically by Redis, drops what no longer counts and grants the request when
fewer than ``limit`` count; otherwise it answers how long until the oldest of them leaves. Every
time comes from Redis's ``TIME``, so hosts whose clocks disagree still share one timeline.

That is the local limiter's rule, so its proof carries over: a request is counted from its grant
until ``window + margin`` after it finished, and arrives at the provider in between; so any
``limit + 1`` arrivals within one window would have had ``limit`` counted requests at the last
grant. ``hold`` (default 2 minutes, longer than any request's timeout) bounds how long a request
whose process died without releasing it keeps its slot. The key expires on its own once idle.

A Redis that cannot be reached (refused or lost connections, timeouts, a replica that turned
read-only in a failover, one still loading its data) raises :class:`LimiterUnavailable`, and the
limiter falls back to the provider's local one; any other refusal (the key holding another type,
an ACL denying the script) is a :class:`LimiterError`.
"""

from __future__ import annotations

from typing import Any

from notifykit.limits import (
    DEFAULT_HOLD,
    Limiter,
    LimiterError,
    LimiterUnavailable,
    SharedRateLimiter,
    StoreOutage,
)

__all__ = ["RedisBackend", "display_url"]

INSTALL_HINT = "pip install 'notifykit-pager[redis]'"

# KEYS[1]: the log. ARGV: 'acquire', limit, window (with margin), hold, member
#                    or 'release', member
# acquire returns {1, now} when granted, else {0, seconds to wait} (as strings: Redis turns Lua
# numbers into integers).
SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local key = KEYS[1]
if ARGV[1] == 'release' then
  local window = tonumber(ARGV[3])
  if redis.call('ZSCORE', key, ARGV[2]) then
    redis.call('ZADD', key, 'XX', now, ARGV[2])
    if redis.call('PTTL', key) < window * 1000 then
      redis.call('PEXPIRE', key, math.ceil(window * 1000) + 1000)
    end
  end
  return {'1', tostring(now)}
end
local limit = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local hold = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local count = redis.call('ZCARD', key)
if count < limit then
  redis.call('ZADD', key, now + hold, ARGV[5])
  redis.call('PEXPIRE', key, math.ceil((hold + window) * 1000) + 1000)
  return {'1', tostring(now)}
end
local oldest = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
return {'0', tostring(tonumber(oldest[2]) + window - now)}
"""


def display_url(url: str) -> str:
    """``url`` without its password, for messages and reprs."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port
    except ValueError:
        return "redis://<unparseable URL>"
    where = f"{host}:{port}" if port else host
    return f"{parts.scheme}://{where}{parts.path}"


class RedisBackend:
    """The Redis a config's ``limiter: redis://...`` names; one connection pool per process."""

    def __init__(self, url: str, *, prefix: str = "notifykit:limit", hold: float = DEFAULT_HOLD):
        try:
            import redis
        except ImportError:
            raise LimiterError(
                f"limiter: {display_url(url)} needs the Redis client, which is not installed: "
                f"{INSTALL_HINT}"
            ) from None
        self.location = display_url(url)
        self.outage = StoreOutage(self.location)
        self.prefix = prefix
        self.hold = hold
        self._unreachable = (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError)
        try:
            self._client: Any = redis.Redis.from_url(
                url, socket_timeout=5.0, socket_connect_timeout=5.0, health_check_interval=30
            )
            self._script: Any = self._client.register_script(SCRIPT)
        except (ValueError, redis.RedisError) as err:
            raise self.error(err, "connecting") from None

    def error(self, err: Exception, doing: str) -> LimiterError:
        # redis-py's messages name host and port, never the password; say it without the URL.
        text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        message = f"shared rate limiter {self.location}: {doing} failed: {text}; "
        if isinstance(err, self._unreachable):
            message += "check that Redis runs and that limiter: names it"
            return LimiterUnavailable(message, reason=type(err).__name__)
        # Redis answered and refused: a key of another type, an ACL, a script error.
        message += (
            "check that limiter: names a Redis (and prefix: keys) notifykit alone uses, whose "
            "user may run scripts"
        )
        return LimiterError(message)

    def run(self, key: str, *args: Any) -> tuple[bool, float]:
        import redis

        try:
            granted, value = self._script(keys=[key], args=list(args))
        except redis.RedisError as err:
            raise self.error(err, f"{args[0]} on {key}") from None
        return granted in (b"1", "1", 1), float(value)

    def grant(self, key: str, member: str, limit: int, window: float) -> float | None:
        granted, wait = self.run(
            f"{self.prefix}:{key}", "acquire", limit, repr(window), repr(self.hold), member
        )
        return None if granted else wait

    def finish(self, key: str, member: str, window: float) -> None:
        self.run(f"{self.prefix}:{key}", "release", member, repr(window))

    def limiter(
        self, key: str, limit: int, window: float, margin: float, *, local: Limiter | None = None
    ) -> Limiter:
        return SharedRateLimiter(self, key, limit, window, margin, local=local)

    def close(self) -> None:
        self._client.close()

    def __repr__(self) -> str:
        return f"<RedisBackend {self.location}>"
