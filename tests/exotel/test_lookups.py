"""The account lookups ``notifykit doctor`` uses: ``list_exophones()`` (``IncomingPhoneNumbers``,
v2_beta) and ``whitelist_status()`` (``CustomerWhitelist/<n>``), against the simulator over real
HTTP, and against scripted answers in the other shapes the reference leaves open."""

from __future__ import annotations

import pytest

from notifykit_exotel import (
    AuthenticationError,
    ExotelClient,
    ExotelError,
    KycRequiredError,
)
from notifykit_exotel.simulator import ExotelSimulator
from tests.exotel.rawserver import answer, raw_server

SID = "ACsim"
TOKEN = "sim-token-s3cr3t"


def test_list_exophones_reads_every_page(sim: ExotelSimulator, client: ExotelClient) -> None:
    sim.add_exophone("08047100000", voice=False)
    for n in range(1, 60):
        sim.add_exophone(f"080471{n:05d}", sms=False)
    phones = client.list_exophones()
    assert len(phones) == 61
    first = phones[0]
    assert (first.phone_number, first.friendly_name, first.voice, first.sms) == (
        "+918088919888",
        "08088919888",
        True,
        True,
    )
    assert (phones[1].voice, phones[1].sms, phones[2].voice, phones[2].sms) == (
        False,
        True,
        True,
        False,
    )
    pages = [r for r in sim.requests if r.path.endswith("/IncomingPhoneNumbers")]
    assert [r.path for r in pages] == [f"/v2_beta/Accounts/{SID}/IncomingPhoneNumbers"] * 2
    assert pages[1].query == {"page": ["1"], "page_size": ["50"]}


def test_whitelist_status(sim: ExotelSimulator, client: ExotelClient) -> None:
    status = client.whitelist_status("09876543217")
    assert (status.status, status.whitelisted, status.blacklisted, status.expiry) == (
        "Neutral",
        False,
        False,
        -1,
    )
    assert sim.last_request is not None
    assert sim.last_request.path == f"/v1/Accounts/{SID}/CustomerWhitelist/+919876543217.json"
    sim.set_whitelist("+919876543217", "Whitelist")
    status = client.whitelist_status("+919876543217")
    assert (status.whitelisted, status.type, status.expiry) == (True, "API", 180 * 86400)
    sim.set_whitelist("+919876543217", "Blacklist", kind="Customer")
    assert client.whitelist_status("+919876543217").blacklisted


def test_kyc_and_revoked_credentials_are_typed_errors(
    sim: ExotelSimulator, client: ExotelClient
) -> None:
    sim.set_kyc_pending()
    with pytest.raises(KycRequiredError) as kyc:
        client.list_exophones()
    assert (kyc.value.status, kyc.value.code) == (403, 340030)
    with pytest.raises(KycRequiredError):
        client.whitelist_status("+919876543210")
    sim.set_kyc_pending(False)
    sim.revoke_credentials()
    with pytest.raises(AuthenticationError) as auth:
        client.list_exophones()
    assert auth.value.status == 401 and TOKEN not in str(auth.value)


@pytest.mark.parametrize(
    "body",
    [
        [{"sid": "a", "phone_number": "+918047112345", "capabilities": {"voice": True}}],
        {"IncomingPhoneNumbers": [{"Sid": "a", "PhoneNumber": "08047112345",
                                   "Capabilities": {"Voice": "true", "SMS": "false"}}]},
        {"incoming_phone_numbers": {"sid": "a", "phone_number": "+918047112345",
                                    "capabilities": {"voice": True, "sms": False}}},
        {"sid": "a", "phone_number": "+918047112345", "capabilities": {"voice": True}},
    ],
    ids=["bare-list", "pascal-case", "one-object", "the-object-itself"],
)  # fmt: skip
def test_list_exophones_reads_the_shapes_the_reference_leaves_open(body: object) -> None:
    with (
        raw_server(answer(200, body)) as server,
        ExotelClient(SID, TOKEN, base_url=server.base_url, rate_limit=None) as client,
    ):
        (phone,) = client.list_exophones()
    assert phone.sid == "a" and phone.voice is True
    assert phone.phone_number in ("+918047112345", "08047112345")


def test_an_exophone_list_that_never_ends_is_stopped() -> None:
    page = {"incoming_phone_numbers": [], "next_page_uri": "/v2_beta/Accounts/ACsim/X?page=1"}
    with (
        raw_server(answer(200, page)) as server,
        ExotelClient(SID, TOKEN, base_url=server.base_url, rate_limit=None) as client,
        pytest.raises(ExotelError, match="same next page twice"),
    ):
        client.list_exophones()


def test_an_answer_without_exophones_is_an_error_not_an_empty_list() -> None:
    with (
        raw_server(answer(200, {"page": 0})) as server,
        ExotelClient(SID, TOKEN, base_url=server.base_url, rate_limit=None) as client,
        pytest.raises(ExotelError, match="cannot read"),
    ):
        client.list_exophones()
