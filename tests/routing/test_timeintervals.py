"""Time intervals in Alertmanager's format: times (start inclusive, end exclusive), night windows
as two ranges, weekdays, days of the month (negative from the end), months, years, and zones with
and without DST."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from notifykit.routing import TimeIntervalError
from notifykit.routing.timeintervals import parse_entry, parse_interval

IST = ZoneInfo("Asia/Kolkata")
NEW_YORK = ZoneInfo("America/New_York")


def contains(entry: dict[str, object], at: datetime) -> bool:
    return parse_interval("x", [entry]).contains(at)


NIGHT = {
    "times": [
        {"start_time": "22:00", "end_time": "24:00"},
        {"start_time": "00:00", "end_time": "07:00"},
    ]
}


@pytest.mark.parametrize(
    ("hour", "minute", "inside"),
    [
        (21, 59, False),
        (22, 0, True),  # start inclusive
        (23, 59, True),
        (0, 0, True),  # across midnight, through the second range
        (6, 59, True),
        (7, 0, False),  # end exclusive
        (12, 0, False),
    ],
)
def test_a_night_window_across_midnight(hour: int, minute: int, inside: bool) -> None:
    at = datetime(2026, 3, 4, hour, minute, tzinfo=IST)
    assert contains(NIGHT, at) is inside


def test_a_single_night_range_is_an_error_that_says_how_to_write_it() -> None:
    with pytest.raises(TimeIntervalError) as caught:
        parse_entry({"times": [{"start_time": "22:00", "end_time": "07:00"}]})
    assert "write a night window as two ranges, 22:00–24:00 and 00:00–07:00" in str(caught.value)


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("24:00", "24:00", "24:00 can only end a range"),
        ("9:30", "10:00", "is not a time: write HH:MM"),
        ("09:60", "10:00", "minutes 00-59"),
        ("25:00", "26:00", "hours 00-23"),
        ("10:00", "10:00", "an empty range"),
    ],
)
def test_bad_times(start: str, end: str, message: str) -> None:
    with pytest.raises(TimeIntervalError, match=message):
        parse_entry({"times": [{"start_time": start, "end_time": end}]})


BUSINESS = {"weekdays": ["monday:friday"], "times": [{"start_time": "09:30", "end_time": "18:30"}]}


@pytest.mark.parametrize(
    ("when", "inside"),
    [
        (datetime(2026, 3, 2, 9, 30, tzinfo=IST), True),  # Monday
        (datetime(2026, 3, 6, 18, 29, tzinfo=IST), True),  # Friday
        (datetime(2026, 3, 6, 18, 30, tzinfo=IST), False),
        (datetime(2026, 3, 7, 12, 0, tzinfo=IST), False),  # Saturday
        (datetime(2026, 3, 8, 12, 0, tzinfo=IST), False),  # Sunday
        # The default location is Asia/Kolkata: 04:00 UTC is 09:30 IST on Monday.
        (datetime(2026, 3, 2, 4, 0, tzinfo=timezone.utc), True),
        (datetime(2026, 3, 2, 3, 59, tzinfo=timezone.utc), False),
        # Friday 23:00 UTC is already Saturday in India.
        (datetime(2026, 3, 6, 23, 0, tzinfo=timezone.utc), False),
    ],
)
def test_business_hours_in_the_default_zone(when: datetime, inside: bool) -> None:
    assert contains(BUSINESS, when) is inside


@pytest.mark.parametrize(
    ("weekdays", "day", "inside"),
    [
        (["saturday", "sunday"], datetime(2026, 3, 8), True),
        (["Saturday", "SUNDAY"], datetime(2026, 3, 7), True),  # names are case-insensitive
        (["sunday:monday"], datetime(2026, 3, 9), True),  # Sunday is 0, as in Alertmanager
        (["monday:friday"], datetime(2026, 3, 8), False),
        (["wednesday"], datetime(2026, 3, 4), True),
    ],
)
def test_weekdays(weekdays: list[str], day: datetime, inside: bool) -> None:
    assert contains({"weekdays": weekdays}, day.replace(hour=12, tzinfo=IST)) is inside


@pytest.mark.parametrize(
    ("days", "date", "inside"),
    [
        (["1:7"], (2026, 3, 7), True),
        (["1:7"], (2026, 3, 8), False),
        (["-1"], (2026, 2, 28), True),  # the last day of a 28-day February
        (["-1"], (2028, 2, 28), False),  # 2028 is a leap year
        (["-1"], (2028, 2, 29), True),
        (["-3:-1"], (2026, 4, 28), True),
        (["-3:-1"], (2026, 4, 27), False),
        (["15:-1"], (2026, 4, 30), True),
        (["31"], (2026, 4, 30), False),  # a day the month does not have is skipped
        (["25:31"], (2026, 2, 28), True),  # the end is clamped to the month
        (["1", "15"], (2026, 5, 15), True),
    ],
)
def test_days_of_month(days: list[str], date: tuple[int, int, int], inside: bool) -> None:
    assert contains({"days_of_month": days}, datetime(*date, 12, tzinfo=IST)) is inside


@pytest.mark.parametrize(
    ("months", "month", "inside"),
    [
        (["december"], 12, True),
        (["January:March"], 2, True),
        (["1:3"], 4, False),
        (["march", "june", "9", "december"], 9, True),
        (["november:december"], 1, False),
    ],
)
def test_months(months: list[str], month: int, inside: bool) -> None:
    assert contains({"months": months}, datetime(2026, month, 10, 12, tzinfo=IST)) is inside


def test_years_and_a_combination_of_fields_is_an_and() -> None:
    entry = {"years": ["2026:2027"], "months": ["december"], "days_of_month": ["25"]}
    assert contains(entry, datetime(2027, 12, 25, 1, tzinfo=IST))
    assert not contains(entry, datetime(2028, 12, 25, 1, tzinfo=IST))
    assert not contains(entry, datetime(2027, 12, 24, 1, tzinfo=IST))


def test_an_interval_is_an_or_of_its_entries_and_an_empty_entry_is_always() -> None:
    interval = parse_interval("x", [{"weekdays": ["saturday"]}, {"weekdays": ["sunday"]}])
    assert interval.contains(datetime(2026, 3, 7, 12, tzinfo=IST))
    assert interval.contains(datetime(2026, 3, 8, 12, tzinfo=IST))
    assert not interval.contains(datetime(2026, 3, 9, 12, tzinfo=IST))
    assert parse_interval("always", [{}]).contains(datetime(2026, 3, 9, tzinfo=IST))


def test_a_dst_zone_keeps_the_local_wall_clock() -> None:
    # New York moved to DST on 2026-03-08: 09:00 local is 14:00 UTC before, 13:00 UTC after.
    entry = {
        "times": [{"start_time": "09:00", "end_time": "17:00"}],
        "location": "America/New_York",
    }
    assert contains(entry, datetime(2026, 3, 6, 14, 0, tzinfo=timezone.utc))
    assert not contains(entry, datetime(2026, 3, 6, 13, 30, tzinfo=timezone.utc))
    assert contains(entry, datetime(2026, 3, 9, 13, 0, tzinfo=timezone.utc))
    assert not contains(entry, datetime(2026, 3, 9, 21, 0, tzinfo=timezone.utc))
    # On the change night 02:00-03:00 local does not exist: a 02:00-03:00 window never matches.
    gap = {"times": [{"start_time": "02:00", "end_time": "03:00"}], "location": "America/New_York"}
    start = datetime(2026, 3, 8, 5, 0, tzinfo=timezone.utc)  # 00:00 EST
    minutes = [start + timedelta(minutes=m) for m in range(0, 6 * 60, 5)]
    assert not any(contains(gap, at) for at in minutes)
    # India has no DST: the same UTC time is the same local time all year.
    ist_entry = {"times": [{"start_time": "09:30", "end_time": "10:00"}]}
    for month in (1, 4, 7, 10):
        assert contains(ist_entry, datetime(2026, month, 5, 4, 0, tzinfo=timezone.utc))
    assert datetime(2026, 3, 8, 12, tzinfo=NEW_YORK).utcoffset() == timedelta(hours=-4)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"weekdays": ["funday"]}, "'funday' is not a weekday"),
        ({"weekdays": ["friday:monday"]}, "weekday range 'friday:monday' ends before it starts"),
        ({"days_of_month": ["0"]}, "day of the month 0 is out of range"),
        ({"days_of_month": ["32"]}, "out of range"),
        ({"days_of_month": ["-1:5"]}, "write both negative (-7:-1) or both positive (1:7)"),
        ({"days_of_month": ["10:5"]}, "day range '10:5' ends before it starts"),
        ({"days_of_month": ["28:-5"]}, "28-day February"),
        ({"days_of_month": ["x"]}, "'x' is not a day of the month"),
        ({"months": ["smarch"]}, "'smarch' is not a month"),
        ({"months": ["13"]}, "'13' is not a month"),
        ({"months": ["june:may"]}, "ends before it starts"),
        ({"years": ["2027:2026"]}, "ends before it starts"),
        ({"years": ["twenty"]}, "is not a year"),
        ({"location": "Mars/Olympus"}, "'Mars/Olympus' is not an IANA time zone"),
        ({"location": "Local"}, "name the IANA zone instead"),
        ({"weekdays": ["a:b:c"]}, "is not a range"),
        ({"wekdays": ["monday"]}, "unknown key 'wekdays'"),
    ],
)
def test_errors(entry: dict[str, object], message: str) -> None:
    with pytest.raises(TimeIntervalError) as caught:
        parse_entry(entry)
    assert message in str(caught.value)


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="aware datetime"):
        parse_interval("x", [{}]).contains(datetime(2026, 1, 1))


# -- changes(): where contains() flips, for schedules that cut shifts at an interval's edges -----

UTC = timezone.utc


def flips_by_walking(
    interval_entries: list[dict[str, object]], start: datetime, hours: int
) -> list[datetime]:
    """The brute-force answer: every UTC minute where contains() differs from the minute before
    (every zone here has whole-minute offsets, so a minute walk sees every change)."""
    interval = parse_interval("x", interval_entries)
    minutes = [start + timedelta(minutes=m) for m in range(hours * 60 + 1)]
    values = [interval.contains(at) for at in minutes]
    return [minutes[i] for i in range(1, len(minutes)) if values[i] != values[i - 1]]


def times(*ranges: tuple[str, str], location: str = "Asia/Kolkata") -> dict[str, object]:
    return {
        "times": [{"start_time": a, "end_time": b} for a, b in ranges],
        "location": location,
    }


@pytest.mark.parametrize(
    ("name", "entries", "start", "hours"),
    [
        ("nights in India", [NIGHT], datetime(2026, 3, 1, tzinfo=UTC), 72),
        ("business hours, a weekend", [BUSINESS], datetime(2026, 3, 5, tzinfo=UTC), 120),
        # New York springs forward at 02:00 on 2026-03-08: ranges that begin in, end in and
        # straddle the missing hour, and a plain one that moves by an hour in UTC.
        (
            "spring forward",
            [
                times(("02:00", "02:30"), ("02:15", "03:30"), location="America/New_York"),
                times(("01:30", "02:10"), ("09:00", "17:00"), location="America/New_York"),
            ],
            datetime(2026, 3, 7, tzinfo=UTC),
            72,
        ),
        # ...and falls back at 02:00 on 2026-11-01: 01:00-02:00 happens twice.
        (
            "fall back",
            [
                times(("01:00", "01:30"), location="America/New_York"),
                times(("01:45", "03:00"), ("22:00", "24:00"), location="America/New_York"),
            ],
            datetime(2026, 10, 31, tzinfo=UTC),
            72,
        ),
        (
            "London, last Sunday of March",
            [times(("00:30", "01:30"), ("01:00", "02:00"), location="Europe/London")],
            datetime(2026, 3, 28, tzinfo=UTC),
            72,
        ),
        # Lord Howe Island moves its clocks by 30 minutes, at 02:00 (forward, first Sunday of
        # October) and 02:00 (back, first Sunday of April).
        (
            "Lord Howe forward",
            [times(("02:00", "02:20"), ("02:10", "02:40"), location="Australia/Lord_Howe")],
            datetime(2026, 10, 2, tzinfo=UTC),
            72,
        ),
        (
            "Lord Howe back",
            [times(("01:40", "01:50"), location="Australia/Lord_Howe")],
            datetime(2026, 4, 3, tzinfo=UTC),
            72,
        ),
        (
            "days of the month and months across a month end",
            [
                {"days_of_month": ["-1"], "location": "Europe/London"},
                {"months": ["march"], "weekdays": ["sunday"], "location": "America/New_York"},
            ],
            datetime(2026, 2, 26, tzinfo=UTC),
            24 * 12,
        ),
        ("always", [{}], datetime(2026, 3, 1, tzinfo=UTC), 48),
    ],
)
def test_changes_are_exactly_where_contains_flips(
    name: str, entries: list[dict[str, object]], start: datetime, hours: int
) -> None:
    interval = parse_interval(name, entries)
    end = start + timedelta(hours=hours)
    expected = flips_by_walking(entries, start, hours)
    if name != "always":
        assert expected, "the window must contain changes for the comparison to mean anything"
    got = interval.changes(start, end)
    assert got == [at for at in expected if at < end]
    assert all(at.tzinfo is UTC for at in got)


def test_changes_exclude_the_range_ends_and_take_any_zone() -> None:
    interval = parse_interval("n", [NIGHT])
    # 22:00 IST on 2026-03-04 is 16:30 UTC: an end there is excluded, a start there too.
    at = datetime(2026, 3, 4, 22, 0, tzinfo=IST)
    assert interval.changes(at - timedelta(hours=1), at) == []
    assert interval.changes(at, at + timedelta(hours=1)) == []
    assert interval.changes(at - timedelta(hours=1), at + timedelta(hours=1)) == [
        datetime(2026, 3, 4, 16, 30, tzinfo=UTC)
    ]
    with pytest.raises(ValueError, match="aware datetime"):
        interval.changes(datetime(2026, 3, 4), at)
