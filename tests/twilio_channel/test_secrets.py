"""No auth token anywhere: not in a delivery's error, the ledger, the log, a repr, the command
line's output, whatever Twilio answers."""

from __future__ import annotations

import base64
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from notifykit import Notifier
from notifykit_twilio.client import TwilioClient
from notifykit_twilio.fake import FakeTwilio, Fault, closed_url
from tests.twilio_channel.conftest import ACCOUNT_SID, AUTH_TOKEN, write_config

BASIC = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()


@pytest.mark.parametrize("fault", ["unauthorized", "server", "drop", "slow", "funds"])
def test_no_auth_token_in_errors_logs_reprs_or_the_ledger(
    make_kit: Callable[..., Notifier],
    fake: FakeTwilio,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    fault: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.inject(Fault(fault, delay=2.0))  # type: ignore[arg-type]
    kit = make_kit(write_config(tmp_path, fake.base_url))
    report = kit.notify("db.down", channels=["sms", "call"], data={"host": "db1"})
    shown = repr(report) + repr(kit) + repr(kit.channels) + repr(kit.client("tw"))
    shown += "".join(f"{d.error}{d.info}" for d in report.deliveries)
    shown += caplog.text
    for secret in (AUTH_TOKEN, BASIC):
        assert secret not in shown
        assert secret.encode() not in (tmp_path / "ledger.db").read_bytes()


def test_the_client_scrubs_the_token_from_what_twilio_echoes() -> None:
    client = TwilioClient(ACCOUNT_SID, AUTH_TOKEN, base_url=closed_url())
    assert AUTH_TOKEN not in repr(client)
    assert client.scrub(f"bad token {AUTH_TOKEN} / Basic {BASIC}") == "bad token *** / Basic ***"
    with pytest.raises(Exception, match="could not connect") as info:
        client.send_sms(
            to="+14155550111",
            body="x",
            from_number="+14155550100",
            messaging_service_sid=None,
            status_callback=None,
        )
    assert AUTH_TOKEN not in str(info.value) and AUTH_TOKEN not in repr(info.value)
    client.close()


def test_the_cli_prints_no_auth_token(site: Path, fake: FakeTwilio, tmp_path: Path) -> None:
    fake.inject(Fault("unauthorized"))
    path = write_config(tmp_path, fake.base_url)
    env = {**os.environ, "NK_TWILIO_AUTH_TOKEN": AUTH_TOKEN}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "notifykit",
            "-v",
            "-c",
            str(path),
            "notify",
            "db.down",
            "--data",
            "host=db1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert "failed" in done.stdout + done.stderr
    assert AUTH_TOKEN not in done.stdout + done.stderr
    assert BASIC not in done.stdout + done.stderr
