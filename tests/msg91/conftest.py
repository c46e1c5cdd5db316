"""Fixtures for the MSG91 plugin's tests: the plugin loaded through its entry point (the one
pyproject declares, as an install would register it), the plugin's fake MSG91 on 127.0.0.1, and
a config file with a real SQLite ledger and a DLT-registered template."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from notifykit_msg91.fake import FakeMsg91
from tests.plugin_support import Clock, clock, make_kit, pm, site

__all__ = ["Clock", "clock", "make_kit", "pm", "site"]

AUTHKEY = "m91-4uthk3y-s3cr3t-value"
TEMPLATE_ID = "1207161234567890123"
ENTITY_ID = "1201159876543210987"
PATTERN = "ALERT {#var#}: database {#var#} is down. -ACME Ops"
TEMPLATE = "ALERT {{ severity | upper }}: database {{ data.host }} is down. -ACME Ops"


@pytest.fixture
def fake() -> Iterator[FakeMsg91]:
    with FakeMsg91(authkey=AUTHKEY, templates={TEMPLATE_ID: PATTERN}) as server:
        yield server


def write_config(tmp_path: Path, base_url: str, **sections: Any) -> Path:
    """A config with an ``m91`` MSG91 account at ``base_url`` (``account`` keys override; a
    ``None`` leaves a key out), an ``sms`` channel, the ``db_down`` template registered on DLT
    (``template`` keys override), two recipients and a ledger in tmp_path/ledger.db."""
    account: dict[str, Any] = {
        "provider": "msg91",
        "authkey": "${NK_MSG91_AUTHKEY}",
        "sender": "NKALRT",
        "dlt_entity_id": ENTITY_ID,
        "base_url": base_url,
        "timeout": "1s",
    }
    template: dict[str, Any] = {"dlt_template_id": TEMPLATE_ID, "dlt_pattern": PATTERN}
    for target, key in ((account, "account"), (template, "template")):
        for name, value in sections.pop(key, {}).items():
            if value is None:
                target.pop(name, None)
            else:
                target[name] = value
    templates = tmp_path / "templates"
    templates.mkdir(exist_ok=True)
    (templates / "db_down.sms.j2").write_text(sections.pop("text", TEMPLATE), encoding="utf-8")
    config: dict[str, Any] = {
        "store": "ledger.db",
        "accounts": {"m91": account},
        "channels": {"sms": {"type": "msg91-sms", "account": "m91"}},
        "recipients": {"alice": {"phone": "+919876543210"}, "bob": {"phone": "+919876543211"}},
        "templates": {"directory": "templates", "db_down": template},
        "events": {"db.down": {"template": "db_down", "severity": "critical"}},
        "defaults": {"channels": ["sms"], "to": ["alice"], "template": "db_down"},
        "retry": {"initial": "1s", "max": "10s", "deadline": "60s"},
    }
    config.update(sections)
    path = tmp_path / "notifykit.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def kit_env() -> dict[str, str]:
    """What the config's ``${...}`` read (tests.plugin_support's ``make_kit`` sets it)."""
    return {"NK_MSG91_AUTHKEY": AUTHKEY}
