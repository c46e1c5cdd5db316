"""The Twilio account's and channels' settings: typed, checked up front, and ``config check``
catches their mistakes at their key and line: a malformed SID, no sender, an inline auth token
(a warning), an http:// server elsewhere; ``doctor`` catches a call channel without a number
and a keypress that cannot work without ``server.public_url``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pluggy
import pytest

from notifykit import Notifier
from notifykit.errors import ConfigError
from tests.twilio_channel.conftest import AUTH_TOKEN, escalation_sections, write_config

ENV = {"NK_TWILIO_AUTH_TOKEN": AUTH_TOKEN}
BASE = "https://api.twilio.com"


def _problems(pm: pluggy.PluginManager, path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        Notifier.from_config(path, plugin_manager=pm, environ=ENV).close()
    return [str(p) for p in info.value.problems]


@pytest.mark.parametrize(
    ("account", "expected"),
    [
        ({"account_sid": "AC123"}, "accounts.tw.account_sid"),
        ({"account_sid": None}, "missing required key 'account_sid'"),
        ({"auth_token": None}, "missing required key 'auth_token'"),
        ({"from": "0123"}, "accounts.tw.from"),
        ({"from": None}, "needs `from` (a number of the account) or `messaging_service_sid`"),
        ({"messaging_service_sid": "MG12"}, "accounts.tw.messaging_service_sid"),
        ({"base_url": "http://api.twilio.example"}, "must be https://"),
        ({"base_url": "https://api.twilio.com/2010-04-01"}, "without a path"),
        ({"timeout": "10m"}, "accounts.tw.timeout"),
        ({"form": "+14155550100"}, "unknown key 'form'"),
    ],
)
def test_config_catches_account_mistakes(
    pm: pluggy.PluginManager, tmp_path: Path, account: dict[str, Any], expected: str
) -> None:
    problems = _problems(pm, write_config(tmp_path, BASE, account=account))
    assert any(expected in p for p in problems), problems
    assert not any(AUTH_TOKEN in p for p in problems)


def test_a_call_channel_needs_a_number_to_call_from(
    pm: pluggy.PluginManager, tmp_path: Path
) -> None:
    path = write_config(
        tmp_path, BASE, account={"from": None, "messaging_service_sid": "MG" + "a" * 32}
    )
    problems = _problems(pm, path)
    assert any("has no `from` number" in p for p in problems), problems


def _run(path: Path, *args: str) -> Any:
    command = [sys.executable, "-m", "notifykit", *args, str(path)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_config_check_warns_of_an_inline_auth_token_and_strict_fails(
    site: Path, tmp_path: Path
) -> None:
    path = write_config(tmp_path, BASE, account={"auth_token": AUTH_TOKEN})
    done = _run(path, "config", "check")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "accounts.tw.auth_token" in done.stdout and "${" in done.stdout
    assert AUTH_TOKEN not in done.stdout + done.stderr
    strict = _run(path, "config", "check", "--strict")
    assert strict.returncode == 3, strict.stdout + strict.stderr


def _diagnose(path: Path) -> Any:
    from notifykit.doctor import diagnose
    from notifykit.plugins import get_plugin_manager

    with Notifier.from_config(
        path,
        plugin_manager=get_plugin_manager(disabled=[]),
        environ=ENV,
        dry_run=True,
        require_secrets=False,
    ) as kit:
        return diagnose(kit, checks=["twilio.config"])


def test_doctor_warns_that_a_paging_call_without_public_url_cannot_be_acknowledged(
    site: Path, tmp_path: Path
) -> None:
    sections = escalation_sections(8080)
    del sections["server"]
    result = _diagnose(write_config(tmp_path, BASE, **sections))
    messages = [f.message for f in result.findings if f.check == "twilio.config"]
    assert any("nobody can press a key" in m for m in messages), messages


def test_doctor_is_quiet_with_public_url(site: Path, tmp_path: Path) -> None:
    sections = escalation_sections(8080)
    sections["server"]["public_url"] = "https://pager.example.com"
    result = _diagnose(write_config(tmp_path, BASE, **sections))
    assert [f for f in result.findings if f.check == "twilio.config"] == []
