"""Alertmanager's alert lifecycle, end to end: real HTTP to the simulator, a real SQLite ledger, a
real worker, and a controllable clock. Each test is one timeline from Alertmanager's docs
(``docs/configuration.md``, ``docs/alertmanager.md``): mute decisions made when a group is sent,
alerts muted when raised held and sent when the mute is over, ``send_resolved: false`` receivers
never told of resolutions, an alert resolved within ``group_wait`` sent to nobody,
``group_interval`` a recurring timer, ``resolve_timeout``, and an escalation keeping its alert
open."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from notifykit import Notifier
from notifykit_exotel.simulator import ExotelSimulator
from tests.delivery.conftest import PHONES, TOKEN, Clock, write_config

IST = ZoneInfo("Asia/Kolkata")
MONDAY_9 = datetime(2027, 1, 18, 9, 0, tzinfo=IST).timestamp()
P0, P1, P2 = PHONES
ROOT = Path(__file__).resolve().parents[2]


def texts(sim: ExotelSimulator) -> list[str]:
    """The SMS bodies the simulator received, in order."""
    return [r.form["Body"][0] for r in sim.requests if r.path.endswith("/Sms/send.json")]


def tick(kit: Notifier, clock: Clock) -> None:
    """What a running worker does at this moment: the due-work tick, then send what is due."""
    kit.worker(threads=1, poll=0.05, clock=clock).run(drain=True)


def config(tmp_path: Path, sim: ExotelSimulator, **route: Any) -> Path:
    templates = tmp_path / "templates"
    templates.mkdir(exist_ok=True)
    # every alert the message tells of, with its status: what the receiver was told
    (templates / "list.sms.j2").write_text(
        "{% for a in alerts %}{{ a.event }}/{{ a.labels.host }}={{ a.status }} {% endfor %}"
    )
    root: dict[str, Any] = {
        "receiver": "ops",
        "group_by": ["event"],
        "group_wait": "0s",
        "group_interval": "5m",
        "repeat_interval": "4h",
        **route,
    }
    return write_config(
        tmp_path,
        sim,
        receivers={
            "ops": {"channels": ["sms"], "to": ["p1"], "template": "list"},
            "pager": {"escalation": "primary"},
        },
        route=root,
        inhibit_rules=[
            {
                "source_matchers": ['event="host.down"'],
                "target_matchers": ['severity="warning"'],
                "equal": ["host"],
            }
        ],
        time_intervals={
            "maintenance": [
                {
                    "weekdays": ["monday"],
                    "times": [{"start_time": "10:00", "end_time": "11:00"}],
                    "location": "Asia/Kolkata",
                }
            ]
        },
        escalations={
            "primary": {
                "steps": [
                    {"after": "0s", "channels": ["sms"], "to": ["p0"]},
                    {"after": "5m", "channels": ["sms"], "to": ["p0"]},
                    {"after": "10m", "channels": ["sms"], "to": ["p2"]},
                ]
            }
        },
    )


def test_inhibition_is_decided_when_the_group_is_sent(make_kit, sim, tmp_path):
    # Alertmanager's reason for group_wait: the inhibiting alert arrives 0.5 s after its target,
    # both inside group_wait; at the flush the target is muted.
    clock = Clock(MONDAY_9)
    kit = make_kit(config(tmp_path, sim, group_by=["event", "host"], group_wait="30s"), clock=clock)
    held = kit.notify("service.down", severity="warning", labels={"host": "h1"})
    assert held.ok and held.deliveries == () and held.held  # waiting, not failed
    clock.advance(0.5)
    kit.notify("host.down", severity="critical", labels={"host": "h1"})
    clock.advance(30)  # both groups' group_wait is over
    tick(kit, clock)
    assert texts(sim) == ["host.down/h1=firing"]


def test_a_group_waiting_into_a_mute_window_is_sent_when_it_ends(make_kit, sim, tmp_path):
    clock = Clock(MONDAY_9 + 3600 - 15)  # 09:59:45
    routes = [
        {
            "matchers": ['event="batch.slow"'],
            "receiver": "ops",
            "mute_time_intervals": ["maintenance"],
        }
    ]
    kit = make_kit(
        config(tmp_path, sim, group_wait="30s", resolve_timeout="2h", routes=routes), clock=clock
    )
    kit.notify("batch.slow", severity="warning", labels={"host": "h1"})
    clock.advance(30)  # 10:00:15: the group's first flush, inside the window
    tick(kit, clock)
    assert texts(sim) == []
    for _ in range(11):  # every 5 minutes until 10:55:15, still inside
        clock.advance(300)
        tick(kit, clock)
    assert texts(sim) == []
    clock.advance(300)  # 11:00:15: the first flush after the window, the alert still fires
    tick(kit, clock)
    assert texts(sim) == ["batch.slow/h1=firing"]


def test_an_alert_inhibited_when_raised_is_sent_once_the_source_resolves(make_kit, sim, tmp_path):
    clock = Clock(MONDAY_9)
    kit = make_kit(
        config(tmp_path, sim, group_by=["event", "host"], resolve_timeout="1h"), clock=clock
    )
    kit.notify("host.down", severity="critical", labels={"host": "h1"})
    clock.advance(10)
    muted = kit.notify("app.error", severity="warning", labels={"host": "h1"})
    assert muted.ok and muted.deliveries == ()
    assert any("inhibited by host.down{host=h1}" in n for n in muted.notes)
    clock.advance(50)
    kit.notify("host.down", severity="critical", labels={"host": "h1"}, resolved=True)
    clock.advance(250)  # t=310: app.error's group flushes again (group_interval 5m)
    tick(kit, clock)
    assert texts(sim) == ["host.down/h1=firing", "app.error/h1=firing"]


def test_a_receiver_without_send_resolved_is_never_told_of_resolutions(make_kit, sim, tmp_path):
    clock = Clock(MONDAY_9)
    kit = make_kit(config(tmp_path, sim, resolve_timeout="1h"), clock=clock)
    kit.notify("disk.full", severity="warning", labels={"host": "h1"})  # t=0: a new group
    clock.advance(10)
    kit.notify("disk.full", severity="warning", labels={"host": "h2"})  # joins, waits
    clock.advance(10)
    kit.notify("disk.full", severity="warning", labels={"host": "h1"}, resolved=True)
    clock.advance(280)  # t=300: h2 newly fires; h1's resolution is not news to this receiver
    tick(kit, clock)
    clock.advance(300)  # t=600: nothing newly fires
    tick(kit, clock)
    clock.advance(30)
    kit.notify("disk.full", severity="warning", labels={"host": "h2"}, resolved=True)
    clock.advance(270)  # t=900: every alert resolved: the log forgets them, nothing is sent
    tick(kit, clock)
    assert texts(sim) == ["disk.full/h1=firing", "disk.full/h2=firing"]
    clock.advance(600)  # the same alert firing again later is news
    kit.notify("disk.full", severity="warning", labels={"host": "h2"})
    assert texts(sim)[-1] == "disk.full/h2=firing"


def test_send_resolved_lists_resolved_alerts_beside_the_firing_ones(make_kit, sim, tmp_path):
    clock = Clock(MONDAY_9)
    kit = make_kit(config(tmp_path, sim, resolve_timeout="1h", send_resolved=True), clock=clock)
    kit.notify("disk.full", severity="warning", labels={"host": "h1"})
    kit.notify("disk.full", severity="warning", labels={"host": "h2"})
    clock.advance(300)
    tick(kit, clock)
    clock.advance(10)
    kit.notify("disk.full", severity="warning", labels={"host": "h1"}, resolved=True)
    clock.advance(290)
    tick(kit, clock)
    assert texts(sim) == [
        "disk.full/h1=firing",
        "disk.full/h1=firing disk.full/h2=firing",
        "disk.full/h1=resolved disk.full/h2=firing",
    ]


def test_an_alert_resolved_within_group_wait_is_sent_to_nobody(make_kit, sim, tmp_path):
    clock = Clock(MONDAY_9)
    kit = make_kit(config(tmp_path, sim, group_wait="30s", send_resolved=True), clock=clock)
    kit.notify("flap", severity="warning", labels={"host": "h1"})
    clock.advance(10)
    kit.notify("flap", severity="warning", labels={"host": "h1"}, resolved=True)
    clock.advance(20)
    tick(kit, clock)
    clock.advance(3600)
    tick(kit, clock)
    assert sim.requests == []


def test_group_interval_is_a_recurring_timer_so_a_burst_is_one_message(make_kit, sim, tmp_path):
    clock = Clock(MONDAY_9)
    kit = make_kit(config(tmp_path, sim, resolve_timeout="2h"), clock=clock)
    kit.notify("disk.full", severity="warning", labels={"host": "h1"})  # t=0: sent at once
    for _ in range(12):  # an hour of ticks, every 5 minutes: nothing changes
        clock.advance(300)
        tick(kit, clock)
    clock.advance(1)  # t=3601: a burst into the group, quiet for an hour
    first = kit.notify("disk.full", severity="warning", labels={"host": "h2"})
    clock.advance(1)
    kit.notify("disk.full", severity="warning", labels={"host": "h3"})
    assert first.held and first.held[0].until == MONDAY_9 + 3900  # the group's next tick
    clock.advance(298)
    tick(kit, clock)
    assert texts(sim) == [
        "disk.full/h1=firing",
        "disk.full/h1=firing disk.full/h2=firing disk.full/h3=firing",
    ]


def test_an_alert_not_raised_again_resolves_after_resolve_timeout(make_kit, sim, tmp_path):
    clock = Clock(MONDAY_9)
    kit = make_kit(config(tmp_path, sim, send_resolved=True), clock=clock)  # 5m, the default
    kit.notify("queue.stuck", severity="warning", labels={"host": "h1"})
    clock.advance(299)
    kit.notify("queue.stuck", severity="warning", labels={"host": "h1"})  # raised again: fires on
    clock.advance(1)
    tick(kit, clock)
    assert texts(sim) == ["queue.stuck/h1=firing"]
    clock.advance(300)  # t=600: raised last at t=299, so over at t=599
    tick(kit, clock)
    assert texts(sim)[-1] == "queue.stuck/h1=resolved"
    clock.advance(300)
    tick(kit, clock)
    assert len(texts(sim)) == 2  # told once; the group is empty, its timer stopped
    assert kit.ledger.routing.next_due() is None


def test_an_escalation_keeps_its_alert_open_whatever_resolve_timeout_says(make_kit, sim, tmp_path):
    clock = Clock(MONDAY_9)
    routes = [{"matchers": ['severity="critical"'], "receiver": "pager"}]
    kit = make_kit(config(tmp_path, sim, routes=routes, send_resolved=True), clock=clock)
    kit.notify("db.down", severity="critical", labels={"host": "db1"})  # raised once
    for _ in range(4):
        clock.advance(300)
        tick(kit, clock)
    pages = [r.recipients[0] for r in sim.requests if r.path.endswith("/Sms/send.json")]
    assert pages == [P0, P0, P2]  # every step, though the alert was raised 20 minutes ago
    [escalation] = kit.ledger.routing.escalations()
    assert escalation.state == "done"


def test_a_held_notify_is_ok_and_the_cli_says_when_it_goes_out(sim, tmp_path):
    path = config(tmp_path, sim, group_wait="30s")
    env = {**os.environ, "NK_LEDGER_TOKEN": TOKEN, "PYTHONPATH": f"{ROOT}:{ROOT / 'plugins'}"}
    command = [sys.executable, "-m", "notifykit", "--config", str(path)]
    text = subprocess.run(
        [*command, "notify", "disk.full", "--label", "host=h1"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert text.returncode == 0, text.stderr
    assert "held until" in text.stdout + text.stderr
    machine = subprocess.run(
        [*command, "--json", "notify", "disk.full", "--label", "host=h2"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert machine.returncode == 0, machine.stderr
    body = json.loads(machine.stdout)
    assert body["ok"] is True and body["deliveries"] == []
    [held] = body["held"]
    assert held["receiver"] == "ops" and held["key"] == "disk.full" and "T" in held["until"]
    assert sim.requests == []


def test_a_routed_notify_costs_two_write_transactions_and_no_read(make_kit, sim, tmp_path):
    kit: Notifier = make_kit(config(tmp_path, sim), clock=Clock(MONDAY_9))
    kit.notify("warm.up", severity="warning", labels={"host": "h0"})  # ledger open, secret read
    statements: list[str] = []
    kit.ledger._db.set_trace_callback(statements.append)  # type: ignore[attr-defined]
    report = kit.notify("disk.full", severity="warning", labels={"host": "h1"})
    kit.ledger._db.set_trace_callback(None)  # type: ignore[attr-defined]
    assert report.ok and len(report.deliveries) == 1
    begins = [s for s in statements if s.startswith("BEGIN")]
    assert len(begins) == 2, statements
    # every statement ran inside one of the two transactions: nothing read to build the report
    depth, outside = 0, []
    for s in statements:
        if s.startswith("BEGIN"):
            depth += 1
        elif s in ("COMMIT", "ROLLBACK"):
            depth -= 1
        elif depth == 0 and not s.startswith("PRAGMA synchronous"):
            outside.append(s)  # (a PRAGMA choosing the outcome commit's durability reads nothing)
    assert outside == [], outside
