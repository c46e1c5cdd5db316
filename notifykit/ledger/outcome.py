"""What became of a delivery: :class:`Outcome` (what :meth:`~notifykit.ledger.base.Ledger.record`
takes) and :class:`Change` (what it returns, and what the status hook gets).

Apart from :mod:`notifykit.ledger.base` (which re-exports both) so that the dispatcher, which
builds them, does not import the SQL ledger and the routing store with it: a dry run, and a
process that only plans, never opens a ledger.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from notifykit.model import Delivery, DeliveryState

__all__ = ["Change", "Outcome"]


@dataclass(frozen=True)
class Outcome:
    """What became of one claimed delivery, for :meth:`~notifykit.ledger.base.Ledger.record`.

    ``state`` is the new state: ``sent``/``failed``/``unknown``/``skipped``, or ``pending`` with a
    later ``due`` for a retry. ``attempted`` is ``False`` when no request went out (a veto).
    ``infrastructure``: the part of our own infrastructure that failed, when that is why it was
    not sent (:meth:`~notifykit.channels.DeliveryResult.infrastructure_failure`); not stored,
    but carried to the :class:`Change` by the dispatcher. ``failover``: a final outcome that
    hands the message to the delivery's fallback, if it has one (docs/failover.md): the ledger
    makes the fallback due in the transaction that records this outcome.
    """

    delivery_id: str
    state: DeliveryState
    provider_id: str | None = None
    provider_status: str | None = None
    error: str | None = None
    info: Mapping[str, Any] | None = None
    due: float | None = None
    attempted: bool = True
    infrastructure: str | None = None
    failover: bool = False


@dataclass(frozen=True)
class Change:
    """A delivery whose state changed, with the state it left: what the status hook gets.
    ``infrastructure``: as the :class:`Outcome`'s: a ``failed`` delivery with it set failed for
    a reason of our own, and does not say the recipient was not reached."""

    delivery: Delivery
    previous: DeliveryState
    infrastructure: str | None = None
