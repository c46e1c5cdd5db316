"""From written text to the schedule's types: rotations, zones, local times and moments, and the
errors a person sees for each mistake."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from notifykit.oncall import (
    ScheduleError,
    format_rotation,
    parse_local,
    parse_moment,
    parse_rotation,
    parse_zone,
)

UTC = timezone.utc


@pytest.mark.parametrize(
    ("text", "rotation", "written"),
    [
        ("daily", "daily", "daily"),
        ("Weekly", "weekly", "weekly"),
        (" daily ", "daily", "daily"),
        ("12h", timedelta(hours=12), "12h"),
        ("3d", timedelta(days=3), "3d"),
        ("36h", timedelta(hours=36), "1d12h"),
        ("1h30m", timedelta(minutes=90), "1h30m"),
        ("90m", timedelta(minutes=90), "1h30m"),
        ("1d6h", timedelta(hours=30), "1d6h"),
    ],
)
def test_rotations(text: str, rotation: object, written: str) -> None:
    assert parse_rotation(text) == rotation
    assert format_rotation(parse_rotation(text)) == written
    assert parse_rotation(written) == rotation


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2w", "rotation '2w': use daily, weekly or a duration such as 12h or 3d"),
        ("fortnightly", "rotation 'fortnightly': use daily, weekly"),
        ("12", "rotation '12': use daily, weekly"),
        ("1.5d", "rotation '1.5d': use daily, weekly"),
        ("30s", "rotation '30s': use daily, weekly"),
        ("", "rotation '': use daily, weekly"),
        ("0h", "rotation '0h' is no time at all: use daily, weekly or a duration"),
    ],
)
def test_bad_rotations(text: str, message: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_rotation(text)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("text", "local"),
    [
        ("2026-12-07T10:00", datetime(2026, 12, 7, 10, 0)),
        ("2026-12-07 10:00", datetime(2026, 12, 7, 10, 0)),
        ("2026-12-07T10:00:30", datetime(2026, 12, 7, 10, 0, 30)),
        ("2028-02-29T00:00", datetime(2028, 2, 29)),
    ],
)
def test_local_times(text: str, local: datetime) -> None:
    assert parse_local(text) == local
    assert parse_local(text).tzinfo is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "2026-12-07T10:00+05:30",
            "'2026-12-07T10:00+05:30' has an offset: write local time in the schedule's zone, "
            "without one (such as 2026-12-07T10:00)",
        ),
        ("2026-12-07T10:00Z", "has an offset"),
        ("2026-12-07", "is not a local time: write YYYY-MM-DDTHH:MM, such as 2026-12-07T00:00"),
        (
            "7 Dec 2026 10am",
            "is not a local time: write YYYY-MM-DDTHH:MM, such as 2026-12-07T10:00",
        ),
        ("2026-12-7T10:00", "is not a local time"),
        ("2027-02-29T10:00", "'2027-02-29T10:00' is not a date and time on the calendar"),
        ("2026-12-07T25:00", "is not a date and time on the calendar"),
    ],
)
def test_bad_local_times(text: str, message: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_local(text)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("text", "zone", "moment"),
    [
        ("2026-12-07T10:00+05:30", "UTC", datetime(2026, 12, 7, 4, 30, tzinfo=UTC)),
        ("2026-12-07T10:00+0530", "UTC", datetime(2026, 12, 7, 4, 30, tzinfo=UTC)),
        ("2026-12-07T04:30Z", "America/New_York", datetime(2026, 12, 7, 4, 30, tzinfo=UTC)),
        ("2026-12-07T04:30:15z", "UTC", datetime(2026, 12, 7, 4, 30, 15, tzinfo=UTC)),
        ("2026-12-07T10:00-05:00", "Asia/Kolkata", datetime(2026, 12, 7, 15, 0, tzinfo=UTC)),
        # without an offset: the schedule's zone
        ("2026-12-07T10:00", "Asia/Kolkata", datetime(2026, 12, 7, 4, 30, tzinfo=UTC)),
        ("2026-07-07T10:00", "Europe/London", datetime(2026, 7, 7, 9, 0, tzinfo=UTC)),
        # a date alone is its local midnight
        ("2026-12-07", "Asia/Kolkata", datetime(2026, 12, 6, 18, 30, tzinfo=UTC)),
        # a skipped local time reads with the offset before the change (02:30 EST = 03:30 EDT)
        ("2026-03-08T02:30", "America/New_York", datetime(2026, 3, 8, 7, 30, tzinfo=UTC)),
        # a repeated one is its first occurrence (01:30 EDT)
        ("2026-11-01T01:30", "America/New_York", datetime(2026, 11, 1, 5, 30, tzinfo=UTC)),
    ],
)
def test_moments(text: str, zone: str, moment: datetime) -> None:
    parsed = parse_moment(text, ZoneInfo(zone))
    assert parsed == moment
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tomorrow", "'tomorrow' is not a local time"),
        ("2026-12-07T10:00+25:00", "is not a time: write ISO 8601 such as 2026-12-07T10:00+05:30"),
        ("2026-13-07T10:00Z", "is not a time: write ISO 8601"),
    ],
)
def test_bad_moments(text: str, message: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_moment(text, ZoneInfo("Asia/Kolkata"))
    assert message in str(caught.value)


def test_zones() -> None:
    assert parse_zone("Europe/London") == ZoneInfo("Europe/London")
    assert parse_zone(None) == ZoneInfo("Asia/Kolkata")
    assert parse_zone("") == ZoneInfo("Asia/Kolkata")
    with pytest.raises(ScheduleError, match=r"'Mars/Olympus' is not an IANA time zone: write one"):
        parse_zone("Mars/Olympus")
    with pytest.raises(ScheduleError, match="name the IANA zone instead"):
        parse_zone("Local")
    with pytest.raises(ScheduleError, match="is not an IANA time zone"):
        parse_zone("../../etc/passwd")
