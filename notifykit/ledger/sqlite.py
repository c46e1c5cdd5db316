"""The SQLite ledger: the embedded default, a file next to the config (or ``:memory:``).

Opened in WAL mode (readers never block the writer, and several processes share one file), with a
``busy_timeout`` so concurrent writers wait instead of failing, ``BEGIN IMMEDIATE`` for every write
(a transaction takes the write lock up front, so two workers cannot both read a delivery as
pending and both claim it), and ``synchronous`` as configured: ``full`` (the default) syncs every
commit, so an accepted notification survives a power cut; ``normal`` syncs at checkpoints only,
which survives any crash of the process but may lose the last commits on power loss.

The ledger uses its one connection under a lock. :meth:`SqliteLedger.wait_for_work` wakes up when
this process adds work (``add()``, a retry, a release); work another process adds is found at the
next poll, as SQLite has no way to tell.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from notifykit.ledger.base import Dialect, LedgerError, SqlLedger
from notifykit.ledger.migrations import MIGRATIONS

__all__ = ["SYNCHRONOUS", "SqliteLedger"]

SYNCHRONOUS = ("off", "normal", "full", "extra")


class SqliteLedger(SqlLedger):
    """A ledger in one SQLite file (``path``), or in memory for ``":memory:"``."""

    def __init__(
        self, path: str | Path, *, synchronous: str = "full", busy_timeout: float = 10.0
    ) -> None:
        if synchronous not in SYNCHRONOUS:
            raise LedgerError(
                f"synchronous must be one of {', '.join(SYNCHRONOUS)}, not {synchronous!r}"
            )
        location = str(path)
        memory = location == ":memory:"
        if not memory:
            parent = Path(location).parent
            if not parent.is_dir():
                raise LedgerError(
                    f"ledger {location}: the directory {str(parent)!r} does not exist; create "
                    "it, or point store: at a file in an existing directory"
                )
        try:
            db = sqlite3.connect(
                location, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as err:
            raise LedgerError(f"ledger {location}: opening it failed: {_hint(str(err))}") from None
        super().__init__(Dialect(name="sqlite", begin_write="BEGIN IMMEDIATE"), location)
        self._db = db
        self._lock = threading.RLock()
        self._work = threading.Condition(threading.Lock())
        self._work_pending = False
        try:
            db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            if not memory:
                mode = _enable_wal(db, busy_timeout)
                if mode is None or str(mode[0]).lower() != "wal":
                    raise LedgerError(
                        f"ledger {location}: cannot switch it to WAL mode (is it on a network "
                        "file system?)"
                    )
            db.execute(f"PRAGMA synchronous = {synchronous.upper()}")
            db.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as err:
            db.close()
            raise self._error(err, "opening it") from None
        except LedgerError:
            db.close()
            raise
        try:
            self.migrate(MIGRATIONS)
        except LedgerError:
            db.close()
            raise

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        with self._lock:
            yield self._db

    def _signal_work(self, cursor: Any) -> None:
        # Inside the transaction, but a woken worker's claim() waits for self._lock, so it
        # runs after the commit.
        with self._work:
            self._work_pending = True
            self._work.notify_all()

    def wait_for_work(self, timeout: float) -> bool:
        """Wait for work this process adds (other processes' is found by polling)."""
        with self._work:
            if not self._work_pending:
                self._work.wait(max(0.0, timeout))
            woken, self._work_pending = self._work_pending, False
        return woken

    def close(self) -> None:
        with self._lock, suppress(Exception):
            self._db.close()

    def _is_db_error(self, err: Exception) -> bool:
        return isinstance(err, sqlite3.Error)

    def _error(self, err: Exception, doing: str) -> LedgerError:
        return LedgerError(f"ledger {self.location}: {doing} failed: {_hint(str(err))}")

    def __repr__(self) -> str:
        return f"<SqliteLedger {self.location!r}>"


def _hint(text: str) -> str:
    """What SQLite's error means for the person running notifykit, and what to do."""
    lowered = text.lower()
    if "not a database" in lowered or "malformed" in lowered:
        return (
            "the file is not a SQLite database or is corrupt: move it aside (keep it for "
            "investigation) and notifykit creates a new one"
        )
    if "readonly" in lowered or "read-only" in lowered:
        return "the file or its directory is read-only: notifykit needs to write both"
    if "locked" in lowered or "busy" in lowered:
        return "the database stayed locked by another process past the busy timeout"
    if "disk is full" in lowered or "disk i/o" in lowered:
        return "the disk is full or failing: free space; nothing was recorded"
    if "unable to open" in lowered:
        return (
            "it cannot be opened or created: check that the file and its directory are "
            "writable (SQLite also creates its -wal and -shm files beside it)"
        )
    return text


def open_sqlite(path: str, options: dict[str, Any]) -> SqliteLedger:
    return SqliteLedger(path, **options)


def _enable_wal(db: sqlite3.Connection, busy_timeout: float) -> Any:
    """``PRAGMA journal_mode = WAL``, retried: SQLite answers SQLITE_BUSY at once, without its
    busy handler, while another connection is switching the same new file to WAL, so processes
    opening a new ledger together would otherwise fail."""
    import time

    deadline = time.monotonic() + busy_timeout
    delay = 0.005
    while True:
        try:
            return db.execute("PRAGMA journal_mode = WAL").fetchone()
        except sqlite3.OperationalError as err:
            if "locked" not in str(err).lower() or time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.1)
