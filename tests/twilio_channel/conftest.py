"""Fixtures for the Twilio plugin's tests: the plugin loaded through its entry point (as an
install registers it), the plugin's fake Twilio on 127.0.0.1, and a config file with a real
SQLite ledger, an SMS and a call channel and, for the keypress, an escalation policy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from notifykit_twilio.fake import FakeTwilio
from tests.plugin_support import Clock, clock, make_kit, pm, site

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "tw1l10-4uth-t0k3n-s3cr3t-v4lue"
FROM = "+14155550100"
PHONES = ("+14155550111", "+14155550112")
SMS = "ALERT {{ severity | upper }}: database {{ data.host if data.host is defined else labels.host }} is down."
VOICE = "This is a {{ severity }} alert: database {{ data.host if data.host is defined else labels.host }} is down."

__all__ = [
    "ACCOUNT_SID",
    "AUTH_TOKEN",
    "FROM",
    "PHONES",
    "Clock",
    "clock",
    "escalation_sections",
    "make_kit",
    "pm",
    "site",
]


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN) as server:
        yield server


def write_config(tmp_path: Path, base_url: str, **sections: Any) -> Path:
    """A config with a ``tw`` Twilio account at ``base_url`` (``account`` keys override; a
    ``None`` leaves a key out), an ``sms`` and a ``call`` channel, the ``db_down`` templates,
    two recipients and a ledger in tmp_path/ledger.db."""
    account: dict[str, Any] = {
        "provider": "twilio",
        "account_sid": ACCOUNT_SID,
        "auth_token": "${NK_TWILIO_AUTH_TOKEN}",
        "from": FROM,
        "base_url": base_url,
        "timeout": "1s",
    }
    for name, value in sections.pop("account", {}).items():
        if value is None:
            account.pop(name, None)
        else:
            account[name] = value
    templates = tmp_path / "templates"
    templates.mkdir(exist_ok=True)
    (templates / "db_down.sms.j2").write_text(SMS, encoding="utf-8")
    (templates / "db_down.voice.j2").write_text(VOICE, encoding="utf-8")
    config: dict[str, Any] = {
        "store": "ledger.db",
        "accounts": {"tw": account},
        "channels": {
            "sms": {"type": "twilio-sms", "account": "tw"},
            "call": {"type": "twilio-call", "account": "tw"},
        },
        "recipients": {"alice": {"phone": PHONES[0]}, "bob": {"phone": PHONES[1]}},
        "templates": {"directory": "templates"},
        "events": {"db.down": {"template": "db_down", "severity": "critical"}},
        "defaults": {"channels": ["sms"], "to": ["alice"], "template": "db_down"},
        "retry": {"initial": "1s", "max": "10s", "deadline": "60s"},
    }
    config.update(sections)
    path = tmp_path / "notifykit.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def escalation_sections(port: int) -> dict[str, Any]:
    """``server.public_url`` on ``port``, and every alert paging alice by a call, then bob."""
    return {
        "server": {"public_url": f"http://127.0.0.1:{port}", "port": port},
        "receivers": {"oncall": {"escalation": "primary"}},
        "route": {"receiver": "oncall"},
        "escalations": {
            "primary": {
                "steps": [
                    {"after": "0s", "channels": ["call"], "to": ["alice"]},
                    {"after": "5m", "channels": ["call"], "to": ["bob"]},
                ]
            }
        },
    }


@pytest.fixture
def kit_env() -> dict[str, str]:
    """What the config's ``${...}`` read (tests.plugin_support's ``make_kit`` sets it)."""
    return {"NK_TWILIO_AUTH_TOKEN": AUTH_TOKEN}
