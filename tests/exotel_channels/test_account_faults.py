"""Which refusals lie with the Exotel *account* (``DeliveryResult.account``: what makes a channel
with a ``fallback`` hand the message on) and which with the recipient, for every Exotel channel
(SMS one by one and in bulk, calls, flows, WhatsApp), over real HTTP to the simulator: its own
account states (revoked credentials, KYC pending, a caller id that is not an ExoPhone) and
injected answers with the bodies Exotel documents (reference section 7)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from notifykit import Notifier
from notifykit.channels.base import DeliveryResult, DeliveryState, Message, Recipient
from notifykit_exotel.errors import (
    AuthenticationError,
    DndBlockedError,
    ExotelError,
    KycRequiredError,
    error_for_response,
)
from notifykit_exotel.simulator import ExotelSimulator, Fault

from .conftest import EXOPHONE, TOKEN, base_config

ALICE = Recipient("alice", "+919876543210")
BOB = Recipient("bob", "+919876543211")
TEXT = "ALERT WARNING: db1 is down. -ACME"

#: the WhatsApp channel, beside the conftest's sms, call and ivr
WA = {
    "type": "exotel-whatsapp",
    "account": "main",
    "from": "+918047112345",
    "template": "alert_page",
    "language": "en",
    "variables": ["text", "severity"],
}

#: (id, HTTP status, code, Exotel's message): answers that refuse the account
ACCOUNT_SIDE = [
    ("401", 401, 34010, "Authentication failed"),
    ("401-no-code", 401, None, "Authentication failed"),
    ("402", 402, None, "Not available on your plan, or you have exceeded usage limits"),
    ("kyc-sms", 403, 340030, "Your account is not yet KYC compliant"),
    ("balance", 403, 40001, "Insufficient balance to send the SMS"),
    ("inactive", 403, 40002, "Account is not active"),
    ("trial", 403, 40000, "Trial accounts can only send promotional SMS"),
    ("country", 403, 40003, "Country not enabled for the account"),
    ("forbidden", 403, 34009, "Action forbidden"),
    ("balance-words", 403, None, "Insufficient balance to send the SMS"),
    ("expired-words", 403, None, "Account validity has expired"),
    ("suspended-words", 403, None, "Your account has been suspended"),
    ("not-an-exophone", 400, None, "CallerId is not a valid ExoPhone"),
]

#: (id, HTTP status, code, Exotel's message): refusals that lie with the recipient or the message
NOT_ACCOUNT_SIDE = [
    ("ndnc", 403, None, "Call to [09876543210] cannot be made because of TRAI NDNC regulations"),
    ("dnd-code", 403, 23005, "The number is on the DND registry"),
    ("bare-403", 403, None, "Forbidden"),
    ("invalid-recipient", 400, None, "Invalid Recipient [+919876543210]"),
    ("invalid-parameters", 400, 40500, "Invalid Parameters"),
    ("sender", 400, 40301, "No suitable sender id found"),
    ("not-found", 404, None, "Not Found"),
]


def kit_for(
    make_kit: Callable[..., Notifier], sim: ExotelSimulator, template_dir: Path
) -> Notifier:
    config = base_config(sim, template_dir)
    config["channels"]["wa"] = dict(WA)
    return make_kit(config)


def send(kit: Notifier, channel: str, *recipients: Recipient) -> Sequence[DeliveryResult]:
    """The channel's own results (``DeliveryResult``, which the report does not carry)."""
    chosen = kit.channels[channel]
    message = chosen.prepare(Message(event="db.down", severity="warning", text=TEXT))
    return chosen.send(message, list(recipients or [ALICE]))


def assert_account(result: DeliveryResult, expected: bool) -> None:
    assert result.state is DeliveryState.FAILED, result
    assert result.account is expected, result.error
    assert result.provider_side is expected
    assert not result.transient
    assert TOKEN not in (result.error or "")


@pytest.fixture
def kit(make_kit: Callable[..., Notifier], sim: ExotelSimulator, template_dir: Path) -> Notifier:
    return kit_for(make_kit, sim, template_dir)


# -- the simulator's own account states ----------------------------------------------------------


@pytest.mark.parametrize("channel", ["sms", "call", "ivr", "wa"])
def test_revoked_credentials_are_the_accounts_on_every_channel(
    sim: ExotelSimulator, kit: Notifier, channel: str
) -> None:
    sim.revoke_credentials()
    [result] = send(kit, channel)
    assert_account(result, True)
    assert "HTTP 401" in (result.error or "")


def test_revoked_credentials_refuse_every_recipient_of_a_bulk_sms(
    sim: ExotelSimulator, kit: Notifier
) -> None:
    sim.revoke_credentials()
    results = send(kit, "sms", ALICE, BOB)
    assert [r.recipient for r in results] == [ALICE, BOB]
    for result in results:
        assert_account(result, True)


@pytest.mark.parametrize(("channel", "code"), [("sms", 340030), ("call", None), ("ivr", None)])
def test_a_pending_kyc_is_the_accounts(
    sim: ExotelSimulator, kit: Notifier, channel: str, code: int | None
) -> None:
    sim.set_kyc_pending()  # SMS: 403 code 340030; voice: 403 with no code (both observed)
    [result] = send(kit, channel)
    assert_account(result, True)
    assert "HTTP 403" in (result.error or "") and "KYC" in (result.error or "")
    assert (f"code {code}" in (result.error or "")) is (code is not None)


def test_a_caller_id_that_is_not_an_exophone_of_the_account_is_the_accounts(
    sim: ExotelSimulator, kit: Notifier
) -> None:
    sim.remove_exophone(EXOPHONE)  # the channel's caller_id is no longer the account's
    [result] = send(kit, "call")
    assert_account(result, True)
    assert "not a valid ExoPhone" in (result.error or "")


# -- Exotel's documented answers, injected -------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "words", "account"),
    [pytest.param(*row[1:], True, id=row[0]) for row in ACCOUNT_SIDE]
    + [pytest.param(*row[1:], False, id=row[0]) for row in NOT_ACCOUNT_SIDE],
)
@pytest.mark.parametrize("channel", ["sms", "call"])
def test_documented_answers_are_the_accounts_or_not(
    sim: ExotelSimulator,
    kit: Notifier,
    channel: str,
    status: int,
    code: int | None,
    words: str,
    account: bool,
) -> None:
    sim.inject(Fault(status=status, code=code, message=words))
    [result] = send(kit, channel)
    assert_account(result, account)
    if account:
        assert f"HTTP {status}" in (result.error or "") and words in (result.error or "")


def test_whatsapp_account_and_recipient_refusals(sim: ExotelSimulator, kit: Notifier) -> None:
    sim.inject(Fault(status=403, code=40001, message="Insufficient balance", path="messages"))
    [result] = send(kit, "wa")
    assert_account(result, True)
    sim.inject(Fault(status=400, message="Invalid Recipient [+919876543210]", path="messages"))
    [result] = send(kit, "wa")
    assert_account(result, False)


def test_a_bulk_refusal_of_the_account_reaches_every_recipient(
    sim: ExotelSimulator, kit: Notifier
) -> None:
    sim.inject(Fault(status=403, code=40001, message="Insufficient balance", path="Sms/send"))
    results = send(kit, "sms", ALICE, BOB)
    assert len(results) == 2
    for result in results:
        assert_account(result, True)


# -- what is never the account's: transient, ambiguous, fine -------------------------------------


def test_a_throttle_is_transient_not_the_accounts(sim: ExotelSimulator, kit: Notifier) -> None:
    # every attempt throttled (the client's own retries too), each asked to wait 10 ms
    sim.inject(Fault(status=429, code=40402, message="Too Many Requests", retry_after=0.01), 20)
    [result] = send(kit, "call")
    assert result.state is DeliveryState.FAILED and result.transient
    assert not result.account and result.provider_side  # falls over once its retries end


def test_an_answer_that_may_have_been_sent_is_unknown_never_the_accounts(
    sim: ExotelSimulator, kit: Notifier
) -> None:
    sim.inject(Fault(status=500, message="Internal Server Error", path="Sms/send"))
    [result] = send(kit, "sms")
    assert result.state is DeliveryState.UNKNOWN
    assert not result.account and not result.provider_side


def test_a_message_exotel_takes_is_sent(sim: ExotelSimulator, kit: Notifier) -> None:
    for channel in ("sms", "call", "ivr", "wa"):
        [result] = send(kit, channel)
        assert result.state is DeliveryState.SENT and not result.account, (channel, result)


# -- the classification itself, in one place -----------------------------------------------------


def refused(status: int, body: str, method: str = "POST") -> ExotelError:
    return error_for_response(status, body, method=method, url="/v1/Accounts/<sid>/Sms/send")


@pytest.mark.parametrize(
    ("status", "body", "kind", "account"),
    [
        (401, '{"RestException": {"Message": "Authentication failed", "Code": 34010}}',
         AuthenticationError, True),
        (400, '{"RestException": {"Message": "Invalid key", "Code": 34001}}', ExotelError, True),
        (403, '{"RestException": {"Message": "not yet KYC compliant", "Code": 340030}}',
         KycRequiredError, True),
        (403, "<RestException><Status>403</Status><Message>Call to [01234] cannot be made "
         "because of TRAI NDNC regulations</Message></RestException>", DndBlockedError, False),
        (403, "<html>Forbidden</html>", ExotelError, False),
        (503, '{"RestException": {"Message": "Service Unavailable", "Code": 35008}}',
         ExotelError, False),
    ],
)  # fmt: skip
def test_account_refused_lives_on_the_error(
    status: int, body: str, kind: type[ExotelError], account: bool
) -> None:
    error = refused(status, body)
    assert isinstance(error, kind)
    assert error.account_refused is account


def test_errors_without_an_answer_are_never_the_accounts() -> None:
    from notifykit_exotel.errors import ExotelConnectionError, InsufficientParametersError

    assert not ExotelConnectionError("refused").account_refused
    assert not InsufficientParametersError("to is required").account_refused
    assert not ExotelError("Account is not active", status=403, maybe_sent=True).account_refused


def test_account_refused_survives_pickling() -> None:
    import pickle

    error = refused(403, '{"RestException": {"Message": "Account is not active", "Code": 40002}}')
    assert pickle.loads(pickle.dumps(error)).account_refused
