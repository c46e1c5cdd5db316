"""The one delivery run: deliveries leased to a sender are sent through the dispatcher, their
outcomes recorded, and the stage that reacts to outcomes told (a failed escalation step brings
the next one forward). ``notify()``, the worker and the Celery task all deliver through it, so a
Celery task escalates exactly as a worker does."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING

from notifykit.delivery.leases import LeaseKeeper
from notifykit.metrics import Metrics

if TYPE_CHECKING:
    from notifykit.channels.stop import SendStop
    from notifykit.delivery.dispatch import Dispatcher
    from notifykit.delivery.outage import Outage
    from notifykit.ledger.base import Ledger
    from notifykit.ledger.outcome import Change
    from notifykit.model import Notification
    from notifykit.plan.planner import DeliveryJob, Plan

__all__ = ["DeliveryRun"]

#: ``on_changes(changes)``: what reacts to recorded outcomes (the escalation stage)
OnChanges = Callable[[Sequence["Change"]], None]


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
        self._metrics.deliveries(changes)
        self._on_changes(changes)
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
        changes = self.dispatcher.deliver(
            self._ledger(),
            owner,
            jobs,
            notification,
            retries=retries,
            stop=stop,
            record_for=record_for,
            outage=outage,
        )
        self._metrics.deliveries(changes)
        self._on_changes(changes)
        return changes

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
