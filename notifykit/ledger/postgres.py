"""The PostgreSQL ledger: one database shared by every worker, on any number of hosts.

``store: postgresql://user@host:5432/dbname`` (or ``postgres://``; any libpq URL parameter, such as
``?options=-csearch_path%3Dnotifykit`` for a schema of its own). Same schema, migrations and
rules as SQLite (:mod:`notifykit.ledger.base`), through psycopg 3:

- a connection pool (``psycopg_pool``), one connection per transaction, so the worker's threads
  write at once instead of taking turns on one connection;
- claims with ``FOR UPDATE SKIP LOCKED``: workers claiming at the same moment take different
  deliveries without waiting for each other; every other read-modify-write locks its rows
  (``FOR UPDATE``), so a worker whose lease was taken over cannot also send;
- the migrations under ``pg_advisory_xact_lock``, so processes opening a new database at once
  apply them one at a time;
- wake-ups by ``LISTEN``/``NOTIFY`` on a channel of the ledger's schema
  (``notifykit_work:<schema>``, so ledgers in other schemas of the database do not wake it):
  ``add()``, a scheduled retry and a release notify (at commit), and
  :meth:`PostgresLedger.wait_for_work` returns as soon as one arrives, on any host.

Durability follows the server's settings; ``synchronous: off`` or ``normal`` sets
``synchronous_commit = off`` for the ledger's sessions (a server crash may lose the last commits,
never corrupt them). ``busy_timeout`` bounds both the wait for a pool connection and
``lock_timeout``. The password in the URL never appears in :attr:`location`, a repr or an error.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from notifykit.ledger.base import Dialect, LedgerError, SqlLedger
from notifykit.ledger.migrations import MIGRATIONS
from notifykit.ledger.rows import fetch_one

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

__all__ = ["CHANNEL", "PostgresLedger", "display_url", "work_channel"]

#: the LISTEN/NOTIFY channel of "work is due" (followed by ``:`` and the ledger's schema)
CHANNEL = "notifykit_work"
#: PostgreSQL's longest identifier (NAMEDATALEN - 1), which a channel name must fit
_MAX_IDENTIFIER = 63


def work_channel(schema: str) -> str:
    """The wake-up channel of the ledger in ``schema``: one per schema, so ledgers sharing a
    database do not wake each other (a long schema name is hashed to fit an identifier)."""
    name = f"{CHANNEL}:{schema}"
    if len(name.encode()) > _MAX_IDENTIFIER:
        import hashlib

        name = f"{CHANNEL}:{hashlib.sha256(schema.encode()).hexdigest()[:32]}"
    return name


#: the advisory lock key the migrations run under ('notifykit' in ASCII, as a 64-bit number)
MIGRATION_LOCK = 0x6E6F74696679

INSTALL_HINT = "pip install 'notifykit-pager[postgres]'"


def display_url(url: str) -> str:
    """``url`` without its password or query parameters (which may carry one), for messages."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "postgresql://<unparseable URL>"
    if ":" in host:
        host = f"[{host}]"
    user = f"{parts.username}@" if parts.username else ""
    where = f"{host}:{port}" if port else host
    return f"postgresql://{user}{where}{parts.path}"


def _secrets(url: str) -> list[str]:
    found: list[str] = []
    with suppress(ValueError):
        parts = urlsplit(url)
        if parts.password:
            found.append(parts.password)
        found.extend(v for k, v in parse_qsl(parts.query) if "password" in k.lower() and v)
    return found


class PostgresLedger(SqlLedger):
    """A ledger in a PostgreSQL database, at the libpq URL ``url``."""

    def __init__(
        self,
        url: str,
        *,
        synchronous: str = "full",
        busy_timeout: float = 10.0,
        pool_size: int = 10,
        connect_timeout: float = 10.0,
    ) -> None:
        try:
            import psycopg
            from psycopg_pool import ConnectionPool
        except ImportError:
            raise LedgerError(
                f"store: {display_url(url)} is a PostgreSQL ledger, and the PostgreSQL driver "
                f"is not installed: {INSTALL_HINT}"
            ) from None
        super().__init__(
            Dialect(
                name="postgresql",
                begin_write="BEGIN",
                claim_lock="FOR UPDATE SKIP LOCKED",
                row_lock="FOR UPDATE",
                migration_lock=f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})",
                param="%s",
            ),
            display_url(url),
        )
        self._secrets = _secrets(url)
        self._busy_timeout = busy_timeout
        self._settings = {
            "lock_timeout": f"{int(busy_timeout * 1000)}ms",
            "synchronous_commit": "off" if synchronous in ("off", "normal") else "on",
        }
        # postgres:// is libpq's alias; say postgresql:// to every layer below.
        self._conninfo = "postgresql://" + url.partition("://")[2]
        self._connect_kwargs: dict[str, Any] = {
            "autocommit": True,
            "connect_timeout": max(1, round(connect_timeout)),
            "application_name": "notifykit",
        }
        self._listener: psycopg.Connection[Any] | None = None
        self._listen_lock = threading.Lock()
        self._closed = False
        # A first connection by hand: its error says why (refused, unknown database, bad
        # password...), where a pool only reports that it timed out.
        try:
            probe = psycopg.connect(self._conninfo, **self._connect_kwargs)
        except psycopg.Error as err:
            raise self._error(err, "connecting") from None
        probe.close()
        self._pool: ConnectionPool[Any] = ConnectionPool(
            self._conninfo,
            min_size=1,
            max_size=max(1, pool_size),
            kwargs=self._connect_kwargs,
            configure=self._configure,
            timeout=max(busy_timeout, 1.0),
            name="notifykit-ledger",
            open=False,
        )
        try:
            self._pool.open(wait=True, timeout=max(connect_timeout, 1.0))
            self.migrate(MIGRATIONS)
            with self._pool.connection() as conn:
                row, c = fetch_one(conn.execute("SELECT current_schema() AS schema"))
            schema = row[c.schema] if row else None
            self._channel = work_channel(str(schema) if schema else "public")
        except BaseException as err:
            self._pool.close()
            if isinstance(err, psycopg.Error):
                raise self._error(err, "opening it") from None
            raise

    # -- connections ----------------------------------------------------------------------------

    def _configure(self, conn: psycopg.Connection[Any]) -> None:
        for name, value in self._settings.items():
            conn.execute(f"SET {name} = '{value}'")

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        if self._closed:
            raise LedgerError(f"ledger {self.location} is closed")
        with self._pool.connection() as conn:
            yield conn

    def _signal_work(self, cursor: Any) -> None:
        # Delivered when the transaction commits (and only if it does), to every listener.
        cursor.execute("SELECT pg_notify(%s, '')", (self._channel,))

    def wait_for_work(self, timeout: float) -> bool:
        """Wait for a ``NOTIFY`` from any process (``add()``, a retry, a release) on a
        connection of its own; notifications that arrive between two waits are kept for the
        next one. Falls back to waiting out ``timeout`` while the database is unreachable."""
        import psycopg

        timeout = max(0.0, timeout)
        if not self._listen_lock.acquire(timeout=timeout):
            return False
        try:
            try:
                if self._listener is None or self._listener.closed:
                    # A new LISTEN hears nothing committed before it: report a wake-up, so the
                    # caller claims once more instead of sleeping through work it missed.
                    self._listen()
                    return True
                for _notify in self._listener.notifies(timeout=timeout, stop_after=1):
                    return True
                return False
            except psycopg.Error:
                self._drop_listener()
        finally:
            self._listen_lock.release()
        threading.Event().wait(timeout)
        return False

    def _listen(self) -> psycopg.Connection[Any]:
        import psycopg

        if self._closed:
            raise LedgerError(f"ledger {self.location} is closed")
        if self._listener is None or self._listener.closed:
            listener = psycopg.connect(self._conninfo, **self._connect_kwargs)
            from psycopg import sql

            listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
            self._listener = listener
        return self._listener

    def _drop_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with suppress(Exception):
                listener.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # A waiter returns within its timeout; do not hang a close on it.
        if self._listen_lock.acquire(timeout=5.0):
            try:
                self._drop_listener()
            finally:
                self._listen_lock.release()
        self._pool.close()

    # -- errors ---------------------------------------------------------------------------------

    def _is_db_error(self, err: Exception) -> bool:
        import psycopg

        return isinstance(err, psycopg.Error)

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _error(self, err: Exception, doing: str) -> LedgerError:
        import psycopg
        from psycopg import errors
        from psycopg_pool import PoolTimeout

        text = self._scrub(str(err).strip().splitlines()[0] if str(err).strip() else repr(err))
        if isinstance(err, PoolTimeout):
            hint = (
                f"no database connection came free within {self._busy_timeout:g}s: the pool "
                "is exhausted (fewer worker threads, or a larger pool) or the server is gone"
            )
        elif isinstance(err, errors.LockNotAvailable):
            hint = "a row stayed locked by another session past the busy timeout"
        elif isinstance(err, errors.ReadOnlySqlTransaction):
            hint = "the server is read-only (a standby?): point store: at the primary"
        elif isinstance(err, errors.InsufficientPrivilege):
            hint = f"the database user lacks a privilege notifykit needs: {text}"
        elif isinstance(err, errors.DiskFull):
            hint = "the database server's disk is full: free space; nothing was recorded"
        elif isinstance(err, psycopg.OperationalError):
            hint = (
                f"cannot reach PostgreSQL ({text}): check that it runs and that store: names "
                "the right host, port, database and user"
            )
        elif isinstance(err, psycopg.ProgrammingError) and "conn" in text.lower():
            hint = f"store: is not a valid PostgreSQL URL ({text})"
        else:
            hint = text
        return LedgerError(f"ledger {self.location}: {doing} failed: {hint}")

    def __repr__(self) -> str:
        return f"<PostgresLedger {self.location!r}>"
