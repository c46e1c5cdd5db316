"""Which Twilio refusals lie with the *account* (``DeliveryResult.account``: what makes a channel
with a ``fallback`` hand the message on) and which do not, for SMS and calls, over real HTTP to
the fake Twilio: wrong credentials, an account not active (suspended, out of funds), a trial
account's limits, a ``from`` that is not the account's are the account's; an invalid number, an
unsubscribed recipient, a throttle, an answer that may have been sent are not."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from notifykit import Notifier
from notifykit.channels.base import DeliveryResult, DeliveryState, Message, Recipient
from notifykit_twilio.fake import FakeTwilio, Fault, closed_url
from tests.twilio_channel.conftest import ACCOUNT_SID, AUTH_TOKEN, PHONES, write_config

ALICE = Recipient("alice", PHONES[0])
BOB = Recipient("bob", PHONES[1])
TEXT = "ALERT CRITICAL: database db1 is down."

CHANNELS = pytest.mark.parametrize("channel", ["sms", "call"])


def send(kit: Notifier, channel: str, *recipients: Recipient) -> Sequence[DeliveryResult]:
    """The channel's own results (``DeliveryResult``, which the report does not carry)."""
    chosen = kit.channels[channel]
    message = chosen.prepare(Message(event="db.down", severity="critical", text=TEXT))
    return chosen.send(message, list(recipients or [ALICE]))


def assert_account(result: DeliveryResult, expected: bool) -> None:
    assert result.state is DeliveryState.FAILED, result
    assert result.account is expected, result.error
    assert result.provider_side is expected and not result.transient
    assert AUTH_TOKEN not in (result.error or "")


@pytest.fixture
def kit(make_kit: Callable[..., Notifier], fake: FakeTwilio, tmp_path: Path) -> Notifier:
    return make_kit(write_config(tmp_path, fake.base_url))


@CHANNELS
@pytest.mark.parametrize(
    "fault",
    [
        Fault("unauthorized"),  # 401, 20003
        Fault("funds"),  # 401, 10001: not active, out of funds
        Fault("unverified"),  # 400, 21608/21219: a trial account, an unverified number
        # Twilio's error pages (looked up): 20005 "Account not active" and 10001 for a
        # suspended account; the HTTP status of each is not documented (401 and 403 here)
        Fault("error", status=401, code=20005, message="Account not active"),
        Fault("error", status=403, code=10001, message="Account is not active"),
        Fault("error", status=400, code=10002, message="Trial account does not support this"),
        Fault("error", status=400, code=21606, message="The From phone number is not valid"),
        Fault("error", status=400, code=21408, message="Permission to send to this region"),
        # a 403 whose code is not in the table: Twilio refused the credentials' access
        Fault("error", status=403, code=20008, message="Not accessible with test credentials"),
    ],
    ids=lambda f: f.kind if f.kind != "error" else f"error-{f.code}",
)
def test_account_side_answers(kit: Notifier, fake: FakeTwilio, channel: str, fault: Fault) -> None:
    fake.inject(fault)
    [result] = send(kit, channel)
    assert_account(result, True)
    assert result.info["cause"] == "account"


@CHANNELS
def test_the_fakes_own_trial_restriction_is_the_accounts(
    make_kit: Callable[..., Notifier], tmp_path: Path, channel: str
) -> None:
    with FakeTwilio(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, verified=[PHONES[1]]) as fake:
        kit = make_kit(write_config(tmp_path, fake.base_url))
        unverified, verified = send(kit, channel, ALICE, BOB)
    assert_account(unverified, True)
    assert verified.state is DeliveryState.SENT and not verified.account


@CHANNELS
def test_a_wrong_auth_token_is_the_accounts(
    make_kit: Callable[..., Notifier], fake: FakeTwilio, tmp_path: Path, channel: str
) -> None:
    path = write_config(tmp_path, fake.base_url)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NK_TWILIO_AUTH_TOKEN", "not-the-auth-token-at-all")
        kit = make_kit(path)  # the fake itself refuses the credentials (401, 20003)
    [result] = send(kit, channel)
    assert_account(result, True)
    assert result.info["provider_code"] == "20003"


@CHANNELS
@pytest.mark.parametrize(
    "fault",
    [
        Fault("number"),  # 400, 21211
        Fault("error", status=400, code=21610, message="Attempt to send to unsubscribed"),
        Fault("error", status=400, code=21614, message="'To' number is not a valid mobile"),
        Fault("error", status=400, code=21617, message="The body exceeds 1600 characters"),
    ],
    ids=lambda f: f.kind if f.kind != "error" else f"error-{f.code}",
)
def test_recipient_and_request_refusals_are_not_the_accounts(
    kit: Notifier, fake: FakeTwilio, channel: str, fault: Fault
) -> None:
    fake.inject(fault)
    [result] = send(kit, channel)
    assert_account(result, False)
    assert result.info["cause"] in ("recipient", "request")


@CHANNELS
def test_a_throttle_is_transient_not_the_accounts(
    kit: Notifier, fake: FakeTwilio, channel: str
) -> None:
    fake.inject(Fault("throttled"))
    [result] = send(kit, channel)
    assert result.state is DeliveryState.FAILED and result.transient
    assert not result.account and result.provider_side  # falls over once its retries end


def test_a_refused_connection_is_transient_not_the_accounts(
    make_kit: Callable[..., Notifier], tmp_path: Path
) -> None:
    [result] = send(make_kit(write_config(tmp_path, closed_url())), "sms")
    assert result.state is DeliveryState.FAILED and result.transient and not result.account


@CHANNELS
@pytest.mark.parametrize("kind", ["server", "drop"])
def test_an_answer_that_may_have_been_sent_is_never_the_accounts(
    kit: Notifier, fake: FakeTwilio, channel: str, kind: str
) -> None:
    fake.inject(Fault(kind))  # type: ignore[arg-type]
    [result] = send(kit, channel)
    assert result.state is DeliveryState.UNKNOWN
    assert not result.account and not result.provider_side
