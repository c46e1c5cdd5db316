"""Fixtures for the Exotel channel tests: a live simulator and a Notifier configured against it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from notifykit import Notifier
from notifykit_exotel.simulator import ExotelSimulator

SID = "ACchan"
TOKEN = "chan-token-s3cr3t-value"
EXOPHONE = "08088919888"
BRIDGE = "+919800000000"

TEMPLATES = {
    "alert.sms.j2": "ALERT {{ severity | upper }}: {{ host }} is down. -ACME",
    "alert.voice.j2": "Attention. {{ host }} is down. Severity {{ severity }}.",
    "hindi.sms.j2": "चेतावनी: सर्वर {{ host }} बंद है। -ACME",
    "long.sms.j2": "{{ 'x' * n }}",
    "otp.sms.j2": "{{ otp }} is your ACME code. -ACME",
}


@pytest.fixture
def sim() -> Iterator[ExotelSimulator]:
    with ExotelSimulator(sid=SID, token=TOKEN, exophones={EXOPHONE}) as simulator:
        yield simulator


def base_config(sim: ExotelSimulator, template_dir: Path) -> dict[str, Any]:
    return {
        "defaults": {"severity": "warning", "channels": ["sms"], "template": "alert"},
        "accounts": {
            "main": {
                "provider": "exotel",
                "sid": SID,
                "token": "${NK_TEST_EXOTEL_TOKEN}",
                "base_url": sim.base_url,
            }
        },
        "channels": {
            "sms": {
                "type": "exotel-sms",
                "account": "main",
                "dlt_entity_id": "1201177860312735154",
                "senders": {
                    "default": {"from": "NKINFO", "priority": "normal"},
                    "error": {"from": "NKALRT", "priority": "high"},
                },
            },
            "call": {
                "type": "exotel-call",
                "account": "main",
                "caller_id": EXOPHONE,
                "connect_to": {"default": BRIDGE, "critical": "+919800000009"},
                "time_limit": 600,
            },
            "ivr": {
                "type": "exotel-flow",
                "account": "main",
                "caller_id": EXOPHONE,
                "app_id": "123456",
                "time_limit": 300,
            },
        },
        "recipients": {
            "alice": {"phone": "+919876543210"},
            "bob": {"phone": "09876543211"},
        },
        "groups": {"oncall": ["alice", "bob"]},
        "templates": {
            "directory": str(template_dir),
            "alert": {
                "dlt_template_id": "1207161234567890123",
                "sms_type": "transactional",
                "dlt_pattern": "ALERT {#var#}: {#var#} is down. -ACME",
            },
            "otp": {
                "dlt_template_id": "1207000000000000001",
                "dlt_pattern": "{#var#} is your code",
            },
        },
    }


@pytest.fixture
def template_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "templates"
    directory.mkdir()
    for name, text in TEMPLATES.items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory


@pytest.fixture
def config(sim: ExotelSimulator, template_dir: Path) -> dict[str, Any]:
    return base_config(sim, template_dir)


@pytest.fixture
def make_kit(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Notifier]]:
    monkeypatch.setenv("NK_TEST_EXOTEL_TOKEN", TOKEN)
    built: list[Notifier] = []

    def make(config: dict[str, Any], **kwargs: Any) -> Notifier:
        kit = Notifier.from_config(config, **kwargs)
        built.append(kit)
        return kit

    yield make
    for kit in built:
        kit.close()
