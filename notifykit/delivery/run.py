"""The one delivery run: deliveries leased to a sender are sent through the dispatcher, their
outcomes recorded, and the stage that reacts to outcomes told (a failed escalation step brings
the next one forward). ``notify()``, the worker and the Celery task all deliver through it, so a
Celery task escalates exactly as a worker does."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING

from notifykit.delivery.leases import LeaseKeeper
from notifykit.errors import LedgerError
from notifykit.metrics import Metrics
from notifykit.model import DeliveryState

if TYPE_CHECKING:
    from notifykit.channels.stop import SendStop
    from notifykit.delivery.dispatch import Dispatcher
    from notifykit.delivery.outage import Outage
    from notifykit.ledger.base import Ledger
    from notifykit.ledger.outcome import Change
    from notifykit.model import Notification
    from notifykit.plan.planner import DeliveryJob, Plan

__all__ = ["FALLBACK_LEASE", "DeliveryRun"]

logger = logging.getLogger("notifykit.delivery")

#: ``on_changes(changes)``: what reacts to recorded outcomes (the escalation stage)
OnChanges = Callable[[Sequence["Change"]], None]


#: the lease a delivery run takes on a fallback it sends itself, when it has none of its own
FALLBACK_LEASE = 60.0


def _is_hand_over(change: Change) -> bool:
    """A standby fallback made due by the failure of the delivery it stands in for."""
    return (
        change.delivery.fallback_of is not None
        and change.previous is DeliveryState.SKIPPED
        and change.delivery.state is DeliveryState.PENDING
    )


def _handed_over(changes: Sequence[Change]) -> list[str]:
    return [c.delivery.id for c in changes if _is_hand_over(c)]


class DeliveryRun:
    """Delivers leased deliveries (see the module docstring)."""

    def __init__(
        self,
        *,
        ledger: Callable[[], Ledger],
        dispatcher: Dispatcher,
        on_changes: OnChanges,
        clock: Callable[[], float],
        metrics: Metrics | None = None,
    ) -> None:
        self._ledger = ledger
        self.dispatcher = dispatcher
        self._on_changes = on_changes
        self._clock = clock
        self._metrics = metrics or Metrics()

    def now(
        self, owner: str, plan: Plan, *, started: Collection[str] = (), lease: float
    ) -> list[Change]:
        """``notify()``'s send of a plan leased to ``owner`` (``started``: stored already
        ``sending``), its lease kept as its groups start; recording an outcome is retried for
        up to the lease while the ledger is unavailable."""
        if not plan.jobs:
            return []
        ledger = self._ledger()
        keeper = LeaseKeeper(ledger, owner, lease, self._clock, ids=(j.id for j in plan.jobs))
        changes = self.dispatcher.deliver_now(
            ledger, owner, plan, started=started, keep=keeper.keep, record_for=lease
        )
        # the fallbacks its failures made due, sent now too
        changes += self._deliver(
            ledger,
            owner,
            (),
            lambda _id: plan.notification,
            retries=False,
            record_for=lease,
            changes=changes,
        )
        return self._done(changes)

    def _deliver(
        self,
        ledger: Ledger,
        owner: str,
        jobs: Sequence[DeliveryJob],
        notification: Callable[[str], Notification],
        *,
        retries: bool,
        record_for: float,
        stop: SendStop | None = None,
        outage: Outage | None = None,
        changes: Sequence[Change] = (),
    ) -> list[Change]:
        """Deliver ``jobs`` leased to ``owner`` (or none, after ``changes`` recorded already),
        then the fallbacks their failures made due (docs/failover.md), in this run, and theirs
        in turn. A fallback this run cannot claim (taken by another worker, a ledger error)
        stays pending for a worker: the hand over is durable already."""
        lease = record_for or FALLBACK_LEASE
        batch = list(jobs) or self._claim_fallbacks(ledger, owner, changes, lease, stop)
        out: list[Change] = []
        while batch:
            done = self.dispatcher.deliver(
                ledger,
                owner,
                batch,
                notification,
                retries=retries,
                stop=stop,
                record_for=record_for,
                outage=outage,
            )
            out.extend(done)
            batch = self._claim_fallbacks(ledger, owner, done, lease, stop)
        return out

    def _claim_fallbacks(
        self,
        ledger: Ledger,
        owner: str,
        changes: Sequence[Change],
        lease: float,
        stop: SendStop | None,
    ) -> list[DeliveryJob]:
        due = _handed_over(changes)
        if not due or (stop is not None and stop.stopped):
            return []
        try:
            return ledger.claim(owner, self._clock(), lease, len(due), ids=due)
        except LedgerError as err:
            logger.error(
                "%d fallback deliveries could not be claimed (%s); a worker sends them",
                len(due),
                err,
            )
            return []

    def _done(self, changes: list[Change]) -> list[Change]:
        """Count ``changes`` and tell the stage that reacts to outcomes, except of a failure
        handed over to a fallback: the person may still be reached, so an escalation does not
        move on for it (it does if the fallback fails too)."""
        self._metrics.deliveries(changes)
        handed = {c.delivery.fallback_of: c.delivery for c in changes if _is_hand_over(c)}
        if handed:
            for c in changes:
                fallback = handed.get(c.delivery.id)
                if fallback is not None:
                    self._metrics.failed_over(c.delivery.channel, fallback.channel)
        self._on_changes([c for c in changes if c.delivery.id not in handed])
        return changes

    def claimed(
        self,
        owner: str,
        jobs: Sequence[DeliveryJob],
        notification: Callable[[str], Notification],
        *,
        retries: bool = True,
        stop: SendStop | None = None,
        record_for: float = 0.0,
        outage: Outage | None = None,
    ) -> list[Change]:
        """Deliver claimed ``jobs`` (a worker's, a Celery task's); the caller keeps the lease.
        ``stop``: once stopped, no new request starts and what did not start is given back.
        ``record_for``: how long recording an outcome is retried while the ledger is
        unavailable (the lease); ``outage`` hears of it."""
        changes = self._deliver(
            self._ledger(),
            owner,
            jobs,
            notification,
            retries=retries,
            record_for=record_for,
            stop=stop,
            outage=outage,
        )
        return self._done(changes)

    def keeper(
        self,
        owner: str,
        lease: float,
        ids: Sequence[str] = (),
        *,
        also: Callable[[float], None] | None = None,
        outage: Outage | None = None,
    ) -> LeaseKeeper:
        """A lease keeper for ``owner`` (run it with :meth:`LeaseKeeper.running`)."""
        return LeaseKeeper(
            self._ledger(), owner, lease, self._clock, ids=ids, also=also, outage=outage
        )
