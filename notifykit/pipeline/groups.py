"""Alert groups: an alert joins its group (the group stage), and a group whose timer is due is
flushed through the stages (inhibit → time intervals → silences → dedup → plan → store), all in
one unit of work of the routing state.

A group's timer is Alertmanager's: the first flush ``group_wait`` after the group appears, then
one every ``group_interval`` (the rhythm kept) while it has alerts. After a flush its resolved
alerts leave it; a group left without alerts stops its timer, and its next alert starts it
again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from notifykit.errors import NobodyOnCallError
from notifykit.ledger.audit import RESOLVED, SYSTEM, Acting
from notifykit.pipeline.stages import DedupStage, Flush
from notifykit.routing.lifecycle import LogEntry, Member, first_flush, next_tick

if TYPE_CHECKING:
    from notifykit.ledger.state import Group
    from notifykit.pipeline.escalate import Escalations
    from notifykit.pipeline.messages import Messages
    from notifykit.pipeline.stages import Stage
    from notifykit.pipeline.store import Handoff, Store, Stored
    from notifykit.plan.planner import Plan
    from notifykit.routing.alert import Alert, AlertKey
    from notifykit.routing.escalation import Receiver

__all__ = ["Flushed", "GroupFlusher", "Joined"]

logger = logging.getLogger("notifykit.routing")


@dataclass
class Flushed:
    """What one flush stored, and what the stages found."""

    stored: list[Stored] = field(default_factory=list)
    flush: Flush | None = None


@dataclass(frozen=True)
class Joined:
    """What became of an alert that joined its group: the flushes it made now (a missed one
    first, then the group's own when due), else waiting for the group's timer (``until``);
    ``told`` when the receiver already knows of it (unchanged)."""

    flushed: list[Flushed]
    until: float | None
    told: bool
    #: a resolution of an alert the group does not have
    absent: bool = False


class GroupFlusher:
    """The group stage and the flush of a group (see the module docstring)."""

    def __init__(
        self,
        *,
        receivers: Mapping[str, Receiver],
        stages: Sequence[Stage],
        messages: Messages,
        escalations: Escalations,
        store: Store,
        resolve_timeout: float,
    ) -> None:
        self._receivers = receivers
        self._stages = tuple(stages)
        self._dedup = DedupStage()
        self._messages = messages
        self._escalations = escalations
        self._store = store
        self.resolve_timeout = resolve_timeout

    # -- the group stage ----------------------------------------------------------------------------

    def join(
        self,
        group: Group,
        alert: Alert,
        now: float,
        handoff: Handoff,
        *,
        template: str | None = None,
        planned: Callable[[Sequence[Alert]], Plan | None] | None = None,
        acting: Acting = SYSTEM,
    ) -> Joined:
        """Add ``alert`` to ``group``; flush the group now if its timer is due (a new group with
        ``group_wait: 0s``, or a timer no worker ran). ``planned``: a plan made before the
        transaction for a message about this alert alone, used when that is what the flush
        sends. ``acting``: who sent it, for the audit trail (an open alert resolved, and the
        escalation it stops)."""
        flushed: list[Flushed] = []
        due = group.flush_due
        if group.members and due is not None and due <= now:
            # The group's timer ran out and no worker flushed it: the flush it missed comes
            # first, with the group as it was (a resolution is told, a timed-out alert leaves).
            flushed.append(self.flush(group, now, handoff))
        key = alert.key_for()
        digest = key.digest
        if alert.resolved and digest not in group.members:
            return Joined(flushed, None, False, absent=True)  # nothing open to resolve here
        starting = group.new
        was_open = digest in group.members and group.members[digest].resolved_at is None
        member = group.add(alert, now)
        if alert.resolved:
            self._resolved(group, key, was_open, now, acting)
        if starting:
            group.restart(now)
            group.schedule(
                first_flush(
                    group.first_seen, member.starts_at, group.route.settings.group_wait, now
                )
            )
        due = group.flush_due
        if due is not None and due <= now:
            flushed.append(self.flush(group, now, handoff, template, planned, acting))
            return Joined(flushed, None, False)
        told = (
            not alert.resolved
            and group.entry is not None
            and member.digest in group.entry.firing
            and group.escalation is None
        )
        return Joined(flushed, due, told)

    def _resolved(
        self, group: Group, key: AlertKey, was_open: bool, now: float, acting: Acting
    ) -> None:
        """An alert of ``group`` was resolved: the escalation stops when no alert of the group
        fires any more, and the audit trail says who resolved it (an alert that was open, or an
        escalation stopped)."""
        if group.escalation is not None:
            firing = [m for m in group.members.values() if m.resolved_at is None]
            if not firing:
                # Resolution stops the escalation now, not at the group's next flush: a step
                # due in between must not page anyone.
                stopped = self._escalations.stop(
                    group.unit, [group.escalation], "resolved", now, acting, alert=key
                )
                group.escalation = None
                if stopped:
                    return
        if not was_open:
            return
        group.unit.audit(
            RESOLVED,
            acting,
            {
                "key": group.key.text,
                "alert": key.text if key.text != group.key.text else None,
                "receiver": group.receiver,
            },
            now,
        )

    # -- the flush ----------------------------------------------------------------------------------

    def flush(
        self,
        group: Group,
        now: float,
        handoff: Handoff,
        template: str | None = None,
        planned: Callable[[Sequence[Alert]], Plan | None] | None = None,
        acting: Acting = SYSTEM,
    ) -> Flushed:
        """Run the stages over ``group`` at ``now`` and write what they decided (inside the
        group's unit of work), then set its timer. ``acting``: who made the flush happen now
        (an escalation it ends is resolved by them)."""
        receiver = group.route.receiver or self._receivers.get(group.receiver)
        held_open = group.escalation is not None
        firing: list[Member] = []
        resolved: list[Member] = []
        # in the order they started (then by key): what a message lists
        ordered = sorted(
            group.members.values(), key=lambda m: (m.starts_at, m.alert.key_for().text)
        )
        for member in ordered:
            if member.resolved(now, self.resolve_timeout, held_open=held_open):
                if not member.alert.resolved:  # over by resolve_timeout: told as resolved
                    member = replace(member, alert=replace(member.alert, resolved=True))
                resolved.append(member)
            else:
                firing.append(member)
        seen_resolved = [m.digest for m in resolved]
        flush = Flush(
            group.receiver,
            group.key,
            group.route,
            now,
            firing,
            resolved,
            group.entry,
            unit=group.unit,
        )
        result = Flushed(flush=flush)
        if receiver is None:
            flush.stop("the receiver is no longer configured: its alerts are dropped")
            logger.error("group %s of receiver %s: %s", group.key, group.receiver, flush.stopped)
            group.drop(list(group.members))
            group.schedule(None)
            return result
        for stage in self._stages:
            stage(flush)
            if flush.stopped:
                break
        if not flush.stopped:
            self._dedup(flush)
        if not flush.stopped:
            result.stored = self._notify(group, flush, receiver, handoff, template, planned, acting)
        # Alertmanager deletes the resolved alerts a flush saw: told (or nothing to tell), they
        # leave the group.
        group.drop(seen_resolved)
        if group.members:
            interval = group.route.settings.group_interval
            group.schedule(next_tick(group.flush_due if group.flush_due else now, interval, now))
        else:
            group.schedule(None)
        return result

    def _notify(
        self,
        group: Group,
        flush: Flush,
        receiver: Receiver,
        handoff: Handoff,
        template: str | None,
        planned: Callable[[Sequence[Alert]], Plan | None] | None,
        acting: Acting,
    ) -> list[Stored]:
        settings = group.route.settings
        entry = LogEntry(
            frozenset(m.digest for m in flush.firing),
            frozenset(m.digest for m in flush.resolved),
            flush.now,
        )
        stored: list[Stored] = []
        if receiver.escalation is not None:
            if flush.firing and group.escalation is None:
                stored = self._escalations.begin(group.unit, group, flush, receiver, handoff)
            elif not flush.firing:
                stored = self._escalations.end(group, flush, receiver, handoff, acting)
            # else: the group has an open escalation (running, or out of steps with nobody
            # having answered); the alerts that joined are part of it
        else:
            told = flush.firing + (flush.resolved if settings.send_resolved else [])
            told.sort(key=lambda m: (m.starts_at, m.alert.key_for().text))
            if told:
                alerts = [m.alert for m in told]
                plan = planned(alerts) if planned is not None else None
                if plan is None:
                    try:
                        plan = self._messages.plan(
                            receiver,
                            group.key,
                            alerts,
                            (flush.firing or flush.resolved)[-1].alert,
                            template,
                            priority=settings.priority,
                        )
                    except NobodyOnCallError as err:
                        # Said loudly; the alerts stay in the group (a later flush, with
                        # someone on call, tells them).
                        flush.stop(f"skipped: {err}", muted=False)
                        logger.error("group %s of %s: skipped: %s", group.key, receiver.name, err)
                        return []
                stored = [self._store(group.unit, plan, handoff, str(group.key))]
            # else: only resolutions, and the receiver does not send_resolved: nothing is
            # sent, but the log forgets the alerts it was told about
        group.logged(entry, stored[0].submission.id if stored else None)
        return stored
