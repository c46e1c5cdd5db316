"""The built-in ``console`` channel: prints what would be sent, one line per recipient.

For dry runs, demos and tests. Configure it with ``{type: console}``; ``stream: stderr`` prints to
standard error instead of standard output.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Sequence
from typing import Literal, TextIO

from notifykit.channels import (
    Channel,
    ChannelContext,
    ChannelType,
    DeliveryResult,
    Message,
    Recipient,
)
from notifykit.config.settings import Settings, setting
from notifykit.hookspecs import hookimpl

__all__ = ["ConsoleChannel", "ConsoleSettings", "register_channel_types"]

_LOCK = threading.Lock()


class ConsoleChannel:
    """Writes ``[channel] severity event -> recipient (address): text`` lines to a stream."""

    def __init__(self, name: str, stream: TextIO | Callable[[], TextIO]) -> None:
        self.name = name
        self._stream = stream

    def _out(self) -> TextIO:
        return self._stream() if callable(self._stream) else self._stream

    def prepare(self, message: Message) -> Message:
        return message

    def send(self, message: Message, recipients: Sequence[Recipient]) -> Sequence[DeliveryResult]:
        out = self._out()
        text = (message.text or "").replace("\n", "\n    ")
        results = []
        # One lock for every console channel: lines from concurrent notifications do not interleave.
        with _LOCK:
            for recipient in recipients:
                address = recipient.phone or ""
                print(
                    f"[{self.name}] {message.severity} {message.event} -> {recipient.label} "
                    f"({address}): {text}",
                    file=out,
                )
                results.append(DeliveryResult.sent(recipient, provider_status="printed"))
            out.flush()
        return results


class ConsoleSettings(Settings):
    """A ``console`` channel (built in)."""

    stream: Literal["stdout", "stderr"] = setting(default="stdout", doc="where to print")


def _build(settings: ConsoleSettings, context: ChannelContext) -> Channel:
    # Looked up at send time, not captured at config load: pytest's capsys and click's CliRunner
    # swap sys.stdout after the Notifier is built.
    if settings.stream == "stderr":
        return ConsoleChannel(context.channel_name, lambda: sys.stderr)
    return ConsoleChannel(context.channel_name, lambda: sys.stdout)


@hookimpl
def register_channel_types(register: Callable[[ChannelType], None]) -> None:
    register(
        ChannelType(
            name="console",
            factory=_build,
            settings=ConsoleSettings,
            kind="text",
            template_suffix="sms",
            description="Prints each message to stdout or stderr (dry runs, demos, tests).",
        )
    )
