"""The SQLite ledger: the embedded default, a file next to the config (or ``:memory:``).

Opened in WAL mode (readers never block the writer, and several processes share one file), with a
``busy_timeout`` so concurrent writers wait instead of failing, ``BEGIN IMMEDIATE`` for every write
(a transaction takes the write lock up front, so two workers cannot both read a delivery as
pending and both claim it), and ``synchronous`` as configured: ``full`` (the default) syncs every
commit, so an accepted notification survives a power cut; ``normal`` syncs at checkpoints only,
which survives any crash of the process but may lose the last commits on power loss.

The ledger uses its one connection under a lock. :meth:`SqliteLedger.wait_for_work` wakes up at
once when this process adds work (``add()``, a retry, a release), and when another process does:
each process committing work announces it, after the commit, to the wake-up sockets of the
processes waiting on the file (:mod:`notifykit.ledger.wakeup`); where a waiter can have no
socket (Windows), it looks at ``PRAGMA data_version`` every :data:`WATCH_INTERVAL` instead.

**Group commit.** Threads calling :meth:`SqliteLedger.add` at once (``submit()`` from a web app's
threads, ``notify()``) share one transaction, and so one fsync at ``synchronous=full``: the first
caller to find no commit under way becomes the *leader*; it takes the connection, then every
``add()`` waiting by then (itself included, at most :data:`GROUP_LIMIT`), writes each one's rows
inside a ``SAVEPOINT`` of its own, and commits once. The others (*followers*) wait until that
commit is done and only then return: an ``add()`` returns only once a commit that includes its rows
succeeded. One caller's bad rows (a failing insert) roll back to its savepoint and fail that
caller alone; a failing ``BEGIN IMMEDIATE`` or ``COMMIT`` fails every caller of the group, none of
which is then accepted. A caller alone pays nothing for it (a group of one, no savepoint). While a
leader commits, the next callers queue up, so the groups grow with the load, never by waiting on a
timer.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from notifykit.errors import LedgerUnavailable
from notifykit.ledger.base import Dialect, LedgerError, SqlLedger
from notifykit.ledger.migrations import MIGRATIONS, Script
from notifykit.ledger.rows import fetch_one
from notifykit.ledger.wakeup import WATCH_INTERVAL, Inbox, WakeDirectory

if TYPE_CHECKING:
    from notifykit.model import Submission
    from notifykit.plan.planner import Plan

__all__ = ["GROUP_LIMIT", "SYNCHRONOUS", "SqliteLedger"]

SYNCHRONOUS = ("off", "normal", "full", "extra")

#: WAL pages after which a commit checkpoints (SQLite's default is 1,000, 4 MiB): a checkpoint
#: costs two fsyncs whatever its size, and with 1,000 they were most of a commit's time at
#: ``synchronous=normal`` (a submit() writes about 12 pages); 8,192 pages (32 MiB) makes them
#: 8x rarer. A WAL file grown past twice that (one big transaction) is trimmed back to twice it.
WAL_CHECKPOINT_PAGES = 8192

#: the most ``add()`` calls one group commit takes (the rest go in the next group), so that a
#: burst of callers does not make the first ones wait for one huge transaction
GROUP_LIMIT = 256

#: what a caller of a group commit gets when the leader writing its rows was interrupted
INTERRUPTED = "the transaction storing it was interrupted; nothing was recorded"


class _Pending:
    """One ``add()`` waiting for a group commit: its arguments, then its result or error."""

    __slots__ = ("done", "error", "lease_owner", "lease_until", "plan", "result", "sending")

    def __init__(
        self,
        plan: Plan,
        lease_owner: str | None,
        lease_until: float | None,
        sending: Collection[str] = (),
    ) -> None:
        self.plan = plan
        self.lease_owner = lease_owner
        self.lease_until = lease_until
        self.sending = sending
        self.result: Submission | None = None
        self.error: BaseException | None = None
        self.done = False


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
        super().__init__(
            Dialect(
                name="sqlite",
                begin_write="BEGIN IMMEDIATE",
                migration_check="PRAGMA foreign_key_check",
            ),
            location,
        )
        self._db = db
        self._busy_timeout = busy_timeout
        self._synchronous = synchronous
        self._memory = memory
        self._opening = True  # until the schema is current
        self._lock = threading.RLock()
        self._holder = threading.local()  # .depth: how deep this thread is in _connection()
        # the group commit: add() calls waiting for one, and whether a leader is at work
        self._group = threading.Condition(threading.Lock())
        self._waiting: list[_Pending] = []
        self._committing = False
        self._work = threading.Condition(threading.Lock())
        self._work_pending = False
        # Other processes' work (none can reach an in-memory database): their announcements
        # come to an inbox (a socket made on the first wait) or, without one, to this process
        # looking at PRAGMA data_version (as last seen here); _announce: this process's
        # transaction made work, to be announced to theirs once it is committed.
        self._wake = None if memory else WakeDirectory(location)
        self._inbox: Inbox | None = None
        self._listened = False
        self._listen_lock = threading.Lock()
        self._announce = False
        self._seen_version: int | None = None
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
            if not memory:
                db.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
                size = db.execute("PRAGMA page_size").fetchone()[0]
                db.execute(f"PRAGMA journal_size_limit = {2 * WAL_CHECKPOINT_PAGES * int(size)}")
        except sqlite3.Error as err:
            db.close()
            raise self._error(err, "opening it") from None
        except LedgerError:
            db.close()
            raise
        try:
            # Migrated with foreign keys off, so that a migration can rebuild a table that
            # others refer to; the migration checks every reference before it commits.
            self.migrate(MIGRATIONS)
            db.execute("PRAGMA foreign_keys = ON")
            if not memory:
                # From here on, any other connection's commit is news to wait_for_work().
                self._seen_version = int(db.execute("PRAGMA data_version").fetchone()[0])
        except LedgerError:
            db.close()
            raise
        except sqlite3.Error as err:
            db.close()
            raise self._error(err, "opening it") from None
        self._opening = False

    @contextmanager
    def _unsynced(self, db: Any) -> Iterator[None]:
        """One transaction at ``synchronous=normal`` when the ledger's is ``full`` or ``extra``:
        in WAL mode its commit then appends to the WAL without an fsync, and the next commit at
        ``full`` (which fsyncs the WAL, earlier frames included) or the next checkpoint makes it
        durable. A crash of the process loses nothing either way (the OS holds the written
        pages); a power cut may lose this commit, never an earlier synced one."""
        if self._synchronous not in ("full", "extra") or self._memory:
            yield
            return
        db.execute("PRAGMA synchronous = NORMAL")
        try:
            yield
        finally:
            db.execute(f"PRAGMA synchronous = {self._synchronous.upper()}")

    def migrate(self, migrations: Iterable[tuple[int, Script]]) -> int:
        """As :meth:`SqlLedger.migrate`, but a ledger whose schema is current is only read, so
        opening one (for ``history``, say) does not wait for another process's write lock."""
        steps = sorted(migrations)
        latest = steps[-1][0] if steps else 0
        with self._connection() as db, suppress(sqlite3.Error):
            row, c = fetch_one(db.execute("SELECT MAX(version) AS version FROM schema_migrations"))
            if row and row[c.version] is not None and int(row[c.version]) == latest:
                return latest
        # A new file, an older schema, a newer one (refused), or an error reading it: the write
        # transaction decides, and reports any error.
        return super().migrate(steps)

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        with self._lock:
            holder = self._holder
            holder.depth = getattr(holder, "depth", 0) + 1
            try:
                yield self._db
            finally:
                holder.depth -= 1
                announce = self._announce and not holder.depth
                if not holder.depth:
                    self._announce = False
        # Reached only when the transaction ended well (committed): other processes' waiters
        # are told after the commit, so what they claim then is there to be claimed.
        if announce and self._wake is not None:
            self._wake.announce(skip=self._inbox.path if self._inbox is not None else None)

    # -- the group commit -----------------------------------------------------------------------

    def add(
        self,
        plan: Plan,
        *,
        lease_owner: str | None = None,
        lease_until: float | None = None,
        sending: Collection[str] = (),
    ) -> Submission:
        """Store a planned notification and its deliveries, committed (in a group commit with
        the other threads' ``add()`` calls of the moment) before it returns. ``sending``: as
        :meth:`SqlLedger.add`."""
        if sending and lease_owner is None:
            raise ValueError("deliveries stored sending need a lease_owner")
        if getattr(self._holder, "depth", 0):
            # Called by a thread that holds the connection (inside a transaction of its own):
            # a leader would wait for it forever. Its own transaction, as before.
            return super().add(
                plan, lease_owner=lease_owner, lease_until=lease_until, sending=sending
            )
        request = _Pending(plan, lease_owner, lease_until, sending)
        with self._group:
            self._waiting.append(request)
            try:
                while self._committing and not request.done:
                    self._group.wait()
            except BaseException:
                # Interrupted while waiting: if no leader took it yet, it is never stored.
                if request in self._waiting:
                    self._waiting.remove(request)
                raise
            lead = not request.done
            if lead:
                self._committing = True
        if lead:
            self._lead(request)
        if request.error is not None:
            raise request.error
        assert request.result is not None
        return request.result

    def _lead(self, own: _Pending) -> None:
        """Commit the ``add()`` calls waiting now (``own``, this thread's, among them), then hand
        over to the next leader."""
        batch: list[_Pending] = []
        try:
            with self._connection():
                with self._group:
                    batch = self._waiting[:GROUP_LIMIT]
                    del self._waiting[:GROUP_LIMIT]
                self._write(batch)
        except BaseException as err:  # interrupted (KeyboardInterrupt, SystemExit...)
            # _write left a result or error on each request if its commit went through (the
            # interrupt came after it), and cleared them if not: those are not stored.
            for request in batch:
                if request.result is None and request.error is None:
                    request.error = LedgerError(f"ledger {self.location}: {INTERRUPTED}")
            own.error = err  # the interrupted thread raises what interrupted it
            raise
        finally:
            with self._group:
                for request in batch:
                    request.done = True
                self._committing = False
                self._group.notify_all()

    def _write(self, batch: list[_Pending]) -> None:
        """One transaction for ``batch``: each request's rows in a savepoint of their own (so
        that a failing insert fails its caller alone), one commit for all. The caller holds the
        connection; this is :meth:`_tx` spelt out, without its context managers."""
        cur: Any = None
        began = False
        try:
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            began = True
            if len(batch) == 1:
                (request,) = batch
                request.result = self._add(
                    cur,
                    request.plan,
                    request.lease_owner,
                    request.lease_until,
                    sending=request.sending,
                )
            else:
                for request in batch:
                    self._write_one(cur, request)
            cur.execute("COMMIT")
        except Exception as err:
            # BEGIN or COMMIT failed, or the transaction broke: nothing of the group was
            # committed, and every caller is told so (each its own exception object, as each
            # raises it in its own thread).
            if cur is not None:
                self._rollback(cur)
            if self._is_db_error(err):
                err = self._error(err, "storing a notification")
            for index, request in enumerate(batch):
                request.result = None
                request.error = (
                    type(err)(*err.args) if index and isinstance(err, LedgerError) else err
                )
        except BaseException:
            # An interrupt is raised between two bytecodes: after BEGIN, a transaction no longer
            # open was committed (the COMMIT returned, the interrupt came right after it).
            if began and not self._db.in_transaction:
                raise
            if cur is not None:
                self._rollback(cur)
            for request in batch:
                request.result = request.error = None  # nothing of the group is stored
            raise

    def _write_one(self, cur: Any, request: _Pending) -> None:
        """One request of a group, in its savepoint: rolled back to it, alone, if it fails."""
        cur.execute("SAVEPOINT nk_add")
        try:
            request.result = self._add(
                cur, request.plan, request.lease_owner, request.lease_until, sending=request.sending
            )
        except Exception as err:
            try:
                cur.execute("ROLLBACK TO nk_add")
            except Exception:
                # SQLite ended the whole transaction (a full disk, an I/O error): the group
                # fails with this error, and nobody is accepted.
                raise err from None
            if self._is_db_error(err):
                err = self._error(err, "storing a notification")
            request.error = err
        cur.execute("RELEASE nk_add")

    def _signal_work(self, cursor: Any) -> None:
        # Inside the transaction, but a woken worker's claim() waits for self._lock, so it
        # runs after the commit.
        with self._work:
            self._work_pending = True
            self._work.notify_all()
        if self._wake is not None:
            self._announce = True
            inbox = self._inbox
            if inbox is not None:
                inbox.poke()

    def wait_for_work(self, timeout: float) -> bool:
        """Wait for work this process adds or another process commits. The first wait makes
        this ledger's wake-up socket and returns at once (work committed before it existed was
        announced to nobody); announcements that come between two waits are kept for the next
        one. Without a socket, any commit by another connection wakes it, within
        :data:`WATCH_INTERVAL` (a heartbeat too: a wake-up is a hint to claim); one made since
        the last wait returned, or since the ledger was opened, wakes the next wait at once."""
        deadline = time.monotonic() + max(0.0, timeout)
        if self._wake is not None and not self._listened:
            with self._listen_lock:
                if not self._listened:
                    self._inbox = self._wake.listen()
                    self._listened = True
                    if self._inbox is not None:
                        return True
        inbox = self._inbox
        if inbox is not None:
            return self._wait_on(inbox, deadline)
        while True:
            with self._work:
                if self._work_pending:
                    self._work_pending = False
                    return True
            if self._seen_version is not None and self._committed_elsewhere(deadline):
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            with self._work:
                if not self._work_pending:
                    self._work.wait(
                        left if self._seen_version is None else min(left, WATCH_INTERVAL)
                    )

    def _wait_on(self, inbox: Inbox, deadline: float) -> bool:
        """Wait on the socket: other processes' announcements, and this process's own pokes
        (:meth:`_signal_work`)."""
        while True:
            with self._work:
                if self._work_pending:
                    self._work_pending = False
                    inbox.take()
                    return True
            left = deadline - time.monotonic()
            if left <= 0:
                if not inbox.intact():
                    self._listen_again(inbox)
                    return True  # the new socket missed what came in between
                return False
            if inbox.wait(left):
                with self._work:
                    self._work_pending = False
                return True

    def _listen_again(self, lost: Inbox) -> None:
        """A new socket for one whose file was removed (or, if none can be had, the
        ``data_version`` watch)."""
        assert self._wake is not None
        with self._listen_lock:
            if self._inbox is lost:
                lost.close()
                self._inbox = self._wake.listen()

    def _committed_elsewhere(self, deadline: float) -> bool:
        """Whether another connection committed since the last look. Best effort: a
        connection busy in another thread of this process (up to a slice), or an error, is
        "no", and the next slice (or the caller's poll) looks again."""
        wait = max(0.0, min(deadline - time.monotonic(), WATCH_INTERVAL))
        if not self._lock.acquire(timeout=wait):
            return False
        try:
            version = int(self._db.execute("PRAGMA data_version").fetchone()[0])
            changed, self._seen_version = version != self._seen_version, version
            return changed
        except sqlite3.Error:
            return False
        finally:
            self._lock.release()

    def close(self) -> None:
        with self._lock, suppress(Exception):
            self._db.close()
        if self._wake is not None:
            with self._listen_lock:
                inbox, self._inbox = self._inbox, None
                self._listened = True  # no new socket after close
            if inbox is not None:
                inbox.close()
            self._wake.close()

    def _is_db_error(self, err: Exception) -> bool:
        return isinstance(err, sqlite3.Error)

    def _error(self, err: Exception, doing: str) -> LedgerError:
        """SQLite's error as a :class:`LedgerError`; a :class:`LedgerUnavailable` when it may
        go away by itself: the file locked by another process past ``busy_timeout``, or a full
        disk (space freed)."""
        text = str(err)
        if _is_locked(text):
            # What it was doing inside (applying migrations...) does not help whoever must find
            # the other process.
            doing = "opening it" if self._opening else doing
            return LedgerUnavailable(
                f"ledger {self.location}: {doing} failed: {_locked(self._busy_timeout)}"
            )
        kind = LedgerUnavailable if "disk is full" in text.lower() else LedgerError
        return kind(f"ledger {self.location}: {doing} failed: {_hint(text)}")

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
    if _is_locked(text):
        return _locked(None)
    if "disk is full" in lowered or "disk i/o" in lowered:
        return "the disk is full or failing: free space; nothing was recorded"
    if "unable to open" in lowered:
        return (
            "it cannot be opened or created: check that the file and its directory are "
            "writable (SQLite also creates its -wal and -shm files beside it)"
        )
    return text


def _is_locked(text: str) -> bool:
    """SQLITE_BUSY ("database is locked") or SQLITE_LOCKED ("database table is locked")."""
    lowered = text.lower()
    return "is locked" in lowered or "database is busy" in lowered


def _locked(busy_timeout: float | None) -> str:
    """SQLITE_BUSY past the busy timeout, for the person who has to find the other process."""
    waited = f" ({busy_timeout:g}s)" if busy_timeout is not None else ""
    return (
        "the database is locked by another process, which held a write transaction for "
        f"longer than store.busy_timeout{waited}: stop that process (another notifykit stuck "
        "in a write, or a sqlite3 shell left inside BEGIN), or raise store.busy_timeout if "
        "it is only slow"
    )


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
