"""On-call schedules (issue 17, "Reach the person"): layers of rotating members, restricted to
time intervals, with overrides; who is on call at a moment, the shifts over a range, and those
shifts as an iCalendar feed. Pure domain, standard library only: docs/oncall.md."""

from __future__ import annotations

from notifykit.oncall.ics import to_ics
from notifykit.oncall.parse import (
    format_rotation,
    parse_local,
    parse_moment,
    parse_rotation,
    parse_zone,
)
from notifykit.oncall.schedule import (
    DEFAULT_ZONE,
    Layer,
    OnCall,
    Override,
    Restriction,
    Rotation,
    Schedule,
    ScheduleError,
    Shift,
    local_instant,
)

__all__ = [
    "DEFAULT_ZONE",
    "Layer",
    "OnCall",
    "Override",
    "Restriction",
    "Rotation",
    "Schedule",
    "ScheduleError",
    "Shift",
    "format_rotation",
    "local_instant",
    "parse_local",
    "parse_moment",
    "parse_rotation",
    "parse_zone",
    "to_ics",
]
