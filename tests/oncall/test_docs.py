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
