"""``--sandbox`` swaps every Twilio account for the plugin's fake, in-process: the auth token
need not be set (nor its variable), and nothing reaches the configured server."""

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
from notifykit_twilio.fake import FakeTwilio
from tests.twilio_channel.conftest import write_config


def test_the_sandbox_sends_to_the_fake(
    pm: pluggy.PluginManager, fake: FakeTwilio, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="notifykit_twilio")
    path = write_config(tmp_path, fake.base_url)  # a real server: a request reaching it shows
    with Notifier.from_config(path, plugin_manager=pm, sandbox=True, environ={}) as kit:
        report = kit.notify("db.down", channels=["sms", "call"], data={"host": "db1"})
    assert [d.state for d in report.deliveries] == [DeliveryState.SENT] * 2
    assert fake.requests == []
    lines = [r.getMessage() for r in caplog.records if r.name == "notifykit_twilio.fake"]
    assert any("Twilio sandbox received POST Messages" in line for line in lines)
    assert any("Twilio sandbox received POST Calls" in line for line in lines)


def test_notifykit_sandbox_notify_on_the_command_line(site: Path, tmp_path: Path) -> None:
    path = write_config(tmp_path, "https://api.twilio.invalid")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NK_TWILIO")}
    command = ["notifykit", "--sandbox", "-v", "--config", str(path), "notify", "db.down"]
    done = subprocess.run(
        [sys.executable, "-m", *command, "--data", "host=db1"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "sent" in done.stdout
    assert "Twilio sandbox received POST Messages" in done.stderr


def test_the_sandbox_plays_no_call_whose_urls_leave_the_machine(
    pm: pluggy.PluginManager, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.server.support import wait_until

    caplog.set_level(logging.INFO, logger="notifykit_twilio")
    server = {"public_url": "https://pager.example.invalid"}
    path = write_config(tmp_path, "https://api.twilio.invalid", server=server)
    with Notifier.from_config(path, plugin_manager=pm, sandbox=True, environ={}) as kit:
        [call] = kit.notify("db.down", channels=["call"], data={"host": "db1"}).deliveries
        assert call.state is DeliveryState.SENT, call.error

        def said() -> list[str]:
            return [r.getMessage() for r in caplog.records if "did not play" in r.getMessage()]

        wait_until(lambda: said() != [])
    assert "its URLs are not on this machine" in said()[0]
