"""The apprise channel behind notifykit's routing: an escalation that notifies the primary's
target at once, the secondary's at 5 minutes, with a real SQLite ledger, a controllable clock
and a worker; acknowledged, it sends nothing more; the same alert again is deduplicated; a
failure that certainly sent nothing moves the escalation on, an ``unknown`` one is not resent."""

from __future__ import annotations

from typing import Any

import pytest

from notifykit_apprise.receiver import AppriseReceiver
from tests.apprise_channel.conftest import TOKEN, write_config
from tests.delivery.conftest import Clock

ROUTING: dict[str, Any] = {
    "receivers": {
        "room": {"channels": ["push"], "to": ["ops-room"]},
        "page": {"escalation": "primary"},
    },
    "route": {
        "receiver": "room",
        "routes": [{"matchers": ['severity="critical"'], "receiver": "page"}],
    },
    "escalations": {
        "primary": {
            "steps": [
                {"after": "0s", "channels": ["push"], "to": ["alice"]},
                {"after": "5m", "channels": ["push"], "to": ["bob"]},
            ]
        }
    },
}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def kit(make_kit, tmp_path, clock):
    return make_kit(write_config(tmp_path, **ROUTING), clock=clock)


def drain(kit, clock: Clock) -> None:
    kit.worker(threads=1, poll=0.05, clock=clock).run(drain=True)


def paths(receiver: AppriseReceiver) -> list[str]:
    return [r.path.removesuffix(f"/{TOKEN}") for r in receiver.received]


def test_the_steps_go_out_on_schedule(kit, receiver, clock):
    report = kit.notify("db.down", severity="critical", labels={"host": "db1"})
    assert [d.state.value for d in report.deliveries] == ["sent"]
    assert paths(receiver) == ["/alice"]
    [received] = receiver.received
    assert received.title == "db.down (critical)" and "db1" in received.body
    clock.advance(4 * 60)
    drain(kit, clock)
    assert paths(receiver) == ["/alice"]
    clock.advance(60)
    drain(kit, clock)
    assert paths(receiver) == ["/alice", "/bob"]
    clock.advance(3600)
    drain(kit, clock)
    assert paths(receiver) == ["/alice", "/bob"]
    [escalation] = kit.ledger.routing.escalations()
    assert escalation.state == "done"


def test_acknowledged_it_sends_nothing_more(kit, receiver, clock):
    kit.notify("db.down", severity="critical", labels={"host": "db1"})
    clock.advance(2 * 60)
    [acked] = kit.ack("db.down{host=db1}", by="alice")
    assert acked.state == "acked"
    clock.advance(10 * 60)
    drain(kit, clock)
    assert paths(receiver) == ["/alice"]


def test_the_same_alert_again_is_not_sent_twice(kit, receiver, clock):
    kit.notify("db.down", severity="critical", labels={"host": "db1"})
    clock.advance(30)
    kit.notify("db.down", severity="critical", labels={"host": "db1"})
    kit.notify("disk.full", severity="warning", labels={"host": "db1"})
    assert paths(receiver) == ["/alice", "/ops"]


def test_an_unknown_outcome_is_never_resent(kit, receiver, clock):
    receiver.answer("/alice", status=502)
    report = kit.notify("db.down", severity="critical", labels={"host": "db1"})
    assert [d.state.value for d in report.deliveries] == ["unknown"]
    for _ in range(3):
        clock.advance(60)
        drain(kit, clock)
    assert paths(receiver) == ["/alice"]  # not resent; the escalation goes on at 5 minutes
    clock.advance(2 * 60)
    drain(kit, clock)
    assert paths(receiver) == ["/alice", "/bob"]


def test_a_refusal_moves_the_escalation_on_at_once(kit, receiver, clock):
    receiver.answer("/alice", status=404)
    report = kit.notify("db.down", severity="critical", labels={"host": "db1"})
    assert [d.state.value for d in report.deliveries] == ["failed"]
    drain(kit, clock)
    assert paths(receiver) == ["/alice", "/bob"]
