"""The simulator's HTTP surface: auth, routing, formats, recording, restart, CLI and fixture."""

from __future__ import annotations

import base64
import http.client
import socket
import threading
import xml.etree.ElementTree as ET

import pytest
import requests

from notifykit_exotel.simulator import ExotelSimulator
from notifykit_exotel.simulator.__main__ import main
from tests.simulator.support import SID, TOKEN, SessionFactory, call_form, rest_error


def test_base_url_and_port(sim: ExotelSimulator) -> None:
    assert sim.base_url == f"http://127.0.0.1:{sim.port}"
    assert not sim.base_url.endswith("/")
    assert sim.running


@pytest.mark.parametrize(
    "auth",
    [
        None,
        (SID, "wrong-token"),
        ("someone-else", TOKEN),
    ],
)
def test_bad_or_missing_credentials_answer_401(
    sim: ExotelSimulator, session_for: SessionFactory, auth: tuple[str, str] | None
) -> None:
    response = session_for(sim, auth=auth).get("Numbers/+919876543210.json")
    assert response.status_code == 401
    assert rest_error(response) == {
        "Status": 401,
        "Message": "Authentication failed",
        "Code": 34010,
    }


def test_valid_credentials_for_another_account_are_403_34009(
    sim: ExotelSimulator, api: requests.Session
) -> None:
    response = api.get(f"{sim.base_url}/v1/Accounts/ACother/Numbers/+919876543210.json", timeout=5)
    assert response.status_code == 403
    assert rest_error(response)["Code"] == 34009


def test_api_key_auth_and_legacy_sid_auth(session_for: SessionFactory) -> None:
    with ExotelSimulator(sid=SID, token=TOKEN, api_key="KEY1", accept_legacy_auth=False) as sim:
        api = session_for(sim, auth=("KEY1", TOKEN))
        assert api.get("Numbers/+919876543210.json").status_code == 200
        api.auth = (SID, TOKEN)
        assert api.get("Numbers/+919876543210.json").status_code == 401
    with ExotelSimulator(sid=SID, token=TOKEN, api_key="KEY1") as sim:
        api = session_for(sim, auth=(SID, TOKEN))
        assert api.get("Numbers/+919876543210.json").status_code == 200


def test_unknown_path_is_404_and_wrong_method_is_405(
    sim: ExotelSimulator, api: requests.Session
) -> None:
    assert api.get("Nothing/here.json").status_code == 404
    response = api.get("Calls/connect.json")
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"
    assert rest_error(response)["Status"] == 405
    assert api.post("Numbers/+919876543210.json").status_code == 405
    outside = api.get(f"{sim.base_url}/v2/whatever", timeout=5)
    assert outside.status_code == 404


def test_without_json_suffix_answers_xml(api: requests.Session) -> None:
    response = api.post("Calls/connect", data=call_form())
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/xml")
    root = ET.fromstring(response.content)
    assert root.tag == "TwilioResponse"
    assert root.findtext("Call/Status") == "in-progress"
    assert root.findtext("Call/From") == "09876543210"
    assert root.find("Call/EndTime") is not None

    error = api.post("Calls/connect", data=call_form(From="abc"))
    root = ET.fromstring(error.content)
    assert root.findtext("RestException/Status") == "400"
    assert root.findtext("RestException/Message") == "Invalid Recipient [abc]"


def test_requests_are_recorded_without_secrets(sim: ExotelSimulator, api: requests.Session) -> None:
    api.post(
        "Calls/connect.json?probe=1",
        data=[
            ("From", "+919876543210"),
            ("To", "+919812345678"),
            ("CallerId", "0804"),
            ("CustomField", "a"),
            ("StatusCallbackEvents[]", "terminal"),
            ("StatusCallbackEvents[]", "answered"),
        ],
    )
    api.get("Numbers/+919876543210.json")
    recorded = sim.requests
    assert [r.method for r in recorded] == ["POST", "GET"]
    first = recorded[0]
    assert first.path == f"/v1/Accounts/{SID}/Calls/connect.json"
    assert first.query == {"probe": ["1"]}
    assert first.form["StatusCallbackEvents[]"] == ["terminal", "answered"]
    assert first.field("StatusCallbackEvents[]") == "answered"
    assert first.field("CustomField") == "a"
    assert first.fields["From"] == "+919876543210"
    assert first.field("Missing") is None
    assert first.status == 200
    assert first.auth_user == SID
    assert first.headers["Authorization"] == "Basic <redacted>"
    assert TOKEN.encode() not in repr(first).encode()
    assert b"StatusCallbackEvents%5B%5D=terminal&StatusCallbackEvents%5B%5D=answered" in first.body
    assert list(first.form) == ["From", "To", "CallerId", "CustomField", "StatusCallbackEvents[]"]
    assert sim.last_request is recorded[-1] or sim.last_request == recorded[-1]
    assert recorded[0].time <= recorded[1].time

    sim.clear()
    assert sim.requests == []
    assert sim.last_request is None
    assert len(sim.calls) == 1  # clear() keeps state


def test_multipart_bodies_are_parsed(sim: ExotelSimulator, api: requests.Session) -> None:
    response = api.post(
        "Calls/connect.json",
        files=[
            ("From", (None, "+919876543210")),
            ("To", (None, "+919812345678")),
            ("CallerId", (None, "08047112345")),
            ("CustomField", (None, "ünï")),
        ],
    )
    assert response.status_code == 200
    assert sim.last_request is not None
    assert sim.last_request.fields == {
        "From": "+919876543210",
        "To": "+919812345678",
        "CallerId": "08047112345",
        "CustomField": "ünï",
    }


def test_keep_alive_serves_several_requests_on_one_connection(sim: ExotelSimulator) -> None:
    token = base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
    conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=5)
    try:
        conn.connect()
        local = conn.sock.getsockname()
        for _ in range(3):
            conn.request(
                "GET",
                f"/v1/Accounts/{SID}/Numbers/+919876543210.json",
                headers={"Authorization": f"Basic {token}"},
            )
            response = conn.getresponse()
            assert response.status == 200
            assert response.getheader("Content-Length") == str(len(response.read()))
            # The same socket answered: HTTP/1.1 keep-alive, no reconnect.
            assert conn.sock.getsockname() == local
    finally:
        conn.close()


def test_stop_refuses_connections_and_start_reuses_the_port(
    sim: ExotelSimulator, api: requests.Session
) -> None:
    port = sim.port
    assert api.get("Numbers/+919876543210.json").status_code == 200
    sim.stop()
    assert not sim.running
    with pytest.raises(requests.ConnectionError):
        api.get("Numbers/+919876543210.json")
    sim.start()
    assert sim.port == port
    assert api.get("Numbers/+919876543210.json").status_code == 200
    sim.stop()
    sim.stop()  # idempotent


def test_state_survives_restart_and_reset_forgets_it(
    sim: ExotelSimulator, api: requests.Session
) -> None:
    sid = api.post("Calls/connect.json", data=call_form()).json()["Call"]["Sid"]
    sim.stop()
    sim.start()
    assert api.get(f"Calls/{sid}.json").status_code == 200
    sim.reset()
    assert sim.calls == {}
    assert sim.requests == []
    assert api.get(f"Calls/{sid}.json").status_code == 404


def test_only_loopback_hosts_are_accepted() -> None:
    with pytest.raises(ValueError, match="loopback"):
        ExotelSimulator(host="0.0.0.0")


def test_cli_refuses_non_loopback_host(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--host", "0.0.0.0"]) == 2
    assert "refusing to listen" in capsys.readouterr().err


def test_cli_reports_a_busy_port(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["--port", str(port), "--quiet"]) == 1
    assert f"port {port} on 127.0.0.1 is already in use" in capsys.readouterr().err


def test_pytest_fixture_yields_a_started_simulator(
    exotel_simulator: ExotelSimulator, session_for: SessionFactory
) -> None:
    assert exotel_simulator.running
    assert exotel_simulator.sid == "ACsim"
    api = session_for(exotel_simulator, auth=("ACsim", "sim-token"))
    assert api.get("Numbers/+919876543210.json").status_code == 200


class TestNumbers:
    def test_number_info_shape_is_deterministic(self, api: requests.Session) -> None:
        first = api.get("Numbers/09876543210.json")
        again = api.get("Numbers/+919876543210.json")
        assert first.status_code == 200
        info = first.json()["Numbers"]
        assert set(info) == {
            "PhoneNumber",
            "Circle",
            "CircleName",
            "Type",
            "Operator",
            "OperatorName",
            "DND",
        }
        assert info["PhoneNumber"] == "+919876543210"
        assert info["Type"] == "Mobile"
        assert info["DND"] == "No"
        assert again.json()["Numbers"] == info
        assert api.get("Numbers/+919876543217.json").json()["Numbers"]["DND"] == "Yes"

    def test_set_number_info_overrides(self, sim: ExotelSimulator, api: requests.Session) -> None:
        sim.set_number_info("+919876543210", dnd=True, operator="V", circle="KA")
        info = api.get("Numbers/09876543210.json").json()["Numbers"]
        assert info["DND"] == "Yes"
        assert (info["Operator"], info["OperatorName"]) == ("V", "Vodafone Idea")
        assert (info["Circle"], info["CircleName"]) == ("KA", "Karnataka Telecom Circle")

    def test_invalid_number_is_400(self, api: requests.Session) -> None:
        response = api.get("Numbers/12ab.json")
        assert response.status_code == 400
        assert rest_error(response)["Status"] == 400


def test_wait_for_requests_blocks_until_a_background_sender_got_through(
    sim: ExotelSimulator, api: requests.Session
) -> None:
    """Code under test often sends from a worker thread: wait on the simulator, never sleep."""
    with pytest.raises(TimeoutError, match="for 1 requests, but only 0 arrived"):
        sim.wait_for_requests(1, timeout=0.01)
    sender = threading.Thread(
        target=lambda: [
            api.post("Sms/send.json", data={"From": "NK", "To": "+919876543210", "Body": "hi"})
            for _ in range(3)
        ]
    )
    sender.start()
    seen = sim.wait_for_requests(3)
    sender.join()
    assert len(seen) >= 3
    assert [r.path for r in seen[:3]] == [f"/v1/Accounts/{sim.sid}/Sms/send.json"] * 3
    sim.clear()
    with pytest.raises(TimeoutError, match="only 0 arrived"):
        sim.wait_for_requests(1, timeout=0.01)
