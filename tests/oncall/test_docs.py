"""The schedule configs docs/oncall.md and docs/routing.md show load, and do what the pages say
they do (the python and console blocks of docs/oncall.md run in tests/test_docs_examples.py)."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from notifykit import Notifier

DOCS = Path(__file__).resolve().parents[2] / "docs"
IST = ZoneInfo("Asia/Kolkata")


def section(page: str, heading: str) -> str:
    text = (DOCS / page).read_text(encoding="utf-8")
    start = text.index(f"\n{heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, re.S)


def load(tmp_path: Path, config: str) -> Notifier:
    path = tmp_path / "notifykit.yaml"
    path.write_text(config, encoding="utf-8")
    return Notifier.from_config(path, dry_run=True)


def test_the_oncall_page_example_routes_as_it_says(tmp_path: Path) -> None:
    text = section("oncall.md", "## Paging a schedule: `schedule:NAME`")
    [config] = blocks(text, "yaml")
    shown = next(b for b in blocks(text, "text") if b.startswith("would send:"))
    with load(tmp_path, config) as kit:
        at = datetime(2026, 12, 8, 12, 0, tzinfo=IST)
        explained = kit.explain("db.down", severity="critical", at=at).text()
        for line in shown.splitlines():
            assert line in explained.splitlines()
        assert kit.oncall("primary", datetime(2026, 12, 8, 21, 0, tzinfo=IST)).who == "carol"
        assert kit.oncall("primary", datetime(2026, 12, 25, 9, 0, tzinfo=IST)).who == "bob"


def test_the_routing_page_example_loads_and_pages_the_schedule(tmp_path: Path) -> None:
    text = section("routing.md", "## On-call schedules: `schedule:NAME`")
    [config] = blocks(text, "yaml")
    with load(tmp_path, config) as kit:
        at = datetime(2026, 12, 8, 12, 0, tzinfo=IST)
        explained = kit.explain("db.down", severity="critical", at=at).to_dict()
        assert [(d["to"], d.get("oncall", {}).get("who")) for d in explained["deliveries"]] == [
            ("schedule:primary", "alice"),
            ("schedule:primary", "alice"),
            ("schedule:secondary", "bob"),
        ]
        night = kit.explain("db.down", severity="critical", at=at.replace(hour=23)).to_dict()
        assert [d.get("oncall", {}).get("who") for d in night["deliveries"]] == [
            "alice",
            "alice",
            "carol",
        ]


def test_the_oncall_page_opening_example_is_the_issues_schedule_and_answers_as_its_rules_say(
    tmp_path: Path,
) -> None:
    """docs/oncall.md's first block (the `schedules:` section alone), loaded as written beside
    the recipients and the `nights` interval it names (and a route paging the schedule)."""
    text = (DOCS / "oncall.md").read_text(encoding="utf-8")
    config = blocks(text, "yaml")[0]
    assert config.startswith("schedules:\n")
    people = "".join(
        f'  {name}: {{phone: "+9198765432{i:02d}"}}\n'
        for i, name in enumerate(["alice", "bob", "carol", "dave", "erin"])
    )
    nights = (
        "time_intervals:\n  nights:\n"
        '    - times: [{start_time: "20:00", end_time: "24:00"}, '
        '{start_time: "00:00", end_time: "08:00"}]\n'
    )
    routes = (
        "channels: {sms: {type: console}}\n"
        "receivers: {page: {channels: [sms], to: [schedule:primary]}}\n"
        "route: {receiver: page}\n"
    )
    with load(tmp_path, f"recipients:\n{people}{nights}{routes}{config}") as kit:

        def who(*moment: int) -> tuple[str | None, int | None, bool]:
            answer = kit.oncall("primary", datetime(*moment, tzinfo=IST))
            return answer.who, answer.layer, answer.override

        assert who(2026, 12, 7, 10, 0) == ("alice", 0, False)  # shift 0 of the weekly layer
        assert who(2026, 12, 7, 9, 59) == ("carol", 0, False)  # shift -1: members[-1 mod 3]
        assert who(2026, 12, 14, 12, 0) == ("bob", 0, False)
        assert who(2026, 12, 21, 12, 0) == ("carol", 0, False)
        assert who(2026, 12, 7, 21, 0) == ("dave", 1, False)  # the nights layer wins at night
        assert who(2026, 12, 9, 7, 59) == ("erin", 1, False)  # shift 1 of the daily layer
        assert who(2026, 12, 24, 18, 0) == ("bob", None, True)  # the override, from 18:00
        assert who(2026, 12, 26, 10, 0) == ("carol", 0, False)  # [from, to): over at 10:00
