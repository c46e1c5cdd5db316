"""The store stage: a planned notification goes into the ledger, in the transaction of the
routing decision that made it, handed on the way its entry point says (:class:`Handoff`)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING

from notifykit.delivery.queues import Handoff, Stored

if TYPE_CHECKING:
    from notifykit.ledger.base import Ledger
    from notifykit.ledger.state import Unit
    from notifykit.plan.planner import DeliveryJob, Plan

__all__ = ["Handoff", "Store", "Stored"]


class Store:
    """Stores a plan inside a unit of work, as the handoff says."""

    def __init__(self, first_groups: Callable[[Sequence[DeliveryJob]], Collection[str]]) -> None:
        self._first_groups = first_groups

    def _sending(self, plan: Plan, handoff: Handoff) -> Collection[str]:
        if handoff.send_now and handoff.owner is not None:
            return self._first_groups(plan.jobs)
        return ()

    def add(self, ledger: Ledger, plan: Plan, handoff: Handoff) -> Stored:
        """Store a plan in a transaction of its own (``Ledger.add``: the group commit)."""
        sending = self._sending(plan, handoff)
        submission = ledger.add(
            plan, lease_owner=handoff.owner, lease_until=handoff.until, sending=sending
        )
        return Stored(plan, submission, () if submission.duplicate else tuple(sending))

    def __call__(
        self, unit: Unit, plan: Plan, handoff: Handoff, alert_key: str | None = None
    ) -> Stored:
        sending = self._sending(plan, handoff)
        submission = unit.store(
            plan,
            owner=handoff.owner,
            until=handoff.until,
            sending=sending,
            alert_key=alert_key,
        )
        started = () if submission.duplicate else tuple(sending)
        return Stored(plan, submission, started)
