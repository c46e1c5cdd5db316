"""Where an alert enters the pipeline: the route stage, then the group stage per receiver
reached, in one unit of work of the routing state.

Every way in uses it — ``notify()``, ``submit()``, ``NotifyHandler``, Alertmanager's webhook,
``resolve`` — with a :class:`~notifykit.pipeline.store.Handoff` saying who sends what gets
stored. A receiver whose route keeps no state (``group_wait: 0s`` and ``repeat_interval: 0s``,
as the implicit routes of an ``events:``-only config) gets one message per alert at once;
every other alert joins its group, which is flushed now when its timer is due, or later by the
worker's tick.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from notifykit.errors import NobodyOnCallError
from notifykit.ledger.audit import SYSTEM, Acting
from notifykit.model import Held
from notifykit.routing.lifecycle import GroupRoute
from notifykit.routing.tree import RouteMatch, RouteSettings

if TYPE_CHECKING:
    from notifykit.ledger.base import Ledger
    from notifykit.ledger.state import RoutingState, Unit
    from notifykit.pipeline.escalate import Escalations
    from notifykit.pipeline.groups import GroupFlusher
    from notifykit.pipeline.messages import Messages
    from notifykit.pipeline.stages import Stage
    from notifykit.pipeline.store import Handoff, Store, Stored
    from notifykit.plan.planner import Plan
    from notifykit.routing.alert import Alert
    from notifykit.routing.escalation import Receiver
    from notifykit.routing.model import RoutingConfig

__all__ = ["Ingest", "Routed"]

logger = logging.getLogger("notifykit.routing")


@dataclass
class Routed:
    """What the pipeline did with one alert: the notifications it stored (to be sent as the
    handoff says), the groups it waits in, the groups that told their receiver already, and
    what routing noted. ``plans``: a dry run's, stored nowhere."""

    alert: Alert
    key: str
    stored: list[Stored] = field(default_factory=list)
    plans: list[Plan] = field(default_factory=list)
    held: list[Held] = field(default_factory=list)
    #: notifications that already told of this alert, nothing new being sent
    told: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: Alertmanager's webhook: this firing was routed before (its result then)
    duplicate: bool = False
    earlier: str | None = None


def stateless(settings: RouteSettings, receiver: Receiver) -> bool:
    """A route that keeps no state: every alert is one message, sent at once."""
    return settings.group_wait == 0 and settings.repeat_interval == 0 and not receiver.escalation


class Ingest:
    """The route and group stages, for one alert at a time (see the module docstring).

    ``flusher`` and ``escalations`` give the group and escalation stages, made on first use
    (:class:`notifykit.pipeline.builder.Parts`): an alert that keeps no state (every
    ``events:``-only ``notify()``, every dry run) never needs them."""

    def __init__(
        self,
        *,
        routing: RoutingConfig,
        messages: Messages,
        flusher: Callable[[], GroupFlusher],
        escalations: Callable[[], Escalations],
        store: Store,
        mute_now: Sequence[Stage],
        state: Callable[[], RoutingState],
        ledger: Callable[[], Ledger],
        unknown_event: Callable[[str], bool],
        clock: Callable[[], float],
        dry_run: bool = False,
    ) -> None:
        self._routing = routing
        self._messages = messages
        self._flusher = flusher
        self._escalations = escalations
        self._store = store
        self._mute_now = tuple(mute_now)
        self._state = state
        self._ledger = ledger
        self._unknown_event = unknown_event
        self._clock = clock
        self._dry_run = dry_run

    def __call__(
        self,
        alert: Alert,
        handoff: Handoff,
        *,
        template: str | None = None,
        direct: Receiver | None = None,
        repeat_interval: float | None = None,
        claim: str | None = None,
        summary: Callable[[Routed], str] | None = None,
        acting: Acting = SYSTEM,
    ) -> Routed:
        """Route ``alert`` and store what goes out. ``direct``: a receiver of the sender's own
        (``NotifyHandler(to=...)``), skipping the tree but keeping dedup; ``repeat_interval``:
        the dedup of implicit routes and ``direct``. ``claim``: an idempotency key claimed in
        the same transaction (Alertmanager's fingerprint and startsAt), its result from
        ``summary``. ``acting``: who sent it and how, for the audit trail of a resolution."""
        routing = self._routing
        now = self._clock()
        receivers: Mapping[str, Receiver] = routing.receivers
        if direct is not None:
            receivers = {**receivers, direct.name: direct}
            settings = RouteSettings(receiver=direct.name, repeat_interval=repeat_interval or 0.0)
            matches = [RouteMatch(direct.name, settings, (), alert.key_for())]
        else:
            matches = routing.route(alert)
            if repeat_interval is not None and routing.implicit:
                matches = [
                    dataclasses.replace(
                        m, settings=dataclasses.replace(m.settings, repeat_interval=repeat_interval)
                    )
                    for m in matches
                ]
        routed = Routed(alert, str(matches[0].key))
        note = None if direct is not None else self._unknown_event_note(alert, matches)
        if note is not None:
            routed.notes.append(note)
            logger.info("%s", note)
        reached: list[tuple[RouteMatch, Receiver]] = []
        for match in matches:
            if all(match.receiver != r.name for _, r in reached):
                reached.append((match, receivers[match.receiver]))
        if self._dry_run:
            self._dry(routed, reached, template, now)
            return routed
        implicit_keys = routing.implicit and direct is None
        if claim is None and routing.implicit and all(stateless(m.settings, r) for m, r in reached):
            # An events:-only config keeps no state at all: no alert is recorded.
            self._stateless_only(routed, reached, template, handoff, now, implicit_keys)
            return routed
        # Caller mistakes (an unknown recipient, a broken template) raise here, before anything
        # is stored; the plan of a first alert alone is used if that is what its group sends.
        first = {r.name: self._first(m, r, alert, template) for m, r in reached}
        escalations = self._escalations()
        if escalations.configured:
            escalations.links.prime()
        with self._state().unit("routing an alert") as unit:
            if claim is not None:
                claimed, earlier = unit.claim_idempotency(claim, now)
                if not claimed:
                    routed.duplicate, routed.earlier = True, earlier
                    return routed
            unit.record_alert(alert, now)
            for match, receiver in reached:
                if stateless(match.settings, receiver):
                    self._one_message(
                        routed, unit, match, receiver, template, handoff, now, implicit_keys
                    )
                else:
                    own = receiver if receiver is direct else None
                    self._join(
                        routed, unit, match, receiver, own, template, handoff, now, first, acting
                    )
            if claim is not None and summary is not None:
                unit.finish_idempotency(claim, summary(routed))
        return routed

    def _unknown_event_note(self, alert: Alert, matches: Sequence[RouteMatch]) -> str | None:
        """The "a misspelling?" note: only for an event no ``events:`` entry or route names
        that reached nothing but the root route. An alert a child route took by its labels
        (``service=~"db|cache"``, ``severity="critical"``) was routed as meant."""
        if not self._unknown_event(alert.event):
            return None
        root = self._routing.tree.root.path
        if any(m.path != root for m in matches):
            return None
        return (
            f"event {alert.event!r} is named by no route and no events: entry: it went to "
            f"the root receiver {matches[0].receiver!r} (a misspelling?)"
        )

    # -- receivers that keep no state ---------------------------------------------------------------

    def _muted_now(
        self,
        alert: Alert,
        match: RouteMatch,
        receiver: Receiver,
        now: float,
        unit: Unit | None = None,
    ) -> str | None:
        """Why a receiver that keeps no state sends nothing for this alert now (its arrival is
        its only flush)."""
        from notifykit.pipeline.stages import Flush
        from notifykit.routing.lifecycle import Member

        route = GroupRoute(
            match.settings, match.mute_time_intervals, match.active_time_intervals, match.path
        )
        member = Member(alert, "", now, now, None)
        flush = Flush(receiver.name, match.key, route, now, [member], [], None, unit=unit)
        for stage in self._mute_now:
            stage(flush)
            if flush.stopped:
                return flush.stopped
        return None

    def _stateless_only(
        self,
        routed: Routed,
        reached: list[tuple[RouteMatch, Receiver]],
        template: str | None,
        handoff: Handoff,
        now: float,
        implicit_keys: bool,
    ) -> None:
        """Every receiver keeps no state: plan each message, then store each in a transaction
        of its own (the ledger's group commit: concurrent callers share one fsync)."""
        plans: list[tuple[Receiver, Plan]] = []
        for match, receiver in reached:
            plan = self._stateless_plan(routed, match, receiver, template, now, implicit_keys)
            if plan is not None:
                plans.append((receiver, plan))
        ledger = self._ledger()
        for _receiver, plan in plans:
            routed.stored.append(self._store.add(ledger, plan, handoff))

    def _stateless_plan(
        self,
        routed: Routed,
        match: RouteMatch,
        receiver: Receiver,
        template: str | None,
        now: float,
        implicit_keys: bool,
        unit: Unit | None = None,
    ) -> Plan | None:
        alert = routed.alert
        if alert.resolved and not match.settings.send_resolved:
            routed.notes.append(f"{receiver.name}: resolved, and the route does not send_resolved")
            return None
        reason = self._muted_now(alert, match, receiver, now, unit)
        if reason is not None:
            routed.notes.append(f"muted: {receiver.name}: {reason}")
            return None
        # key= of an events:-only config keeps its old meaning: an idempotency key (a second
        # notify() with it returns the first report).
        try:
            return self._alone(
                match, receiver, alert, template, alert.key if implicit_keys else None
            )
        except NobodyOnCallError as err:
            routed.notes.append(f"skipped: {receiver.name}: {err}")
            logger.error("%s: skipped: %s", receiver.name, err)
            return None

    def _one_message(
        self,
        routed: Routed,
        unit: Unit,
        match: RouteMatch,
        receiver: Receiver,
        template: str | None,
        handoff: Handoff,
        now: float,
        implicit_keys: bool,
    ) -> None:
        plan = self._stateless_plan(routed, match, receiver, template, now, implicit_keys, unit)
        if plan is not None:
            routed.stored.append(self._store(unit, plan, handoff))

    # -- receivers with groups ----------------------------------------------------------------------

    def _first(
        self, match: RouteMatch, receiver: Receiver, alert: Alert, template: str | None
    ) -> Plan | None:
        """What a group sends when it tells of this alert alone, planned outside the
        transaction (an escalation's steps are planned when due: checked here only)."""
        if alert.resolved or stateless(match.settings, receiver):
            return None
        if receiver.escalation is not None:
            self._first_steps(match, receiver, alert)
            return None
        try:
            return self._alone(match, receiver, alert, template)
        except NobodyOnCallError:
            return None  # the group's flush says so (and tries again at the next one)

    def _alone(
        self,
        match: RouteMatch,
        receiver: Receiver,
        alert: Alert,
        template: str | None,
        idempotency_key: str | None = None,
    ) -> Plan:
        """The message ``receiver`` gets for ``alert`` alone, with the route's priority."""
        return self._messages.plan(
            receiver,
            match.key,
            (alert,),
            alert,
            template,
            priority=match.settings.priority,
            idempotency_key=idempotency_key,
        )

    def _first_steps(
        self,
        match: RouteMatch,
        receiver: Receiver,
        alert: Alert,
        notes: list[str] | None = None,
    ) -> list[Plan]:
        """The steps an escalation sends as it starts (``after: 0s``), planned for this alert
        (``notes``: where a step with nobody on call is said to be skipped)."""
        policy = self._routing.escalations.get(receiver.escalation or "")
        plans = []
        for index, step in enumerate(policy.steps if policy else ()):
            if step.after != 0:
                continue
            try:
                plans.append(
                    self._messages.plan(
                        receiver,
                        match.key,
                        (alert,),
                        alert,
                        None,
                        channels=step.channels,
                        to=step.to,
                    )
                )
            except NobodyOnCallError as err:
                # the step is skipped when it fires, and the next one comes forward
                if notes is not None:
                    notes.append(
                        f"skipped: {receiver.name}: step {index}: {err} (the next step goes "
                        "out at once)"
                    )
        return plans

    def _join(
        self,
        routed: Routed,
        unit: Unit,
        match: RouteMatch,
        receiver: Receiver,
        own: Receiver | None,
        template: str | None,
        handoff: Handoff,
        now: float,
        first: Mapping[str, Plan | None],
        acting: Acting,
    ) -> None:
        alert = routed.alert
        route = GroupRoute(
            match.settings,
            match.mute_time_intervals,
            match.active_time_intervals,
            match.path,
            own,
        )
        group = unit.open_group(receiver.name, match.key, route, now)
        plan = first.get(receiver.name)

        def planned(alerts: Sequence[Alert]) -> Plan | None:
            return plan if plan is not None and list(alerts) == [alert] else None

        joined = self._flusher().join(
            group, alert, now, handoff, template=template, planned=planned, acting=acting
        )
        for flushed in joined.flushed:
            routed.stored.extend(flushed.stored)
            if flushed.flush is not None:
                routed.notes.extend(flushed.flush.notes)
        if joined.absent:
            routed.notes.append(f"{receiver.name}: no open alert {alert.key_for()} to resolve")
            return
        if joined.until is None and joined.flushed:
            # Flushed for this alert now: what became of it is in the last flush.
            flush = joined.flushed[-1].flush
            if flush is not None and flush.update is not None and not flush.update.send:
                if group.last_notification:
                    routed.told.append(group.last_notification)
            elif (
                flush is not None
                and flush.stopped
                and group.flush_due is not None
                and not alert.resolved
            ):
                # Muted now: it waits in its group, and goes out at a later flush if it still
                # fires when the mute is over.
                routed.held.append(Held(receiver.name, str(match.key), group.flush_due))
            return
        if joined.until is None:
            return
        settings = match.settings
        if joined.told and group.last_notification and group.entry is not None:
            routed.told.append(group.last_notification)
            routed.notes.append(
                f"{receiver.name}: skip: already sent at {_iso(group.entry.sent_at)}, unchanged; "
                f"repeat_interval {_duration(settings.repeat_interval)} (next check "
                f"{_iso(joined.until)})"
            )
            return
        routed.held.append(Held(receiver.name, str(match.key), joined.until))
        timer = (
            f"group_wait {_duration(settings.group_wait)}"
            if group.entry is None
            else f"group_interval {_duration(settings.group_interval)}"
        )
        routed.notes.append(
            f"{receiver.name}: held until {_iso(joined.until)}, the group's next flush ({timer})"
        )

    # -- dry runs -------------------------------------------------------------------------------------

    def _dry(
        self,
        routed: Routed,
        reached: list[tuple[RouteMatch, Receiver]],
        template: str | None,
        now: float,
    ) -> None:
        """What a first alert sends now (an escalation: its steps due at once), touching no
        state."""
        alert = routed.alert
        for match, receiver in reached:
            reason = self._muted_now(alert, match, receiver, now)
            if reason is not None:
                routed.notes.append(f"muted: {receiver.name}: {reason}")
                continue
            if alert.resolved:
                if not match.settings.send_resolved:
                    routed.notes.append(
                        f"{receiver.name}: resolved, and the route does not send_resolved"
                    )
                continue
            if receiver.escalation is not None:
                routed.plans.extend(self._first_steps(match, receiver, alert, routed.notes))
                continue
            try:
                routed.plans.append(self._alone(match, receiver, alert, template))
            except NobodyOnCallError as err:
                routed.notes.append(f"skipped: {receiver.name}: {err}")


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="seconds")


def _duration(seconds: float) -> str:
    from notifykit.routing.tree import format_duration

    return format_duration(seconds)
