"""The simulator against requests shaped like the old clients' (raw bodies, not our client).

The PHP seed sends every optional field, empty when unused; several published clients strip the
``+`` or send bare 10-digit numbers; some send a field twice. Exotel's reference accepts the first
two and distinguishes arrays from strings (code 40207), so the simulator must too.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import quote

import pytest
import requests

from notifykit_exotel.simulator import ExotelSimulator
from tests.simulator.support import SID, TOKEN, SessionFactory, rest_error

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def raw_post(api: requests.Session, resource: str, body: str) -> requests.Response:
    return api.post(resource, data=body.encode(), headers=FORM)


def test_php_seed_call_with_every_optional_field_empty(
    sim: ExotelSimulator, api: requests.Session
) -> None:
    # What mvkaran/exotel-php's call_number() sends when only from/to/caller_id are given.
    body = (
        "From=09876543210&To=09812345678&CallerId=08047112345"
        "&TimeLimit=&TimeOut=&StatusCallback=&CustomField="
    )
    response = raw_post(api, "Calls/connect.json", body)
    assert response.status_code == 200, response.text
    call = response.json()["Call"]
    assert (call["From"], call["To"]) == ("09876543210", "09812345678")
    # Empty means unset: no callback is due and CustomField is not kept as "".
    assert sim.complete(call["Sid"]) == []
    recorded = sim.last_request
    assert recorded is not None and recorded.form["TimeLimit"] == [""]  # recorded as sent


def test_php_seed_flow_call_and_sms_with_empty_optionals(
    sim: ExotelSimulator, api: requests.Session
) -> None:
    flow = raw_post(
        api,
        "Calls/connect.json",
        "From=09876543210&CallerId=08047112345&Url=http%3A%2F%2Fmy.exotel.in%2Fexoml%2Fstart%2F1"
        "&TimeLimit=&TimeOut=&StatusCallback=&CustomField=",
    )
    assert flow.status_code == 200, flow.text
    sms = raw_post(
        api,
        "Sms/send.json",
        "From=NKALRT&To=09876543210&Body=hello&Priority=normal&StatusCallback=",
    )
    assert sms.status_code == 200, sms.text
    assert sms.json()["SMSMessage"]["To"] == "+919876543210"


def test_empty_mandatory_fields_are_still_errors(api: requests.Session) -> None:
    call = raw_post(api, "Calls/connect.json", "From=&To=09812345678&CallerId=08047112345")
    assert call.status_code == 400
    assert rest_error(call) == {"Status": 400, "Message": "Invalid Parameters: From is empty"}
    sms = raw_post(api, "Sms/send.json", "From=NK&To=09876543210&Body=")
    assert (sms.status_code, rest_error(sms)["Code"]) == (400, 40200)


@pytest.mark.parametrize(
    ("number", "e164", "national"),
    [
        ("+919876543210", "+919876543210", "09876543210"),
        ("09876543210", "+919876543210", "09876543210"),
        ("919876543210", "+919876543210", "09876543210"),  # the + stripped
        ("9876543210", "+919876543210", "09876543210"),  # bare 10 digits
    ],
)
def test_numbers_in_the_forms_exotel_accepts(
    sim: ExotelSimulator, api: requests.Session, number: str, e164: str, national: str
) -> None:
    number = quote(number)  # a raw form body: "+" must travel as %2B
    sms = raw_post(api, "Sms/send.json", f"From=NK&To={number}&Body=hi")
    assert sms.status_code == 200, sms.text
    assert sms.json()["SMSMessage"]["To"] == e164
    call = raw_post(api, "Calls/connect.json", f"From={number}&To={number}&CallerId=08047112345")
    assert call.status_code == 200, call.text
    assert (call.json()["Call"]["From"], call.json()["Call"]["To"]) == (national, national)
    info = api.get(f"Numbers/{number}.json")
    assert info.json()["Numbers"]["PhoneNumber"] == e164
    assert len(sim.requests_to("+919876543210")) == 2  # SMS and call, whatever the form


@pytest.mark.parametrize(
    "number", ["12345", "abc", "98765 43210", "5876543210", "91987654321", "++919876543210"]
)
def test_what_cannot_be_a_number_is_still_rejected(api: requests.Session, number: str) -> None:
    sms = api.post("Sms/send.json", data={"From": "NK", "To": number, "Body": "hi"})
    assert (sms.status_code, rest_error(sms)["Code"]) == (400, 40203)
    call = api.post(
        "Calls/connect.json", data={"From": number, "To": "09812345678", "CallerId": "0804"}
    )
    assert call.status_code == 400
    assert rest_error(call)["Message"] == f"Invalid Recipient [{number}]"


def test_a_single_valued_field_sent_twice_is_40207(
    sim: ExotelSimulator, api: requests.Session
) -> None:
    sms = raw_post(api, "Sms/send.json", "From=NK&To=09876543210&Body=a&Body=b")
    assert sms.status_code == 400
    error = rest_error(sms)
    assert error["Code"] == 40207
    assert "Body was sent 2 times" in error["Message"]
    assert "array passed where a string is expected" in error["Message"]
    assert sim.messages == {}
    # Voice errors carry no code, but the rule is the same.
    call = raw_post(
        api, "Calls/connect.json", "From=09876543210&To=09812345678&CallerId=0804&CallerId=0805"
    )
    assert call.status_code == 400
    assert "Code" not in rest_error(call)
    # A repeated *array* field is a list, not an error: bulk To, StatusCallbackEvents.
    bulk = raw_post(api, "Sms/send.json", "From=NK&Body=hi&To=09876543210&To=09812345678")
    assert bulk.status_code == 200 and len(bulk.json()) == 2
    # An empty repeat of an optional field is just an unused field.
    ok = raw_post(api, "Sms/send.json", "From=NK&To=09876543210&Body=x&CustomField=&CustomField=c")
    assert ok.status_code == 200


def test_bulk_dynamic_repeated_message_field_is_40207(api: requests.Session) -> None:
    response = raw_post(
        api,
        "Sms/bulksend.json",
        "From=NK&Messages%5B0%5D%5BTo%5D=09876543210"
        "&Messages%5B0%5D%5BBody%5D=a&Messages%5B0%5D%5BBody%5D=b",
    )
    assert (response.status_code, rest_error(response)["Code"]) == (400, 40207)


def test_another_accounts_valid_credentials_are_403_34009(
    sim: ExotelSimulator, session_for: SessionFactory
) -> None:
    api = session_for(sim, auth=(SID, TOKEN))
    url = f"{sim.base_url}/v1/Accounts/ACsomeoneelse/Sms/send.json"
    response = api.post(url, data={"From": "NK", "To": "09876543210", "Body": "x"})
    assert response.status_code == 403
    assert rest_error(response) == {
        "Status": 403,
        "Message": "Forbidden: these credentials cannot act for this account",
        "Code": 34009,
    }
    assert sim.messages == {}
    # Wrong credentials for the other account stay 401: nothing says the account exists.
    bad = session_for(sim, auth=(SID, "nope")).post(url, data={"From": "NK"})
    assert (bad.status_code, rest_error(bad)["Code"]) == (401, 34010)


def test_sms_from_is_echoed_as_exophone_slash_sender(session_for: SessionFactory) -> None:
    with ExotelSimulator(exophones=["08088919888"]) as sim:
        api = session_for(sim)
        sent = api.post("Sms/send.json", data={"From": "WEBDEV", "To": "9876543210", "Body": "x"})
        message = sent.json()["SMSMessage"]
        assert message["From"] == "08088919888/WEBDEV"
        details = api.get(f"SMS/Messages/{message['Sid']}.json").json()["SMSMessage"]
        assert details["From"] == "08088919888/WEBDEV"
        # An ExoPhone as From sends with the sender ID linked to it, echoed the same way.
        own = api.post(
            "Sms/send.json", data={"From": "08088919888", "To": "9876543210", "Body": "x"}
        )
        assert own.json()["SMSMessage"]["From"] == "08088919888/EXOTEL"


def test_call_legs(sim: ExotelSimulator, api: requests.Session) -> None:
    call = raw_post(api, "Calls/connect.json", "From=09876543210&To=09812345678&CallerId=0804")
    sid = call.json()["Call"]["Sid"]
    sim.complete_call(sid, duration=30)
    legs = api.get(f"Calls/{sid}/Legs.json")
    assert legs.status_code == 200
    assert legs.json() == {
        "Legs": [
            {
                "Leg": {
                    "Id": 1,
                    "To": "09876543210",
                    "Status": "completed",
                    "OnCallDuration": 34,
                    "AnsweredBy": "NA",
                }
            },
            {
                "Leg": {
                    "Id": 2,
                    "To": "09812345678",
                    "Status": "completed",
                    "OnCallDuration": 30,
                    "AnsweredBy": "Human",
                }
            },
        ]
    }
    xml = ET.fromstring(api.get(f"Calls/{sid}/Legs").content)
    assert [leg.findtext("Status") for leg in xml.iter("Leg")] == ["completed", "completed"]
    assert api.get("Calls/0123456789abcdef0123456789abcdef/Legs.json").status_code == 404


def test_busy_call_has_one_leg_and_duration_zero(
    sim: ExotelSimulator, api: requests.Session
) -> None:
    sid = raw_post(
        api, "Calls/connect.json", "From=09876543210&To=09812345678&CallerId=0804"
    ).json()["Call"]["Sid"]
    sim.complete_call(sid, status="busy", duration=99)
    details = api.get(f"Calls/{sid}.json").json()["Call"]
    assert (details["Status"], details["Duration"], details["Price"]) == ("busy", "0", "0.000")
    legs = api.get(f"Calls/{sid}/Legs.json").json()["Legs"]
    assert [leg["Leg"]["Status"] for leg in legs] == ["busy"]


class TestRateLimitAnswers:
    def test_retry_after_only_when_configured(self, session_for: SessionFactory) -> None:
        for configured in (False, True):
            with ExotelSimulator(rate_limit=1, retry_after=configured) as sim:
                api = session_for(sim)
                assert api.get("Numbers/9876543210.json").status_code == 200
                refused = api.get("Numbers/9876543210.json")
                assert refused.status_code == 429
                assert ("Retry-After" in refused.headers) is configured

    def test_voice_429_has_no_code_and_sms_429_has_its_code(
        self, session_for: SessionFactory
    ) -> None:
        with ExotelSimulator(rate_limit=1) as sim:
            api = session_for(sim)
            assert api.get("Numbers/9876543210.json").status_code == 200
            voice = api.post("Calls/connect.json", data={"From": "9876543210"})
            assert rest_error(voice) == {"Status": 429, "Message": "Too Many Requests"}
            listed = api.get("Calls.json")
            assert "Code" not in rest_error(listed)
            sms = api.post("Sms/send.json", data={"From": "NK"})
            assert rest_error(sms)["Code"] == 40402
            details = api.get("SMS/Messages/x.json")
            assert rest_error(details)["Code"] == 40403
