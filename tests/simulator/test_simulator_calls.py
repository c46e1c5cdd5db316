"""Calls against the simulator: connect, validation, details, bulk listing and status callbacks."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests

from notifykit_exotel.simulator import ExotelSimulator
from notifykit_exotel.simulator.receiver import CallbackReceiver
from tests.simulator.support import SID, SessionFactory, call_form, rest_error

CALL_KEYS = {
    "Sid",
    "ParentCallSid",
    "DateCreated",
    "DateUpdated",
    "AccountSid",
    "To",
    "From",
    "PhoneNumberSid",
    "Status",
    "StartTime",
    "EndTime",
    "Duration",
    "Price",
    "Direction",
    "AnsweredBy",
    "ForwardedFrom",
    "CallerName",
    "Uri",
    "RecordingUrl",
    "CallType",
}
STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")


def connect(api: requests.Session, **overrides: Any) -> dict[str, Any]:
    response = api.post("Calls/connect.json", data=call_form(**overrides))
    assert response.status_code == 200, response.text
    call: dict[str, Any] = response.json()["Call"]
    return call


def test_connect_answers_the_documented_call_object(
    sim: ExotelSimulator, api: requests.Session
) -> None:
    call = connect(api)
    assert set(call) == CALL_KEYS
    assert re.fullmatch(r"[0-9a-f]{32}", call["Sid"])
    assert call["ParentCallSid"] is None
    assert STAMP.match(call["DateCreated"])
    assert call["DateCreated"] == call["DateUpdated"] == call["StartTime"]
    assert call["AccountSid"] == SID
    assert call["From"] == "09876543210"
    assert call["To"] == "09812345678"
    assert call["PhoneNumberSid"] == "08047112345"
    assert call["Status"] == "in-progress"
    assert call["EndTime"] is call["Duration"] is call["Price"] is None
    assert call["Direction"] == "outbound-api"
    assert call["AnsweredBy"] is call["ForwardedFrom"] is call["CallerName"] is None
    # The reference's connect sample spells the Uri ``Calls.json/<sid>``; it can be fetched.
    assert call["Uri"] == f"/v1/Accounts/{SID}/Calls.json/{call['Sid']}"
    assert api.get(f"{sim.base_url}{call['Uri']}").json()["Call"]["Sid"] == call["Sid"]
    assert call["RecordingUrl"] is None
    assert call["CallType"] == "trans"
    assert sim.calls == {call["Sid"]: call}


def test_connect_to_a_flow_has_no_to(api: requests.Session) -> None:
    flow = "http://my.exotel.com/ACsim/exoml/start_voice/1234"
    call = connect(api, To=None, Url=flow)
    assert call["To"] is None
    assert call["From"] == "09876543210"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"From": None}, "Invalid Parameters: From is mandatory"),
        ({"CallerId": None}, "Invalid Parameters: CallerId is mandatory"),
        ({"To": None}, "Invalid Parameters: To is mandatory (or Url for a call flow)"),
        ({"From": ""}, "Invalid Parameters: From is empty"),
        ({"CallerId": ""}, "Invalid Parameters: CallerId is empty"),
        (
            {"TimeLimit": "14401"},
            "Invalid Parameters: TimeLimit must be a whole number (at most 14400)",
        ),
        (
            {"TimeLimit": "ten"},
            "Invalid Parameters: TimeLimit must be a whole number (at most 14400)",
        ),
        ({"To": "12345"}, "Invalid Recipient [12345]"),
        ({"From": "+91 98765"}, "Invalid Recipient [+91 98765]"),
        ({"Record": "yes"}, "Invalid Parameters: Record must be one of true, false"),
        (
            {"RecordingChannels": "stereo"},
            "Invalid Parameters: RecordingChannels must be one of single, dual",
        ),
        (
            {"RecordingFormat": "wav"},
            "Invalid Parameters: RecordingFormat must be one of mp3, mp3-hq",
        ),
        ({"StatusCallbackEvents[0]": "ringing"}, None),
        ({"StatusCallback": "not a url"}, "Invalid Parameters: StatusCallback is not a valid URL"),
        ({"Url": "http://my.exotel.com/x"}, "Invalid Parameters: send either To or Url, not both"),
    ],
)
def test_connect_validation(
    sim: ExotelSimulator, api: requests.Session, overrides: dict[str, str], message: str | None
) -> None:
    response = api.post("Calls/connect.json", data=call_form(**overrides))
    assert response.status_code == 400
    error = rest_error(response)
    assert error["Status"] == 400
    if message is not None:
        assert error["Message"] == message
    assert sim.calls == {}


def test_time_limit_at_the_maximum_is_accepted(api: requests.Session) -> None:
    connect(
        api, TimeLimit="14400", Record="true", RecordingChannels="dual", RecordingFormat="mp3-hq"
    )


def test_caller_id_must_be_an_exophone_when_configured(session_for: SessionFactory) -> None:
    with ExotelSimulator(exophones={"08047112345"}) as sim:
        api = session_for(sim)
        assert api.post("Calls/connect.json", data=call_form()).status_code == 200
        response = api.post("Calls/connect.json", data=call_form(CallerId="08099999999"))
        assert response.status_code == 400
        assert rest_error(response)["Message"] == "CallerId is not a valid ExoPhone"


@pytest.mark.parametrize(
    "encoded",
    [
        [("StatusCallbackEvents[0]", "terminal"), ("StatusCallbackEvents[1]", "answered")],
        [("StatusCallbackEvents[]", "terminal"), ("StatusCallbackEvents[]", "answered")],
        [("StatusCallbackEvents", "terminal"), ("StatusCallbackEvents", "answered")],
    ],
    ids=["indexed", "brackets", "repeated"],
)
def test_status_callback_events_encodings(
    sim: ExotelSimulator,
    api: requests.Session,
    receiver: CallbackReceiver,
    encoded: list[tuple[str, str]],
) -> None:
    form = [*call_form().items(), ("StatusCallback", receiver.url()), *encoded]
    sid = api.post("Calls/connect.json", data=form).json()["Call"]["Sid"]
    attempts = sim.complete_call(sid)
    assert [a.fields["EventType"] for a in attempts] == ["answered", "terminal"]


def test_get_call_and_details(sim: ExotelSimulator, api: requests.Session) -> None:
    sid = connect(api, Record="true")["Sid"]
    live = api.get(f"Calls/{sid}.json", params={"details": "true"}).json()["Call"]
    assert live["Status"] == "in-progress"
    assert live["Details"]["Leg1Status"] == "in-progress"

    sim.complete_call(sid, duration=17)
    call = api.get(f"Calls/{sid}.json").json()["Call"]
    assert "Details" not in call
    assert call["Status"] == "completed"
    assert call["Duration"] == "17"
    assert call["Price"] == "1.500"
    assert STAMP.match(call["EndTime"])
    assert call["AnsweredBy"] == "Human"
    assert call["RecordingUrl"].endswith(f"/{sid}.mp3")
    assert call["PreSignedRecordingUrl"].startswith(call["RecordingUrl"])
    assert sim.calls[sid] == call

    detailed = api.get(
        f"Calls/{sid}.json", params={"details": "true", "RecordingUrlValidity": "10"}
    ).json()["Call"]
    assert detailed["Details"] == {
        "ConversationDuration": 17,
        "Leg1Status": "completed",
        "Leg2Status": "completed",
        "Legs": [
            {"Leg": {"Id": 1, "OnCallDuration": 21}},
            {"Leg": {"Id": 2, "OnCallDuration": 17}},
        ],
    }
    assert "X-Amz-Expires=600" in detailed["PreSignedRecordingUrl"]


def test_unanswered_call_has_no_recording_and_no_second_leg(
    sim: ExotelSimulator, api: requests.Session
) -> None:
    sid = connect(api, Record="true")["Sid"]
    sim.complete_call(sid, status="busy", duration=0)
    call = api.get(f"Calls/{sid}.json", params={"details": "true"}).json()["Call"]
    assert call["Status"] == "busy"
    assert call["RecordingUrl"] is None
    assert call["AnsweredBy"] is None
    assert call["Details"]["Leg1Status"] == "busy"
    assert call["Details"]["Leg2Status"] is None


def test_get_call_errors(sim: ExotelSimulator, api: requests.Session) -> None:
    assert api.get("Calls/0123456789abcdef0123456789abcdef.json").status_code == 404
    sid = connect(api)["Sid"]
    for validity in ("4", "61", "x"):
        response = api.get(f"Calls/{sid}.json", params={"RecordingUrlValidity": validity})
        assert response.status_code == 400, validity


def test_complete_call_rejects_misuse(sim: ExotelSimulator, api: requests.Session) -> None:
    sid = connect(api)["Sid"]
    with pytest.raises(ValueError, match="status"):
        sim.complete_call(sid, status="in-progress")
    sim.complete_call(sid)
    with pytest.raises(ValueError, match="already ended"):
        sim.complete_call(sid)
    with pytest.raises(KeyError):
        sim.complete_call("nope")


class TestCallbacks:
    def test_basic_callback_without_events_is_multipart(
        self, sim: ExotelSimulator, api: requests.Session, receiver: CallbackReceiver
    ) -> None:
        sid = connect(api, StatusCallback=receiver.url("/calls?token=t"))["Sid"]
        attempts = sim.complete_call(sid, status="no-answer", duration=0)
        assert len(attempts) == 1
        attempt = attempts[0]
        assert attempt.status == 200
        assert (attempt.kind, attempt.sid) == ("call", sid)
        assert attempt.content_type.startswith("multipart/form-data; boundary=")
        assert set(attempt.fields) == {"CallSid", "DateUpdated", "Status", "RecordingUrl"}
        got = receiver.received[0]
        assert got.path == "/calls?token=t"
        assert got.body == attempt.body
        assert got.fields == {
            "CallSid": sid,
            "DateUpdated": attempt.fields["DateUpdated"],
            "Status": "no-answer",
            "RecordingUrl": "",
        }

    def test_events_add_extended_fields_and_flattened_legs(
        self, sim: ExotelSimulator, api: requests.Session, receiver: CallbackReceiver
    ) -> None:
        form = [
            *call_form(StatusCallback=receiver.url(), CustomField="order-7", Record="true").items(),
            ("StatusCallbackEvents[0]", "terminal"),
            ("StatusCallbackEvents[1]", "answered"),
        ]
        sid = api.post("Calls/connect.json", data=form).json()["Call"]["Sid"]
        sim.complete_call(sid, duration=30, answered_by="Machine")
        attempts = sim.wait_for_callbacks(2)
        answered, terminal = (r.fields for r in receiver.received)
        assert answered["EventType"] == "answered"
        assert answered["Status"] == "in-progress"
        assert "CustomField" not in answered
        assert terminal["EventType"] == "terminal"
        assert terminal["Status"] == "completed"
        assert terminal["CustomField"] == "order-7"
        assert terminal["ConversationDuration"] == "30"
        assert terminal["From"] == "09876543210"
        assert terminal["To"] == "09812345678"
        assert terminal["PhoneNumberSid"] == "08047112345"
        assert terminal["Direction"] == "outbound-api"
        assert terminal["RecordingUrl"].endswith(f"/{sid}.mp3")
        assert terminal["Legs[0][Status]"] == "completed"
        assert terminal["Legs[0][OnCallDuration]"] == "34"
        assert terminal["Legs[0][AnsweredBy]"] == "NA"
        assert terminal["Legs[1][AnsweredBy]"] == "Machine"
        assert terminal["Legs[1][OnCallDuration]"] == "30"
        for key in ("DateCreated", "StartTime", "EndTime", "DateUpdated"):
            assert STAMP.match(terminal[key]), key
        assert [a.fields["EventType"] for a in attempts] == ["answered", "terminal"]
        assert attempts[1].fields["Legs"][1] == {
            "OnCallDuration": 30,
            "Status": "completed",
            "AnsweredBy": "Machine",
        }

    def test_json_callbacks(
        self, sim: ExotelSimulator, api: requests.Session, receiver: CallbackReceiver
    ) -> None:
        form = [
            *call_form(
                StatusCallback=receiver.url(), StatusCallbackContentType="application/json"
            ).items(),
            ("StatusCallbackEvents[]", "terminal"),
        ]
        sid = api.post("Calls/connect.json", data=form).json()["Call"]["Sid"]
        (attempt,) = sim.complete_call(sid, duration=5)
        assert attempt.content_type == "application/json"
        body = receiver.received[0].fields
        assert body == attempt.fields
        assert body["EventType"] == "terminal"
        assert body["Legs"] == [
            {"OnCallDuration": 9, "Status": "completed", "AnsweredBy": "NA"},
            {"OnCallDuration": 5, "Status": "completed", "AnsweredBy": "Human"},
        ]
        assert body["RecordingUrl"] is None
        assert body["CustomField"] is None

    def test_answered_is_not_sent_for_unanswered_calls(
        self, sim: ExotelSimulator, api: requests.Session, receiver: CallbackReceiver
    ) -> None:
        form = [
            *call_form(StatusCallback=receiver.url()).items(),
            ("StatusCallbackEvents[0]", "answered"),
        ]
        sid = api.post("Calls/connect.json", data=form).json()["Call"]["Sid"]
        attempts = sim.complete_call(sid, status="failed", duration=0)
        assert [a.fields["EventType"] for a in attempts] == ["terminal"]
        assert attempts[0].fields["Legs"] == [
            {"OnCallDuration": 0, "Status": "failed", "AnsweredBy": "NA"},
            {"OnCallDuration": 0, "Status": None, "AnsweredBy": None},
        ]

    def test_failed_receiver_is_recorded_not_raised(
        self,
        sim: ExotelSimulator,
        api: requests.Session,
        receiver: CallbackReceiver,
        unused_url: str,
    ) -> None:
        receiver.status = 500
        first = connect(api, StatusCallback=receiver.url())["Sid"]
        second = connect(api, StatusCallback=unused_url)["Sid"]
        assert sim.complete_call(first)[0].status == 500
        (refused,) = sim.complete_call(second)
        assert refused.status is None
        assert refused.error is not None
        assert len(sim.wait_for_callbacks(2)) == 2

    def test_no_callback_without_status_callback(
        self, sim: ExotelSimulator, api: requests.Session
    ) -> None:
        sid = connect(api)["Sid"]
        assert sim.complete_call(sid) == []
        with pytest.raises(TimeoutError, match="only 0 arrived"):
            sim.wait_for_callbacks(1, timeout=0.01)

    def test_auto_progress_completes_calls(
        self, receiver: CallbackReceiver, session_for: SessionFactory
    ) -> None:
        with ExotelSimulator(auto_progress=True, progress_delay=0.01) as sim:
            api = session_for(sim)
            sid = connect(api, StatusCallback=receiver.url())["Sid"]
            (attempt,) = sim.wait_for_callbacks(1)
        assert attempt.sid == sid
        assert attempt.fields["Status"] == "completed"
        assert sim.calls[sid]["Status"] == "completed"


@pytest.fixture
def unused_url() -> str:
    """A URL on a port nothing listens on, so connecting is refused."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/cb"


class TestListing:
    def make_calls(self, sim: ExotelSimulator, api: requests.Session, count: int) -> list[str]:
        sids = []
        for index in range(count):
            sid = connect(api, To=f"+91981234567{index}")["Sid"]
            sim.complete_call(sid, status="completed" if index % 2 == 0 else "busy")
            sids.append(sid)
        return sids

    def test_only_finished_calls_are_listed_newest_first(
        self, sim: ExotelSimulator, api: requests.Session
    ) -> None:
        sids = self.make_calls(sim, api, 3)
        connect(api)  # still in progress: not listed
        page = api.get("Calls.json").json()
        assert page["Metadata"]["Total"] == 3
        assert page["Metadata"]["PageSize"] == 50
        assert page["Metadata"]["NextPageUri"] is None
        assert page["Metadata"]["PrevPageUri"] is None
        assert [c["Sid"] for c in page["Calls"]] == sids[::-1]
        ascending = api.get("Calls.json", params={"SortBy": "DateCreated:asc"}).json()
        assert [c["Sid"] for c in ascending["Calls"]] == sids

    def test_paging_follows_next_page_uri(
        self, sim: ExotelSimulator, api: requests.Session
    ) -> None:
        sids = self.make_calls(sim, api, 5)
        seen: list[str] = []
        page = api.get("Calls.json", params={"PageSize": "2", "Status": "completed,busy"}).json()
        pages = 1
        while True:
            seen.extend(c["Sid"] for c in page["Calls"])
            next_uri = page["Metadata"]["NextPageUri"]
            if next_uri is None:
                break
            assert "Status=completed%2Cbusy" in next_uri
            assert "After=" in next_uri
            page = api.get(sim.base_url + next_uri, timeout=5).json()
            pages += 1
            assert page["Metadata"]["PrevPageUri"] is not None
        assert pages == 3
        assert seen == sids[::-1]

    def test_filters(self, sim: ExotelSimulator, api: requests.Session) -> None:
        sids = self.make_calls(sim, api, 4)

        def listed(**params: str) -> list[str]:
            response = api.get("Calls.json", params=params)
            assert response.status_code == 200, response.text
            return [c["Sid"] for c in response.json()["Calls"]]

        assert listed(Status="busy") == [sids[3], sids[1]]
        assert listed(Sid=f"{sids[0]},{sids[2]}") == [sids[2], sids[0]]
        assert listed(To="+919812345671") == [sids[1]]
        assert listed(From="+919876543210", Status="completed") == [sids[2], sids[0]]
        assert listed(PhoneNumber="08047112345", Direction="outbound-api") == sids[::-1]
        assert listed(DateCreated="gte:2000-01-01 00:00:00;lte:2999-01-01 00:00:00") == sids[::-1]
        assert listed(DateCreated="lte:2000-01-01 00:00:00") == []

    @pytest.mark.parametrize(
        "params",
        [
            {"PageSize": "101"},
            {"PageSize": "0"},
            {"SortBy": "Duration:asc"},
            {"DateCreated": "2024-01-01"},
            {"To": ",".join(f"+9198123456{n:02d}" for n in range(6))},
            {"Sid": ",".join(f"{n:032x}" for n in range(101))},
            {"Status": "exploded"},
            {"After": "unknown"},
        ],
    )
    def test_bad_filters_are_400(self, api: requests.Session, params: dict[str, str]) -> None:
        assert api.get("Calls.json", params=params).status_code == 400
