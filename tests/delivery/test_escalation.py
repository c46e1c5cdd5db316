"""Escalation until acknowledged, with the controllable clock and real HTTP to the simulator: SMS
at t=0, a call at t=5m, the secondary at t=10m; acknowledged at t=3m nothing more is sent; a failed
SMS report escalates at once; an answered call acknowledges; a worker restart mid-escalation loses
no step and repeats none; resolve stops it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from notifykit import Notifier
from notifykit.server import StatusServer
from notifykit_exotel.simulator import ExotelSimulator
from tests.delivery.conftest import PHONES, Clock, free_port, write_config

ROUTING: dict[str, Any] = {
    "receivers": {
        "oncall-sms": {"channels": ["sms"], "to": ["p2"]},
        "page-primary": {"escalation": "primary"},
    },
    "route": {
        "receiver": "oncall-sms",
        "routes": [{"matchers": ['severity="critical"'], "receiver": "page-primary"}],
    },
    "escalations": {
        "primary": {
            "steps": [
                {"after": "0s", "channels": ["sms"], "to": ["p0"]},
                {"after": "5m", "channels": ["call"], "to": ["p0"]},
                {"after": "10m", "channels": ["call"], "to": ["p1"]},
            ],
            "ack_on_answer": True,
        }
    },
}


def sends(sim: ExotelSimulator) -> list[tuple[str, str]]:
    """What reached the simulator: ("sms", To) and ("call", the number rung)."""
    out = []
    for r in sim.requests:
        if r.path.endswith("/Sms/send.json"):
            out.extend(("sms", n) for n in r.recipients)
        elif r.path.endswith("/Calls/connect.json"):
            out.append(("call", r.form["From"][0]))
    return out


def drain(kit: Notifier, clock: Clock) -> None:
    kit.worker(threads=1, poll=0.05, clock=clock).run(drain=True)


@pytest.fixture
def kit(make_kit: Callable[..., Notifier], sim: ExotelSimulator, tmp_path: Path, clock: Clock):
    return make_kit(write_config(tmp_path, sim, **ROUTING), clock=clock)


SMS0 = ("sms", PHONES[0])
CALL0 = ("call", PHONES[0])
CALL1 = ("call", PHONES[1])


def test_steps_go_out_on_schedule(kit, sim, clock):
    report = kit.notify("db.down", severity="critical", labels={"host": "db1"})
    assert report.key == "db.down{host=db1}"
    assert sends(sim) == [SMS0]  # step 0 is due at once: notify() sends it itself
    clock.advance(4 * 60)
    drain(kit, clock)
    assert sends(sim) == [SMS0]
    clock.advance(60)
    drain(kit, clock)
    assert sends(sim) == [SMS0, CALL0]
    clock.advance(5 * 60)
    drain(kit, clock)
    assert sends(sim) == [SMS0, CALL0, CALL1]
    clock.advance(3600)
    drain(kit, clock)
    assert sends(sim) == [SMS0, CALL0, CALL1]
    [escalation] = kit.ledger.routing.escalations()
    assert escalation.state == "done"


def test_acknowledged_at_3m_sends_nothing_more(kit, sim, clock):
    kit.notify("db.down", severity="critical", labels={"host": "db1"})
    clock.advance(3 * 60)
    [acked] = kit.ack("db.down{host=db1}", by="asha")
    assert acked.state == "acked" and acked.acked_by == "asha"
    for _ in range(3):
        clock.advance(5 * 60)
        drain(kit, clock)
    assert sends(sim) == [SMS0]
    assert [s.state for s in kit.ledger.routing.escalation_steps(acked.id)] == [
        "sent",
        "cancelled",
        "cancelled",
    ]
    assert kit.ack("db.down{host=db1}") == []  # nothing active any more


def test_the_same_alert_again_joins_the_running_escalation(kit, sim, clock):
    kit.notify("db.down", severity="critical", labels={"host": "db1"})
    clock.advance(60)
    kit.notify("db.down", severity="critical", labels={"host": "db1"})
    assert sends(sim) == [SMS0]
    assert len(kit.ledger.routing.escalations()) == 1


def test_resolve_stops_the_escalation(kit, sim, clock):
    kit.notify("db.down", severity="critical", labels={"host": "db1"})
    clock.advance(60)
    kit.resolve("db.down{host=db1}")
    clock.advance(20 * 60)
    drain(kit, clock)
    assert sends(sim) == [SMS0]  # no send_resolved: nothing more at all
    [escalation] = kit.ledger.routing.escalations()
    assert escalation.state == "resolved"


def test_notify_resolved_stops_it_too(kit, sim, clock):
    kit.notify("db.down", severity="critical", labels={"host": "db1"})
    kit.notify("db.down", severity="critical", labels={"host": "db1"}, resolved=True)
    clock.advance(20 * 60)
    drain(kit, clock)
    assert sends(sim) == [SMS0]


def test_a_worker_restart_mid_escalation_loses_no_step_and_repeats_none(
    make_kit, sim, tmp_path, clock
):
    path = write_config(tmp_path, sim, **ROUTING)
    first = make_kit(path, clock=clock)
    first.submit("db.down", severity="critical", labels={"host": "db1"})
    drain(first, clock)
    clock.advance(5 * 60)
    drain(first, clock)
    assert sends(sim) == [SMS0, CALL0]
    first.close()
    # A new process (a new Notifier on the same ledger file) takes over.
    clock.advance(5 * 60)
    second = make_kit(path, clock=clock)
    drain(second, clock)
    drain(second, clock)
    assert sends(sim) == [SMS0, CALL0, CALL1]
    clock.advance(3600)
    drain(second, clock)
    assert sends(sim) == [SMS0, CALL0, CALL1]


@pytest.fixture
def served(make_kit, sim, tmp_path, clock):
    port = free_port()
    path = write_config(
        tmp_path,
        sim,
        server={"public_url": f"http://127.0.0.1:{port}", "port": port},
        **ROUTING,
    )
    kit = make_kit(path, clock=clock)
    with StatusServer(kit, "127.0.0.1", port) as server:
        yield kit, server


def test_a_failed_sms_report_escalates_at_once(served, sim, clock):
    kit, _server = served
    report = kit.notify("db.down", severity="critical", labels={"host": "db1"})
    clock.advance(30)
    attempt = sim.deliver_sms(report.deliveries[0].provider_id, "failed")
    assert attempt is not None and attempt.status == 200
    drain(kit, clock)
    assert sends(sim) == [SMS0, CALL0]  # the call did not wait for t=5m
    clock.advance(5 * 60)  # the gaps are kept: the secondary 5m after the call
    drain(kit, clock)
    assert sends(sim) == [SMS0, CALL0, CALL1]


def test_an_answered_call_acknowledges(served, sim, clock):
    kit, _server = served
    kit.notify("db.down", severity="critical", labels={"host": "db1"})
    clock.advance(5 * 60)
    drain(kit, clock)
    [call_sid] = list(sim.calls)
    sim.complete_call(call_sid, "completed")
    [escalation] = kit.ledger.routing.escalations()
    assert escalation.state == "acked" and (escalation.acked_by, escalation.acked_via) == (
        "p0",
        "call",
    )
    clock.advance(10 * 60)
    drain(kit, clock)
    assert sends(sim) == [SMS0, CALL0]


def test_the_first_step_goes_out_at_once_at_any_sub_microsecond_time(make_kit, sim, tmp_path):
    # datetime keeps microseconds: this time rounds up, and the step due "now" must still be due
    kit = make_kit(write_config(tmp_path, sim, **ROUTING), clock=Clock(1_800_000_000.9999996))
    kit.notify("db.down", severity="critical", labels={"host": "db1"})
    assert sends(sim) == [SMS0]
