"""describe_channel: the sender and priority ``routes test`` shows come from the channel's own
optional ``describe(message)`` (the Describer capability); the core guesses no provider's option
or setting names, so a channel without it shows none."""

from __future__ import annotations

from typing import Any

from notifykit.channels.base import Describer, Message
from notifykit.pipeline.explain import describe_channel


class Described:
    def prepare(self, message: Message) -> Message:
        raise AssertionError("describe() answers, prepare() is not asked")

    def describe(self, message: Message) -> dict[str, Any]:
        return {"from": f"sender-for-{message.severity}", "priority": "high", "route": "x"}


class Prepared:
    """Options named like a provider's (the core used to guess from_, caller_id, priority)."""

    def prepare(self, message: Message) -> Message:
        return message.with_options(from_="NKALRT", priority="normal", caller_id="0800")


def test_the_channel_describes_itself() -> None:
    assert isinstance(Described(), Describer)
    assert describe_channel(Described(), "critical") == {
        "from": "sender-for-critical",
        "priority": "high",
        "route": "x",
    }


def test_without_describe_nothing_is_guessed() -> None:
    assert not isinstance(Prepared(), Describer)
    assert describe_channel(Prepared(), "info") == {"from": None, "priority": None}  # type: ignore[arg-type]
