"""The store stage: a planned notification goes into the ledger, in the transaction of the
routing decision that made it, handed on the way its entry point says (:class:`Handoff`).

With ``paging_limits:`` (:class:`~notifykit.pipeline.limits.PagingGuard`), the pages over a limit
are held in the same transaction: stored skipped and listed in a bundle due when the window
frees."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING

from notifykit.delivery.queues import Handoff, Stored

if TYPE_CHECKING:
    from notifykit.ledger.base import Ledger
    from notifykit.ledger.state import Unit
    from notifykit.pipeline.limits import PagingGuard
    from notifykit.plan.planner import DeliveryJob, Plan

__all__ = ["Handoff", "Store", "Stored"]


class Store:
    """Stores a plan inside a unit of work, as the handoff says."""

    def __init__(
        self,
        first_groups: Callable[[Sequence[DeliveryJob]], Collection[str]],
        guard: PagingGuard | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._first_groups = first_groups
        self.guard = guard
        self._clock = clock

    def _sending(self, plan: Plan, handoff: Handoff) -> Collection[str]:
        if handoff.send_now and handoff.owner is not None:
            return self._first_groups(plan.jobs)
        return ()

    def add(self, ledger: Ledger, plan: Plan, handoff: Handoff) -> Stored:
        """Store a plan in a transaction of its own (``Ledger.add``: the group commit; a plan
        a paging limit applies to in a unit of work, where its pages are counted)."""
        if self.guard is not None and self.guard.applies(plan):
            with ledger.routing.unit("storing a notification under paging limits") as unit:
                return self(unit, plan, handoff)
        sending = self._sending(plan, handoff)
        submission = ledger.add(
            plan, lease_owner=handoff.owner, lease_until=handoff.until, sending=sending
        )
        return Stored(plan, submission, () if submission.duplicate else tuple(sending))

    def __call__(
        self, unit: Unit, plan: Plan, handoff: Handoff, alert_key: str | None = None
    ) -> Stored:
        bundles: list[Plan] = []
        key = plan.notification.key
        # A plan whose key is stored already is a duplicate: nothing of it is held or bundled.
        if self.guard is not None and not (key is not None and unit.has_notification(key)):
            plan, bundles = self.guard.hold(unit, plan, self._clock(), alert_key)
        sending = self._sending(plan, handoff)
        submission = unit.store(
            plan,
            owner=handoff.owner,
            until=handoff.until,
            sending=sending,
            alert_key=alert_key,
        )
        if not submission.duplicate:
            for bundle in bundles:  # pending, due when the window frees: a worker sends it
                unit.store(bundle)
        started = () if submission.duplicate else tuple(sending)
        return Stored(plan, submission, started)
