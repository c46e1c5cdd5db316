"""Calls over real HTTP against the simulator: connect two numbers, flows, details, lists."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from notifykit_exotel import (
    IST,
    Call,
    CallStatus,
    ExotelClient,
    InsufficientParametersError,
    InsufficientParametersException,
    NotFoundError,
    ValidationError,
)
from notifykit_exotel.simulator import ExotelSimulator

SID = "ACsim"  # as in conftest.py
TOKEN = "sim-token-s3cr3t"
EXOPHONE = "08088919888"


def test_call_number_sends_exact_fields_and_parses_the_call(
    client: ExotelClient, sim: ExotelSimulator
) -> None:
    call = client.call_number("9876543210", "+91 98765 43211", EXOPHONE)

    request = sim.last_request
    assert request is not None
    assert request.method == "POST"
    assert request.path == f"/v1/Accounts/{SID}/Calls/connect.json"
    # Only the mandatory fields: unset options are absent, never empty strings.
    assert request.fields == {"From": "+919876543210", "To": "+919876543211", "CallerId": EXOPHONE}
    assert request.auth_user == SID  # api_key defaults to the sid (the seed's scheme)
    assert isinstance(call, Call)
    assert len(call.sid) == 32
    assert call.status is CallStatus.IN_PROGRESS
    assert call["Sid"] == call.sid  # seed-style mapping access
    assert call["Status"] == "in-progress"
    assert call.date_created is not None and call.date_created.tzinfo == IST
    assert sim.calls[call.sid]["Sid"] == call.sid


def test_call_number_sends_every_option_in_wire_spelling(
    client: ExotelClient, sim: ExotelSimulator
) -> None:
    client.call_number(
        "+919876543210",
        "+919876543211",
        EXOPHONE,
        call_type="trans",
        time_limit=600,
        time_out=30,
        wait_url="https://example.com/wait.wav",
        record=True,
        recording_channels="dual",
        recording_format="mp3-hq",
        custom_field='{"incident": 42}',
        status_callback="https://example.com/cb",
        status_callback_events=["terminal", "answered"],
        status_callback_content_type="application/json",
        extra_params={"StartPlaybackToNew": "Both"},
    )
    request = sim.last_request
    assert request is not None
    assert request.fields == {
        "From": "+919876543210",
        "To": "+919876543211",
        "CallerId": EXOPHONE,
        "CallType": "trans",
        "TimeLimit": "600",
        "TimeOut": "30",
        "WaitUrl": "https://example.com/wait.wav",
        "Record": "true",
        "RecordingChannels": "dual",
        "RecordingFormat": "mp3-hq",
        "CustomField": '{"incident": 42}',
        "StatusCallback": "https://example.com/cb",
        "StatusCallbackEvents[0]": "terminal",
        "StatusCallbackEvents[1]": "answered",
        "StatusCallbackContentType": "application/json",
        "StartPlaybackToNew": "Both",
    }


@pytest.mark.parametrize(
    ("style", "expected"),
    [
        (
            "brackets",
            [("StatusCallbackEvents[]", "terminal"), ("StatusCallbackEvents[]", "answered")],
        ),
        ("repeat", [("StatusCallbackEvents", "terminal"), ("StatusCallbackEvents", "answered")]),
        ("csv", [("StatusCallbackEvents", "terminal,answered")]),
    ],
)
def test_array_style_is_configurable(
    sim: ExotelSimulator, style: str, expected: list[tuple[str, str]]
) -> None:
    with ExotelClient(SID, TOKEN, base_url=sim.base_url, array_style=style) as c:  # type: ignore[arg-type]
        c.call_number(
            "+919876543210",
            "+919876543211",
            EXOPHONE,
            status_callback_events=["terminal", "answered"],
        )
    request = sim.last_request
    assert request is not None
    pairs = [(k, v) for k, values in request.form.items() for v in values if k.startswith("Status")]
    assert pairs == expected
    assert request.status == 200


def test_seed_mapping_form_ports_php_calls_line_by_line(
    client: ExotelClient, sim: ExotelSimulator
) -> None:
    call = client.call_number(
        {"from": "09876543210", "to": "09876543211", "caller_id": EXOPHONE, "time_limit": 60}
    )
    assert call.sid
    request = sim.last_request
    assert request is not None
    assert request.fields["TimeLimit"] == "60"
    assert request.fields["From"] == "+919876543210"

    with pytest.raises(InsufficientParametersError, match="unknown key 'timelimit'"):
        client.call_number(
            {"from": "09876543210", "to": "09876543211", "caller_id": EXOPHONE, "timelimit": 1}
        )
    with pytest.raises(InsufficientParametersError, match="not both"):
        client.call_number({"from": "09876543210"}, "09876543211")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"from_": None}, "from_ is missing"),
        ({"to": ""}, "to is missing"),
        ({"caller_id": None}, "caller_id is missing"),
        ({"caller_id": "EXOTEL"}, "not an ExoPhone"),
        ({"to": "12345"}, "not a valid phone number"),
        ({"to": "call me"}, "not a phone number"),
        ({"time_limit": 14401}, "maximum of 14400"),
        ({"time_limit": 0}, "positive whole number"),
        ({"time_out": "30"}, "positive whole number"),
        ({"record": True, "recording_channels": "stereo"}, "recording_channels='stereo'"),
        ({"status_callback_events": ["completed"]}, "status_callback_events='completed'"),
        ({"call_type": "promo"}, "call_type='promo'"),
        ({"wait_url": "hold.wav"}, "wait_url='hold.wav' is not a valid URL"),
        ({"status_callback": "ftp://x/y"}, "not a valid URL"),
        ({"stream_url": "https://x/y"}, "full wss:// URL"),
        ({"custom_field": ""}, "CustomField is an empty string"),
        ({"custom_field": {"a": 1}}, "custom_field must be a string"),
    ],
)
def test_invalid_call_parameters_raise_before_any_request(
    client: ExotelClient, sim: ExotelSimulator, kwargs: dict[str, object], message: str
) -> None:
    args: dict[str, object] = {
        "from_": "+919876543210",
        "to": "+919876543211",
        "caller_id": EXOPHONE,
    }
    args.update(kwargs)
    with pytest.raises(InsufficientParametersError, match=message) as info:
        client.call_number(**args)  # type: ignore[arg-type]
    assert isinstance(info.value, InsufficientParametersException)  # the seed's name still works
    assert isinstance(info.value, ValueError)
    assert sim.requests == []


def test_call_flow_builds_the_current_flow_url(client: ExotelClient, sim: ExotelSimulator) -> None:
    call = client.call_flow("9876543210", "223344", EXOPHONE, custom_field="Database db1 is down")
    request = sim.last_request
    assert request is not None
    assert request.fields == {
        "From": "+919876543210",  # the person called goes in From, as in the seed
        "CallerId": EXOPHONE,
        "Url": f"http://my.exotel.com/{SID}/exoml/start_voice/223344",
        "CustomField": "Database db1 is down",
    }
    assert call.status is CallStatus.IN_PROGRESS


def test_call_flow_accepts_a_full_url_and_the_seed_mapping(
    client: ExotelClient, sim: ExotelSimulator
) -> None:
    client.call_flow("9876543210", caller_id=EXOPHONE, url="http://my.exotel.in/exoml/start/99")
    assert sim.last_request is not None
    assert sim.last_request.fields["Url"] == "http://my.exotel.in/exoml/start/99"

    client.call_flow({"to": "9876543210", "app_id": 77, "caller_id": EXOPHONE, "time_out": 20})
    assert sim.last_request.fields["Url"].endswith("/start_voice/77")
    assert sim.last_request.fields["TimeOut"] == "20"

    with pytest.raises(InsufficientParametersError, match="exactly one of app_id"):
        client.call_flow("9876543210", "77", EXOPHONE, url="http://x/y")
    with pytest.raises(InsufficientParametersError, match="exactly one of app_id"):
        client.call_flow("9876543210", caller_id=EXOPHONE)
    with pytest.raises(InsufficientParametersError, match="not a flow id"):
        client.call_flow("9876543210", "../admin", EXOPHONE)


def test_exotel_rejection_is_a_validation_error(client: ExotelClient, sim: ExotelSimulator) -> None:
    with pytest.raises(ValidationError) as info:
        client.call_number("+919876543210", "+919876543211", "08000000000")
    assert info.value.status == 400
    assert "not a valid ExoPhone" in info.value.message
    assert not info.value.maybe_sent


def test_call_details_with_legs_after_completion(
    client: ExotelClient, sim: ExotelSimulator
) -> None:
    call = client.call_number("+919876543210", "+919876543211", EXOPHONE, record=True)
    sim.complete_call(call.sid, status="completed", duration=17)

    done = client.call_details(call.sid, details=True, recording_url_validity=10)
    request = sim.last_request
    assert request is not None
    assert request.method == "GET"
    assert request.query == {"details": ["true"], "RecordingUrlValidity": ["10"]}
    assert done.status is CallStatus.COMPLETED
    assert done.status.is_terminal
    assert done.duration == 17
    assert isinstance(done.price, Decimal)
    assert done.end_time is not None and done.end_time.tzinfo == IST
    assert done.recording_url
    assert done.details is not None
    assert [leg.id for leg in done.details.legs] == [1, 2]
    assert done.details.leg1_status is CallStatus.COMPLETED
    assert done["Duration"] == "17"  # the raw payload keeps Exotel's string

    plain = client.call_details(call.sid)
    assert plain.details is None
    assert sim.last_request is not None and sim.last_request.query == {}


def test_call_details_errors(client: ExotelClient, sim: ExotelSimulator) -> None:
    with pytest.raises(NotFoundError) as info:
        client.call_details("0" * 32)
    assert info.value.status == 404
    with pytest.raises(InsufficientParametersError, match="from 5 to 60"):
        client.call_details("abc", recording_url_validity=61)
    with pytest.raises(InsufficientParametersError, match="call_sid is missing"):
        client.call_details("")


def test_list_calls_follows_pages_and_filters(client: ExotelClient, sim: ExotelSimulator) -> None:
    sids = []
    for i in range(5):
        call = client.call_number("+919876543210", f"+91987654330{i}", EXOPHONE)
        sim.complete_call(call.sid, status="completed" if i % 2 == 0 else "busy")
        sids.append(call.sid)
    ongoing = client.call_number("+919876543210", "+919876543309", EXOPHONE)
    sim.clear()

    listed = list(client.list_calls(page_size=2, sort_by="DateCreated:asc"))
    assert sorted(c.sid for c in listed) == sorted(sids)  # Exotel lists finished calls only
    assert ongoing.sid not in {c.sid for c in listed}
    assert [r.method for r in sim.requests] == ["GET", "GET", "GET"]  # 2 + 2 + 1
    assert sim.requests[0].query["PageSize"] == ["2"]
    assert "After" in sim.requests[1].query

    sim.clear()
    busy = list(client.list_calls(status=["busy"], to="9876543301"))
    assert [c.sid for c in busy] == [sids[1]]
    query = sim.requests[0].query
    assert query["Status"] == ["busy"]
    assert query["To"] == ["+919876543301"]

    assert len(list(client.list_calls(max_results=3, page_size=2))) == 3


def test_list_calls_date_filter_is_ist_and_validated(
    client: ExotelClient, sim: ExotelSimulator
) -> None:
    start = datetime(2026, 11, 1, 0, 0, tzinfo=IST)
    list(client.list_calls(date_from=start, date_to="2026-11-20 23:59:59"))
    assert sim.last_request is not None
    assert sim.last_request.query["DateCreated"] == [
        "gte:2026-11-01 00:00:00;lte:2026-11-20 23:59:59"
    ]
    with pytest.raises(InsufficientParametersError, match="at most a month apart"):
        client.list_calls(date_from="2026-01-01 00:00:00", date_to="2026-03-01 00:00:00")
    with pytest.raises(InsufficientParametersError, match="1 to 5 numbers"):
        client.list_calls(to=[f"+9198765433{i:02d}" for i in range(6)])
    with pytest.raises(InsufficientParametersError, match="page_size"):
        client.list_calls(page_size=101)


def test_number_info(client: ExotelClient, sim: ExotelSimulator) -> None:
    sim.set_number_info("+919876543210", dnd=True, operator="Airtel", circle="KA")
    info = client.number_info("09876543210")
    assert sim.last_request is not None
    assert sim.last_request.path == f"/v1/Accounts/{SID}/Numbers/+919876543210.json"
    assert info.dnd is True
    assert info.phone_number == "+919876543210"
    assert info["DND"] == "Yes"


def test_status_callback_events_as_one_comma_separated_string(
    client: ExotelClient, sim: ExotelSimulator
) -> None:
    """The encoder always split "terminal,answered" into two events, but the check before it
    looked at the whole string and refused it as one unknown event."""
    client.call_number(
        "+919876543210",
        "+919876543211",
        EXOPHONE,
        status_callback_events="terminal, answered",
    )
    assert sim.last_request is not None
    assert sim.last_request.fields["StatusCallbackEvents[0]"] == "terminal"
    assert sim.last_request.fields["StatusCallbackEvents[1]"] == "answered"
    client.call_flow("9876543210", "223344", EXOPHONE, status_callback_events="terminal")
    assert sim.last_request.fields["StatusCallbackEvents[0]"] == "terminal"
    with pytest.raises(InsufficientParametersError, match="'ringing'"):
        client.call_flow("9876543210", "1", EXOPHONE, status_callback_events="terminal,ringing")
