"""The Apprise channel never says a failure lies with the provider *account*
(``DeliveryResult.account``): Apprise reports a service's HTTP status at most, and a 401/403 is
as often about the person (a bot they blocked) as about the token in the target's URL. What is
transient (a refused connection, 429) is still on the provider's side, and falls over once its
retries end; over real HTTP to a local receiver."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from notifykit import Notifier
from notifykit.channels.base import DeliveryResult, DeliveryState, Message, Recipient
from notifykit_apprise.receiver import AppriseReceiver
from tests.apprise_channel.conftest import TOKEN, closed_port

ALICE = Recipient("alice", "+919876543210", addresses={"apprise": "alice"})


def send(kit: Notifier) -> Sequence[DeliveryResult]:
    """The channel's own results (``DeliveryResult``, which the report does not carry)."""
    channel = kit.channels["push"]
    message = channel.prepare(Message(event="db.down", severity="critical", text="db1 is down"))
    return channel.send(message, [ALICE])


@pytest.mark.parametrize("status", [401, 402, 403, 404, 410, 400])
def test_a_refusal_is_failed_but_never_the_accounts(
    make_kit: Callable[..., Notifier], receiver: AppriseReceiver, status: int
) -> None:
    receiver.answer("/alice", status=status)
    [result] = send(make_kit())
    assert result.state is DeliveryState.FAILED, result
    assert f"HTTP {status}" in (result.error or "")
    assert not result.account and not result.provider_side and not result.transient
    assert TOKEN not in (result.error or "")


def test_a_throttle_is_transient_so_on_the_providers_side(
    make_kit: Callable[..., Notifier], receiver: AppriseReceiver
) -> None:
    receiver.answer("/alice", status=429)
    [result] = send(make_kit())
    assert result.state is DeliveryState.FAILED and result.transient
    assert not result.account and result.provider_side


def test_a_refused_connection_is_transient_so_on_the_providers_side(
    make_kit: Callable[..., Notifier], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NK_APPRISE_ALICE", f"json://127.0.0.1:{closed_port()}/alice/{TOKEN}")
    [result] = send(make_kit())
    assert result.state is DeliveryState.FAILED and result.transient
    assert not result.account and result.provider_side


def test_a_service_that_accepts_is_sent(
    make_kit: Callable[..., Notifier], receiver: AppriseReceiver
) -> None:
    [result] = send(make_kit())
    assert result.state is DeliveryState.SENT and not result.account
    assert receiver.wait_for(1)[0].path == f"/alice/{TOKEN}"
