"""The audit trail after every kind of action, each through each of its paths, end to end: one row
per action with the right actor and path — acknowledged through the API, the ack link (real HTTP
to the status server) and an answered call (the simulator's status callback); resolved through
the API, ``notify(resolved=True)`` and Alertmanager's webhook; escalated by notifykit when a step
failed. The command line's paths are in ``test_audit_cli.py``."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import requests

from notifykit import Notifier
from notifykit.ledger.audit import AuditRecord
from notifykit.server import StatusServer
from notifykit_exotel.simulator import ExotelSimulator
from tests.delivery.conftest import Clock, free_port, write_config
from tests.delivery.test_escalation import ROUTING, drain, sends

FIXTURE = Path(__file__).parents[1] / "routing" / "fixtures" / "alertmanager_webhook_v4.json"
KEY = "db.down{host=db1}"


def rows(kit: Notifier) -> list[tuple[str, str, str | None]]:
    """(action, path, actor) of each row of the audit trail, oldest first."""
    return [(r.action, r.path, r.actor) for r in kit.audit()]


def escalation_target(kit: Notifier, key: str = KEY) -> dict[str, str]:
    [escalation] = kit.ledger.routing.escalations()
    return {
        "key": key,
        "receiver": "page-primary",
        "escalation": escalation.id,
        "policy": "primary",
    }


@pytest.fixture
def kit(make_kit: Callable[..., Notifier], sim: ExotelSimulator, tmp_path: Path, clock: Clock):
    return make_kit(write_config(tmp_path, sim, **ROUTING), clock=clock)


# -- acknowledged --------------------------------------------------------------------------------


def test_acknowledged_through_the_api(kit, clock):
    kit.notify("db.down", severity="critical", labels={"host": "db1"})
    clock.advance(180)
    [acked] = kit.ack(KEY, by="asha")
    [record] = kit.audit()
    assert record == AuditRecord(
        clock(), "acknowledged", "api", "asha", escalation_target(kit), None
    )
    assert acked.acked_by == "asha"
    assert kit.ack(KEY, by="asha") == []  # nothing active: no second row
    kit.notify("db.down", severity="critical", labels={"host": "db2"})
    kit.ack("db.down{host=db2}")  # nobody named
    assert rows(kit) == [("acknowledged", "api", "asha"), ("acknowledged", "api", None)]


@pytest.fixture
def served(
    make_kit: Callable[..., Notifier], sim: ExotelSimulator, tmp_path: Path, clock: Clock
) -> Iterator[Callable[..., tuple[Notifier, StatusServer]]]:
    """A Notifier whose step SMS carries the ack link, served by a real status server:
    ``served(**routing overrides)``."""
    running: list[StatusServer] = []

    def serve(**overrides: Any) -> tuple[Notifier, StatusServer]:
        port = free_port()
        templates = tmp_path / "templates"
        templates.mkdir(exist_ok=True)
        (templates / "page.sms.j2").write_text("{{ event }} {{ labels.host }}: ack {{ ack_url }}")
        routing = copy.deepcopy(ROUTING)
        routing["receivers"]["page-primary"]["template"] = "page"
        routing.update(overrides)
        path = write_config(
            tmp_path,
            sim,
            server={"public_url": f"http://127.0.0.1:{port}", "port": port},
            **routing,
        )
        kit = make_kit(path, clock=clock)
        server = StatusServer(kit, "127.0.0.1", port).start()
        running.append(server)
        return kit, server

    yield serve
    for server in running:
        server.close()


def ack_link(sim: ExotelSimulator, message: int = -1) -> str:
    """The ack link in the ``message``-th SMS sent (default: the last)."""
    texts = [r.form["Body"][0] for r in sim.requests if r.path.endswith("/Sms/send.json")]
    found = re.search(r"ack (\S+)$", texts[message])
    assert found is not None
    return found.group(1)


def test_acknowledged_through_the_ack_link_names_who_it_was_sent_to(served, sim, clock):
    kit, _server = served()
    kit.notify("db.down", severity="critical", labels={"host": "db1"})
    link = ack_link(sim)
    assert requests.get(link, timeout=5).status_code == 200  # a previewer: nothing recorded
    assert kit.audit() == []
    clock.advance(120)
    done = requests.post(link, timeout=5)
    assert done.status_code == 200 and "Acknowledged" in done.text
    [record] = kit.audit()
    assert record == AuditRecord(
        clock(),
        "acknowledged",
        "link",
        "p0",
        escalation_target(kit),
        "the ack link sent in step 0.0",
    )
    [escalation] = kit.ledger.routing.escalations()
    assert (escalation.acked_by, escalation.acked_via) == ("p0", "link")
    again = requests.post(link, timeout=5)
    assert again.status_code == 200 and "Already acknowledged" in again.text
    assert len(kit.audit()) == 1


def test_an_ack_link_sent_to_a_bare_number_keeps_no_number(served, sim, clock):
    steps = [
        {"after": "0s", "channels": ["sms"], "to": ["+919876543212"]},
        {"after": "5m", "channels": ["sms"], "to": ["p1"]},
    ]
    kit, _server = served(escalations={"primary": {"steps": steps}})
    kit.notify("db.down", severity="critical", labels={"host": "db1"})
    clock.advance(5 * 60)
    drain(kit, clock)  # p1 got a link of their own
    assert [to for _, to in sends(sim)] == ["+919876543212", "+919876543211"]
    assert ack_link(sim, 0) != ack_link(sim, 1)
    assert requests.post(ack_link(sim, 0), timeout=5).status_code == 200
    [record] = kit.audit()
    assert (record.path, record.actor) == ("link", "+********3212")
    assert record.detail == "the ack link sent in step 0.0"
    assert "9876543212" not in json.dumps([r.to_dict() for r in kit.audit()])
    assert "9876543212" not in (kit.ledger.routing.escalations()[0].acked_by or "")


def test_acknowledged_by_an_answered_call_names_who_answered(served, sim, clock):
    kit, _server = served()
    kit.notify("db.down", severity="critical", labels={"host": "db1"})
    clock.advance(5 * 60)
    drain(kit, clock)
    [call_sid] = list(sim.calls)
    sim.complete_call(call_sid, "completed")  # the status callback over HTTP
    [record] = kit.audit()
    assert record == AuditRecord(
        clock(),
        "acknowledged",
        "call",
        "p0",
        escalation_target(kit),
        "answered the call of step 0.1",
    )


# -- escalated -----------------------------------------------------------------------------------


def test_a_failed_step_is_escalated_by_the_system(served, sim, clock):
    kit, _server = served()
    report = kit.notify("db.down", severity="critical", labels={"host": "db1"})
    clock.advance(30)
    attempt = sim.deliver_sms(report.deliveries[0].provider_id, "failed")
    assert attempt is not None and attempt.status == 200
    [record] = kit.audit()
    assert record == AuditRecord(
        clock(),
        "escalated",
        "system",
        None,
        {**escalation_target(kit), "step": "0.0"},
        "step 0.0 failed (sms to p0): the next step goes out now",
    )
    drain(kit, clock)
    assert len(kit.audit()) == 1  # the next step going out is no action of anyone's


# -- resolved ------------------------------------------------------------------------------------


def test_resolved_through_the_api(kit, clock):
    kit.notify("db.down", severity="critical", labels={"host": "db1"})
    clock.advance(60)
    target = escalation_target(kit)
    kit.resolve(KEY, by="ravi")
    assert kit.audit() == [AuditRecord(clock(), "resolved", "api", "ravi", target, None)]
    assert kit.resolve(KEY, by="ravi") == []  # nothing open: no second row
    assert len(kit.audit()) == 1


def test_resolved_by_notify_and_an_alert_without_escalation(kit, clock):
    kit.notify("db.down", severity="critical", labels={"host": "db1"})
    kit.notify("app.slow", severity="warning", labels={"host": "web1"})  # waits in its group
    clock.advance(10)
    target = escalation_target(kit)
    kit.notify("db.down", severity="critical", labels={"host": "db1"}, resolved=True)
    kit.notify("app.slow", severity="warning", labels={"host": "web1"}, resolved=True)
    kit.notify("app.slow", severity="warning", labels={"host": "web1"}, resolved=True)  # again
    kit.notify("no.such", severity="warning", resolved=True)  # nothing open: nothing done
    assert kit.audit() == [
        AuditRecord(clock(), "resolved", "api", None, target, None),
        AuditRecord(
            clock(),
            "resolved",
            "api",
            None,
            {"key": "app.slow{host=web1}", "receiver": "oncall-sms"},
            None,
        ),
    ]


def test_resolved_through_alertmanagers_webhook(served, sim, clock):
    kit, server = served()
    body = json.loads(FIXTURE.read_text(encoding="utf-8"))
    url = f"{server.url}/alertmanager"
    first = requests.post(url, json=body, timeout=5)
    assert first.status_code == 200, first.text
    assert kit.audit() == []  # db2's resolution: nothing open to resolve
    body["status"] = "resolved"
    body["alerts"][0]["status"] = "resolved"
    body["alerts"][0]["endsAt"] = "2026-03-02T08:30:00Z"
    clock.advance(60)
    second = requests.post(url, json=body, timeout=5)
    assert second.status_code == 200, second.text
    [record] = kit.audit()
    assert (record.action, record.path, record.actor) == ("resolved", "alertmanager", None)
    assert record.target["policy"] == "primary" and record.at == clock()
    assert record.target["key"].startswith("PostgresDown{") and "host=db1" in record.target["key"]
    assert requests.post(url, json=body, timeout=5).status_code == 200  # retried: routed once
    assert len(kit.audit()) == 1


# -- reading it ----------------------------------------------------------------------------------


def test_audit_since_a_time_and_the_newest_limit(kit, clock):
    start = clock()
    for host in ("a", "b", "c"):
        kit.notify("db.down", severity="critical", labels={"host": host})
        clock.advance(600)
        kit.ack(f"db.down{{host={host}}}", by=host)
    assert [r.actor for r in kit.audit()] == ["a", "b", "c"]
    assert [r.actor for r in kit.audit(limit=2)] == ["b", "c"]
    assert [r.actor for r in kit.audit(since=start + 1200)] == ["b", "c"]
    assert [r.actor for r in kit.audit(since=timedelta(minutes=5))] == ["c"]
    as_datetime = datetime.fromtimestamp(start + 1800, timezone.utc)
    assert [r.actor for r in kit.audit(since=as_datetime)] == ["c"]
    naive_utc = as_datetime.replace(tzinfo=None)
    assert [r.actor for r in kit.audit(since=naive_utc)] == ["c"]
