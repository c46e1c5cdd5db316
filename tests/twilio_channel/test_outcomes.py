"""Each of the fake Twilio's faults, over real HTTP, maps to the delivery state that never pages
a person twice, with the side the failure lies with in ``info["cause"]``: a refusal is
``failed`` (certainly not sent), a request that may have reached Twilio is ``unknown`` and is
never sent again, a refused connection is ``failed`` and transient."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from notifykit import Notifier
from notifykit.report import DeliveryState
from notifykit_twilio.fake import FakeTwilio, Fault, closed_url
from tests.twilio_channel.conftest import PHONES, write_config


@pytest.mark.parametrize("channel", ["sms", "call"])
@pytest.mark.parametrize(
    ("fault", "state", "cause", "code", "words"),
    [
        ("unauthorized", DeliveryState.FAILED, "account", "20003", "account_sid and auth_token"),
        ("number", DeliveryState.FAILED, "recipient", "21211", "recipient's phone number"),
        ("unverified", DeliveryState.FAILED, "account", None, "trial account"),
        ("funds", DeliveryState.FAILED, "account", "10001", "not active"),
        ("throttled", DeliveryState.FAILED, "throttled", "20429", "tried again later"),
        ("server", DeliveryState.UNKNOWN, "unknown", "20500", "may have been sent"),
    ],
)
def test_each_refusal_maps_to_its_state_and_cause(
    make_kit: Callable[..., Notifier],
    fake: FakeTwilio,
    tmp_path: Path,
    channel: str,
    fault: str,
    state: DeliveryState,
    cause: str,
    code: str | None,
    words: str,
) -> None:
    fake.inject(Fault(fault))  # type: ignore[arg-type]
    kit = make_kit(write_config(tmp_path, fake.base_url))
    [delivery] = kit.notify("db.down", channels=[channel], data={"host": "db1"}).deliveries
    assert delivery.state is state, delivery.error
    assert delivery.info["cause"] == cause
    if code is not None:
        assert delivery.info["provider_code"] == code
    else:  # unverified: 21608 for a message, 21219 for a call
        assert delivery.info["provider_code"] == ("21608" if channel == "sms" else "21219")
    assert words in (delivery.error or "")
    assert len(fake.requests) == 1  # one request: nothing resent


def test_a_dropped_connection_after_the_request_is_unknown_and_never_resent(
    make_kit: Callable[..., Notifier], fake: FakeTwilio, tmp_path: Path
) -> None:
    fake.inject(Fault("drop"))
    kit = make_kit(write_config(tmp_path, fake.base_url))
    [delivery] = kit.notify("db.down", data={"host": "db1"}).deliveries
    assert delivery.state is DeliveryState.UNKNOWN, delivery.error
    assert delivery.info["cause"] == "unknown"
    assert "may have been sent; not sent again" in (delivery.error or "")
    kit.worker(threads=1, poll=0.05).run(drain=True)
    assert len(fake.requests) == 1
    assert kit.report(delivery.notification_id).deliveries[0].state is DeliveryState.UNKNOWN


def test_an_answer_slower_than_the_timeout_is_unknown(
    make_kit: Callable[..., Notifier], fake: FakeTwilio, tmp_path: Path
) -> None:
    fake.inject(Fault("slow", delay=3.0))
    kit = make_kit(write_config(tmp_path, fake.base_url))
    [delivery] = kit.notify("db.down", channels=["call"], data={"host": "db1"}).deliveries
    assert delivery.state is DeliveryState.UNKNOWN, delivery.error
    assert "did not answer within 1s" in (delivery.error or "")


def test_a_refused_connection_is_failed_and_certainly_not_sent(
    make_kit: Callable[..., Notifier], tmp_path: Path
) -> None:
    kit = make_kit(write_config(tmp_path, closed_url()))
    [delivery] = kit.notify("db.down", data={"host": "db1"}).deliveries
    assert delivery.state is DeliveryState.FAILED, delivery.error
    assert delivery.info["cause"] == "connection"
    assert (delivery.error or "").startswith("not sent: could not connect to Twilio (account tw)")


def test_wrong_credentials_without_a_fault_are_refused_by_the_fake_too(
    make_kit: Callable[..., Notifier], fake: FakeTwilio, tmp_path: Path
) -> None:
    path = write_config(tmp_path, fake.base_url, account={"account_sid": "AC" + "f" * 32})
    [delivery] = make_kit(path).notify("db.down", data={"host": "db1"}).deliveries
    assert delivery.state is DeliveryState.FAILED
    assert (delivery.info["cause"], delivery.info["provider_code"]) == ("account", "20003")


def test_a_trial_account_reaches_its_verified_numbers_only(
    make_kit: Callable[..., Notifier], tmp_path: Path
) -> None:
    from tests.twilio_channel.conftest import ACCOUNT_SID, AUTH_TOKEN

    with FakeTwilio(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, verified={PHONES[0]}) as trial:
        kit = make_kit(write_config(tmp_path, trial.base_url))
        report = kit.notify("db.down", to=["alice", "bob"], data={"host": "db1"})
    alice, bob = sorted(report.deliveries, key=lambda d: d.address or "")
    assert alice.state is DeliveryState.SENT
    assert bob.state is DeliveryState.FAILED and bob.info["provider_code"] == "21608"
    assert "verify the number in Twilio's console" in (bob.error or "")


@pytest.mark.parametrize(
    ("status", "code", "message", "cause", "transient"),
    [
        (400, 21610, "Attempt to send to unsubscribed recipient", "recipient", False),
        (400, 21614, "'To' number is not a valid mobile number", "recipient", False),
        (
            400,
            21606,
            "The 'From' phone number provided is not a valid message-capable",
            "account",
            False,
        ),
        (
            400,
            21408,
            "Permission to send an SMS has not been enabled for the region",
            "account",
            False,
        ),
        (400, 21999, "Your account has insufficient funds", "account", False),
        (403, 20003, "Permission denied", "account", False),
        (404, 20404, "The requested resource was not found", "account", False),
        (400, 21602, "Message body is required.", "request", False),
    ],
)
def test_twilio_error_codes_map_to_the_side_they_lie_with(
    make_kit: Callable[..., Notifier],
    fake: FakeTwilio,
    tmp_path: Path,
    status: int,
    code: int,
    message: str,
    cause: str,
    transient: bool,
) -> None:
    fake.inject(Fault("error", status=status, code=code, message=message))
    kit = make_kit(write_config(tmp_path, fake.base_url))
    [delivery] = kit.notify("db.down", data={"host": "db1"}).deliveries
    assert delivery.state is DeliveryState.FAILED, delivery.error
    assert (delivery.info["cause"], delivery.info["provider_code"]) == (cause, str(code))
    assert message in (delivery.error or "")
    assert len(fake.requests) == 1
