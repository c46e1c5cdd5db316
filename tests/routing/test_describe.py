"""describe_channel: the sender and priority ``routes test`` shows, from a channel's optional
``describe(message)``, else its prepared options, else its settings."""

from __future__ import annotations

from typing import Any

from notifykit.channels.base import Message
from notifykit.pipeline.explain import describe_channel


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


def described(channel: Any, severity: str, settings: dict[str, Any] | None = None) -> Any:
    return describe_channel(channel, settings or {}, severity)


def test_describe_wins() -> None:
    assert described(Described(), "critical") == {
        "from": "sender-for-critical",
        "priority": "high",
        "route": "x",
    }


def test_prepared_options_next() -> None:
    assert described(Prepared(), "info") == {
        "from": "NKALRT",
        "priority": "normal",
    }


def test_settings_by_severity_last() -> None:
    settings = {"caller_id": {"default": "0800", "error": "0900"}}
    assert described(Bare(), "critical", settings)["from"] == "0900"
    assert described(Bare(), "info", settings)["from"] == "0800"
    assert described(Bare(), "info") == {"from": None, "priority": None}
