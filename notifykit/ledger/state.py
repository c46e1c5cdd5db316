"""The routing-state store: alerts, alert groups and their notification log, escalations and their
steps, webhook idempotency, the ack-link secret (tables of schema versions 2 and 3) and the audit
trail (version 4: :mod:`notifykit.ledger.audit`).

It stores; it decides nothing. The pipeline (:mod:`notifykit.pipeline`) reads a group's state,
decides with the pure rules of :mod:`notifykit.routing`, and writes what it decided, all inside
one :meth:`RoutingState.unit` — one transaction, with the group's row locked — so the decision is
exactly-once across processes (two workers flushing the same group send it once) while the logic
stays in routing code::

    with state.unit("routing an alert") as unit:
        group = unit.open_group(receiver, key, route, now)
        group.add(alert, now)
        ...                         # the pipeline's stages decide
        unit.store(plan, owner=..., alert_key=str(key))
        group.logged(entry, notification_id)

Rows are read by column name (:mod:`notifykit.ledger.rows`). Times are epoch seconds, as everywhere
in the ledger.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from notifykit.ledger import audit as _audit
from notifykit.ledger import overrides as _overrides
from notifykit.ledger import silences as _silences
from notifykit.ledger.rows import Columns, as_dict, fetch, fetch_one
from notifykit.routing.alert import Alert, AlertKey
from notifykit.routing.lifecycle import GroupRoute, LogEntry, Member

if TYPE_CHECKING:
    from collections.abc import Collection

    from notifykit.ledger.audit import Acting, AuditRecord
    from notifykit.model import Submission
    from notifykit.oncall.overrides import StoredOverride
    from notifykit.plan.planner import Plan
    from notifykit.routing.matchers import Matcher
    from notifykit.routing.silences import Silence

__all__ = [
    "EscalationRecord",
    "Group",
    "GroupSnapshot",
    "RoutingGauges",
    "RoutingState",
    "StepRecord",
    "Unit",
    "alert_from_json",
    "alert_to_json",
]


def alert_to_json(alert: Alert) -> dict[str, Any]:
    return {
        "event": alert.event,
        "severity": alert.severity,
        "labels": dict(alert.labels),
        "data": dict(alert.data),
        "key": alert.key,
        "resolved": alert.resolved,
        **({"timeout": alert.timeout} if alert.timeout is not None else {}),
    }


def alert_from_json(body: Any) -> Alert:
    value = json.loads(body) if isinstance(body, str) else body
    return Alert(
        value["event"],
        value["severity"],
        value.get("labels") or {},
        value.get("data") or {},
        key=value.get("key"),
        resolved=bool(value.get("resolved")),
        timeout=value.get("timeout"),
    )


_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str).encode


def _dumps(value: Any) -> str:
    return _ENCODE(value)


@dataclass(frozen=True)
class EscalationRecord:
    """One escalation: ``state`` is ``active``, ``acked``, ``snoozed``, ``resolved`` or
    ``done``."""

    id: str
    receiver: str
    policy: str
    key: str
    alert: Alert
    ack_id: str
    state: str
    started_at: float
    acked_at: float | None = None
    acked_by: str | None = None
    resolved_at: float | None = None
    group_hash: str = ""
    #: how it was acknowledged: ``link`` (an ack link), or ``None`` (said by ``acked_by``)
    acked_via: str | None = None
    #: when an acknowledged escalation re-opens (``ack_timeout``) or a snoozed one resumes
    wake_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "receiver": self.receiver,
            "policy": self.policy,
            "key": self.key,
            "event": self.alert.event,
            "state": self.state,
            "started_at": self.started_at,
            "acked_at": self.acked_at,
            "acked_by": self.acked_by,
            "acked_via": self.acked_via,
            "resolved_at": self.resolved_at,
            "wake_at": self.wake_at,
        }


@dataclass(frozen=True)
class StepRecord:
    """One step of an escalation: ``state`` is ``pending``, ``sent``, ``skipped`` or
    ``cancelled``; ``failures`` counts attempts to plan it that failed (each retried later)."""

    escalation_id: str
    loop: int
    index: int
    due_at: float
    state: str
    notification_id: str | None = None
    failures: int = 0


_ESCALATION = (
    "id, receiver, policy, group_hash, group_text, body, ack_id, state, started_at, acked_at, "
    "acked_by, resolved_at, acked_via, wake_at"
)
_STEP = "escalation_id, loop_no, step_no, due_at, state, notification_id, failures"
#: an escalation that holds its alerts open: running, out of steps unanswered, snoozed, or
#: acknowledged with a timeout that re-opens it
_OPEN = "(state IN ('active', 'done', 'snoozed') OR (state = 'acked' AND wake_at IS NOT NULL))"


@dataclass(frozen=True)
class RoutingGauges:
    """What the metrics read from the routing state at each scrape
    (:meth:`RoutingState.gauges`)."""

    #: alerts firing (as :meth:`RoutingState.firing_alerts` counts them)
    open_alerts: int
    #: open escalations (``active``, or ``done``: out of steps, nobody answered) by
    #: ``(policy, state, step)``; ``step`` is the last step sent, ``"<round>.<index>"`` as the
    #: CLI shows it, or ``"none"``
    escalations: dict[tuple[str, str, str], int]


def _escalation(r: Sequence[Any], c: Columns) -> EscalationRecord:
    return EscalationRecord(
        id=r[c.id],
        receiver=r[c.receiver],
        policy=r[c.policy],
        key=r[c.group_text],
        alert=alert_from_json(r[c.body]),
        ack_id=r[c.ack_id],
        state=r[c.state],
        started_at=r[c.started_at],
        acked_at=r[c.acked_at],
        acked_by=r[c.acked_by],
        resolved_at=r[c.resolved_at],
        group_hash=r[c.group_hash],
        acked_via=r[c.acked_via],
        wake_at=r[c.wake_at],
    )


def _step(r: Sequence[Any], c: Columns) -> StepRecord:
    return StepRecord(
        escalation_id=r[c.escalation_id],
        loop=int(r[c.loop_no]),
        index=int(r[c.step_no]),
        due_at=r[c.due_at],
        state=r[c.state],
        notification_id=r[c.notification_id],
        failures=int(r[c.failures] or 0),
    )


@dataclass(frozen=True)
class GroupSnapshot:
    """One group as ``notifykit alerts`` reads it: its route, timer, notification-log entry,
    members, and its newest escalation that is not resolved (running, out of steps, or
    acknowledged) with its steps."""

    receiver: str
    key: AlertKey
    route: GroupRoute
    flush_due: float | None
    entry: LogEntry | None
    members: tuple[Member, ...]
    escalation: EscalationRecord | None = None
    steps: tuple[StepRecord, ...] = ()


@dataclass
class Group:
    """One alert group (a receiver and a group key), its row locked by the :class:`Unit` that
    loaded it. Changes are written at once, inside that unit's transaction.

    ``flush_due`` is the group's timer (``None``: stopped, the group has no alerts); ``entry``
    the notification log's entry (``None``: the receiver was never told of this group);
    ``escalation`` its active escalation, if any.
    """

    unit: Unit
    receiver: str
    key: AlertKey
    route: GroupRoute
    first_seen: float
    flush_due: float | None
    entry: LogEntry | None
    failures: int
    members: dict[str, Member] = field(default_factory=dict)
    escalation: EscalationRecord | None = None
    last_notification: str | None = None

    @property
    def new(self) -> bool:
        """The group has no alerts (it is starting, or starting again)."""
        return not self.members

    def add(self, alert: Alert, now: float) -> Member:
        """Add (or raise again, or resolve) ``alert`` in the group."""
        digest = alert.key_for().digest
        old = self.members.get(digest)
        if alert.resolved:
            if old is None:
                member = Member(alert, digest, now, now, now)
            else:
                member = replace(
                    old, alert=replace(alert, resolved=True), resolved_at=old.resolved_at or now
                )
        elif old is None or old.resolved_at is not None:
            member = Member(alert, digest, now, now, None)  # firing (again): a new start
        else:
            member = replace(old, alert=alert, last_raised=now)
        self.members[digest] = member
        self.unit._exec(
            "INSERT INTO group_members (receiver, group_hash, alert_hash, body, resolved, "
            "joined_at, starts_at, last_raised, resolved_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (receiver, group_hash, alert_hash) DO UPDATE SET body = excluded.body, "
            "resolved = excluded.resolved, starts_at = excluded.starts_at, "
            "last_raised = excluded.last_raised, resolved_at = excluded.resolved_at",
            (
                self.receiver,
                self.key.digest,
                digest,
                _dumps(alert_to_json(member.alert)),
                1 if member.resolved_at is not None else 0,
                now,
                member.starts_at,
                member.last_raised,
                member.resolved_at,
            ),
        )
        return member

    def drop(self, digests: Collection[str]) -> None:
        """Remove alerts from the group (resolved ones, once a flush has seen them)."""
        gone = [d for d in digests if d in self.members]
        if not gone:
            return
        for digest in gone:
            del self.members[digest]
        self.unit._exec(
            f"DELETE FROM group_members WHERE receiver = ? AND group_hash = ? "
            f"AND alert_hash IN {self.unit._in(gone)}",
            (self.receiver, self.key.digest, *gone),
        )

    def schedule(self, due: float | None, *, failures: int = 0) -> None:
        """Set the group's timer (``None``: stop it) and its count of failed flushes."""
        self.flush_due = due
        self.failures = failures
        self.unit._exec(
            "UPDATE notification_log SET flush_due = ?, failures = ? "
            "WHERE receiver = ? AND group_hash = ?",
            (due, failures, self.receiver, self.key.digest),
        )
        if due is not None:
            self.unit.signal_work()

    def restart(self, now: float) -> None:
        """The group starts again (its first alert since it emptied): ``group_wait`` counts
        from now, with the route as configured now."""
        self.first_seen = now
        self.unit._exec(
            "UPDATE notification_log SET first_seen = ?, route = ?, settings = ? "
            "WHERE receiver = ? AND group_hash = ?",
            (
                now,
                _dumps(self.route.to_json()),
                _dumps(self.route.to_json()["settings"]),
                self.receiver,
                self.key.digest,
            ),
        )

    def logged(self, entry: LogEntry, notification_id: str | None) -> None:
        """Write the notification log's entry: what the receiver has now been told."""
        self.entry = entry
        if notification_id is not None:
            self.last_notification = notification_id
        self.unit._exec(
            "UPDATE notification_log SET last_sent = ?, firing = ?, resolved = ?, "
            "last_notification = COALESCE(?, last_notification) "
            "WHERE receiver = ? AND group_hash = ?",
            (
                entry.sent_at,
                _dumps(sorted(entry.firing)),
                _dumps(sorted(entry.resolved)),
                notification_id,
                self.receiver,
                self.key.digest,
            ),
        )


class Database(Protocol):
    """What the routing state needs of the database its ledger runs on
    (:class:`~notifykit.ledger.base.SqlLedger` has it)."""

    @property
    def row_lock(self) -> str:
        """Appended to a SELECT whose rows a transaction will write (``FOR UPDATE``)."""
        ...

    def transaction(self, doing: str) -> AbstractContextManager[Any]:
        """A write transaction's cursor, committed when the block ends (rolled back on error)."""
        ...

    def reading(self, doing: str) -> AbstractContextManager[Any]:
        """A cursor for reads outside any transaction of ours."""
        ...

    def execute(self, cursor: Any, statement: str, params: Sequence[Any] = ()) -> Any: ...

    def placeholders(self, values: Sequence[Any]) -> str:
        """``(?, ?, ...)`` for ``values``."""
        ...

    def sql(self, statement: str) -> str:
        """``statement`` in the driver's placeholder style."""
        ...

    def signal_work(self, cursor: Any) -> None:
        """Inside a transaction that made work due: wake idle workers once it commits."""
        ...

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
        """Store a notification and its deliveries in the caller's transaction."""
        ...


class Unit:
    """One transaction of the routing state (see :meth:`RoutingState.unit`)."""

    def __init__(self, db: Database, cursor: Any) -> None:
        self._db = db
        self._cursor = cursor

    # -- plumbing ---------------------------------------------------------------------------------

    def _exec(self, statement: str, params: Sequence[Any] = ()) -> Any:
        return self._db.execute(self._cursor, statement, params)

    def _in(self, values: Sequence[Any]) -> str:
        return self._db.placeholders(values)

    @property
    def _row_lock(self) -> str:
        return self._db.row_lock

    def signal_work(self) -> None:
        self._db.signal_work(self._cursor)

    # -- alerts -------------------------------------------------------------------------------------

    def record_alert(self, alert: Alert, now: float) -> AlertKey:
        """Remember ``alert`` (firing, or resolved) under its full key; returns the key."""
        key = alert.key_for()
        self._exec(
            "INSERT INTO alerts (key_hash, key_text, event, severity, labels, body, "
            "first_seen, last_seen, resolved_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (key_hash) DO UPDATE SET severity = excluded.severity, "
            "labels = excluded.labels, body = excluded.body, last_seen = excluded.last_seen, "
            "resolved_at = excluded.resolved_at",
            (
                key.digest,
                key.text,
                alert.event,
                alert.severity,
                _dumps(dict(alert.labels)),
                _dumps(alert_to_json(alert)),
                now,
                now,
                now if alert.resolved else None,
            ),
        )
        return key

    def firing_alerts(self, now: float, resolve_timeout: float) -> list[Alert]:
        """Every alert firing at ``now``: the sources of inhibition."""
        return _firing(self._exec, now, resolve_timeout)

    # -- groups -------------------------------------------------------------------------------------

    def open_group(self, receiver: str, key: AlertKey, route: GroupRoute, now: float) -> Group:
        """The group ``key`` of ``receiver``, made if it does not exist, its row locked."""
        self._exec(
            "INSERT INTO notification_log (receiver, group_hash, group_text, first_seen, "
            "settings, route) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (receiver, group_hash) DO NOTHING",
            (
                receiver,
                key.digest,
                key.text,
                now,
                _dumps(route.to_json()["settings"]),
                _dumps(route.to_json()),
            ),
        )
        group = self.group(receiver, key.digest)
        assert group is not None  # inserted above, in this transaction
        return group

    def group(self, receiver: str, group_hash: str) -> Group | None:
        """The group of ``receiver`` with this key digest, its row locked; ``None``: none."""
        row, g = fetch_one(
            self._exec(
                "SELECT group_text, first_seen, last_sent, flush_due, settings, route, firing, "
                "resolved, failures, last_notification FROM notification_log "
                f"WHERE receiver = ? AND group_hash = ? {self._row_lock}",
                (receiver, group_hash),
            )
        )
        if row is None:
            return None
        route = GroupRoute.from_json(json.loads(row[g.route] or row[g.settings]))
        members: dict[str, Member] = {}
        rows, c = fetch(
            self._exec(
                "SELECT alert_hash, body, resolved, joined_at, starts_at, last_raised, "
                "resolved_at FROM group_members WHERE receiver = ? AND group_hash = ? "
                "ORDER BY joined_at, alert_hash",
                (receiver, group_hash),
            )
        )
        for m in rows:
            joined = m[c.joined_at]
            resolved_at = m[c.resolved_at]
            if resolved_at is None and m[c.resolved]:  # a row written before schema 3
                resolved_at = joined
            members[m[c.alert_hash]] = Member(
                alert_from_json(m[c.body]),
                m[c.alert_hash],
                m[c.starts_at] if m[c.starts_at] is not None else joined,
                m[c.last_raised] if m[c.last_raised] is not None else joined,
                resolved_at,
            )
        entry = None
        if row[g.last_sent] is not None:
            if row[g.firing] is None:
                # Sent before schema 3 (no sets kept): count what is firing now as told, so the
                # upgrade sends nothing again.
                firing = frozenset(d for d, m in members.items() if m.resolved_at is None)
                resolved: frozenset[str] = frozenset()
            else:
                firing = frozenset(json.loads(row[g.firing]))
                resolved = frozenset(json.loads(row[g.resolved] or "[]"))
            entry = LogEntry(firing, resolved, row[g.last_sent])
        # The group's open escalation: running, or out of steps with nobody having answered
        # (its alert stays open until acknowledged or resolved, as a PagerDuty incident), or
        # snoozed, or acknowledged with a timeout (it re-opens unless resolved first).
        active, e = fetch_one(
            self._exec(
                f"SELECT {_ESCALATION} FROM escalations WHERE receiver = ? AND group_hash = ? "
                f"AND {_OPEN} ORDER BY started_at DESC LIMIT 1",
                (receiver, group_hash),
            )
        )
        return Group(
            self,
            receiver,
            AlertKey(row[g.group_text]),
            route,
            row[g.first_seen],
            row[g.flush_due],
            entry,
            int(row[g.failures] or 0),
            members,
            _escalation(active, e) if active else None,
            row[g.last_notification],
        )

    # -- notifications ------------------------------------------------------------------------------

    def store(
        self,
        plan: Plan,
        *,
        owner: str | None = None,
        until: float | None = None,
        sending: Collection[str] = (),
        alert_key: str | None = None,
    ) -> Submission:
        """Store a planned notification and its deliveries in this transaction (leased to
        ``owner`` until ``until``; ``sending``: stored already ``sending``, as
        :meth:`~notifykit.ledger.base.SqlLedger.add`)."""
        return self._db.store(
            self._cursor, plan, owner, until, alert_key=alert_key, sending=sending
        )

    # -- escalations --------------------------------------------------------------------------------

    def start_escalation(
        self,
        receiver: str,
        key: AlertKey,
        policy: str,
        steps: Sequence[tuple[int, int, float]],
        alert: Alert,
        now: float,
    ) -> EscalationRecord:
        """Start an escalation with every step ``(loop, index, due)`` pending."""
        from notifykit.plan.planner import new_id

        escalation_id = new_id()
        # 8 random bytes: the id an ack link names (signed: see the pipeline's ack links)
        ack_id = secrets.token_urlsafe(8)
        self._exec(
            f"INSERT INTO escalations ({_ESCALATION}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, 'active', ?, NULL, NULL, NULL, NULL, NULL)",
            (
                escalation_id,
                receiver,
                policy,
                key.digest,
                key.text,
                _dumps(alert_to_json(alert)),
                ack_id,
                now,
            ),
        )
        self._cursor.executemany(
            self._db.sql(
                "INSERT INTO escalation_steps (escalation_id, loop_no, step_no, due_at, state) "
                "VALUES (?, ?, ?, ?, 'pending')"
            ),
            [(escalation_id, loop, index, due) for loop, index, due in steps],
        )
        self.signal_work()
        return EscalationRecord(
            escalation_id,
            receiver,
            policy,
            key.text,
            alert,
            ack_id,
            "active",
            now,
            group_hash=key.digest,
        )

    def escalation(self, escalation_id: str) -> EscalationRecord | None:
        """One escalation, its row locked."""
        row, c = fetch_one(
            self._exec(
                f"SELECT {_ESCALATION} FROM escalations WHERE id = ? {self._row_lock}",
                (escalation_id,),
            )
        )
        return _escalation(row, c) if row else None

    def due_steps(self, escalation_id: str, now: float) -> list[StepRecord]:
        """The pending steps of an escalation due by ``now``, in order."""
        rows, c = fetch(
            self._exec(
                f"SELECT {_STEP} FROM escalation_steps WHERE escalation_id = ? "
                "AND state = 'pending' AND due_at <= ? ORDER BY due_at, loop_no, step_no",
                (escalation_id, now),
            )
        )
        return [_step(r, c) for r in rows]

    def mark_step(
        self,
        step: StepRecord,
        state: str,
        notification_id: str | None = None,
        *,
        due_at: float | None = None,
        failures: int | None = None,
    ) -> None:
        """Record what became of a step: ``sent`` (with its notification), ``skipped``, or
        still ``pending`` (planning failed: tried again at ``due_at``)."""
        self._exec(
            "UPDATE escalation_steps SET state = ?, notification_id = ?, due_at = ?, "
            "failures = ? WHERE escalation_id = ? AND loop_no = ? AND step_no = ?",
            (
                state,
                notification_id,
                step.due_at if due_at is None else due_at,
                step.failures if failures is None else failures,
                step.escalation_id,
                step.loop,
                step.index,
            ),
        )

    def finish_if_done(self, record: EscalationRecord) -> bool:
        """An active escalation with no pending step left becomes ``done``."""
        left, c = fetch_one(
            self._exec(
                "SELECT COUNT(*) AS pending FROM escalation_steps WHERE escalation_id = ? "
                "AND state = 'pending'",
                (record.id,),
            )
        )
        if record.state == "active" and left is not None and int(left[c.pending]) == 0:
            self._exec("UPDATE escalations SET state = 'done' WHERE id = ?", (record.id,))
            return True
        return False

    def stop_escalations(
        self,
        records: Sequence[EscalationRecord],
        state: str,
        now: float,
        by: str | None = None,
        via: str | None = None,
        *,
        wake_at: float | None = None,
    ) -> list[EscalationRecord]:
        """Acknowledge (``acked``) or resolve (``resolved``) open escalations (running, or out of
        steps with nobody having answered, or snoozed; an acknowledged one waiting for its
        ``ack_timeout`` is resolved too): their pending steps are cancelled, and so are the
        deliveries of their steps that have not started (a retry waiting after a 503): nothing
        goes out after the acknowledgement. ``wake_at``: when an acknowledged one re-opens (its
        policy's ``ack_timeout``)."""
        stopped = []
        for record in records:
            waiting = record.state == "acked" and record.wake_at is not None
            if record.state not in ("active", "done", "snoozed") and not (
                waiting and state != "acked"
            ):
                continue
            if state == "acked":
                self._exec(
                    "UPDATE escalations SET state = 'acked', acked_at = ?, acked_by = ?, "
                    f"acked_via = ?, wake_at = ? WHERE id = ? AND {_OPEN}",
                    (now, by, via, wake_at, record.id),
                )
                done = replace(
                    record,
                    state="acked",
                    acked_at=now,
                    acked_by=by,
                    acked_via=via,
                    wake_at=wake_at,
                )
            else:
                self._exec(
                    "UPDATE escalations SET state = 'resolved', resolved_at = ?, wake_at = NULL "
                    f"WHERE id = ? AND {_OPEN}",
                    (now, record.id),
                )
                done = replace(record, state="resolved", resolved_at=now, wake_at=None)
            self._exec(
                "UPDATE escalation_steps SET state = 'cancelled' WHERE escalation_id = ? "
                "AND state = 'pending'",
                (record.id,),
            )
            reason = (
                f"cancelled: the escalation was acknowledged{f' by {by}' if by else ''}"
                if state == "acked"
                else "cancelled: the alert was resolved"
            )
            self._exec(
                "UPDATE deliveries SET state = 'cancelled', error = ?, lease_owner = NULL, "
                "lease_expires = NULL, updated = ? WHERE state = 'pending' AND notification_id "
                "IN (SELECT notification_id FROM escalation_steps WHERE escalation_id = ? "
                "AND notification_id IS NOT NULL)",
                (reason, now, record.id),
            )
            stopped.append(done)
        return stopped

    def open_escalations(self) -> list[EscalationRecord]:
        """Every escalation that can be acknowledged (running, out of steps unanswered, or
        snoozed), rows locked."""
        rows, c = fetch(
            self._exec(
                f"SELECT {_ESCALATION} FROM escalations WHERE state IN ('active', 'done', "
                f"'snoozed') {self._row_lock}"
            )
        )
        return [_escalation(r, c) for r in rows]

    def snooze(
        self,
        record: EscalationRecord,
        now: float,
        until: float,
        by: str | None = None,
        via: str | None = None,
    ) -> EscalationRecord | None:
        """Pause an open escalation until ``until``: it is ``snoozed``, and its pending steps
        move so that the next is due at ``until`` (the gaps between them kept). ``None``: it
        was not open."""
        if record.state not in ("active", "done", "snoozed"):
            return None
        self._exec(
            "UPDATE escalations SET state = 'snoozed', acked_at = ?, acked_by = ?, "
            "acked_via = ?, wake_at = ? WHERE id = ?",
            (now, by, via, until, record.id),
        )
        row, c = fetch_one(
            self._exec(
                "SELECT MIN(due_at) AS due FROM escalation_steps WHERE escalation_id = ? "
                "AND state = 'pending'",
                (record.id,),
            )
        )
        first = None if row is None else row[c.due]
        if first is not None:
            self._exec(
                "UPDATE escalation_steps SET due_at = due_at + ? WHERE escalation_id = ? "
                "AND state = 'pending'",
                (until - first, record.id),
            )
        self.signal_work()
        return replace(
            record, state="snoozed", acked_at=now, acked_by=by, acked_via=via, wake_at=until
        )

    def wake(
        self, record: EscalationRecord, steps: Sequence[tuple[int, int, float]]
    ) -> EscalationRecord:
        """An acknowledged escalation re-opens, or a snoozed one resumes: ``active`` again, no
        longer acknowledged. ``steps`` (``(loop, index, due)``, the loops counted after the last
        it had) are added: a re-opened escalation starts again from its first step."""
        self._exec(
            "UPDATE escalations SET state = 'active', acked_at = NULL, acked_by = NULL, "
            "acked_via = NULL, wake_at = NULL WHERE id = ?",
            (record.id,),
        )
        if steps:
            row, c = fetch_one(
                self._exec(
                    "SELECT MAX(loop_no) AS loop_no FROM escalation_steps WHERE escalation_id = ?",
                    (record.id,),
                )
            )
            loop = 0 if row is None or row[c.loop_no] is None else int(row[c.loop_no]) + 1
            self._cursor.executemany(
                self._db.sql(
                    "INSERT INTO escalation_steps (escalation_id, loop_no, step_no, due_at, "
                    "state) VALUES (?, ?, ?, ?, 'pending')"
                ),
                [(record.id, loop + n, index, due) for n, index, due in steps],
            )
            self.signal_work()
        return replace(
            record, state="active", acked_at=None, acked_by=None, acked_via=None, wake_at=None
        )

    def sleep(self, record: EscalationRecord) -> None:
        """An acknowledged escalation whose alerts are no longer open does not re-open."""
        self._exec("UPDATE escalations SET wake_at = NULL WHERE id = ?", (record.id,))

    def open_members(self, record: EscalationRecord) -> int:
        """How many alerts of an escalation's group are not resolved."""
        row, c = fetch_one(
            self._exec(
                "SELECT COUNT(*) AS n FROM group_members WHERE receiver = ? AND group_hash = ? "
                "AND resolved_at IS NULL",
                (record.receiver, record.group_hash),
            )
        )
        return 0 if row is None else int(row[c.n])

    def escalation_by_ack_id(self, ack_id: str) -> EscalationRecord | None:
        row, c = fetch_one(
            self._exec(
                f"SELECT {_ESCALATION} FROM escalations WHERE ack_id = ? {self._row_lock}",
                (ack_id,),
            )
        )
        return _escalation(row, c) if row else None

    def escalation_of(self, notification_id: str) -> EscalationRecord | None:
        """The escalation a step's notification was sent for, its row locked."""
        row, c = fetch_one(
            self._exec(
                f"SELECT {_ESCALATION} FROM escalations WHERE id IN (SELECT escalation_id "
                f"FROM escalation_steps WHERE notification_id = ?) {self._row_lock}",
                (notification_id,),
            )
        )
        return _escalation(row, c) if row else None

    def advance(self, record: EscalationRecord, now: float) -> bool:
        """A step failed: the next pending step becomes due ``now`` and the later ones move
        earlier by as much (:func:`notifykit.routing.escalation.advance`). ``False``: nothing
        moved."""
        if record.state != "active":
            return False
        row, c = fetch_one(
            self._exec(
                "SELECT MIN(due_at) AS due FROM escalation_steps WHERE escalation_id = ? "
                "AND state = 'pending'",
                (record.id,),
            )
        )
        first = None if row is None else row[c.due]
        if first is None or first <= now:
            return False
        self._exec(
            "UPDATE escalation_steps SET due_at = due_at - ? WHERE escalation_id = ? "
            "AND state = 'pending'",
            (first - now, record.id),
        )
        self.signal_work()
        return True

    def step_deliveries(
        self, notification_ids: Sequence[str], provider_id: str | None = None
    ) -> list[tuple[str, str, str | None, str]]:
        """``(notification id, recipient, text, state)`` of the deliveries of escalation steps'
        notifications (``recipient``: the recipient's name in the config, or the bare number it
        was; ``provider_id``: only the delivery the provider knows by it), in the order they
        were planned."""
        if not notification_ids:
            return []
        query = (
            "SELECT notification_id, recipient, text, state FROM deliveries "
            f"WHERE notification_id IN {self._in(notification_ids)}"
        )
        params: list[Any] = list(notification_ids)
        if provider_id is not None:
            query += " AND provider_id = ?"
            params.append(provider_id)
        rows, c = fetch(self._exec(query + " ORDER BY notification_id, seq", params))
        return [(r[c.notification_id], r[c.recipient], r[c.text], r[c.state]) for r in rows]

    def sent_steps(self, escalation_id: str) -> list[StepRecord]:
        """The steps of an escalation that were sent, in the order they were due."""
        rows, c = fetch(
            self._exec(
                f"SELECT {_STEP} FROM escalation_steps WHERE escalation_id = ? AND state = 'sent' "
                "ORDER BY due_at, loop_no, step_no",
                (escalation_id,),
            )
        )
        return [_step(r, c) for r in rows]

    # -- the audit trail ------------------------------------------------------------------------------

    def audit(
        self,
        action: str,
        acting: Acting,
        target: Mapping[str, object],
        at: float,
        detail: str | None = None,
    ) -> AuditRecord:
        """Record an action in the audit trail, in this transaction: ``action`` (a lowercase
        word: ``acknowledged``...), who and through which path (``acting``), what it was done to
        (``target``: ``key``, ``escalation``, ``policy``...; ``None`` values are left out).
        Phone numbers are masked (:func:`notifykit.ledger.audit.mask_numbers`)."""
        return _audit.insert(self._exec, action, acting, target, at, detail)

    # -- paging limits --------------------------------------------------------------------------------

    def pages(
        self, recipient: str, channels: Sequence[str], since: float, until: float
    ) -> list[float]:
        """When ``recipient`` was paged through ``channels`` after ``since`` up to ``until``
        (each delivery's first due time, oldest first): the deliveries planned to be sent, not
        those skipped or withdrawn (a held page is skipped: its bundle is the page)."""
        if not channels:
            return []
        if self._row_lock:
            # PostgreSQL runs two such transactions at once: each would count the pages before
            # the other's are stored, and both send. The count and the store that follows are
            # serialised per recipient by a transaction lock (SQLite's BEGIN IMMEDIATE already
            # serialises every writer).
            self._exec(
                "SELECT pg_advisory_xact_lock(hashtext(?))", (f"notifykit paging {recipient}",)
            )
        rows, c = fetch(
            self._exec(
                "SELECT first_due FROM deliveries WHERE recipient = ? AND first_due > ? "
                f"AND first_due <= ? AND channel IN ({self._in(channels)}) "
                "AND skip_reason IS NULL AND state NOT IN ('skipped', 'cancelled') "
                "ORDER BY first_due",
                (recipient, since, until, *channels),
            )
        )
        return [float(r[c.first_due]) for r in rows]

    def has_notification(self, key: str) -> bool:
        """Whether a notification with idempotency key ``key`` is stored."""
        row, _c = fetch_one(self._exec("SELECT id FROM notifications WHERE key = ?", (key,)))
        return row is not None

    def pending_bundle(
        self, recipient: str, channels: Sequence[str]
    ) -> tuple[str, dict[str, Any]] | None:
        """The bundle of held pages to ``recipient`` through one of ``channels`` not sent yet:
        its delivery id and info (``info["paging_bundle"]``: the pages it carries)."""
        if not channels:
            return None
        row, c = fetch_one(
            self._exec(
                "SELECT id, info FROM deliveries WHERE recipient = ? "
                f"AND channel IN ({self._in(channels)}) AND state = 'pending' "
                "AND skip_reason IS NULL AND info LIKE ? "
                f"ORDER BY due LIMIT 1 {self._row_lock}",
                (recipient, *channels, '%"paging_bundle"%'),
            )
        )
        if row is None:
            return None
        return str(row[c.id]), dict(json.loads(row[c.info]))

    def extend_bundle(
        self, delivery_id: str, text: str, info: Mapping[str, Any], now: float
    ) -> None:
        """Rewrite a pending bundle's text and info (one more held page in it)."""
        self._exec(
            "UPDATE deliveries SET text = ?, info = ?, updated = ? WHERE id = ? "
            "AND state = 'pending'",
            (text, _dumps(dict(info)), now, delivery_id),
        )

    # -- silences -------------------------------------------------------------------------------------

    def silences(self, now: float) -> list[Silence]:
        """The silences active at ``now`` (read in this transaction)."""
        return [s for s in _silences.select(self._exec, ending_after=now) if s.active(now)]

    def add_silence(
        self,
        matchers: Sequence[Matcher],
        starts_at: float,
        ends_at: float,
        comment: str,
        created_by: str | None,
        now: float,
    ) -> Silence:
        """Store a silence (it mutes from the groups' next flushes)."""
        return _silences.insert(self._exec, matchers, starts_at, ends_at, comment, created_by, now)

    def find_silences(self, given: str) -> list[Silence]:
        """The silences ``given`` names (an id, or its first 4+ characters)."""
        return _silences.find(self._exec, given)

    def expire_silence(self, silence: Silence, now: float, by: str | None) -> Silence:
        """End ``silence`` now."""
        return _silences.expire(self._exec, silence, now, by)

    # -- on-call overrides -------------------------------------------------------------------------

    def add_override(
        self,
        schedule: str,
        who: str,
        starts_at: float,
        ends_at: float,
        comment: str,
        created_by: str | None,
        now: float,
    ) -> StoredOverride:
        """Store an on-call override (who is on call reads it from now on)."""
        return _overrides.insert(
            self._exec, schedule, who, starts_at, ends_at, comment, created_by, now
        )

    def find_overrides(self, given: str) -> list[StoredOverride]:
        """The overrides ``given`` names (an id, or its first 4+ characters)."""
        return _overrides.find(self._exec, given)

    def cancel_override(self, made: StoredOverride, now: float, by: str | None) -> StoredOverride:
        """End ``made`` now."""
        return _overrides.cancel(self._exec, made, now, by)

    # -- webhook idempotency --------------------------------------------------------------------------

    def claim_idempotency(self, key: str, now: float) -> tuple[bool, str | None]:
        """``(True, None)`` when ``key`` is new: it is claimed by this transaction, so the claim
        and what was routed for it commit together (a process that dies first claimed
        nothing). ``(False, result)`` when a committed claim has it."""
        inserted = self._exec(
            "INSERT INTO idempotency (key, received_at) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
            (key, now),
        )
        if inserted.rowcount == 1:
            return True, None
        row, c = fetch_one(self._exec("SELECT result FROM idempotency WHERE key = ?", (key,)))
        if row is not None and row[c.result] is None:
            # A claim of a notifykit before schema 3, whose routing never finished: take it.
            self._exec("UPDATE idempotency SET received_at = ? WHERE key = ?", (now, key))
            return True, None
        return False, row[c.result] if row else None

    def finish_idempotency(self, key: str, result: str) -> None:
        self._exec("UPDATE idempotency SET result = ? WHERE key = ?", (result, key))


#: the alerts firing: not resolved, and raised within the resolve timeout or held open by an
#: open escalation of a group they are in
_FIRING = (
    "FROM alerts a WHERE a.resolved_at IS NULL AND (a.last_seen > ? "
    "OR EXISTS (SELECT 1 FROM group_members m JOIN escalations e ON e.receiver = "
    "m.receiver AND e.group_hash = m.group_hash WHERE m.alert_hash = a.key_hash "
    f"AND {_OPEN.replace('state', 'e.state').replace('wake_at', 'e.wake_at')}))"
)


def _firing(execute: Any, now: float, resolve_timeout: float) -> list[Alert]:
    rows, c = fetch(
        execute(
            f"SELECT a.body {_FIRING} ORDER BY a.last_seen DESC LIMIT 1000",
            (now - resolve_timeout,),
        )
    )
    return [alert_from_json(r[c.body]) for r in rows]


class RoutingState:
    """The routing-state store of one ledger (``ledger.routing``), on its database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @contextmanager
    def unit(self, doing: str = "routing an alert") -> Iterator[Unit]:
        """One transaction: what the pipeline reads and writes in it commits together, or not
        at all (an exception rolls everything back)."""
        with self._db.transaction(doing) as cursor:
            yield Unit(self._db, cursor)

    def _rows(
        self, doing: str, statement: str, params: Sequence[Any] = ()
    ) -> tuple[list[Any], Columns]:
        with self._db.reading(doing) as cursor:
            return fetch(self._db.execute(cursor, statement, params))

    # -- what is due ----------------------------------------------------------------------------------

    def due_groups(self, now: float, limit: int = 50) -> list[tuple[str, str]]:
        """``(receiver, group digest)`` of the groups whose timer is due by ``now``."""
        rows, c = self._rows(
            "finding groups due",
            "SELECT receiver, group_hash FROM notification_log WHERE flush_due IS NOT NULL "
            "AND flush_due <= ? ORDER BY flush_due LIMIT ?",
            (now, limit),
        )
        return [(r[c.receiver], r[c.group_hash]) for r in rows]

    def due_escalations(self, now: float, limit: int = 50) -> list[str]:
        """Ids of escalations with a step due by ``now`` (active ones, and ended ones whose
        pending steps are still to be cancelled), or that wake by ``now`` (an acknowledged one
        re-opening, a snoozed one resuming)."""
        rows, c = self._rows(
            "finding due escalation steps",
            "SELECT escalation_id, MIN(due_at) AS due FROM escalation_steps WHERE state = "
            "'pending' AND due_at <= ? GROUP BY escalation_id UNION ALL SELECT id AS "
            "escalation_id, wake_at AS due FROM escalations WHERE state IN ('acked', "
            "'snoozed') AND wake_at <= ? ORDER BY due LIMIT ?",
            (now, now, limit),
        )
        return list(dict.fromkeys(r[c.escalation_id] for r in rows))

    def next_due(self) -> float | None:
        """The earliest time a group's timer or a pending escalation step is due."""
        rows, c = self._rows(
            "reading the next routing time",
            "SELECT MIN(flush_due) AS due FROM notification_log UNION ALL "
            "SELECT MIN(due_at) AS due FROM escalation_steps WHERE state = 'pending' UNION ALL "
            "SELECT MIN(wake_at) AS due FROM escalations WHERE state IN ('acked', 'snoozed')",
        )
        times = [r[c.due] for r in rows if r[c.due] is not None]
        return min(times) if times else None

    # -- reading --------------------------------------------------------------------------------------

    def firing_alerts(self, now: float, resolve_timeout: float) -> list[Alert]:
        """Every alert firing at ``now`` (not resolved, raised within ``resolve_timeout`` or
        held open by an active escalation): the sources of inhibition."""
        db = self._db
        with db.reading("reading open alerts") as cursor:

            def execute(statement: str, params: Sequence[Any] = ()) -> Any:
                return db.execute(cursor, statement, params)

            return _firing(execute, now, resolve_timeout)

    def gauges(self, now: float, resolve_timeout: float) -> RoutingGauges:
        """The alerts firing at ``now`` (counted, not read) and the open escalations by policy,
        state and the last step they sent, in one read transaction of two queries."""
        db = self._db
        with db.reading("reading the routing gauges") as cursor:
            row, c = fetch_one(
                db.execute(cursor, f"SELECT COUNT(*) AS alerts {_FIRING}", (now - resolve_timeout,))
            )
            # Every step of the open escalations, by the primary key: with the steps' state in
            # the join, SQLite took the (state, due_at) index and read every step ever sent for
            # each open escalation (75 ms over 10,000 escalations; 0.7 ms this way).
            steps, s = fetch(
                db.execute(
                    cursor,
                    "SELECT e.id AS id, e.policy AS policy, e.state AS state, s.state AS sent, "
                    "s.loop_no AS loop_no, s.step_no AS step_no, s.due_at AS due_at "
                    "FROM escalations e LEFT JOIN escalation_steps s ON s.escalation_id = e.id "
                    "WHERE e.state IN ('active', 'done')",
                )
            )
        # The last step sent, as the CLI's listing orders steps (notifykit.routing.listing).
        last: dict[str, tuple[str, str, tuple[float, int, int] | None]] = {}
        for r in steps:
            sent = r[s.sent] == "sent"
            order = (r[s.due_at], r[s.loop_no], r[s.step_no]) if sent else None
            known = last.get(r[s.id])
            if known is None or (order is not None and (known[2] is None or order > known[2])):
                last[r[s.id]] = (r[s.policy], r[s.state], order)
        escalations: dict[tuple[str, str, str], int] = {}
        for policy, state, order in last.values():
            step = "none" if order is None else f"{order[1]}.{order[2]}"
            escalations[(policy, state, step)] = escalations.get((policy, state, step), 0) + 1
        return RoutingGauges(
            open_alerts=int(row[c.alerts]) if row is not None else 0, escalations=escalations
        )

    def find_alerts(self, given: str) -> list[Alert]:
        """The alerts ``given`` names, as the last raised: by their own key (its text, short
        form, or 8+ digits of its digest) or by the key of a group they are in (what
        ``notify()`` reports for a route with ``group_by``)."""
        given = given.strip()
        if not given:
            return []
        hexish = len(given) >= 8 and all(c in "0123456789abcdef" for c in given.lower())
        prefix = given.lower() + "%" if hexish else "-"  # no digest is "-"
        rows, c = self._rows(
            "finding alerts",
            "SELECT key_text, body FROM alerts WHERE key_text = ? OR key_hash LIKE ? "
            "ORDER BY last_seen DESC LIMIT 100",
            (given, prefix),
        )
        found = {
            r[c.key_text]: alert_from_json(r[c.body])
            for r in rows
            if AlertKey(r[c.key_text]).matches(given)
        }
        groups, g = self._rows(
            "finding alerts by group",
            "SELECT g.group_text, a.key_text, a.body FROM notification_log g JOIN group_members "
            "m ON m.receiver = g.receiver AND m.group_hash = g.group_hash JOIN alerts a ON "
            "a.key_hash = m.alert_hash WHERE g.group_text = ? OR g.group_hash LIKE ? LIMIT 1000",
            (given, prefix),
        )
        for r in groups:
            if AlertKey(r[g.group_text]).matches(given):
                found.setdefault(r[g.key_text], alert_from_json(r[g.body]))
        if not found and not hexish and len(given) > 16:
            # A shortened key as shown (``text~digest``): the digest names it.
            tail = given.rpartition("~")[2]
            if tail != given:
                return self.find_alerts(tail)
        return list(found.values())

    def groups(self, limit: int = 1000) -> list[dict[str, Any]]:
        """Every group with alerts: receiver, key, timer, and its members (for ``alerts``)."""
        rows, c = self._rows(
            "listing alert groups",
            "SELECT g.receiver, g.group_text, g.flush_due, g.last_sent, g.route, g.settings, "
            "m.alert_hash, m.body, m.starts_at, m.last_raised, m.resolved_at, m.joined_at "
            "FROM notification_log g JOIN group_members m ON m.receiver = g.receiver AND "
            "m.group_hash = g.group_hash ORDER BY g.receiver, g.group_text, m.joined_at LIMIT ?",
            (limit,),
        )
        return [as_dict(r, c) for r in rows]

    def snapshot(self, limit: int = 1000) -> list[GroupSnapshot]:
        """Every group with alerts (at most ``limit``), as :class:`GroupSnapshot` objects:
        what ``notifykit alerts`` shows, read in one transaction."""
        out: list[GroupSnapshot] = []
        with self.unit("reading alert groups") as unit:
            rows, c = fetch(
                unit._exec(
                    "SELECT DISTINCT receiver, group_hash FROM group_members ORDER BY receiver, "
                    "group_hash LIMIT ?",
                    (limit,),
                )
            )
            for r in rows:
                group = unit.group(r[c.receiver], r[c.group_hash])
                if group is None:
                    continue
                newest, e = fetch_one(
                    unit._exec(
                        f"SELECT {_ESCALATION} FROM escalations WHERE receiver = ? AND "
                        "group_hash = ? AND state <> 'resolved' ORDER BY started_at DESC, id DESC "
                        "LIMIT 1",
                        (group.receiver, group.key.digest),
                    )
                )
                record = _escalation(newest, e) if newest else None
                steps: tuple[StepRecord, ...] = ()
                if record is not None:
                    step_rows, sc = fetch(
                        unit._exec(
                            f"SELECT {_STEP} FROM escalation_steps WHERE escalation_id = ? "
                            "ORDER BY due_at, loop_no, step_no",
                            (record.id,),
                        )
                    )
                    steps = tuple(_step(x, sc) for x in step_rows)
                out.append(
                    GroupSnapshot(
                        group.receiver,
                        group.key,
                        group.route,
                        group.flush_due,
                        group.entry,
                        tuple(group.members.values()),
                        record,
                        steps,
                    )
                )
        return out

    def escalations(self, state: str | None = None, limit: int = 100) -> list[EscalationRecord]:
        """Escalations newest first (``state``: only those in it)."""
        query = f"SELECT {_ESCALATION} FROM escalations"
        params: list[Any] = []
        if state is not None:
            query += " WHERE state = ?"
            params.append(state)
        query += " ORDER BY started_at DESC, id DESC LIMIT ?"
        params.append(limit)
        rows, c = self._rows("listing escalations", query, params)
        return [_escalation(r, c) for r in rows]

    def escalation_steps(self, escalation_id: str) -> list[StepRecord]:
        rows, c = self._rows(
            "reading escalation steps",
            f"SELECT {_STEP} FROM escalation_steps WHERE escalation_id = ? "
            "ORDER BY loop_no, step_no",
            (escalation_id,),
        )
        return [_step(r, c) for r in rows]

    def escalation_of(self, notification_id: str) -> tuple[EscalationRecord, StepRecord] | None:
        """The escalation and step a notification was sent for, if any."""
        steps, c = self._rows(
            "reading an escalation step",
            f"SELECT {_STEP} FROM escalation_steps WHERE notification_id = ?",
            (notification_id,),
        )
        if not steps:
            return None
        step = _step(steps[0], c)
        found, e = self._rows(
            "reading an escalation",
            f"SELECT {_ESCALATION} FROM escalations WHERE id = ?",
            (step.escalation_id,),
        )
        return _escalation(found[0], e), step

    def silences(self, *, ending_after: float | None = None, limit: int = 1000) -> list[Silence]:
        """Silences, newest first (``ending_after``: only those that end after then: pending
        or active at that moment)."""
        db = self._db
        with db.reading("reading silences") as cursor:

            def execute(statement: str, params: Sequence[Any] = ()) -> Any:
                return db.execute(cursor, statement, params)

            return _silences.select(execute, ending_after=ending_after, limit=limit)

    def active_silences(self, now: float) -> list[Silence]:
        """The silences active at ``now``."""
        return [s for s in self.silences(ending_after=now) if s.active(now)]

    def overrides(
        self, *, schedule: str | None = None, ending_after: float | None = None
    ) -> list[StoredOverride]:
        """On-call overrides made at run time, in the order they were made (``schedule``: of
        that one; ``ending_after``: only those that end after then)."""
        db = self._db
        with db.reading("reading on-call overrides") as cursor:

            def execute(statement: str, params: Sequence[Any] = ()) -> Any:
                return db.execute(cursor, statement, params)

            return _overrides.select(execute, schedule=schedule, ending_after=ending_after)

    def audit(self, since: float | None = None, limit: int = 100) -> list[AuditRecord]:
        """The newest ``limit`` actions of the audit trail at or after ``since`` (epoch
        seconds), oldest first."""
        return _audit.records(*self._rows("reading the audit trail", *_audit.select(since, limit)))

    def escalation_by_ack_id(self, ack_id: str) -> EscalationRecord | None:
        """The escalation an ack link names, as it stands (read only)."""
        rows, c = self._rows(
            "reading an ack link's escalation",
            f"SELECT {_ESCALATION} FROM escalations WHERE ack_id = ?",
            (ack_id,),
        )
        return _escalation(rows[0], c) if rows else None

    def escalation(self, escalation_id: str) -> EscalationRecord | None:
        """One escalation as it stands (read only; ``None``: no such escalation)."""
        rows, c = self._rows(
            "reading an escalation",
            f"SELECT {_ESCALATION} FROM escalations WHERE id = ?",
            (escalation_id,),
        )
        return _escalation(rows[0], c) if rows else None

    def batch(self, callback_token: str) -> list[dict[str, Any]]:
        """The deliveries of the batch whose status-callback token is ``callback_token``, in
        order: each ``{"id", "notification_id", "recipient", "address", "channel",
        "channel_type", "text"}`` (what a provider's flow asks about its call: the text to
        speak and who it went to)."""
        rows, c = self._rows(
            "reading a batch",
            "SELECT id, notification_id, recipient, address, channel, channel_type, text "
            "FROM deliveries WHERE callback_token = ? ORDER BY seq",
            (callback_token,),
        )
        names = ("id", "notification_id", "recipient", "address", "channel", "channel_type")
        return [{**{n: r[getattr(c, n)] for n in names}, "text": r[c.text]} for r in rows]

    def paging(self, address: str) -> list[tuple[str, str]]:
        """``(escalation id, recipient)`` of the open escalations (running, or out of steps
        unanswered) whose sent steps addressed ``address`` (a phone number as the deliveries
        keep it, E.164), oldest escalation first."""
        rows, c = self._rows(
            "finding the escalations paging a number",
            "SELECT e.id AS id, d.recipient AS recipient, MIN(e.started_at) AS started "
            "FROM escalations e JOIN escalation_steps s ON s.escalation_id = e.id "
            "JOIN deliveries d ON d.notification_id = s.notification_id "
            "WHERE e.state IN ('active', 'done') AND s.state = 'sent' AND d.address = ? "
            "GROUP BY e.id, d.recipient ORDER BY started, id",
            (address,),
        )
        return [(str(r[c.id]), str(r[c.recipient])) for r in rows]

    def step_recipients(self, escalation_id: str, loop: int, index: int) -> list[str]:
        """The recipients of the notification a step sent (in the order of its deliveries;
        empty when the step sent none)."""
        rows, c = self._rows(
            "reading a step's recipients",
            "SELECT d.recipient AS recipient FROM escalation_steps s JOIN deliveries d "
            "ON d.notification_id = s.notification_id WHERE s.escalation_id = ? "
            "AND s.loop_no = ? AND s.step_no = ? ORDER BY d.seq",
            (escalation_id, loop, index),
        )
        return list(dict.fromkeys(str(r[c.recipient]) for r in rows))

    def routing_secret(self, name: str) -> str:
        """A random secret kept in the ledger (made on first use, shared by every process)."""
        with self.unit("reading a secret") as unit:
            unit._exec(
                "INSERT INTO routing_secrets (name, value) VALUES (?, ?) "
                "ON CONFLICT (name) DO NOTHING",
                (name, secrets.token_urlsafe(32)),
            )
            row, c = fetch_one(
                unit._exec("SELECT value FROM routing_secrets WHERE name = ?", (name,))
            )
            assert row is not None
            return str(row[c.value])
