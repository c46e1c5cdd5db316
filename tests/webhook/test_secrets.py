"""No secret anywhere: the channel's secret, its header values and the credentials in its URL
(a chat webhook's path token, a query token) stay out of delivery errors, reports, logs
(urllib3's own DEBUG lines included), reprs, the ledger file, and what the CLI prints."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from notifykit import Notifier
from notifykit_webhook.fake import FakeReceiver, Fault, closed_url
from tests.webhook.conftest import AUTH, SECRET, write_config

PATH_TOKEN = "pathT0k3nXYZ"
QUERY_TOKEN = "qu3ryT0k3nXYZ"
SECRETS = (SECRET, AUTH, PATH_TOKEN, QUERY_TOKEN)


def _url(base: str) -> str:
    return f"{base.rsplit('/', 1)[0]}/services/{PATH_TOKEN}?sig={QUERY_TOKEN}"


def _clean(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, (secret, text)


#: faults whose messages would carry what the receiver echoed, a Location, a reason
FAULTS = [
    Fault(status=500, body=f"echo {AUTH} {SECRET} /services/{PATH_TOKEN}?sig={QUERY_TOKEN}"),
    Fault(status=404, body={"error": f"no hook {PATH_TOKEN}", "auth": AUTH}),
    Fault(
        status=301, headers={"Location": f"https://moved.example/{PATH_TOKEN}?sig={QUERY_TOKEN}"}
    ),
    Fault(status=429, body=QUERY_TOKEN),
    Fault(delay=1.5),
    Fault(drop=True),
]


@pytest.mark.parametrize("fault", FAULTS, ids=["500", "404", "301", "429", "slow", "dropped"])
def test_no_secret_in_errors_logs_reprs_or_the_ledger(
    make_kit: Callable[..., Notifier],
    receiver: FakeReceiver,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    fault: Fault,
) -> None:
    caplog.set_level(logging.DEBUG)
    kit = make_kit(write_config(tmp_path, _url(receiver.url)))
    receiver.inject(fault)
    report = kit.notify("db.down", data={"host": "db1"})
    [delivery] = report.deliveries
    assert delivery.error and delivery.state.value in ("unknown", "failed")
    assert "the webhook at http://127.0.0.1:" in delivery.error  # where, without the path
    assert receiver.posts[0].path == f"/services/{PATH_TOKEN}?sig={QUERY_TOKEN}"  # it was there
    kit.close()
    debug = [r for r in caplog.records if r.name.startswith("urllib3")]
    assert debug  # urllib3's own lines were captured, and scrubbed
    _clean(
        delivery.error,
        repr(delivery),
        repr(report),
        report.to_json() if hasattr(report, "to_json") else "",
        caplog.text,
        repr(kit.channels["hook"]),
        repr(kit.config),
        (tmp_path / "ledger.db").read_bytes().decode("latin-1"),
    )


def test_a_refused_connection_shows_no_credential(
    make_kit: Callable[..., Notifier], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    kit = make_kit(write_config(tmp_path, _url(closed_url())))
    [delivery] = kit.notify("db.down").deliveries
    assert delivery.state.value == "failed"
    _clean(delivery.error or "", caplog.text)


def test_the_cli_prints_no_credential(site: Path, receiver: FakeReceiver, tmp_path: Path) -> None:
    receiver.inject(Fault(status=500, body=f"{AUTH} {SECRET} {PATH_TOKEN} {QUERY_TOKEN}"))
    path = write_config(tmp_path, _url(receiver.url))
    env = {"NK_WEBHOOK_SECRET": SECRET, "NK_WEBHOOK_AUTH": AUTH}
    done = subprocess.run(
        [sys.executable, "-m", "notifykit", "-v", "--config", str(path), "notify", "db.down"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**__import__("os").environ, **env},
    )
    assert done.returncode == 4, done.stdout + done.stderr  # outcome unknown
    assert "answered HTTP 500" in done.stdout + done.stderr
    _clean(done.stdout, done.stderr)
