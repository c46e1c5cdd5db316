"""The failures the pipeline was built to end, each as it was reported: one alert's trouble
stopping every escalation, ``resolve`` after ``ack`` doing nothing, an acknowledgement not
cancelling a call already planned, a Celery task not escalating a failed step, and
``routes test --resolved`` crashing. Real HTTP to the simulator, a real SQLite ledger, a
controllable clock."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from notifykit import Notifier
from notifykit.celery import deliver_ids
from notifykit.report import DeliveryState
from notifykit_exotel.simulator import ExotelSimulator, Fault
from tests.delivery.conftest import PHONES, TOKEN, Clock, write_config
from tests.pipeline.test_lifecycle import MONDAY_9, tick

P0, P1, P2 = PHONES
ROOT = Path(__file__).resolve().parents[2]

ROUTING: dict[str, Any] = {
    "receivers": {
        "ops": {"channels": ["sms"], "to": ["p1"]},
        "pager": {"escalation": "primary"},
    },
    "route": {
        "receiver": "ops",
        "group_by": ["event"],
        "send_resolved": True,
        "routes": [{"matchers": ['severity="critical"'], "receiver": "pager"}],
    },
    "escalations": {
        "primary": {
            "steps": [
                {"after": "0s", "channels": ["sms"], "to": ["p0"]},
                {"after": "5m", "channels": ["call"], "to": ["p0"]},
                {"after": "10m", "channels": ["call"], "to": ["p2"]},
            ]
        }
    },
}


def pages(sim: ExotelSimulator) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for r in sim.requests:
        if r.path.endswith("/Sms/send.json"):
            out.extend(("sms", n) for n in r.recipients)
        elif r.path.endswith("/Calls/connect.json"):
            out.append(("call", r.form["From"][0]))
    return out


def test_send_resolved_on_an_escalation_receiver_stops_nothing_else(
    make_kit, sim, tmp_path, caplog
):
    clock = Clock(MONDAY_9)
    kit: Notifier = make_kit(write_config(tmp_path, sim, **ROUTING), clock=clock)
    kit.notify("db.down", severity="critical", labels={"host": "db1"})
    kit.notify("cache.down", severity="critical", labels={"host": "c1"})
    clock.advance(60)
    # resolved inside group_interval: the escalation stops at once, the resolved message goes at
    # the group's next flush, and the other escalation goes on
    resolved = kit.notify("db.down", severity="critical", labels={"host": "db1"}, resolved=True)
    assert resolved.ok
    with caplog.at_level(logging.ERROR):
        clock.advance(240)
        tick(kit, clock)
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert sorted(pages(sim)) == sorted(
        [
            ("sms", P0),  # db.down step 0
            ("sms", P0),  # cache.down step 0
            ("sms", P0),  # db.down resolved, to everyone its steps could reach
            ("sms", P2),
            ("call", P0),  # cache.down step 1, at 5m
        ]
    )
    states = {r.key: r.state for r in kit.ledger.routing.escalations()}
    assert states == {"db.down": "resolved", "cache.down": "active"}
    # resolving again, or through Alertmanager's resolved webhook, raises nothing either
    assert kit.resolve("db.down") == []
    [report] = kit.resolve("cache.down")
    assert report.ok


def test_resolve_after_ack_by_the_key_notify_reported(make_kit, sim, tmp_path):
    clock = Clock(MONDAY_9)
    kit: Notifier = make_kit(write_config(tmp_path, sim, **ROUTING), clock=clock)
    # labels outside group_by: the report's key is the group's, db.down
    first = kit.notify("db.down", severity="critical", labels={"host": "db1", "dc": "mum"})
    assert first.key == "db.down"
    [acked] = kit.ack(first.key, by="asha")
    assert acked.state == "acked"
    assert kit.resolve(first.key)  # the acknowledged alert is still resolvable
    clock.advance(3600)  # the same failure an hour later is paged again
    again = kit.notify("db.down", severity="critical", labels={"host": "db1", "dc": "mum"})
    # (with the resolution the group owed: send_resolved tells everyone the steps reach)
    assert sorted(d.address for d in again.succeeded) == sorted([P0, P0, P2])
    assert [e.state for e in kit.ledger.routing.escalations()] == ["active", "acked"]


def test_ack_by_any_key_form_of_an_alert_in_the_group(make_kit, sim, tmp_path):
    kit: Notifier = make_kit(write_config(tmp_path, sim, **ROUTING), clock=Clock(MONDAY_9))
    kit.notify("db.down", severity="critical", labels={"host": "db1"})
    [acked] = kit.ack("db.down{host=db1}")  # the alert's own key, not the group's
    assert acked.key == "db.down"


def test_an_ack_cancels_a_call_waiting_for_its_retry(make_kit, sim, tmp_path):
    clock = Clock(MONDAY_9)
    kit: Notifier = make_kit(write_config(tmp_path, sim, **ROUTING), clock=clock)
    kit.notify("db.down", severity="critical", labels={"host": "db1"})
    sim.inject(Fault(status=503, message="busy", path="Calls"), times=1)
    clock.advance(300)
    tick(kit, clock)  # the 5-minute call: 503, a retry planned in a second
    [call] = [d for r in kit.history() for d in r.deliveries if d.channel == "call"]
    assert call.state is DeliveryState.PENDING
    kit.ack("db.down", by="asha")
    clock.advance(5)
    tick(kit, clock)
    calls = [r for r in sim.requests if r.path.endswith("/Calls/connect.json")]
    assert len(calls) == 1  # only the one that got the 503: nothing after the ack
    [call] = [d for r in kit.history() for d in r.deliveries if d.channel == "call"]
    assert call.state is DeliveryState.CANCELLED and "acknowledged by asha" in (call.error or "")


def test_a_celery_task_escalates_a_failed_step_at_once(make_kit, sim, tmp_path):
    clock = Clock(MONDAY_9)
    path = write_config(
        tmp_path, sim, dispatch="celery", celery={"broker": "redis://127.0.0.1:1/0"}, **ROUTING
    )
    kit: Notifier = make_kit(path, clock=clock)
    kit.notify("db.down", severity="critical", labels={"host": "db1"})
    clock.advance(300)
    runtime = kit.runtime
    runtime.pipeline.due.tick(clock())  # beat's tick: the 5-minute step becomes a delivery
    [call] = [d for r in kit.history() for d in r.deliveries if d.channel == "call"]
    sim.inject(Fault(status=400, code=40007, message="invalid To", path="Calls"), times=1)
    assert deliver_ids(runtime, [call.id], "celery-queue:q", "celery:t1") == {"failed": 1}
    [escalation] = kit.ledger.routing.escalations()
    pending = [
        s for s in kit.ledger.routing.escalation_steps(escalation.id) if s.state == "pending"
    ]
    assert [s.due_at for s in pending] == [pytest.approx(clock())]  # the 10-minute step: now


def test_a_group_whose_flush_fails_does_not_stop_the_others(make_kit, sim, tmp_path, caplog):
    templates = tmp_path / "templates"
    templates.mkdir()
    # fails only for a digest of several alerts: found at a flush, not when raised
    (templates / "digest.sms.j2").write_text(
        "{% if alerts | length > 1 %}{{ no_such_variable }}{% endif %}{{ event }}"
    )
    routing = {
        **ROUTING,
        "receivers": {
            **ROUTING["receivers"],
            "ops": {**ROUTING["receivers"]["ops"], "template": "digest"},
        },
        "route": {**ROUTING["route"], "group_wait": "30s", "routes": []},
    }
    clock = Clock(MONDAY_9)
    kit: Notifier = make_kit(write_config(tmp_path, sim, **routing), clock=clock)
    kit.notify("a.broken", labels={"host": "h1"})
    kit.notify("a.broken", labels={"host": "h2"})
    kit.notify("b.fine", labels={"host": "h1"})
    clock.advance(30)
    with caplog.at_level(logging.ERROR):
        tick(kit, clock)
    assert pages(sim) == [("sms", P1)]  # b.fine went out
    [error] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "a.broken" in error.getMessage() and "tried again in 30s" in error.getMessage()
    state = kit.ledger.routing
    assert state.next_due() == pytest.approx(clock() + 30)  # backoff, not every tick


def test_routes_test_resolved_explains_an_escalation_receiver(sim, tmp_path):
    path = write_config(tmp_path, sim, **ROUTING)
    env = {**os.environ, "NK_LEDGER_TOKEN": TOKEN, "PYTHONPATH": f"{ROOT}:{ROOT / 'plugins'}"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "notifykit",
            "--config",
            str(path),
            "routes",
            "test",
            "db.down",
            "--severity",
            "critical",
            "--resolved",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "escalation primary: resolved" in result.stdout
