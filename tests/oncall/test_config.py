"""The ``schedules:`` section: read into the engine's schedules, every problem reported at once
as ``file:line: key.path: message`` (members, zones with a "did you mean", rotations, local
times, intervals, override ranges, ``schedule:NAME`` targets), and ``kit.oncall`` /
``kit.shifts`` answering from it."""

from __future__ import annotations

import textwrap
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from notifykit import Notifier
from notifykit.config.loader import load_config
from notifykit.errors import ConfigError, NobodyOnCallError, RecipientError
from notifykit.oncall import Schedule
from notifykit.plugins import Registry, get_plugin_manager

IST = ZoneInfo("Asia/Kolkata")

GOOD = """\
channels:
  sms: {type: console}
recipients:
  alice: {phone: "+919876543210"}
  bob: {phone: "+919876543211"}
  carol: {phone: "+919876543212"}
  dave: {phone: "+919876543213"}
groups:
  primary-and-dave: [schedule:primary, dave]
receivers:
  page: {channels: [sms], to: [schedule:primary]}
route: {receiver: page}
time_intervals:
  nights:
    - times: [{start_time: "20:00", end_time: "24:00"}]
      location: Asia/Kolkata
schedules:
  primary:
    layers:
      - rotation: weekly
        start: "2026-12-07T10:00"
        members: [alice, bob]
      - rotation: daily
        start: "2026-12-07T20:00"
        members: [carol]
        restrict: [nights]
    overrides:
      - {who: dave, from: "2026-12-24T18:00", to: "2026-12-25T10:00"}
  london:
    timezone: Europe/London
    layers:
      - {rotation: 12h, start: "2026-12-07T09:00", members: [bob, alice]}
"""


@pytest.fixture
def registry() -> Registry:
    return Registry.from_manager(get_plugin_manager(disabled=[]))


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "notifykit.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems(tmp_path: Path, registry: Registry, text: str) -> list[str]:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, registry=registry)
    prefix = f"{path}:"
    out = []
    for line in str(caught.value).splitlines():
        line = line.strip()
        if line.startswith(prefix):
            out.append(line[len(prefix) :])
    return out


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=IST)


def test_the_section_becomes_schedules(tmp_path: Path, registry: Registry) -> None:
    config = load_config(write(tmp_path, GOOD), registry=registry)
    primary = config.schedules["primary"]
    assert isinstance(primary, Schedule)
    assert primary.zone == IST  # the default zone
    assert primary.layers[0].rotation == "weekly"
    assert primary.layers[0].members == ("alice", "bob")
    assert [r.name for r in primary.layers[1].restrict] == ["nights"]
    assert primary.overrides[0].who == "dave"
    london = config.schedules["london"]
    assert london.zone == ZoneInfo("Europe/London")
    assert london.layers[0].rotation == timedelta(hours=12)
    assert config.groups["primary-and-dave"] == ("schedule:primary", "dave")


def test_every_problem_at_once_with_its_line_and_key(tmp_path: Path, registry: Registry) -> None:
    found = problems(
        tmp_path,
        registry,
        """\
        channels:
          sms: {type: console}
        recipients:
          alice: {phone: "+919876543210"}
          bob: {phone: "+919876543211"}
        events:
          db.down: {channels: [sms], to: [schedule:secondary]}
        receivers:
          page: {channels: [sms], to: [schedule:primray]}
        route: {receiver: page}
        time_intervals:
          nights: [{times: [{start_time: "20:00", end_time: "24:00"}], location: Asia/Kolkata}]
        escalations:
          pager:
            steps: [{after: 0s, channels: [sms], to: ["schedule:"]}]
        schedules:
          primary:
            timezone: Asia/Kolkatta
            layers:
              - rotation: weekly
                start: "2026-12-07T10:00"
                members: [alice, bbo]
              - rotation: daily
                start: "2026-12-07T20:00"
                members: [bob]
                restrict: [nigths]
            overrides:
              - {who: carol, from: "2026-12-24T18:00", to: "2026-12-24T10:00"}
          broken:
            layers:
              - {rotation: fortnightly, start: "2026-12-07T10:00+05:30", members: []}
          empty: {}
        """,
    )
    assert found == [
        "7: events.db.down.to[0]: no schedule named 'secondary' in schedules",
        "9: receivers.page.to[0]: no schedule named 'primray' in schedules (did you mean "
        "'primary'?); defined: broken, empty, primary",
        "15: escalations.pager.steps[0].to[0]: 'schedule:': write schedule:NAME, NAME a schedule "
        "of schedules:",
        "18: schedules.primary.timezone: timezone 'Asia/Kolkatta' is not an IANA time zone (did "
        "you mean 'Asia/Kolkata'?)",
        "22: schedules.primary.layers[0].members[1]: no recipient named 'bbo' in recipients (did "
        "you mean 'bob'?)",
        "26: schedules.primary.layers[1].restrict[0]: no time interval named 'nigths' in "
        "time_intervals (did you mean 'nights'?); defined: nights",
        "28: schedules.primary.overrides[0]: the override for carol ends (2026-12-24T10:00) before "
        "it starts (2026-12-24T18:00): make to later than from",
        "28: schedules.primary.overrides[0].who: no recipient named 'carol' in recipients",
        "31: schedules.broken.layers[0].rotation: rotation 'fortnightly': use daily, weekly or a "
        "duration such as 12h or 3d",
        "31: schedules.broken.layers[0].start: '2026-12-07T10:00+05:30' has an offset: write local "
        "time in the schedule's zone, without one (such as 2026-12-07T10:00)",
        "31: schedules.broken.layers[0].members: needs at least 1 item(s)",
        "32: schedules.empty.layers: missing required key 'layers'",
    ]


def test_line_numbers_are_the_keys_own(tmp_path: Path, registry: Registry) -> None:
    found = problems(
        tmp_path,
        registry,
        """\
        channels:
          sms: {type: console}
        recipients:
          alice: {phone: "+919876543210"}
        defaults: {channels: [sms], to: [schedule:primary]}
        schedules:
          primary:
            timezone: Mars/Olympus
            layers:
              - {rotation: daily, start: "2026-12-07", members: [alice], restrict: [nights]}
        """,
    )
    assert found == [
        "8: schedules.primary.timezone: timezone 'Mars/Olympus' is not an IANA time zone: "
        "write one like Asia/Kolkata, UTC or Europe/London",
        "10: schedules.primary.layers[0].start: '2026-12-07' is not a local time: write "
        "YYYY-MM-DDTHH:MM, such as 2026-12-07T00:00",
        "10: schedules.primary.layers[0].restrict[0]: no time interval named 'nights' in "
        "time_intervals; defined: none",
    ]


def test_kit_oncall_answers_from_the_config(tmp_path: Path) -> None:
    with Notifier.from_config(write(tmp_path, GOOD)) as kit:
        first = kit.oncall("primary", at("2026-12-08T11:00"))
        assert (first.who, first.layer, first.override) == ("alice", 0, False)
        assert first.at == at("2026-12-08T11:00")
        night = kit.oncall("primary", at("2026-12-08T21:00"))
        assert (night.who, night.layer, night.override) == ("carol", 1, False)
        week2 = kit.oncall("primary", at("2026-12-14T11:00"))
        assert week2.who == "bob"
        swapped = kit.oncall("primary", at("2026-12-24T19:00"))
        assert (swapped.who, swapped.layer, swapped.override) == ("dave", None, True)
        shifts = kit.shifts("primary", at("2026-12-08T00:00"), at("2026-12-09T00:00"))
        assert [(s.who, s.start, s.end) for s in shifts] == [
            ("alice", at("2026-12-08T00:00"), at("2026-12-08T20:00")),
            ("carol", at("2026-12-08T20:00"), at("2026-12-09T00:00")),
        ]
        with pytest.raises(RecipientError, match=r"no schedule named 'primay' \(did you mean"):
            kit.oncall("primay")
        with pytest.raises(ValueError, match="has no time zone"):
            kit.oncall("primary", datetime(2026, 12, 8, 11))


def test_kit_oncall_without_at_is_the_clocks_now(tmp_path: Path) -> None:
    now = at("2026-12-14T11:00").timestamp()
    with Notifier.from_config(write(tmp_path, GOOD), clock=lambda: now) as kit:
        assert kit.oncall("primary").who == "bob"
        assert kit.oncall("primary").at == at("2026-12-14T11:00")


def test_targets_resolve_to_whoever_is_on_call(tmp_path: Path) -> None:
    clock = [at("2026-12-08T11:00").timestamp()]
    with Notifier.from_config(write(tmp_path, GOOD), clock=lambda: clock[0]) as kit:
        assert [r.label for r in kit.resolve_recipients(["schedule:primary"])] == ["alice"]
        assert [r.label for r in kit.resolve_recipients(["primary-and-dave"])] == [
            "alice",
            "dave",
        ]
        clock[0] = at("2026-12-14T11:00").timestamp()
        assert [r.label for r in kit.resolve_recipients(["schedule:primary"])] == ["bob"]
        with pytest.raises(RecipientError, match="no schedule named 'nope'"):
            kit.resolve_recipients(["schedule:nope"])


def test_nobody_on_call_is_its_own_error(tmp_path: Path) -> None:
    text = GOOD.replace(
        '      - rotation: weekly\n        start: "2026-12-07T10:00"\n'
        "        members: [alice, bob]\n",
        "",
    )
    assert text != GOOD
    clock = [at("2026-12-08T11:00").timestamp()]  # the night layer alone: nobody by day
    with Notifier.from_config(write(tmp_path, text), clock=lambda: clock[0]) as kit:
        assert kit.oncall("primary").who is None
        with pytest.raises(NobodyOnCallError, match=r"nobody on call \(schedule:primary\)"):
            kit.resolve_recipients(["schedule:primary"])
        # with someone else among the targets, the message goes to them
        assert [r.label for r in kit.resolve_recipients(["schedule:primary", "dave"])] == ["dave"]
