"""The dispatcher: executes claimed delivery jobs, ``before_delivery`` → ``channel.send`` →
``after_delivery``, and records every outcome in the ledger.

The order of writes is the project's safety rule: the jobs of a batch are marked ``sending`` and
committed (:meth:`~notifykit.ledger.base.Ledger.begin_send`) before the channel is called, and
their results are recorded after it returns. A crash in between leaves them ``sending``, and
the ledger turns them ``unknown`` when their lease expires: never sent twice, never lost.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from notifykit.channels.base import Channel, ChannelType, DeliveryResult, Message, Recipient
from notifykit.errors import LedgerError
from notifykit.ledger.outcome import Change, Outcome
from notifykit.plan.planner import DeliveryJob, Plan
from notifykit.report import Delivery, DeliveryState, Notification
from notifykit.worker.retry import RetryPolicy

if TYPE_CHECKING:
    from notifykit.ledger.base import Ledger
    from notifykit.plugins import Hooks

__all__ = ["Dispatcher", "group_batches"]

logger = logging.getLogger("notifykit")


#: the most deliveries handed to a channel (and written to the ledger) at once: a bulk request
#: takes 100 numbers, and SQL statements stay well under their parameter limits
MAX_GROUP = 1000


def group_batches(jobs: Sequence[DeliveryJob]) -> list[list[DeliveryJob]]:
    """Jobs grouped by batch (one notification and channel), in the order first seen, in groups
    of at most :data:`MAX_GROUP`."""
    groups: dict[str, list[DeliveryJob]] = {}
    for job in jobs:
        groups.setdefault(job.batch, []).append(job)
    return [
        group[i : i + MAX_GROUP]
        for group in groups.values()
        for i in range(0, len(group), MAX_GROUP)
    ]


def _unrecorded(job: DeliveryJob, outcome: Outcome) -> Change:
    delivery = dataclasses.replace(
        job_delivery(job, outcome.state, outcome.error),
        provider_id=outcome.provider_id,
        provider_status=outcome.provider_status,
        info={**job.info, **(outcome.info or {})},
        attempts=job.attempts + (1 if outcome.attempted else 0),
    )
    previous = DeliveryState.SENDING if outcome.attempted else DeliveryState.PENDING
    return Change(delivery, previous)


def job_delivery(job: DeliveryJob, state: DeliveryState, error: str | None = None) -> Delivery:
    """The :class:`Delivery` a hook sees for a job before its outcome is recorded."""
    return Delivery(
        channel=job.channel,
        channel_type=job.channel_type,
        recipient=job.recipient,
        address=job.address,
        state=state,
        error=error,
        info=job.info,
        id=job.id,
        notification_id=job.notification_id,
        attempts=job.attempts,
        due=job.due,
    )


class Dispatcher:
    """Sends jobs through their channels and records the outcomes."""

    def __init__(
        self,
        channels: Mapping[str, Channel],
        channel_types: Mapping[str, ChannelType],
        hooks: Hooks,
        scrub: Callable[[str], str],
        retry_for: Callable[[str], RetryPolicy],
        status_url: Callable[[str], str | None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.channels = channels
        self.channel_types = channel_types
        self.hooks = hooks
        self._scrub = scrub
        self._retry_for = retry_for
        self._status_url = status_url
        self.clock = clock

    # -- dry runs -------------------------------------------------------------------------------

    def dry_run(self, plan: Plan) -> list[Delivery]:
        """What would happen: hooks are asked (a veto shows as ``skipped``), nothing is sent or
        stored; the rest are ``pending``."""
        out: list[Delivery] = []
        for job in plan.jobs:
            if job.skip_reason:
                delivery = job_delivery(job, DeliveryState.SKIPPED, job.skip_reason)
            else:
                veto = self._veto(job, plan.notification)
                if veto is None:
                    delivery = job_delivery(job, DeliveryState.PENDING)
                else:
                    delivery = job_delivery(job, veto.state, veto.error)
            out.append(delivery)
        for delivery in out:
            self.hooks.after_delivery(delivery, plan.notification)
        return out

    # -- real runs ------------------------------------------------------------------------------

    def deliver(
        self,
        ledger: Ledger,
        owner: str,
        jobs: Sequence[DeliveryJob],
        notification: Callable[[str], Notification],
        *,
        retries: bool = True,
    ) -> list[Change]:
        """Deliver jobs leased to ``owner``, batch by batch; returns every recorded change.
        ``retries``: schedule transient failures again by the channel's retry policy (else they
        are final ``failed``)."""
        changes: list[Change] = []
        for group in group_batches(jobs):
            first = notification(group[0].notification_id)
            changes.extend(self._deliver_batch(ledger, owner, group, first, retries))
        return changes

    def _deliver_batch(
        self,
        ledger: Ledger,
        owner: str,
        jobs: list[DeliveryJob],
        notification: Notification,
        retries: bool,
    ) -> list[Change]:
        outcomes: list[Outcome] = []
        to_send: list[DeliveryJob] = []
        # Asked once per batch (a plugin may be registered at any time): with no
        # before_delivery hook, no pending Delivery is built per job only to be ignored.
        vetoing = self.hooks.implemented("before_delivery")
        for job in jobs:
            if job.skip_reason:
                outcomes.append(
                    Outcome(job.id, DeliveryState.SKIPPED, error=job.skip_reason, attempted=False)
                )
                continue
            veto = self._veto(job, notification) if vetoing else None
            if veto is not None:
                outcomes.append(veto)
                continue
            to_send.append(job)
        started = set(ledger.begin_send(owner, [j.id for j in to_send], self.clock()))
        # A job whose lease was lost (another worker took it over) is not ours to send.
        sending = [j for j in to_send if j.id in started]
        if sending:
            results = self._send(sending, notification)
            now = self.clock()
            outcomes.extend(
                self._outcome(job, result, now, retries)
                for job, result in zip(sending, results, strict=True)
            )
        order = {job.id: n for n, job in enumerate(jobs)}
        outcomes.sort(key=lambda o: order[o.delivery_id])
        try:
            changes = ledger.record(owner, outcomes, self.clock())
        except LedgerError as err:
            # What was sent stays 'sending' in the ledger and becomes 'unknown' when the lease
            # expires: never resent. The caller and the hooks still learn what happened.
            logger.error(
                "%d outcomes could not be recorded (%s); sent ones stay 'sending' in the ledger "
                "and become 'unknown' when their lease expires",
                len(outcomes),
                err,
            )
            by_id = {job.id: job for job in jobs}
            changes = [_unrecorded(by_id[o.delivery_id], o) for o in outcomes]
        if self.hooks.implemented("after_delivery") or self.hooks.implemented(
            "after_status_change"
        ):
            for change in changes:
                self.hooks.after_delivery(change.delivery, notification)
                if change.delivery.state is not change.previous:
                    self.hooks.after_status_change(change.delivery, change.previous, notification)
        return changes

    def _veto(self, job: DeliveryJob, notification: Notification) -> Outcome | None:
        pending = job_delivery(job, DeliveryState.PENDING)
        try:
            vetoes = self.hooks.before_delivery(pending, notification)
        except Exception as err:
            logger.exception("a before_delivery hook failed")
            return Outcome(
                job.id,
                DeliveryState.FAILED,
                error=f"before_delivery hook failed: {type(err).__name__}: {self._scrub(str(err))}",
                attempted=False,
            )
        if vetoes:
            return Outcome(job.id, DeliveryState.SKIPPED, error="; ".join(vetoes), attempted=False)
        return None

    def _send(self, jobs: list[DeliveryJob], notification: Notification) -> list[DeliveryResult]:
        """The channel's results, one per job in order, whatever the channel does."""
        first = jobs[0]
        channel = self.channels[first.channel]
        message = Message(
            event=notification.event,
            severity=notification.severity,
            text=first.text,
            template=first.template,
            data=notification.data,
            info=first.info,
            options=first.options,
            status_callback=self._status_url(first.callback_token),
        )
        recipients = [j.recipient_object() for j in jobs]
        try:
            returned = list(channel.send(message, recipients))
        except Exception as err:
            logger.warning(
                "channel %r (%s) raised %s while sending",
                first.channel,
                first.channel_type,
                type(err).__name__,
            )
            error = (
                f"the channel raised {type(err).__name__}: {self._scrub(str(err))}; "
                "it may have sent the message"
            )
            return [DeliveryResult.unknown(r, error) for r in recipients]
        # One result per recipient, matched by recipient (a channel may reorder them).
        positions: dict[Recipient, list[int]] = {}
        for index, recipient in enumerate(recipients):
            positions.setdefault(recipient, []).append(index)
        matched: list[DeliveryResult | None] = [None] * len(recipients)
        for result in returned:
            slots = positions.get(result.recipient)
            if slots:
                matched[slots.pop(0)] = result
        return [
            result
            or DeliveryResult.unknown(
                recipients[i], f"channel {first.channel!r} returned no result for it"
            )
            for i, result in enumerate(matched)
        ]

    def _outcome(
        self, job: DeliveryJob, result: DeliveryResult, now: float, retries: bool
    ) -> Outcome:
        error = self._scrub(result.error) if result.error else None
        info = dict(result.info) or None
        state = result.state
        attempts = job.attempts + 1
        policy = self._retry_for(job.channel)
        retry = retries and (
            (state is DeliveryState.FAILED and result.transient)
            or (state is DeliveryState.UNKNOWN and policy.resend_unknown)
        )
        if retry:
            due = policy.next_due(attempts, job.first_due or job.due, now, result.retry_after)
            if due is not None:
                return Outcome(job.id, DeliveryState.PENDING, error=error, info=info, due=due)
            note = f"gave up after {attempts} attempt{'s' if attempts != 1 else ''}: retry deadline passed"
            error = f"{error} ({note})" if error else note
        return Outcome(
            job.id,
            state,
            provider_id=result.provider_id,
            provider_status=result.provider_status,
            error=error,
            info=info,
        )
