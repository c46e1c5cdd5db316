"""The ledger's interface and its SQL implementation, shared by every SQL backend.

The ledger records every accepted notification, every delivery, every attempt and every status
event. Its rules are the project's promises:

- :meth:`Ledger.add` writes a notification and all its deliveries in one transaction (or finds the
  earlier one with the same idempotency key), so once ``submit()`` returns nothing is lost.
- :meth:`Ledger.claim` leases due deliveries to one worker; a lease that is not renewed expires,
  so the work of a dead worker is taken over.
- :meth:`Ledger.begin_send` marks deliveries ``sending`` and commits *before* their request goes
  out. A delivery found ``sending`` with an expired lease (:meth:`Ledger.recover`) may have been
  sent: it becomes ``unknown``, never pending again.
- :meth:`Ledger.apply_status` never moves a delivery backwards (see
  :attr:`~notifykit.model.DeliveryState.rank`); every event is kept, applied or not.

:class:`SqlLedger` implements all of it over DB-API connections with a small :class:`Dialect`;
a backend (:mod:`notifykit.ledger.sqlite`, :mod:`notifykit.ledger.postgres`) supplies the
connections (:meth:`SqlLedger._connection`: SQLite its one connection, PostgreSQL one from a pool
per transaction), the dialect and the wake-ups of :meth:`Ledger.wait_for_work`.

Every read-modify-write selects its rows with :attr:`Dialect.row_lock` (``FOR UPDATE`` in
PostgreSQL, where several transactions run at once; SQLite's ``BEGIN IMMEDIATE`` already
serialises writers), so two workers can never both see a delivery as theirs to send.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from notifykit.channels.base import StatusUpdate
from notifykit.errors import LedgerError
from notifykit.ledger.circuits import CircuitStore
from notifykit.ledger.heartbeats import HeartbeatStore
from notifykit.ledger.outcome import Change, Outcome
from notifykit.ledger.rows import Columns, fetch, fetch_one
from notifykit.ledger.state import RoutingState
from notifykit.model import (
    STANDBY,
    Attempt,
    Delivery,
    DeliveryState,
    Notification,
    Report,
    StatusEvent,
    Submission,
    assemble,
)
from notifykit.plan.planner import DeliveryJob, Plan

if TYPE_CHECKING:
    from notifykit.ledger.migrations import Script

__all__ = [
    "Change",
    "DeliveryGauges",
    "Dialect",
    "Ledger",
    "LedgerError",
    "Outcome",
    "SqlLedger",
]

#: the error a delivery gets when the worker that was sending it vanished
LOST_WORKER = (
    "the worker sending it stopped before recording the provider's answer (crashed or killed): "
    "it may have been sent, so it is not sent again"
)


class Ledger(Protocol):
    """What the Notifier, the worker and the status server need from a store."""

    location: str

    def add(
        self,
        plan: Plan,
        *,
        lease_owner: str | None = None,
        lease_until: float | None = None,
        sending: Collection[str] = (),
    ) -> Submission: ...
    def claim(
        self, owner: str, now: float, lease: float, limit: int, ids: Sequence[str] | None = None
    ) -> list[DeliveryJob]: ...
    def begin_send(self, owner: str, ids: Sequence[str], now: float) -> list[str]: ...
    def record(self, owner: str, outcomes: Sequence[Outcome], now: float) -> list[Change]: ...
    def release(self, owner: str, ids: Sequence[str]) -> None: ...
    def renew(self, owner: str, ids: Sequence[str], until: float) -> None: ...
    def recover(self, now: float) -> list[Change]: ...
    def next_due(self) -> float | None: ...
    def notification(self, notification_id: str) -> Notification: ...
    def report(self, notification_id: str, *, detail: bool = False) -> Report: ...
    def reports(self, *, limit: int = 20, state: DeliveryState | None = None) -> list[Report]: ...
    def deliveries(self, ids: Sequence[str]) -> list[Delivery]: ...
    def by_token(self, token: str) -> list[Delivery]: ...
    def by_provider_id(self, provider_id: str, channel_type: str) -> list[Delivery]: ...
    def apply_status(
        self,
        token: str,
        update: StatusUpdate,
        source: str,
        now: float,
        delivery_id: str | None = None,
        *,
        unknown_count: int | None = None,
        unknown_keep: float | None = None,
    ) -> Change | None: ...
    def reconcile_candidates(self, now: float, older_than: float, limit: int) -> list[Delivery]: ...
    def mark_checked(self, ids: Sequence[str], now: float) -> None: ...
    def forget_unknown_events(self, before: float) -> int: ...
    def heartbeat(self, worker: str, host: str, pid: int, now: float) -> None: ...
    def workers(self, now: float, lease: float) -> list[dict[str, Any]]: ...
    def probe(self, name: str, now: float) -> float | None: ...
    def counts(self) -> dict[str, int]: ...
    def gauges(self, now: float, live_within: float) -> DeliveryGauges: ...
    def wait_for_work(self, timeout: float) -> bool: ...
    def close(self) -> None: ...

    #: the routing-state store on the same database (alerts, groups, escalations)
    routing: RoutingState
    #: the heartbeats' store on the same database (:mod:`notifykit.ledger.heartbeats`)
    heartbeats: HeartbeatStore
    #: the circuit breakers' store on the same database (:mod:`notifykit.ledger.circuits`)
    circuits: CircuitStore


@dataclass(frozen=True)
class DeliveryGauges:
    """What the metrics read from the deliveries at each scrape (:meth:`SqlLedger.gauges`)."""

    #: deliveries ``pending`` (due now, or a retry scheduled for later)
    pending: int
    #: the earliest due time among them (``None``: none is pending)
    oldest_due: float | None
    #: deliveries ``unknown`` (may have been sent; never resent)
    unknown: int
    #: workers whose heartbeat is recent (within ``live_within`` seconds)
    workers: int


@dataclass(frozen=True)
class Dialect:
    """What differs between SQL backends."""

    #: the name :func:`notifykit.ledger.migrations.render` spells the DDL for
    name: str
    #: the statement that starts a write transaction (``BEGIN IMMEDIATE`` in SQLite)
    begin_write: str
    #: appended to the claim query's SELECT (``FOR UPDATE SKIP LOCKED`` in PostgreSQL)
    claim_lock: str = ""
    #: appended to the SELECT of every other read-modify-write (``FOR UPDATE`` in PostgreSQL)
    row_lock: str = ""
    #: run first in the migration transaction, so two processes opening a new database
    #: migrate it one at a time (``SELECT pg_advisory_xact_lock(...)`` in PostgreSQL)
    migration_lock: str = ""
    #: run last in the migration transaction: any row it returns is a broken reference between
    #: tables (SQLite migrates with foreign keys off, so that a table can be rebuilt, and checks
    #: them here: ``PRAGMA foreign_key_check``)
    migration_check: str = ""
    #: DB-API placeholder
    param: str = "?"


#: the columns :meth:`SqlLedger._add` stores a new delivery with, in its rows' order
DELIVERY_INSERT_COLUMNS = (
    "id, notification_id, seq, channel, channel_type, recipient, recipient_name, address, "
    "address_kind, text, template, options, info, batch, callback_token, state, due, first_due, "
    "skip_reason, updated, lease_owner, lease_expires, attempts, fallback_of, error"
)

_INSERT_DELIVERY = (
    f"INSERT INTO deliveries ({DELIVERY_INSERT_COLUMNS}) "
    f"VALUES ({', '.join('?' * len(DELIVERY_INSERT_COLUMNS.split(',')))})"
)

_DELIVERY_COLUMNS = (
    "id, notification_id, seq, channel, channel_type, recipient, recipient_name, address, "
    "address_kind, text, template, options, info, batch, callback_token, state, due, "
    "attempts, provider_id, provider_status, provider_detail, error, skip_reason, updated, first_due, "
    "fallback_of"
)

#: what :meth:`SqlLedger.record` reads back: the columns of the :class:`Delivery` it returns, not
#: the text and options a 10,000-number broadcast would fetch 10,000 times for nothing
_RECORD_COLUMNS = (
    "id, notification_id, channel, channel_type, recipient, address, info, callback_token, "
    "state, due, attempts, provider_id, provider_status, provider_detail, lease_owner, fallback_of"
)


#: one encoder for every row (``json.dumps`` with options builds a new one per call)
_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str).encode


def _dumps(value: Any) -> str:
    return _ENCODE(value)


#: a state's text to its member, without the enum's own lookup (once per delivery recorded)
_STATES = {state.value: state for state in DeliveryState}
#: no value yet (not even None)
_NOTHING: Any = object()


class SqlLedger:
    """The ledger over DB-API connections a backend supplies. Thread-safe as long as
    :meth:`_connection` is; every write is one short transaction.

    It is the delivery store; :attr:`routing` is the routing-state store on the same database
    (:class:`~notifykit.ledger.state.RoutingState`)."""

    #: a plan with at least this many deliveries is stored outside the batch mode, so that the
    #: backend may copy its rows in bulk (PostgreSQL's ``COPY``, which a pipeline cannot carry);
    #: ``None``: always batched
    bulk_rows: int | None = None

    def __init__(self, dialect: Dialect, location: str) -> None:
        self._dialect = dialect
        self.location = location
        #: the routing state (alerts, groups, escalations) on the same database
        self.routing = RoutingState(self)
        #: the heartbeats (dead-man's switches, and serve's watch of the workers)
        self.heartbeats = HeartbeatStore(self)
        #: the provider accounts' circuit breakers (:mod:`notifykit.delivery.circuit`)
        self.circuits = CircuitStore(self)

    # -- what a backend supplies ----------------------------------------------------------------

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        """A DB-API connection in autocommit mode (the ledger issues ``BEGIN``/``COMMIT``
        itself), for the length of one transaction or read."""
        raise NotImplementedError
        yield  # pragma: no cover

    def _signal_work(self, cursor: Any) -> None:
        """Called inside a write transaction that made work due (a new delivery, a retry, a
        released lease), for :meth:`wait_for_work` to wake up."""

    def wait_for_work(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for new work (see :meth:`_signal_work`); ``True`` when
        woken by work, ``False`` when the time ran out. Wake-ups are hints: the caller claims
        to find out what, if anything, is due. This base waits the whole timeout."""
        threading.Event().wait(max(0.0, timeout))
        return False

    # -- plumbing -------------------------------------------------------------------------------

    def _sql(self, statement: str) -> str:
        if self._dialect.param == "?":
            return statement
        return statement.replace("?", self._dialect.param)

    def _error(self, err: Exception, doing: str) -> LedgerError:
        """A database error as a :class:`LedgerError`; backends refine the wording."""
        return LedgerError(f"ledger {self.location}: {doing} failed: {err}")

    @contextmanager
    def _db_errors(self, doing: str) -> Iterator[None]:
        """A database error raised inside as a :class:`LedgerError` saying what was being done
        (and nothing chained: the driver's exception may carry the connection's details)."""
        try:
            yield
        except LedgerError:
            raise
        except Exception as err:
            if self._is_db_error(err):
                raise self._error(err, doing) from None
            raise

    @contextmanager
    def _tx(self, doing: str, *, durable: bool = True, batched: bool = False) -> Iterator[Any]:
        """One write transaction. ``durable=False``: its commit need not reach the disk before it
        returns (:meth:`_unsynced`); the next durable commit takes it there. ``batched``: its
        statements may go to the database without waiting for each one's answer, until a result
        is fetched or the transaction ends (:meth:`_pipelined`), so a caller that reads nothing
        back in between makes one round trip for all of them."""
        with ExitStack() as stack:
            with self._db_errors(doing):
                db = stack.enter_context(self._connection())
                if not durable:
                    stack.enter_context(self._unsynced(db))
                cursor = db.cursor()
                if not batched:
                    cursor.execute(self._dialect.begin_write)
            try:
                with self._pipelined(db) if batched else nullcontext():
                    if batched:
                        cursor.execute(self._dialect.begin_write)
                    yield cursor
                    cursor.execute("COMMIT")
            except LedgerError:
                self._rollback(cursor)
                raise
            except BaseException as err:
                self._rollback(cursor)
                if isinstance(err, Exception) and self._is_db_error(err):
                    raise self._error(err, doing) from None
                raise

    def _unsynced(self, db: Any) -> AbstractContextManager[None]:
        """Around one transaction on ``db``: let its commit return before it is on disk, where
        the backend can (SQLite: :meth:`SqliteLedger._unsynced`). By default every commit is
        synced as configured."""
        return nullcontext()

    def _pipelined(self, db: Any) -> AbstractContextManager[Any]:
        """Around one batched transaction on ``db`` (PostgreSQL: psycopg's pipeline mode, in
        which fetching a result sends what is queued and waits for it, and leaving the block
        sends the rest and raises the first error). An embedded database has no round trips."""
        return nullcontext()

    def _rollback(self, cursor: Any) -> None:
        # The transaction may already be gone (a failed COMMIT rolls back by itself).
        with suppress(Exception):
            cursor.execute("ROLLBACK")

    def _is_db_error(self, err: Exception) -> bool:
        return False

    def _read(self, doing: str, statement: str, params: Sequence[Any] = ()) -> list[Any]:
        """The rows of :meth:`_select` alone."""
        return self._select(doing, statement, params)[0]

    def _select(
        self, doing: str, statement: str, params: Sequence[Any] = ()
    ) -> tuple[list[Any], Columns]:
        """The rows of a query run outside any transaction, and where their columns are
        (:func:`~notifykit.ledger.rows.fetch`)."""
        with self._db_errors(doing), self._connection() as db:
            cursor = db.cursor()
            cursor.execute(self._sql(statement), tuple(params))
            return fetch(cursor)

    def _exec(self, cursor: Any, statement: str, params: Sequence[Any] = ()) -> Any:
        cursor.execute(self._sql(statement), tuple(params))
        return cursor

    def _in(self, values: Sequence[Any]) -> str:
        return "(" + ",".join("?" * len(values)) + ")"

    # -- the database, as the routing state uses it (notifykit.ledger.state.Database) ----------

    @property
    def row_lock(self) -> str:
        return self._dialect.row_lock

    def transaction(self, doing: str) -> AbstractContextManager[Any]:
        return self._tx(doing)

    @contextmanager
    def reading(self, doing: str) -> Iterator[Any]:
        with self._db_errors(doing), self._connection() as db:
            yield db.cursor()

    def execute(self, cursor: Any, statement: str, params: Sequence[Any] = ()) -> Any:
        return self._exec(cursor, statement, params)

    def placeholders(self, values: Sequence[Any]) -> str:
        return self._in(values)

    def sql(self, statement: str) -> str:
        return self._sql(statement)

    def signal_work(self, cursor: Any) -> None:
        self._signal_work(cursor)

    def store(
        self,
        cursor: Any,
        plan: Plan,
        owner: str | None,
        until: float | None,
        *,
        alert_key: str | None = None,
        sending: Collection[str] = (),
    ) -> Submission:
        return self._add(cursor, plan, owner, until, alert_key=alert_key, sending=sending)

    # -- accepting ------------------------------------------------------------------------------

    def add(
        self,
        plan: Plan,
        *,
        lease_owner: str | None = None,
        lease_until: float | None = None,
        sending: Collection[str] = (),
    ) -> Submission:
        """Store a planned notification and its deliveries in one transaction; with
        ``lease_owner``, its deliveries start leased to it (``notify()`` sends them itself).

        ``sending``: the ids of deliveries stored already ``sending`` (leased to ``lease_owner``,
        their first attempt opened, as :meth:`begin_send` would in a transaction of its own), so
        the caller may send them as soon as this returns. ``notify()`` does that when no
        ``before_delivery`` hook can veto them: one commit before the request instead of two. A
        duplicate (its key already stored) starts nothing; a crash after the commit leaves them
        ``sending``, and :meth:`recover` makes them ``unknown`` once the lease expires.
        """
        if sending and lease_owner is None:
            raise ValueError("deliveries stored sending need a lease_owner")
        # Batched: on PostgreSQL, BEGIN, the inserts, the wake-up and COMMIT travel together
        # (one round trip; two with a key, whose duplicate check reads one row back). A plan of
        # bulk_rows deliveries or more is not: its rows are copied in bulk instead.
        batched = self.bulk_rows is None or len(plan.jobs) < self.bulk_rows
        with self._tx("storing a notification", batched=batched) as cur:
            return self._add(cur, plan, lease_owner, lease_until, sending=sending)

    def _add(
        self,
        cur: Any,
        plan: Plan,
        lease_owner: str | None,
        lease_until: float | None,
        alert_key: str | None = None,
        *,
        sending: Collection[str] = (),
    ) -> Submission:
        """:meth:`add` inside the caller's transaction (routing stores a notification in the
        transaction that records why it was sent); ``alert_key`` is shown as the report's key."""
        n = plan.notification
        body = {**n.to_dict(), "messages": dict(plan.messages)}
        if alert_key is not None:
            body["alert_key"] = alert_key
        if plan.receiver is not None:
            body["receiver"] = plan.receiver
        if plan.step is not None:
            body["step"] = plan.step
        # ON CONFLICT: another process may be adding the same key right now (PostgreSQL
        # runs both transactions at once); the loser waits for it and stores nothing.
        # Then the key's row says whether this one was stored or an earlier one holds the key
        # (read back, not the insert's row count, which a batched transaction does not have
        # until it ends). Without a key nothing can conflict, and nothing is read.
        self._exec(
            cur,
            "INSERT INTO notifications (id, key, event, severity, created, body) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key) WHERE key IS NOT NULL DO NOTHING",
            (n.id, n.key, n.event, n.severity, n.created, _dumps(body)),
        )
        if n.key is not None:
            found, c = fetch_one(
                self._exec(cur, "SELECT id FROM notifications WHERE key = ?", (n.key,))
            )
            if found is None:  # pragma: no cover - inserted, or held by another
                raise LedgerError(f"ledger {self.location}: storing a notification failed")
            if found[c.id] != n.id:
                return self._duplicate(cur, found[c.id], n.key)
        # The jobs of one channel share their message's options and info objects: encode each
        # object once, not once per delivery (20,000 dumps for a 10,000-number broadcast).
        encoded: dict[int, tuple[Any, str]] = {}

        def dumps(value: Mapping[str, Any]) -> str:
            hit = encoded.get(id(value))
            if hit is None or hit[0] is not value:
                hit = encoded[id(value)] = (value, _dumps(dict(value)))
            return hit[1]

        started = set(sending)
        pending, sending_state = DeliveryState.PENDING.value, DeliveryState.SENDING.value
        skipped = DeliveryState.SKIPPED.value
        rows: list[tuple[Any, ...]] = []
        # the previous job's options and info, and their texts: a channel's jobs share them
        options: Any = _NOTHING
        info: Any = _NOTHING
        options_text = info_text = ""
        for j in plan.jobs:
            if j.options is not options:
                options, options_text = j.options, dumps(j.options)
            if j.info is not info:
                info, info_text = j.info, dumps(j.info)
            begun = j.id in started
            standby = bool(j.fallback_of)
            # A standby fallback is stored skipped, unleased, its reason as its error: nothing
            # claims it until the delivery it stands in for fails (see _activate_fallbacks).
            rows.append(
                (
                    j.id,
                    j.notification_id,
                    j.seq,
                    j.channel,
                    j.channel_type,
                    j.recipient,
                    j.recipient_name,
                    j.address,
                    j.address_kind,
                    j.text,
                    j.template,
                    options_text,
                    info_text,
                    j.batch,
                    j.callback_token,
                    sending_state if begun else skipped if standby else pending,
                    j.due,
                    j.due,
                    j.skip_reason,
                    n.created,
                    None if standby else lease_owner,
                    None if standby else lease_until,
                    1 if begun else 0,
                    j.fallback_of,
                    j.skip_reason if standby else None,
                )
            )
        if started:
            known = {j.id for j in plan.jobs if j.skip_reason is None}
            if not started <= known:
                raise ValueError("only deliveries of this plan that can be sent can start sending")
        self._insert_deliveries(cur, rows)
        if started:
            # The first attempt of each, opened as begin_send opens one (number 1: new rows).
            cur.executemany(
                self._sql(
                    "INSERT INTO attempts (delivery_id, number, worker, started, outcome) "
                    "VALUES (?, 1, ?, ?, 'sending')"
                ),
                [(j.id, lease_owner, n.created) for j in plan.jobs if j.id in started],
            )
        if lease_owner is None and plan.jobs:
            self._signal_work(cur)
        return Submission(n.id, tuple(j.id for j in plan.jobs), False, alert_key or n.key)

    def _insert_deliveries(self, cur: Any, rows: Sequence[tuple[Any, ...]]) -> None:
        """Insert a plan's delivery rows (:data:`DELIVERY_INSERT_COLUMNS`, in that order)."""
        cur.executemany(self._sql(_INSERT_DELIVERY), rows)

    def _duplicate(self, cur: Any, notification_id: str, key: str | None) -> Submission:
        """The submission of notification ``notification_id``, stored earlier with ``key``."""
        rows, c = fetch(
            self._exec(
                cur,
                "SELECT id FROM deliveries WHERE notification_id = ? ORDER BY seq",
                (notification_id,),
            )
        )
        return Submission(notification_id, tuple(r[c.id] for r in rows), True, key)

    # -- working --------------------------------------------------------------------------------

    def claim(
        self, owner: str, now: float, lease: float, limit: int, ids: Sequence[str] | None = None
    ) -> list[DeliveryJob]:
        """Lease up to ``limit`` due pending deliveries (or exactly ``ids``, if due or not)."""
        with self._tx("claiming deliveries") as cur:
            if ids is not None:
                if not ids:
                    return []
                query = (
                    f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE id IN {self._in(ids)} "
                    "AND state = 'pending' AND (lease_expires IS NULL OR lease_expires < ?) "
                    f"ORDER BY seq {self._dialect.claim_lock}"
                )
                params: list[Any] = [*ids, now]
            else:
                query = (
                    f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE state = 'pending' "
                    "AND due <= ? AND (lease_expires IS NULL OR lease_expires < ?) "
                    f"ORDER BY due, notification_id, seq LIMIT ? {self._dialect.claim_lock}"
                )
                params = [now, now, limit]
            rows, c = fetch(self._exec(cur, query, params))
            if not rows:
                return []
            claimed = [r[c.id] for r in rows]
            self._exec(
                cur,
                f"UPDATE deliveries SET lease_owner = ?, lease_expires = ? "
                f"WHERE id IN {self._in(claimed)}",
                (owner, now + lease, *claimed),
            )
        return [self._job(r, c) for r in rows]

    def begin_send(self, owner: str, ids: Sequence[str], now: float) -> list[str]:
        """Mark claimed deliveries ``sending`` (committed) and open an attempt for each; returns
        the ids still leased to ``owner`` — only those may be sent."""
        if not ids:
            return []
        with self._tx("marking deliveries sending") as cur:
            rows, c = fetch(
                self._exec(
                    cur,
                    f"SELECT id, attempts FROM deliveries WHERE id IN {self._in(ids)} "
                    "AND state = 'pending' AND lease_owner = ? AND lease_expires >= ? "
                    f"{self._dialect.row_lock}",
                    (*ids, owner, now),
                )
            )
            mine = [r[c.id] for r in rows]
            if not mine:
                return []
            self._exec(
                cur,
                f"UPDATE deliveries SET state = 'sending', attempts = attempts + 1, updated = ? "
                f"WHERE id IN {self._in(mine)}",
                (now, *mine),
            )
            cur.executemany(
                self._sql(
                    "INSERT INTO attempts (delivery_id, number, worker, started, outcome) "
                    "VALUES (?, ?, ?, ?, 'sending')"
                ),
                [(r[c.id], r[c.attempts] + 1, owner, now) for r in rows],
            )
        order = {i: n for n, i in enumerate(ids)}
        return sorted(mine, key=order.__getitem__)

    def record(self, owner: str, outcomes: Sequence[Outcome], now: float) -> list[Change]:
        """Record what became of claimed deliveries, and release their leases.

        Only where the outcome is still ``owner``'s to record (:func:`_recordable`), so that
        recording again — after an error that may have come after the commit, or late, once the
        ledger is back — never undoes what happened since: a delivery another worker took over,
        or one already recorded and moved on. A delivery left out has no change returned."""
        if not outcomes:
            return []
        changes: list[Change] = []
        # Not synced: the commit before the request (begin_send, or add(sending=...)) was, and
        # that one is what keeps a delivery from being sent twice. Losing this one to a power
        # cut leaves the delivery `sending`, which recovery turns into `unknown`: never resent.
        # The next synced commit (or checkpoint) takes this one to the disk with it.
        with self._tx("recording deliveries", durable=False) as cur:
            ids = [o.delivery_id for o in outcomes]
            rows, c = fetch(
                self._exec(
                    cur,
                    f"SELECT {_RECORD_COLUMNS} FROM deliveries WHERE id IN {self._in(ids)} "
                    f"{self._dialect.row_lock}",
                    ids,
                )
            )
            current = {r[c.id]: r for r in rows}
            # Status events that arrived before their Sid was recorded, for these batches: one
            # query for all of them, so recording a 10,000-number broadcast stays linear.
            tokens = sorted({r[c.callback_token] for r in rows})
            events, e = fetch(
                self._exec(
                    cur,
                    "SELECT DISTINCT provider_id, callback_token FROM status_events "
                    f"WHERE delivery_id IS NULL AND callback_token IN {self._in(tokens)}",
                    tokens,
                )
            )
            orphans = {(r[e.provider_id], r[e.callback_token]) for r in events}
            infos: dict[str, Any] = {}
            delivery_rows: list[tuple[Any, ...]] = []
            attempt_rows: list[tuple[Any, ...]] = []
            pending: list[tuple[Delivery, DeliveryState, str]] = []
            # Where each column is, read once: this loop runs once per delivery of a batch.
            at_state, at_owner, at_info, at_due = c.state, c.lease_owner, c.info, c.due
            at_attempts, at_provider_id = c.attempts, c.provider_id
            at_provider_status, at_token = c.provider_status, c.callback_token
            retry, states = DeliveryState.PENDING, _STATES
            for outcome in outcomes:
                row = current.get(outcome.delivery_id)
                if row is None or not _recordable(
                    row[at_state], row[at_owner], owner, outcome.attempted
                ):
                    continue
                previous = states[row[at_state]]
                # A batch's rows share one info text: decode it once (a copy each, as a
                # delivery's info must not be shared with another's).
                text = row[at_info]
                decoded = infos.get(text)
                if decoded is None:
                    decoded = infos[text] = json.loads(text)
                info = dict(decoded)
                # The info column is rewritten only when the outcome adds to it (NULL keeps it).
                new_info = None
                if outcome.info:
                    info.update(outcome.info)
                    new_info = _dumps(info)
                state = outcome.state
                due = outcome.due if outcome.due is not None else row[at_due]
                delivery_rows.append(
                    (
                        state.value,
                        outcome.provider_id,
                        outcome.provider_status,
                        outcome.error,
                        new_info,
                        due,
                        now,
                        outcome.delivery_id,
                    )
                )
                if outcome.attempted:
                    attempt_rows.append(
                        (
                            now,
                            "retry" if state is retry else state.value,
                            outcome.provider_id,
                            outcome.error,
                            outcome.delivery_id,
                            row[at_attempts],
                        )
                    )
                # Built once from the row and the outcome (not read back, nor copied by
                # dataclasses.replace): what the row holds once the UPDATE below has run.
                # assemble(): every field given, without the frozen __init__'s per-field cost.
                delivery = assemble(
                    Delivery,
                    {
                        "channel": row[c.channel],
                        "channel_type": row[c.channel_type],
                        "recipient": row[c.recipient],
                        "address": row[c.address],
                        "state": state,
                        "provider_id": outcome.provider_id or row[at_provider_id],
                        "provider_status": outcome.provider_status or row[at_provider_status],
                        "error": outcome.error,
                        "info": info,
                        "id": row[c.id],
                        "notification_id": row[c.notification_id],
                        "attempts": int(row[at_attempts]),
                        "provider_detail": row[c.provider_detail],
                        "due": due,
                        "updated": now,
                        "attempt_log": (),
                        "events": (),
                        "fallback_of": row[c.fallback_of],
                    },
                )
                if orphans:
                    pending.append((delivery, previous, row[at_token]))
                else:  # the usual case: no status event came before its Sid
                    changes.append(Change(delivery, previous))
            cur.executemany(
                self._sql(
                    "UPDATE deliveries SET state = ?, provider_id = COALESCE(?, provider_id), "
                    "provider_status = COALESCE(?, provider_status), error = ?, "
                    "info = COALESCE(?, info), due = ?, lease_owner = NULL, lease_expires = NULL, "
                    "updated = ? WHERE id = ?"
                ),
                delivery_rows,
            )
            if attempt_rows:
                cur.executemany(
                    self._sql(
                        "UPDATE attempts SET finished = ?, outcome = ?, provider_id = ?, "
                        "error = ? WHERE delivery_id = ? AND number = ?"
                    ),
                    attempt_rows,
                )
            for delivery, previous, token in pending:
                if delivery.provider_id and (delivery.provider_id, token) in orphans:
                    applied = self._apply_orphans(cur, delivery, token, now)
                    if applied is not None:
                        delivery = applied
                changes.append(Change(delivery, previous))
            handed: list[str] = []
            if any(o.failover for o in outcomes):
                recorded = {change.delivery.id for change in changes}
                handed = [
                    o.delivery_id for o in outcomes if o.failover and o.delivery_id in recorded
                ]
            activated = self._activate_fallbacks(cur, handed, now) if handed else []
            changes.extend(activated)
            if activated or any(o.state is DeliveryState.PENDING for o in outcomes):
                self._signal_work(cur)
        return changes

    def _activate_fallbacks(self, cur: Any, ids: Sequence[str], now: float) -> list[Change]:
        """The standby fallbacks of deliveries ``ids`` (recorded now as failed on the
        provider's side) made due now, in the caller's transaction: the failure and the hand
        over commit together, so a crash loses neither one without the other."""
        # By fallback_of alone, so that both backends search its (partial) index, whatever
        # they know of the table; a standby is told from the rest here.
        found_rows, c = fetch(
            self._exec(
                cur,
                f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE fallback_of IN {self._in(ids)} "
                f"{self._dialect.row_lock}",
                ids,
            )
        )
        rows = [
            r
            for r in found_rows
            if r[c.state] == "skipped" and (r[c.skip_reason] or "").startswith(STANDBY)
        ]
        if not rows:
            return []
        found = [r[c.id] for r in rows]
        self._exec(
            cur,
            "UPDATE deliveries SET state = 'pending', skip_reason = NULL, error = NULL, due = ?, "
            f"first_due = ?, updated = ? WHERE id IN {self._in(found)}",
            (now, now, now, *found),
        )
        return [
            Change(
                dataclasses.replace(
                    self._delivery_from_row(r, c),
                    state=DeliveryState.PENDING,
                    error=None,
                    due=now,
                    updated=now,
                ),
                DeliveryState.SKIPPED,
            )
            for r in rows
        ]

    def release(self, owner: str, ids: Sequence[str]) -> None:
        """Give back claimed deliveries that were not started."""
        if not ids:
            return
        with self._tx("releasing deliveries") as cur:
            self._exec(
                cur,
                f"UPDATE deliveries SET lease_owner = NULL, lease_expires = NULL "
                f"WHERE id IN {self._in(ids)} AND lease_owner = ? AND state = 'pending'",
                (*ids, owner),
            )
            self._signal_work(cur)

    def renew(self, owner: str, ids: Sequence[str], until: float) -> None:
        if not ids:
            return
        with self._tx("renewing leases") as cur:
            self._exec(
                cur,
                f"UPDATE deliveries SET lease_expires = ? WHERE id IN {self._in(ids)} "
                "AND lease_owner = ?",
                (until, *ids, owner),
            )

    def recover(self, now: float) -> list[Change]:
        """Deliveries left ``sending`` by a worker whose lease expired become ``unknown``."""
        with self._tx("recovering deliveries of stopped workers") as cur:
            rows, c = fetch(
                self._exec(
                    cur,
                    f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE state = 'sending' "
                    f"AND (lease_expires IS NULL OR lease_expires < ?) {self._dialect.row_lock}",
                    (now,),
                )
            )
            if not rows:
                return []
            ids = [r[c.id] for r in rows]
            self._exec(
                cur,
                f"UPDATE deliveries SET state = 'unknown', error = ?, lease_owner = NULL, "
                f"lease_expires = NULL, updated = ? WHERE id IN {self._in(ids)}",
                (LOST_WORKER, now, *ids),
            )
            self._exec(
                cur,
                f"UPDATE attempts SET finished = ?, outcome = 'unknown', error = ? "
                f"WHERE delivery_id IN {self._in(ids)} AND finished IS NULL",
                (now, LOST_WORKER, *ids),
            )
        return [
            Change(
                _replace(
                    self._delivery_from_row(r, c),
                    state=DeliveryState.UNKNOWN,
                    error=LOST_WORKER,
                    updated=now,
                ),
                DeliveryState.SENDING,
            )
            for r in rows
        ]

    def next_due(self) -> float | None:
        rows, c = self._select(
            "reading the next due time",
            "SELECT MIN(due) AS due FROM deliveries WHERE state = 'pending'",
        )
        return rows[0][c.due] if rows and rows[0][c.due] is not None else None

    def counts(self) -> dict[str, int]:
        rows, c = self._select(
            "counting deliveries",
            "SELECT state, COUNT(*) AS deliveries FROM deliveries GROUP BY state",
        )
        return {r[c.state]: int(r[c.deliveries]) for r in rows}

    def gauges(self, now: float, live_within: float) -> DeliveryGauges:
        """The deliveries pending (and the earliest due among them), unknown, and the workers
        seen within ``live_within`` seconds, in one query: each count is a range of the
        ``(state, due)`` index, so a scrape costs as much as the rows in those states."""
        rows, c = self._select(
            "reading the delivery gauges",
            "SELECT (SELECT COUNT(*) FROM deliveries WHERE state = 'pending') AS pending, "
            "(SELECT MIN(due) FROM deliveries WHERE state = 'pending') AS oldest_due, "
            "(SELECT COUNT(*) FROM deliveries WHERE state = 'unknown') AS unknown, "
            "(SELECT COUNT(*) FROM workers WHERE heartbeat >= ?) AS workers",
            (now - live_within,),
        )
        r = rows[0]
        oldest = r[c.oldest_due]
        return DeliveryGauges(
            pending=int(r[c.pending]),
            oldest_due=None if oldest is None else float(oldest),
            unknown=int(r[c.unknown]),
            workers=int(r[c.workers]),
        )

    # -- status ---------------------------------------------------------------------------------

    def by_token(self, token: str) -> list[Delivery]:
        rows, c = self._select(
            "looking up a status callback",
            f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE callback_token = ?",
            (token,),
        )
        return [self._delivery_from_row(r, c) for r in rows]

    def by_provider_id(self, provider_id: str, channel_type: str) -> list[Delivery]:
        """The deliveries of channels of ``channel_type`` that the provider knows as
        ``provider_id`` (a reply to a message names the message it answers), newest first."""
        rows, c = self._select(
            "looking up a delivery by its provider id",
            f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE provider_id = ? "
            "AND channel_type = ? ORDER BY updated DESC",
            (provider_id, channel_type),
        )
        return [self._delivery_from_row(r, c) for r in rows]

    def apply_status(
        self,
        token: str,
        update: StatusUpdate,
        source: str,
        now: float,
        delivery_id: str | None = None,
        *,
        unknown_count: int | None = None,
        unknown_keep: float | None = None,
    ) -> Change | None:
        """Apply a provider's status report to the delivery of batch ``token`` with its provider
        id (or to ``delivery_id``); an event for an id not recorded yet is kept and applied when
        it is: at most ``unknown_count`` of them per token (the newest; 0: none), none older than
        ``unknown_keep`` seconds (``None``: no bound). Returns the change, or ``None`` when the
        delivery did not move."""
        with self._tx("recording a status event") as cur:
            if delivery_id is not None:
                query = (
                    f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE id = ? "
                    f"{self._dialect.row_lock}"
                )
                params: list[Any] = [delivery_id]
            else:
                query = (
                    f"SELECT {_DELIVERY_COLUMNS} FROM deliveries "
                    f"WHERE provider_id = ? AND callback_token = ? {self._dialect.row_lock}"
                )
                params = [update.provider_id, token]
            row, c = fetch_one(self._exec(cur, query, params))
            if row is None:
                self._keep_unknown(cur, token, update, source, now, unknown_count, unknown_keep)
                return None
            return self._apply(cur, self._delivery_from_row(row, c), token, update, source, now)

    def forget_unknown_events(self, before: float) -> int:
        """Delete the status events kept for message ids never recorded that arrived before
        ``before``; returns how many."""
        with self._tx("forgetting old unknown callbacks", durable=False) as cur:
            done = self._exec(
                cur,
                "DELETE FROM status_events WHERE delivery_id IS NULL AND received < ?",
                (before,),
            )
            return max(int(getattr(done, "rowcount", 0) or 0), 0)

    def _keep_unknown(
        self,
        cur: Any,
        token: str,
        update: StatusUpdate,
        source: str,
        now: float,
        count: int | None,
        keep: float | None,
    ) -> None:
        """Keep an event for a provider id not recorded (yet), within the bounds."""
        if keep is not None:
            self._exec(
                cur,
                "DELETE FROM status_events WHERE delivery_id IS NULL AND received < ?",
                (now - keep,),
            )
        if count is not None and count <= 0:
            return
        self._insert_event(cur, None, token, update, source, now, applied=False)
        if count is not None:
            self._exec(
                cur,
                "DELETE FROM status_events WHERE delivery_id IS NULL AND callback_token = ? "
                "AND id NOT IN (SELECT id FROM (SELECT id FROM status_events WHERE delivery_id "
                "IS NULL AND callback_token = ? ORDER BY id DESC LIMIT ?) AS newest)",
                (token, token, count),
            )

    def _apply(
        self,
        cur: Any,
        delivery: Delivery,
        token: str | None,
        update: StatusUpdate,
        source: str,
        now: float,
    ) -> Change | None:
        previous = delivery.state
        target = update.state
        moves = (
            target is not None
            and not previous.final
            and target.rank > previous.rank
            and previous is not DeliveryState.PENDING
        )
        self._insert_event(cur, delivery.id, token, update, source, now, applied=moves)
        if not moves:
            if update.provider_status and not previous.final:
                self._exec(
                    cur,
                    "UPDATE deliveries SET provider_status = ?, "
                    "provider_detail = COALESCE(?, provider_detail) WHERE id = ?",
                    (update.provider_status, update.detail, delivery.id),
                )
            return None
        assert target is not None
        error = delivery.error
        if target is DeliveryState.FAILED:
            error = update.detail or update.provider_status or "the provider reported a failure"
        elif target.succeeded:
            error = None
        self._exec(
            cur,
            "UPDATE deliveries SET state = ?, provider_status = COALESCE(?, provider_status), "
            "provider_detail = COALESCE(?, provider_detail), error = ?, updated = ? WHERE id = ?",
            (target.value, update.provider_status, update.detail, error, now, delivery.id),
        )
        changed = _replace(
            delivery,
            state=target,
            provider_status=update.provider_status or delivery.provider_status,
            provider_detail=update.detail or delivery.provider_detail,
            error=error,
            updated=now,
        )
        return Change(changed, previous)

    def _apply_orphans(
        self, cur: Any, delivery: Delivery, token: str, now: float
    ) -> Delivery | None:
        rows, c = fetch(
            self._exec(
                cur,
                "SELECT id, source, provider_status, state, detail, info FROM status_events "
                "WHERE delivery_id IS NULL AND provider_id = ? AND callback_token = ? ORDER BY id",
                (delivery.provider_id, token),
            )
        )
        if not rows:
            return None
        ids = [r[c.id] for r in rows]
        self._exec(cur, f"DELETE FROM status_events WHERE id IN {self._in(ids)}", ids)
        current = delivery
        for r in rows:
            update = StatusUpdate(
                provider_id=delivery.provider_id or "",
                state=DeliveryState(r[c.state]) if r[c.state] else None,
                provider_status=r[c.provider_status],
                detail=r[c.detail],
                info=json.loads(r[c.info] or "{}"),
            )
            change = self._apply(cur, current, token, update, r[c.source], now)
            if change is not None:
                current = change.delivery
        return current

    def _insert_event(
        self,
        cur: Any,
        delivery_id: str | None,
        token: str | None,
        update: StatusUpdate,
        source: str,
        now: float,
        *,
        applied: bool,
    ) -> None:
        self._exec(
            cur,
            "INSERT INTO status_events (delivery_id, callback_token, provider_id, source, "
            "provider_status, state, detail, info, received, applied) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                delivery_id,
                token,
                update.provider_id,
                source,
                update.provider_status,
                None if update.state is None else update.state.value,
                update.detail,
                _dumps(dict(update.info)),
                now,
                1 if applied else 0,
            ),
        )

    def reconcile_candidates(self, now: float, older_than: float, limit: int) -> list[Delivery]:
        """Deliveries accepted (or unknown) with a provider id, no final state, not updated nor
        checked for ``older_than`` seconds: their status callback is late or lost."""
        rows, c = self._select(
            "finding deliveries to reconcile",
            f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE state IN ('sent', 'unknown') "
            "AND provider_id IS NOT NULL AND updated <= ? AND (checked IS NULL OR checked <= ?) "
            "ORDER BY updated LIMIT ?",
            (now - older_than, now - older_than, limit),
        )
        return [self._delivery_from_row(r, c) for r in rows]

    def mark_checked(self, ids: Sequence[str], now: float) -> None:
        if not ids:
            return
        with self._tx("marking deliveries checked") as cur:
            self._exec(
                cur,
                f"UPDATE deliveries SET checked = ? WHERE id IN {self._in(ids)}",
                (now, *ids),
            )

    # -- workers --------------------------------------------------------------------------------

    def heartbeat(self, worker: str, host: str, pid: int, now: float) -> None:
        with self._tx("recording a worker heartbeat") as cur:
            # One statement: an UPDATE-then-INSERT races when two processes share a name.
            self._exec(
                cur,
                "INSERT INTO workers (name, host, pid, started, heartbeat) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET heartbeat = excluded.heartbeat, "
                "host = excluded.host, pid = excluded.pid",
                (worker, host, pid, now, now),
            )

    def probe(self, name: str, now: float) -> float | None:
        """Write ``now`` under ``name`` in a transaction of its own, then read it back in
        another (a health check: ``/readyz``); returns what was read."""
        with self._tx("writing a health probe") as cur:
            self._exec(
                cur,
                "INSERT INTO probes (name, at) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET at = excluded.at",
                (name, now),
            )
        rows, c = self._select(
            "reading a health probe", "SELECT at FROM probes WHERE name = ?", (name,)
        )
        return float(rows[0][c.at]) if rows else None

    def workers(self, now: float, lease: float) -> list[dict[str, Any]]:
        """Workers seen within ``lease`` seconds, with the leases they hold."""
        rows, c = self._select(
            "listing workers",
            "SELECT w.name AS name, w.host AS host, w.pid AS pid, w.started AS started, "
            "w.heartbeat AS heartbeat, (SELECT COUNT(*) FROM deliveries d "
            "WHERE d.lease_owner = w.name AND d.lease_expires >= ?) AS leases "
            "FROM workers w WHERE w.heartbeat >= ? ORDER BY w.name",
            (now, now - lease),
        )
        return [
            {
                "name": r[c.name],
                "host": r[c.host],
                "pid": r[c.pid],
                "started": r[c.started],
                "heartbeat": r[c.heartbeat],
                "leases": int(r[c.leases]),
            }
            for r in rows
        ]

    # -- reading --------------------------------------------------------------------------------

    def notification(self, notification_id: str) -> Notification:
        rows, c = self._select(
            "reading a notification",
            "SELECT body FROM notifications WHERE id = ?",
            (notification_id,),
        )
        if not rows:
            raise LedgerError(f"no notification with id {notification_id!r} in {self.location}")
        return _notification(json.loads(rows[0][c.body]))

    def deliveries(self, ids: Sequence[str]) -> list[Delivery]:
        if not ids:
            return []
        rows, c = self._select(
            "reading deliveries",
            f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE id IN {self._in(ids)}",
            ids,
        )
        by_id = {r[c.id]: self._delivery_from_row(r, c) for r in rows}
        return [by_id[i] for i in ids if i in by_id]

    def report(self, notification_id: str, *, detail: bool = False) -> Report:
        rows, c = self._select(
            "reading a notification",
            "SELECT body FROM notifications WHERE id = ?",
            (notification_id,),
        )
        if not rows:
            raise LedgerError(f"no notification with id {notification_id!r} in {self.location}")
        return self._reports([json.loads(rows[0][c.body])], detail=detail)[0]

    def reports(self, *, limit: int = 20, state: DeliveryState | None = None) -> list[Report]:
        """Notifications newest first (``limit`` 0: all), optionally only those with a delivery in
        ``state``."""
        query = "SELECT body FROM notifications"
        params: list[Any] = []
        if state is not None:
            query += " WHERE id IN (SELECT notification_id FROM deliveries WHERE state = ?)"
            params.append(state.value)
        query += " ORDER BY created DESC, id DESC"
        if limit:
            query += " LIMIT ?"
            params.append(limit)
        rows, c = self._select("listing notifications", query, params)
        bodies = [json.loads(r[c.body]) for r in rows]
        return self._reports(bodies, detail=False)

    def _reports(self, bodies: list[dict[str, Any]], *, detail: bool) -> list[Report]:
        if not bodies:
            return []
        ids = [b["id"] for b in bodies]
        rows, c = self._select(
            "reading deliveries",
            f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE notification_id IN {self._in(ids)} "
            "ORDER BY notification_id, seq",
            ids,
        )
        per: dict[str, list[Delivery]] = {i: [] for i in ids}
        for r in rows:
            per[r[c.notification_id]].append(self._delivery_from_row(r, c))
        if detail:
            per = {i: self._with_detail(ds) for i, ds in per.items()}
        return [
            Report(
                event=b["event"],
                severity=b["severity"],
                deliveries=tuple(per[b["id"]]),
                messages=b.get("messages") or {},
                id=b["id"],
                # a routed notification shows its alert key (what ack/resolve take)
                key=b.get("alert_key") or b.get("key"),
                created=b["created"],
                receiver=b.get("receiver"),
                step=b.get("step"),
            )
            for b in bodies
        ]

    def _with_detail(self, deliveries: list[Delivery]) -> list[Delivery]:
        if not deliveries:
            return deliveries
        ids = [d.id for d in deliveries]
        attempts: dict[str, list[Attempt]] = {i: [] for i in ids}
        rows, c = self._select(
            "reading attempts",
            "SELECT delivery_id, number, started, finished, outcome, worker, provider_id, error "
            f"FROM attempts WHERE delivery_id IN {self._in(ids)} ORDER BY delivery_id, number",
            ids,
        )
        for r in rows:
            attempts[r[c.delivery_id]].append(
                Attempt(
                    number=r[c.number],
                    started=r[c.started],
                    finished=r[c.finished],
                    outcome=r[c.outcome],
                    worker=r[c.worker],
                    provider_id=r[c.provider_id],
                    error=r[c.error],
                )
            )
        events: dict[str, list[StatusEvent]] = {i: [] for i in ids}
        rows, c = self._select(
            "reading status events",
            "SELECT delivery_id, received, source, provider_status, state, detail, applied "
            f"FROM status_events WHERE delivery_id IN {self._in(ids)} ORDER BY delivery_id, id",
            ids,
        )
        for r in rows:
            events[r[c.delivery_id]].append(
                StatusEvent(
                    received=r[c.received],
                    source=r[c.source],
                    provider_status=r[c.provider_status],
                    state=DeliveryState(r[c.state]) if r[c.state] else None,
                    detail=r[c.detail],
                    applied=bool(r[c.applied]),
                )
            )
        return [
            _replace(d, attempt_log=tuple(attempts[d.id]), events=tuple(events[d.id]))
            for d in deliveries
        ]

    # -- schema ---------------------------------------------------------------------------------

    def migrate(self, migrations: Iterable[tuple[int, Script]]) -> int:
        """Apply, in one write transaction, the migrations newer than the database's schema
        version; returns the version. Refuses a database made by a newer notifykit."""
        import time

        from notifykit.ledger.migrations import render

        with self._tx("applying migrations") as cur:
            if self._dialect.migration_lock:
                cur.execute(self._dialect.migration_lock)
            cur.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, applied DOUBLE PRECISION NOT NULL)"
            )
            cur.execute("SELECT MAX(version) AS version FROM schema_migrations")
            row, c = fetch_one(cur)
            current = int(row[c.version]) if row and row[c.version] is not None else 0
            steps = sorted(migrations)
            latest = steps[-1][0] if steps else 0
            start = current
            if current > latest:
                raise LedgerError(
                    f"ledger {self.location} has schema version {current}, newer than this "
                    f"notifykit knows ({latest}): upgrade notifykit, or point store: elsewhere"
                )
            for version, script in steps:
                if version <= current:
                    continue
                for statement in (s.strip() for s in render(script, self._dialect.name).split(";")):
                    if statement:
                        cur.execute(statement)
                self._exec(
                    cur,
                    "INSERT INTO schema_migrations (version, applied) VALUES (?, ?)",
                    (version, time.time()),
                )
                current = version
            if self._dialect.migration_check and current > start:
                cur.execute(self._dialect.migration_check)
                if cur.fetchall():
                    raise LedgerError(
                        f"ledger {self.location}: its tables refer to rows that are not there "
                        "after the upgrade; nothing was changed (restore it from a backup, or "
                        "point store: elsewhere)"
                    )
        return current

    # -- rows -----------------------------------------------------------------------------------

    @staticmethod
    def _job(r: Sequence[Any], c: Columns) -> DeliveryJob:
        """A delivery row (:data:`_DELIVERY_COLUMNS`) as the job that sends it."""
        return DeliveryJob(
            id=r[c.id],
            notification_id=r[c.notification_id],
            seq=r[c.seq],
            channel=r[c.channel],
            channel_type=r[c.channel_type],
            recipient=r[c.recipient],
            recipient_name=r[c.recipient_name],
            address=r[c.address],
            address_kind=r[c.address_kind],
            text=r[c.text],
            template=r[c.template],
            options=json.loads(r[c.options]),
            info=json.loads(r[c.info]),
            batch=r[c.batch],
            callback_token=r[c.callback_token],
            due=r[c.due],
            skip_reason=r[c.skip_reason],
            attempts=int(r[c.attempts]),
            first_due=r[c.first_due],
            fallback_of=r[c.fallback_of],
        )

    @staticmethod
    def _delivery_from_row(r: Sequence[Any], c: Columns) -> Delivery:
        """A delivery row (:data:`_DELIVERY_COLUMNS`) as a :class:`Delivery`."""
        return Delivery(
            channel=r[c.channel],
            channel_type=r[c.channel_type],
            recipient=r[c.recipient],
            address=r[c.address],
            state=DeliveryState(r[c.state]),
            provider_id=r[c.provider_id],
            provider_status=r[c.provider_status],
            error=r[c.error],
            info=json.loads(r[c.info]),
            id=r[c.id],
            notification_id=r[c.notification_id],
            attempts=int(r[c.attempts]),
            provider_detail=r[c.provider_detail],
            due=r[c.due],
            updated=r[c.updated],
            fallback_of=r[c.fallback_of],
        )

    def close(self) -> None:
        """Release the connections; the ledger cannot be used afterwards."""


def _recordable(state: str, lease_owner: str | None, owner: str, attempted: bool) -> bool:
    """Whether ``owner`` may record an outcome for a delivery now ``state``, leased to
    ``lease_owner``. One whose request went out (``attempted``): while it is ``sending`` under
    ``owner``'s lease, or after its lease ran out (``unknown``, unleased: the outcome is what
    really happened, and ``unknown`` is never sent again anyway). One whose request never went
    out (a veto, a skip): while it is still ``pending`` and leased to ``owner``."""
    if attempted:
        return state in ("sending", "unknown") and lease_owner in (owner, None)
    return state == "pending" and lease_owner == owner


def _replace(delivery: Delivery, **changes: Any) -> Delivery:
    import dataclasses

    return dataclasses.replace(delivery, **changes)


def _notification(body: Mapping[str, Any]) -> Notification:
    return Notification(
        event=body["event"],
        severity=body["severity"],
        data=body.get("data") or {},
        template=body.get("template"),
        channels=tuple(body.get("channels") or ()),
        recipients=tuple(body.get("recipients") or ()),
        id=body["id"],
        key=body.get("key"),
        created=body["created"],
    )
