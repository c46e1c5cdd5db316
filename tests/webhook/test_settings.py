"""The webhook channel's settings: typed, checked up front, and ``config check`` catches its
mistakes (each at its key and line), with no credential in any problem."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pluggy
import pytest

from notifykit import Notifier
from notifykit.errors import ConfigError
from tests.webhook.conftest import AUTH, SECRET, write_config

TOKEN_URL = "https://hooks.example.com/services/T0/B0/pathT0k3nvalue?sig=qu3ryT0k3nvalue"


def _problems(pm: pluggy.PluginManager, path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        Notifier.from_config(
            path,
            plugin_manager=pm,
            environ={"NK_WEBHOOK_SECRET": SECRET, "NK_WEBHOOK_AUTH": AUTH},
        ).close()
    return [str(p) for p in info.value.problems]


def _warnings(pm: pluggy.PluginManager, path: Path) -> list[str]:
    environ = {"NK_WEBHOOK_SECRET": SECRET, "NK_WEBHOOK_AUTH": AUTH}
    with Notifier.from_config(path, plugin_manager=pm, environ=environ) as kit:
        return [str(w) for w in kit.config.warnings]


@pytest.mark.parametrize(
    ("channel", "expected"),
    [
        ({"url": "ftp://hooks.example.com/x"}, "channels.hook.url: must be an https:// URL"),
        ({"url": "https:///path"}, "channels.hook.url: has no host"),
        ({"url": "https://user:pw12@example.com/x"}, "must not carry a user or password"),
        ({"url": "https://example.com:99999/x"}, "is not a valid URL"),
        ({"url": "https://example.com/a b"}, "must not contain spaces"),
        ({"headers": {"Content-Type": "text/plain"}}, "'Content-Type' is written by the channel"),
        ({"headers": {"Idempotency-Key": "x"}}, "'Idempotency-Key' is written by the channel"),
        ({"headers": {"Bad Name": "x"}}, "'Bad Name' is not a header name"),
        ({"headers": {"X-Token": "a\nb"}}, "the value of 'X-Token' has a line break"),
        ({"headers": {"X-Token": "नमस्ते"}}, "the value of 'X-Token' is not Latin-1"),
        ({"body": "slak"}, "did you mean 'slack'"),
        ({"method": "GET"}, "channels.hook.method"),
        ({"timeout": "5m"}, "channels.hook.timeout"),
        ({"retry_unknown": "yes please"}, "channels.hook.retry_unknown"),
        ({"urll": "https://x.example"}, "unknown key 'urll' (did you mean 'url'?)"),
        ({"secret": None}, "body: notifykit needs a secret"),
    ],
)
def test_config_check_catches_its_mistakes(
    pm: pluggy.PluginManager, tmp_path: Path, channel: dict[str, Any], expected: str
) -> None:
    path = write_config(tmp_path, "https://hooks.example.com/notifykit", channel=channel)
    problems = _problems(pm, path)
    assert any(expected in p for p in problems), problems
    assert all("notifykit.yaml:" in p for p in problems)  # at its file and line


def test_plain_http_to_another_machine_is_a_warning(
    pm: pluggy.PluginManager, tmp_path: Path
) -> None:
    warnings = _warnings(pm, write_config(tmp_path, "http://pager.internal:8080/hook"))
    assert any("plain http:// to pager.internal" in w for w in warnings), warnings


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "127.0.0.53"])
def test_plain_http_to_this_machine_is_fine(
    pm: pluggy.PluginManager, tmp_path: Path, host: str
) -> None:
    warnings = _warnings(pm, write_config(tmp_path, f"http://{host}:8080/hook"))
    assert not any("http://" in w for w in warnings), warnings


@pytest.mark.parametrize("body", ["slack", "mattermost", "teams"])
def test_a_chat_webhook_needs_no_secret(
    pm: pluggy.PluginManager, tmp_path: Path, body: str
) -> None:
    path = write_config(tmp_path, TOKEN_URL, channel={"body": body, "secret": None})
    assert _warnings(pm, path) == []


def test_no_problem_shows_the_url_token_or_a_header(
    pm: pluggy.PluginManager, tmp_path: Path
) -> None:
    path = write_config(
        tmp_path,
        TOKEN_URL,
        channel={"headers": {"Authorization": "${NK_WEBHOOK_AUTH}", "Host": "${NK_WEBHOOK_AUTH}"}},
    )
    problems = _problems(pm, path)
    assert problems and all(
        "pathT0k3nvalue" not in p and "qu3ryT0k3nvalue" not in p and AUTH not in p for p in problems
    ), problems


def test_the_settings_repr_shows_no_credential(pm: pluggy.PluginManager, tmp_path: Path) -> None:
    environ = {"NK_WEBHOOK_SECRET": SECRET, "NK_WEBHOOK_AUTH": AUTH}
    with Notifier.from_config(
        write_config(tmp_path, TOKEN_URL), plugin_manager=pm, environ=environ
    ) as kit:
        shown = repr(kit.config.channels["hook"]) + repr(kit.config.channels["hook"].settings)
        shown += repr(kit.channels["hook"])
    for secret in (SECRET, AUTH, "pathT0k3nvalue", "qu3ryT0k3nvalue"):
        assert secret not in shown, shown
    assert "hooks.example.com" in shown  # the host is no secret


def test_config_check_on_the_command_line(site: Path, tmp_path: Path) -> None:
    # No secret is needed to check a config (CI has the file, not the credentials); the http
    # warning is printed at its line, and --strict fails on it.
    path = write_config(tmp_path, "http://pager.internal/hook")
    check = [sys.executable, "-m", "notifykit", "config", "check", str(path)]
    done = subprocess.run(check, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "channels.hook.url: posts over plain http:// to pager.internal" in done.stdout
    strict = subprocess.run([*check, "--strict"], capture_output=True, text=True, timeout=60)
    assert strict.returncode == 3, strict.stdout + strict.stderr
