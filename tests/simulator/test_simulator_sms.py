"""SMS against the simulator: send, bulk same-body, bulk dynamic, details and status callbacks."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests

from notifykit_exotel.simulator import ExotelSimulator
from notifykit_exotel.simulator.receiver import CallbackReceiver
from tests.simulator.support import SID, SessionFactory, rest_error

SMS_KEYS = {
    "Sid",
    "AccountSid",
    "From",
    "To",
    "Body",
    "Status",
    "DetailedStatus",
    "DetailedStatusCode",
    "DateCreated",
    "DateUpdated",
    "DateSent",
    "Price",
    "Direction",
    "ApiVersion",
    "Uri",
    "SmsUnits",
}


def sms_form(**overrides: str | None) -> dict[str, str]:
    form: dict[str, str | None] = {
        "From": "EXOTEL",
        "To": "+919876543210",
        "Body": "Your OTP is 1234",
    }
    form.update(overrides)
    return {key: value for key, value in form.items() if value is not None}


def send(api: requests.Session, data: Any) -> dict[str, Any]:
    response = api.post("Sms/send.json", data=data)
    assert response.status_code == 200, response.text
    message: dict[str, Any] = response.json()["SMSMessage"]
    return message


def test_send_answers_the_documented_message(sim: ExotelSimulator, api: requests.Session) -> None:
    message = send(api, sms_form(To="09876543210"))
    assert set(message) == SMS_KEYS
    assert re.fullmatch(r"[0-9a-f]{32}", message["Sid"])
    assert message["AccountSid"] == SID
    # Exotel echoes a sender ID as <ExoPhone>/<SenderID> (reference §5.1).
    assert message["From"] == "08047112345/EXOTEL"
    assert message["To"] == "+919876543210"
    assert message["Body"] == "Your OTP is 1234"
    assert (message["Status"], message["DetailedStatus"], message["DetailedStatusCode"]) == (
        "queued",
        "PENDING_TO_OPERATOR",
        21010,
    )
    assert message["DateSent"] is message["Price"] is message["ApiVersion"] is None
    assert message["Direction"] == "outbound-api"
    assert message["Uri"] == f"/v1/Accounts/{SID}/SMS/Messages/{message['Sid']}.json"
    assert message["SmsUnits"] == 1
    assert sim.messages == {message["Sid"]: message}


@pytest.mark.parametrize(
    ("body", "encoding", "units"),
    [
        ("a" * 160, None, 1),
        ("a" * 161, None, 2),
        ("a" * 306, None, 2),
        ("a" * 307, None, 3),
        ("[" * 80, None, 1),  # extension characters take two septets
        ("[" * 81, None, 2),
        ("नमस्ते" * 11, None, 1),  # 66 UCS-2 units
        ("é" + "a" * 69, None, 1),  # é is in GSM-7
        ("ä" * 70, "unicode", 1),
        ("a" * 71, "unicode", 2),
        ("€" + "✓" * 70, None, 2),
    ],
)
def test_sms_units(api: requests.Session, body: str, encoding: str | None, units: int) -> None:
    assert send(api, sms_form(Body=body, EncodingType=encoding))["SmsUnits"] == units


def test_all_documented_options_are_accepted(api: requests.Session) -> None:
    send(
        api,
        sms_form(
            EncodingType="unicode",
            Priority="high",
            SmsType="transactional_opt_in",
            DltEntityId="1101",
            DltTemplateId="1107",
            CustomField="x",
            ShortenUrl="false",
            StatusCallback="https://example.invalid/cb",
            StatusCallbackContentType="application/json",
        ),
    )


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"From": None}, 40210),
        ({"From": ""}, 40205),
        ({"Body": None}, 40200),
        ({"Body": ""}, 40200),
        ({"To": None}, 40500),
        ({"To": ""}, 40203),
        ({"To": "12345"}, 40203),
        ({"Body": "x" * 2001}, 40202),
        ({"EncodingType": "utf8"}, 40209),
        ({"SmsType": "otp"}, 40204),
        ({"Priority": "urgent"}, 40500),
        ({"ShortenUrl": "yes"}, 40500),
    ],
)
def test_send_validation(
    sim: ExotelSimulator, api: requests.Session, overrides: dict[str, str | None], code: int
) -> None:
    response = api.post("Sms/send.json", data=sms_form(**overrides))
    assert response.status_code == 400
    error = rest_error(response)
    assert (error["Status"], error["Code"]) == (400, code)
    assert sim.messages == {}


def test_body_of_exactly_2000_chars_is_accepted(api: requests.Session) -> None:
    assert send(api, sms_form(Body="x" * 2000))["SmsUnits"] == 14


NUMBERS = ["+919876543210", "+919812345678", "09811112222"]


@pytest.mark.parametrize(
    "encoded",
    [
        [(f"To[{i}]", n) for i, n in enumerate(NUMBERS)],
        [("To[]", n) for n in NUMBERS],
        [("To", n) for n in NUMBERS],
        [("To", ",".join(NUMBERS))],
        # Indexed keys out of order are put back in index order.
        [("To[2]", NUMBERS[2]), ("To[0]", NUMBERS[0]), ("To[1]", NUMBERS[1])],
    ],
    ids=["indexed", "brackets", "repeated", "comma", "indexed-unordered"],
)
def test_bulk_same_body_encodings(
    sim: ExotelSimulator, api: requests.Session, encoded: list[tuple[str, str]]
) -> None:
    response = api.post("Sms/send.json", data=[("From", "EXOTEL"), ("Body", "hi"), *encoded])
    assert response.status_code == 200
    items = response.json()
    assert isinstance(items, list)
    assert [item["SMSMessage"]["To"] for item in items] == [
        "+919876543210",
        "+919812345678",
        "+919811112222",
    ]
    assert len(sim.messages) == 3


def test_bulk_same_body_invalid_numbers_get_their_own_slot(api: requests.Session) -> None:
    response = api.post(
        "Sms/send.json",
        data=[("From", "X"), ("Body", "hi"), ("To", "+919876543210"), ("To", "abc")],
    )
    assert response.status_code == 200
    ok, bad = response.json()
    assert ok["SMSMessage"]["Status"] == "queued"
    assert bad == {
        "RestException": {"Status": 400, "Message": "Invalid Recipient [abc]", "Code": 40203}
    }

    all_bad = api.post(
        "Sms/send.json", data=[("From", "X"), ("Body", "hi"), ("To", "a"), ("To", "b")]
    )
    assert all_bad.status_code == 400
    assert rest_error(all_bad)["Code"] == 40203


def test_bulk_same_body_limit(api: requests.Session) -> None:
    numbers = [f"+9198765{n:05d}" for n in range(101)]
    response = api.post("Sms/send.json", data={"From": "X", "Body": "hi", "To": ",".join(numbers)})
    assert response.status_code == 400
    assert rest_error(response)["Code"] == 40406
    ok = api.post("Sms/send.json", data={"From": "X", "Body": "hi", "To": ",".join(numbers[:100])})
    assert ok.status_code == 200
    assert len(ok.json()) == 100


class TestBulkSend:
    def test_dynamic_bulk_answers_per_item(
        self, sim: ExotelSimulator, api: requests.Session
    ) -> None:
        data = {
            "From": "EXOTEL",
            "DltEntityId": "1101",
            "Messages[0][To]": "+919876543210",
            "Messages[0][Body]": "Hi Asha",
            "Messages[1][To]": "+919812345678",
            "Messages[1][Body]": "Hi Ravi",
            "Messages[1][From]": "OTHERS",
            "Messages[1][CustomField]": "r-1",
            "Messages[2][To]": "nope",
            "Messages[2][Body]": "Hi nobody",
        }
        response = api.post("Sms/bulksend.json", data=data)
        assert response.status_code == 200
        first, second, third = response.json()
        assert (first["SMSMessage"]["From"], first["SMSMessage"]["Body"]) == (
            "08047112345/EXOTEL",
            "Hi Asha",
        )
        assert (second["SMSMessage"]["From"], second["SMSMessage"]["Body"]) == (
            "08047112345/OTHERS",
            "Hi Ravi",
        )
        assert third["RestException"]["Code"] == 40203
        assert len(sim.messages) == 2

    def test_message_without_any_sender_fails_alone(self, api: requests.Session) -> None:
        data = {
            "Messages[0][To]": "+919876543210",
            "Messages[0][Body]": "no sender",
            "Messages[1][To]": "+919876543210",
            "Messages[1][Body]": "own sender",
            "Messages[1][From]": "EXOTEL",
        }
        first, second = api.post("Sms/bulksend.json", data=data).json()
        assert first == {
            "RestException": {"Status": 400, "Message": "From is a mandatory field", "Code": 40210}
        }
        assert second["SMSMessage"]["From"] == "08047112345/EXOTEL"

    @pytest.mark.parametrize(
        ("data", "code"),
        [
            ({"From": "EXOTEL"}, 40201),
            ({"From": "EXOTEL", "Messages": "[]"}, 40208),
            (
                {
                    "From": "EXOTEL",
                    "EncodingType": "x",
                    "Messages[0][To]": "+919876543210",
                    "Messages[0][Body]": "b",
                },
                40209,
            ),
            (
                {"From": "EXOTEL"}
                | {f"Messages[{i}][To]": "+919876543210" for i in range(101)}
                | {f"Messages[{i}][Body]": "b" for i in range(101)},
                40400,
            ),
        ],
        ids=["missing", "not-array", "encoding", "too-many"],
    )
    def test_bulk_errors(self, api: requests.Session, data: dict[str, str], code: int) -> None:
        response = api.post("Sms/bulksend.json", data=data)
        assert response.status_code == 400
        assert rest_error(response)["Code"] == code


class TestDetailsAndCallbacks:
    def test_details_and_unknown_sid(self, sim: ExotelSimulator, api: requests.Session) -> None:
        sid = send(api, sms_form())["Sid"]
        for prefix in ("SMS", "Sms"):
            response = api.get(f"{prefix}/Messages/{sid}.json")
            assert response.status_code == 200
            assert response.json()["SMSMessage"]["Sid"] == sid
        unknown = api.get("SMS/Messages/0123456789abcdef0123456789abcdef.json")
        assert unknown.status_code == 200
        assert unknown.json() == {"Message": "No matching results"}

    def test_delivery_updates_details(self, sim: ExotelSimulator, api: requests.Session) -> None:
        sid = send(api, sms_form(Body="a" * 200))["Sid"]
        assert sim.deliver_sms(sid) is None  # no StatusCallback: nothing to send
        message = api.get(f"SMS/Messages/{sid}.json").json()["SMSMessage"]
        assert (message["Status"], message["DetailedStatus"], message["DetailedStatusCode"]) == (
            "sent",
            "DELIVERED_TO_HANDSET",
            20005,
        )
        assert message["SmsUnits"] == 2
        assert message["Price"] == "0.360"
        assert message["DateSent"] is not None

    def test_form_callback(
        self, sim: ExotelSimulator, api: requests.Session, receiver: CallbackReceiver
    ) -> None:
        sid = send(api, sms_form(StatusCallback=receiver.url("/sms"), CustomField="order-1"))["Sid"]
        attempt = sim.deliver_sms(sid, status="failed", detailed_status_code=23082)
        assert attempt is not None
        assert attempt.status == 200
        assert (attempt.kind, attempt.sid) == ("sms", sid)
        assert attempt.content_type == "application/x-www-form-urlencoded"
        got = receiver.received[0]
        assert got.content_type == "application/x-www-form-urlencoded"
        assert got.fields == {
            "SmsSid": sid,
            "To": "+919876543210",
            "Status": "failed",
            "SmsUnits": "1",
            "DetailedStatus": "TEMPLATE_BLOCKED_BY_DLT",
            "DetailedStatusCode": "23082",
            "DateSent": attempt.fields["DateSent"],
            "CustomField": "order-1",
        }
        assert sim.wait_for_callbacks(1) == [attempt]

    def test_json_callback_without_custom_field(
        self, sim: ExotelSimulator, api: requests.Session, receiver: CallbackReceiver
    ) -> None:
        sid = send(
            api,
            sms_form(StatusCallback=receiver.url(), StatusCallbackContentType="application/json"),
        )["Sid"]
        attempt = sim.deliver_sms(sid, status="failed_dnd", sms_units=3)
        assert attempt is not None
        body = receiver.received[0].fields
        assert body == {
            "SmsSid": sid,
            "To": "+919876543210",
            "Status": "failed_dnd",
            "SmsUnits": 3,
            "DetailedStatus": "FAILED_REJECTED_DND",
            "DetailedStatusCode": 23005,
            "DateSent": attempt.fields["DateSent"],
        }

    def test_non_terminal_status_sends_no_callback(
        self, sim: ExotelSimulator, api: requests.Session, receiver: CallbackReceiver
    ) -> None:
        sid = send(api, sms_form(StatusCallback=receiver.url()))["Sid"]
        assert sim.deliver_sms(sid, status="submitted") is None
        assert sim.messages[sid]["DetailedStatus"] == "PENDING_ON_OPERATOR"
        assert sim.callbacks == []
        with pytest.raises(ValueError, match="status"):
            sim.deliver_sms(sid, status="delivered")
        with pytest.raises(KeyError):
            sim.deliver_sms("missing")

    def test_auto_progress_delivers(
        self, receiver: CallbackReceiver, session_for: SessionFactory
    ) -> None:
        with ExotelSimulator(auto_progress=True, progress_delay=0.01) as sim:
            api = session_for(sim)
            sid = send(api, sms_form(StatusCallback=receiver.url()))["Sid"]
            (attempt,) = sim.wait_for_callbacks(1)
        assert attempt.sid == sid
        assert attempt.fields["Status"] == "sent"
        assert attempt.fields["DetailedStatusCode"] == 20005


@pytest.mark.parametrize("exophone", ["08088919888", "+918088919888", "918088919888"])
def test_an_exophone_as_from_is_echoed_with_its_sender_id(
    session_for: SessionFactory, exophone: str
) -> None:
    # Reference §5.1: From is echoed as <ExoPhone>/<SenderID>; an ExoPhone sends with the
    # sender ID (DLT header) linked to it, in the national form the reference's example shows.
    with ExotelSimulator(exophones=["08088919888"], sender_id="NKALRT") as sim:
        api = session_for(sim)
        message = send(api, sms_form(From=exophone))
        assert message["From"] == "08088919888/NKALRT"
        details = api.get(f"SMS/Messages/{message['Sid']}.json").json()["SMSMessage"]
        assert details["From"] == "08088919888/NKALRT"
        bulk = api.post(
            "Sms/bulksend.json",
            data={
                "From": exophone,
                "Messages[0][To]": "+919876543210",
                "Messages[0][Body]": "one",
                "Messages[1][To]": "+919876543211",
                "Messages[1][Body]": "two",
                "Messages[1][From]": "OTHERS",
            },
        )
        assert bulk.status_code == 200, bulk.text
        froms = [item["SMSMessage"]["From"] for item in bulk.json()]
        assert froms == ["08088919888/NKALRT", "08088919888/OTHERS"]


def test_without_a_linked_sender_id_an_exophone_is_echoed_alone(
    session_for: SessionFactory,
) -> None:
    with ExotelSimulator(exophones=["08088919888"], sender_id=None) as sim:
        api = session_for(sim)
        assert send(api, sms_form(From="+918088919888"))["From"] == "08088919888"
        # A sender ID given in From still shows behind the account's ExoPhone.
        assert send(api, sms_form(From="WEBDEV"))["From"] == "08088919888/WEBDEV"
