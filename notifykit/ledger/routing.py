"""The ledger's routing state (schema version 2): alerts, the notification log, group members,
escalations and their steps, webhook idempotency and the ack-link secret.

:class:`RoutingStore` is mixed into :class:`~notifykit.ledger.base.SqlLedger`, so SQLite and
PostgreSQL share it (portable SQL; row locks through the dialect). Each method that decides and
stores does both in **one transaction**, so two processes never both send a group, and a crash
leaves either the old state or the new one:

- :meth:`RoutingStore.group_arrival` records an alert in its group, decides with
  :func:`notifykit.routing.dedup.decide` (send, wait for ``group_wait``/``group_interval``, or
  skip), and on ``send`` stores the notification the caller's ``handle`` plans (and an
  escalation's steps) in the same transaction;
- :meth:`RoutingStore.flush_groups` does the same for waiting groups whose time has come;
- :meth:`RoutingStore.fire_due_steps` plans each due escalation step and marks it ``sent`` in the
  transaction that stores its notification: a restarted worker loses no step and repeats none.

Times are epoch seconds, as everywhere in the ledger; the pure routing code gets aware datetimes.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from notifykit.routing.alert import Alert, AlertKey
from notifykit.routing.dedup import Decision, NotificationLog, content_digest, decide
from notifykit.routing.tree import RouteSettings

if TYPE_CHECKING:
    from notifykit.plan.planner import Plan
    from notifykit.report import Submission

__all__ = [
    "AlertRecord",
    "EscalationRecord",
    "EscalationStart",
    "GroupAction",
    "GroupOutcome",
    "GroupRecord",
    "GroupState",
    "RoutingSnapshot",
    "RoutingStore",
    "StepRecord",
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
    )


def _digest_match(given: str, column: str) -> tuple[str, list[str]]:
    """A condition on the digest ``column`` for the keys ``given`` may name: its full text, its
    short form (``...~<digest>``) or 8+ leading hex digits of its digest. It may let through a
    key that does not match; callers confirm each row with :meth:`AlertKey.matches`."""
    exact = [AlertKey(given).digest]
    _head, tilde, tail = given.rpartition("~")
    if tilde and len(tail) == 16 and all(c in "0123456789abcdef" for c in tail):
        exact.append(tail)
    clauses = [f"{column} IN ({','.join('?' * len(exact))})"]
    if len(given) >= 8 and all(c in "0123456789abcdef" for c in given.lower()):
        clauses.append(f"{column} LIKE ?")
        exact.append(given.lower() + "%")
    return "(" + " OR ".join(clauses) + ")", exact


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, timezone.utc)


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


@dataclass(frozen=True)
class GroupState:
    """What ``handle`` gets when a group is to be sent: its alerts (firing and newly resolved),
    its settings, the decision, and its active escalation (``None``: none)."""

    receiver: str
    key: AlertKey
    members: tuple[Alert, ...]
    settings: RouteSettings
    decision: Decision
    active_escalation: str | None


@dataclass(frozen=True)
class EscalationStart:
    """An escalation to start: its policy and every step as ``(loop, index, due)``."""

    policy: str
    steps: tuple[tuple[int, int, float], ...]
    alert: Alert


@dataclass(frozen=True)
class GroupAction:
    """What to store for a group being sent: a notification, and/or an escalation to start
    (ignored when one is already active for the group)."""

    plan: Plan | None = None
    escalation: EscalationStart | None = None


@dataclass(frozen=True)
class GroupOutcome:
    """What :meth:`RoutingStore.group_arrival` decided and stored."""

    receiver: str
    key: AlertKey
    decision: Decision
    submissions: tuple[Submission, ...] = ()
    escalation_id: str | None = None
    #: the last notification sent for the group (for a skipped alert: what it duplicates)
    last_notification: str | None = None


@dataclass(frozen=True)
class EscalationRecord:
    """One escalation: ``state`` is ``active``, ``acked``, ``resolved`` or ``done``."""

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
            "resolved_at": self.resolved_at,
        }


@dataclass(frozen=True)
class StepRecord:
    """One step of an escalation: ``state`` is ``pending``, ``sent`` or ``cancelled``."""

    escalation_id: str
    loop: int
    index: int
    due_at: float
    state: str
    notification_id: str | None = None


@dataclass(frozen=True)
class AlertRecord:
    """An open alert as the ledger remembers it: when it was first and last seen."""

    alert: Alert
    first_seen: float
    last_seen: float


@dataclass(frozen=True)
class GroupRecord:
    """One (receiver, group key) of the notification log, with its firing members: each
    alert's digest and when it joined. ``last_sent``: when the group's last message went out
    (``None``: never); ``flush_due``: when a waiting group is sent (``None``: not waiting)."""

    receiver: str
    key: AlertKey
    last_sent: float | None
    flush_due: float | None
    members: Mapping[str, float]


@dataclass(frozen=True)
class RoutingSnapshot:
    """What ``notifykit alerts`` reads of the routing state, in a few queries: the open alerts
    (newest first), the groups their receivers keep, and per group its newest escalation that
    is active, or acknowledged while the group still has a firing alert, with its steps."""

    alerts: tuple[AlertRecord, ...]
    groups: Mapping[tuple[str, str], GroupRecord]
    escalations: Mapping[tuple[str, str], tuple[EscalationRecord, tuple[StepRecord, ...]]]


_ESCALATION_COLUMNS = (
    "id, receiver, policy, group_text, body, ack_id, state, started_at, acked_at, acked_by, "
    "resolved_at"
)


def _escalation(r: Sequence[Any]) -> EscalationRecord:
    return EscalationRecord(
        id=r[0],
        receiver=r[1],
        policy=r[2],
        key=r[3],
        alert=alert_from_json(r[4]),
        ack_id=r[5],
        state=r[6],
        started_at=r[7],
        acked_at=r[8],
        acked_by=r[9],
        resolved_at=r[10],
    )


def _settings_json(settings: RouteSettings) -> str:
    return _dumps(
        {
            "receiver": settings.receiver,
            "group_by": list(settings.group_by) if settings.group_by is not None else None,
            "group_wait": settings.group_wait,
            "group_interval": settings.group_interval,
            "repeat_interval": settings.repeat_interval,
            "send_resolved": settings.send_resolved,
            "priority": settings.priority,
        }
    )


def _settings(text: str) -> RouteSettings:
    value = json.loads(text)
    group_by = value.get("group_by")
    return RouteSettings(
        receiver=value["receiver"],
        group_by=tuple(group_by) if group_by is not None else None,
        group_wait=value["group_wait"],
        group_interval=value["group_interval"],
        repeat_interval=value["repeat_interval"],
        send_resolved=bool(value["send_resolved"]),
        priority=value.get("priority"),
    )


Handle = Callable[[GroupState], GroupAction]
PlanStep = Callable[[EscalationRecord, StepRecord], "Plan | None"]


class RoutingStore:
    """The routing methods of :class:`~notifykit.ledger.base.SqlLedger` (see the module
    docstring). Relies on the SqlLedger plumbing (``_tx``, ``_exec``, ``_read``, ``_add``)."""

    # Provided by SqlLedger; declared for mypy.
    _tx: Callable[..., Any]
    _exec: Callable[..., Any]
    _read: Callable[..., list[Any]]
    _add: Callable[..., Submission]
    _signal_work: Callable[[Any], None]

    @property
    def _row_lock(self) -> str:
        return self._dialect.row_lock  # type: ignore[attr-defined, no-any-return]

    @property
    def _skip_locked(self) -> str:
        return self._dialect.claim_lock  # type: ignore[attr-defined, no-any-return]

    # -- alerts ---------------------------------------------------------------------------------

    def record_alert(self, alert: Alert, now: float) -> AlertKey:
        """Remember ``alert`` (firing, or resolved) under its full key; returns the key."""
        key = alert.key_for()
        body = _dumps(alert_to_json(alert))
        with self._tx("recording an alert") as cur:
            self._exec(
                cur,
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
                    body,
                    now,
                    now,
                    now if alert.resolved else None,
                ),
            )
        return key

    def open_alerts(self, since: float) -> list[Alert]:
        """Alerts firing (not resolved) and seen since ``since``: the sources of inhibition."""
        rows = self._read(
            "reading open alerts",
            "SELECT body FROM alerts WHERE resolved_at IS NULL AND last_seen >= ? "
            "ORDER BY last_seen DESC LIMIT 1000",
            (since,),
        )
        return [alert_from_json(r[0]) for r in rows]

    def find_alerts(self, given: str) -> list[Alert]:
        """The alerts whose key is ``given`` (full text, short form, or 8+ digits of its digest)."""
        given = given.strip()
        if not given:
            return []
        where, params = _digest_match(given, "key_hash")
        rows = self._read(
            "finding alerts",
            f"SELECT key_text, body FROM alerts WHERE {where} ORDER BY last_seen DESC LIMIT 100",
            params,
        )
        return [alert_from_json(r[1]) for r in rows if AlertKey(r[0]).matches(given)]

    def alerts_named(self, given: str) -> list[Alert]:
        """The open alerts ``given`` names: by their own key, or as firing members of a group
        (of any receiver) whose key it is; each key as its text, its short form or 8+ hex
        digits of its digest (the forms :meth:`ack` takes)."""
        given = given.strip()
        if not given:
            return []
        found: dict[str, Alert] = {}
        own, params = _digest_match(given, "key_hash")
        for text, body in self._read(
            "finding alerts",
            f"SELECT key_text, body FROM alerts WHERE resolved_at IS NULL AND {own} "
            "ORDER BY last_seen DESC LIMIT 1000",
            params,
        ):
            if AlertKey(text).matches(given):
                found.setdefault(text, alert_from_json(body))
        group, params = _digest_match(given, "m.group_hash")
        for group_text, text, body in self._read(
            "finding the alerts of a group",
            "SELECT l.group_text, a.key_text, a.body FROM group_members m "
            "JOIN notification_log l ON l.receiver = m.receiver AND l.group_hash = m.group_hash "
            f"JOIN alerts a ON a.key_hash = m.alert_hash WHERE a.resolved_at IS NULL AND {group} "
            "ORDER BY a.last_seen DESC LIMIT 1000",
            params,
        ):
            if AlertKey(group_text).matches(given):
                found.setdefault(text, alert_from_json(body))
        return list(found.values())

    def routing_snapshot(self, limit: int = 1000) -> RoutingSnapshot:
        """The open alerts (at most ``limit``, newest first), their groups and escalations:
        see :class:`RoutingSnapshot`."""
        alerts = tuple(
            AlertRecord(alert_from_json(body), first_seen, last_seen)
            for body, first_seen, last_seen in self._read(
                "reading open alerts",
                "SELECT body, first_seen, last_seen FROM alerts WHERE resolved_at IS NULL "
                "ORDER BY last_seen DESC LIMIT ?",
                (limit,),
            )
        )
        members: dict[tuple[str, str], dict[str, float]] = {}
        logs: dict[tuple[str, str], tuple[str, float | None, float | None]] = {}
        for receiver, group_hash, alert_hash, joined, text, last_sent, flush_due in self._read(
            "reading alert groups",
            "SELECT m.receiver, m.group_hash, m.alert_hash, m.joined_at, l.group_text, "
            "l.last_sent, l.flush_due FROM group_members m JOIN notification_log l "
            "ON l.receiver = m.receiver AND l.group_hash = m.group_hash WHERE m.resolved = 0",
        ):
            members.setdefault((receiver, group_hash), {})[alert_hash] = joined
            logs[receiver, group_hash] = (text, last_sent, flush_due)
        groups = {
            pair: GroupRecord(pair[0], AlertKey(text), last_sent, flush_due, members[pair])
            for pair, (text, last_sent, flush_due) in logs.items()
        }
        newest: dict[tuple[str, str], EscalationRecord] = {}
        for r in self._read(
            "reading escalations",
            f"SELECT {_ESCALATION_COLUMNS} FROM escalations e WHERE e.state = 'active' OR "
            "(e.state = 'acked' AND EXISTS (SELECT 1 FROM group_members m WHERE "
            "m.receiver = e.receiver AND m.group_hash = e.group_hash AND m.resolved = 0)) "
            "ORDER BY e.started_at DESC, e.id DESC",
        ):
            record = _escalation(r)
            newest.setdefault((record.receiver, AlertKey(record.key).digest), record)
        steps: dict[str, list[StepRecord]] = {r.id: [] for r in newest.values()}
        ids = list(steps)
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            for row in self._read(
                "reading escalation steps",
                "SELECT escalation_id, loop_no, step_no, due_at, state, notification_id "
                f"FROM escalation_steps WHERE escalation_id IN ({','.join('?' * len(chunk))}) "
                "ORDER BY due_at, loop_no, step_no",
                chunk,
            ):
                steps[row[0]].append(StepRecord(*row))
        escalations = {pair: (r, tuple(steps[r.id])) for pair, r in newest.items()}
        return RoutingSnapshot(alerts, groups, escalations)

    # -- groups ---------------------------------------------------------------------------------

    def group_arrival(
        self,
        receiver: str,
        key: AlertKey,
        member: Alert,
        settings: RouteSettings,
        now: float,
        handle: Handle,
        *,
        lease_owner: str | None = None,
        lease_until: float | None = None,
    ) -> GroupOutcome:
        """Add ``member`` to the group ``key`` of ``receiver`` and decide, in one transaction;
        on ``send``, store what ``handle`` plans. A resolved member whose group is then all
        resolved ends the group's active escalation (state ``resolved``)."""
        with self._tx("routing an alert") as cur:
            self._exec(
                cur,
                "INSERT INTO notification_log (receiver, group_hash, group_text, first_seen, "
                "settings) VALUES (?, ?, ?, ?, ?) ON CONFLICT (receiver, group_hash) DO NOTHING",
                (receiver, key.digest, key.text, now, _settings_json(settings)),
            )
            self._exec(
                cur,
                "UPDATE notification_log SET settings = ? WHERE receiver = ? AND group_hash = ?",
                (_settings_json(settings), receiver, key.digest),
            )
            member_key = member.key_for().digest
            self._exec(
                cur,
                "INSERT INTO group_members (receiver, group_hash, alert_hash, body, resolved, "
                "joined_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (receiver, group_hash, "
                "alert_hash) DO UPDATE SET body = excluded.body, resolved = excluded.resolved",
                (
                    receiver,
                    key.digest,
                    member_key,
                    _dumps(alert_to_json(member)),
                    1 if member.resolved else 0,
                    now,
                ),
            )
            if member.resolved:
                self._resolve_if_all_resolved(cur, receiver, key.digest, now)
            outcome = self._deliver_group(
                cur, receiver, key.digest, now, handle, lease_owner, lease_until, flushing=False
            )
        assert outcome is not None  # the row was inserted above, in this transaction
        return outcome

    def flush_groups(
        self,
        now: float,
        handle: Handle,
        *,
        limit: int = 50,
        lease_owner: str | None = None,
        lease_until: float | None = None,
    ) -> list[GroupOutcome]:
        """Send the waiting groups whose ``group_wait``/``group_interval`` is over (the worker
        calls this), each in its own transaction."""
        rows = self._read(
            "finding groups due",
            "SELECT receiver, group_hash FROM notification_log WHERE flush_due IS NOT NULL "
            "AND flush_due <= ? ORDER BY flush_due LIMIT ?",
            (now, limit),
        )
        outcomes = []
        for receiver, group_hash in rows:
            with self._tx("flushing a group") as cur:
                outcome = self._deliver_group(
                    cur,
                    receiver,
                    group_hash,
                    now,
                    handle,
                    lease_owner,
                    lease_until,
                    flushing=True,
                )
            if outcome is not None:
                outcomes.append(outcome)
        return outcomes

    def _deliver_group(
        self,
        cur: Any,
        receiver: str,
        group_hash: str,
        now: float,
        handle: Handle,
        lease_owner: str | None,
        lease_until: float | None,
        *,
        flushing: bool,
    ) -> GroupOutcome | None:
        row = self._exec(
            cur,
            "SELECT group_text, first_seen, last_sent, digest, flush_due, settings, "
            "last_notification FROM notification_log WHERE receiver = ? AND group_hash = ? "
            f"{self._row_lock}",
            (receiver, group_hash),
        ).fetchone()
        if row is None:
            return None
        group_text, first_seen, last_sent, stored_digest, flush_due, settings_text, last = row
        if flushing and (flush_due is None or flush_due > now):
            return None  # another worker flushed it first
        key = AlertKey(group_text)
        settings = _settings(settings_text)
        members = tuple(
            alert_from_json(r[0])
            for r in self._exec(
                cur,
                "SELECT body FROM group_members WHERE receiver = ? AND group_hash = ? "
                "ORDER BY joined_at, alert_hash",
                (receiver, group_hash),
            ).fetchall()
        )
        log = NotificationLog(
            receiver,
            group_text,
            _dt(first_seen),
            _dt(last_sent) if last_sent is not None else None,
            stored_digest,
        )
        decision = decide(log, settings, content_digest(members), _dt(now))
        if decision.action == "wait":
            assert decision.due is not None
            due = decision.due.timestamp()
            if flush_due is None or due < flush_due:
                self._exec(
                    cur,
                    "UPDATE notification_log SET flush_due = ? WHERE receiver = ? "
                    "AND group_hash = ?",
                    (due, receiver, group_hash),
                )
            return GroupOutcome(receiver, key, decision, last_notification=last)
        if decision.action == "skip":
            return GroupOutcome(receiver, key, decision, last_notification=last)
        active = self._exec(
            cur,
            "SELECT id FROM escalations WHERE receiver = ? AND group_hash = ? AND state = 'active'",
            (receiver, group_hash),
        ).fetchone()
        action = handle(
            GroupState(receiver, key, members, settings, decision, active[0] if active else None)
        )
        submissions: list[Submission] = []
        if action.plan is not None:
            submissions.append(
                self._add(cur, action.plan, lease_owner, lease_until, alert_key=str(key))
            )
        escalation_id = active[0] if active else None
        if action.escalation is not None and active is None:
            escalation_id = self._start_escalation(cur, receiver, key, action.escalation, now)
        firing = [m for m in members if not m.resolved]
        # Resolved members have now been told (or had nothing to tell): they leave the group, and
        # the digest is of what is still firing, so the next identical alert is a duplicate.
        self._exec(
            cur,
            "DELETE FROM group_members WHERE receiver = ? AND group_hash = ? AND resolved = 1",
            (receiver, group_hash),
        )
        sent = bool(submissions) or action.escalation is not None
        self._exec(
            cur,
            "UPDATE notification_log SET last_sent = ?, digest = ?, flush_due = NULL, "
            "last_notification = COALESCE(?, last_notification) "
            "WHERE receiver = ? AND group_hash = ?",
            (
                now if sent else last_sent,
                content_digest(firing),
                submissions[0].id if submissions else None,
                receiver,
                group_hash,
            ),
        )
        return GroupOutcome(
            receiver,
            key,
            decision,
            tuple(submissions),
            escalation_id,
            submissions[0].id if submissions else last,
        )

    # -- escalations ----------------------------------------------------------------------------

    def _start_escalation(
        self, cur: Any, receiver: str, key: AlertKey, start: EscalationStart, now: float
    ) -> str:
        from notifykit.plan.planner import new_id

        escalation_id = new_id()
        # 8 random bytes: the id an ack link names (signed: see Notifier.ack_url)
        ack_id = secrets.token_urlsafe(8)
        self._exec(
            cur,
            f"INSERT INTO escalations ({_ESCALATION_COLUMNS}, group_hash) "
            "VALUES (?, ?, ?, ?, ?, ?, 'active', ?, NULL, NULL, NULL, ?)",
            (
                escalation_id,
                receiver,
                start.policy,
                key.text,
                _dumps(alert_to_json(start.alert)),
                ack_id,
                now,
                key.digest,
            ),
        )
        cur.executemany(
            self._sql(  # type: ignore[attr-defined]
                "INSERT INTO escalation_steps (escalation_id, loop_no, step_no, due_at, state) "
                "VALUES (?, ?, ?, ?, 'pending')"
            ),
            [(escalation_id, loop, index, due) for loop, index, due in start.steps],
        )
        self._signal_work(cur)
        return escalation_id

    def fire_due_steps(
        self,
        now: float,
        plan_step: PlanStep,
        *,
        escalation_id: str | None = None,
        limit: int = 50,
        lease_owner: str | None = None,
        lease_until: float | None = None,
    ) -> list[Submission]:
        """Plan and store every due step of an active escalation (or of ``escalation_id``);
        each step becomes ``sent`` in the transaction that stores its notification. Steps of
        an escalation that is no longer active become ``cancelled``."""
        submissions: list[Submission] = []
        # A read first: the worker asks every loop, and most loops have nothing due (no write
        # transaction, so no write lock, for nothing).
        due = self._read(
            "finding due escalation steps",
            "SELECT 1 FROM escalation_steps WHERE state = 'pending' AND due_at <= ? LIMIT 1",
            (now,),
        )
        if not due:
            return submissions
        with self._tx("firing escalation steps") as cur:
            query = (
                "SELECT escalation_id, loop_no, step_no, due_at, state, notification_id "
                "FROM escalation_steps WHERE state = 'pending' AND due_at <= ?"
            )
            params: list[Any] = [now]
            if escalation_id is not None:
                query += " AND escalation_id = ?"
                params.append(escalation_id)
            query += f" ORDER BY due_at, loop_no, step_no LIMIT ? {self._skip_locked}"
            params.append(limit)
            steps = [StepRecord(*r) for r in self._exec(cur, query, params).fetchall()]
            records: dict[str, EscalationRecord] = {}
            for step in steps:
                record = records.get(step.escalation_id)
                if record is None:
                    found = self._exec(
                        cur,
                        f"SELECT {_ESCALATION_COLUMNS} FROM escalations WHERE id = ?",
                        (step.escalation_id,),
                    ).fetchone()
                    record = records[step.escalation_id] = _escalation(found)
                if record.state != "active":
                    state, notification = "cancelled", None
                else:
                    plan = plan_step(record, step)
                    notification = None
                    if plan is not None:
                        submission = self._add(
                            cur, plan, lease_owner, lease_until, alert_key=record.key
                        )
                        submissions.append(submission)
                        notification = submission.id
                    state = "sent"
                self._exec(
                    cur,
                    "UPDATE escalation_steps SET state = ?, notification_id = ? "
                    "WHERE escalation_id = ? AND loop_no = ? AND step_no = ?",
                    (state, notification, step.escalation_id, step.loop, step.index),
                )
            for record in records.values():
                left = self._exec(
                    cur,
                    "SELECT COUNT(*) FROM escalation_steps WHERE escalation_id = ? "
                    "AND state = 'pending'",
                    (record.id,),
                ).fetchone()
                if record.state == "active" and int(left[0]) == 0:
                    self._exec(
                        cur, "UPDATE escalations SET state = 'done' WHERE id = ?", (record.id,)
                    )
        return submissions

    def next_routing_due(self) -> float | None:
        """The earliest time a waiting group or a pending escalation step is due."""
        rows = self._read(
            "reading the next routing time",
            "SELECT MIN(flush_due) FROM notification_log UNION ALL "
            "SELECT MIN(due_at) FROM escalation_steps WHERE state = 'pending'",
        )
        times = [r[0] for r in rows if r[0] is not None]
        return min(times) if times else None

    def _stop_escalations(
        self, cur: Any, where: str, params: Sequence[Any], state: str, now: float, by: str | None
    ) -> list[EscalationRecord]:
        rows = self._exec(
            cur,
            f"SELECT {_ESCALATION_COLUMNS} FROM escalations WHERE state = 'active' AND {where} "
            f"{self._row_lock}",
            params,
        ).fetchall()
        stopped = []
        for r in rows:
            record = _escalation(r)
            if state == "acked":
                self._exec(
                    cur,
                    "UPDATE escalations SET state = 'acked', acked_at = ?, acked_by = ? "
                    "WHERE id = ?",
                    (now, by, record.id),
                )
            else:
                self._exec(
                    cur,
                    "UPDATE escalations SET state = 'resolved', resolved_at = ? WHERE id = ?",
                    (now, record.id),
                )
            self._exec(
                cur,
                "UPDATE escalation_steps SET state = 'cancelled' WHERE escalation_id = ? "
                "AND state = 'pending'",
                (record.id,),
            )
            stopped.append(
                EscalationRecord(
                    **{
                        **record.__dict__,
                        "state": state,
                        **(
                            {"acked_at": now, "acked_by": by}
                            if state == "acked"
                            else {"resolved_at": now}
                        ),
                    }
                )
            )
        return stopped

    def _resolve_if_all_resolved(
        self, cur: Any, receiver: str, group_hash: str, now: float
    ) -> None:
        row = self._exec(
            cur,
            "SELECT COUNT(*) FROM group_members WHERE receiver = ? AND group_hash = ? "
            "AND resolved = 0",
            (receiver, group_hash),
        ).fetchone()
        if int(row[0]) == 0:
            self._stop_escalations(
                cur,
                "receiver = ? AND group_hash = ?",
                (receiver, group_hash),
                "resolved",
                now,
                None,
            )

    def ack(self, given: str, by: str | None, now: float) -> list[EscalationRecord]:
        """Acknowledge the active escalations ``given`` names: their group's key, or the key of
        an alert in the group (its text, short form, or 8+ digits of its digest; the forms
        :meth:`alerts_named` takes). Their pending steps are cancelled."""
        given = given.strip()
        with self._tx("acknowledging") as cur:
            rows = self._exec(
                cur, f"SELECT {_ESCALATION_COLUMNS} FROM escalations WHERE state = 'active'"
            ).fetchall()
            if not rows or not given:
                return []
            # The groups with a firing alert whose own key is ``given`` (the key resolve takes).
            where, params = _digest_match(given, "m.alert_hash")
            named = {
                (receiver, group_hash)
                for receiver, group_hash, text in self._exec(
                    cur,
                    "SELECT m.receiver, m.group_hash, a.key_text FROM group_members m JOIN alerts a "
                    f"ON a.key_hash = m.alert_hash WHERE m.resolved = 0 AND {where}",
                    params,
                ).fetchall()
                if AlertKey(text).matches(given)
            }
            ids = [
                r[0]
                for r in rows
                if AlertKey(r[3]).matches(given)
                or _escalation(r).alert.key_for().matches(given)
                or (r[1], AlertKey(r[3]).digest) in named
            ]
            if not ids:
                return []
            return self._stop_escalations(
                cur, f"id IN ({','.join('?' * len(ids))})", ids, "acked", now, by
            )

    def ack_escalation(
        self,
        *,
        ack_id: str | None = None,
        notification_id: str | None = None,
        by: str | None,
        now: float,
    ) -> list[EscalationRecord]:
        """Acknowledge one escalation by its ack link id, or the one a step's notification
        belongs to (an answered call)."""
        with self._tx("acknowledging") as cur:
            if ack_id is not None:
                return self._stop_escalations(cur, "ack_id = ?", (ack_id,), "acked", now, by)
            return self._stop_escalations(
                cur,
                "id IN (SELECT escalation_id FROM escalation_steps WHERE notification_id = ?)",
                (notification_id,),
                "acked",
                now,
                by,
            )

    def resolve_escalations(
        self, receiver: str, key: AlertKey, now: float
    ) -> list[EscalationRecord]:
        with self._tx("resolving") as cur:
            return self._stop_escalations(
                cur,
                "receiver = ? AND group_hash = ?",
                (receiver, key.digest),
                "resolved",
                now,
                None,
            )

    def escalation_of(self, notification_id: str) -> tuple[EscalationRecord, StepRecord] | None:
        """The escalation and step a notification was sent for, if any."""
        rows = self._read(
            "reading an escalation step",
            "SELECT escalation_id, loop_no, step_no, due_at, state, notification_id "
            "FROM escalation_steps WHERE notification_id = ?",
            (notification_id,),
        )
        if not rows:
            return None
        step = StepRecord(*rows[0])
        found = self._read(
            "reading an escalation",
            f"SELECT {_ESCALATION_COLUMNS} FROM escalations WHERE id = ?",
            (step.escalation_id,),
        )
        return _escalation(found[0]), step

    def advance_escalation(self, escalation_id: str, now: float) -> bool:
        """A step failed: make the next pending step due ``now`` and move the later ones earlier
        by as much (:func:`notifykit.routing.escalation.advance`). ``False``: nothing moved."""
        with self._tx("advancing an escalation") as cur:
            row = self._exec(
                cur,
                "SELECT state FROM escalations WHERE id = ? " + self._row_lock,
                (escalation_id,),
            ).fetchone()
            if row is None or row[0] != "active":
                return False
            first = self._exec(
                cur,
                "SELECT MIN(due_at) FROM escalation_steps WHERE escalation_id = ? "
                "AND state = 'pending'",
                (escalation_id,),
            ).fetchone()
            if first is None or first[0] is None or first[0] <= now:
                return False
            self._exec(
                cur,
                "UPDATE escalation_steps SET due_at = due_at - ? WHERE escalation_id = ? "
                "AND state = 'pending'",
                (first[0] - now, escalation_id),
            )
            self._signal_work(cur)
        return True

    def escalations(self, state: str | None = None, limit: int = 100) -> list[EscalationRecord]:
        """Escalations newest first (``state``: only those in it)."""
        query = f"SELECT {_ESCALATION_COLUMNS} FROM escalations"
        params: list[Any] = []
        if state is not None:
            query += " WHERE state = ?"
            params.append(state)
        query += " ORDER BY started_at DESC, id DESC LIMIT ?"
        params.append(limit)
        return [_escalation(r) for r in self._read("listing escalations", query, params)]

    def escalation_steps(self, escalation_id: str) -> list[StepRecord]:
        rows = self._read(
            "reading escalation steps",
            "SELECT escalation_id, loop_no, step_no, due_at, state, notification_id "
            "FROM escalation_steps WHERE escalation_id = ? ORDER BY loop_no, step_no",
            (escalation_id,),
        )
        return [StepRecord(*r) for r in rows]

    # -- webhook idempotency and secrets --------------------------------------------------------

    def claim_idempotency(self, key: str, now: float) -> tuple[bool, str | None]:
        """``(True, None)`` when ``key`` is new (now claimed); ``(False, result)`` when it was
        seen before (``result``: what :meth:`finish_idempotency` stored, ``None`` while the
        first is still being processed)."""
        with self._tx("recording an idempotency key") as cur:
            inserted = self._exec(
                cur,
                "INSERT INTO idempotency (key, received_at) VALUES (?, ?) "
                "ON CONFLICT (key) DO NOTHING",
                (key, now),
            )
            if inserted.rowcount == 1:
                return True, None
            row = self._exec(cur, "SELECT result FROM idempotency WHERE key = ?", (key,)).fetchone()
            return False, row[0] if row else None

    def finish_idempotency(self, key: str, result: str | None) -> None:
        """Store the result of a claimed key (``None``: processing failed, forget the key so a
        retry is processed)."""
        with self._tx("recording an idempotency result") as cur:
            if result is None:
                self._exec(cur, "DELETE FROM idempotency WHERE key = ?", (key,))
            else:
                self._exec(cur, "UPDATE idempotency SET result = ? WHERE key = ?", (result, key))

    def routing_secret(self, name: str) -> str:
        """A random secret kept in the ledger (made on first use, shared by every process)."""
        with self._tx("reading a secret") as cur:
            self._exec(
                cur,
                "INSERT INTO routing_secrets (name, value) VALUES (?, ?) "
                "ON CONFLICT (name) DO NOTHING",
                (name, secrets.token_urlsafe(32)),
            )
            row = self._exec(
                cur, "SELECT value FROM routing_secrets WHERE name = ?", (name,)
            ).fetchone()
            return str(row[0])
