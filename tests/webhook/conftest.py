"""Fixtures for the webhook plugin's tests: the plugin loaded through its entry point (the one
pyproject declares, as an install would register it), a fake receiver, a config file with a real
SQLite ledger, and a controllable clock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from notifykit_webhook.fake import FakeReceiver
from tests.plugin_support import Clock, clock, make_kit, pm, site

__all__ = ["Clock", "clock", "make_kit", "pm", "site"]

SECRET = "whsec-t3st-s3cr3t-value"
AUTH = "Bearer h34d3r-t0k3n-value"


@pytest.fixture
def receiver() -> Iterator[FakeReceiver]:
    with FakeReceiver(secret=SECRET) as fake:
        yield fake


def write_config(tmp_path: Path, url: str, **sections: Any) -> Path:
    """A config with a ``hook`` webhook channel posting to ``url`` (``channel`` keys override),
    recipients with webhook addresses, and a ledger in tmp_path/ledger.db."""
    channel: dict[str, Any] = {
        "type": "webhook",
        "url": url,
        "secret": "${NK_WEBHOOK_SECRET}",
        "headers": {"Authorization": "${NK_WEBHOOK_AUTH}"},
        "timeout": "1s",
    }
    for key, value in sections.pop("channel", {}).items():
        if value is None:  # left out
            channel.pop(key, None)
        else:
            channel[key] = value
    config: dict[str, Any] = {
        "store": "ledger.db",
        "channels": {"hook": channel},
        "recipients": {
            "ops": {"addresses": {"webhook": "#ops"}},
            "alice": {"phone": "+919876543210", "addresses": {"webhook": "alice"}},
            "bob": {"phone": "+919876543211"},
        },
        "defaults": {"channels": ["hook"], "to": ["ops"], "template": "default"},
        "retry": {"initial": "1s", "max": "10s", "deadline": "60s"},
    }
    config.update(sections)
    path = tmp_path / "notifykit.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def kit_env() -> dict[str, str]:
    """What the config's ``${...}`` read (tests.plugin_support's ``make_kit`` sets it)."""
    return {"NK_WEBHOOK_SECRET": SECRET, "NK_WEBHOOK_AUTH": AUTH}
