"""What a user sees of routed alerts, in Python, on a real ledger with real HTTP to the simulator:
``ack`` and ``resolve`` take the same key forms, no false "misspelling" note for an alert routed
by its labels, a deduplicated repeat that says nothing went out, every distinct message text,
``kit.alerts()`` (open alerts with their receiver, state and escalation), the receiver and step
in ``history()``, and the worker's log line per delivery outcome."""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from notifykit.routing.alert import AlertKey
from notifykit_exotel.simulator import Fault
from tests.delivery.conftest import Clock, write_config
from tests.delivery.test_escalation import drain, sends
from tests.delivery.test_routing_sends import MONDAY_10, P0, P1, P2, ROUTING


def _kit(make_kit, sim, tmp_path, routing=None, **sections):
    path = write_config(tmp_path, sim, **{**(routing or ROUTING), **sections})
    clock = Clock(MONDAY_10)
    return make_kit(path, clock=clock), clock


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat()


# -- ack and resolve take the same key forms ------------------------------------------------


def _forms(report_key: str, alert_key: str) -> dict[str, str]:
    return {
        "group key": report_key,
        "alert key": alert_key,
        "group digest": AlertKey(report_key).digest[:8],
        "alert digest": AlertKey(alert_key).digest[:12],
    }


@pytest.mark.parametrize("form", ["group key", "alert key", "group digest", "alert digest"])
def test_ack_and_resolve_take_the_same_key_forms(make_kit, sim, tmp_path, form):
    kit, _clock = _kit(make_kit, sim, tmp_path)
    report = kit.notify("db.down", severity="critical", labels={"host": "db7", "x": "1"})
    assert report.key == "db.down{host=db7}"  # the route's group_by: event, host
    given = _forms(report.key, "db.down{host=db7,x=1}")[form]
    [acked] = kit.ack(given, by="asha")
    assert acked.state == "acked"
    [resolved] = kit.resolve(given)  # acknowledged, still open: resolve finds it too
    assert resolved.key == "db.down{host=db7}"
    assert kit.resolve(given) == []  # resolved now
    assert kit.ack(given) == []


@pytest.mark.parametrize("form", ["group key", "alert key", "group digest", "alert digest"])
def test_resolve_finds_an_alert_of_a_plain_receiver_by_its_group_key(make_kit, sim, tmp_path, form):
    kit, _clock = _kit(make_kit, sim, tmp_path)
    report = kit.notify("app.slow", severity="warning", labels={"host": "web1", "x": "2"})
    assert report.key == "app.slow{host=web1}" and sends(sim) == [("sms", P1)]
    given = _forms(report.key, "app.slow{host=web1,x=2}")[form]
    assert kit.ack(given) == []  # no escalation: nothing to acknowledge
    [resolved] = kit.resolve(given)
    assert resolved.key == "app.slow{host=web1}"
    assert kit.resolve(given) == []


def test_ack_takes_the_key_of_any_alert_of_the_escalating_group(make_kit, sim, tmp_path):
    kit, _clock = _kit(make_kit, sim, tmp_path)
    kit.notify("db.down", severity="critical", labels={"host": "db7", "x": "1"})
    kit.notify("db.down", severity="critical", labels={"host": "db7", "x": "2"})  # joins it
    [acked] = kit.ack("db.down{host=db7,x=2}")
    assert acked.key == "db.down{host=db7}"


# -- no false misspelling note ----------------------------------------------------------------


def test_an_alert_routed_by_its_labels_gets_no_misspelling_note(make_kit, sim, tmp_path):
    kit, _clock = _kit(make_kit, sim, tmp_path, events={"db.down": {}})
    # cache.down is in no events: entry and no event matcher, but its labels route it to dba
    routed = kit.notify("cache.down", severity="critical", labels={"service": "cache"})
    assert sorted(sends(sim)) == sorted([("sms", P2), ("call", P2), ("sms", P0)])
    assert not any("misspelling" in n for n in routed.notes), routed.notes
    # an unknown event that only the root receives still gets it
    root = kit.notify("app.slwo", severity="warning", labels={"host": "w1"})
    assert any("'app.slwo' is named by no route" in n for n in root.notes)


# -- a deduplicated repeat ----------------------------------------------------------------------


def test_a_deduplicated_repeat_reports_that_nothing_was_sent(make_kit, sim, tmp_path):
    kit, clock = _kit(make_kit, sim, tmp_path)
    first = kit.notify("app.slow", severity="warning", labels={"host": "web1"})
    assert [d.state.value for d in first.deliveries] == ["sent"]
    clock.advance(60)
    again = kit.notify("app.slow", severity="warning", labels={"host": "web1"})
    assert sends(sim) == [("sms", P1)]
    assert again.deduplicated and again.deliveries == () and again.id == first.id
    assert again.ok and not again.succeeded and not again.failed  # nothing failed
    assert "deduplicated" in again.summary() and not re.search(r"\d+ sent", again.summary())
    out = again.to_dict()
    assert out["deduplicated"] is True and out["deliveries"] == [] and out["counts"] == {}
    assert any("already sent" in n for n in again.notes)
    # the earlier notification's deliveries are not rewritten
    assert [d.state.value for d in kit.report(first.id).deliveries] == ["sent"]
    assert not first.deduplicated and "deduplicated" not in first.to_dict()


# -- every distinct message text ------------------------------------------------------------------


def test_receivers_with_different_texts_show_every_text(make_kit, sim, tmp_path):
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "dba.sms.j2").write_text("DBA: {{ event }} on {{ labels.host }}")
    (templates / "dba.voice.j2").write_text("database down")
    (templates / "page.sms.j2").write_text("PAGE: {{ event }} on {{ labels.host }}")
    routing = json.loads(json.dumps(ROUTING))
    routing["receivers"]["dba"]["template"] = "dba"
    routing["receivers"]["page-primary"]["template"] = "page"
    kit, _clock = _kit(make_kit, sim, tmp_path, routing)
    report = kit.notify("db.down", severity="critical", labels={"service": "db", "host": "db1"})
    bodies = sorted(b for r in sim.requests if "Body" in r.form for b in r.form["Body"])
    assert bodies == ["DBA: db.down on db1", "PAGE: db.down on db1"]
    texts = {(t.channel, t.text, t.receivers) for t in report.texts}
    assert texts == {
        ("sms", "DBA: db.down on db1", ("dba",)),
        ("sms", "PAGE: db.down on db1", ("page-primary",)),
    }
    assert sorted(t["text"] for t in report.to_dict()["texts"] if t["channel"] == "sms") == bodies
    # one receiver, one text per channel: messages says it all
    single = kit.notify("app.slow", severity="warning", labels={"host": "web1"})
    assert single.texts == () and "texts" not in single.to_dict()


# -- kit.alerts() ------------------------------------------------------------------------------------


def test_alerts_lists_open_alerts_with_receiver_state_and_escalation(make_kit, sim, tmp_path):
    kit, clock = _kit(make_kit, sim, tmp_path)
    assert kit.alerts() == []
    kit.notify("db.down", severity="critical", labels={"service": "db", "host": "db1"})
    kit.notify("app.slow", severity="warning", labels={"host": "web1"})
    clock.advance(60)
    found = {(a.key, a.receiver): a for a in kit.alerts()}
    assert set(found) == {
        ("db.down{host=db1,service=db}", "dba"),
        ("db.down{host=db1,service=db}", "page-primary"),
        ("app.slow{host=web1}", "oncall-sms"),
    }
    dba = found["db.down{host=db1,service=db}", "dba"]
    assert (dba.event, dba.severity, dict(dba.labels)) == (
        "db.down",
        "critical",
        {"service": "db", "host": "db1"},
    )
    assert (dba.state, dba.escalation, dba.group) == ("firing", None, "db.down{host=db1}")
    paging = found["db.down{host=db1,service=db}", "page-primary"]
    assert paging.state == "firing" and paging.escalation is not None
    assert paging.escalation.policy == "primary"
    assert paging.escalation.step == "0.0"  # the SMS went out; the call is next
    assert paging.escalation.next_at == MONDAY_10 + 300
    as_json = paging.to_dict()
    assert as_json["escalation"] == {
        "id": paging.escalation.id,
        "policy": "primary",
        "step": "0.0",
        "next_step": "0.1",
        "next_at": _iso(MONDAY_10 + 300),
        "state": "active",
        "acked_by": None,
    }
    assert {"key", "event", "severity", "labels", "receiver", "state", "escalation"} <= set(as_json)
    assert json.loads(json.dumps(as_json)) == as_json  # JSON-ready
    kit.ack("db.down{host=db1}", by="asha")
    paging = next(a for a in kit.alerts() if a.receiver == "page-primary")
    assert paging.state == "acknowledged" and paging.escalation is not None
    assert (paging.escalation.state, paging.escalation.next_at) == ("acked", None)
    assert paging.escalation.acked_by == "asha"
    kit.resolve("app.slow{host=web1}")
    assert [a.receiver for a in kit.alerts() if a.event == "app.slow"] == []


def test_alerts_shows_held_alerts_and_why(make_kit, sim, tmp_path):
    routing = json.loads(json.dumps(ROUTING))
    routing["route"]["routes"].append({"matchers": ['event="disk.full"'], "group_wait": "30s"})
    kit, clock = _kit(make_kit, sim, tmp_path, routing)
    kit.notify("disk.full", severity="warning", labels={"host": "a"})
    kit.notify("host.down", severity="warning", labels={"host": "h1"})
    kit.notify("app.error", severity="error", labels={"host": "h1"})  # inhibited
    states = {a.key: (a.state, a.reason) for a in kit.alerts()}
    state, reason = states["disk.full{host=a}"]
    assert state == "held" and reason is not None and "group_wait 30s" in reason
    state, reason = states["app.error{host=h1}"]
    assert state == "held" and reason is not None and "inhibited by host.down" in reason
    assert states["host.down{host=h1}"] == ("firing", None)
    clock.advance(30)
    drain(kit, clock)
    assert {a.key: a.state for a in kit.alerts()}["disk.full{host=a}"] == "firing"


# -- history: receiver and step ----------------------------------------------------------------------


def test_history_shows_the_receiver_and_the_escalation_step(make_kit, sim, tmp_path):
    kit, clock = _kit(make_kit, sim, tmp_path)
    kit.notify("db.down", severity="critical", labels={"service": "db", "host": "db1"})
    clock.advance(300)
    drain(kit, clock)
    rows = [(r.receiver, r.step, r.deliveries[0].channel) for r in kit.history()]
    assert sorted(rows, key=str) == sorted(
        [("dba", None, "sms"), ("page-primary", "0.0", "sms"), ("page-primary", "0.1", "call")],
        key=str,
    )


# -- the worker logs each delivery outcome --------------------------------------------------------


def test_the_worker_logs_one_line_per_delivery_outcome(make_kit, sim, tmp_path, caplog):
    kit = make_kit(write_config(tmp_path, sim))
    first = kit.submit("db.down", data={"host": "db1"}, to=["p0", "p1"], channels=["sms"])
    second = kit.submit("db.down", data={"host": "db2"}, to="p2", channels=["sms"])
    sim.inject(Fault(status=400, code=40007, message="invalid To"))  # the first request fails
    with caplog.at_level(logging.INFO, logger="notifykit.worker.deliveries"):
        kit.worker(threads=1, poll=0.05).run(drain=True)
    lines = [r for r in caplog.records if r.name == "notifykit.worker.deliveries"]
    assert len(lines) == 3, [r.getMessage() for r in lines]
    states = {d.id: d.state.value for s in (first, second) for d in kit.report(s.id).deliveries}
    assert sorted(set(states.values())) == ["failed", "sent"]
    for delivery_id, state in states.items():
        [line] = [r for r in lines if delivery_id in r.getMessage()]
        assert f": {state}" in line.getMessage()
        assert line.levelno == logging.INFO
    assert "ledger-token" not in "\n".join(r.getMessage() for r in lines)


def test_history_json_and_alerts_are_plain_json(make_kit, sim, tmp_path: Path):
    kit, _clock = _kit(make_kit, sim, tmp_path)
    kit.notify("db.down", severity="critical", labels={"host": "db1"})
    [report] = kit.history()
    assert (report.receiver, report.step) == ("page-primary", "0.0")
    json.dumps([a.to_dict() for a in kit.alerts()])


def test_long_keys_work_in_the_short_form_reports_show(make_kit, sim, tmp_path):
    kit, _clock = _kit(make_kit, sim, tmp_path)
    host = "db-" + "x" * 90
    report = kit.notify("db.down", severity="critical", labels={"host": host, "x": "1"})
    assert report.key is not None and "~" in report.key  # shortened, with its digest
    [row] = kit.alerts()  # one row: the running escalation is this row's, not another
    assert (row.receiver, row.group) == ("page-primary", report.key)
    assert row.escalation is not None and row.escalation.step == "0.0"
    [acked] = kit.ack(report.key)
    assert acked.key == f"db.down{{host={host}}}"
    [resolved] = kit.resolve(row.key)  # the alert's own key, short too
    assert resolved.key == report.key and kit.alerts() == []
