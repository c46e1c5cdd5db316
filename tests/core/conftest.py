"""Fixtures for the core tests: hermetic plugin managers and an in-memory recording channel."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import pytest

from notifykit import Notifier, hookimpl
from notifykit.channels import (
    ChannelContext,
    ChannelType,
    DeliveryResult,
    Message,
    Recipient,
)
from notifykit.config.settings import Settings, setting
from notifykit.plugins import get_plugin_manager


class RecordingChannel:
    """A channel that records every batch it is given; ``fail`` names recipients to fail."""

    def __init__(self, settings: Mapping[str, Any], context: ChannelContext) -> None:
        self.name = context.channel_name
        self.settings = settings
        self.batches: list[tuple[Message, list[Recipient]]] = []
        self.fail: set[str] = set()
        self.gate: threading.Event | None = None
        self.entered = threading.Event()

    def prepare(self, message: Message) -> Message:
        return message.with_info(prepared_by=self.name)

    def send(self, message: Message, recipients: Sequence[Recipient]) -> Sequence[DeliveryResult]:
        self.entered.set()
        if self.gate is not None and not self.gate.wait(timeout=10):
            raise TimeoutError("the gate was never opened")
        self.batches.append((message, list(recipients)))
        return [
            DeliveryResult.failed(r, "refused by test")
            if r.label in self.fail
            else DeliveryResult.sent(r, provider_id=f"id-{self.name}-{r.label}")
            for r in recipients
        ]


class RecorderSettings(Settings):
    """The ``recorder`` channel type's settings."""

    label: str = setting(default="rec")
    mode: Literal["a", "b"] = setting(default="a")


class RecorderPlugin:
    """An ad-hoc plugin (a class instance) registering the ``recorder`` channel type."""

    def __init__(self) -> None:
        self.channels: dict[str, RecordingChannel] = {}

    def _build(self, settings: Mapping[str, Any], context: ChannelContext) -> RecordingChannel:
        channel = RecordingChannel(settings, context)
        self.channels[context.channel_name] = channel
        return channel

    @hookimpl
    def register_channel_types(self, register: Callable[[ChannelType], None]) -> None:
        register(
            ChannelType(
                name="recorder",
                factory=self._build,
                settings=RecorderSettings,
                kind="sms",
                template_suffix="sms",
                description="records messages in memory",
            )
        )


@pytest.fixture
def recorder() -> RecorderPlugin:
    return RecorderPlugin()


@pytest.fixture
def make_notifier(recorder: RecorderPlugin, tmp_path: Path) -> Iterator[Callable[..., Notifier]]:
    """Build a Notifier from a config mapping with only built-ins and the recorder plugin."""
    built: list[Notifier] = []

    def make(config: Mapping[str, Any], *plugins: object, **kwargs: Any) -> Notifier:
        pm = get_plugin_manager(load_entrypoints=False, disabled=[], plugins=[recorder, *plugins])
        notifier = Notifier.from_config(dict(config), plugin_manager=pm, **kwargs)
        built.append(notifier)
        return notifier

    yield make
    for notifier in built:
        notifier.close()


def write_templates(directory: Path, **templates: str) -> Path:
    """Write ``name=text`` pairs as ``name.j2`` files (``db_down__sms`` -> ``db_down.sms.j2``)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in templates.items():
        (directory / (name.replace("__", ".") + ".j2")).write_text(text, encoding="utf-8")
    return directory


BASIC: dict[str, Any] = {
    "version": 1,
    "defaults": {"severity": "warning", "channels": ["rec"]},
    "channels": {"rec": {"type": "recorder"}, "console": {"type": "console"}},
    "recipients": {
        "alice": {"name": "Alice", "phone": "+919876543210"},
        "bob": {"phone": "09876543211"},
        "carol": {"phone": "+919876543212"},
    },
    "groups": {"oncall": ["alice", "bob"], "all": ["oncall", "carol", "+919800000001"]},
}
