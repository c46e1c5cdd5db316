"""The MSG91 account's and channel's settings: typed, checked up front, and ``config check``
catches their mistakes (each at its key and line): a missing entity id or sender, an inline
authkey, an http:// server elsewhere, a template without its DLT template id (``doctor``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pluggy
import pytest

from notifykit import Notifier
from notifykit.errors import ConfigError
from tests.msg91.conftest import AUTHKEY, write_config

ENV = {"NK_MSG91_AUTHKEY": AUTHKEY}


def _problems(pm: pluggy.PluginManager, path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        Notifier.from_config(path, plugin_manager=pm, environ=ENV).close()
    return [str(p) for p in info.value.problems]


@pytest.mark.parametrize(
    ("account", "expected"),
    [
        (
            {"dlt_entity_id": None},
            "accounts.m91.dlt_entity_id: missing required key 'dlt_entity_id'",
        ),
        ({"dlt_entity_id": "PE-12"}, "accounts.m91.dlt_entity_id"),
        ({"sender": None}, "accounts.m91.sender: missing required key 'sender'"),
        ({"sender": "NKALERTS"}, "a 6-character DLT header"),
        ({"authkey": None}, "accounts.m91.authkey: missing required key 'authkey'"),
        ({"route": "express"}, "accounts.m91.route"),
        ({"base_url": "http://api.msg91.example"}, "must be https://"),
        ({"base_url": "https://api.msg91.com/api/v2"}, "without a path"),
        ({"base_url": "https://user:pw@api.msg91.com"}, "must not carry a user"),
        ({"timeout": "10m"}, "accounts.m91.timeout"),
        ({"sendr": "NKALRT"}, "unknown key 'sendr' (did you mean 'sender'?)"),
    ],
)
def test_config_catches_account_mistakes(
    pm: pluggy.PluginManager, tmp_path: Path, account: dict[str, Any], expected: str
) -> None:
    problems = _problems(pm, write_config(tmp_path, "https://api.msg91.com", account=account))
    assert any(expected in p for p in problems), problems
    assert all("notifykit.yaml:" in p for p in problems)  # at its file and line
    assert not any(AUTHKEY in p for p in problems)


def test_a_channel_must_name_an_msg91_account(pm: pluggy.PluginManager, tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        "https://api.msg91.com",
        channels={"sms": {"type": "msg91-sms", "account": "m9l"}},
    )
    problems = _problems(pm, path)
    assert any("channels.sms.account" in p and "'m91'" in p for p in problems), problems


def _check(path: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    command = [sys.executable, "-m", "notifykit", *args, str(path)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)


def test_config_check_warns_of_an_inline_authkey_and_strict_fails(
    site: Path, tmp_path: Path
) -> None:
    path = write_config(tmp_path, "https://api.msg91.com", account={"authkey": AUTHKEY})
    done = _check(path, "config", "check")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "accounts.m91.authkey" in done.stdout and "${" in done.stdout
    assert AUTHKEY not in done.stdout + done.stderr
    strict = _check(path, "config", "check", "--strict")
    assert strict.returncode == 3, strict.stdout + strict.stderr


def test_config_check_needs_no_authkey(site: Path, tmp_path: Path) -> None:
    done = _check(write_config(tmp_path, "https://api.msg91.com"), "config", "check")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "NK_MSG91_AUTHKEY" in done.stdout  # an unset variable is a warning


def test_config_check_catches_a_missing_entity_id(site: Path, tmp_path: Path) -> None:
    path = write_config(tmp_path, "https://api.msg91.com", account={"dlt_entity_id": None})
    done = _check(path, "config", "check")
    assert done.returncode == 3, done.stdout + done.stderr
    assert "accounts.m91.dlt_entity_id: missing required key 'dlt_entity_id'" in done.stdout


def _diagnose(path: Path) -> Any:
    """``doctor``'s msg91.dlt check over ``path``, registered by the msg91 plugin."""
    from notifykit.doctor import diagnose
    from notifykit.plugins import get_plugin_manager

    manager = get_plugin_manager(disabled=[])
    with Notifier.from_config(
        path, plugin_manager=manager, environ=ENV, dry_run=True, require_secrets=False
    ) as kit:
        return diagnose(kit, checks=["msg91.dlt"])


def test_doctor_catches_a_template_without_its_dlt_template_id(site: Path, tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        "https://api.msg91.com",
        template={"dlt_template_id": None, "dlt_pattern": None},
        text="DB {{ data.host }}{{ data.port }} down, see https://status.example.com",
    )
    found = _diagnose(path)
    assert not found.ok()
    messages = {(f.severity, f.path): f.message for f in found.findings}
    assert "has no dlt_template_id" in messages[("error", "templates.db_down")]
    text = " ".join(f.message for f in found.findings)
    assert "has no dlt_pattern" in text
    assert "no fixed text between them" in text  # notifykit.india's rule on adjacent variables
    assert "status.example.com" in text and "whitelist" in text
    assert all(f.line for f in found.findings)  # each at its line


def test_doctor_is_quiet_for_a_registered_template(site: Path, tmp_path: Path) -> None:
    found = _diagnose(write_config(tmp_path, "https://api.msg91.com"))
    assert found.ok(strict=True) and found.findings == ()
