"""Sending through the fake Twilio over real HTTP, with the official ``twilio`` package: what
goes on the wire (the account's Basic auth, To/From/Body; a call's TwiML), the Message or Call
SID as the provider id, a Messaging Service instead of ``from``."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

from notifykit import Notifier
from notifykit.report import DeliveryState
from notifykit_twilio.fake import FakeTwilio
from tests.twilio_channel.conftest import ACCOUNT_SID, AUTH_TOKEN, FROM, PHONES, write_config


def test_an_sms_goes_out_with_its_body_and_the_message_sid(
    make_kit: Callable[..., Notifier], fake: FakeTwilio, tmp_path: Path
) -> None:
    kit = make_kit(write_config(tmp_path, fake.base_url))
    [delivery] = kit.notify("db.down", data={"host": "db1"}).deliveries
    assert delivery.state is DeliveryState.SENT, delivery.error
    [request] = fake.requests
    assert request.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    basic = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    assert request.headers["authorization"] == f"Basic {basic}"
    assert request.headers["user-agent"].startswith("twilio-python/")  # the official package
    assert (request.get("To"), request.get("From")) == (PHONES[0], FROM)
    assert request.get("Body") == "ALERT CRITICAL: database db1 is down."
    assert request.get("StatusCallback") is None  # no server.public_url
    assert delivery.provider_id == request.sid and (request.sid or "").startswith("SM")
    assert delivery.provider_status == "queued"
    assert delivery.info["segments"] == 1


def test_each_recipient_gets_its_own_message(
    make_kit: Callable[..., Notifier], fake: FakeTwilio, tmp_path: Path
) -> None:
    kit = make_kit(write_config(tmp_path, fake.base_url))
    report = kit.notify("db.down", to=["alice", "bob"], data={"host": "db1"})
    assert [d.state for d in report.deliveries] == [DeliveryState.SENT] * 2
    assert sorted(r.get("To") or "" for r in fake.requests) == sorted(PHONES)
    assert {d.provider_id for d in report.deliveries} == {r.sid for r in fake.requests}


def test_a_messaging_service_replaces_from(
    make_kit: Callable[..., Notifier], fake: FakeTwilio, tmp_path: Path
) -> None:
    service = "MG" + "ab" * 16
    path = write_config(
        tmp_path, fake.base_url, account={"from": None, "messaging_service_sid": service}
    )
    path.write_text(
        path.read_text().replace(
            "  call:\n    type: twilio-call\n    account: tw\n", ""
        ),  # a call needs a number
        encoding="utf-8",
    )
    [delivery] = make_kit(path).notify("db.down", data={"host": "db1"}).deliveries
    assert delivery.state is DeliveryState.SENT, delivery.error
    [request] = fake.requests
    assert (request.get("MessagingServiceSid"), request.get("From")) == (service, None)


def test_a_call_without_public_url_says_the_text_inline(
    make_kit: Callable[..., Notifier], fake: FakeTwilio, tmp_path: Path
) -> None:
    kit = make_kit(write_config(tmp_path, fake.base_url))
    [delivery] = kit.notify("db.down", channels=["call"], data={"host": "db1"}).deliveries
    assert delivery.state is DeliveryState.SENT, delivery.error
    [request] = fake.requests
    assert request.path.endswith("/Calls.json") and (request.sid or "").startswith("CA")
    assert request.get("Url") is None
    twiml = request.get("Twiml") or ""
    assert "<Say" in twiml and "<Gather" not in twiml
    assert "This is a critical alert: database db1 is down." in twiml
    run = fake.play_call(delivery.provider_id or "")
    assert run.spoken == ["This is a critical alert: database db1 is down."] * 2


def test_a_body_longer_than_twilio_takes_is_stopped_before_sending(
    make_kit: Callable[..., Notifier], fake: FakeTwilio, tmp_path: Path
) -> None:
    import pytest

    from notifykit.errors import TemplateRenderError

    kit = make_kit(write_config(tmp_path, fake.base_url))
    with pytest.raises(TemplateRenderError, match="longer than 1600"):
        kit.send("sms", to="alice", body="x" * 1601)
    assert fake.requests == []
