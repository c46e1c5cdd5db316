"""The on-call engine, table by table: rotations across month ends and leap days, DST zones
(wall-clock handoffs for daily and weekly, elapsed time for durations, handoffs inside a skipped
or a repeated hour), negative shifts before the start, restrict cutting shifts, overrides winning
(a later one over an earlier one), a later layer winning only where it has someone, nobody on
call, merged shifts, and a schedule started years ago answering in constant time.

Every moment is given explicitly: the engine has no clock of its own, so the tables are the
controllable clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notifykit.oncall import (
    Layer,
    OnCall,
    Override,
    Schedule,
    ScheduleError,
    Shift,
    parse_local,
    parse_rotation,
)
from notifykit.routing.timeintervals import TimeInterval, parse_interval

IST = "Asia/Kolkata"
NY = "America/New_York"
LONDON = "Europe/London"
LORD_HOWE = "Australia/Lord_Howe"  # clocks move by 30 minutes


def layer(
    rotation: str, start: str, members: str, restrict: tuple[TimeInterval, ...] = ()
) -> Layer:
    return Layer(parse_rotation(rotation), parse_local(start), tuple(members.split()), restrict)


def override(who: str, start: str, end: str) -> Override:
    return Override(who, parse_local(start), parse_local(end))


def at(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    assert moment.tzinfo is not None, "every moment in these tables carries its offset"
    return moment


# -- one layer: who has the shift ----------------------------------------------------------------

ONE_LAYER = [
    # zone, rotation, start, members, moment, who
    # weekly in India (the example): shift 0 is alice's from its first instant
    (IST, "weekly", "2026-12-07T10:00", "alice bob carol", "2026-12-07T10:00+05:30", "alice"),
    (IST, "weekly", "2026-12-07T10:00", "alice bob carol", "2026-12-14T09:59+05:30", "alice"),
    (IST, "weekly", "2026-12-07T10:00", "alice bob carol", "2026-12-14T10:00+05:30", "bob"),
    (IST, "weekly", "2026-12-07T10:00", "alice bob carol", "2026-12-14T04:30+00:00", "bob"),
    (IST, "weekly", "2026-12-07T10:00", "alice bob carol", "2026-12-21T10:00+05:30", "carol"),
    (IST, "weekly", "2026-12-07T10:00", "alice bob carol", "2026-12-28T10:00+05:30", "alice"),
    # negative shifts: -1 is members[-1 mod 3] = carol, -2 bob, -3 alice
    (IST, "weekly", "2026-12-07T10:00", "alice bob carol", "2026-12-07T09:59+05:30", "carol"),
    (IST, "weekly", "2026-12-07T10:00", "alice bob carol", "2026-11-23T10:00+05:30", "bob"),
    (IST, "weekly", "2026-12-07T10:00", "alice bob carol", "2026-11-23T09:59+05:30", "alice"),
    # daily across January 31 into February, and to March 1 (30 calendar days: shift 30)
    (IST, "daily", "2027-01-30T09:00", "a b", "2027-01-31T09:00+05:30", "b"),
    (IST, "daily", "2027-01-30T09:00", "a b", "2027-02-01T08:59+05:30", "b"),
    (IST, "daily", "2027-01-30T09:00", "a b", "2027-02-01T09:00+05:30", "a"),
    (IST, "daily", "2027-01-30T09:00", "a b", "2027-03-01T09:00+05:30", "a"),
    # a leap day is a day: 2028-02-29 is shift 2, March 1 shift 3; in 2027 March 1 is shift 2
    (IST, "daily", "2028-02-27T00:00", "a b c", "2028-02-29T12:00+05:30", "c"),
    (IST, "daily", "2028-02-27T00:00", "a b c", "2028-03-01T00:00+05:30", "a"),
    (IST, "daily", "2027-02-27T00:00", "a b c", "2027-03-01T00:00+05:30", "c"),
    # durations: 3d across a month end, 12h (and their negative shifts)
    (IST, "3d", "2027-01-29T00:00", "a b", "2027-01-31T23:59+05:30", "a"),
    (IST, "3d", "2027-01-29T00:00", "a b", "2027-02-01T00:00+05:30", "b"),
    (IST, "3d", "2027-01-29T00:00", "a b", "2027-02-04T00:00+05:30", "a"),
    (IST, "3d", "2027-01-29T00:00", "a b", "2027-01-28T23:59+05:30", "b"),
    (IST, "12h", "2026-12-07T08:00", "a b c", "2026-12-07T20:00+05:30", "b"),
    (IST, "12h", "2026-12-07T08:00", "a b c", "2026-12-08T08:00+05:30", "c"),
    (IST, "12h", "2026-12-07T08:00", "a b c", "2026-12-06T20:00+05:30", "c"),
    (IST, "12h", "2026-12-07T08:00", "a b c", "2026-12-06T19:59+05:30", "b"),
    # New York springs forward on 2026-03-08: daily keeps 09:00 local (13:00 UTC from then on)...
    (NY, "daily", "2026-03-01T09:00", "a b", "2026-03-07T13:59+00:00", "b"),
    (NY, "daily", "2026-03-01T09:00", "a b", "2026-03-07T14:00+00:00", "a"),
    (NY, "daily", "2026-03-01T09:00", "a b", "2026-03-08T12:59+00:00", "a"),
    (NY, "daily", "2026-03-01T09:00", "a b", "2026-03-08T13:00+00:00", "b"),
    (NY, "daily", "2026-03-01T09:00", "a b", "2026-03-08T09:30-04:00", "b"),
    # ...while 24h is elapsed time: the handoff stays at 14:00 UTC, 10:00 local after the change
    (NY, "24h", "2026-03-01T09:00", "a b", "2026-03-08T09:30-04:00", "a"),
    (NY, "24h", "2026-03-01T09:00", "a b", "2026-03-08T13:59+00:00", "a"),
    (NY, "24h", "2026-03-01T09:00", "a b", "2026-03-08T14:00+00:00", "b"),
    # ...and falls back on 2026-11-01: 09:00 local is 13:00 UTC before, 14:00 UTC after
    (NY, "daily", "2026-10-25T09:00", "a b", "2026-10-31T12:59+00:00", "b"),
    (NY, "daily", "2026-10-25T09:00", "a b", "2026-10-31T13:00+00:00", "a"),
    (NY, "daily", "2026-10-25T09:00", "a b", "2026-11-01T13:59+00:00", "a"),
    (NY, "daily", "2026-10-25T09:00", "a b", "2026-11-01T14:00+00:00", "b"),
    # a handoff at 02:30, which 2026-03-08 skips: it happens an hour later, 03:30 EDT (07:30 UTC)
    (NY, "daily", "2026-03-01T02:30", "a b", "2026-03-08T07:29+00:00", "a"),
    (NY, "daily", "2026-03-01T02:30", "a b", "2026-03-08T07:30+00:00", "b"),
    (NY, "daily", "2026-03-01T02:30", "a b", "2026-03-09T06:29+00:00", "b"),
    (NY, "daily", "2026-03-01T02:30", "a b", "2026-03-09T06:30+00:00", "a"),
    # a handoff at 01:30, which 2026-11-01 shows twice: at the first, 01:30 EDT (05:30 UTC)
    (NY, "daily", "2026-10-25T01:30", "a b", "2026-11-01T05:29+00:00", "a"),
    (NY, "daily", "2026-10-25T01:30", "a b", "2026-11-01T05:30+00:00", "b"),
    (NY, "daily", "2026-10-25T01:30", "a b", "2026-11-01T06:30+00:00", "b"),  # 01:30 EST
    (NY, "daily", "2026-10-25T01:30", "a b", "2026-11-02T06:29+00:00", "b"),
    (NY, "daily", "2026-10-25T01:30", "a b", "2026-11-02T06:30+00:00", "a"),
    # London: weekly keeps Monday 09:00 across both changes; 7d drifts by the hour
    (LONDON, "weekly", "2026-03-23T09:00", "a b", "2026-03-30T07:59+00:00", "a"),
    (LONDON, "weekly", "2026-03-23T09:00", "a b", "2026-03-30T08:00+00:00", "b"),
    (LONDON, "7d", "2026-03-23T09:00", "a b", "2026-03-30T08:30+00:00", "a"),
    (LONDON, "7d", "2026-03-23T09:00", "a b", "2026-03-30T09:00+00:00", "b"),
    (LONDON, "weekly", "2026-10-19T09:00", "a b", "2026-10-26T08:59+00:00", "a"),
    (LONDON, "weekly", "2026-10-19T09:00", "a b", "2026-10-26T09:00+00:00", "b"),
    # Lord Howe goes from +10:30 to +11 at 02:00 on 2026-10-04: a 02:10 handoff falls in the
    # skipped half hour and happens at 02:40 (15:40 UTC the day before); the next day at 02:10
    # +11 (15:10 UTC)
    (LORD_HOWE, "daily", "2026-10-01T02:10", "a b", "2026-10-03T15:39+00:00", "a"),
    (LORD_HOWE, "daily", "2026-10-01T02:10", "a b", "2026-10-03T15:40+00:00", "b"),
    (LORD_HOWE, "daily", "2026-10-01T02:10", "a b", "2026-10-04T15:09+00:00", "b"),
    (LORD_HOWE, "daily", "2026-10-01T02:10", "a b", "2026-10-04T15:10+00:00", "a"),
]


@pytest.mark.parametrize(("zone", "rotation", "start", "members", "moment", "who"), ONE_LAYER)
def test_who_has_the_shift(
    zone: str, rotation: str, start: str, members: str, moment: str, who: str
) -> None:
    schedule = Schedule("s", (layer(rotation, start, members),), zone=ZoneInfo(zone))
    answer = schedule.who_is_on_call(at(moment))
    assert (answer.who, answer.layer, answer.override) == (who, 0, False)


def test_the_default_zone_is_india() -> None:
    schedule = Schedule("s", (layer("weekly", "2026-12-07T10:00", "alice bob carol"),))
    assert schedule.zone == ZoneInfo("Asia/Kolkata")
    # Monday 10:00 IST is 04:30 UTC
    assert schedule.who_is_on_call(at("2026-12-14T04:29+00:00")).who == "alice"
    assert schedule.who_is_on_call(at("2026-12-14T04:30+00:00")).who == "bob"


# -- layers, restrict and overrides: who decides ----------------------------------------------

NIGHTS = parse_interval(
    "nights",
    [
        {
            "times": [
                {"start_time": "20:00", "end_time": "24:00"},
                {"start_time": "00:00", "end_time": "08:00"},
            ]
        }
    ],
)


def primary(*overrides: Override) -> Schedule:
    """The issue's example: a weekly day rotation, and a daily night layer on top of it."""
    return Schedule(
        "primary",
        (
            layer("weekly", "2026-12-07T10:00", "alice bob carol"),
            layer("daily", "2026-12-07T20:00", "dave erin", (NIGHTS,)),
        ),
        overrides,
        zone=ZoneInfo(IST),
    )


BOB_CHRISTMAS = override("bob", "2026-12-24T18:00", "2026-12-26T10:00")
CAROL_NIGHT = override("carol", "2026-12-25T00:00", "2026-12-25T06:00")

WHO_DECIDES = [
    # overrides, moment (IST), who, layer, override
    ((), "2026-12-07T12:00", "alice", 0, False),
    ((), "2026-12-07T21:00", "dave", 1, False),  # the later layer wins where it has someone
    ((), "2026-12-08T07:59", "dave", 1, False),
    ((), "2026-12-08T08:00", "alice", 0, False),  # ...and only there: its restrict ended
    ((), "2026-12-08T20:00", "erin", 1, False),
    ((), "2026-12-07T07:00", "erin", 1, False),  # the night layer's shift -1
    ((), "2026-12-07T09:00", "carol", 0, False),  # the day layer's shift -1
    ((BOB_CHRISTMAS,), "2026-12-24T17:59", "carol", 0, False),  # carol's week (from 12-21)
    ((BOB_CHRISTMAS,), "2026-12-24T18:00", "bob", None, True),
    ((BOB_CHRISTMAS,), "2026-12-25T03:00", "bob", None, True),  # over the night layer too
    ((BOB_CHRISTMAS,), "2026-12-26T09:59", "bob", None, True),
    ((BOB_CHRISTMAS,), "2026-12-26T10:00", "carol", 0, False),  # [from, to): to is out
    # a later override wins over an earlier one, whichever is wider
    ((BOB_CHRISTMAS, CAROL_NIGHT), "2026-12-25T03:00", "carol", None, True),
    ((BOB_CHRISTMAS, CAROL_NIGHT), "2026-12-25T06:00", "bob", None, True),
    ((CAROL_NIGHT, BOB_CHRISTMAS), "2026-12-25T03:00", "bob", None, True),
]


@pytest.mark.parametrize(("overrides", "moment", "who", "index", "is_override"), WHO_DECIDES)
def test_who_decides(
    overrides: tuple[Override, ...], moment: str, who: str, index: int | None, is_override: bool
) -> None:
    answer = primary(*overrides).who_is_on_call(at(moment + "+05:30"))
    assert answer == OnCall("primary", at(moment + "+05:30"), who, index, is_override)
    assert answer.at.tzinfo == ZoneInfo(IST)


def test_nobody_is_on_call_outside_every_restricted_layer() -> None:
    nights_only = Schedule("n", (layer("daily", "2026-12-07T20:00", "dave erin", (NIGHTS,)),))
    answer = nights_only.who_is_on_call(at("2026-12-08T12:00+05:30"))
    assert (answer.who, answer.layer, answer.override) == (None, None, False)
    assert nights_only.who_is_on_call(at("2026-12-07T22:00+05:30")).who == "dave"


def test_a_layer_restricted_to_several_intervals_covers_their_union() -> None:
    weekend = parse_interval("weekend", [{"weekdays": ["saturday", "sunday"]}])
    schedule = Schedule(
        "s",
        (
            layer("weekly", "2026-12-07T10:00", "alice"),
            layer("weekly", "2026-12-07T10:00", "zed", (NIGHTS, weekend)),
        ),
    )
    assert schedule.who_is_on_call(at("2026-12-09T12:00+05:30")).who == "alice"  # Wednesday
    assert schedule.who_is_on_call(at("2026-12-09T22:00+05:30")).who == "zed"
    assert schedule.who_is_on_call(at("2026-12-12T12:00+05:30")).who == "zed"  # Saturday


# -- shifts over a range ------------------------------------------------------------------------

SHIFT_TABLE = [
    (
        "the issue's example: negative shifts, the night layer cutting the week",
        primary(),
        "2026-12-07T00:00+05:30",
        "2026-12-09T12:00+05:30",
        [
            ("erin", "2026-12-07T00:00:00+05:30", "2026-12-07T08:00:00+05:30"),
            ("carol", "2026-12-07T08:00:00+05:30", "2026-12-07T10:00:00+05:30"),
            ("alice", "2026-12-07T10:00:00+05:30", "2026-12-07T20:00:00+05:30"),
            ("dave", "2026-12-07T20:00:00+05:30", "2026-12-08T08:00:00+05:30"),
            ("alice", "2026-12-08T08:00:00+05:30", "2026-12-08T20:00:00+05:30"),
            ("erin", "2026-12-08T20:00:00+05:30", "2026-12-09T08:00:00+05:30"),
            ("alice", "2026-12-09T08:00:00+05:30", "2026-12-09T12:00:00+05:30"),
        ],
    ),
    (
        "overrides cut shifts; one that extends bob's week merges with it",
        primary(
            override("bob", "2026-12-21T10:00", "2026-12-21T12:00"),
            override("zoe", "2026-12-21T15:00", "2026-12-21T16:00"),
        ),
        "2026-12-21T07:00+05:30",
        "2026-12-21T22:00+05:30",
        [
            ("erin", "2026-12-21T07:00:00+05:30", "2026-12-21T08:00:00+05:30"),
            # bob's week ends at 10:00, his override runs on to 12:00: one shift
            ("bob", "2026-12-21T08:00:00+05:30", "2026-12-21T12:00:00+05:30"),
            ("carol", "2026-12-21T12:00:00+05:30", "2026-12-21T15:00:00+05:30"),
            ("zoe", "2026-12-21T15:00:00+05:30", "2026-12-21T16:00:00+05:30"),
            ("carol", "2026-12-21T16:00:00+05:30", "2026-12-21T20:00:00+05:30"),
            ("dave", "2026-12-21T20:00:00+05:30", "2026-12-21T22:00:00+05:30"),
        ],
    ),
    (
        "a weekly rotation over three weeks, clipped at both ends",
        Schedule("s", (layer("weekly", "2026-12-07T10:00", "alice bob carol"),)),
        "2026-12-10T00:00+05:30",
        "2026-12-24T00:00+05:30",
        [
            ("alice", "2026-12-10T00:00:00+05:30", "2026-12-14T10:00:00+05:30"),
            ("bob", "2026-12-14T10:00:00+05:30", "2026-12-21T10:00:00+05:30"),
            ("carol", "2026-12-21T10:00:00+05:30", "2026-12-24T00:00:00+05:30"),
        ],
    ),
    (
        "adjacent shifts of one person are one shift",
        Schedule("s", (layer("daily", "2027-01-30T09:00", "a a b"),)),
        "2027-01-30T09:00+05:30",
        "2027-02-03T09:00+05:30",
        [
            ("a", "2027-01-30T09:00:00+05:30", "2027-02-01T09:00:00+05:30"),
            ("b", "2027-02-01T09:00:00+05:30", "2027-02-02T09:00:00+05:30"),
            ("a", "2027-02-02T09:00:00+05:30", "2027-02-03T09:00:00+05:30"),
        ],
    ),
    (
        "nobody on call is a gap between shifts",
        Schedule("n", (layer("daily", "2026-12-07T20:00", "dave erin", (NIGHTS,)),)),
        "2026-12-07T12:00+05:30",
        "2026-12-09T12:00+05:30",
        [
            ("dave", "2026-12-07T20:00:00+05:30", "2026-12-08T08:00:00+05:30"),
            ("erin", "2026-12-08T20:00:00+05:30", "2026-12-09T08:00:00+05:30"),
        ],
    ),
    (
        "daily in New York across spring-forward: the shift of 03-07 is 23 hours",
        Schedule("s", (layer("daily", "2026-03-06T09:00", "a b"),), zone=ZoneInfo(NY)),
        "2026-03-06T09:00-05:00",
        "2026-03-09T09:00-04:00",
        [
            ("a", "2026-03-06T09:00:00-05:00", "2026-03-07T09:00:00-05:00"),
            ("b", "2026-03-07T09:00:00-05:00", "2026-03-08T09:00:00-04:00"),
            ("a", "2026-03-08T09:00:00-04:00", "2026-03-09T09:00:00-04:00"),
        ],
    ),
    (
        "24h in New York across fall-back: every shift is 24 hours, the handoff moves to 08:00",
        Schedule("s", (layer("24h", "2026-10-31T09:00", "a b"),), zone=ZoneInfo(NY)),
        "2026-10-31T09:00-04:00",
        "2026-11-02T08:00-05:00",
        [
            ("a", "2026-10-31T09:00:00-04:00", "2026-11-01T08:00:00-05:00"),
            ("b", "2026-11-01T08:00:00-05:00", "2026-11-02T08:00:00-05:00"),
        ],
    ),
    (
        "a restrict interval in another zone cuts shifts at its own wall clock",
        Schedule(
            "s",
            (
                layer("weekly", "2026-12-07T00:00", "india"),
                layer(
                    "weekly",
                    "2026-12-07T00:00",
                    "london",
                    (
                        parse_interval(
                            "london-office",
                            [
                                {
                                    "times": [{"start_time": "09:00", "end_time": "17:00"}],
                                    "location": LONDON,
                                }
                            ],
                        ),
                    ),
                ),
            ),
        ),
        "2026-12-08T00:00+05:30",
        "2026-12-09T00:00+05:30",
        [
            ("india", "2026-12-08T00:00:00+05:30", "2026-12-08T14:30:00+05:30"),
            ("london", "2026-12-08T14:30:00+05:30", "2026-12-08T22:30:00+05:30"),
            ("india", "2026-12-08T22:30:00+05:30", "2026-12-09T00:00:00+05:30"),
        ],
    ),
    (
        "an empty range has no shifts",
        primary(),
        "2026-12-07T00:00+05:30",
        "2026-12-07T00:00+05:30",
        [],
    ),
]


@pytest.mark.parametrize(
    ("name", "schedule", "start", "end", "expected"),
    SHIFT_TABLE,
    ids=[row[0] for row in SHIFT_TABLE],
)
def test_shifts(
    name: str, schedule: Schedule, start: str, end: str, expected: list[tuple[str, str, str]]
) -> None:
    shifts = schedule.shifts(at(start), at(end))
    assert [(s.who, s.start.isoformat(), s.end.isoformat()) for s in shifts] == expected
    assert all(s.start.tzinfo == schedule.zone and s.end.tzinfo == schedule.zone for s in shifts)


def test_shifts_and_who_is_on_call_agree_minute_by_minute_across_a_dst_night() -> None:
    # A restricted layer and an override in New York over the fall-back night, walked every
    # minute: each minute's answer is the shift covering it, or nobody in a gap.
    night = parse_interval(
        "late",
        [{"times": [{"start_time": "01:15", "end_time": "01:45"}], "location": NY}],
    )
    schedule = Schedule(
        "s",
        (
            layer("3h", "2026-10-31T22:00", "a b c"),
            layer("daily", "2026-10-31T01:20", "d e", (night,)),
        ),
        (override("f", "2026-11-01T00:50", "2026-11-01T01:05"),),
        zone=ZoneInfo(NY),
    )
    start = at("2026-11-01T03:00+00:00")  # 23:00 EDT
    end = start + timedelta(hours=6)
    shifts = schedule.shifts(start, end)
    assert len(shifts) > 6
    for minute in range(6 * 60):
        moment = start + timedelta(minutes=minute)
        covering = [s.who for s in shifts if s.start <= moment < s.end]
        assert covering == [w for w in [schedule.who_is_on_call(moment).who] if w], moment
    # the repeated hour: the restricted layer's 01:15-01:45 happens twice; its handoff at 01:20
    # happens at the first 01:20 (EDT)
    assert [(s.who, s.start.isoformat(), s.end.isoformat()) for s in shifts if s.who in "de"] == [
        ("d", "2026-11-01T01:15:00-04:00", "2026-11-01T01:20:00-04:00"),
        ("e", "2026-11-01T01:20:00-04:00", "2026-11-01T01:45:00-04:00"),
        ("e", "2026-11-01T01:15:00-05:00", "2026-11-01T01:45:00-05:00"),
    ]


ZONES = st.sampled_from([IST, NY, LONDON, LORD_HOWE, "UTC"])
ROTATIONS = st.sampled_from(["daily", "weekly", "12h", "3d", "90m", "1d6h"])


@st.composite
def schedules(draw: st.DrawFn) -> Schedule:
    def local(day_range: int) -> datetime:
        return datetime(2026, 1, 1) + timedelta(minutes=15 * draw(st.integers(0, day_range * 96)))

    layers = []
    for _ in range(draw(st.integers(1, 3))):
        names = draw(st.lists(st.sampled_from("abcde"), min_size=1, max_size=4))
        restrict: tuple[TimeInterval, ...] = ()
        if draw(st.booleans()):
            first = draw(st.integers(0, 22))
            restrict = (
                parse_interval(
                    "r",
                    [
                        {
                            "times": [
                                {
                                    "start_time": f"{first:02d}:00",
                                    "end_time": f"{draw(st.integers(first + 1, 24)):02d}:00",
                                }
                            ],
                            "location": draw(ZONES),
                        }
                    ],
                ),
            )
        layers.append(Layer(parse_rotation(draw(ROTATIONS)), local(365), tuple(names), restrict))
    overrides = []
    for _ in range(draw(st.integers(0, 2))):
        begin = local(365)
        overrides.append(Override("o", begin, begin + timedelta(hours=draw(st.integers(1, 60)))))
    return Schedule("h", tuple(layers), tuple(overrides), zone=ZoneInfo(draw(ZONES)))


@settings(max_examples=60, deadline=None)
@given(schedules(), st.integers(0, 365 * 24 * 4), st.integers(1, 24 * 4 * 4))
def test_shifts_agree_with_who_is_on_call(schedule: Schedule, offset: int, length: int) -> None:
    start = datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(minutes=15 * offset)
    end = start + timedelta(minutes=15 * length)
    shifts = schedule.shifts(start, end)
    for one, two in pairwise(shifts):
        assert one.end <= two.start, "shifts are in order and do not overlap"
        assert one.end < two.start or one.who != two.who, "adjacent shifts of one person merge"
    assert all(start <= s.start < s.end <= end for s in shifts)
    for minute in range(0, 15 * length, 5):
        moment = start + timedelta(minutes=minute)
        covering = [s.who for s in shifts if s.start <= moment < s.end]
        assert covering == [w for w in [schedule.who_is_on_call(moment).who] if w], moment


# -- cost: arithmetic, not a walk from the start ----------------------------------------------------


def test_a_schedule_started_years_ago_answers_in_constant_time() -> None:
    # A 1-hour rotation started in 2020, asked about the year 9000 and 1900: walking shift by
    # shift would take ~61 million steps per question; the arithmetic takes a few.
    schedule = Schedule(
        "old",
        (
            layer("1h", "2020-01-06T09:00", "a b c"),
            layer("weekly", "2020-01-06T09:00", "d e f g", (NIGHTS,)),
        ),
        zone=ZoneInfo(NY),
    )
    far = [at("9000-06-01T12:00+00:00"), at("1900-06-01T12:00+00:00"), at("2030-01-01T00:00+00:00")]
    began = time.perf_counter()
    for _ in range(300):
        for moment in far:
            schedule.who_is_on_call(moment)
    elapsed = time.perf_counter() - began
    assert elapsed < 2.0, f"900 questions took {elapsed:.2f}s"
    # shift 61,362,339 since 2020-01-06 14:00 UTC (the hour of 9000-06-01T12:00 UTC): 339 mod 3
    hours = (at("9000-06-01T12:00+00:00") - at("2020-01-06T14:00+00:00")) // timedelta(hours=1)
    assert schedule.who_is_on_call(far[0]).who == "abc"[hours % 3]
    began = time.perf_counter()
    week = schedule.shifts(at("2030-01-01T00:00+00:00"), at("2030-01-08T00:00+00:00"))
    assert time.perf_counter() - began < 2.0
    assert len(week) > 7 * 12


# -- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: Layer("daily", datetime(2026, 1, 1, tzinfo=timezone.utc), ("a",)),
            "layer start 2026-01-01T00:00:00+00:00 has a time zone: write it as local time "
            "in the schedule's zone, without an offset (2026-01-01T00:00)",
        ),
        (lambda: Layer("daily", datetime(2026, 1, 1), ()), "a layer has no members"),
        (
            lambda: Layer("fortnightly", datetime(2026, 1, 1), ("a",)),  # type: ignore[arg-type]
            "rotation 'fortnightly': use daily, weekly or a duration such as 12h or 3d",
        ),
        (
            lambda: Layer(timedelta(seconds=30), datetime(2026, 1, 1), ("a",)),
            "shorter than a minute",
        ),
        (
            lambda: override("bob", "2026-12-26T10:00", "2026-12-24T18:00"),
            "override for bob ends (2026-12-24T18:00) before it starts (2026-12-26T10:00): "
            "make to later than from",
        ),
        (lambda: Schedule("empty", ()), "schedule 'empty' has no layers"),
        (
            lambda: primary().who_is_on_call(datetime(2026, 12, 7, 10)),
            "at 2026-12-07T10:00:00 has no time zone: give an aware datetime",
        ),
        (
            lambda: primary().shifts(at("2026-12-08T00:00+05:30"), at("2026-12-07T00:00+05:30")),
            "the range ends (2026-12-07T00:00:00+05:30) before it starts",
        ),
    ],
)
def test_bad_input_names_the_problem_and_the_fix(build: Callable[[], object], message: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        build()
    assert message in str(caught.value)


def test_members_lists_every_recipient_once() -> None:
    assert primary(
        BOB_CHRISTMAS, override("zoe", "2026-12-01T00:00", "2026-12-02T00:00")
    ).members() == (
        "alice",
        "bob",
        "carol",
        "dave",
        "erin",
        "zoe",
    )


def test_shift_is_a_small_value() -> None:
    one = Shift("a", at("2026-01-01T00:00+00:00"), at("2026-01-02T00:00+00:00"))
    assert one == Shift("a", at("2026-01-01T05:30+05:30"), at("2026-01-02T00:00+00:00"))
