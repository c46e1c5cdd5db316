"""``--sandbox`` swaps every MSG91 account for the plugin's fake, in-process: the authkey need not
be set (nor its variable), the SMS is checked and sent as usual, and nothing reaches the
configured server."""

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
from notifykit_msg91.fake import FakeMsg91
from tests.msg91.conftest import write_config


def test_the_sandbox_sends_to_the_fake(
    pm: pluggy.PluginManager, fake: FakeMsg91, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="notifykit_msg91")
    path = write_config(tmp_path, fake.base_url)  # a real server: a request reaching it shows
    with Notifier.from_config(path, plugin_manager=pm, sandbox=True, environ={}) as kit:
        [delivery] = kit.notify("db.down", data={"host": "db1"}).deliveries
    assert delivery.state is DeliveryState.SENT, delivery.error
    assert fake.requests == []
    [line] = [r.getMessage() for r in caplog.records if r.name == "notifykit_msg91.fake"]
    assert "MSG91 sandbox received POST /api/v2/sendsms" in line
    assert (delivery.provider_id or "") in line


def test_the_sandbox_still_applies_the_dlt_check(pm: pluggy.PluginManager, tmp_path: Path) -> None:
    from notifykit.errors import DltMismatchError

    path = write_config(tmp_path, "https://api.msg91.com", text="DB {{ data.host }} is down")
    with Notifier.from_config(path, plugin_manager=pm, sandbox=True, environ={}) as kit:
        with pytest.raises(DltMismatchError):
            kit.notify("db.down", data={"host": "db1"})


def test_notifykit_sandbox_notify_on_the_command_line(site: Path, tmp_path: Path) -> None:
    path = write_config(tmp_path, "https://api.msg91.invalid")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NK_MSG91")}
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
    assert "MSG91 sandbox received POST /api/v2/sendsms" in done.stderr
