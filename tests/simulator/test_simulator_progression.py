"""Progression rules: how calls and SMS end, driven step by step without sleeping."""

from __future__ import annotations

import random

import pytest
import requests

from notifykit_exotel.simulator import ExotelSimulator
from notifykit_exotel.simulator.receiver import CallbackReceiver
from tests.simulator.support import SessionFactory, call_form


def send_sms(api: requests.Session, to: str = "+919876543210", **extra: str) -> str:
    response = api.post("Sms/send.json", data={"From": "NK", "To": to, "Body": "hi", **extra})
    assert response.status_code == 200, response.text
    sid: str = response.json()["SMSMessage"]["Sid"]
    return sid


def connect(api: requests.Session, to: str = "+919812345678", **extra: str) -> str:
    response = api.post("Calls/connect.json", data=call_form(To=to, **extra))
    assert response.status_code == 200, response.text
    sid: str = response.json()["Call"]["Sid"]
    return sid


def test_sms_steps_through_exotels_statuses(
    sim: ExotelSimulator, api: requests.Session, receiver: CallbackReceiver
) -> None:
    sid = send_sms(api, StatusCallback=receiver.url())
    seen = [api.get(f"SMS/Messages/{sid}.json").json()["SMSMessage"]["Status"]]
    callbacks_per_step = []
    for _ in range(3):
        callbacks_per_step.append(len(sim.advance(sid)))
        message = api.get(f"SMS/Messages/{sid}.json").json()["SMSMessage"]
        seen.append(message["Status"])
    assert seen == ["queued", "sending", "submitted", "sent"]
    assert callbacks_per_step == [0, 0, 1]  # only the final state is called back
    assert message["DetailedStatusCode"] == 20005
    (got,) = receiver.wait_for(1)
    assert got.fields["Status"] == "sent"
    assert sim.advance(sid) == []  # final: nothing moves, nothing is sent again


def test_complete_drives_everything_to_its_planned_end(
    sim: ExotelSimulator, api: requests.Session, receiver: CallbackReceiver
) -> None:
    sim.set_outcome("9812345678", "busy")
    sim.set_outcome("+919811111111", "failed", kind="sms", detailed_status_code=23035)
    busy = connect(api, StatusCallback=receiver.url("/call"))
    answered = connect(api, to="09822222222", StatusCallback=receiver.url("/call"))
    failed = send_sms(api, to="09811111111", StatusCallback=receiver.url("/sms"))
    attempts = sim.complete()
    assert [(a.sid, a.fields["Status"]) for a in attempts] == [
        (busy, "busy"),
        (answered, "completed"),
        (failed, "failed"),
    ]
    calls = sim.calls
    assert (calls[busy]["Status"], calls[busy]["Duration"]) == ("busy", "0")
    assert (calls[answered]["Status"], calls[answered]["Duration"]) == ("completed", "17")
    message = api.get(f"SMS/Messages/{failed}.json").json()["SMSMessage"]
    assert (message["Status"], message["DetailedStatus"]) == (
        "failed",
        "FAILED_SUBSCRIBER_UNAVAILABLE",
    )
    assert sim.complete() == []  # nothing left unfinished
    assert len(receiver.wait_for(3)) == 3


@pytest.mark.parametrize("outcome", ["completed", "busy", "no-answer", "failed", "canceled"])
def test_every_call_outcome(sim: ExotelSimulator, api: requests.Session, outcome: str) -> None:
    sim.set_outcome("+919812345678", outcome, duration=42)
    sid = connect(api)
    sim.complete(sid)
    call = api.get(f"Calls/{sid}.json", params={"details": "true"}).json()["Call"]
    assert call["Status"] == outcome
    assert call["Duration"] == ("42" if outcome == "completed" else "0")
    assert call["Details"]["Leg1Status"] == outcome
    assert call["Details"]["Leg2Status"] == ("completed" if outcome == "completed" else None)


def test_call_duration_is_configurable(session_for: SessionFactory) -> None:
    with ExotelSimulator(call_duration=95) as sim:
        sid = connect(session_for(sim))
        sim.complete(sid)
        assert sim.calls[sid]["Duration"] == "95"
        assert sim.calls[sid]["Price"] == "3.000"  # two started minutes


def test_outcome_fraction_is_deterministic_for_a_seed(
    sim: ExotelSimulator, api: requests.Session
) -> None:
    sim.set_outcome_fraction("no-answer", 0.4, seed=11)
    sids = [connect(api, to=f"98123456{n:02d}") for n in range(20)]
    sim.complete()
    rng = random.Random(11)
    expected = ["no-answer" if rng.random() < 0.4 else "completed" for _ in range(20)]
    assert [sim.calls[sid]["Status"] for sid in sids] == expected
    assert 0 < expected.count("no-answer") < 20


def test_per_number_rules_win_over_fractions(sim: ExotelSimulator, api: requests.Session) -> None:
    sim.set_outcome_fraction("failed", 1.0, kind="sms")
    sim.set_outcome("9876543210", "sent")
    kept = send_sms(api, to="9876543210")
    lost = send_sms(api, to="9876543211")
    sim.complete()
    assert sim.messages[kept]["Status"] == "sent"
    assert sim.messages[lost]["Status"] == "failed"
    assert sim.rules["fractions"] == [
        {"kind": "sms", "outcome": "failed", "fraction": 1.0, "seed": None}
    ]
    sim.clear_rules()
    again = send_sms(api, to="9876543211")
    sim.complete(again)
    assert sim.messages[again]["Status"] == "sent"


def test_promotional_sms_to_a_dnd_number_ends_failed_dnd(
    sim: ExotelSimulator, api: requests.Session
) -> None:
    sim.mark_dnd("+919876543210")
    assert api.get("Numbers/09876543210.json").json()["Numbers"]["DND"] == "Yes"
    promo = send_sms(api, SmsType="promotional")
    service = send_sms(api, SmsType="transactional")
    sim.complete()
    assert sim.messages[promo]["Status"] == "failed_dnd"
    assert sim.messages[promo]["DetailedStatusCode"] == 23005
    assert sim.messages[service]["Status"] == "sent"  # DND only stops promotional SMS
    # The default rule: a number ending in 7 reports DND, and promotions to it fail.
    default_dnd = send_sms(api, to="+919876543217", SmsType="promotional")
    sim.complete(default_dnd)
    assert sim.messages[default_dnd]["Status"] == "failed_dnd"
    sim.mark_dnd("+919876543217", dnd=False)
    cleared = send_sms(api, to="+919876543217", SmsType="promotional")
    sim.complete(cleared)
    assert sim.messages[cleared]["Status"] == "sent"


def test_bad_rules_are_refused_with_the_fix(sim: ExotelSimulator) -> None:
    with pytest.raises(ValueError, match=r"calls end completed\|busy"):
        sim.set_outcome("9876543210", "delivered")
    with pytest.raises(ValueError, match="unknown outcome 'busy' for sms"):
        sim.set_outcome("9876543210", "busy", kind="sms")
    with pytest.raises(ValueError, match="between 0 and 1"):
        sim.set_outcome_fraction("failed", 2)
    with pytest.raises(ValueError, match="not a phone number"):
        sim.set_outcome("nobody", "busy")
    with pytest.raises(KeyError):
        sim.advance("no-such-sid")


def test_auto_progress_steps_on_a_timer(
    receiver: CallbackReceiver, session_for: SessionFactory
) -> None:
    with ExotelSimulator(auto_progress=True, progress_delay=0.01) as sim:
        sim.set_outcome("9812345678", "no-answer")
        api = session_for(sim)
        sms = send_sms(api, StatusCallback=receiver.url())
        call = connect(api, StatusCallback=receiver.url())
        attempts = sim.wait_for_callbacks(2)
    assert {(a.sid, a.fields["Status"]) for a in attempts} == {(sms, "sent"), (call, "no-answer")}


def test_requests_to_counts_per_number_in_every_encoding(
    sim: ExotelSimulator, api: requests.Session
) -> None:
    send_sms(api, to="09876543210")
    api.post(
        "Sms/send.json",
        data=[("From", "NK"), ("Body", "b"), ("To[0]", "+919876543210"), ("To[1]", "9812345678")],
    )
    api.post(
        "Sms/bulksend.json",
        data={"From": "NK", "Messages[0][To]": "919876543210", "Messages[0][Body]": "d"},
    )
    connect(api, to="9876543210")
    assert len(sim.requests_to("+919876543210")) == 4
    assert len(sim.requests_to("9876543210", path=r"/Sms/")) == 3
    assert len(sim.requests_to("9876543210", method="POST", path="connect")) == 1
    assert len(sim.requests_to("+919812345678")) == 1
