"""describe_channel: the sender and priority ``routes test`` shows, from a channel's optional
``describe(message)``, else its prepared options, else its settings."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from notifykit.channels.base import Message
from notifykit.routing.service import describe_channel


class Described:
    def prepare(self, message: Message) -> Message:
        raise AssertionError("describe() answers first")

    def describe(self, message: Message) -> dict[str, Any]:
        return {"from": f"sender-for-{message.severity}", "priority": "high", "route": "x"}


class Prepared:
    def prepare(self, message: Message) -> Message:
        return message.with_options(from_="NKALRT", priority="normal")


class Bare:
    def prepare(self, message: Message) -> Message:
        return message


def kit(channel: Any, settings: dict[str, Any] | None = None) -> Any:
    return SimpleNamespace(
        channels={"c": channel},
        config=SimpleNamespace(channels={"c": SimpleNamespace(settings=settings or {})}),
    )


def test_describe_wins() -> None:
    assert describe_channel(kit(Described()), "c", "critical") == {
        "from": "sender-for-critical",
        "priority": "high",
        "route": "x",
    }


def test_prepared_options_next() -> None:
    assert describe_channel(kit(Prepared()), "c", "info") == {
        "from": "NKALRT",
        "priority": "normal",
    }


def test_settings_by_severity_last() -> None:
    settings = {"caller_id": {"default": "0800", "error": "0900"}}
    assert describe_channel(kit(Bare(), settings), "c", "critical")["from"] == "0900"
    assert describe_channel(kit(Bare(), settings), "c", "info")["from"] == "0800"
    assert describe_channel(kit(Bare()), "c", "info") == {"from": None, "priority": None}
