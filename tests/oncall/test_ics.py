"""The iCalendar feed, read back by a strict RFC 5545 reader written here: CRLF only, lines of at
most 75 octets, folding and unfolding, escaped text, balanced components, the properties every
VEVENT needs, UTC times, UIDs unique and stable."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from notifykit.oncall import Layer, Schedule, Shift, parse_local, parse_rotation, to_ics

UTC = timezone.utc
IST = ZoneInfo("Asia/Kolkata")
STAMP = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)

_NAME = r"[A-Za-z0-9-]+"
_PARAM = rf"{_NAME}=(?:\"[^\"]*\"|[^\";:,]*)"
_CONTENT_LINE = re.compile(rf"({_NAME})((?:;{_PARAM})*):(.*)")
_UTC_TIME = re.compile(r"\d{8}T\d{6}Z")


@dataclass
class Component:
    name: str
    properties: list[tuple[str, str, str]] = field(default_factory=list)
    children: list[Component] = field(default_factory=list)

    def one(self, name: str) -> str:
        values = [v for n, _p, v in self.properties if n == name]
        assert len(values) == 1, f"{self.name} needs exactly one {name}, has {len(values)}"
        return values[0]


def unescape(text: str) -> str:
    out, chars = [], iter(text)
    for char in chars:
        if char != "\\":
            assert char not in ",;", f"unescaped {char!r} in TEXT {text!r}"
            out.append(char)
            continue
        following = next(chars)
        assert following in "\\;,nN", f"bad escape \\{following} in {text!r}"
        out.append("\n" if following in "nN" else following)
    return "".join(out)


def read(feed: str) -> Component:
    """Parse a feed strictly (RFC 5545, 3.1 and 3.4); every rule broken is an assertion."""
    assert feed.endswith("\r\n"), "the last line ends with CRLF"
    assert "\n" not in feed.replace("\r\n", ""), "a bare LF"
    assert "\r" not in feed.replace("\r\n", ""), "a bare CR"
    physical = feed[:-2].split("\r\n")
    for line in physical:
        assert len(line.encode("utf-8")) <= 75, f"{len(line.encode())} octets: {line!r}"
    logical: list[str] = []
    for line in physical:
        if line.startswith((" ", "\t")):
            assert logical, "a continuation line first"
            logical[-1] += line[1:]
        else:
            logical.append(line)
    stack = [Component("root")]
    for line in logical:
        match = _CONTENT_LINE.fullmatch(line)
        assert match, f"not a content line: {line!r}"
        name, params, value = match.group(1).upper(), match.group(2), match.group(3)
        if name == "BEGIN":
            child = Component(value)
            stack[-1].children.append(child)
            stack.append(child)
        elif name == "END":
            assert stack[-1].name == value, f"END:{value} closes {stack[-1].name}"
            stack.pop()
        else:
            stack[-1].properties.append((name, params, value))
    assert len(stack) == 1, "a component left open"
    (calendar,) = stack[0].children
    assert calendar.name == "VCALENDAR"
    return calendar


def events(feed: str) -> list[Component]:
    calendar = read(feed)
    assert calendar.one("VERSION") == "2.0"
    assert calendar.one("PRODID")
    for name in ("NAME", "X-WR-CALNAME"):
        unescape(calendar.one(name))
    found = [c for c in calendar.children if c.name == "VEVENT"]
    for event in found:
        unescape(event.one("SUMMARY"))
        for name in ("DTSTAMP", "DTSTART", "DTEND"):
            assert _UTC_TIME.fullmatch(event.one(name)), event.one(name)
        assert event.one("UID")
    return found


def utc(text: str) -> datetime:
    return datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def shifts() -> list[Shift]:
    schedule = Schedule(
        "primary",
        (Layer(parse_rotation("daily"), parse_local("2026-12-07T10:00"), ("alice", "bob")),),
    )
    return schedule.shifts(
        datetime(2026, 12, 7, 10, tzinfo=IST), datetime(2026, 12, 10, 10, tzinfo=IST)
    )


def test_a_feed_of_shifts_reads_back() -> None:
    feed = to_ics("primary", shifts(), stamp=STAMP)
    found = events(feed)
    assert [
        (unescape(e.one("SUMMARY")), utc(e.one("DTSTART")), utc(e.one("DTEND"))) for e in found
    ] == [
        ("on call: alice (primary)", datetime(2026, 12, 7, 4, 30, tzinfo=UTC), datetime(2026, 12, 8, 4, 30, tzinfo=UTC)),
        ("on call: bob (primary)", datetime(2026, 12, 8, 4, 30, tzinfo=UTC), datetime(2026, 12, 9, 4, 30, tzinfo=UTC)),
        ("on call: alice (primary)", datetime(2026, 12, 9, 4, 30, tzinfo=UTC), datetime(2026, 12, 10, 4, 30, tzinfo=UTC)),
    ]  # fmt: skip
    assert {e.one("DTSTAMP") for e in found} == {"20261201T060000Z"}
    assert {e.one("TRANSP") for e in found} == {"TRANSPARENT"}
    assert len({e.one("UID") for e in found}) == 3
    calendar = read(feed)
    assert unescape(calendar.one("X-WR-CALNAME")) == "on call: primary"
    assert calendar.one("REFRESH-INTERVAL") == "PT60M"


def test_uids_are_stable_and_follow_the_person() -> None:
    first = [e.one("UID") for e in events(to_ics("primary", shifts(), stamp=STAMP))]
    later = [e.one("UID") for e in events(to_ics("primary", shifts()))]  # stamped now
    assert first == later
    moved = shifts()
    moved[1] = Shift("carol", moved[1].start, moved[1].end)
    uids = [e.one("UID") for e in events(to_ics("primary", moved, stamp=STAMP))]
    assert uids[0] == first[0] and uids[2] == first[2] and uids[1] != first[1]
    other = [e.one("UID") for e in events(to_ics("secondary", shifts(), stamp=STAMP))]
    assert not set(other) & set(first)


@pytest.mark.parametrize(
    ("schedule", "who"),
    [
        ("primary", "alice"),
        ("db, east; tier\\1", "o'brien, jr;\nsecond line"),  # every TEXT escape
        ("प्राथमिक ऑन-कॉल शेड्यूल, मुंबई डेटा सेंटर", "अनिल"),  # multi-byte, folded
        ("x" * 200, "🚨" * 40),  # long, and four-octet characters across the fold
    ],
)
def test_text_is_escaped_and_long_lines_are_folded(schedule: str, who: str) -> None:
    start = datetime(2026, 12, 7, 4, 30, tzinfo=UTC)
    feed = to_ics(schedule, [Shift(who, start, start + timedelta(hours=12))], stamp=STAMP)
    (event,) = events(feed)
    assert unescape(event.one("SUMMARY")) == f"on call: {who} ({schedule})"
    assert unescape(read(feed).one("NAME")) == f"on call: {schedule}"


def test_an_empty_range_is_an_empty_calendar() -> None:
    feed = to_ics("primary", [], stamp=STAMP)
    assert events(feed) == []
    assert read(feed).one("METHOD") == "PUBLISH"


def test_the_reader_is_strict() -> None:
    # The checks above mean something only if the reader rejects what breaks the rules.
    good = to_ics("primary", shifts(), stamp=STAMP)
    for broken in (
        good.replace("\r\n", "\n"),
        good.replace("SUMMARY:on call: alice", "SUMMARY:on call, alice"),
        good.replace("END:VEVENT\r\n", "", 1),
        good.replace("DTEND:20261208T043000Z", "DTEND:20261208T100000"),
        good.replace("X-WR-CALNAME:on call: primary", "X-WR-CALNAME:" + "x" * 80),
    ):
        assert broken != good
        with pytest.raises(AssertionError):
            events(broken)
