"""Call flows in the simulator, end to end over real HTTP: a connect-to-flow call placed with the
real Exotel client plays its applets against a small real application (tests/simulator/flow_app.py),
and missed and incoming calls play an ExoPhone's flow. Every wait is on a condition with a
deadline."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from notifykit_exotel import ExotelClient
from notifykit_exotel.simulator import ExotelSimulator
from notifykit_exotel.simulator.__main__ import build_parser, configure
from notifykit_exotel.simulator.flows import Connect, Gather, Greeting, Hangup, Passthru
from notifykit_exotel.simulator.receiver import CallbackReceiver
from tests.simulator.flow_app import FlowApp, Hit, Reply

PERSON = "+919876543210"  # the on-call person a page rings
EXOPHONE = "08047112345"
TOKEN = "tok-4f1c"  # the opaque per-call token notifykit puts in CustomField
VOICE = "Disk full on db1. Press 1 to acknowledge."


@pytest.fixture
def app() -> Iterator[FlowApp]:
    with FlowApp() as running:
        running.answer("/exotel/voice", body=VOICE)
        running.route("/exotel/digits", _digits_answer)
        yield running


@pytest.fixture
def client(sim: ExotelSimulator) -> Iterator[ExotelClient]:
    with ExotelClient(sim.sid, sim.token, base_url=sim.base_url, rate_limit=None) as c:
        yield c


def _digits_answer(hit: Hit) -> Reply:
    """The server's /exotel/digits: 200 when the key is recognised, 302 when not."""
    return Reply(200 if hit.param("digits") == '"1"' else 302)


def ack_flow(app: FlowApp) -> list[Greeting | Gather | Passthru | Hangup]:
    """The paging flow: speak the page, ask for a key, hand it to the server, say the outcome."""
    return [
        Greeting(url=app.url("/exotel/voice")),
        Gather(prompt="Press 1 to acknowledge", max_digits=1, timeout=5),
        Passthru(url=app.url("/exotel/digits"), success="ack", failure="nack"),
        Greeting(text="Acknowledged", name="ack"),
        Hangup(),
        Greeting(text="Not recognised", name="nack"),
        Hangup(),
    ]


def page(client: ExotelClient, **options: str) -> str:
    call = client.call_flow(
        PERSON, app_id="4242", caller_id=EXOPHONE, custom_field=TOKEN, **options
    )
    return call.sid


# --- a paging call plays its flow ------------------------------------------------------------


def test_flow_call_reads_the_greeting_head_then_get_presses_the_queued_key_and_branches_on_200(
    sim: ExotelSimulator, app: FlowApp, client: ExotelClient, receiver: CallbackReceiver
) -> None:
    statuses_during_flow: list[str] = []

    def digits(hit: Hit) -> Reply:
        statuses_during_flow.append(sim.calls[hit.param("CallSid") or ""]["Status"])
        return _digits_answer(hit)

    app.route("/exotel/digits", digits)
    sim.add_flow("4242", ack_flow(app))
    sim.queue_digits(PERSON, "1")
    sid = page(client, status_callback=receiver.url())

    run = sim.wait_for_flow(sid)
    assert run.ended == "hangup" and run.direction == "outbound-dial"
    assert run.spoken == [VOICE, "Press 1 to acknowledge", "Acknowledged"]
    head, get = app.hits_to("/exotel/voice")
    assert (head.method, get.method) == ("HEAD", "GET")
    for hit in (head, get):
        assert hit.param("CallSid") == sid
        assert hit.param("From") == "09876543210" and hit.param("To") == EXOPHONE
        assert hit.param("CustomField") == TOKEN
        assert hit.param("DialWhomNumber") == ""
    [passthru] = app.hits_to("/exotel/digits")
    assert passthru.method == "GET"
    assert passthru.param("digits") == '"1"'  # Exotel wraps the digits in double quotes
    assert passthru.param("CustomField") == TOKEN and passthru.param("CallSid") == sid
    assert passthru.param("CallFrom") == "09876543210" and passthru.param("CallTo") == EXOPHONE
    assert passthru.param("Direction") == "outbound-dial"
    assert passthru.param("EndTime") == "1970-01-01 05:30:00"
    [step] = run.of("passthru")
    assert step.branch == "success" and step.requests[0].status == 200
    [gather] = run.of("gather")
    assert gather.digits == "1" and not gather.timed_out
    assert sim.queued_digits == {}  # the key was pressed once, at this call's gather

    # The call was still in progress while its flow played; its final callback comes after.
    assert statuses_during_flow == ["in-progress"]
    [attempt] = sim.complete(sid)
    assert attempt.fields["Status"] == "completed" and attempt.status == 200
    assert receiver.wait_for(1)[0].fields["CallSid"] == sid


def test_an_unrecognised_key_takes_the_302_branch(
    sim: ExotelSimulator, app: FlowApp, client: ExotelClient
) -> None:
    sim.add_flow("4242", ack_flow(app))
    sim.queue_digits("09876543210", "9")  # any written form of the number
    run = sim.wait_for_flow(page(client))
    [passthru] = app.hits_to("/exotel/digits")
    assert passthru.param("digits") == '"9"'
    [step] = run.of("passthru")
    assert step.branch == "failure" and step.requests[0].status == 302 and step.note is None
    assert run.spoken[-1] == "Not recognised"


def test_no_key_queued_is_a_gather_timeout(
    sim: ExotelSimulator, app: FlowApp, client: ExotelClient
) -> None:
    sim.add_flow("4242", ack_flow(app))
    run = sim.wait_for_flow(page(client))
    [gather] = run.of("gather")
    assert gather.timed_out and gather.digits == ""
    assert "no keys queued" in (gather.note or "")
    [passthru] = app.hits_to("/exotel/digits")
    assert passthru.param("digits") == '""'
    assert run.of("passthru")[0].branch == "failure"


def test_queued_keys_are_pressed_one_entry_per_gather_in_order(
    sim: ExotelSimulator, app: FlowApp, client: ExotelClient
) -> None:
    # Not recognised: ask again (a loop back to the gather), up to the finish key.
    sim.add_flow(
        "4242",
        [
            Gather(name="ask", max_digits=4),
            Passthru(url=app.url("/exotel/digits"), success="hangup", failure="ask"),
        ],
    )
    sim.queue_digits(PERSON, "", "77#9", "1")
    run = sim.wait_for_flow(page(client))
    assert [step.digits for step in run.of("gather")] == ["", "77", "1"]
    assert [hit.param("digits") for hit in app.hits_to("/exotel/digits")] == ['""', '"77"', '"1"']
    assert run.ended == "hangup"


def test_an_unanswered_call_plays_no_flow(
    sim: ExotelSimulator, app: FlowApp, client: ExotelClient
) -> None:
    sim.add_flow("4242", ack_flow(app))
    sim.set_outcome(PERSON, "busy")
    sid = page(client)
    run = sim.wait_for_flow(sid)
    assert run.ended == "not answered (busy)" and run.steps == ()
    sim.complete(sid)
    assert sim.calls[sid]["Status"] == "busy"
    assert app.hits == []


def test_a_flow_registered_by_its_whole_url_and_an_unregistered_flow(
    sim: ExotelSimulator, app: FlowApp, client: ExotelClient
) -> None:
    url = "http://my.exotel.com/ACsim/exoml/start_voice/777"
    sim.add_flow(url, [Greeting(url=app.url("/exotel/voice"))])
    call = client.call_flow(PERSON, url=url, caller_id=EXOPHONE)
    assert sim.wait_for_flow(call.sid).spoken == [VOICE]
    other = client.call_flow(PERSON, app_id="555", caller_id=EXOPHONE)  # never registered
    assert sim.flow_run(other.sid) is None
    with pytest.raises(KeyError, match="plays no flow"):
        sim.wait_for_flow(other.sid, timeout=0.1)
    sim.complete(other.sid)
    assert sim.calls[other.sid]["Status"] == "completed"  # it only rings, as before


def test_auto_progress_ends_the_call_only_after_its_flow(
    app: FlowApp, receiver: CallbackReceiver
) -> None:
    seen: list[str] = []
    with ExotelSimulator(auto_progress=True, progress_delay=0.01) as sim:
        # A slow greeting: the progress timer fires long before the flow is over.
        app.answer("/exotel/voice", body=VOICE, delay=0.4)

        def digits(hit: Hit) -> Reply:
            seen.append(sim.calls[hit.param("CallSid") or ""]["Status"])
            return Reply(200)

        app.route("/exotel/digits", digits)
        sim.add_flow("4242", ack_flow(app))
        sim.queue_digits(PERSON, "1")
        with ExotelClient(sim.sid, sim.token, base_url=sim.base_url) as client:
            sid = page(client, status_callback=receiver.url())
        [callback] = receiver.wait_for(1, timeout=10)
        assert callback.fields["Status"] == "completed"
        run = sim.flow_run(sid)
        assert run is not None and run.finished
    assert seen == ["in-progress"]


def test_a_call_ended_by_hand_stops_its_flow_at_the_next_applet(
    sim: ExotelSimulator, app: FlowApp, client: ExotelClient
) -> None:
    release = threading.Event()

    def slow_voice(hit: Hit) -> Reply:
        release.wait(5)
        return Reply(200, VOICE)

    app.route("/exotel/voice", slow_voice)
    sim.add_flow("4242", ack_flow(app))
    sid = page(client)
    app.wait_for("/exotel/voice", 1)
    sim.complete_call(sid, "completed", duration=3)  # the person hangs up mid-greeting
    release.set()
    run = sim.wait_for_flow(sid)
    assert run.ended == "call ended"
    assert [step.applet for step in run.steps] == ["greeting"]
    assert app.hits_to("/exotel/digits") == []


def test_gather_wait_presses_keys_queued_while_the_call_plays(
    sim: ExotelSimulator, app: FlowApp, client: ExotelClient
) -> None:
    sim.gather_wait = 10
    sim.add_flow("4242", ack_flow(app))
    sid = page(client)
    app.wait_for("/exotel/voice", 2)  # the greeting is over
    sim.queue_digits(PERSON, "1")
    run = sim.wait_for_flow(sid)
    assert run.of("gather")[0].digits == "1" and run.of("passthru")[0].branch == "success"


def test_stopping_the_simulator_ends_a_flow_waiting_for_keys(app: FlowApp) -> None:
    sim = ExotelSimulator(gather_wait=30).start()
    sim.add_flow("4242", ack_flow(app))
    with ExotelClient(sim.sid, sim.token, base_url=sim.base_url) as client:
        sid = page(client)
    app.wait_for("/exotel/voice", 2)
    started = time.monotonic()
    sim.stop()
    run = sim.wait_for_flow(sid, timeout=5)
    assert time.monotonic() - started < 5
    assert run.ended == "simulator stopped"


# --- missed and incoming calls to an ExoPhone -----------------------------------------------


def test_a_missed_call_plays_the_exophones_flow_with_the_callers_number(
    sim: ExotelSimulator, app: FlowApp
) -> None:
    app.answer("/exotel/s3cr3t/missed-call", 200)
    sim.add_flow(
        "9001", [Passthru(url=app.url("/exotel/s3cr3t/missed-call")), Hangup()], exophone=EXOPHONE
    )
    sid = sim.missed_call("+919812345678", "+918047112345")
    run = sim.wait_for_flow(sid)
    [hit] = app.hits_to("/exotel/s3cr3t/missed-call")
    assert hit.param("CallSid") == sid
    assert hit.param("From") == "09812345678" and hit.param("To") == EXOPHONE
    assert hit.param("Direction") == "incoming"
    assert hit.param("CustomField") is None  # not applicable to incoming calls
    assert hit.param("digits") is None  # no gather before it
    assert run.ended == "hangup" and run.of("passthru")[0].branch == "success"
    call = sim.calls[sid]
    assert call["Direction"] == "inbound" and call["From"] == "09812345678"
    assert call["Status"] == "no-answer" and call["Duration"] == "0"  # never picked up
    assert sim.complete() == [] and sim.calls[sid]["Status"] == "no-answer"  # it stays so


def test_a_missed_call_to_an_exophone_without_a_flow_is_refused(sim: ExotelSimulator) -> None:
    with pytest.raises(ValueError, match="no flow is attached to ExoPhone 08047112345"):
        sim.missed_call("+919812345678", EXOPHONE)
    with pytest.raises(ValueError, match="no flow '1' is registered"):
        sim.attach_flow(EXOPHONE, "1")


def test_connect_dials_whom_the_url_names(sim: ExotelSimulator, app: FlowApp) -> None:
    oncall = "+919811111111"
    app.answer("/exotel/s3cr3t/oncall", body=f"{oncall}\n")
    sim.add_flow(
        "9002",
        [
            Greeting(text="Connecting you to the on-call engineer"),
            Connect(url=app.url("/exotel/s3cr3t/oncall"), failure="sorry"),
            Hangup(),
            Greeting(text="Nobody answered", name="sorry"),
        ],
        exophone=EXOPHONE,
    )
    sid = sim.incoming_call("+919812345678", EXOPHONE)
    run = sim.wait_for_flow(sid)
    [hit] = app.hits_to("/exotel/s3cr3t/oncall")
    assert hit.method == "GET" and hit.param("CallSid") == sid
    assert hit.param("CallFrom") == "09812345678" and hit.param("CallTo") == EXOPHONE
    assert run.dialled == ["09811111111"]
    [step] = run.of("connect")
    assert step.branch == "success" and step.dialled[0].status == "completed"
    assert run.spoken == ["Connecting you to the on-call engineer"]
    assert sim.calls[sid]["Status"] == "completed"
    legs = requests.get(
        f"{sim.base_url}/v1/Accounts/{sim.sid}/Calls/{sid}/Legs.json",
        auth=(sim.sid, sim.token),
        timeout=5,
    ).json()["Legs"]
    assert [leg["Leg"]["Status"] for leg in legs] == ["completed", "completed"]


def test_connect_tries_each_number_and_takes_the_failure_branch_when_nobody_answers(
    sim: ExotelSimulator, app: FlowApp
) -> None:
    app.answer("/oncall", body="+919811111111, 09822222222, not-a-number")
    sim.set_outcome("9811111111", "no-answer")
    sim.set_outcome("9822222222", "busy")
    sim.add_flow(
        "9003",
        [Connect(url=app.url("/oncall"), failure="sorry"), Greeting(text="No", name="sorry")],
        exophone=EXOPHONE,
    )
    run = sim.wait_for_flow(sim.incoming_call("+919812345678", EXOPHONE))
    [step] = run.of("connect")
    assert [(d.number, d.status) for d in step.dialled] == [
        ("09811111111", "no-answer"),
        ("09822222222", "busy"),
    ]
    assert step.branch == "failure" and "not-a-number" in (step.note or "")
    assert run.spoken == ["No"]


# --- faults: slow, closed and failing URLs ----------------------------------------------------


def _closed_port_url(path: str) -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


def test_a_passthru_that_times_out_takes_the_failure_branch_within_the_applet_timeout(
    sim: ExotelSimulator, app: FlowApp, client: ExotelClient
) -> None:
    sim.applet_timeout = 0.3
    app.answer("/exotel/digits", 200, delay=10)
    sim.add_flow("4242", ack_flow(app))
    sim.queue_digits(PERSON, "1")
    started = time.monotonic()
    run = sim.wait_for_flow(page(client), timeout=5)
    assert time.monotonic() - started < 3
    [step] = run.of("passthru")
    assert step.branch == "failure" and step.requests[0].status is None
    assert step.requests[0].error == "timed out after 0.3s"
    assert run.spoken[-1] == "Not recognised"


@pytest.mark.parametrize("failure", ["refused", "500"])
def test_a_passthru_refused_or_failing_takes_the_failure_branch(
    failure: str, sim: ExotelSimulator, app: FlowApp, client: ExotelClient
) -> None:
    flow = ack_flow(app)
    if failure == "refused":
        flow[2] = Passthru(url=_closed_port_url("/exotel/digits"), success="ack", failure="nack")
    else:
        app.answer("/exotel/digits", 500, body="Internal Server Error")
    sim.add_flow("4242", flow)
    sim.queue_digits(PERSON, "1")
    run = sim.wait_for_flow(page(client))
    [step] = run.of("passthru")
    assert step.branch == "failure"
    if failure == "refused":
        assert step.requests[0].error == "connection refused"
        assert "no answer (connection refused)" in (step.note or "")
    else:
        assert step.requests[0].status == 500
        assert "neither 200 nor 302" in (step.note or "")
    assert run.spoken[-1] == "Not recognised"


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        (Reply(404, "unknown token"), "HEAD answered 404"),
        (Reply(200, VOICE, content_type="text/html"), "not text/plain"),
    ],
)
def test_a_greeting_url_that_fails_its_head_is_never_fetched_and_the_flow_goes_on(
    reply: Reply, problem: str, sim: ExotelSimulator, app: FlowApp, client: ExotelClient
) -> None:
    app.route("/exotel/voice", lambda hit: reply)
    sim.add_flow("4242", ack_flow(app))
    sim.queue_digits(PERSON, "1")
    run = sim.wait_for_flow(page(client))
    assert [hit.method for hit in app.hits_to("/exotel/voice")] == ["HEAD"]
    greeting = run.steps[0]
    assert greeting.text is None and problem in (greeting.note or "")
    assert run.of("passthru")[0].branch == "success"  # the flow went on


def test_a_greeting_url_answering_an_audio_url_plays_it(
    sim: ExotelSimulator, app: FlowApp, client: ExotelClient
) -> None:
    app.answer("/exotel/voice", body="https://cdn.example.com/page.wav")
    sim.add_flow("4242", [Greeting(url=app.url("/exotel/voice"))])
    run = sim.wait_for_flow(page(client))
    assert run.steps[0].audio_url == "https://cdn.example.com/page.wav" and run.spoken == []


def test_a_dial_whom_url_that_fails_dials_nobody(sim: ExotelSimulator, app: FlowApp) -> None:
    app.answer("/oncall", 500)
    sim.add_flow("9004", [Connect(url=app.url("/oncall"))], exophone=EXOPHONE)
    run = sim.wait_for_flow(sim.incoming_call("+919812345678", EXOPHONE))
    [step] = run.of("connect")
    assert step.branch == "failure" and step.dialled == ()
    assert "GET answered 500: nobody is dialled" in (step.note or "")


def test_a_flow_that_loops_forever_stops_at_the_step_limit(
    sim: ExotelSimulator, app: FlowApp, client: ExotelClient
) -> None:
    app.answer("/exotel/digits", 302)
    sim.add_flow(
        "4242",
        [Gather(name="ask"), Passthru(url=app.url("/exotel/digits"), failure="ask")],
    )
    run = sim.wait_for_flow(page(client), timeout=30)
    assert run.ended == "step limit (100 applets)" and len(run.steps) == 100


# --- the model refuses what Exotel's flow builder would not save --------------------------------


@pytest.mark.parametrize(
    ("applets", "message"),
    [
        ([], "has no applets"),
        ([{"type": "menu"}], "applet type 'menu' is unknown"),
        ([{"type": "passthru"}], "a passthru needs url"),
        ([{"type": "passthru", "url": "ftp://x"}], "is not an http(s) URL"),
        ([{"type": "gather", "max_digits": "1"}], "max_digits must be a whole number"),
        ([{"type": "gather", "digits": 1}], "unknown gather field(s) digits"),
        ([{"type": "greeting"}], "exactly one of url"),
        ([{"type": "passthru", "url": "http://x/", "failure": "nack"}], "branch 'nack'"),
        ([{"type": "hangup", "name": "a"}, {"type": "hangup", "name": "a"}], "name(s) a repeat"),
        ([{"type": "connect", "numbers": ["12"]}], "is not a phone number"),
    ],
)
def test_bad_flows_are_refused_with_the_problem(
    sim: ExotelSimulator, applets: list[dict[str, object]], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        sim.add_flow("4242", applets)


def test_bad_keys_and_numbers_are_refused(sim: ExotelSimulator) -> None:
    with pytest.raises(ValueError, match="not keypad keys"):
        sim.queue_digits(PERSON, "1a")
    with pytest.raises(ValueError, match="is not a phone number"):
        sim.queue_digits("12", "1")


# --- the admin API, over HTTP ----------------------------------------------------------------


@pytest.fixture
def admin(sim: ExotelSimulator) -> Iterator[requests.Session]:
    session = requests.Session()
    session.trust_env = False
    yield session
    session.close()


def test_admin_registers_a_flow_queues_keys_and_shows_the_transcript(
    sim: ExotelSimulator, app: FlowApp, api: requests.Session, admin: requests.Session
) -> None:
    base = sim.admin_url
    flow = {
        "flow_id": "4242",
        "applets": [
            {"type": "greeting", "url": app.url("/exotel/voice")},
            {"type": "gather", "prompt": "Press 1", "max_digits": 1},
            {"type": "passthru", "url": app.url("/exotel/digits"), "failure": "hangup"},
            {"type": "greeting", "text": "Acknowledged"},
        ],
    }
    added = admin.post(f"{base}/flows", json=flow, timeout=5)
    assert added.status_code == 200, added.text
    assert added.json()["flow"]["applets"][2]["failure"] == "hangup"
    assert admin.get(f"{base}/flows", timeout=5).json()["flows"]["4242"]["flow_id"] == "4242"
    queued = admin.post(f"{base}/digits", json={"number": PERSON, "digits": "1"}, timeout=5)
    assert queued.json() == {"digits": {"9876543210": ["1"]}}
    assert admin.get(f"{base}/digits", timeout=5).json() == {"digits": {"9876543210": ["1"]}}

    # The connect-to-flow request as any client sends it, over raw HTTP.
    connect = api.post(
        "Calls/connect.json",
        data={
            "From": PERSON,
            "CallerId": EXOPHONE,
            "Url": f"http://my.exotel.com/{sim.sid}/exoml/start_voice/4242",
            "CustomField": TOKEN,
        },
    )
    sid = connect.json()["Call"]["Sid"]
    shown = admin.get(f"{base}/calls/{sid}/flow", params={"wait": 5}, timeout=10).json()
    assert shown["state"] == "ended" and shown["ended"] == "end of flow"
    assert shown["spoken"] == [VOICE, "Press 1", "Acknowledged"]
    assert shown["custom_field"] == TOKEN and shown["from"] == "09876543210"
    methods = [r["method"] for s in shown["steps"] for r in s["requests"]]
    assert methods == ["HEAD", "GET", "GET"]
    passthru = shown["steps"][2]
    assert passthru["branch"] == "success" and passthru["requests"][0]["params"]["digits"] == '"1"'
    runs = admin.get(f"{base}/flow-runs", timeout=5).json()["runs"]
    assert [run["call_sid"] for run in runs] == [sid]
    assert admin.delete(f"{base}/digits", timeout=5).json() == {"digits": {}}
    assert admin.delete(f"{base}/flows", timeout=5).json() == {"flows": {}, "exophones": {}}


def test_admin_places_missed_and_incoming_calls(
    sim: ExotelSimulator, app: FlowApp, admin: requests.Session
) -> None:
    base = sim.admin_url
    app.answer("/exotel/s3cr3t/missed-call", 302)
    app.answer("/exotel/s3cr3t/oncall", body="09811111111")
    for flow_id, applets in (
        ("m", [{"type": "passthru", "url": app.url("/exotel/s3cr3t/missed-call")}]),
        ("c", [{"type": "connect", "url": app.url("/exotel/s3cr3t/oncall")}]),
    ):
        assert admin.post(
            f"{base}/flows", json={"flow_id": flow_id, "applets": applets}, timeout=5
        ).ok
    attached = admin.post(
        f"{base}/flows/exophone", json={"exophone": EXOPHONE, "flow_id": "m"}, timeout=5
    )
    assert attached.json()["exophones"] == {EXOPHONE: "m"}
    missed = admin.post(
        f"{base}/missed-call", json={"from": "+919812345678", "to": EXOPHONE}, timeout=5
    ).json()
    assert missed["flow_id"] == "m"
    shown = admin.get(f"{base}/calls/{missed['sid']}/flow?wait=5", timeout=10).json()
    assert shown["direction"] == "incoming" and shown["steps"][0]["branch"] == "failure"
    [hit] = app.hits_to("/exotel/s3cr3t/missed-call")
    assert hit.param("From") == "09812345678" and hit.param("CallSid") == missed["sid"]

    admin.post(
        f"{base}/flows",
        json={
            "flow_id": "c",
            "applets": [{"type": "connect", "url": app.url("/exotel/s3cr3t/oncall")}],
            "exophone": "08047112346",
        },
        timeout=5,
    )
    called = admin.post(
        f"{base}/incoming-call", json={"from": "+919812345678", "to": "08047112346"}, timeout=5
    ).json()
    shown = admin.get(f"{base}/calls/{called['sid']}/flow?wait=5", timeout=10).json()
    assert shown["dialled"] == ["09811111111"]


def test_admin_refuses_bad_flow_requests_with_the_problem(
    sim: ExotelSimulator, admin: requests.Session
) -> None:
    base = sim.admin_url

    def error(method: str, path: str, status: int, **kwargs: object) -> str:
        answer = admin.request(method, base + path, timeout=5, **kwargs)  # type: ignore[arg-type]
        assert answer.status_code == status, answer.text
        message: str = answer.json()["error"]
        return message

    assert "applet type 'menu' is unknown" in error(
        "POST", "/flows", 400, json={"flow_id": "1", "applets": [{"type": "menu"}]}
    )
    assert "'applets' is required" in error("POST", "/flows", 400, json={"flow_id": "1"})
    assert "unknown field(s) flow" in error("POST", "/flows", 400, json={"flow": "1"})
    assert "no flow '9' is registered" in error(
        "POST", "/flows/exophone", 400, json={"exophone": EXOPHONE, "flow_id": "9"}
    )
    assert "not keypad keys" in error(
        "POST", "/digits", 400, json={"number": PERSON, "digits": "x"}
    )
    assert "'digits' is required" in error("POST", "/digits", 400, json={"number": PERSON})
    assert "no flow is attached" in error(
        "POST", "/missed-call", 400, json={"from": PERSON, "to": EXOPHONE}
    )
    assert "plays no flow" in error("GET", "/calls/nope/flow", 404)
    assert "use GET" in error("POST", "/calls/nope/flow", 405)
    assert "wait must be 0 to 60" in error("GET", "/calls/nope/flow?wait=600", 400)
    assert "use wait=<seconds>" in error("GET", "/calls/nope/flow?timeout=1", 400)


def test_admin_config_sets_the_applet_timeout_and_gather_wait(
    sim: ExotelSimulator, admin: requests.Session
) -> None:
    changed = admin.patch(
        sim.admin_url + "/config", json={"applet_timeout": 0.5, "gather_wait": 2}, timeout=5
    ).json()
    assert (changed["applet_timeout"], changed["gather_wait"]) == (0.5, 2.0)
    assert (sim.applet_timeout, sim.gather_wait) == (0.5, 2.0)
    refused = admin.patch(sim.admin_url + "/config", json={"applet_timeout": 0}, timeout=5)
    assert refused.status_code == 400 and "applet_timeout must be > 0" in refused.json()["error"]


def test_reset_forgets_flows_keys_and_transcripts(
    sim: ExotelSimulator, app: FlowApp, client: ExotelClient
) -> None:
    sim.add_flow("4242", [Greeting(text="hi")], exophone=EXOPHONE)
    sim.queue_digits(PERSON, "1")
    sim.wait_for_flow(page(client))
    sim.reset()
    assert sim.flows == {"flows": {}, "exophones": {}}
    assert sim.queued_digits == {} and sim.flow_runs == []


# --- the command line ------------------------------------------------------------------------


def test_flags_register_flows_and_queue_keys(tmp_path: Path) -> None:
    flows_file = tmp_path / "flows.json"
    flows_file.write_text(
        json.dumps(
            [
                {
                    "flow_id": 9001,
                    "applets": [{"type": "passthru", "url": "http://127.0.0.1:9/missed-call"}],
                    "exophone": EXOPHONE,
                }
            ]
        ),
        encoding="utf-8",
    )
    inline = json.dumps({"flow_id": "4242", "applets": [{"type": "greeting", "text": "hi"}]})
    args = build_parser().parse_args(
        [
            *("--flow", inline, "--flow", str(flows_file)),
            *("--digits", "9876543210=1", "--digits", "+919876543210="),
            *("--applet-timeout", "2", "--gather-wait", "1.5"),
        ]
    )
    sim = configure(args)
    assert sorted(sim.flows["flows"]) == ["4242", "9001"]
    assert sim.flows["exophones"] == {EXOPHONE: "9001"}
    assert sim.queued_digits == {"9876543210": ["1", ""]}
    assert (sim.applet_timeout, sim.gather_wait) == (2.0, 1.5)
    for bad, message in (
        (["--digits", "9876543210"], "--digits '9876543210' must look like"),
        (["--digits", "9876543210=x"], "not keypad keys"),
        (["--flow", "{nope"], "is not valid JSON"),
        (["--flow", str(tmp_path / "missing.json")], "neither JSON nor a readable file"),
        (["--flow", '{"flow_id": "1"}'], 'each flow is an object {"flow_id", "applets"'),
        (["--flow", '{"flow_id": "1", "applets": [{"type": "menu"}]}'], "'menu' is unknown"),
    ):
        with pytest.raises(ValueError, match=re.escape(message)):
            configure(build_parser().parse_args(bad))


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "notifykit", "simulator", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_notifykit_simulator_presses_keys_and_places_a_missed_call_on_a_running_simulator(
    sim: ExotelSimulator, app: FlowApp
) -> None:
    app.answer("/exotel/s3cr3t/missed-call", 200)
    sim.add_flow(
        "9001",
        [Gather(), Passthru(url=app.url("/exotel/s3cr3t/missed-call"))],
        exophone=EXOPHONE,
    )
    pressed = _cli("press", "--url", sim.base_url, "+919812345678", "4")
    assert pressed.returncode == 0, pressed.stderr
    assert json.loads(pressed.stdout) == {"digits": {"9812345678": ["4"]}}
    missed = _cli("missed-call", "--url", sim.admin_url, "+919812345678", EXOPHONE)
    assert missed.returncode == 0, missed.stderr
    sid = json.loads(missed.stdout)["sid"]
    shown = _cli("flow", "--url", sim.base_url, "--wait", "5", sid)
    assert shown.returncode == 0, shown.stderr
    transcript = json.loads(shown.stdout)
    assert transcript["state"] == "ended" and transcript["steps"][0]["digits"] == "4"
    [hit] = app.hits_to("/exotel/s3cr3t/missed-call")
    assert hit.param("digits") == '"4"' and hit.param("From") == "09812345678"
    refused = _cli("press", "--url", sim.base_url, "+919812345678", "x")
    assert refused.returncode == 3 and "not keypad keys" in refused.stderr  # a usage error


def test_control_commands_say_when_no_simulator_answers() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "notifykit_exotel.simulator",
            "press",
            "--url",
            _closed_port_url(""),
            PERSON,
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "no simulator answers at http://127.0.0.1:" in done.stderr
