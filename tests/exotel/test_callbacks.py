"""Status callbacks: the simulator POSTs them over real HTTP to a receiver; the parsers read them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from urllib.parse import urlencode

import pytest

from notifykit_exotel import (
    CallStatus,
    ExotelClient,
    InsufficientParametersError,
    SmsStatus,
    parse_call_callback,
    parse_sms_callback,
)
from notifykit_exotel.callbacks import unflatten
from notifykit_exotel.simulator import CallbackReceiver, ExotelSimulator

EXOPHONE = "08088919888"


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    """A real webhook endpoint on 127.0.0.1 that keeps each body with its Content-Type."""
    with CallbackReceiver() as r:
        yield r


@pytest.mark.parametrize("content_type", [None, "application/json"])
def test_call_callbacks_in_both_content_types(
    client: ExotelClient, sim: ExotelSimulator, receiver: CallbackReceiver, content_type: str | None
) -> None:
    call = client.call_number(
        "+919876543210",
        "+919876543211",
        EXOPHONE,
        custom_field="incident-42",
        status_callback=receiver.url(),
        status_callback_events=["answered", "terminal"],
        status_callback_content_type=content_type,
    )
    sim.complete_call(call.sid, status="completed", duration=30)
    sim.wait_for_callbacks(2)

    assert len(receiver.received) == 2
    (ctype1, body1), (ctype2, body2) = [(r.content_type, r.body) for r in receiver.received]
    expected_type = "application/json" if content_type else "multipart/form-data"
    assert ctype1.startswith(expected_type)
    answered = parse_call_callback(body1, ctype1)
    terminal = parse_call_callback(body2, ctype2)
    assert answered.event_type == "answered"
    assert answered.status is CallStatus.IN_PROGRESS
    assert terminal.call_sid == call.sid
    assert terminal.event_type == "terminal"
    assert terminal.status is CallStatus.COMPLETED
    assert terminal.custom_field == "incident-42"
    assert terminal.answered
    assert [leg.status for leg in terminal.legs] == [CallStatus.COMPLETED, CallStatus.COMPLETED]
    assert all(isinstance(leg.on_call_duration, int) for leg in terminal.legs)
    assert terminal.dedup_key == (call.sid, "terminal")
    assert answered.dedup_key != terminal.dedup_key
    assert terminal["CallSid"] == call.sid


def test_call_callback_without_events_has_the_basic_fields(
    client: ExotelClient, sim: ExotelSimulator, receiver: CallbackReceiver
) -> None:
    call = client.call_number(
        "+919876543210", "+919876543211", EXOPHONE, status_callback=receiver.url()
    )
    sim.complete_call(call.sid, status="no-answer")
    sim.wait_for_callbacks(1)
    ctype, body = receiver.received[0].content_type, receiver.received[0].body
    parsed = parse_call_callback(body, ctype)
    assert parsed.status is CallStatus.NO_ANSWER
    assert not parsed.answered
    assert parsed.event_type is None
    assert parsed.date_updated is not None


def test_sms_callback(
    client: ExotelClient, sim: ExotelSimulator, receiver: CallbackReceiver
) -> None:
    sms = client.send_sms(
        "NKALRT", "+919876543210", "hello", status_callback=receiver.url(), custom_field="c1"
    )
    sim.deliver_sms(sms.sid, status="failed_dnd", detailed_status_code=23005)
    sim.wait_for_callbacks(1)
    ctype, body = receiver.received[0].content_type, receiver.received[0].body
    assert ctype.startswith("application/x-www-form-urlencoded")
    parsed = parse_sms_callback(body, ctype)
    assert parsed.sms_sid == sms.sid
    assert parsed.status is SmsStatus.FAILED_DND
    assert parsed.status.is_failure
    assert not parsed.delivered
    assert parsed.detailed_status == "FAILED_REJECTED_DND"
    assert parsed.detailed_status_code == 23005
    assert parsed.custom_field == "c1"


def test_reference_json_payload_parses() -> None:
    payload = {
        "CallSid": "80bf5211", "EventType": "terminal", "DateCreated": "2024-01-15 14:25:10",
        "DateUpdated": "2024-01-15 14:30:45", "To": "09123456789", "From": "09876543210",
        "Status": "completed", "ConversationDuration": 320, "Direction": "outbound-api",
        "CustomField": "order_12345", "RecordingUrl": "https://x/y.mp3",
        "Legs": [{"OnCallDuration": 335, "Status": "completed", "AnsweredBy": "NA"},
                 {"OnCallDuration": 320, "Status": "completed", "AnsweredBy": "HUMAN"}],
    }  # fmt: skip
    parsed = parse_call_callback(json.dumps(payload), "application/json")
    assert parsed.conversation_duration == 320
    assert parsed.legs[1].answered_by == "HUMAN"
    assert parsed.date_created is not None and parsed.date_created.hour == 14
    assert parsed.date_created.utcoffset() is not None


def test_urlencoded_legs_are_rebuilt_and_unknown_statuses_tolerated() -> None:
    body = (
        "CallSid=abc&Status=voicemail&Legs%5B1%5D%5BStatus%5D=cancelled&Legs%5B0%5D%5BStatus%5D=completed"
        "&Legs%5B0%5D%5BOnCallDuration%5D=5"
    )
    parsed = parse_call_callback(body, "application/x-www-form-urlencoded")
    assert parsed.status is not None and not parsed.status.is_known
    assert parsed.status.value == "voicemail"
    assert [leg.status for leg in parsed.legs] == [CallStatus.COMPLETED, CallStatus.CANCELED]
    assert parsed.legs[0].on_call_duration == 5


def test_unflatten() -> None:
    assert unflatten({"A[0][B]": "1", "A[1][B]": "2", "A[0][C]": "3", "D": "4", "E[x]": "5"}) == {
        "A": [{"B": "1", "C": "3"}, {"B": "2"}],
        "D": "4",
        "E": {"x": "5"},
    }
    assert unflatten({"L[10]": "b", "L[2]": "a"}) == {"L": ["a", "b"]}


@pytest.mark.parametrize(
    ("body", "ctype", "message"),
    [
        ("Status=completed", "application/x-www-form-urlencoded", "no CallSid"),
        ("{broken", "application/json", "not valid JSON"),
        ("[1]", "application/json", "not an object"),
        ("--x\r\n", "multipart/form-data", "no boundary"),
    ],
)
def test_bad_callbacks_raise_a_clear_error(body: str, ctype: str, message: str) -> None:
    with pytest.raises(InsufficientParametersError, match=message):
        parse_call_callback(body, ctype)
    with pytest.raises(InsufficientParametersError):
        parse_sms_callback("To=%2B919876543210", "application/x-www-form-urlencoded")


@pytest.mark.parametrize(
    "hostile",
    ["Infinity", "-Infinity", "NaN", "1e400", "0x10", "1_000", "17e1"],
)
def test_hostile_numbers_in_a_callback_parse_as_none_without_crashing(hostile: str) -> None:
    """Callbacks are untrusted input: "Infinity" used to raise OverflowError, and an exponent
    like "1e999999999" made int() build a billion-digit number (the parser hung for minutes)."""
    body = urlencode(
        {
            "CallSid": "abc",
            "ConversationDuration": hostile,
            "Duration": hostile,
            "Legs[0][OnCallDuration]": hostile,
        }
    )
    parsed = parse_call_callback(body, "application/x-www-form-urlencoded")
    assert parsed.conversation_duration is None
    assert parsed.duration is None
    assert parsed.legs[0].on_call_duration is None
    sms = parse_sms_callback(f"SmsSid=s1&SmsUnits={hostile}&DetailedStatusCode={hostile}", None)
    assert sms.sms_units is None and sms.detailed_status_code is None


def test_json_infinity_and_plain_numbers_in_callbacks() -> None:
    # json.dumps writes float("inf") as Infinity, and json.loads reads it back as a float.
    payload = '{"CallSid": "a", "ConversationDuration": Infinity, "Duration": 17.0}'
    parsed = parse_call_callback(payload, "application/json")
    assert parsed.conversation_duration is None
    assert parsed.duration == 17
    plain = parse_call_callback("CallSid=a&ConversationDuration=%2B17.0&Duration=17", None)
    assert (plain.conversation_duration, plain.duration) == (17, 17)


def test_prices_that_are_not_finite_are_none() -> None:
    from notifykit_exotel.models import parse_decimal

    assert parse_decimal("1.500") == Decimal("1.500")
    assert parse_decimal("NaN") is None
    assert parse_decimal("Infinity") is None


def test_a_superscript_index_in_a_form_key_is_not_a_list_index() -> None:
    # "²".isdigit() is True but int("²") raises ValueError: a webhook must answer 400, not 500.
    parsed = parse_call_callback("CallSid=a&Legs%5B%C2%B2%5D%5BStatus%5D=busy", None)
    assert parsed.call_sid == "a"
    assert unflatten({"L[²]": "x"}) == {"L": {"²": "x"}}


def test_sms_callback_content_type_may_name_the_documented_urlencoded_form(
    client: ExotelClient, sim: ExotelSimulator, receiver: CallbackReceiver
) -> None:
    """Exotel documents SMS callbacks as urlencoded; asking for that explicitly used to be
    refused with "use one of application/json, multipart/form-data" (the call options)."""
    sms = client.send_sms(
        "NKALRT",
        "+919876543210",
        "hello",
        status_callback=receiver.url(),
        status_callback_content_type="application/x-www-form-urlencoded",
    )
    assert sim.last_request is not None
    assert sim.last_request.fields["StatusCallbackContentType"] == (
        "application/x-www-form-urlencoded"
    )
    sim.deliver_sms(sms.sid)
    received = receiver.wait_for(1)[0]
    assert received.content_type == "application/x-www-form-urlencoded"
    assert parse_sms_callback(received.body, received.content_type).delivered
    with pytest.raises(InsufficientParametersError, match="text/plain"):
        client.send_sms("NKALRT", "+919876543210", "hi", status_callback_content_type="text/plain")
    with pytest.raises(InsufficientParametersError, match="x-www-form-urlencoded"):
        client.call_number(  # calls keep their documented pair
            "+919876543210",
            "+919876543211",
            EXOPHONE,
            status_callback_content_type="application/x-www-form-urlencoded",
        )
