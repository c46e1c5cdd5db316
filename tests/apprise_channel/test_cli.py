"""The Apprise plugin as the ``notifykit`` command sees it: loaded through its entry point
without importing Apprise; ``--sandbox`` notifies a local receiver and no real service, with or
without the URLs' secrets; without Apprise installed, ``config check`` and a send say how to
install it (exit 3) and send nothing."""

from __future__ import annotations

import json

from tests.apprise_channel.conftest import TOKEN, cli, cli_env, write_config

BLOCK_APPRISE = (
    "import sys\n"
    "sys.modules['apprise'] = None  # as if it were not installed: `import apprise` fails\n"
    "from notifykit.cli import main\n"
    "main(sys.argv[1:])\n"
)


def test_the_plugin_loads_through_its_entry_point_without_importing_apprise(tmp_path):
    code = (
        "import sys\n"
        "from notifykit.plugins import Registry, get_plugin_manager\n"
        "registry = Registry.from_manager(get_plugin_manager(disabled=[]))\n"
        "assert 'apprise' in registry.channel_types and 'apprise' in registry.providers\n"
        "print(','.join(m for m in ('apprise', 'notifykit_apprise.client') if m in sys.modules))\n"
    )
    result = cli(tmp_path, code=code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
    listed = cli(tmp_path, "plugins")
    assert listed.returncode == 0, listed.stderr
    assert "apprise" in listed.stdout


def test_sandbox_needs_no_url_and_reaches_no_service(tmp_path, receiver):
    write_config(tmp_path, store=":memory:")
    result = cli(
        tmp_path, "--sandbox", "--json", "send", "text", "--channel", "push", "--to",
        "alice,bob", "--body", "hello",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert [(d["recipient"], d["state"]) for d in report["deliveries"]] == [
        ("alice", "sent"),
        ("bob", "sent"),
    ]


def test_sandbox_with_the_urls_set_still_reaches_no_service(tmp_path, receiver, urls):
    write_config(tmp_path, store=":memory:")
    env = cli_env(tmp_path, **{f"NK_APPRISE_{n.upper()}": u for n, u in urls.items()})
    result = cli(
        tmp_path, "-v", "--sandbox", "notify", "db.down", "--severity", "critical",
        "--data", "host=db1", "--to", "alice,ops-room", env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 deliveries: 2 sent" in result.stdout
    # the sandbox's receiver took them (-v shows it), the services' own URLs got nothing
    assert result.stderr.count("notifykit_apprise.receiver: received (answered 200)") == 2
    assert receiver.received == []
    assert TOKEN not in result.stdout + result.stderr


def test_without_apprise_config_check_says_how_to_install_it(tmp_path, urls):
    write_config(tmp_path)
    env = cli_env(tmp_path, **{f"NK_APPRISE_{n.upper()}": u for n, u in urls.items()})
    result = cli(tmp_path, "config", "check", code=BLOCK_APPRISE, env=env)
    assert result.returncode == 3, result.stdout + result.stderr
    [problem] = [line for line in result.stdout.splitlines() if "accounts.ap" in line]
    assert problem.endswith(
        "accounts.ap: the Apprise library is not installed: pip install 'notifykit-pager[apprise]'"
    )


def test_without_apprise_a_send_says_how_to_install_it_and_sends_nothing(tmp_path, receiver, urls):
    write_config(tmp_path)
    env = cli_env(tmp_path, **{f"NK_APPRISE_{n.upper()}": u for n, u in urls.items()})
    result = cli(tmp_path, "notify", "db.down", "--to", "alice", code=BLOCK_APPRISE, env=env)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "pip install 'notifykit-pager[apprise]'" in result.stdout + result.stderr
    assert receiver.received == []
