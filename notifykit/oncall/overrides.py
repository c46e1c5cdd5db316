"""On-call overrides made at run time (``notifykit override add``, ``Notifier.override``):
"bob covers the primary schedule tonight", without editing the config or restarting anything.
Stored in the ledger (:mod:`notifykit.ledger.overrides`), each with its row of the audit trail;
they win over the schedule's layers and its configured overrides, a later one over an earlier
one, as configured overrides do (docs/oncall.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from notifykit.errors import NotificationError
from notifykit.oncall.schedule import Override

__all__ = ["OverrideError", "StoredOverride"]


class OverrideError(NotificationError, ValueError):
    """An override that cannot be made: the message names the problem and the fix."""


@dataclass(frozen=True)
class StoredOverride:
    """``who`` is on call for ``schedule`` over ``[starts_at, ends_at)`` (epoch seconds).
    ``cancelled_by``: who cancelled it (it then ended when cancelled, or never started)."""

    id: str
    schedule: str
    who: str
    starts_at: float
    ends_at: float
    comment: str
    created_by: str | None
    created_at: float
    cancelled_by: str | None = None

    def state(self, now: float) -> str:
        """``pending``, ``active`` or ``ended``."""
        if self.ends_at <= now:
            return "ended"
        return "active" if self.starts_at <= now else "pending"

    def local(self, zone: ZoneInfo) -> Override:
        """As a schedule's :class:`Override`: naive wall-clock times in ``zone``."""
        return Override(self.who, _wall(self.starts_at, zone), _wall(self.ends_at, zone))

    def to_dict(self, now: float | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "schedule": self.schedule,
            "who": self.who,
            "starts_at": _iso(self.starts_at),
            "ends_at": _iso(self.ends_at),
            "comment": self.comment,
            "created_by": self.created_by,
            "created_at": _iso(self.created_at),
            "cancelled_by": self.cancelled_by,
        }
        if now is not None:
            out["state"] = self.state(now)
        return out


def _wall(epoch: float, zone: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(epoch, zone).replace(tzinfo=None)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat()
