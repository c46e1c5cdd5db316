"""The retry policy: what happens to a delivery after a failed attempt, by class of failure.

- *transient* (a :class:`~notifykit.channels.DeliveryResult` ``failed`` with ``transient=True``:
  a refused connection, a rate limit, a throttle; certainly not sent): rescheduled with
  exponential backoff and jitter, never sooner than the provider's ``Retry-After``, until the
  deadline; then ``failed``.
- *permanent* (any other ``failed``: the provider refused it): ``failed`` at once, its reason kept.
- *ambiguous* (``unknown``: the request may have reached the provider): stays ``unknown`` and is
  left to reconciliation; resent only when the channel's ``on_unknown: resend`` says so.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from notifykit.config.delivery import RetrySettings

__all__ = ["RetryPolicy"]


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff and deadline for one channel; see :class:`~notifykit.config.delivery.RetrySettings`."""

    initial: float = 2.0
    maximum: float = 300.0
    multiplier: float = 2.0
    jitter: float = 0.2
    deadline: float = 900.0
    resend_unknown: bool = False

    @classmethod
    def from_settings(cls, settings: RetrySettings) -> RetryPolicy:
        return cls(
            initial=settings.initial,
            maximum=settings.max,
            multiplier=settings.multiplier,
            jitter=settings.jitter,
            deadline=settings.deadline,
            resend_unknown=settings.on_unknown == "resend",
        )

    def delay(self, attempts: int, retry_after: float | None = None) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt."""
        base = min(self.maximum, self.initial * self.multiplier ** max(0, attempts - 1))
        delay = base * (1.0 + random.uniform(-self.jitter, self.jitter))
        if retry_after is not None and retry_after > delay:
            delay = retry_after
        return max(0.0, delay)

    def next_due(
        self, attempts: int, first_due: float, now: float, retry_after: float | None = None
    ) -> float | None:
        """When to try again, or ``None`` when the next try would fall past the deadline."""
        due = now + self.delay(attempts, retry_after)
        if due > first_due + self.deadline:
            return None
        return due
