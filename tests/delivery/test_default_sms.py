"""The shipped default SMS on the default path (routed notify(), a NotifyHandler, digests,
escalations with an ack link), checked at the simulator: what reached Exotel is one segment by
notifykit's own counter, and holds no routing internals. The data stored and handed to channels
is exactly what the caller passed."""

from __future__ import annotations

import json
import logging
import runpy
from pathlib import Path

import pytest

from notifykit import NotifyHandler
from notifykit.text.sms import analyze_sms
from tests.delivery.conftest import Clock, free_port, write_config
from tests.delivery.test_escalation import drain
from tests.delivery.test_routing_sends import MONDAY_10, ROUTING

INTERNALS = ("alert_key=", "ack_url=", "alerts=", "receiver=", "labels=", "{", "[", "None")


def bodies(sim) -> list[str]:
    return [r.form["Body"][0] for r in sim.requests if r.path.endswith("/Sms/send.json")]


def one_segment(body: str) -> None:
    info = analyze_sms(body)
    assert info.encoding == "GSM-7" and info.segments == 1, (body, info)
    for internal in INTERNALS:
        assert internal not in body, (internal, body)


def test_a_routed_notify_sends_one_segment_and_stores_the_callers_data(make_kit, sim, tmp_path):
    kit = make_kit(write_config(tmp_path, sim))  # events:-only: the implicit routes
    data = {"message": "replica lag 300s", "version": "1.2", "details": {"lag": [300, 310]}}
    report = kit.notify("db.down", severity="critical", labels={"host": "db1"}, data=data)
    assert report.ok
    [body] = bodies(sim)
    assert body == "CRITICAL db.down host=db1: replica lag 300s"
    one_segment(body)
    assert dict(kit.ledger.notification(report.id).data) == data  # no routing variables in it


def test_a_direct_notify_with_labels_keeps_them_out_of_the_data(make_kit, sim, tmp_path):
    kit = make_kit(write_config(tmp_path, sim))
    report = kit.notify("disk.full", to="p1", labels={"host": "web1"}, data={"pct": 95})
    [body] = bodies(sim)
    assert body == "WARNING disk.full host=web1: pct=95"
    assert dict(kit.ledger.notification(report.id).data) == {"pct": 95}


def test_a_digest_of_several_alerts_is_one_segment(make_kit, sim, tmp_path):
    routing = json.loads(json.dumps(ROUTING))
    routing["route"].update(group_by=["event"], group_wait="30s")
    clock = Clock(MONDAY_10)
    kit = make_kit(write_config(tmp_path, sim, **routing), clock=clock)
    for i in range(9):
        kit.notify("disk.full", labels={"host": f"web-frontend-{i}.prod"}, data={"pct": 90 + i})
    clock.advance(30)
    drain(kit, clock)
    [body] = bodies(sim)
    assert body.startswith("WARNING 9 alerts disk.full: host=web-frontend-0.prod; ")
    assert body.endswith(" more")
    one_segment(body)


def test_an_escalation_step_with_an_ack_link_is_one_segment(make_kit, sim, tmp_path):
    port = free_port()
    path = write_config(
        tmp_path, sim, server={"public_url": f"http://127.0.0.1:{port}", "port": port}, **ROUTING
    )
    kit = make_kit(path, clock=Clock(MONDAY_10))
    long = "primary not answering; replication stopped; failover has not started " * 3
    kit.notify("db.down", severity="critical", labels={"host": "db9"}, data={"message": long})
    [body] = bodies(sim)
    assert body.startswith("CRITICAL db.down host=db9: primary not answering")
    link = body.rsplit(" Ack: ", 1)[1]
    assert link.startswith(f"http://127.0.0.1:{port}/ack/") and " " not in link
    assert kit.router.ack_token(link.rsplit("/", 1)[1], check_only=True) == []  # whole: genuine
    one_segment(body)


def test_a_resolved_alert_says_so(make_kit, sim, tmp_path):
    routing = json.loads(json.dumps(ROUTING))
    routing["route"]["send_resolved"] = True
    clock = Clock(MONDAY_10)
    kit = make_kit(write_config(tmp_path, sim, **routing), clock=clock)
    kit.notify("app.slow", labels={"host": "web1"}, data={"p99_ms": 2300})
    clock.advance(60)
    kit.resolve("app.slow{host=web1}")
    clock.advance(5 * 60)
    drain(kit, clock)
    assert bodies(sim) == [
        "WARNING app.slow host=web1: p99_ms=2300",
        "RESOLVED app.slow host=web1: p99_ms=2300",
    ]


DEEP_SCRIPT = """
import logging

log = logging.getLogger("billing.reconcile")


def step(depth):
    if depth:
        step(depth - 1)
    raise ConnectionError(
        "could not reach ledger-db.internal:5432\\n"
        "  after 3 attempts over 30s\\n"
        "connection refused by ledger-db.internal:5432"
    )


def run():
    try:
        step(25)
    except ConnectionError:
        log.exception("nightly reconcile of batch %s failed", "2027-01-18")
"""


@pytest.mark.parametrize("routed", [True, False], ids=["route-config", "to="])
def test_a_notify_handler_on_a_long_traceback_sends_one_sms(make_kit, sim, tmp_path, routed):
    """A script deep in a long path logs an exception with a long traceback: one SMS, saying the
    log message, the exception's type and its last line; no path, no traceback."""
    sections = ROUTING if routed else {}
    kit = make_kit(write_config(tmp_path, sim, **sections), clock=Clock(MONDAY_10))
    deep = tmp_path.joinpath(*(["services", "billing-platform-worker"] * 12), "jobs")
    deep.mkdir(parents=True)
    script = deep / "nightly_reconciliation_of_settlement_batches.py"
    script.write_text(DEEP_SCRIPT, encoding="utf-8")
    assert len(str(script)) > 300
    log = logging.getLogger("billing.reconcile")
    log.propagate = False
    handler = NotifyHandler(notifier=kit, to=None if routed else ["p0"])
    log.addHandler(handler)
    try:
        runpy.run_path(str(script))["run"]()
    finally:
        log.removeHandler(handler)
    assert handler.last_report is not None and handler.last_report.ok
    [body] = bodies(sim)
    assert body.startswith("ERROR log.error: nightly reconcile of batch 2027-01-18 failed: ")
    assert body.endswith("ConnectionError: connection refused by ledger-db.internal:5432")
    assert str(Path("services")) not in body and "Traceback" not in body
    one_segment(body)
