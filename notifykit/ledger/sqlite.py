"""The SQLite ledger: the embedded default, a file next to the config (or ``:memory:``).

Opened in WAL mode (readers never block the writer, and several processes share one file), with a
``busy_timeout`` so concurrent writers wait instead of failing, ``BEGIN IMMEDIATE`` for every write
(a transaction takes the write lock up front, so two workers cannot both read a delivery as
pending and both claim it), and ``synchronous`` as configured: ``full`` (the default) syncs every
commit, so an accepted notification survives a power cut; ``normal`` syncs at checkpoints only,
which survives any crash of the process but may lose the last commits on power loss.
"""

from __future__ import annotations

import sqlite3
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
            raise LedgerError(f"ledger {location}: cannot open it: {err}") from None
        super().__init__(db, Dialect(begin_write="BEGIN IMMEDIATE"), location)
        try:
            db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            if not memory:
                mode = db.execute("PRAGMA journal_mode = WAL").fetchone()
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

    def _is_db_error(self, err: Exception) -> bool:
        return isinstance(err, sqlite3.Error)

    def _error(self, err: Exception, doing: str) -> LedgerError:
        text = str(err)
        lowered = text.lower()
        if "not a database" in lowered or "malformed" in lowered:
            hint = (
                "the file is not a SQLite database or is corrupt: move it aside (keep it for "
                "investigation) and notifykit creates a new one"
            )
        elif "readonly" in lowered or "read-only" in lowered:
            hint = "the file or its directory is read-only: notifykit needs to write both"
        elif "locked" in lowered or "busy" in lowered:
            hint = "the database stayed locked by another process past the busy timeout"
        elif "disk is full" in lowered or "disk i/o" in lowered:
            hint = "the disk is full or failing: free space; nothing was recorded"
        elif "unable to open" in lowered:
            hint = "it cannot be opened: check the path and its permissions"
        else:
            hint = text
        return LedgerError(f"ledger {self.location}: {doing} failed: {hint}")

    def __repr__(self) -> str:
        return f"<SqliteLedger {self.location!r}>"


def open_sqlite(path: str, options: dict[str, Any]) -> SqliteLedger:
    return SqliteLedger(path, **options)
