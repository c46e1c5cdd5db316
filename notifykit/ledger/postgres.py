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

The server may drop every connection at any moment (a restart, a failover, a PgBouncer restart,
``pg_terminate_backend``): a pooled connection is checked before it is handed out (the server
said something to an idle connection: it is closing it), and the ones it dropped are replaced;
the ``LISTEN`` connection reconnects, with backoff. What fails meanwhile is a
:class:`~notifykit.errors.LedgerUnavailable` (see :func:`transient`), which the worker retries.
The connections carry ``application_name=notifykit`` unless the URL names another.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from notifykit.errors import LedgerUnavailable
from notifykit.ledger.base import DELIVERY_INSERT_COLUMNS, Dialect, LedgerError, SqlLedger
from notifykit.ledger.migrations import MIGRATIONS
from notifykit.ledger.rows import fetch_one

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

__all__ = ["CHANNEL", "PostgresLedger", "display_url", "transient", "work_channel"]

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

#: how long the pool keeps trying to replace a lost connection before it gives up and waits for
#: the next caller to ask (psycopg_pool's own backoff doubles without bound: after a long outage
#: its next attempt could come minutes after the server is back)
RECONNECT_TIMEOUT = 15.0
#: the LISTEN connection's reconnection backoff: first and longest wait (seconds)
LISTEN_RETRY = (0.5, 10.0)


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


#: what libpq says when it connected and was turned away for good (a connection error has no
#: SQLSTATE): a person must change the credentials or the URL
_REFUSED_LOGIN = ("authentication failed", "does not exist", "no pg_hba.conf entry")


def transient(err: Exception) -> bool:
    """Whether a driver error may go away by itself: the connection lost or refused (SQLSTATE
    classes 08 and 57: a restart, a failover, ``pg_terminate_backend``; no connection came free
    from the pool), the server short of a resource (class 53: too many connections, a full
    disk), a lock or a statement timeout, a deadlock or serialization failure. Not a refused
    login (class 28, or libpq's words for it when connecting), a missing privilege or a
    read-only server: those need a person."""
    import psycopg

    if not isinstance(err, psycopg.OperationalError):
        return False
    sqlstate = getattr(err, "sqlstate", None)
    if sqlstate:
        return not sqlstate.startswith("28")
    text = str(err).lower()
    return not any(words in text for words in _REFUSED_LOGIN)


def _has_input(conn: psycopg.Connection[Any]) -> bool:
    """Whether the server sent something to an idle connection: a pooled connection never
    expects anything, so it is the server closing it (``FATAL: terminating connection``, or the
    socket's end). Costs one ``poll()``, not a round trip."""
    import select

    fd = conn.fileno()
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
        return bool(poller.poll(0))
    readable, _, _ = select.select([fd], [], [], 0)  # pragma: no cover - Windows
    return bool(readable)


def _reporting_connection(report: Callable[[Exception | None], None]) -> type[Any]:
    """A psycopg connection class whose ``connect`` tells ``report`` how it went (the error,
    or ``None``): the pool only says that no connection came in time, this says why."""
    import psycopg

    class ReportingConnection(psycopg.Connection[Any]):
        @classmethod
        def connect(cls, *args: Any, **kwargs: Any) -> ReportingConnection:
            try:
                conn = super().connect(*args, **kwargs)
            except psycopg.Error as err:
                report(err)
                raise
            report(None)
            return conn

    ReportingConnection.__qualname__ = ReportingConnection.__name__  # its repr, in pool logs
    return ReportingConnection


def _query_keys(url: str) -> set[str]:
    with suppress(ValueError):
        return {k for k, _ in parse_qsl(urlsplit(url).query)}
    return set()


def _secrets(url: str) -> list[str]:
    found: list[str] = []
    with suppress(ValueError):
        parts = urlsplit(url)
        if parts.password:
            found.append(parts.password)
        found.extend(v for k, v in parse_qsl(parts.query) if "password" in k.lower() and v)
    return found


#: a plan with this many deliveries or more is stored with ``COPY``, outside the pipeline (10,000
#: deliveries: 93 ms and 25 ms of client CPU, against 153 ms and 71 ms for the pipelined
#: INSERTs; 100: 1.6 ms against 2.6 ms); below it, the pipeline's single round trip wins
COPY_ROWS = 100


class PostgresLedger(SqlLedger):
    """A ledger in a PostgreSQL database, at the libpq URL ``url``."""

    bulk_rows = COPY_ROWS

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
        }
        if "application_name" not in _query_keys(url):  # the URL's own wins (pg_stat_activity)
            self._connect_kwargs["application_name"] = "notifykit"
        self._listener: psycopg.Connection[Any] | None = None
        self._listen_lock = threading.Lock()
        #: when the LISTEN connection may be tried again, and the wait after the next failure
        self._listen_after = 0.0
        self._listen_wait = LISTEN_RETRY[0]
        #: why the pool's last connection attempt failed, and whether that may go away by
        #: itself (None: it succeeded)
        self._connect_error: tuple[str, bool] | None = None
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
            check=self._check,
            connection_class=_reporting_connection(self._connected),
            timeout=max(busy_timeout, 1.0),
            reconnect_timeout=RECONNECT_TIMEOUT,
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

    def _connected(self, err: Exception | None) -> None:
        self._connect_error = None if err is None else (self._first_line(err), transient(err))

    def _check(self, conn: psycopg.Connection[Any]) -> None:
        """The pool's check before it hands a connection out: raises for one the server dropped
        (the pool then replaces it). Silent idle connections pass without a round trip; one the
        server spoke to is tested, and when it is dead the other idle ones are tested at once
        (a restart drops them all), instead of one per request with the pool's backoff."""
        import psycopg
        from psycopg_pool import ConnectionPool

        if conn.closed:
            raise psycopg.OperationalError("the connection is closed")
        if not _has_input(conn):
            return
        try:
            ConnectionPool.check_connection(conn)
        except Exception:
            with suppress(Exception):
                self._pool.check()
            raise

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        if self._closed:
            raise LedgerError(f"ledger {self.location} is closed")
        with self._pool.connection() as conn:
            yield conn

    def _pipelined(self, db: Any) -> Any:
        return db.pipeline()

    def _insert_deliveries(self, cur: Any, rows: Sequence[tuple[Any, ...]]) -> None:
        # COPY cannot run in a pipeline: a plan stored in one (fewer than COPY_ROWS deliveries,
        # see add()) or in a routing transaction that is one keeps the INSERTs.
        from psycopg import pq

        if len(rows) < COPY_ROWS or cur.connection.pgconn.pipeline_status != pq.PipelineStatus.OFF:
            super()._insert_deliveries(cur, rows)
            return
        with cur.copy(f"COPY deliveries ({DELIVERY_INSERT_COLUMNS}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

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
                if self._listener is not None and not self._listener.closed:
                    for _notify in self._listener.notifies(timeout=timeout, stop_after=1):
                        return True
                    return False
                if time.monotonic() >= self._listen_after:
                    # A new LISTEN hears nothing committed before it: report a wake-up, so the
                    # caller claims once more instead of sleeping through work it missed.
                    self._listen()
                    self._listen_wait = LISTEN_RETRY[0]
                    return True
            except psycopg.Error:
                # Lost (a restart...) or unreachable: tried again at a later call, with backoff.
                self._listen_after = time.monotonic() + self._listen_wait
                self._listen_wait = min(self._listen_wait * 2, LISTEN_RETRY[1])
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

    def _first_line(self, err: Exception) -> str:
        text = str(err).strip()
        return self._scrub(text.splitlines()[0] if text else repr(err))

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _error(self, err: Exception, doing: str) -> LedgerError:
        """The driver's error as a :class:`LedgerError` (a :class:`LedgerUnavailable` when it
        is :func:`transient`), worded for the person who has to act."""
        import psycopg
        from psycopg import errors
        from psycopg_pool import PoolTimeout

        text = self._first_line(err)
        refused = self._connect_error
        if isinstance(err, PoolTimeout) and refused is not None:
            hint = (
                f"no database connection within {self._busy_timeout:g}s; the last attempt to "
                f"connect failed: {refused[0]}"
            )
            if not refused[1]:  # turned away for good (a password changed...): not transient
                return LedgerError(f"ledger {self.location}: {doing} failed: {hint}")
        elif isinstance(err, PoolTimeout):
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
        kind = LedgerUnavailable if transient(err) else LedgerError
        return kind(f"ledger {self.location}: {doing} failed: {hint}")

    def __repr__(self) -> str:
        return f"<PostgresLedger {self.location!r}>"
