"""The ack page over real HTTP (issue 19): never cached nor framed, names the alert, offers its
button only while the escalation is open, and records the person the link was sent to."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from notifykit import Notifier
from notifykit.server import StatusServer
from notifykit_exotel.simulator import ExotelSimulator
from tests.delivery.conftest import Clock
from tests.server.support import free_port, serve_config

ROUTING: dict[str, Any] = {
    "receivers": {"page": {"escalation": "primary"}},
    "route": {"receiver": "page"},
    "escalations": {
        "primary": {
            "steps": [
                {"after": "0s", "channels": ["sms"], "to": ["p0"]},
                {"after": "5m", "channels": ["sms"], "to": ["p1"]},
            ]
        }
    },
}


@pytest.fixture
def served(
    tmp_path: Path, sim: ExotelSimulator, make_kit: Callable[..., Notifier], clock: Clock
) -> Iterator[tuple[Notifier, StatusServer]]:
    port = free_port()
    config = serve_config(tmp_path, sim, port, sections=ROUTING)
    kit = make_kit(config, clock=clock)
    with StatusServer(kit, "127.0.0.1", port) as server:
        yield kit, server


def _links(sim: ExotelSimulator) -> list[str]:
    bodies = [r.form["Body"][0] for r in sim.requests if r.path.endswith("/Sms/send.json")]
    return [m.group(0) for b in bodies for m in re.finditer(r"http://\S+/ack/\S+", b)]


def _page(answer: requests.Response) -> str:
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
    return answer.text


def test_the_page_names_the_alert_and_acknowledges_as_the_steps_recipient(served, sim, clock):
    kit, _ = served
    kit.notify("db.down", severity="critical", labels={"host": "db1"})
    [link] = _links(sim)
    page = _page(requests.get(link, timeout=5))
    assert "db.down" in page and "critical" in page and "db1" in page  # event, severity, key
    assert "<form" in page
    acked = requests.post(link, timeout=5)
    assert acked.status_code == 200 and "Acknowledged" in _page(acked)
    [escalation] = kit.ledger.routing.escalations()
    assert (escalation.state, escalation.acked_by, escalation.acked_via) == ("acked", "p0", "link")
    after = _page(requests.get(link, timeout=5))
    assert "<form" not in after
    assert "Already acknowledged by p0 (ack link) at " in after


def test_the_second_steps_link_names_its_own_recipient(served, sim, clock):
    kit, _ = served
    kit.notify("db.down", severity="critical", labels={"host": "db1"})
    clock.advance(5 * 60)
    kit.worker(threads=1, poll=0.05, clock=clock).run(drain=True)
    first, second = _links(sim)
    assert first != second  # each step's message carries a link of its own
    answer = requests.post(second, headers={"Accept": "application/json"}, timeout=5)
    assert answer.json()["acked_by"] == "p1"
    [escalation] = kit.ledger.routing.escalations()
    assert (escalation.acked_by, escalation.acked_via) == ("p1", "link")
    assert "<form" not in _page(requests.get(first, timeout=5))


def test_no_button_once_the_alert_is_resolved(served, sim):
    kit, _ = served
    report = kit.notify("db.down", severity="critical", labels={"host": "db1"})
    [link] = _links(sim)
    assert report.key is not None
    kit.resolve(report.key)
    page = _page(requests.get(link, timeout=5))
    assert "<form" not in page and "Already resolved at " in page
    assert "db.down" in page
    again = _page(requests.post(link, timeout=5))
    assert "Already resolved" in again
    [escalation] = kit.ledger.routing.escalations()
    assert escalation.state == "resolved" and escalation.acked_by is None


def test_a_forged_link_is_404_and_still_not_cached(served, sim):
    kit, _server = served
    kit.notify("db.down", severity="critical", labels={"host": "db1"})
    [link] = _links(sim)
    forged = link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB")
    for answer in (requests.get(forged, timeout=5), requests.post(forged, timeout=5)):
        assert answer.status_code == 404
        _page(answer)


def test_a_snoozed_alerts_link_still_acknowledges_it(served, sim, clock):
    """A snooze pauses the escalation; the link in the page before it still ends it for good."""
    kit, _ = served
    report = kit.notify("db.down", severity="critical", labels={"host": "db1"})
    [link] = _links(sim)
    assert report.key is not None
    [snoozed] = kit.ack(report.key, snooze="30m", by="asha")
    assert snoozed.state == "snoozed"
    assert "<form" in _page(requests.get(link, timeout=5))
    acked = requests.post(link, timeout=5)
    assert "Acknowledged" in _page(acked)
    [escalation] = kit.ledger.routing.escalations()
    assert (escalation.state, escalation.acked_by, escalation.wake_at) == ("acked", "p0", None)
    clock.advance(3600)
    kit.worker(threads=1, poll=0.05, clock=clock).run(drain=True)
    assert len(_links(sim)) == 1  # nothing more was sent
