"""Twilio's status callbacks: every message and call status mapped (parse_status), and a
callback the fake posts to the status server over real HTTP moves the delivery."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

from notifykit import Notifier
from notifykit.channels import DeliveryState
from notifykit.server import StatusServer
from notifykit_twilio.callbacks import parse_status_callback
from notifykit_twilio.fake import FakeTwilio
from tests.server.support import free_port, wait_until
from tests.twilio_channel.conftest import write_config

FORM = "application/x-www-form-urlencoded"
SM = "SM" + "1" * 32
CA = "CA" + "2" * 32


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("queued", None),
        ("sending", None),
        ("sent", DeliveryState.SENT),
        ("delivered", DeliveryState.DELIVERED),
        ("read", DeliveryState.DELIVERED),
        ("undelivered", DeliveryState.FAILED),
        ("failed", DeliveryState.FAILED),
    ],
)
def test_message_statuses(status: str, state: DeliveryState | None) -> None:
    body = urlencode({"MessageSid": SM, "MessageStatus": status, "ErrorCode": "30003"})
    [update] = parse_status_callback(body.encode(), FORM)
    assert (update.provider_id, update.state, update.provider_status) == (SM, state, status)
    if state is DeliveryState.FAILED:
        assert update.detail == f"{status} (error 30003)"


@pytest.mark.parametrize(
    ("status", "state", "detail"),
    [
        ("initiated", None, None),
        ("ringing", None, None),
        ("in-progress", None, None),
        ("completed", DeliveryState.DELIVERED, None),
        ("busy", DeliveryState.FAILED, "the line was busy"),
        ("no-answer", DeliveryState.FAILED, "nobody answered"),
        ("failed", DeliveryState.FAILED, "the call could not be placed"),
        ("canceled", DeliveryState.FAILED, "the call was cancelled"),
    ],
)
def test_call_statuses(status: str, state: DeliveryState | None, detail: str | None) -> None:
    body = urlencode({"CallSid": CA, "CallStatus": status, "CallDuration": "7"})
    [update] = parse_status_callback(body.encode(), FORM + "; charset=utf-8")
    assert (update.provider_id, update.state, update.detail) == (CA, state, detail)
    if status == "completed":
        assert update.info["answered"] == "true"


@pytest.mark.parametrize(
    "body", [b"", b"MessageSid=SM1", b'{"MessageSid": "x"}', b"x" * (65 * 1024)]
)
def test_a_body_that_is_not_a_status_callback_is_refused(body: bytes) -> None:
    with pytest.raises(ValueError, match=r"Twilio status callback|no Twilio status"):
        parse_status_callback(body, FORM)


@pytest.fixture
def served(
    tmp_path: Path, fake: FakeTwilio, make_kit: Callable[..., Notifier]
) -> Iterator[Notifier]:
    port = free_port()
    server = {"public_url": f"http://127.0.0.1:{port}", "port": port}
    kit = make_kit(write_config(tmp_path, fake.base_url, server=server))
    with StatusServer(kit, "127.0.0.1", port):
        yield kit


def _state(kit: Notifier, notification_id: str) -> DeliveryState:
    return kit.report(notification_id).deliveries[0].state


def test_a_delivery_report_reaches_the_delivery(served: Notifier, fake: FakeTwilio) -> None:
    kit = served
    [delivery] = kit.notify("db.down", data={"host": "db1"}).deliveries
    [request] = fake.requests
    assert (request.get("StatusCallback") or "").startswith(kit.config.server.public_url or "-")
    step = fake.report(delivery.provider_id or "", "delivered")
    assert step.status == 200
    wait_until(lambda: _state(kit, delivery.notification_id) is DeliveryState.DELIVERED)


def test_an_undelivered_report_fails_the_delivery(served: Notifier, fake: FakeTwilio) -> None:
    kit = served
    [delivery] = kit.notify("db.down", data={"host": "db1"}).deliveries
    assert fake.report(delivery.provider_id or "", "undelivered", error_code="30005").status == 200
    wait_until(lambda: _state(kit, delivery.notification_id) is DeliveryState.FAILED)
    [after] = kit.report(delivery.notification_id).deliveries
    assert "30005" in (after.provider_detail or after.error or "")


def test_a_call_answered_is_delivered_and_one_not_answered_failed(
    served: Notifier, fake: FakeTwilio
) -> None:
    kit = served
    [answered] = kit.notify("db.down", channels=["call"], data={"host": "db1"}).deliveries
    [missed] = kit.notify("db.down", channels=["call"], data={"host": "db2"}).deliveries
    fake.play_call(answered.provider_id or "", status="completed")
    fake.play_call(missed.provider_id or "", status="no-answer")
    wait_until(lambda: _state(kit, answered.notification_id) is DeliveryState.DELIVERED)
    wait_until(lambda: _state(kit, missed.notification_id) is DeliveryState.FAILED)
