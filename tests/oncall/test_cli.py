"""``notifykit oncall``: who is on call (text and ``--json``), at a moment (``--at``, with or
without an offset), the shifts over a range (``--from``/``--to``, merged, ISO 8601 with the
offset), the iCalendar feed (``--ics``, as a real process: the bytes a calendar fetches), and the
mistakes (an unknown schedule, a bad time, options that do not go together)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from notifykit import Notifier
from notifykit.cli import cli

ROOT = Path(__file__).resolve().parents[2]

CONFIG = """\
channels:
  sms: {type: console}
recipients:
  alice: {phone: "+919876543210"}
  bob: {phone: "+919876543211"}
  carol: {phone: "+919876543212"}
  dave: {phone: "+919876543213"}
receivers:
  page: {escalation: pager}
route: {receiver: page}
escalations:
  pager:
    steps:
      - {after: 0s, channels: [sms], to: [schedule:primary]}
      - {after: 12h, channels: [sms], to: [schedule:primary]}
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
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "notifykit.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NOTIFYKIT_CONFIG", raising=False)
    return path


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_who_is_on_call_at_a_moment(config: Path) -> None:
    result = run("oncall", "primary", "--at", "2026-12-08T21:00")  # local time: IST
    assert result.exit_code == 0, result.output
    assert result.output == "primary  carol (layer 1)  at 2026-12-08T21:00:00+05:30\n"
    result = run("--json", "oncall", "primary", "--at", "2026-12-24T13:00Z")
    assert json.loads(result.output) == {
        "schedule": "primary",
        "at": "2026-12-24T18:30:00+05:30",
        "who": "dave",
        "layer": None,
        "override": True,
    }


def test_every_schedule_now(config: Path) -> None:
    with Notifier.from_config(config, dry_run=True) as kit:
        expected = {name: kit.oncall(name).who for name in ("primary", "london")}
    result = run("--json", "oncall")
    assert result.exit_code == 0, result.output
    answers = json.loads(result.output)
    assert [a["schedule"] for a in answers] == ["primary", "london"]
    assert {a["schedule"]: a["who"] for a in answers} == expected
    assert set(answers[0]) == {"schedule", "at", "who", "layer", "override"}
    assert answers[1]["at"].endswith(("+00:00", "+01:00"))  # London's wall clock
    text = run("oncall").output.splitlines()
    assert [line.split()[0] for line in text] == ["primary", "london"]


def test_every_schedule_at_a_moment(config: Path) -> None:
    result = run("oncall", "--at", "2026-12-08T06:00Z")
    assert result.output == (
        "primary  alice (layer 0)  at 2026-12-08T11:30:00+05:30\n"
        "london   alice (layer 0)  at 2026-12-08T06:00:00+00:00\n"
    )


def test_shifts_over_a_range_merged(config: Path) -> None:
    result = run(
        "--json", "oncall", "primary", "--from", "2026-12-24T00:00", "--to", "2026-12-26T00:00"
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == [
        {"who": "alice", "start": "2026-12-24T00:00:00+05:30", "end": "2026-12-24T18:00:00+05:30"},
        # the override runs into carol's night and on to 10:00: one shift of dave's
        {"who": "dave", "start": "2026-12-24T18:00:00+05:30", "end": "2026-12-25T10:00:00+05:30"},
        {"who": "alice", "start": "2026-12-25T10:00:00+05:30", "end": "2026-12-25T20:00:00+05:30"},
        {"who": "carol", "start": "2026-12-25T20:00:00+05:30", "end": "2026-12-26T00:00:00+05:30"},
    ]
    text = run("oncall", "primary", "--from", "2026-12-24T00:00", "--to", "2026-12-24T20:00")
    assert text.output == (
        "primary (Asia/Kolkata), 2026-12-24T00:00:00+05:30 to 2026-12-24T20:00:00+05:30:\n"
        "  2026-12-24T00:00:00+05:30  2026-12-24T18:00:00+05:30  alice\n"
        "  2026-12-24T18:00:00+05:30  2026-12-24T20:00:00+05:30  dave\n"
    )


def test_from_alone_lists_two_weeks(config: Path) -> None:
    result = run("--json", "oncall", "london", "--from", "2026-12-07T09:00")
    shifts = json.loads(result.output)
    assert shifts[0] == {
        "who": "bob",
        "start": "2026-12-07T09:00:00+00:00",
        "end": "2026-12-07T21:00:00+00:00",
    }
    assert shifts[-1]["end"] == "2026-12-21T09:00:00+00:00"
    assert len(shifts) == 28


def test_ics_is_a_calendar_feed(config: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "plugins")])}
    env.pop("NOTIFYKIT_CONFIG", None)
    done = subprocess.run(
        [
            *(sys.executable, "-m", "notifykit", "--config", str(config), "oncall", "primary"),
            *("--from", "2026-12-24T00:00", "--to", "2026-12-26T00:00", "--ics"),
        ],
        capture_output=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    feed = done.stdout.decode()
    assert feed.startswith("BEGIN:VCALENDAR\r\n") and feed.endswith("END:VCALENDAR\r\n")
    assert "\n" not in feed.replace("\r\n", "")  # every line ends CRLF
    assert feed.count("BEGIN:VEVENT") == 4
    assert "DTSTART:20261224T123000Z\r\nDTEND:20261225T043000Z\r\n" in feed  # dave's, in UTC
    assert "SUMMARY:on call: dave (primary)" in feed


def test_routes_test_names_who_each_step_reaches(config: Path) -> None:
    result = run("routes", "test", "db.down", "--at", "2026-12-08T09:00+05:30")
    assert result.exit_code == 0, result.output
    assert "sms to schedule:primary → alice (layer 0) after 0s" in result.output
    # 12h later, 21:00: carol's night
    assert "sms to schedule:primary → carol (layer 1) after 12h" in result.output


def test_mistakes(config: Path) -> None:
    unknown = run("oncall", "primay")
    assert unknown.exit_code == 3
    assert "no schedule named 'primay' (did you mean 'primary'?)" in unknown.output
    bad = run("oncall", "primary", "--at", "2026-12-32T10:00")
    assert bad.exit_code == 3
    assert "Invalid value for --at" in bad.output
    both = run("oncall", "primary", "--at", "2026-12-08T10:00", "--from", "2026-12-08")
    assert both.exit_code == 3 and "use one" in both.output
    nameless = run("oncall", "--ics")
    assert nameless.exit_code == 3 and "name it" in nameless.output
    backwards = run("oncall", "primary", "--from", "2026-12-09", "--to", "2026-12-08")
    assert backwards.exit_code == 3 and "--to is before --from" in backwards.output
    as_json = run("--json", "oncall", "primay")
    assert json.loads(as_json.stdout)["error"]["type"] == "RecipientError"


def test_a_config_without_schedules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "notifykit.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            channels: {sms: {type: console}}
            recipients: {alice: {phone: "+919876543210"}}
            """
        ),
        encoding="utf-8",
    )
    result = run("--config", str(path), "oncall")
    assert result.exit_code == 3 and "no schedules: section" in result.output


def test_completes_schedule_names(config: Path) -> None:
    from tests.cli.test_completion import complete

    assert complete("notifykit oncall ", cwd=config.parent) == ["london", "primary"]
    assert complete("notifykit oncall p", cwd=config.parent) == ["primary"]


def test_config_check_reports_every_schedule_problem(tmp_path: Path) -> None:
    path = tmp_path / "notifykit.yaml"
    path.write_text(
        CONFIG.replace("members: [alice, bob]", "members: [alice, bbo]")
        .replace("restrict: [nights]", "restrict: [nigths]")
        .replace("timezone: Europe/London", "timezone: Europe/Londn"),
        encoding="utf-8",
    )
    result = run("config", "check", str(path))
    assert result.exit_code == 3
    assert result.stdout.splitlines() == [
        f"{path}:25: schedules.primary.layers[0].members[1]: no recipient named 'bbo' in "
        "recipients (did you mean 'bob'?)",
        f"{path}:29: schedules.primary.layers[1].restrict[0]: no time interval named 'nigths' "
        "in time_intervals (did you mean 'nights'?); defined: nights",
        f"{path}:33: schedules.london.timezone: timezone 'Europe/Londn' is not an IANA time zone "
        "(did you mean 'Europe/London'?)",
    ]
