"""Which webhook answers lie with the receiver or our credentials with it (``DeliveryResult
.account``: what makes a channel with a ``fallback`` hand the message on), over real HTTP to the
fake receiver: a signature or ``Authorization`` refused (401, 403), the receiver's plan (402),
an endpoint not there or retired (404, 410) are; a post refused for what it carries (400, 413,
422), a throttle, an answer that may have been received are not."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from notifykit import Notifier
from notifykit.channels.base import DeliveryResult, DeliveryState, Message, Recipient
from notifykit_webhook.fake import FakeReceiver, Fault, closed_url
from tests.webhook.conftest import AUTH, SECRET, write_config

OPS = Recipient("ops", None, addresses={"webhook": "#ops"})


def send(kit: Notifier, *recipients: Recipient) -> Sequence[DeliveryResult]:
    """The channel's own results (``DeliveryResult``, which the report does not carry)."""
    channel = kit.channels["hook"]
    message = channel.prepare(Message(event="db.down", severity="critical", text="db1 is down"))
    return channel.send(message, list(recipients or [OPS]))


def assert_account(result: DeliveryResult, expected: bool) -> None:
    assert result.state is DeliveryState.FAILED, result
    assert result.account is expected, result.error
    assert result.provider_side is expected and not result.transient
    shown = (result.error or "") + repr(result.info)
    assert SECRET not in shown and AUTH not in shown


@pytest.fixture
def kit(make_kit: Callable[..., Notifier], receiver: FakeReceiver, tmp_path: Path) -> Notifier:
    return make_kit(write_config(tmp_path, receiver.url))


@pytest.mark.parametrize("status", [401, 402, 403, 404, 410])
def test_account_side_answers(kit: Notifier, receiver: FakeReceiver, status: int) -> None:
    receiver.inject(Fault(status=status, body={"error": "refused"}))
    [result] = send(kit)
    assert_account(result, True)
    assert result.info["http_status"] == status
    assert len(receiver.posts) == 1


def test_a_signature_the_receiver_refuses_is_the_accounts(
    make_kit: Callable[..., Notifier], tmp_path: Path
) -> None:
    # the receiver checks the signature with another secret than ours: it answers 401
    with FakeReceiver(secret="an0ther-s3cr3t-value", require_signature=True) as receiver:
        kit = make_kit(write_config(tmp_path, receiver.url))
        [result] = send(kit)
        [post] = receiver.posts
    assert post.verified is False
    assert_account(result, True)
    assert "HTTP 401" in (result.error or "")


def test_a_signature_the_receiver_accepts_is_sent(
    make_kit: Callable[..., Notifier], tmp_path: Path
) -> None:
    with FakeReceiver(secret=SECRET, require_signature=True) as receiver:
        [result] = send(make_kit(write_config(tmp_path, receiver.url)))
    assert result.state is DeliveryState.SENT and not result.account


@pytest.mark.parametrize("status", [400, 405, 409, 413, 422])
def test_a_post_refused_for_what_it_carries_is_not_the_accounts(
    kit: Notifier, receiver: FakeReceiver, status: int
) -> None:
    receiver.inject(Fault(status=status, body={"error": "bad payload"}))
    [result] = send(kit)
    assert_account(result, False)


@pytest.mark.parametrize("status", [301, 308])
def test_a_redirect_is_not_the_accounts(kit: Notifier, receiver: FakeReceiver, status: int) -> None:
    receiver.inject(Fault(status=status, headers={"Location": "https://elsewhere.example/hook"}))
    [result] = send(kit)
    assert_account(result, False)


@pytest.mark.parametrize("status", [408, 429])
def test_a_throttle_is_transient_not_the_accounts(
    kit: Notifier, receiver: FakeReceiver, status: int
) -> None:
    receiver.inject(Fault(status=status, headers={"Retry-After": "3"}))
    [result] = send(kit)
    assert result.state is DeliveryState.FAILED and result.transient
    assert not result.account and result.provider_side  # falls over once its retries end


def test_a_refused_connection_is_transient_not_the_accounts(
    make_kit: Callable[..., Notifier], tmp_path: Path
) -> None:
    [result] = send(make_kit(write_config(tmp_path, closed_url())))
    assert result.state is DeliveryState.FAILED and result.transient and not result.account


@pytest.mark.parametrize("fault", [Fault(status=500), Fault(status=303), Fault(drop=True)])
def test_an_answer_that_may_have_been_received_is_never_the_accounts(
    kit: Notifier, receiver: FakeReceiver, fault: Fault
) -> None:
    receiver.inject(fault)
    [result] = send(kit)
    assert result.state is DeliveryState.UNKNOWN
    assert not result.account and not result.provider_side
