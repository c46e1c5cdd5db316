"""Which MSG91 refusals lie with the *account* (``DeliveryResult.account``: what makes a channel
with a ``fallback`` hand the message on) and which do not, over real HTTP to the fake MSG91: the
authkey, the IP whitelist, the balance, an expired or banned account are the account's; an
invalid number, a refused DLT template, a throttle, an answer that may have been sent are not."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from notifykit import Notifier
from notifykit.channels.base import DeliveryResult, DeliveryState, Message, Recipient
from notifykit_msg91.fake import FakeMsg91, Fault, closed_url
from tests.msg91.conftest import AUTHKEY, TEMPLATE_ID, write_config

ALICE = Recipient("alice", "+919876543210")
BOB = Recipient("bob", "+919876543211")
TEXT = "ALERT CRITICAL: database db1 is down. -ACME Ops"  # matches the registered pattern


def send(kit: Notifier, *recipients: Recipient) -> Sequence[DeliveryResult]:
    """The channel's own results (``DeliveryResult``, which the report does not carry)."""
    channel = kit.channels["sms"]
    message = Message(
        event="db.down",
        severity="critical",
        text=TEXT,
        options={"dlt_template_id": TEMPLATE_ID, "unicode": False},
    )
    return channel.send(message, list(recipients or [ALICE]))


@pytest.fixture
def kit(make_kit: Callable[..., Notifier], fake: FakeMsg91, tmp_path: Path) -> Notifier:
    return make_kit(write_config(tmp_path, fake.base_url))


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        ("unauthorized", "207"),
        ("ip", "418"),
        ("balance", "301"),
        ("expired", "302"),
        ("banned", "303"),
    ],
)
def test_account_side_answers(kit: Notifier, fake: FakeMsg91, kind: str, code: str) -> None:
    fake.inject(Fault(kind))  # type: ignore[arg-type]
    [result] = send(kit)
    assert result.state is DeliveryState.FAILED, result
    assert result.account and result.provider_side and not result.transient
    assert result.info["cause"] == "account" and result.info["provider_code"] == code
    assert AUTHKEY not in (result.error or "")
    assert len(fake.requests) == 1


def test_a_wrong_authkey_is_the_accounts(
    make_kit: Callable[..., Notifier], fake: FakeMsg91, tmp_path: Path, monkeypatch
) -> None:
    kit = make_kit(write_config(tmp_path, fake.base_url))
    monkeypatch.setenv("NK_MSG91_AUTHKEY", "not-the-authkey")
    wrong = make_kit(write_config(tmp_path, fake.base_url))  # the fake itself refuses it
    [result] = send(wrong)
    assert result.state is DeliveryState.FAILED and result.account, result
    [fine] = send(kit)
    assert fine.state is DeliveryState.SENT and not fine.account


def test_every_recipient_of_a_refused_account_falls_over(kit: Notifier, fake: FakeMsg91) -> None:
    fake.inject(Fault("balance", times=2))
    results = send(kit, ALICE, BOB)
    assert [r.recipient for r in results] == [ALICE, BOB]
    assert all(r.state is DeliveryState.FAILED and r.account for r in results)


@pytest.mark.parametrize(("kind", "cause"), [("number", "recipient"), ("template", "template")])
def test_recipient_and_message_refusals_are_not_the_accounts(
    kit: Notifier, fake: FakeMsg91, kind: str, cause: str
) -> None:
    fake.inject(Fault(kind))  # type: ignore[arg-type]
    [result] = send(kit)
    assert result.state is DeliveryState.FAILED and result.info["cause"] == cause
    assert not result.account and not result.provider_side


def test_a_throttle_is_transient_not_the_accounts(kit: Notifier, fake: FakeMsg91) -> None:
    fake.inject(Fault("throttled"))
    [result] = send(kit)
    assert result.state is DeliveryState.FAILED and result.transient
    assert not result.account and result.provider_side  # falls over once its retries end


def test_a_refused_connection_is_transient_not_the_accounts(
    make_kit: Callable[..., Notifier], tmp_path: Path
) -> None:
    [result] = send(make_kit(write_config(tmp_path, closed_url())))
    assert result.state is DeliveryState.FAILED and result.transient and not result.account


@pytest.mark.parametrize("kind", ["server", "drop"])
def test_an_answer_that_may_have_been_sent_is_never_the_accounts(
    kit: Notifier, fake: FakeMsg91, kind: str
) -> None:
    fake.inject(Fault(kind))  # type: ignore[arg-type]
    [result] = send(kit)
    assert result.state is DeliveryState.UNKNOWN
    assert not result.account and not result.provider_side
