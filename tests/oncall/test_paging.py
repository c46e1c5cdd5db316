"""Paging ``schedule:NAME`` end to end, over real HTTP to the simulator with a real worker and a
controllable clock: a page reaches whoever is on call when its step fires (not when the alert
arrived), the ledger records who that was, a step with nobody on call is skipped and the next
step goes out at once, and a receiver with nobody on call says so.

The clock starts at 2027-01-15 13:30 IST; ``primary`` hands over every 10 minutes from then
(p0, p1, p0...); ``ghost`` has someone on call only in 2030."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from notifykit import Notifier
from notifykit_exotel.simulator import ExotelSimulator
from tests.delivery.conftest import PHONES, Clock, write_config
from tests.delivery.test_escalation import drain, sends

SCHEDULES: dict[str, Any] = {
    "primary": {
        "layers": [{"rotation": "10m", "start": "2027-01-15T13:30", "members": ["p0", "p1"]}]
    },
    "ghost": {
        "layers": [
            {
                "rotation": "daily",
                "start": "2027-01-01T00:00",
                "members": ["p2"],
                "restrict": ["in-2030"],
            }
        ]
    },
}

ROUTING: dict[str, Any] = {
    "receivers": {
        "page-primary": {"escalation": "primary"},
        "page-ghost": {"escalation": "ghost-first"},
        "sms-ghost": {"channels": ["sms"], "to": ["schedule:ghost"]},
        "sms-primary": {"channels": ["sms"], "to": ["schedule:primary"]},
    },
    "route": {
        "receiver": "sms-primary",
        "group_wait": "0s",
        "repeat_interval": "0s",
        "routes": [
            {"matchers": ['team="db"'], "receiver": "page-primary"},
            {"matchers": ['team="ghost"'], "receiver": "page-ghost"},
            {"matchers": ['team="nobody"'], "receiver": "sms-ghost"},
            {
                "matchers": ['team="grouped"'],
                "receiver": "sms-ghost",
                "group_wait": "30s",
                "repeat_interval": "4h",
            },
        ],
    },
    "time_intervals": {"in-2030": [{"years": ["2030"], "location": "Asia/Kolkata"}]},
    "escalations": {
        "primary": {
            "steps": [
                {"after": "0s", "channels": ["sms"], "to": ["schedule:primary"]},
                {"after": "15m", "channels": ["call"], "to": ["schedule:primary"]},
            ]
        },
        "ghost-first": {
            "steps": [
                {"after": "0s", "channels": ["call"], "to": ["schedule:ghost"]},
                {"after": "30m", "channels": ["sms"], "to": ["p2"]},
                {"after": "40m", "channels": ["call"], "to": ["p2"]},
            ]
        },
    },
    "schedules": SCHEDULES,
}


@pytest.fixture
def kit(
    make_kit: Callable[..., Notifier], sim: ExotelSimulator, tmp_path: Path, clock: Clock
) -> Notifier:
    return make_kit(write_config(tmp_path, sim, **ROUTING), clock=clock)


def recipients(kit: Notifier) -> list[tuple[str, str]]:
    """(channel, recipient) of every delivery the ledger recorded, oldest first."""
    return [
        (d.channel, d.recipient)
        for report in reversed(kit.history(limit=50))
        for d in report.deliveries
    ]


def test_a_page_reaches_whoever_is_on_call_through_a_worker(kit, sim, clock):
    assert kit.oncall("primary").who == "p0"
    kit.submit("db.down", severity="critical", labels={"team": "db", "host": "db1"})
    assert sends(sim) == []  # stored, for the worker
    drain(kit, clock)
    assert sends(sim) == [("sms", PHONES[0])]
    assert recipients(kit) == [("sms", "p0")]


def test_a_step_firing_after_the_handoff_reaches_the_next_person(kit, sim, clock):
    kit.submit("db.down", severity="critical", labels={"team": "db", "host": "db1"})
    drain(kit, clock)
    clock.advance(14 * 60)  # p1 took over at 10m; step 1 is not due yet
    drain(kit, clock)
    assert sends(sim) == [("sms", PHONES[0])]
    clock.advance(60)  # 15m: step 1 fires, and p1 is the one on call now
    assert kit.oncall("primary").who == "p1"
    drain(kit, clock)
    assert sends(sim) == [("sms", PHONES[0]), ("call", PHONES[1])]
    # the ledger says who each step reached: the person, not the schedule
    assert recipients(kit) == [("sms", "p0"), ("call", "p1")]
    [escalation] = kit.ledger.routing.escalations()
    assert [s.state for s in kit.ledger.routing.escalation_steps(escalation.id)] == [
        "sent",
        "sent",
    ]
    assert escalation.state == "done"


def test_an_override_wins_when_the_step_fires(make_kit, sim, tmp_path, clock):
    schedules = {
        **SCHEDULES,
        "primary": {
            **SCHEDULES["primary"],
            "overrides": [{"who": "p2", "from": "2027-01-15T13:40", "to": "2027-01-15T14:00"}],
        },
    }
    kit = make_kit(write_config(tmp_path, sim, **{**ROUTING, "schedules": schedules}), clock=clock)
    kit.notify("db.down", severity="critical", labels={"team": "db", "host": "db1"})
    clock.advance(15 * 60)
    drain(kit, clock)
    assert sends(sim) == [("sms", PHONES[0]), ("call", PHONES[2])]
    assert recipients(kit) == [("sms", "p0"), ("call", "p2")]


def test_nobody_on_call_skips_the_step_and_the_next_goes_out_at_once(kit, sim, clock):
    assert kit.oncall("ghost").who is None
    kit.notify("db.down", severity="critical", labels={"team": "ghost"})
    # step 0 (schedule:ghost) is skipped; step 1 (p2, due at 30m) goes out now instead
    assert sends(sim) == [("sms", PHONES[2])]
    [escalation] = kit.ledger.routing.escalations()
    steps = kit.ledger.routing.escalation_steps(escalation.id)
    assert [s.state for s in steps] == ["skipped", "sent", "pending"]
    # the later steps moved as much earlier: step 2 is now due at 10m, not 40m
    assert steps[2].due_at == pytest.approx(clock() + 10 * 60)
    [audit] = [a for a in kit.audit() if a.action == "escalated"]
    assert audit.detail == (
        "step 0.0 skipped: nobody on call (schedule:ghost); the next step goes out now"
    )
    assert audit.target["step"] == "0.0"
    clock.advance(10 * 60)
    drain(kit, clock)
    assert sends(sim) == [("sms", PHONES[2]), ("call", PHONES[2])]


def test_nobody_on_call_through_a_worker_too(kit, sim, clock):
    kit.submit("db.down", severity="critical", labels={"team": "ghost"})
    drain(kit, clock)
    assert sends(sim) == [("sms", PHONES[2])]


def test_a_receiver_with_nobody_on_call_says_so_and_sends_nothing(kit, sim, clock):
    report = kit.notify("db.down", severity="critical", labels={"team": "nobody"})
    assert report.deliveries == ()
    assert "skipped: sms-ghost: nobody on call (schedule:ghost)" in report.notes
    assert sends(sim) == []


def test_routes_test_shows_who_each_step_reaches(kit, clock):
    explanation = kit.explain("db.down", severity="critical", labels={"team": "db"})
    text = explanation.text()
    assert "sms to schedule:primary → p0 (layer 0) from NKALRT after 0s" in text
    assert "call to schedule:primary → p1 (layer 0) from 08088919888 after 15m" in text
    steps = list(explanation.to_dict()["deliveries"])
    assert [d["oncall"] for d in steps] == [
        {"who": "p0", "layer": 0, "override": False},
        {"who": "p1", "layer": 0, "override": False},
    ]
    assert [d["address"] for d in steps] == [PHONES[0], PHONES[1]]
    ghost = kit.explain("db.down", severity="critical", labels={"team": "nobody"}).text()
    assert "sms to schedule:ghost → nobody on call (skipped)" in ghost


def test_a_group_with_nobody_on_call_is_skipped_at_its_flush_and_kept(kit, sim, clock, caplog):
    report = kit.notify("db.down", severity="critical", labels={"team": "grouped"})
    assert report.deliveries == () and [h.receiver for h in report.held] == ["sms-ghost"]
    clock.advance(30)
    with caplog.at_level("ERROR", logger="notifykit.routing"):
        drain(kit, clock)
    assert sends(sim) == []
    assert any("skipped: nobody on call (schedule:ghost)" in r.getMessage() for r in caplog.records)
    # the flush did not fail (no backoff): the alert stays open in its group for the next one
    assert [a.key for a in kit.alerts()] == ["db.down{team=grouped}"]


def test_a_dry_run_says_a_step_would_be_skipped(make_kit, sim, tmp_path, clock):
    kit = make_kit(write_config(tmp_path, sim, **ROUTING), clock=clock, dry_run=True)
    report = kit.notify("db.down", severity="critical", labels={"team": "ghost"})
    assert (
        "skipped: page-ghost: step 0: nobody on call (schedule:ghost) (the next step goes out "
        "at once)" in report.notes
    )
    assert sends(sim) == []


def test_nobody_on_call_in_the_last_step_is_an_error_in_the_log(
    make_kit, sim, tmp_path, clock, caplog
):
    routing = {
        **ROUTING,
        "escalations": {
            **ROUTING["escalations"],
            "ghost-first": {
                "steps": [{"after": "0s", "channels": ["sms"], "to": ["schedule:ghost"]}]
            },
        },
    }
    kit = make_kit(write_config(tmp_path, sim, **routing), clock=clock)
    with caplog.at_level("WARNING", logger="notifykit.routing"):
        kit.notify("db.down", severity="critical", labels={"team": "ghost"})
    assert sends(sim) == []
    [record] = [r for r in caplog.records if "skipped" in r.getMessage()]
    assert record.levelname == "ERROR"
    assert record.getMessage().endswith(
        "step 0.0 skipped: nobody on call (schedule:ghost); no step is left: nobody paged"
    )
    [escalation] = kit.ledger.routing.escalations()
    assert escalation.state == "done"
    [audit] = [a for a in kit.audit() if a.action == "escalated"]
    assert audit.detail.endswith("no step is left: nobody paged")
