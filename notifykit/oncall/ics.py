"""A schedule's shifts as an iCalendar feed (RFC 5545) that people subscribe to.

One ``VEVENT`` per shift with a ``UID`` that stays the same while the shift does (schedule, person
and start), times in UTC (no ``VTIMEZONE`` to get wrong), ``TRANSP:TRANSPARENT`` so being on call
does not show as busy, CRLF line ends, lines folded at 75 octets and text escaped. Written by hand:
the format needed here is a few dozen lines, not worth a dependency.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone

from notifykit.oncall.schedule import Shift

__all__ = ["to_ics"]

PRODID = "-//notifykit//on-call schedules//EN"
_LIMIT = 75  # octets per line, CRLF excluded (RFC 5545, 3.1)


def to_ics(
    schedule: str,
    shifts: Iterable[Shift],
    *,
    stamp: datetime | None = None,
    refresh: timedelta = timedelta(hours=1),
) -> str:
    """The shifts of ``schedule`` as a ``VCALENDAR``. ``stamp`` is the ``DTSTAMP`` of every event
    (when the feed was written: now unless given); ``refresh`` tells subscribed calendars how
    often to fetch it again."""
    written = (stamp or datetime.now(timezone.utc)).astimezone(timezone.utc)
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"NAME:{_text(f'on call: {schedule}')}",
        f"X-WR-CALNAME:{_text(f'on call: {schedule}')}",
        f"REFRESH-INTERVAL;VALUE=DURATION:{_duration(refresh)}",
        f"X-PUBLISHED-TTL:{_duration(refresh)}",
    ]
    for shift in shifts:
        lines += [
            "BEGIN:VEVENT",
            f"UID:{_uid(schedule, shift)}",
            f"DTSTAMP:{_utc(written)}",
            f"DTSTART:{_utc(shift.start)}",
            f"DTEND:{_utc(shift.end)}",
            f"SUMMARY:{_text(f'on call: {shift.who} ({schedule})')}",
            "TRANSP:TRANSPARENT",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "".join(_fold(line) + "\r\n" for line in lines)


def _uid(schedule: str, shift: Shift) -> str:
    # The same shift (schedule, person, start) keeps its UID from one fetch to the next, so a
    # calendar updates the event (say, an end moved by an override) instead of duplicating it.
    key = f"{schedule}\0{shift.who}\0{_utc(shift.start)}".encode()
    return f"{hashlib.sha256(key).hexdigest()[:32]}@notifykit"


def _utc(at: datetime) -> str:
    return at.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def _duration(span: timedelta) -> str:
    seconds = max(int(span.total_seconds()), 60)
    return f"PT{seconds // 60}M"


def _text(value: str) -> str:
    """A TEXT value (RFC 5545, 3.3.11): backslash, semicolon and comma escaped, a line break as
    ``\\n``."""
    escaped = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return escaped.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n")


def _fold(line: str) -> str:
    """Split a content line into lines of at most 75 octets, each continuation starting with a
    space, never inside a UTF-8 character."""
    out: list[str] = []
    current: list[str] = []
    size = 0
    for char in line:
        width = len(char.encode("utf-8"))
        if size + width > _LIMIT:
            out.append("".join(current))
            current, size = [" "], 1
        current.append(char)
        size += width
    out.append("".join(current))
    return "\r\n".join(out)
