"""Fixtures for the reliable-delivery tests: a simulator, a config file with a real SQLite ledger
in tmp_path, and a controllable clock."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from notifykit import Notifier
from notifykit_exotel.simulator import ExotelSimulator

SID = "ACledger"
TOKEN = "ledger-token-s3cr3t-value"
PHONES = ["+919876543210", "+919876543211", "+919876543212"]


class Clock:
    """A controllable clock (epoch seconds): starts at the real time, moves only when told."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


def wait_until(condition: Callable[[], object], timeout: float = 5.0) -> None:
    """Wait for ``condition()`` to be true, failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.01)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def sim() -> Iterator[ExotelSimulator]:
    with ExotelSimulator(sid=SID, token=TOKEN, rate_limit=100_000, rate_window=1.0) as simulator:
        yield simulator


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest) -> Iterator[str]:
    """A test's ledger on each backend: ``store:`` of a SQLite file beside the config, or of a
    schema of its own in the test PostgreSQL (skipped, or failed in CI, without one)."""
    if request.param == "sqlite":
        yield "ledger.db"
    else:
        from tests.services import postgres_schema

        with postgres_schema() as url:
            yield url


def exotel_account(sim: ExotelSimulator, **settings: Any) -> dict[str, Any]:
    """The ``accounts:`` entry of an Exotel account on ``sim`` (``settings`` override)."""
    return {
        "provider": "exotel",
        "sid": SID,
        "token": "${NK_LEDGER_TOKEN}",
        "base_url": sim.base_url,
        "rate_limit": 100_000,
        "retries": 0,
        "timeout": 1,
        **settings,
    }


def write_config(tmp_path: Path, sim: ExotelSimulator, **sections: Any) -> Path:
    """A config file whose ledger is tmp_path/ledger.db; ``sections`` override or add."""
    account = exotel_account(sim, **sections.pop("account", {}))
    config: dict[str, Any] = {
        "store": "ledger.db",
        "accounts": {"main": account},
        "channels": {
            "sms": {
                "type": "exotel-sms",
                "account": "main",
                "senders": {"default": {"from": "NKALRT"}},
            },
            "call": {
                "type": "exotel-call",
                "account": "main",
                "caller_id": "08088919888",
                "connect_to": "+919800000000",
            },
        },
        "recipients": {f"p{i}": {"phone": p} for i, p in enumerate(PHONES)},
        "groups": {"oncall": ["p0", "p1"]},
        "defaults": {"channels": ["sms"], "to": ["p0"], "template": "default"},
        "retry": {"initial": "1s", "max": "10s", "deadline": "60s"},
    }
    config.update(sections)
    path = tmp_path / "notifykit.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def make_kit(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sim: ExotelSimulator
) -> Iterator[Callable[..., Notifier]]:
    monkeypatch.setenv("NK_LEDGER_TOKEN", TOKEN)
    built: list[Notifier] = []

    def make(path: Path | None = None, **kwargs: Any) -> Notifier:
        kit = Notifier.from_config(path or write_config(tmp_path, sim), **kwargs)
        built.append(kit)
        return kit

    yield make
    for kit in built:
        kit.close()
