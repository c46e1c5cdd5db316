"""The shared rate limiter in PostgreSQL, for deployments that run no Redis.

``limiter: postgresql`` keeps the sliding-window logs in the ledger's database (or
``limiter: postgresql://...`` in another one), in the table ``notifykit_rate_log``: one row per
request, ``until`` being when it stops being in flight (``grant + hold`` while in flight, its
finish time once released). Each grant is one short transaction under a transaction-scoped
advisory lock on the account's key, so grants of one account are serialised across every
process and host, and grants of different accounts do not wait for each other. Every time is the
server's ``clock_timestamp()``, one timeline for every host. The rule, and so the guarantee, is
the Redis limiter's (:mod:`notifykit.limits.redis`): counted from grant until
``window + margin`` after release.

A server that cannot be reached (refused or lost connections, no pool connection within its
timeout, a statement or lock timeout, a shutdown) raises :class:`LimiterUnavailable`, and the
limiter falls back to the provider's local one; so does a server that is away when the process
starts (the table is created on the first grant that reaches it). Any other refusal (a role that
may not create or write the table) is a :class:`LimiterError`.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from notifykit.limits import (
    DEFAULT_HOLD,
    Limiter,
    LimiterError,
    LimiterUnavailable,
    SharedRateLimiter,
    StoreOutage,
)

__all__ = ["PostgresBackend"]

INSTALL_HINT = "pip install 'notifykit-pager[postgres]'"
#: the advisory lock the table's creation runs under ('nklimit' in ASCII)
CREATE_LOCK = 0x6E6B6C696D6974

CREATE = """
CREATE TABLE IF NOT EXISTS notifykit_rate_log (
    key text NOT NULL,
    member text NOT NULL,
    until double precision NOT NULL,
    PRIMARY KEY (key, member)
)
"""


class PostgresBackend:
    """The PostgreSQL database of ``limiter: postgresql``; a small pool of connections."""

    def __init__(self, url: str, *, hold: float = DEFAULT_HOLD, pool_size: int = 4) -> None:
        try:
            import psycopg  # noqa: F401 (checked here, used by _create)
            from psycopg_pool import ConnectionPool
        except ImportError:
            raise LimiterError(
                "limiter: postgresql needs the PostgreSQL driver, which is not installed: "
                f"{INSTALL_HINT}"
            ) from None
        from notifykit.ledger.postgres import _secrets, display_url

        self.location = display_url(url)
        self.outage = StoreOutage(self.location)
        self._secrets = _secrets(url)
        self.hold = hold
        self._conninfo = "postgresql://" + url.partition("://")[2]
        self._kwargs: dict[str, Any] = {
            "autocommit": True,
            "application_name": "notifykit-limiter",
        }
        self._ready = False
        self._ready_lock = threading.Lock()
        # Away for now: the first grant that reaches it creates the table.
        with contextlib.suppress(LimiterUnavailable):
            self._create()
        self._pool: Any = ConnectionPool(
            self._conninfo,
            min_size=1,
            max_size=pool_size,
            kwargs=self._kwargs,
            name="notifykit-limiter",
            timeout=10.0,
            open=False,
        )
        self._pool.open(wait=False)

    def _create(self) -> None:
        """Create the table, once per process (every process may: it is IF NOT EXISTS, under an
        advisory lock)."""
        import psycopg

        with self._ready_lock:
            if self._ready:
                return
            try:
                with (
                    psycopg.connect(self._conninfo, connect_timeout=10, **self._kwargs) as conn,
                    conn.transaction(),
                ):
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (CREATE_LOCK,))
                    conn.execute(CREATE)
            except psycopg.Error as err:
                raise self.error(err, "opening it") from None
            self._ready = True

    def error(self, err: Exception, doing: str) -> LimiterError:
        text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        for secret in self._secrets:
            text = text.replace(secret, "***")
        message = (
            f"shared rate limiter {self.location}: {doing} failed: {text}; check that "
            "PostgreSQL runs and that limiter: (or store:) names it"
        )
        import psycopg
        from psycopg_pool import PoolTimeout

        if isinstance(err, (psycopg.OperationalError, PoolTimeout)):
            return LimiterUnavailable(message, reason=type(err).__name__)
        return LimiterError(message)

    def _failures(self) -> tuple[type[Exception], ...]:
        import psycopg
        from psycopg_pool import PoolTimeout

        return (psycopg.Error, PoolTimeout)

    def grant(self, key: str, member: str, limit: int, window: float) -> float | None:
        """Grant (``None``) or the seconds to wait before asking again."""
        if not self._ready:
            self._create()
        try:
            with self._pool.connection() as conn, conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (key,))
                row = conn.execute("SELECT extract(epoch FROM clock_timestamp())").fetchone()
                now = float(row[0])
                conn.execute(
                    "DELETE FROM notifykit_rate_log WHERE key = %s AND until <= %s",
                    (key, now - window),
                )
                count = conn.execute(
                    "SELECT count(*) FROM notifykit_rate_log WHERE key = %s", (key,)
                ).fetchone()[0]
                if count < limit:
                    conn.execute(
                        "INSERT INTO notifykit_rate_log (key, member, until) VALUES (%s, %s, %s)",
                        (key, member, now + self.hold),
                    )
                    return None
                oldest = conn.execute(
                    "SELECT until FROM notifykit_rate_log WHERE key = %s ORDER BY until "
                    "OFFSET %s LIMIT 1",
                    (key, count - limit),
                ).fetchone()[0]
                return float(oldest) + window - now
        except self._failures() as err:
            raise self.error(err, f"acquire on {key}") from None

    def finish(self, key: str, member: str, window: float) -> None:
        try:
            with self._pool.connection() as conn:
                conn.execute(
                    "UPDATE notifykit_rate_log SET until = extract(epoch FROM clock_timestamp()) "
                    "WHERE key = %s AND member = %s",
                    (key, member),
                )
        except self._failures() as err:
            raise self.error(err, f"release on {key}") from None

    def limiter(
        self, key: str, limit: int, window: float, margin: float, *, local: Limiter | None = None
    ) -> Limiter:
        return SharedRateLimiter(self, key, limit, window, margin, local=local)

    def close(self) -> None:
        self._pool.close()

    def __repr__(self) -> str:
        return f"<PostgresBackend {self.location}>"
