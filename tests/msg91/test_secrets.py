"""No secret anywhere: the authkey stays out of delivery errors, reports, logs (urllib3's own
DEBUG lines included), reprs, the ledger file and what the CLI prints, even when MSG91 echoes it
back."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from notifykit import Notifier
from notifykit_msg91.fake import FakeMsg91, Fault, closed_url
from tests.msg91.conftest import AUTHKEY, write_config

ECHO = f"authkey {AUTHKEY} is not valid"
FAULTS = [
    Fault("unauthorized", message=ECHO),
    Fault("balance", message=ECHO),
    Fault("template", message=ECHO),
    Fault("server", message=ECHO),
    Fault("throttled", message=ECHO),
    Fault("slow", delay=1.5),
    Fault("drop"),
]


@pytest.mark.parametrize("fault", FAULTS, ids=[f.kind for f in FAULTS])
def test_no_authkey_in_errors_logs_reprs_or_the_ledger(
    make_kit: Callable[..., Notifier],
    fake: FakeMsg91,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    fault: Fault,
) -> None:
    caplog.set_level(logging.DEBUG)
    kit = make_kit(write_config(tmp_path, fake.base_url))
    fake.inject(fault)
    report = kit.notify("db.down", data={"host": "db1"})
    [delivery] = report.deliveries
    assert delivery.error and delivery.state.value in ("unknown", "failed")
    assert fake.requests[0].headers["authkey"] == AUTHKEY  # it was sent, in its header
    shown = [
        delivery.error,
        repr(delivery),
        repr(report),
        caplog.text,
        repr(kit.channels["sms"]),
        repr(kit.config),
        repr(kit.config.accounts["m91"]),
    ]
    kit.close()
    shown.append((tmp_path / "ledger.db").read_bytes().decode("latin-1"))
    for text in shown:
        assert AUTHKEY not in text, text
    if fault.message:
        assert "authkey *** is not valid" in delivery.error or fault.kind == "throttled"


def test_a_refused_connection_shows_no_authkey(
    make_kit: Callable[..., Notifier], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    kit = make_kit(write_config(tmp_path, closed_url()))
    [delivery] = kit.notify("db.down", data={"host": "db1"}).deliveries
    assert delivery.state.value == "failed"
    assert AUTHKEY not in (delivery.error or "") + caplog.text


def test_the_client_repr_and_errors_show_no_authkey() -> None:
    from notifykit_msg91.client import Msg91Client, Msg91Error

    client = Msg91Client(AUTHKEY, base_url="http://127.0.0.1:9")
    assert AUTHKEY not in repr(client)
    with pytest.raises(Msg91Error) as info:
        client.read_answer(401, {}, f'{{"type": "error", "message": "{ECHO}", "code": "207"}}')
    assert AUTHKEY not in str(info.value) and "***" in str(info.value)


def test_the_cli_prints_no_authkey(site: Path, fake: FakeMsg91, tmp_path: Path) -> None:
    fake.inject(Fault("server", message=ECHO))
    path = write_config(tmp_path, fake.base_url)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "notifykit",
            "-v",
            "--config",
            str(path),
            "notify",
            "db.down",
            "--data",
            "host=db1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NK_MSG91_AUTHKEY": AUTHKEY},
    )
    assert done.returncode == 4, done.stdout + done.stderr  # outcome unknown
    assert "answered HTTP 500" in done.stdout + done.stderr
    assert AUTHKEY not in done.stdout + done.stderr
