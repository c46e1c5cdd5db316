"""Fixtures of the store contract suite: one ledger location per test, on every backend."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from notifykit import Notifier
from notifykit.ledger import Ledger, open_ledger
from notifykit.plan.planner import Plan
from tests.services import postgres_schema

CONFIG: dict[str, Any] = {
    "defaults": {"severity": "warning", "channels": ["console"]},
    "channels": {"console": {"type": "console", "stream": "stderr"}},
    "recipients": {
        "alice": {"phone": "+919876543210"},
        "bob": {"phone": "+919876543211"},
        "carol": {"phone": "+919876543212"},
    },
    "groups": {"oncall": ["alice", "bob", "carol"]},
}


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def location(backend: str, tmp_path: Path) -> Iterator[str]:
    """Where this test's ledger lives: a real SQLite file, or a fresh PostgreSQL schema."""
    if backend == "sqlite":
        yield str(tmp_path / "ledger.db")
    else:
        with postgres_schema() as url:
            yield url


@pytest.fixture
def open_store(location: str) -> Iterator[Callable[..., Ledger]]:
    """Opens (another) ledger on this test's location, as another process would; all closed
    at the end."""
    opened: list[Ledger] = []

    def open_one(**options: Any) -> Ledger:
        ledger = open_ledger(location, **options)
        opened.append(ledger)
        return ledger

    yield open_one
    for ledger in opened:
        ledger.close()


@pytest.fixture
def ledger(open_store: Callable[..., Ledger]) -> Ledger:
    return open_store()


@pytest.fixture
def kit() -> Iterator[Notifier]:
    with Notifier.from_config(CONFIG, store=":memory:") as notifier:
        yield notifier


@pytest.fixture
def make_plan(kit: Notifier) -> Callable[..., Plan]:
    """Plans from a real Notifier (console channel): ``make_plan(to=..., key=...)``."""

    def make(to: Any = "oncall", key: str | None = None, event: str = "disk.full") -> Plan:
        return kit.plan(event, to=to, key=key, data={"message": "95%"})

    return make
