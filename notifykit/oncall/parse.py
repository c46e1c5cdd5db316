"""From the text a person writes (in a config file, on the command line) to the schedule's types:
zones, rotations, local times and moments. Each function raises :class:`ScheduleError` naming the
problem and the fix, so a config check can report it under the key it came from."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from notifykit.oncall.schedule import DEFAULT_ZONE, Rotation, ScheduleError, local_instant

__all__ = ["format_rotation", "parse_local", "parse_moment", "parse_rotation", "parse_zone"]

_DURATION = re.compile(r"(?:\d+[dhm])+")
_PART = re.compile(r"(\d+)([dhm])")
_UNITS = {"d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1)}
_LOCAL = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2})?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_OFFSET = re.compile(r"(?:Z|[+-]\d{2}:?\d{2})$", re.IGNORECASE)
_FIX_ROTATION = "use daily, weekly or a duration such as 12h or 3d"


def parse_zone(text: str | None) -> ZoneInfo:
    """An IANA zone by name; ``None`` or empty is the default, Asia/Kolkata."""
    name = (text or "").strip() or DEFAULT_ZONE
    if name.lower() == "local":
        raise ScheduleError(
            "timezone 'Local' depends on the machine: name the IANA zone instead (Asia/Kolkata)"
        )
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            f"timezone {name!r} is not an IANA time zone: write one like Asia/Kolkata, UTC or "
            "Europe/London"
        ) from None


def parse_rotation(text: str) -> Rotation:
    """``daily`` or ``weekly`` (calendar days: the handoff stays at the same wall-clock time
    across a DST change), or a duration of days, hours and minutes (``12h``, ``3d``, ``1d12h``:
    exact elapsed time)."""
    word = str(text).strip().lower()
    if word in ("daily", "weekly"):
        return "daily" if word == "daily" else "weekly"
    if not _DURATION.fullmatch(word):
        raise ScheduleError(f"rotation {text!r}: {_FIX_ROTATION}")
    period = sum((int(n) * _UNITS[unit] for n, unit in _PART.findall(word)), timedelta())
    if period < timedelta(minutes=1):
        raise ScheduleError(f"rotation {text!r} is no time at all: {_FIX_ROTATION}")
    return period


def format_rotation(rotation: Rotation) -> str:
    """The text :func:`parse_rotation` reads back: ``daily``, ``weekly``, ``12h``, ``1d12h``."""
    if not isinstance(rotation, timedelta):
        return rotation
    minutes = int(rotation.total_seconds()) // 60
    days, rest = divmod(minutes, 1440)
    hours, minutes = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m")) if n]
    return "".join(parts) or "0m"


def parse_local(text: str) -> datetime:
    """A wall-clock time without an offset, ``YYYY-MM-DDTHH:MM`` (seconds allowed), as a naive
    datetime: a layer's start or an override's ends, read in the schedule's zone."""
    raw = str(text).strip()
    if _OFFSET.search(raw) and _LOCAL.match(raw):
        raise ScheduleError(
            f"{text!r} has an offset: write local time in the schedule's zone, without one "
            f"(such as {raw[:16]})"
        )
    if not _LOCAL.fullmatch(raw):
        example = f"{raw}T00:00" if _DATE.fullmatch(raw) else "2026-12-07T10:00"
        raise ScheduleError(
            f"{text!r} is not a local time: write YYYY-MM-DDTHH:MM, such as {example}"
        )
    try:
        return datetime.fromisoformat(raw.replace(" ", "T"))
    except ValueError:
        raise ScheduleError(
            f"{text!r} is not a date and time on the calendar: check the month, day and hour"
        ) from None


def parse_moment(text: str, zone: ZoneInfo) -> datetime:
    """A moment to ask about (``--at``, ``--from``, ``--to``): ISO 8601 with an offset or ``Z``,
    or local time in ``zone`` without one, or a date alone (its local midnight). Aware, in UTC."""
    raw = str(text).strip()
    if _DATE.fullmatch(raw):
        raw += "T00:00"
    offset = _OFFSET.search(raw)
    if offset is None or not _LOCAL.match(raw):
        return local_instant(parse_local(raw), zone)
    # Python 3.10's fromisoformat reads neither Z nor an offset without its colon.
    sign = offset.group(0)
    written = "+00:00" if sign in ("Z", "z") else f"{sign[:3]}:{sign[-2:]}"
    try:
        moment = datetime.fromisoformat(raw[: offset.start()].replace(" ", "T") + written)
    except ValueError:
        raise ScheduleError(
            f"{text!r} is not a time: write ISO 8601 such as 2026-12-07T10:00+05:30, or local "
            "time such as 2026-12-07T10:00"
        ) from None
    return moment.astimezone(timezone.utc)
