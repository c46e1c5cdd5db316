"""SMS over real HTTP against the simulator: single, bulk (same body and dynamic), details."""

from __future__ import annotations

import pytest

from notifykit_exotel import (
    BulkMessage,
    ExotelClient,
    InsufficientParametersError,
    NotFoundError,
    PartialSendError,
    PaymentRequiredError,
    SmsMessage,
    SmsStatus,
    ValidationError,
)
from notifykit_exotel.simulator import ExotelSimulator, Fault

SID = "ACsim"  # as in conftest.py
TOKEN = "sim-token-s3cr3t"


def numbers(count: int, start: int = 0) -> list[str]:
    return [f"+91987650{i:04d}" for i in range(start, start + count)]


def test_send_sms_sends_exact_fields(client: ExotelClient, sim: ExotelSimulator) -> None:
    sms = client.send_sms("NKALRT", "09876543210", "Your OTP is 123456")
    request = sim.last_request
    assert request is not None
    assert request.path == f"/v1/Accounts/{SID}/Sms/send.json"
    assert request.fields == {"From": "NKALRT", "To": "+919876543210", "Body": "Your OTP is 123456"}
    assert isinstance(sms, SmsMessage)
    assert sms.status is SmsStatus.QUEUED
    assert sms.detailed_status_code == 21010
    assert sms["Status"] == "queued"
    assert sms["To"] == "+919876543210"
    assert sms.sid in sim.messages


def test_send_sms_with_every_option(client: ExotelClient, sim: ExotelSimulator) -> None:
    client.send_sms(
        "NKALRT",
        "+919876543210",
        "ALERT: db1 is down & 100% CPU",
        priority="high",
        status_callback="https://example.com/sms",
        status_callback_content_type="application/json",
        encoding_type="plain",
        dlt_entity_id="1201177860312735154",
        dlt_template_id="1207161234567890123",
        sms_type="transactional",
        custom_field="incident-42",
        shorten_url=False,
    )
    request = sim.last_request
    assert request is not None
    assert request.fields == {
        "From": "NKALRT",
        "To": "+919876543210",
        "Body": "ALERT: db1 is down & 100% CPU",  # '&' and '%' survive form encoding
        "Priority": "high",
        "StatusCallback": "https://example.com/sms",
        "StatusCallbackContentType": "application/json",
        "EncodingType": "plain",
        "DltEntityId": "1201177860312735154",
        "DltTemplateId": "1207161234567890123",
        "SmsType": "transactional",
        "CustomField": "incident-42",
        "ShortenUrl": "false",
    }


def test_unicode_body_round_trips(client: ExotelClient, sim: ExotelSimulator) -> None:
    body = "सर्वर db1 डाउन है"
    sms = client.send_sms("NKALRT", "+919876543210", body, encoding_type="unicode")
    assert sim.last_request is not None
    assert sim.last_request.fields["Body"] == body
    assert sms.body == body


def test_seed_mapping_send_sms(client: ExotelClient, sim: ExotelSimulator) -> None:
    sms = client.send_sms(
        {"from": "NKALRT", "to": "9876543210", "body": "hi", "priority": "normal"}
    )
    assert sms.sid
    assert sim.last_request is not None
    assert sim.last_request.fields["Priority"] == "normal"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"from_": ""}, "from_ is missing"),
        ({"to": None}, "to is missing"),
        ({"body": "  "}, "body is missing"),
        ({"body": "x" * 2001}, "2001 characters, over Exotel's limit of 2000"),
        ({"priority": "urgent"}, "priority='urgent'"),
        ({"sms_type": "otp"}, "sms_type='otp'"),
        ({"encoding_type": "utf8"}, "encoding_type='utf8'"),
        ({"dlt_entity_id": ""}, "DltEntityId is an empty string"),
        ({"status_callback": "/relative"}, "status_callback='/relative' is not a valid URL"),
    ],
)
def test_invalid_sms_raises_before_any_request(
    client: ExotelClient, sim: ExotelSimulator, kwargs: dict[str, object], message: str
) -> None:
    args: dict[str, object] = {"from_": "NKALRT", "to": "+919876543210", "body": "hello"}
    args.update(kwargs)
    with pytest.raises(InsufficientParametersError, match=message):
        client.send_sms(**args)  # type: ignore[arg-type]
    assert sim.requests == []


def test_sms_details_and_progression(client: ExotelClient, sim: ExotelSimulator) -> None:
    sms = client.send_sms("NKALRT", "+919876543210", "hello")
    sim.deliver_sms(sms.sid, status="sent", detailed_status_code=20005)
    done = client.sms_details(sms.sid)
    assert sim.last_request is not None
    assert sim.last_request.method == "GET"
    assert sim.last_request.path == f"/v1/Accounts/{SID}/SMS/Messages/{sms.sid}.json"
    assert done.status is SmsStatus.SENT
    assert done.detailed_status == "DELIVERED_TO_HANDSET"
    assert done.date_sent is not None


def test_sms_details_no_matching_results_is_not_found(
    client: ExotelClient, sim: ExotelSimulator
) -> None:
    with pytest.raises(NotFoundError, match="No matching results"):
        client.sms_details("f" * 32)
    assert sim.last_request is not None and sim.last_request.status == 200  # Exotel's quirk


def test_bulk_sms_chunks_by_100_in_request_order(
    client: ExotelClient, sim: ExotelSimulator
) -> None:
    to = numbers(250)
    result = client.send_bulk_sms("NKALRT", to, "Maintenance at 22:00", dlt_entity_id="1201")
    assert result.ok
    assert result.requests == 3
    assert [m.to for m in result.messages] == to
    assert len(set(result.sids)) == 250
    sizes = [sum(1 for k in r.form if k.startswith("To[")) for r in sim.requests]
    assert sizes == [100, 100, 50]
    first = sim.requests[0]
    assert first.fields["To[0]"] == to[0]
    assert first.fields["To[99]"] == to[99]
    assert first.fields["Body"] == "Maintenance at 22:00"
    assert first.fields["DltEntityId"] == "1201"
    assert sim.requests[2].fields["To[49]"] == to[249]


def test_bulk_sms_validates_all_numbers_first_and_dedupes(
    client: ExotelClient, sim: ExotelSimulator
) -> None:
    with pytest.raises(InsufficientParametersError, match=r"to\[150\]='12'"):
        client.send_bulk_sms("NKALRT", [*numbers(150), "12"], "hello")
    assert sim.requests == []  # nothing half-sent

    result = client.send_bulk_sms("NKALRT", ["9876543210", "+919876543210", "09876543210"], "hi")
    assert len(result.messages) == 1
    with pytest.raises(InsufficientParametersError, match="use send_sms"):
        client.send_bulk_sms("NKALRT", "+919876543210", "hi")  # type: ignore[arg-type]


def test_bulk_sms_reports_per_recipient_refusals(sim: ExotelSimulator) -> None:
    # normalize_numbers=False lets an invalid number reach Exotel, which refuses only that one.
    with ExotelClient(SID, TOKEN, base_url=sim.base_url, normalize_numbers=False) as raw:
        result = raw.send_bulk_sms("NKALRT", ["+919876543210", "bogus", "+919876543211"], "hi")
    assert not result.ok
    assert [m.to for m in result.messages] == ["+919876543210", "+919876543211"]
    assert len(result.errors) == 1
    assert result.errors[0].to == "bogus"
    assert result.errors[0].index == 1
    assert isinstance(result.errors[0].error, ValidationError)
    assert "Invalid Recipient" in result.errors[0].error.message


def test_bulk_sms_partial_failure_says_what_was_sent(sim: ExotelSimulator) -> None:
    good = numbers(100)
    bad = [f"bad{i}" for i in range(100)]
    with ExotelClient(SID, TOKEN, base_url=sim.base_url, normalize_numbers=False) as raw:
        with pytest.raises(PartialSendError) as info:
            raw.send_bulk_sms("NKALRT", [*good, *bad, "+919876549999"], "hi")
    error = info.value
    assert [m.to for m in error.result.messages] == good
    assert error.unsent == [*bad, "+919876549999"]
    assert isinstance(error.__cause__, ValidationError)
    assert len(sim.requests) == 2  # the third chunk was never sent
    assert "100 SMS were accepted, 101 recipients were not sent" in str(error)


def test_first_chunk_failure_raises_the_plain_error(
    client: ExotelClient, sim: ExotelSimulator
) -> None:
    sim.inject(Fault(status=402, message="Insufficient balance"), times=1)
    with pytest.raises(PaymentRequiredError, match="Insufficient balance"):
        client.send_bulk_sms("NKALRT", numbers(150), "hi")
    assert len(sim.requests) == 1


def test_bulk_dynamic_sends_messages_fields(client: ExotelClient, sim: ExotelSimulator) -> None:
    result = client.send_bulk_dynamic(
        [
            BulkMessage("9876543210", "Hi Asha, db1 is down", dlt_template_id="1207"),
            {
                "to": "9876543211",
                "body": "Hi Ravi, db1 is down",
                "from": "NKOPS",
                "custom_field": "r",
            },
        ],
        from_="NKALRT",
        dlt_entity_id="1201",
        priority="high",
    )
    request = sim.last_request
    assert request is not None
    assert request.path == f"/v1/Accounts/{SID}/Sms/bulksend.json"
    assert request.fields == {
        "From": "NKALRT",
        "Priority": "high",
        "DltEntityId": "1201",
        "Messages[0][To]": "+919876543210",
        "Messages[0][Body]": "Hi Asha, db1 is down",
        "Messages[0][DltTemplateId]": "1207",
        "Messages[1][To]": "+919876543211",
        "Messages[1][Body]": "Hi Ravi, db1 is down",
        "Messages[1][From]": "NKOPS",
        "Messages[1][CustomField]": "r",
    }
    assert [m.body for m in result.messages] == ["Hi Asha, db1 is down", "Hi Ravi, db1 is down"]
    assert result.messages[1].from_ == "NKOPS"


def test_bulk_dynamic_chunks_and_validates(client: ExotelClient, sim: ExotelSimulator) -> None:
    messages = [BulkMessage(n, f"hello {i}") for i, n in enumerate(numbers(205))]
    result = client.send_bulk_dynamic(messages, from_="NKALRT")
    assert result.requests == 3
    assert len(result.messages) == 205
    assert [sum(1 for k in r.form if k.endswith("[To]")) for r in sim.requests] == [100, 100, 5]
    sim.clear()
    with pytest.raises(InsufficientParametersError, match=r"messages\[1\]: body is missing"):
        client.send_bulk_dynamic([BulkMessage("9876543210", "ok"), BulkMessage("9876543211", "")])
    with pytest.raises(InsufficientParametersError, match="unknown key 'text'"):
        client.send_bulk_dynamic([{"to": "9876543210", "text": "x"}])
    with pytest.raises(InsufficientParametersError, match="messages is empty"):
        client.send_bulk_dynamic([])
    assert sim.requests == []


@pytest.mark.parametrize(
    ("method", "extra"),
    [
        ("send_sms", {"From": "SPOOF1"}),
        ("send_sms", {"To": "+919999999999"}),
        ("send_bulk_sms", {"To[1]": "+919999999999"}),
        ("send_bulk_sms", {"Body": "another body"}),
        ("send_bulk_dynamic", {"Messages[0][To]": "+919999999999"}),
        ("send_bulk_dynamic", {"From": "SPOOF1"}),
    ],
)
def test_extra_params_cannot_send_a_field_twice(
    client: ExotelClient, sim: ExotelSimulator, method: str, extra: dict[str, str]
) -> None:
    """extra_params used to append its field after the validated one: two From (or To) values
    went out, and which one Exotel uses is anyone's guess."""
    sends = {
        "send_sms": lambda: client.send_sms("NKALRT", "+919876543210", "hi", extra_params=extra),
        "send_bulk_sms": lambda: client.send_bulk_sms(
            "NKALRT", ["+919876543210"], "hi", extra_params=extra
        ),
        "send_bulk_dynamic": lambda: client.send_bulk_dynamic(
            [BulkMessage("+919876543210", "hi")], from_="NKALRT", extra_params=extra
        ),
    }
    with pytest.raises(InsufficientParametersError, match="a second time"):
        sends[method]()
    assert sim.requests == []


def test_extra_params_still_carry_fields_the_client_does_not_set(
    client: ExotelClient, sim: ExotelSimulator
) -> None:
    client.send_sms(
        "NKALRT", "+919876543210", "hi", extra_params={"ShortenUrlParams[Tracking]": "true"}
    )
    assert sim.last_request is not None
    assert sim.last_request.fields["ShortenUrlParams[Tracking]"] == "true"
    client.send_bulk_dynamic(
        [BulkMessage("+919876543210", "hi", from_="NKALRT")],
        extra_params={"SmsType": "transactional"},
    )
    assert sim.last_request.fields["SmsType"] == "transactional"
    assert "From" not in sim.last_request.fields
