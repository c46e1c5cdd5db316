"""`config check` catches the Apprise plugin's mistakes before anything is sent: URLs Apprise
cannot use (an unknown service, with a "did you mean"; a malformed token; a plugin disabled for
a missing library), an empty target, a bad title or timeout; every problem at its line, none
quoting a URL. Without the secrets (CI), an unset ``${VAR}`` is a warning, not a problem."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from notifykit import Notifier
from notifykit.errors import ConfigError
from tests.apprise_channel.conftest import TOKEN, cli, plugin_manager

GOOD = f"json://localhost/hook/{TOKEN}"


def write(tmp_path: Path, accounts: str, channel: str = "{type: apprise, account: ap}") -> Path:
    text = textwrap.dedent(
        """\
        accounts:
        {accounts}
        channels:
          push: {channel}
        recipients:
          alice: {{addresses: {{apprise: alice}}}}
        defaults: {{channels: [push], to: [alice]}}
        """
    ).format(accounts=textwrap.indent(textwrap.dedent(accounts), "  "), channel=channel)
    path = tmp_path / "notifykit.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path, **environ: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        Notifier.from_config(
            path, plugin_manager=plugin_manager(), environ=environ, dry_run=True
        ).close()
    return [str(p) for p in caught.value.problems]


def test_urls_apprise_cannot_use_are_problems_at_their_line(tmp_path):
    path = write(
        tmp_path,
        f"""\
        ap:
          provider: apprise
          targets:
            alice: {{urls: "${{ALICE}}"}}
            bob:
              urls:
                - "jsn://host/{TOKEN}"
                - "tgram://{TOKEN}/"
            dan: {{urls: "{TOKEN}"}}
        """,
    )
    found = problems(path, ALICE=GOOD)
    assert found == [
        f"{path}:8: accounts.ap.targets.bob.urls: [1]: Apprise has no jsn:// service "
        "(did you mean json://?)",
        f"{path}:8: accounts.ap.targets.bob.urls: [2]: Apprise's Telegram plugin (tgram://) "
        "cannot use this URL: a token, host or target in it is missing or malformed (its "
        "format: https://github.com/caronc/apprise/wiki)",
        f"{path}:10: accounts.ap.targets.dan.urls: not an Apprise URL: write service://... "
        "(json://host/path, tgram://token/chat, ntfy://topic: see "
        "https://github.com/caronc/apprise/wiki)",
    ]
    assert not any(TOKEN in p for p in found)


def test_a_service_apprise_disabled_for_a_missing_library_is_a_problem(tmp_path):
    from apprise.manager_plugins import NotificationManager

    disabled = sorted(
        s for s in NotificationManager().schemas() if not NotificationManager()[s].enabled
    )
    if "mqtt" not in disabled:
        pytest.skip("paho-mqtt is installed here: Apprise's mqtt:// is enabled")
    path = write(tmp_path, 'ap: {provider: apprise, targets: {alice: {urls: "${A}"}}}')
    [problem] = problems(path, A=f"mqtt://localhost/{TOKEN}")
    # the version Apprise asks for is its own ("paho-mqtt >= 2.1.0" in Apprise 2.3)
    assert "accounts.ap.targets.alice.urls: Apprise's MQTT Notification plugin (mqtt://) is " in (
        problem
    )
    assert "is disabled on this system: it needs paho-mqtt" in problem
    assert "(pip install 'paho-mqtt" in problem


def test_a_url_from_the_environment_is_checked_and_never_quoted(tmp_path):
    path = write(tmp_path, 'ap: {provider: apprise, targets: {alice: {urls: "${ALICE}"}}}')
    [problem] = problems(path, ALICE=f"jsno://host/{TOKEN}")
    assert problem == (
        f"{path}:2: accounts.ap.targets.alice.urls: Apprise has no jsno:// service "
        "(did you mean json://?)"
    )


@pytest.mark.parametrize(
    ("account", "channel", "expected"),
    [
        (
            "ap: {provider: apprise, targets: {}}",
            None,
            "accounts.ap: an Apprise account needs at least one target under targets:",
        ),
        (
            "ap: {provider: apprise, targets: {alice: {urls: []}}}",
            None,
            "accounts.ap.targets.alice.urls: needs at least 1 item(s)",
        ),
        (
            'ap: {provider: apprise, targets: {alice: {urls: "${ALICE}"}}, timeout: 0s}',
            None,
            "accounts.ap.timeout: must be at least 0.1s, got 0s",
        ),
        (
            'ap: {provider: apprise, targets: {alice: {urls: "${ALICE}"}}, redirect: "jsn://x"}',
            None,
            "accounts.ap.redirect: Apprise has no jsn:// service (did you mean json://?)",
        ),
        (
            'ap: {provider: apprise, targets: {alice: {urls: "${ALICE}"}}}',
            '{type: apprise, account: ap, title: "{event} on {host}"}',
            "channels.push.title: '{event} on {host}' names {host}: a title may name {event} "
            "and {severity} (write {{ for a brace)",
        ),
        (
            'ap: {provider: apprise, targets: {alice: {urls: "${ALICE}"}}}',
            '{type: apprise, account: ap, title: "{event:d}"}',
            "channels.push.title: '{event:d}' is not a title: Unknown format code 'd' for "
            "object of type 'str'",
        ),
        (
            'ap: {provider: apprise, targets: {alice: {urls: "${ALICE}"}}}',
            "{type: apprise, account: app}",
            "channels.push.account: no account named 'app' in accounts (did you mean 'ap'?)",
        ),
        (
            'ap: {provider: apprise, targets: {alice: {urls: "${ALICE}"}}}',
            "{type: apprise, acount: ap}",
            "channels.push.acount: unknown key 'acount' (did you mean 'account'?)|"
            "channels.push.account: missing required key 'account'",
        ),
    ],
)
def test_the_accounts_and_channels_mistakes(tmp_path, account, channel, expected):
    path = write(tmp_path, account, channel or "{type: apprise, account: ap}")
    found = problems(path, ALICE=GOOD)
    for part in expected.split("|"):
        assert any(part in p for p in found), found


def test_config_check_without_the_secrets_warns_and_passes(tmp_path):
    write(tmp_path, 'ap: {provider: apprise, targets: {alice: {urls: "${NK_ALICE_URL}"}}}')
    result = cli(tmp_path, "config", "check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "environment variable NK_ALICE_URL not set" in result.stdout
    assert "OK (1 account, 1 channel, 1 recipient" in result.stdout


def test_config_check_reports_a_bad_url_without_quoting_it(tmp_path):
    from tests.apprise_channel.conftest import cli_env

    write(tmp_path, 'ap: {provider: apprise, targets: {alice: {urls: "${NK_ALICE_URL}"}}}')
    env = cli_env(tmp_path, NK_ALICE_URL=f"tgram://{TOKEN}/")
    result = cli(tmp_path, "config", "check", env=env)
    assert result.returncode == 3
    assert "accounts.ap.targets.alice.urls: Apprise's Telegram plugin (tgram://) cannot use" in (
        result.stdout
    )
    assert TOKEN not in result.stdout + result.stderr


def test_a_url_written_in_the_file_is_a_warning(tmp_path):
    write(tmp_path, f'ap: {{provider: apprise, targets: {{alice: {{urls: "{GOOD}"}}}}}}')
    result = cli(tmp_path, "config", "check", "--strict")
    assert result.returncode == 3
    assert "a secret is written in the file" in result.stdout
    assert TOKEN not in result.stdout + result.stderr
