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

from notifykit.config.delivery import RetrySettings

__all__ = ["RetryPolicy"]


class RetryPolicy:
    """Backoff and deadline for one channel, as its :class:`~notifykit.config.delivery.RetrySettings`
    say (the settings are declared once, there; this is what is done with them)."""

    __slots__ = ("settings",)

    def __init__(self, settings: RetrySettings | None = None) -> None:
        self.settings = settings if settings is not None else RetrySettings()

    @property
    def resend_unknown(self) -> bool:
        """Whether a delivery that may have been sent is tried again (``on_unknown: resend``)."""
        return self.settings.resend_unknown

    def delay(self, attempts: int, retry_after: float | None = None) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt."""
        s = self.settings
        base = min(s.max, s.initial * s.multiplier ** max(0, attempts - 1))
        delay = base * (1.0 + random.uniform(-s.jitter, s.jitter))
        if retry_after is not None and retry_after > delay:
            delay = retry_after
        return max(0.0, delay)

    def next_due(
        self, attempts: int, first_due: float, now: float, retry_after: float | None = None
    ) -> float | None:
        """When to try again, or ``None`` when the next try would fall past the deadline."""
        due = now + self.delay(attempts, retry_after)
        if due > first_due + self.settings.deadline:
            return None
        return due
