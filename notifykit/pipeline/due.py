"""The due-work tick, the one both ``notifykit worker`` and Celery beat run: deliveries a dead
sender left ``sending`` become ``unknown``, heartbeats overdue raise their alert (and those
beaten again resolve it: :mod:`notifykit.pipeline.heartbeats`), groups whose timer is due are
flushed, escalation steps that are due fire. What it stores is then sent like any other
delivery (claimed by a worker, or enqueued as Celery tasks).

One group's or one escalation's trouble never stops another's: each is flushed or fired in a
transaction of its own, and one that fails is logged with its alert key and tried again later,
with backoff (:func:`~notifykit.pipeline.escalate.retry_delay`). The ledger itself being
unavailable (:class:`~notifykit.errors.LedgerUnavailable`) is no group's trouble: the tick stops
and raises it, and what was due stays due for the next one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from notifykit.errors import LedgerUnavailable
from notifykit.pipeline.escalate import retry_delay

if TYPE_CHECKING:
    from notifykit.ledger.base import Ledger
    from notifykit.ledger.outcome import Change
    from notifykit.ledger.state import RoutingState
    from notifykit.model import Delivery
    from notifykit.pipeline.escalate import Escalations
    from notifykit.pipeline.groups import GroupFlusher
    from notifykit.pipeline.heartbeats import Heartbeats
    from notifykit.pipeline.store import Handoff, Stored

__all__ = ["DueWork"]

logger = logging.getLogger("notifykit.routing")

#: groups and escalations looked at per tick (the rest at the next one)
TICK_LIMIT = 200


class DueWork:
    """What a tick does (see the module docstring)."""

    def __init__(
        self,
        *,
        ledger: Callable[[], Ledger],
        state: Callable[[], RoutingState] | None,
        flusher: GroupFlusher | None,
        escalations: Escalations | None,
        announce: Callable[[Sequence[Change]], None],
        reconcile: Callable[[], Sequence[Delivery]],
        scrub: Callable[[str], str],
        handoff: Handoff,
        heartbeats: Heartbeats | None = None,
        forget_unknown: Callable[[float], int] | None = None,
    ) -> None:
        self._ledger = ledger
        self._forget_unknown = forget_unknown
        self._heartbeats = heartbeats
        self._reconcile = reconcile
        self._handoff = handoff
        self._state = state
        self._flusher = flusher
        self._escalations = escalations
        self._announce = announce
        self._scrub = scrub

    def recover(self, now: float) -> list[Change]:
        """Deliveries left ``sending`` by a dead sender become ``unknown`` (hooks told); kept
        callbacks for message ids never recorded expire."""
        changes = self._ledger().recover(now)
        self._announce(changes)
        if self._forget_unknown is not None:
            self._forget_unknown(now)
        return changes

    def reconcile(self) -> Sequence[Delivery]:
        """Look up deliveries whose status never came (the status stage)."""
        return self._reconcile()

    def tick(self, now: float) -> int:
        """Flush the due groups and fire the due escalation steps; returns how many
        notifications were stored (handed on as the tick's handoff says: to the queue)."""
        return len(self.route(now, self._handoff))

    def route(self, now: float, handoff: Handoff) -> list[Stored]:
        """Raise (or resolve) the heartbeats' alerts, flush the due groups and fire the due
        escalation steps; returns what was stored."""
        stored: list[Stored] = []
        if self._heartbeats is not None:
            stored.extend(self._heartbeats.check(now, handoff))
        if self._state is None:
            return stored
        state = self._state()
        if self._escalations is not None and self._escalations.configured:
            self._escalations.links.prime()
        if self._flusher is not None:
            for receiver, group_hash in state.due_groups(now, TICK_LIMIT):
                stored.extend(self._flush(state, receiver, group_hash, now, handoff))
        if self._escalations is not None and self._escalations.configured:
            for escalation_id in state.due_escalations(now, TICK_LIMIT):
                try:
                    stored.extend(self._escalations.fire_due(escalation_id, now, handoff))
                except LedgerUnavailable:
                    raise  # not this escalation's trouble: the whole tick waits for the ledger
                except Exception as err:
                    # The ledger failed under it (the steps stay pending, tried next tick).
                    logger.error(
                        "escalation %s: firing its due steps failed (%s: %s); tried again at "
                        "the next tick",
                        escalation_id,
                        type(err).__name__,
                        self._scrub(str(err)),
                    )
        return stored

    def _flush(
        self, state: RoutingState, receiver: str, group_hash: str, now: float, handoff: Handoff
    ) -> list[Stored]:
        assert self._flusher is not None
        key = group_hash
        try:
            with state.unit("flushing a group") as unit:
                group = unit.group(receiver, group_hash)
                if group is None or group.flush_due is None or group.flush_due > now:
                    return []  # another process flushed it first
                key = str(group.key)
                return self._flusher.flush(group, now, handoff).stored
        except LedgerUnavailable:
            raise  # not this group's trouble: it is not delayed, the tick waits for the ledger
        except Exception as err:
            self._backoff(state, receiver, group_hash, now, key, err)
            return []

    def _backoff(
        self,
        state: RoutingState,
        receiver: str,
        group_hash: str,
        now: float,
        key: str,
        err: Exception,
    ) -> None:
        """A group whose flush raised (nothing of it was stored: its transaction rolled back)
        is tried again later, and said so with its key."""
        try:
            with state.unit("delaying a failed flush") as unit:
                group = unit.group(receiver, group_hash)
                if group is None:
                    return
                failures = group.failures + 1
                delay = retry_delay(failures)
                group.schedule(now + delay, failures=failures)
        except Exception:
            delay = 0.0  # the ledger itself fails: the next tick tries again
        logger.error(
            "group %s of receiver %s: flushing failed (%s: %s); tried again in %gs",
            key,
            receiver,
            type(err).__name__,
            self._scrub(str(err)),
            delay,
            exc_info=not isinstance(err, Exception) or _unexpected(err),
        )

    def next_due(self) -> float | None:
        """When the next group or escalation step is due (``None``: nothing waits)."""
        if self._state is None:
            return None
        return self._state().next_due()


def _unexpected(err: Exception) -> bool:
    """Whether an error is worth a traceback (a bug), not a known failure (the ledger)."""
    from notifykit.errors import NotifykitError

    return not isinstance(err, NotifykitError)
