"""MSG91's delivery reports (its v2 and v3 webhook bodies, as its help page shows them) read as
status updates by request id, and a report applied to a real delivery through the core's status
callback, which moves it from sent to delivered or failed."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

import pytest

from notifykit import Notifier
from notifykit.channels import DeliveryState
from notifykit_msg91.callbacks import parse_delivery_report
from notifykit_msg91.fake import FakeMsg91
from tests.msg91.conftest import write_config

FORM = "application/x-www-form-urlencoded"


def _v2(request_id: str, status: str, desc: str, **extra: str) -> bytes:
    report = {"date": "2024-05-22 10:06:20", "number": "919876543210", "status": status}
    report.update(desc=desc, **extra)
    data = [{"senderId": "NKALRT", "requestId": request_id, "report": [report], "userId": "1"}]
    return urlencode({"data": json.dumps(data)}).encode()


def _v3(request_id: str, status: str, desc: str) -> bytes:
    body = {"requestId": request_id, "number": "919876543210", "status": status, "desc": desc}
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("status", "desc", "state", "detail"),
    [
        ("1", "DELIVERED", DeliveryState.DELIVERED, None),
        ("2", "FAILED", DeliveryState.FAILED, "FAILED"),
        ("9", "NDNC", DeliveryState.FAILED, "NDNC"),
        ("16", "REJECTED", DeliveryState.FAILED, "REJECTED"),
        ("17", "BLOCKED", DeliveryState.FAILED, "BLOCKED"),
        ("8", "SUBMITTED", None, None),
    ],
)
def test_both_versions(
    status: str, desc: str, state: DeliveryState | None, detail: str | None
) -> None:
    for body, content_type in (
        (_v2("3365646f1234", status, desc), FORM),
        (_v3("3365646f1234", status, desc), "application/json; charset=utf-8"),
    ):
        [update] = parse_delivery_report(body, content_type)
        assert (update.provider_id, update.state, update.detail) == ("3365646f1234", state, detail)
        assert update.provider_status == desc
        assert update.info == {"number": "919876543210"}


def test_a_failed_reason_is_the_detail() -> None:
    body = _v2("r1", "2", "FAILED", failedReason="DLT template mismatch")
    [update] = parse_delivery_report(body, FORM)
    assert update.detail == "DLT template mismatch"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"Status=sent", FORM),
        (b"not json", "application/json"),
        (b'{"hello": "world"}', "application/json"),
        (b"x" * 300_000, "application/json"),
    ],
)
def test_what_is_not_a_report_is_refused(body: bytes, content_type: str) -> None:
    with pytest.raises(ValueError, match="MSG91 delivery report"):
        parse_delivery_report(body, content_type)


def test_a_report_moves_a_sent_delivery_to_delivered(
    make_kit: Callable[..., Notifier], fake: FakeMsg91, tmp_path: Path
) -> None:
    # A status server gives each batch its callback token (MSG91 cannot be told a URL per
    # request: its reports go to the account's webhook; here the core's route is driven by hand).
    path = write_config(tmp_path, fake.base_url, server={"public_url": "http://127.0.0.1:9"})
    kit = make_kit(path)
    submission = kit.submit("db.down", data={"host": "db1"})
    kit.worker(threads=1, poll=0.05).run(drain=True)
    [delivery] = kit.report(submission.id).deliveries
    assert delivery.state is DeliveryState.SENT and delivery.provider_id
    with sqlite3.connect(tmp_path / "ledger.db") as db:
        [(token,)] = db.execute(
            "SELECT callback_token FROM deliveries WHERE id = ?", (delivery.id,)
        )
    report = _v3(delivery.provider_id, "1", "DELIVERED")
    assert kit.handle_status_callback(token, report, "application/json") == 200
    [delivery] = kit.report(submission.id).deliveries
    assert delivery.state is DeliveryState.DELIVERED
    assert delivery.provider_status == "DELIVERED"
    assert kit.handle_status_callback(token, b"{}", "application/json") == 400
