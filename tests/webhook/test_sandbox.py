"""``--sandbox`` swaps every webhook channel's receiver for the plugin's fake, in-process: the
channel's url, secret and headers need not be set (nor their variables), posts are signed with a
throwaway secret the fake checks, and nothing reaches the configured URL."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pluggy
import pytest

from notifykit import Notifier
from notifykit.report import DeliveryState
from notifykit_webhook.fake import FakeReceiver
from tests.webhook.conftest import write_config


def test_the_sandbox_posts_to_the_fake(
    pm: pluggy.PluginManager,
    receiver: FakeReceiver,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="notifykit_webhook")
    # The configured receiver is real here, so a post reaching it would show.
    path = write_config(tmp_path, receiver.url)
    environ: dict[str, str] = {}  # NK_WEBHOOK_SECRET and NK_WEBHOOK_AUTH are not set
    with Notifier.from_config(path, plugin_manager=pm, sandbox=True, environ=environ) as kit:
        report = kit.notify("db.down", data={"host": "db1"})
    [delivery] = report.deliveries
    assert delivery.state is DeliveryState.SENT, delivery.error
    assert receiver.posts == []  # the configured URL got nothing
    [line] = [r.getMessage() for r in caplog.records if r.name == "notifykit_webhook.fake"]
    assert "webhook sandbox received POST /hook" in line and "signature valid" in line
    assert delivery.id in line


def test_without_the_sandbox_the_variables_are_required(
    pm: pluggy.PluginManager, receiver: FakeReceiver, tmp_path: Path
) -> None:
    from notifykit.errors import ConfigError

    with pytest.raises(ConfigError, match="NK_WEBHOOK_SECRET"):
        Notifier.from_config(write_config(tmp_path, receiver.url), plugin_manager=pm, environ={})


def test_notifykit_sandbox_notify_on_the_command_line(site: Path, tmp_path: Path) -> None:
    path = write_config(tmp_path, "https://hooks.invalid/never-posted")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NK_WEBHOOK")}
    command = ["notifykit", "--sandbox", "-v", "--config", str(path), "notify", "db.down"]
    done = subprocess.run(
        [sys.executable, "-m", *command, "--data", "host=db1"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "sent" in done.stdout
    assert "webhook sandbox received POST /hook" in done.stderr
