"""The routing engine wired to a Notifier: the one part of :mod:`notifykit.routing` that does I/O.

:class:`Router` takes an alert (``notify(..., labels=...)``, a log record, an Alertmanager webhook)
through the route tree, inhibition and time intervals, then per receiver reached through the
ledger's notification log (dedup, ``group_wait``, ``repeat_interval``:
:meth:`~notifykit.ledger.routing.RoutingStore.group_arrival`), and plans what is sent: a message
to the receiver's channels and recipients, or an escalation whose steps are stored in the ledger
and planned **when due** (so each step renders with the config and recipients of that moment;
the step becomes ``sent`` in the transaction that stores its notification, so a restarted worker
loses none and repeats none).

A route whose ``group_wait`` and ``repeat_interval`` are both ``0s`` keeps no state: every alert
is sent at once, as ``notify()`` always did. That is what the implicit routes of an
``events:``-only config use (so an OTP is never "deduplicated"); dedup is opted into with
``route:`` (or, for :class:`~notifykit.NotifyHandler`, by its ``repeat_interval``).

Templates of routed notifications see, besides the data, the variables of
:func:`routing_variables`: ``labels``, ``alerts`` (the group's alerts, each ``{event, severity,
labels, data, status, key}``: what a digest template loops over), ``alert_key``, ``status``
(``firing``/``resolved``; also ``alert_status``), ``receiver`` and ``ack_url`` (the signed
acknowledgement link of an escalation, ``None`` elsewhere or without ``server.public_url``).
They are template variables only, never part of the notification's ``data``, and win over data
keys of the same name (``data.status`` is still the caller's).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from notifykit.errors import NotificationError, NotifykitError
from notifykit.report import DeliveryState, MessageText, Report, Submission
from notifykit.routing.alert import Alert, AlertKey
from notifykit.routing.escalation import Receiver, plan
from notifykit.routing.explain import Explanation, explain
from notifykit.routing.tree import RouteMatch, RouteSettings
from notifykit.worker.dispatch import NOTIFY_LEASE

if TYPE_CHECKING:
    from notifykit.channels.base import StatusUpdate
    from notifykit.ledger.base import Change
    from notifykit.ledger.routing import EscalationRecord, GroupAction, GroupState, StepRecord
    from notifykit.notifier import Notifier
    from notifykit.plan.planner import Plan
    from notifykit.routing.listing import OpenAlert

__all__ = [
    "OPEN_ALERT_WINDOW",
    "Router",
    "describe_channel",
    "distinct_texts",
    "routing_variables",
]

logger = logging.getLogger("notifykit.routing")

#: how long a firing alert that is never resolved keeps inhibiting others (in-app alerts have no
#: end time; Alertmanager's resolve_timeout plays this part)
OPEN_ALERT_WINDOW = 4 * 3600.0
#: the length of an ack link's signature (base64url characters: 96 bits)
ACK_SIGNATURE_CHARS = 16


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, timezone.utc)


class Router:
    """Routing for one :class:`~notifykit.Notifier` (``kit.router``)."""

    def __init__(self, kit: Notifier) -> None:
        self.kit = kit
        routing = kit.config.routing
        assert routing is not None, "load_config always sets Config.routing"
        self.routing = routing
        self._secret: bytes | None = None

    # -- sending --------------------------------------------------------------------------------

    def route(
        self,
        alert: Alert,
        *,
        template: str | None = None,
        submit: bool = False,
        repeat_interval: float | None = None,
        direct: Receiver | None = None,
    ) -> tuple[Report | Submission, list[Plan]]:
        """Route ``alert``: store what is to be sent (and, for ``notify()``, return the plans it
        must now dispatch itself). ``repeat_interval`` applies to implicit routes and ``direct``
        only (the NotifyHandler's dedup on an ``events:``-only config, or with its own ``to``).
        """
        kit = self.kit
        routing = self.routing
        now = kit.clock()
        at = _at(now)
        notes: list[str] = []
        receivers: Mapping[str, Receiver] = routing.receivers
        if direct is not None:
            # A sender that names its recipients (NotifyHandler(to=...)) skips the tree but
            # keeps dedup: one receiver of its own, keyed by the alert.
            receivers = {**receivers, direct.name: direct}
            settings = RouteSettings(receiver=direct.name, repeat_interval=repeat_interval or 0.0)
            matches = [RouteMatch(direct.name, settings, (), alert.key_for())]
        else:
            matches = routing.route(alert)
            note = self._unknown_event_note(alert, matches)
            if note is not None:
                notes.append(note)
                logger.info("%s", note)
        stateful = not kit.dry_run and not routing.implicit
        if stateful:
            kit.ledger.record_alert(alert, now)
        firing: Sequence[Alert] = ()
        if routing.inhibit_rules and not kit.dry_run:
            firing = kit.ledger.open_alerts(now - OPEN_ALERT_WINDOW)
        inhibition = routing.inhibition(alert, firing)
        owner = None if submit else kit._owner
        lease_until = None if submit else now + NOTIFY_LEASE
        made: list[Plan] = []
        submissions: list[Submission] = []
        last_seen: list[str] = []
        reached: list[str] = []
        skipped = False  # a receiver deduplicated it (already sent, unchanged)
        for match in matches:
            if match.receiver in reached:
                continue
            reason = inhibition.reason if inhibition else routing.tree.mute_reason(match, at)
            if reason is not None:
                notes.append(f"muted: {match.receiver}: {reason}")
                continue
            reached.append(match.receiver)
            receiver = receivers[match.receiver]
            settings = match.settings
            if repeat_interval is not None and routing.implicit and direct is None:
                settings = dataclasses.replace(settings, repeat_interval=repeat_interval)
            policy = routing.escalation_of(receiver)
            if policy is None and settings.group_wait == 0 and settings.repeat_interval == 0:
                # No state to keep: every alert is sent, as notify() always did.
                if alert.resolved and not settings.send_resolved:
                    notes.append(f"{receiver.name}: resolved, and the route does not send_resolved")
                    continue
                # key= of an events:-only config keeps its old meaning too: an idempotency key
                # (a second notify() with it returns the first report).
                p = self.plan_receiver(
                    receiver,
                    settings,
                    match.key,
                    (alert,),
                    alert,
                    template,
                    idempotency_key=alert.key if routing.implicit else None,
                )
                if kit.dry_run:
                    made.append(p)
                    continue
                submissions.append(self._store(p, submit, owner, lease_until))
                if not submissions[-1].duplicate:
                    made.append(p)
                continue
            if kit.dry_run:
                # A dry run plans what a first alert would send now (an escalation: its steps
                # due at once), without touching the state.
                if not alert.resolved:
                    made.extend(self._first_plans(receiver, settings, match.key, alert, template))
                continue
            # Caller mistakes (an unknown recipient, a broken template) raise before anything is
            # stored, as for notify() without routing.
            if not alert.resolved:
                self._first_plans(receiver, settings, match.key, alert, template)
            handle = self._handle(receiver, settings, alert, template, made, now)
            outcome = kit.ledger.group_arrival(
                receiver.name,
                match.key,
                alert,
                settings,
                now,
                handle,
                lease_owner=owner,
                lease_until=lease_until,
            )
            submissions.extend(outcome.submissions)
            if outcome.decision.action != "send":
                skipped = skipped or outcome.decision.action == "skip"
                notes.append(
                    f"{receiver.name}: {outcome.decision.action}: {outcome.decision.reason}"
                )
                if outcome.last_notification:
                    last_seen.append(outcome.last_notification)
            if outcome.escalation_id is not None and not alert.resolved:
                submissions.extend(
                    kit.ledger.fire_due_steps(
                        now,
                        self._step_planner(made),
                        escalation_id=outcome.escalation_id,
                        lease_owner=owner,
                        lease_until=lease_until,
                    )
                )
        key = str(matches[0].key)
        if submit:
            return self._submission(submissions, last_seen, key), made
        if skipped and not submissions and not made and last_seen:
            return self._deduplicated(alert, key, last_seen[0], notes), made
        return self._report(alert, key, submissions, last_seen, made, notes), made

    def _unknown_event_note(self, alert: Alert, matches: Sequence[RouteMatch]) -> str | None:
        """The "a misspelling?" note: only for an event no ``events:`` entry or route names
        that reached nothing but the root route. An alert a child route took by its labels
        (``service=~"db|cache"``, ``severity="critical"``) was routed as meant."""
        if not self.kit.config.unknown_event(alert.event):
            return None
        root = self.routing.tree.root.path
        if any(m.path != root for m in matches):
            return None
        return (
            f"event {alert.event!r} is named by no route and no events: entry: it went to "
            f"the root receiver {matches[0].receiver!r} (a misspelling?)"
        )

    def _store(
        self, p: Plan, submit: bool, owner: str | None, lease_until: float | None
    ) -> Submission:
        """Store a stateless notification: submit() hands it to the configured dispatch (the
        ledger's workers, or Celery); notify() leases it to itself to send now."""
        kit = self.kit
        if submit and kit.config.scaleout.dispatch == "celery":
            from notifykit.celery import submit as submit_to_celery

            return submit_to_celery(kit, p)
        return kit.ledger.add(p, lease_owner=owner, lease_until=lease_until)

    def _first_plans(
        self,
        receiver: Receiver,
        settings: RouteSettings,
        key: AlertKey,
        alert: Alert,
        template: str | None,
    ) -> list[Plan]:
        """What a new alert sends at once: the receiver's message, or its escalation's steps
        with ``after: 0s`` (planned here to raise caller mistakes early, and for dry runs)."""
        policy = self.routing.escalation_of(receiver)
        if policy is None:
            return [self.plan_receiver(receiver, settings, key, (alert,), alert, template)]
        return [
            self.plan_receiver(
                receiver,
                settings,
                key,
                (alert,),
                alert,
                template,
                ack_url=None,
                channels=step.channels,
                to=step.to,
            )
            for step in policy.steps
            if step.after == 0
        ]

    def _handle(
        self,
        receiver: Receiver,
        settings: RouteSettings,
        alert: Alert,
        template: str | None,
        made: list[Plan],
        now: float,
    ) -> Any:
        # The ledger's routing state is imported by the stateful paths only: a dry run, and the
        # implicit routes of an events:-only config, keep no state.
        from notifykit.ledger.routing import EscalationStart, GroupAction

        policy = self.routing.escalation_of(receiver)

        def handle(state: GroupState) -> GroupAction:
            resolved = all(m.resolved for m in state.members)
            if resolved and not settings.send_resolved:
                return GroupAction()
            if policy is not None:
                if resolved:
                    # Tell everyone the escalation could have reached that it is over.
                    targets = tuple(dict.fromkeys(t for s in policy.steps for t in s.to))
                    channels = tuple(dict.fromkeys(c for s in policy.steps[:1] for c in s.channels))
                    direct = dataclasses.replace(receiver, channels=channels, to=targets)
                    p = self.plan_receiver(
                        direct, settings, state.key, state.members, alert, template
                    )
                    made.append(p)
                    return GroupAction(plan=p)
                if state.active_escalation is not None:
                    return GroupAction()  # already escalating: the same incident
                # Offsets added to the epoch itself: a round trip through datetime rounds to
                # microseconds, and the step due "now" could land just after now.
                start = _at(now)
                steps = tuple(
                    (s.loop, s.index, now + (s.due - start).total_seconds())
                    for s in plan(policy, start)
                )
                return GroupAction(escalation=EscalationStart(policy.name, steps, alert))
            p = self.plan_receiver(receiver, settings, state.key, state.members, alert, template)
            made.append(p)
            return GroupAction(plan=p)

        return handle

    def plan_receiver(
        self,
        receiver: Receiver,
        settings: RouteSettings,
        key: AlertKey,
        members: Sequence[Alert],
        alert: Alert,
        template: str | None,
        *,
        ack_url: str | None = None,
        channels: Sequence[str] | None = None,
        to: Sequence[str] | None = None,
        idempotency_key: str | None = None,
    ) -> Plan:
        """The notification a receiver (or an escalation step: ``channels``/``to``) gets."""
        kit = self.kit
        event = kit.config.events.get(alert.event)
        chosen = (
            template
            or receiver.template
            or (event.template if event else None)
            or kit.config.defaults.template
        )
        severity = max((m.severity for m in members), key=_rank, default=alert.severity)
        result = kit.planner.plan(
            alert.event,
            severity,
            alert.data,
            tuple(to if to is not None else receiver.to),
            tuple(channels if channels is not None else receiver.channels),
            chosen,
            None,
            key=idempotency_key,
            dry_run=kit.dry_run,
            routing=routing_variables(alert, members, key, receiver.name, ack_url),
        )
        priority = settings.priority or receiver.priority
        if priority is None:
            return self._for_receiver(result, receiver)
        # The route's (or receiver's) priority overrides what the channel chose by severity.
        jobs = tuple(
            dataclasses.replace(job, options={**job.options, "priority": priority})
            if "priority" in job.options
            else job
            for job in result.jobs
        )
        return self._for_receiver(dataclasses.replace(result, jobs=jobs), receiver)

    def _for_receiver(self, p: Plan, receiver: Receiver) -> Plan:
        """``p`` marked with its receiver, for ``history`` (not on an ``events:``-only config,
        whose implicit receivers are the config's defaults and events)."""
        if self.routing.implicit:
            return p
        return dataclasses.replace(p, receiver=receiver.name)

    def _step_planner(self, made: list[Plan]) -> Any:
        if self.kit.config.server.public_url:
            self._sign("")  # read the ack secret now: steps are planned inside a transaction

        def plan_step(record: EscalationRecord, step: StepRecord) -> Plan | None:
            policy = self.routing.escalations.get(record.policy)
            receiver = self.routing.receivers.get(record.receiver)
            if policy is None or receiver is None or step.index >= len(policy.steps):
                logger.error(
                    "escalation %s: policy %r or receiver %r is no longer configured; step %d.%d "
                    "not sent",
                    record.id,
                    record.policy,
                    record.receiver,
                    step.loop,
                    step.index,
                )
                return None
            configured = policy.steps[step.index]
            settings = RouteSettings(receiver=receiver.name)
            try:
                p = self.plan_receiver(
                    receiver,
                    settings,
                    AlertKey(record.key),
                    (record.alert,),
                    record.alert,
                    None,
                    ack_url=self.ack_url(record.ack_id),
                    channels=configured.channels,
                    to=configured.to,
                )
            except NotifykitError as err:
                # The config changed under a running escalation (a recipient removed...): log
                # it loudly and go on with the next steps rather than stop the worker.
                logger.error(
                    "escalation %s step %d.%d cannot be planned: %s",
                    record.id,
                    step.loop,
                    step.index,
                    self.kit._scrub(str(err)),
                )
                return None
            p = dataclasses.replace(p, step=f"{step.loop}.{step.index}")
            made.append(p)
            return p

        return plan_step

    def tick(self, now: float) -> int:
        """Flush waiting groups and plan due escalation steps (the worker's loop calls this);
        their deliveries are then claimed like any other. Returns how many were stored."""
        if self.routing.implicit and not self.routing.escalations:
            return 0
        ledger = self.kit.ledger
        stored = 0
        for outcome in ledger.flush_groups(now, self._flush_handle(now)):
            stored += len(outcome.submissions)
            if outcome.escalation_id is not None:
                stored += len(
                    ledger.fire_due_steps(
                        now, self._step_planner([]), escalation_id=outcome.escalation_id
                    )
                )
        stored += len(ledger.fire_due_steps(now, self._step_planner([])))
        return stored

    def _flush_handle(self, now: float) -> Any:
        from notifykit.ledger.routing import GroupAction

        def handle(state: GroupState) -> GroupAction:
            receiver = self.routing.receivers.get(state.receiver)
            if receiver is None or not state.members:
                return GroupAction()
            inner = self._handle(receiver, state.settings, state.members[-1], None, [], now)
            action: GroupAction = inner(state)
            return action

        return handle

    def next_due(self) -> float | None:
        if self.routing.implicit and not self.routing.escalations:
            return None
        return self.kit.ledger.next_routing_due()

    # -- results --------------------------------------------------------------------------------

    def _submission(
        self, submissions: list[Submission], last_seen: list[str], key: str
    ) -> Submission:
        if submissions:
            first = submissions[0]
            ids = tuple(i for s in submissions for i in s.deliveries)
            return Submission(first.id, ids, all(s.duplicate for s in submissions), key)
        if last_seen:
            report = self.kit.ledger.report(last_seen[0])
            return Submission(report.id, tuple(d.id for d in report.deliveries), True, key)
        return Submission("", (), True, key)

    def _report(
        self,
        alert: Alert,
        key: str,
        submissions: list[Submission],
        last_seen: list[str],
        made: list[Plan],
        notes: list[str],
    ) -> Report:
        kit = self.kit
        if kit.dry_run:
            planned = tuple(d for p in made for d in kit.dispatcher.dry_run(p))
            return Report(
                alert.event,
                alert.severity,
                planned,
                True,
                {k: v for p in made for k, v in p.messages.items()},
                id=made[0].notification.id if made else "",
                key=key,
                notes=tuple(notes),
                texts=distinct_texts((p.receiver, p.messages) for p in made),
            )
        ledger = kit.ledger
        done: dict[str, Any] = {}
        for p in made:
            if not p.jobs:
                continue
            changes = kit.dispatcher.deliver_now(ledger, kit._owner, p, lease=NOTIFY_LEASE)
            done.update({c.delivery.id: c.delivery for c in changes})
            self.on_changes(changes)
        ids = [s.id for s in submissions] or last_seen[:1]
        reports = [ledger.report(i) for i in dict.fromkeys(ids)]
        deliveries = tuple(done.get(d.id) or d for r in reports for d in r.deliveries)
        messages: dict[str, str | None] = {}
        for r in reports:
            for name, text in r.messages.items():
                messages.setdefault(name, text)
        return Report(
            alert.event,
            alert.severity,
            deliveries,
            False,
            messages,
            id=reports[0].id if reports else "",
            key=key,
            created=reports[0].created if reports else kit.clock(),
            notes=tuple(notes),
            texts=distinct_texts((r.receiver, r.messages) for r in reports),
        )

    def _deduplicated(self, alert: Alert, key: str, earlier: str, notes: list[str]) -> Report:
        """The report of an alert every receiver deduplicated: nothing was sent, so no
        deliveries (the earlier notification's are not this one's, and stay as they are in the
        ledger); ``id`` names the earlier notification."""
        return Report(
            alert.event,
            alert.severity,
            (),
            False,
            {},
            id=earlier,
            key=key,
            created=self.kit.clock(),
            notes=tuple(notes),
            deduplicated=True,
        )

    # -- acknowledgement, resolution, status ----------------------------------------------------

    def ack(self, key: str, by: str | None = None) -> list[EscalationRecord]:
        """Acknowledge the active escalations of ``key``: their pending steps are cancelled."""
        acked = self.kit.ledger.ack(key, by, self.kit.clock())
        for record in acked:
            logger.info("escalation %s (%s) acknowledged by %s", record.id, record.key, by or "-")
        return acked

    def ack_url(self, ack_id: str) -> str | None:
        """The signed link that acknowledges an escalation (``None`` without
        ``server.public_url``)."""
        public = self.kit.config.server.public_url
        if not public:
            return None
        return f"{public}/ack/{ack_id}{self._sign(ack_id)}"

    def _sign(self, ack_id: str) -> str:
        if self._secret is None:
            self._secret = self.kit.ledger.routing_secret("ack").encode()
        digest = hmac.new(self._secret, ack_id.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode()[:ACK_SIGNATURE_CHARS]

    def ack_token(
        self, token: str, by: str | None = None, *, check_only: bool = False
    ) -> list[EscalationRecord] | None:
        """Acknowledge through an ack link's token; ``None`` when the token is not genuine
        (the signature is checked before the ledger is asked). ``check_only``: only check."""
        if len(token) <= ACK_SIGNATURE_CHARS:
            return None
        ack_id, signature = token[:-ACK_SIGNATURE_CHARS], token[-ACK_SIGNATURE_CHARS:]
        if not hmac.compare_digest(self._sign(ack_id), signature):
            return None
        if check_only:
            return []
        return self.kit.ledger.ack_escalation(ack_id=ack_id, by=by, now=self.kit.clock())

    def resolve(self, key: str) -> list[Report]:
        """Resolve the open alerts whose key is ``key`` (see :meth:`Notifier.resolve`)."""
        alerts = self.alerts_named(key)
        reports = []
        for alert in alerts:
            report, _ = self.route(dataclasses.replace(alert, resolved=True))
            assert isinstance(report, Report)
            reports.append(report)
        return reports

    def alerts_named(self, key: str) -> list[Alert]:
        """The open alerts ``key`` names, in the forms ``ack`` takes: an alert's own key or the
        key of a group it is in (what reports show), each as its text, its short form or 8+
        hex digits of its digest. Groups are looked up in the ledger, and, for the routes that
        keep no group state, through the current routes."""
        ledger = self.kit.ledger
        found = {a.key_for().text: a for a in ledger.alerts_named(key)}
        if not self.routing.implicit:
            for alert in ledger.open_alerts(0.0):
                text = alert.key_for().text
                if text not in found and any(m.key.matches(key) for m in self.routing.route(alert)):
                    found[text] = alert
        return list(found.values())

    def alerts(self) -> list[OpenAlert]:
        """The open alerts, one row per receiver each reaches (see :func:`open_alerts`)."""
        from notifykit.routing.listing import open_alerts

        if self.routing.implicit:
            return []  # an events:-only config keeps no alert state
        now = self.kit.clock()
        snapshot = self.kit.ledger.routing_snapshot()
        return open_alerts(self.routing, snapshot, now, window=OPEN_ALERT_WINDOW)

    def on_status(self, pairs: Sequence[tuple[str, StatusUpdate, Change | None]]) -> None:
        """Status reports (notification id, update, the change it made): a failed step escalates
        at once; an answered call acknowledges when the policy says ``ack_on_answer``."""
        if not self.routing.escalations:
            return
        ledger = self.kit.ledger
        now = self.kit.clock()
        for notification_id, update, change in pairs:
            found = ledger.escalation_of(notification_id)
            if found is None:
                continue
            record, _step = found
            policy = self.routing.escalations.get(record.policy)
            if update.info.get("answered") is True and policy and policy.ack_on_answer:
                ledger.ack_escalation(notification_id=notification_id, by="answered call", now=now)
                continue
            failed = change is not None and change.delivery.state is DeliveryState.FAILED
            if failed and ledger.advance_escalation(record.id, now):
                logger.warning(
                    "escalation %s: a step's delivery failed, the next step goes out now",
                    record.id,
                )

    def on_changes(self, changes: Sequence[Change]) -> None:
        """Deliveries recorded by a worker or notify(): a failed step escalates at once. Not
        one that failed for a reason of our own (``Change.infrastructure``: the shared rate
        limiter's store...): the recipient was never tried, so the next step keeps its time."""
        if not self.routing.escalations:
            return
        failed = [
            c
            for c in changes
            if c.delivery.state is DeliveryState.FAILED and c.infrastructure is None
        ]
        if not failed:
            return
        from notifykit.channels.base import StatusUpdate

        self.on_status(
            [
                (c.delivery.notification_id, StatusUpdate(provider_id="", state=None), c)
                for c in failed
            ]
        )

    # -- input from monitoring ------------------------------------------------------------------

    def alertmanager(self, body: bytes | str) -> dict[str, Any]:
        """Route every alert of an Alertmanager webhook body (version 4), each once: its
        fingerprint + startsAt is claimed in the ledger first, so a retried webhook (or the same
        body posted twice) sends nothing again. Returns a JSON-ready summary.

        :raises AlertmanagerPayloadError: the body is not a valid payload (nothing was routed).
        """
        import json

        from notifykit.routing.alertmanager import parse_webhook

        payload = parse_webhook(body)
        ledger = self.kit.ledger
        results: list[dict[str, Any]] = []
        for alert in payload.alerts:
            idempotency = alert.idempotency_key or ""
            claimed, earlier = ledger.claim_idempotency(idempotency, self.kit.clock())
            if not claimed:
                results.append({"event": alert.event, "duplicate": True, "result": earlier})
                continue
            try:
                report, _ = self.route(alert, submit=False)
            except BaseException:
                ledger.finish_idempotency(idempotency, None)  # let Alertmanager's retry in
                raise
            assert isinstance(report, Report)
            summary = {"id": report.id, "key": report.key, "counts": report.by_state()}
            ledger.finish_idempotency(idempotency, json.dumps(summary))
            results.append({"event": alert.event, "duplicate": False, **summary})
        return {"ok": True, "status": payload.status, "alerts": results}

    # -- explaining -----------------------------------------------------------------------------

    def explain(
        self,
        event: str,
        *,
        severity: str | None = None,
        labels: Mapping[str, str] | None = None,
        at: datetime | None = None,
        resolved: bool = False,
    ) -> Explanation:
        """What routing would do with an alert at ``at`` (default now), sending nothing."""
        kit = self.kit
        event_config = kit.config.events.get(event)
        severity = (
            severity or (event_config and event_config.severity) or kit.config.defaults.severity
        )
        try:
            alert = Alert(event, severity, labels or {}, resolved=resolved)
        except ValueError as err:
            raise NotificationError(str(err)) from None
        when = at or _at(kit.clock())
        if when.tzinfo is None:
            raise NotificationError("at= must be an aware datetime (with a time zone)")
        firing: Sequence[Alert] = ()
        if self.routing.inhibit_rules and not kit.dry_run:
            firing = kit.ledger.open_alerts(when.timestamp() - OPEN_ALERT_WINDOW)
        return explain(
            self.routing, alert, when, firing=firing, describe_delivery=self.describe_delivery
        )

    def describe_delivery(
        self, receiver: Receiver, channel: str, recipient: str, severity: str
    ) -> Mapping[str, Any] | Sequence[Mapping[str, Any]]:
        """What ``channel`` would use for ``severity``: its sender (``from``) and priority, per
        person when ``recipient`` is a group."""
        kit = self.kit
        described = describe_channel(kit, channel, severity)
        if receiver.priority:
            described = {**described, "priority": receiver.priority}
        try:
            people = kit.resolve_recipients([recipient])
        except NotifykitError:
            return described
        if len(people) == 1 and people[0].label == recipient:
            return {**described, "address": people[0].phone}
        return [{**described, "to": p.label, "address": p.phone, "via": recipient} for p in people]


def routing_variables(
    alert: Alert, members: Sequence[Alert], key: AlertKey, receiver: str, ack_url: str | None
) -> dict[str, Any]:
    """What the templates of a routed notification see besides its data (which stays exactly
    what the caller passed): the one place these variables are made."""
    status = "resolved" if all(m.resolved for m in members) else "firing"
    return {
        "labels": dict(alert.labels),
        "alerts": [
            {
                "event": m.event,
                "severity": m.severity,
                "labels": dict(m.labels),
                "data": dict(m.data),
                "status": "resolved" if m.resolved else "firing",
                "key": str(m.key_for()),
            }
            for m in members
        ],
        "alert_key": str(key),
        "status": status,
        "alert_status": status,  # its first name, kept for the templates that use it
        "receiver": receiver,
        "ack_url": ack_url,
    }


def describe_channel(kit: Notifier, channel: str, severity: str) -> dict[str, Any]:
    """A channel's sender and priority for ``severity``: from its optional
    ``describe(message)`` method, else from the options its ``prepare()`` chooses (``from_``,
    ``priority``), else from its ``caller_id``/``from`` settings picked by severity."""
    from notifykit.channels.base import Message, by_severity

    instance = kit.channels.get(channel)
    if instance is None:
        return {"from": None, "priority": None}
    message = Message(event="routes.test", severity=severity, text="routes test")
    describe = getattr(instance, "describe", None)
    if callable(describe):
        found = dict(describe(message))
        return {"from": found.pop("from", None), "priority": found.pop("priority", None), **found}
    try:
        options = dict(instance.prepare(message).options)
    except Exception:  # a channel that refuses a stand-in text: fall back to its settings
        options = {}
    sender = options.get("from_") or options.get("caller_id") or options.get("from")
    if sender is None:
        settings = kit.config.channels[channel].settings
        for name in ("caller_id", "from", "sender"):
            value = settings.get(name)
            if isinstance(value, Mapping) and value:
                try:
                    value = by_severity(value, severity)
                except KeyError:
                    value = None
            if isinstance(value, str):
                sender = value
                break
    return {"from": sender, "priority": options.get("priority")}


def distinct_texts(
    sent: Iterable[tuple[str | None, Mapping[str, str | None]]],
) -> tuple[MessageText, ...]:
    """Every distinct text per channel of ``sent`` (each notification's receiver and
    messages), when some channel has more than one; else ``()`` (``messages`` shows them)."""
    found: dict[tuple[str, str], list[str]] = {}
    for receiver, messages in sent:
        for channel, text in messages.items():
            if text is None:
                continue
            receivers = found.setdefault((channel, text), [])
            if receiver and receiver not in receivers:
                receivers.append(receiver)
    channels = [channel for channel, _text in found]
    if len(channels) == len(set(channels)):
        return ()
    return tuple(MessageText(c, t, tuple(r)) for (c, t), r in found.items())


def _rank(severity: str) -> int:
    from notifykit.channels.base import severity_rank

    return severity_rank(severity)
