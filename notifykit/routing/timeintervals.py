"""Named time intervals in Prometheus Alertmanager's ``time_intervals`` format.

An interval is a list of entries; it contains a moment when *any* entry does. An entry contains a
moment when *every* field it sets does (an empty entry is always)::

    business-hours:
      - weekdays: ['monday:friday']
        times: [{start_time: '09:30', end_time: '18:30'}]
        location: Asia/Kolkata          # IANA zone; the default here is Asia/Kolkata (Alertmanager: UTC)
    quarter-end:
      - {days_of_month: ['-3:-1'], months: [march, june, september, december]}

As in Alertmanager: ``start_time`` is inclusive and ``end_time`` exclusive (``24:00`` allowed as an
end), a range must end after it starts (so a night window is two ranges), day-of-month ``-1`` is
the last day of the month, ranges are inclusive (``monday:friday``, ``1:7``, ``2025:2027``), names
are case-insensitive, and the fields are read in the entry's ``location`` on the local wall clock
(so ``09:00`` stays 09:00 across a DST change).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "DEFAULT_LOCATION",
    "DayRange",
    "TimeInterval",
    "TimeIntervalEntry",
    "TimeIntervalError",
    "TimeRange",
    "parse_entry",
    "parse_interval",
]

#: where times are read when an entry names no ``location``
DEFAULT_LOCATION = "Asia/Kolkata"

WEEKDAYS: tuple[str, ...] = (
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
)
MONTHS: tuple[str, ...] = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
_TIME = re.compile(r"(\d{2}):(\d{2})")
ENTRY_KEYS: tuple[str, ...] = ("times", "weekdays", "days_of_month", "months", "years", "location")


class TimeIntervalError(ValueError):
    """A malformed time interval; the message names the problem and the fix."""


@dataclass(frozen=True)
class TimeRange:
    """Minutes since midnight: ``start`` inclusive, ``end`` exclusive (``end`` up to 1440)."""

    start: int
    end: int

    def __str__(self) -> str:
        return f"{_hhmm(self.start)}-{_hhmm(self.end)}"


@dataclass(frozen=True)
class DayRange:
    """An inclusive range of numbers: weekdays (0 = Sunday, as in Alertmanager), days of the
    month (negative from the end), months (1-12) or years."""

    start: int
    end: int


@dataclass(frozen=True)
class TimeIntervalEntry:
    """One entry of a time interval: every field it sets must contain the moment."""

    times: tuple[TimeRange, ...] = ()
    weekdays: tuple[DayRange, ...] = ()
    days_of_month: tuple[DayRange, ...] = ()
    months: tuple[DayRange, ...] = ()
    years: tuple[DayRange, ...] = ()
    location: str = DEFAULT_LOCATION

    def contains(self, at: datetime) -> bool:
        """Whether the aware datetime ``at`` falls in this entry, on ``location``'s wall clock."""
        local = at.astimezone(ZoneInfo(self.location))
        if self.times:
            minute = local.hour * 60 + local.minute
            if not any(r.start <= minute < r.end for r in self.times):
                return False
        if self.weekdays:
            # Python counts Monday as 0; Alertmanager (Go) counts Sunday as 0.
            weekday = (local.weekday() + 1) % 7
            if not any(r.start <= weekday <= r.end for r in self.weekdays):
                return False
        if self.days_of_month and not self._in_days_of_month(local):
            return False
        if self.months and not any(r.start <= local.month <= r.end for r in self.months):
            return False
        return not self.years or any(r.start <= local.year <= r.end for r in self.years)

    def _in_days_of_month(self, local: datetime) -> bool:
        # Alertmanager's rule: negative days count from the month's end, a range beginning
        # after the month's last day is skipped, and the end is clamped to the month.
        length = calendar.monthrange(local.year, local.month)[1]
        for r in self.days_of_month:
            begin = length + r.start + 1 if r.start < 0 else r.start
            end = length + r.end + 1 if r.end < 0 else r.end
            if begin > length:
                continue
            end = min(end, length)
            if begin <= local.day <= end:
                return True
        return False

    def edges(self, start: datetime, end: datetime) -> Iterator[datetime]:
        """UTC instants in ``(start, end)`` where :meth:`contains` *may* change: the local
        midnights and the times' ends, each at both occurrences of a repeated hour, and the
        zone's offset changes (a range can begin inside a skipped hour). ``contains`` is constant
        between two of them: the local wall clock is continuous there and crosses no day or
        range edge. Assumes at most one offset change per local day (true of every zone today).
        """
        zone = ZoneInfo(self.location)
        minutes = sorted({0, *(r.start for r in self.times), *(r.end for r in self.times)})
        day = start.astimezone(zone).date() - timedelta(days=1)
        last = end.astimezone(zone).date() + timedelta(days=1)
        while day <= last:
            midnight = datetime(day.year, day.month, day.day)
            for minute in minutes:
                wall = midnight + timedelta(minutes=minute)
                for fold in (0, 1):
                    at = wall.replace(tzinfo=zone, fold=fold).astimezone(timezone.utc)
                    if start < at < end:
                        yield at
            change = _offset_change(zone, midnight, midnight + timedelta(days=1))
            if change is not None and start < change < end:
                yield change
            day += timedelta(days=1)


@dataclass(frozen=True)
class TimeInterval:
    """A named time interval: it contains a moment when any of its entries does."""

    name: str
    entries: tuple[TimeIntervalEntry, ...]

    def contains(self, at: datetime) -> bool:
        if at.tzinfo is None:
            raise ValueError(
                "time intervals need an aware datetime (with a tzinfo), not a naive one"
            )
        return any(entry.contains(at) for entry in self.entries)

    def changes(self, start: datetime, end: datetime) -> list[datetime]:
        """The instants in ``(start, end)`` where :meth:`contains` changes value, in order, in
        UTC: over the range the interval holds from ``start`` when ``contains(start)``, and flips
        at each of these. An on-call layer restricted to the interval starts and ends its shifts
        there."""
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError(
                "time intervals need an aware datetime (with a tzinfo), not a naive one"
            )
        edges = sorted({at for entry in self.entries for at in entry.edges(start, end)})
        inside = self.contains(start)
        found = []
        for at in edges:
            if self.contains(at) != inside:
                inside = not inside
                found.append(at)
        return found


def _offset_change(zone: ZoneInfo, day: datetime, next_day: datetime) -> datetime | None:
    """The UTC instant where ``zone``'s offset changes between two local midnights, if it does
    (found by halving: offsets change on whole seconds)."""
    low = day.replace(tzinfo=zone).astimezone(timezone.utc)
    high = next_day.replace(tzinfo=zone).astimezone(timezone.utc)
    after = high.astimezone(zone).utcoffset()
    if low.astimezone(zone).utcoffset() == after:
        return None
    # invariant: the offset at ``low`` differs from ``after``, the offset at ``high`` is it
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) // 2
        middle = middle.replace(microsecond=0)
        if middle.astimezone(zone).utcoffset() == after:
            high = middle
        else:
            low = middle
    return high


# -- parsing -----------------------------------------------------------------------------------


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def parse_time(text: str, *, end: bool) -> int:
    """``HH:MM`` as minutes since midnight; ``24:00`` only as an end."""
    match = _TIME.fullmatch(text.strip())
    if match is None:
        raise TimeIntervalError(f"{text!r} is not a time: write HH:MM, such as 09:30")
    hours, minutes = int(match.group(1)), int(match.group(2))
    if minutes > 59 or hours > 24 or (hours == 24 and minutes != 0):
        raise TimeIntervalError(f"{text!r} is not a time of day: hours 00-23, minutes 00-59")
    if hours == 24 and not end:
        raise TimeIntervalError("24:00 can only end a range: start the range at 00:00")
    return hours * 60 + minutes


def parse_time_range(start_text: str, end_text: str) -> TimeRange:
    start = parse_time(start_text, end=False)
    stop = parse_time(end_text, end=True)
    if stop <= start:
        if stop < start:
            raise TimeIntervalError(
                f"end_time {end_text} is before start_time {start_text}: a range must end after "
                f"it starts; write a night window as two ranges, {start_text}–24:00 and "
                f"00:00–{end_text}"
            )
        raise TimeIntervalError(
            f"start_time and end_time are both {start_text}: an empty range; make end_time later"
        )
    return TimeRange(start, stop)


def _split(text: str) -> tuple[str, str]:
    """``a:b`` -> (a, b); ``a`` -> (a, a). Negative numbers keep their sign (``-3:-1``)."""
    parts = text.strip().split(":")
    if len(parts) == 1:
        return parts[0].strip(), parts[0].strip()
    if len(parts) == 2:
        return parts[0].strip(), parts[1].strip()
    raise TimeIntervalError(f"{text!r} is not a range: write one value or START:END")


def _ordered(start: int, end: int, text: str, what: str) -> DayRange:
    if end < start:
        raise TimeIntervalError(
            f"{what} range {text!r} ends before it starts: write the earlier {what} first"
        )
    return DayRange(start, end)


def parse_weekdays(text: str) -> DayRange:
    def one(name: str) -> int:
        lowered = name.lower()
        if lowered not in WEEKDAYS:
            raise TimeIntervalError(
                f"{name!r} is not a weekday: write one of {', '.join(WEEKDAYS)} (or a range "
                "such as monday:friday)"
            )
        return WEEKDAYS.index(lowered)

    start, end = _split(text)
    return _ordered(one(start), one(end), text, "weekday")


def parse_days_of_month(text: str) -> DayRange:
    def one(value: str) -> int:
        try:
            day = int(value)
        except ValueError:
            raise TimeIntervalError(
                f"{value!r} is not a day of the month: write 1-31, or -1 for the last day"
            ) from None
        if day == 0 or not -31 <= day <= 31:
            raise TimeIntervalError(
                f"day of the month {day} is out of range: 1 to 31, or -1 (the last day) to -31"
            )
        return day

    start_text, end_text = _split(text)
    start, end = one(start_text), one(end_text)
    if start < 0 < end:
        raise TimeIntervalError(
            f"days_of_month range {text!r} mixes a day from the end with one from the start: "
            "write both negative (-7:-1) or both positive (1:7)"
        )
    if start > 0 > end:
        # 15:-1 (the 15th to the last day) is fine; like Alertmanager, refuse a range that is
        # empty even in the shortest month (28 days), such as 28:-5.
        if start > 28 + end + 1:
            raise TimeIntervalError(
                f"days_of_month range {text!r} ends before it starts in a 28-day February: make the "
                "end later"
            )
        return DayRange(start, end)
    return _ordered(start, end, text, "day")


def parse_months(text: str) -> DayRange:
    def one(value: str) -> int:
        lowered = value.lower()
        if lowered in MONTHS:
            return MONTHS.index(lowered) + 1
        if value.isdigit() and 1 <= int(value) <= 12:
            return int(value)
        raise TimeIntervalError(
            f"{value!r} is not a month: write its name (january) or number (1-12)"
        )

    start, end = _split(text)
    return _ordered(one(start), one(end), text, "month")


def parse_years(text: str) -> DayRange:
    def one(value: str) -> int:
        if not value.isdigit():
            raise TimeIntervalError(f"{value!r} is not a year: write it like 2026")
        return int(value)

    start, end = _split(text)
    return _ordered(one(start), one(end), text, "year")


def parse_location(text: str) -> str:
    name = text.strip()
    if name.lower() == "local":
        raise TimeIntervalError(
            "location 'Local' depends on the machine: name the IANA zone instead (Asia/Kolkata)"
        )
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise TimeIntervalError(
            f"{name!r} is not an IANA time zone: write one like Asia/Kolkata, UTC or Europe/London"
        ) from None
    return name


def _items(value: Any, key: str) -> list[Any]:
    if isinstance(value, (str, int)):
        return [value]
    if not isinstance(value, Sequence):
        raise TimeIntervalError(f"{key} must be a list")
    return list(value)


def parse_entry(raw: Mapping[str, Any]) -> TimeIntervalEntry:
    """One entry from plain Python values (as YAML loads them).

    :raises TimeIntervalError: the first problem found.
    """
    unknown = sorted(set(raw) - set(ENTRY_KEYS))
    if unknown:
        raise TimeIntervalError(f"unknown key {unknown[0]!r}; allowed: {', '.join(ENTRY_KEYS)}")
    times = []
    for item in _items(raw.get("times") or [], "times"):
        if not isinstance(item, Mapping) or set(item) != {"start_time", "end_time"}:
            raise TimeIntervalError("each times entry is {start_time: 'HH:MM', end_time: 'HH:MM'}")
        times.append(parse_time_range(str(item["start_time"]), str(item["end_time"])))
    return TimeIntervalEntry(
        times=tuple(times),
        weekdays=tuple(
            parse_weekdays(str(v)) for v in _items(raw.get("weekdays") or [], "weekdays")
        ),
        days_of_month=tuple(
            parse_days_of_month(str(v))
            for v in _items(raw.get("days_of_month") or [], "days_of_month")
        ),
        months=tuple(parse_months(str(v)) for v in _items(raw.get("months") or [], "months")),
        years=tuple(parse_years(str(v)) for v in _items(raw.get("years") or [], "years")),
        location=parse_location(str(raw["location"])) if raw.get("location") else DEFAULT_LOCATION,
    )


def parse_interval(name: str, entries: Sequence[Mapping[str, Any]]) -> TimeInterval:
    """A named interval from a list of entries (plain Python values)."""
    return TimeInterval(name, tuple(parse_entry(entry) for entry in entries))
