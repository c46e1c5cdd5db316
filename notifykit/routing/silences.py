"""Silences, as Alertmanager's: a set of matchers (the routes' syntax, ANDed) with a start and an
end, a comment and who made it. While a silence is active, every alert its matchers match is
muted at each flush (the pipeline's silence stage); an alert still firing when the silence ends
goes out at its group's next flush.

As in Alertmanager, a silence needs at least one matcher that does not match the empty string
(``service=~".*"`` alone would silence everything), and it may be expired early (its end becomes
now). Pure: the ledger stores silences (:mod:`notifykit.ledger.silences`), nothing here does I/O or
reads a clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from notifykit.errors import NotificationError
from notifykit.routing.matchers import Matcher, MatcherError, matches_all, parse_matchers

if TYPE_CHECKING:
    from notifykit.routing.alert import Alert

__all__ = [
    "SILENCE_STATES",
    "Silence",
    "SilenceError",
    "parse_silence_matchers",
    "silencing",
]

#: a silence's state at a moment: not started yet, muting, or over (ended or expired)
SILENCE_STATES = ("pending", "active", "expired")


class SilenceError(NotificationError, ValueError):
    """A silence that cannot be made: bad matchers, an end before its start, no comment. The
    message names the problem and the fix."""


def parse_silence_matchers(items: Iterable[str]) -> tuple[Matcher, ...]:
    """The matchers of a silence, each item one or more matchers (``service="db"``,
    ``{service="db", env=~"prod|stage"}``), all ANDed.

    :raises SilenceError: an item does not parse, there is none, or every matcher matches the
        empty string (the silence would mute every alert).
    """
    found: list[Matcher] = []
    for item in items:
        try:
            found.extend(parse_matchers(item))
        except MatcherError as err:
            raise SilenceError(str(err)) from None
    if not found:
        raise SilenceError('a silence needs matchers: give one or more, such as service="db"')
    if all(m.matches({}) for m in found):
        shown = ", ".join(str(m) for m in found)
        raise SilenceError(
            f"{shown}: every matcher also matches an alert without that label, so the silence "
            'would mute every alert; add at least one that needs a value (service="db", '
            'env=~"prod.*"), as Alertmanager requires'
        )
    return tuple(found)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Silence:
    """One silence: ``matchers`` (ANDed) mute alerts from ``starts_at`` until ``ends_at`` (epoch
    seconds); ``comment`` says why, ``created_by`` who made it; ``expired_by`` who expired it
    early (its ``ends_at`` is then when)."""

    id: str
    matchers: tuple[Matcher, ...]
    starts_at: float
    ends_at: float
    comment: str
    created_by: str | None
    created_at: float
    expired_by: str | None = None

    def state(self, now: float) -> str:
        """``pending`` (not started), ``active`` or ``expired`` at ``now``."""
        if now < self.starts_at:
            return "pending"
        if now < self.ends_at:
            return "active"
        return "expired"

    def active(self, now: float) -> bool:
        return self.starts_at <= now < self.ends_at

    def mutes(self, alert: Alert, now: float) -> bool:
        """Whether this silence mutes ``alert`` at ``now`` (its matchers test the alert's labels
        plus ``event`` and ``severity``, as routes do)."""
        return self.active(now) and matches_all(self.matchers, alert.label_set)

    def reason(self) -> str:
        """Why an alert is muted: ``silenced by <id> until <end> (<by>: <comment>)``."""
        who = f"{self.created_by}: " if self.created_by else ""
        return f"silenced by {self.id} until {_iso(self.ends_at)} ({who}{self.comment})"

    def to_dict(self, now: float | None = None) -> dict[str, Any]:
        """The ``notifykit silence list --json`` shape (times in ISO 8601, UTC)."""
        shown: dict[str, Any] = {
            "id": self.id,
            "matchers": [str(m) for m in self.matchers],
            "starts_at": _iso(self.starts_at),
            "ends_at": _iso(self.ends_at),
            "comment": self.comment,
            "created_by": self.created_by,
            "created_at": _iso(self.created_at),
        }
        if self.expired_by is not None:
            shown["expired_by"] = self.expired_by
        if now is not None:
            shown["state"] = self.state(now)
        return shown


def silencing(silences: Sequence[Silence], alert: Alert, now: float) -> Silence | None:
    """The silence that mutes ``alert`` at ``now`` (the one ending last, when several do), or
    ``None``."""
    found = [s for s in silences if s.mutes(alert, now)]
    return max(found, key=lambda s: (s.ends_at, s.id)) if found else None
