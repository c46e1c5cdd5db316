"""The admin API under /_sim and the command line, over real HTTP and real subprocesses."""

from __future__ import annotations

import base64
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from notifykit_exotel.simulator import ExotelSimulator
from notifykit_exotel.simulator.__main__ import build_parser, configure, parse_fault
from notifykit_exotel.simulator.admin import ENDPOINTS
from notifykit_exotel.simulator.receiver import CallbackReceiver
from tests.simulator.support import call_form, rest_error


@pytest.fixture
def admin(sim: ExotelSimulator) -> Iterator[requests.Session]:
    session = requests.Session()
    session.trust_env = False
    yield session
    session.close()


def test_admin_lists_its_endpoints_and_is_not_recorded(
    sim: ExotelSimulator, admin: requests.Session
) -> None:
    index = admin.get(sim.admin_url, timeout=5)
    assert index.status_code == 200
    body = index.json()
    assert body["sid"] == sim.sid and body["base_url"] == sim.base_url
    assert "POST /_sim/faults" in body["endpoints"]
    assert sim.token not in index.text
    assert sim.requests == []  # admin calls are not Exotel traffic
    missing = admin.get(sim.admin_url + "/nothing", timeout=5)
    assert missing.status_code == 404 and "GET /_sim lists them" in missing.json()["error"]
    wrong = admin.put(sim.admin_url + "/faults", timeout=5)
    assert wrong.status_code == 405 and "use GET, POST, DELETE" in wrong.json()["error"]


def test_admin_requests_with_filters(
    sim: ExotelSimulator, api: requests.Session, admin: requests.Session
) -> None:
    api.post("Sms/send.json", data={"From": "NK", "To": "09876543210", "Body": "one"})
    api.post("Sms/send.json", data={"From": "NK", "To": "9812345678", "Body": "two"})
    api.post("Calls/connect.json", data=call_form())
    everything = admin.get(sim.admin_url + "/requests", timeout=5).json()
    assert everything["count"] == 3
    first = everything["requests"][0]
    assert first["form"]["Body"] == ["one"] and first["status"] == 200
    assert first["headers"]["Authorization"] == "Basic <redacted>"
    assert first["recipients"] == ["09876543210"]
    assert first["duration_ms"] >= 0
    to = admin.get(sim.admin_url + "/requests", params={"to": "+919876543210"}, timeout=5).json()
    assert to["count"] == 1
    sms_only = admin.get(sim.admin_url + "/requests", params={"path": "Sms/"}, timeout=5).json()
    assert sms_only["count"] == 2
    bad = admin.get(sim.admin_url + "/requests", params={"who": "x"}, timeout=5)
    assert bad.status_code == 400 and "use to, method, path" in bad.json()["error"]
    assert admin.delete(sim.admin_url + "/requests", timeout=5).json() == {"cleared": True}
    assert sim.requests == []


def test_admin_faults(sim: ExotelSimulator, api: requests.Session, admin: requests.Session) -> None:
    injected = admin.post(
        sim.admin_url + "/faults",
        json={"status": 503, "code": 35008, "retry_after": 3, "path": "Sms/send", "times": 2},
        timeout=5,
    )
    assert injected.status_code == 200
    (pending,) = injected.json()["faults"]
    assert (pending["status"], pending["times"]) == (503, 2)
    sms = {"From": "NK", "To": "9876543210", "Body": "x"}
    first = api.post("Sms/send.json", data=sms)
    assert (first.status_code, first.headers["Retry-After"]) == (503, "3")
    assert rest_error(first)["Code"] == 35008
    assert admin.get(sim.admin_url + "/faults", timeout=5).json()["faults"][0]["times"] == 1
    assert admin.delete(sim.admin_url + "/faults", timeout=5).json() == {"faults": []}
    assert api.post("Sms/send.json", data=sms).status_code == 200
    for bad, message in [
        ({"status": "503"}, "fault field status must be int"),
        ({"statuss": 503}, "unknown fault field(s) statuss"),
        ({"status": 503, "times": 1, "fraction": 0.5}, "either times or fraction"),
        ({"path": "("}, "is not a regex"),
    ]:
        refused = admin.post(sim.admin_url + "/faults", json=bad, timeout=5)
        assert refused.status_code == 400
        assert message in refused.json()["error"]
    not_json = admin.post(sim.admin_url + "/faults", data=b"{nope", timeout=5)
    assert not_json.status_code == 400 and "not JSON" in not_json.json()["error"]


def test_admin_rules_and_steps_drive_a_message_to_its_callback(
    sim: ExotelSimulator, api: requests.Session, admin: requests.Session, receiver: CallbackReceiver
) -> None:
    url = sim.admin_url
    assert admin.post(
        url + "/rules/outcome", json={"number": "9812345678", "outcome": "busy"}, timeout=5
    ).json()["calls"] == {"9812345678": {"status": "busy", "duration": 0, "answered_by": None}}
    admin.post(url + "/rules/fraction", json={"outcome": "failed", "fraction": 1, "kind": "sms"})
    admin.post(url + "/rules/dnd", json={"number": "9876543219"})
    assert api.get("Numbers/9876543219.json").json()["Numbers"]["DND"] == "Yes"
    call = api.post("Calls/connect.json", data=call_form(StatusCallback=receiver.url()))
    sms = api.post(
        "Sms/send.json",
        data={"From": "NK", "To": "9876543210", "Body": "x", "StatusCallback": receiver.url()},
    )
    sms_sid = sms.json()["SMSMessage"]["Sid"]
    stepped = admin.post(url + "/advance", json={"sid": sms_sid}, timeout=5).json()
    assert stepped == {"callbacks": []}
    assert api.get(f"SMS/Messages/{sms_sid}.json").json()["SMSMessage"]["Status"] == "sending"
    done = admin.post(url + "/complete", json={}, timeout=5).json()["callbacks"]
    assert sorted(c["fields"]["Status"] for c in done) == ["busy", "failed"]
    assert all(c["status"] == 200 for c in done)
    assert len(receiver.wait_for(2)) == 2
    assert sim.calls[call.json()["Call"]["Sid"]]["Status"] == "busy"
    unknown = admin.post(url + "/complete", json={"sid": "nope"}, timeout=5)
    assert unknown.status_code == 404
    bad = admin.post(url + "/rules/outcome", json={"number": "9812345678", "outcome": "ok"})
    assert bad.status_code == 400 and "unknown outcome 'ok'" in bad.json()["error"]
    assert admin.delete(url + "/rules", timeout=5).json()["fractions"] == []
    assert len(admin.get(url + "/callbacks", timeout=5).json()["callbacks"]) == 2
    assert set(admin.get(url + "/messages", timeout=5).json()["messages"]) == {sms_sid}
    assert len(admin.get(url + "/calls", timeout=5).json()["calls"]) == 1
    assert admin.post(url + "/reset", timeout=5).json() == {"reset": True}
    assert sim.calls == {} and sim.messages == {}


def test_admin_config_changes_the_rate_limit_and_retry_after(
    sim: ExotelSimulator, api: requests.Session, admin: requests.Session
) -> None:
    config = admin.get(sim.admin_url + "/config", timeout=5).json()
    assert (config["rate_limit"], config["retry_after"]) == (200, False)
    changed = admin.patch(
        sim.admin_url + "/config", json={"rate_limit": 1, "retry_after": True}, timeout=5
    ).json()
    assert (changed["rate_limit"], changed["retry_after"]) == (1, True)
    assert api.get("Numbers/9876543210.json").status_code == 200
    limited = api.get("Numbers/9876543210.json")
    assert limited.status_code == 429 and "Retry-After" in limited.headers
    refused = admin.patch(sim.admin_url + "/config", json={"rate_limit": 0}, timeout=5)
    assert refused.status_code == 400 and "at least 1" in refused.json()["error"]
    typo = admin.patch(sim.admin_url + "/config", json={"ratelimit": 5}, timeout=5)
    assert typo.status_code == 400 and "unknown field(s) ratelimit" in typo.json()["error"]


@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
def test_admin_endpoint_is_documented(endpoint: str) -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "simulator.md"
    headings = re.findall(r"^#{2,4} +(.+)$", docs.read_text(encoding="utf-8"), re.MULTILINE)
    assert endpoint in [h.strip() for h in headings], f"docs/simulator.md needs '#### {endpoint}'"


# --- the command line -----------------------------------------------------------------------


def test_fault_specs_parse_from_the_command_line() -> None:
    fault, times, fraction = parse_fault("status=503,code=35008,retry_after=2,path=Sms,times=3")
    assert (fault.status, fault.code, fault.retry_after, fault.path) == (503, 35008, 2.0, "Sms")
    assert (times, fraction) == (3, None)
    dropped, _, share = parse_fault("drop,fraction=0.25")
    assert dropped.drop and share == 0.25
    as_json, _, _ = parse_fault('{"non_json": true, "status": 504}')
    assert as_json.non_json and as_json.status == 504
    with pytest.raises(ValueError, match="status='x' must be a whole number"):
        parse_fault("status=x")
    with pytest.raises(ValueError, match="unknown fault field"):
        parse_fault("stauts=500")


def test_flags_build_the_rules() -> None:
    args = build_parser().parse_args(
        [
            "--port",
            "0",
            "--outcome",
            "9812345678=busy",
            "--outcome-fraction",
            "failed=0.5",
            "--dnd",
            "9876543211",
            "--fault",
            "status=500,times=2",
            "--seed",
            "3",
            "--retry-after",
        ]
    )
    sim = configure(args)
    assert sim.retry_after is True
    assert sim.rules["calls"]["9812345678"]["status"] == "busy"
    assert {f["kind"] for f in sim.rules["fractions"]} == {"call", "sms"}
    assert sim.faults[0]["status"] == 500 and sim.faults[0]["times"] == 2
    for bad in (["--outcome", "9812345678"], ["--outcome-fraction", "failed=lots"]):
        with pytest.raises(ValueError, match="--outcome"):
            configure(build_parser().parse_args(bad))


def _start(*args: str) -> tuple[subprocess.Popen[str], str, str]:
    """Start the simulator CLI; return the process, its base URL and the whole banner."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "notifykit_exotel.simulator", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + 20
    banner = ""
    while time.monotonic() < deadline and selector.select(timeout=deadline - time.monotonic()):
        line = proc.stdout.readline()
        if not line:
            break
        banner += line
        found = re.search(r"listening on (http://\S+)", line)
        if found:
            selector.close()
            # The rest of the banner is printed at once; read it through the same buffered
            # reader (communicate() later reads the raw pipe and would miss what is buffered).
            while "Press Ctrl-C" not in line and line:
                line = proc.stdout.readline()
                banner += line
            return proc, found.group(1), banner
    proc.kill()
    raise AssertionError(f"the simulator did not start: {banner!r} {proc.communicate()}")


def _stop(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    return proc.returncode, out, err


def test_cli_serves_logs_one_line_per_request_and_never_the_token() -> None:
    token = "s3cret-token-XYZ"
    proc, base_url, banner = _start(
        "--token", token, "--outcome", "9812345678=no-answer", "--fault", "status=503,times=1"
    )
    try:
        with requests.Session() as session:
            session.trust_env = False
            session.auth = ("ACsim", token)
            account = f"{base_url}/v1/Accounts/ACsim"
            assert (
                session.get(f"{account}/Numbers/9876543210.json?x=1", timeout=5).status_code == 503
            )
            sent = session.post(
                f"{account}/Sms/send.json",
                data={"From": "NK", "To": "9876543210", "Body": "hi"},
                timeout=5,
            )
            assert sent.status_code == 200
            assert session.post(f"{account}/Sms/send.json", data={}, timeout=5).status_code == 400
            call = session.post(f"{account}/Calls/connect.json", data=call_form(), timeout=5)
            sid = call.json()["Call"]["Sid"]
            recorded: dict[str, Any] = session.get(f"{base_url}/_sim/requests", timeout=5).json()
            assert recorded["count"] == 4
            session.post(f"{base_url}/_sim/complete", json={"sid": sid}, timeout=5)
            details = session.get(f"{account}/Calls/{sid}.json", timeout=5).json()["Call"]
            assert details["Status"] == "no-answer"
    finally:
        code, out, err = _stop(proc)
    assert code == 0
    lines = [line for line in err.splitlines() if "/v1/" in line or "/_sim" in line]
    assert len(lines) == 7
    assert re.fullmatch(
        r"\d\d:\d\d:\d\d GET /v1/Accounts/ACsim/Numbers/9876543210\.json 503 \d+\.\dms", lines[0]
    )
    assert " POST /v1/Accounts/ACsim/Sms/send.json 200 " in lines[1]
    assert " POST /v1/Accounts/ACsim/Sms/send.json 400 " in lines[2]
    assert " GET /_sim/requests 200 " in lines[4]
    basic = base64.b64encode(f"ACsim:{token}".encode()).decode()
    for text in (out, err):
        assert token not in text and basic not in text
        assert "?x=1" not in text  # no query strings in the log
    assert "(as given with --token)" in banner
    assert token not in banner


def test_cli_refuses_a_port_in_use_from_a_real_subprocess() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "notifykit_exotel.simulator", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert done.returncode == 1
    assert f"error: port {port} on 127.0.0.1 is already in use" in done.stderr
    assert "listening" not in done.stdout


def test_cli_bad_flags_exit_2_with_the_problem() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "notifykit_exotel.simulator", "--outcome", "9812345678=ringing"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "unknown outcome 'ringing'" in done.stderr
