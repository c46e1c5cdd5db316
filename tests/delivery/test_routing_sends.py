"""The routing table of issue 8, end to end: each alert's sends checked at the simulator (first
match, continue, regex anchoring, time windows, inhibition), dedup surviving a restart,
group_wait digests, a NotifyHandler fed 30 identical errors, the Alertmanager webhook posted
twice, and the ack link."""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

from notifykit import NotifyHandler
from notifykit.server import StatusServer
from tests.delivery.conftest import PHONES, Clock, free_port, write_config
from tests.delivery.test_escalation import drain, sends

IST = ZoneInfo("Asia/Kolkata")
MONDAY_10 = datetime(2027, 1, 18, 10, 0, tzinfo=IST).timestamp()
SATURDAY_10 = datetime(2027, 1, 23, 10, 0, tzinfo=IST).timestamp()
FIXTURE = Path(__file__).parents[1] / "routing" / "fixtures" / "alertmanager_webhook_v4.json"

ROUTING: dict[str, Any] = {
    "groups": {"oncall": ["p1"], "dba-team": ["p2"]},
    "receivers": {
        "oncall-sms": {"channels": ["sms"], "to": ["oncall"]},
        "dba": {"channels": ["sms", "call"], "to": ["dba-team"], "priority": "high"},
        "page-primary": {"escalation": "primary"},
    },
    "route": {
        "receiver": "oncall-sms",
        "group_by": ["event", "host"],
        "repeat_interval": "4h",
        "routes": [
            {
                "matchers": ['severity="critical"', 'service=~"db|cache"'],
                "receiver": "dba",
                "continue": True,
            },
            {"matchers": ['severity="critical"'], "receiver": "page-primary"},
            {
                "matchers": ['event=~"batch\\\\..*"'],
                "receiver": "oncall-sms",
                "active_time_intervals": ["business-hours"],
            },
        ],
    },
    "inhibit_rules": [
        {
            "source_matchers": ['event="host.down"'],
            "target_matchers": ['severity=~"warning|error"'],
            "equal": ["host"],
        }
    ],
    "time_intervals": {
        "business-hours": [
            {
                "weekdays": ["monday:friday"],
                "times": [{"start_time": "09:30", "end_time": "18:30"}],
            }
        ]
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

P0, P1, P2 = PHONES


@pytest.mark.parametrize(
    ("event", "severity", "labels", "at", "expected"),
    [
        # first match + continue: dba (sms and call) and the escalation's first step
        (
            "db.down",
            "critical",
            {"service": "db", "host": "db1"},
            MONDAY_10,
            [("sms", P2), ("call", P2), ("sms", P0)],
        ),
        # regexes are anchored: "dbx" is not "db|cache"
        ("db.down", "critical", {"service": "dbx"}, MONDAY_10, [("sms", P0)]),
        # a missing label is the empty string: no service, no dba
        ("db.down", "critical", {}, MONDAY_10, [("sms", P0)]),
        # the batch route is active on weekdays 09:30-18:30 IST only...
        ("batch.nightly", "warning", {}, MONDAY_10, [("sms", P1)]),
        # ...and a muted route still ends the search: nothing goes to the root instead
        ("batch.nightly", "warning", {}, SATURDAY_10, []),
        # no child matches: the root's receiver
        ("app.slow", "warning", {"host": "web1"}, MONDAY_10, [("sms", P1)]),
    ],
)
def test_routing_table_at_the_simulator(
    make_kit, sim, tmp_path, event, severity, labels, at, expected
):
    clock = Clock(at)
    kit = make_kit(write_config(tmp_path, sim, **ROUTING), clock=clock)
    report = kit.notify(event, severity=severity, labels=labels)
    assert sends(sim) == expected
    # the explanation (routes test) predicts exactly what was sent now
    explanation = kit.explain(event, severity=severity, labels=labels)
    now = [(d["channel"], d["address"]) for d in explanation.deliveries if not d.get("after")]
    assert sorted(now) == sorted(expected)
    if not expected:
        assert any("muted" in n for n in report.notes)


def test_the_route_priority_reaches_the_wire(make_kit, sim, tmp_path):
    kit = make_kit(write_config(tmp_path, sim, **ROUTING), clock=Clock(MONDAY_10))
    kit.notify("db.down", severity="critical", labels={"service": "db", "host": "db1"})
    [dba_sms] = [
        r for r in sim.requests if r.path.endswith("/Sms/send.json") and P2 in r.recipients
    ]
    assert dba_sms.form["Priority"] == ["high"]


def test_inhibition_with_equal_labels(make_kit, sim, tmp_path):
    kit = make_kit(write_config(tmp_path, sim, **ROUTING), clock=Clock(MONDAY_10))
    kit.notify("host.down", severity="warning", labels={"host": "h1"})
    assert sends(sim) == [("sms", P1)]
    muted = kit.notify("app.error", severity="error", labels={"host": "h1"})
    assert sends(sim) == [("sms", P1)]  # inhibited by host.down{host=h1}
    assert any("inhibited by host.down" in n for n in muted.notes)
    kit.notify("app.error", severity="error", labels={"host": "h2"})  # another host: sent
    assert sends(sim) == [("sms", P1), ("sms", P1)]
    kit.notify("host.down", severity="warning", labels={"host": "h1"}, resolved=True)
    kit.notify("app.error", severity="error", labels={"host": "h1"})  # the source resolved
    assert len(sends(sim)) == 3


def test_dedup_survives_a_process_restart(make_kit, sim, tmp_path):
    path = write_config(tmp_path, sim, **ROUTING)
    clock = Clock(MONDAY_10)
    first = make_kit(path, clock=clock)
    report = first.notify("app.slow", severity="warning", labels={"host": "web1"})
    assert report.key == "app.slow{host=web1}" and len(report.succeeded) == 1
    first.close()
    clock.advance(3600)
    second = make_kit(path, clock=clock)
    again = second.notify("app.slow", severity="warning", labels={"host": "web1"})
    assert sends(sim) == [("sms", P1)]  # deduplicated, from the ledger's log
    assert again.id == report.id and any("skip" in n for n in again.notes)
    # another label value is another alert; the repeat interval passing sends it again
    second.notify("app.slow", severity="warning", labels={"host": "web2"})
    clock.advance(3 * 3600 + 1)
    second.notify("app.slow", severity="warning", labels={"host": "web1"})
    assert sends(sim) == [("sms", P1)] * 3


def test_group_wait_sends_one_digest(make_kit, sim, tmp_path):
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "digest.sms.j2").write_text(
        "{{ alerts | length }} alerts: {% for a in alerts %}{{ a.labels.host }} {% endfor %}"
    )
    routing = json.loads(json.dumps(ROUTING))
    routing["receivers"]["oncall-sms"]["template"] = "digest"
    routing["route"].update(group_by=["event"], group_wait="30s")
    clock = Clock(MONDAY_10)
    kit = make_kit(write_config(tmp_path, sim, **routing), clock=clock)
    kit.notify("disk.full", labels={"host": "a"})
    clock.advance(10)
    kit.notify("disk.full", labels={"host": "b"})
    assert sends(sim) == []  # waiting for group_wait
    clock.advance(20)
    drain(kit, clock)
    [request] = sim.requests
    assert request.form["Body"] == ["2 alerts: a b"]
    kit.notify("disk.full", labels={"host": "a"})  # nothing new in the group
    drain(kit, clock)
    assert len(sim.requests) == 1


def test_a_notify_handler_fed_30_identical_errors_sends_once(make_kit, sim, tmp_path):
    kit = make_kit(write_config(tmp_path, sim))  # events:-only: the handler's own dedup
    log = logging.getLogger("nk.test.crashloop")
    log.propagate = False
    handler = NotifyHandler(logging.ERROR, notifier=kit, to=["p0"])
    log.addHandler(handler)
    try:
        for attempt in range(30):
            log.error("worker crashed (attempt %d)", attempt)
        assert sends(sim) == [("sms", P0)]
        log.error("another call site")  # a different error is a different alert
        assert sends(sim) == [("sms", P0), ("sms", P0)]
    finally:
        log.removeHandler(handler)


def test_a_notify_handler_uses_the_routes_of_a_route_config(make_kit, sim, tmp_path):
    kit = make_kit(write_config(tmp_path, sim, **ROUTING), clock=Clock(MONDAY_10))
    log = logging.getLogger("nk.test.crashloop2")
    log.propagate = False
    handler = NotifyHandler(logging.ERROR, notifier=kit, event="app.crash")
    log.addHandler(handler)
    try:
        for _ in range(30):
            log.error("boom")
        assert sends(sim) == [("sms", P1)]  # the root receiver, once (repeat_interval 4h)
    finally:
        log.removeHandler(handler)


@pytest.fixture
def served(make_kit, sim, tmp_path, monkeypatch):
    port = free_port()
    path = write_config(
        tmp_path,
        sim,
        server={
            "public_url": f"http://127.0.0.1:{port}",
            "port": port,
            "webhook_token": "${NK_HOOK_TOKEN}",
        },
        **ROUTING,
    )
    clock = Clock(MONDAY_10)
    monkeypatch.setenv("NK_HOOK_TOKEN", "hook-token-123")
    kit = make_kit(path, clock=clock)
    with StatusServer(kit, "127.0.0.1", port) as server:
        yield kit, server, clock


def test_the_alertmanager_webhook_routes_once(served, sim):
    _kit, server, _clock = served
    url = f"{server.url}/alertmanager"
    body = FIXTURE.read_bytes()
    denied = requests.post(url, data=body, timeout=5)
    assert denied.status_code == 401
    denied = requests.post(url, data=body, headers={"Authorization": "Bearer nope"}, timeout=5)
    assert denied.status_code == 401
    assert sim.requests == []
    auth = {"Authorization": "Bearer hook-token-123", "Content-Type": "application/json"}
    first = requests.post(url, data=body, headers=auth, timeout=5)
    assert first.status_code == 200, first.text
    # PostgresDown{service=db, severity=critical} on db1: dba's SMS and call, and the first
    # escalation step; db2's resolved alert sends nothing (no send_resolved)
    assert sorted(sends(sim)) == sorted([("sms", P2), ("call", P2), ("sms", P0)])
    second = requests.post(url, data=body, headers=auth, timeout=5)
    assert second.status_code == 200
    assert [a["duplicate"] for a in second.json()["alerts"]] == [True, True]
    assert len(sends(sim)) == 3
    bad = requests.post(url, data=b'{"version": "3"}', headers=auth, timeout=5)
    assert bad.status_code == 400 and "version" in bad.json()["error"]


def test_the_ack_link_in_an_sms(make_kit, sim, tmp_path):
    port = free_port()
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "page.sms.j2").write_text("{{ event }} on {{ labels.host }}: ack {{ ack_url }}")
    routing = json.loads(json.dumps(ROUTING))
    routing["receivers"]["page-primary"]["template"] = "page"
    path = write_config(
        tmp_path, sim, server={"public_url": f"http://127.0.0.1:{port}", "port": port}, **routing
    )
    clock = Clock(MONDAY_10)
    kit = make_kit(path, clock=clock)
    with StatusServer(kit, "127.0.0.1", port):
        kit.notify("db.down", severity="critical", labels={"host": "db9"})
        [request] = sim.requests
        [text] = request.form["Body"]
        link = re.search(r"ack (\S+)$", text)
        assert link is not None and link.group(1).startswith(f"http://127.0.0.1:{port}/ack/")
        assert len(link.group(1).rsplit("/", 1)[1]) <= 32  # short enough for an SMS
        forged = link.group(1)[:-2] + ("AA" if not link.group(1).endswith("AA") else "BB")
        assert requests.get(forged, timeout=5).status_code == 404
        page = requests.get(link.group(1), timeout=5)  # a link previewer must not ack
        assert page.status_code == 200 and "<form" in page.text
        assert kit.ledger.escalations()[0].state == "active"
        done = requests.post(link.group(1), timeout=5)
        assert done.status_code == 200 and "Acknowledged" in done.text
        assert kit.ledger.escalations()[0].state == "acked"
        clock.advance(20 * 60)
        drain(kit, clock)
        assert sends(sim) == [("sms", P0)]  # the calls at 5m and 10m were cancelled


def test_send_resolved_tells_the_receiver(make_kit, sim, tmp_path):
    routing = json.loads(json.dumps(ROUTING))
    routing["route"]["send_resolved"] = True
    clock = Clock(MONDAY_10)
    kit = make_kit(write_config(tmp_path, sim, **routing), clock=clock)
    kit.notify("app.slow", labels={"host": "web1"})
    clock.advance(60)
    [report] = kit.resolve("app.slow{host=web1}")
    assert report.key == "app.slow{host=web1}"
    assert any("group_interval 5m" in n for n in report.notes)  # as in Alertmanager
    assert sends(sim) == [("sms", P1)]
    clock.advance(4 * 60)
    drain(kit, clock)  # the worker sends the group's change when group_interval is over
    assert sends(sim) == [("sms", P1), ("sms", P1)]
    [latest, _first] = kit.history()
    assert latest.messages["sms"].startswith("RESOLVED app.slow host=web1")
    assert kit.resolve("app.slow{host=web1}") == []  # nothing open any more
    clock.advance(3600)
    kit.notify("app.slow", labels={"host": "web1"})  # fires again: a new message at once
    assert len(sends(sim)) == 3


def test_a_dry_run_shows_what_a_new_alert_sends_and_stores_nothing(make_kit, sim, tmp_path):
    kit = make_kit(write_config(tmp_path, sim, **ROUTING), clock=Clock(MONDAY_10), dry_run=True)
    report = kit.notify("db.down", severity="critical", labels={"service": "db", "host": "db1"})
    assert report.dry_run and report.key == "db.down{host=db1}"
    assert sorted((d.channel, d.address) for d in report.deliveries) == sorted(
        [("sms", P2), ("call", P2), ("sms", P0)]
    )
    assert sim.requests == [] and not (tmp_path / "ledger.db").exists()


def test_an_unknown_event_is_noted_in_the_report(make_kit, sim, tmp_path):
    kit = make_kit(write_config(tmp_path, sim, events={"db.down": {}}, **ROUTING))
    report = kit.notify("db.dwon", labels={"host": "db1"})
    assert any("'db.dwon' is named by no route and no events: entry" in n for n in report.notes)
    assert report.to_dict()["notes"] == list(report.notes)
    assert not kit.notify("db.down", labels={"host": "db2"}).notes


def test_a_broken_step_template_raises_before_anything_is_stored(make_kit, sim, tmp_path):
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "page.sms.j2").write_text("{{ labels.missing_label }}")
    routing = json.loads(json.dumps(ROUTING))
    routing["receivers"]["page-primary"]["template"] = "page"
    kit = make_kit(write_config(tmp_path, sim, **routing), clock=Clock(MONDAY_10))
    from notifykit.errors import TemplateError

    with pytest.raises(TemplateError):
        kit.notify("db.down", severity="critical", labels={"host": "db1"})
    assert sim.requests == [] and kit.ledger.escalations() == []
