"""Acknowledgement timeout and snooze (issue 17, PagerDuty's model), with the controllable clock,
a real worker draining the ledger and real HTTP to the simulator, on a SQLite file and on
PostgreSQL: an acknowledged alert that nobody resolves within the policy's ``ack_timeout``
re-opens and its escalation pages again from the first step; resolved in time it stays quiet.
A snoozed escalation sends nothing until the snooze ends, then its next step goes out; the audit
trail records the acknowledgement, the re-opening, the snooze and the resumption."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from notifykit import Notifier
from notifykit.errors import NotificationError
from notifykit_exotel.simulator import ExotelSimulator
from tests.delivery.conftest import PHONES, Clock, write_config
from tests.delivery.test_escalation import CALL0, CALL1, ROUTING, SMS0, drain, sends

TIMED: dict[str, Any] = copy.deepcopy(ROUTING)
TIMED["escalations"]["primary"]["ack_timeout"] = "30m"
KEY = "db.down{host=db1}"


@pytest.fixture
def kit(
    make_kit: Callable[..., Notifier],
    sim: ExotelSimulator,
    tmp_path: Path,
    clock: Clock,
    store: str,
) -> Notifier:
    return make_kit(write_config(tmp_path, sim, store=store, **TIMED), clock=clock)


def page(kit: Notifier) -> None:
    kit.notify("db.down", severity="critical", labels={"host": "db1"})


def trail(kit: Notifier) -> list[tuple[str, str | None, str]]:
    return [(r.action, r.actor, r.path) for r in kit.audit()]


def test_an_acknowledged_alert_not_resolved_in_time_reopens_and_pages_from_the_first_step(
    kit, sim, clock
):
    page(kit)
    assert sends(sim) == [SMS0]
    clock.advance(3 * 60)
    [acked] = kit.ack(KEY, by="asha")
    assert acked.state == "acked" and acked.wake_at == clock() + 30 * 60
    clock.advance(29 * 60)
    drain(kit, clock)
    assert sends(sim) == [SMS0]  # acknowledged: quiet, the alert held open meanwhile
    [alert] = kit.alerts()
    assert alert.state == "acknowledged" and alert.reason is not None
    assert alert.reason.startswith("re-opens at ")
    clock.advance(60)  # 30m after the acknowledgement: it re-opens, step 0 at once
    drain(kit, clock)
    assert sends(sim) == [SMS0, SMS0]
    clock.advance(5 * 60)
    drain(kit, clock)
    assert sends(sim) == [SMS0, SMS0, CALL0]
    assert trail(kit) == [("acknowledged", "asha", "api"), ("reopened", None, "system")]
    reopened = kit.audit()[-1]
    assert "acknowledged by asha and not resolved within ack_timeout 30m" in (reopened.detail or "")
    [again] = kit.ack(KEY, by="ravi")  # acknowledged again: the timer starts again
    assert again.wake_at == clock() + 30 * 60
    kit.resolve(KEY, by="ravi")
    clock.advance(3600)
    drain(kit, clock)
    assert [s for s in sends(sim) if s in (SMS0, CALL0, CALL1)] == [SMS0, SMS0, CALL0]


def test_resolved_before_the_timeout_it_never_reopens(kit, sim, clock):
    page(kit)
    clock.advance(60)
    kit.ack(KEY, by="asha")
    clock.advance(10 * 60)
    kit.resolve(KEY)
    clock.advance(3600)
    drain(kit, clock)
    assert [s for s in sends(sim) if s in (SMS0, CALL0, CALL1)] == [SMS0]
    assert "reopened" not in [a for a, _, _ in trail(kit)]


def test_a_snoozed_escalation_sends_its_next_step_when_the_snooze_ends(kit, sim, clock):
    page(kit)
    clock.advance(60)
    [snoozed] = kit.ack(KEY, by="asha", snooze="30m")
    assert snoozed.state == "snoozed" and snoozed.wake_at == clock() + 30 * 60
    clock.advance(29 * 60)
    drain(kit, clock)
    assert sends(sim) == [SMS0]  # the 5m and 10m steps wait for the snooze
    [alert] = kit.alerts()
    assert alert.state == "acknowledged" and (alert.reason or "").startswith("snoozed until ")
    clock.advance(60)
    drain(kit, clock)
    assert sends(sim) == [SMS0, CALL0]  # the next step, when the snooze ends
    clock.advance(5 * 60)
    drain(kit, clock)
    assert sends(sim) == [SMS0, CALL0, CALL1]  # the gaps between steps are kept
    assert trail(kit) == [("snoozed", "asha", "api"), ("resumed", None, "system")]
    assert "for 30m, until " in (kit.audit()[0].detail or "")


def test_snoozed_out_of_steps_it_starts_again_from_the_first(kit, sim, clock):
    page(kit)
    for _ in range(2):
        clock.advance(5 * 60)
        drain(kit, clock)
    assert sends(sim) == [SMS0, CALL0, CALL1]  # every step sent, nobody answered
    kit.ack(KEY, snooze=15 * 60)
    clock.advance(15 * 60)
    drain(kit, clock)
    assert sends(sim) == [SMS0, CALL0, CALL1, SMS0]


def test_a_snoozed_alert_resolved_meanwhile_sends_nothing_more(kit, sim, clock):
    page(kit)
    kit.ack(KEY, snooze="10m")
    clock.advance(2 * 60)
    kit.resolve(KEY)
    clock.advance(3600)
    drain(kit, clock)
    assert [s for s in sends(sim) if s in (SMS0, CALL0, CALL1)] == [SMS0]
    assert [a for a, _, _ in trail(kit)] == ["snoozed", "resolved"]


def test_a_snooze_must_be_a_positive_duration(kit):
    page(kit)
    with pytest.raises(NotificationError, match="not a positive duration"):
        kit.ack(KEY, snooze="later")


def test_the_documented_ack_timeout_config_loads_and_reopens(make_kit, sim, tmp_path, clock):
    """docs/routing.md's ack_timeout example, loaded as it is written."""
    import yaml

    from tests.docs_support import ROOT, blocks

    [block] = [
        b
        for b in blocks(ROOT / "docs" / "routing.md")
        if b.lang == "yaml" and "ack_timeout:" in b.text
    ]
    documented = yaml.safe_load(block.text)
    path = write_config(
        tmp_path,
        sim,
        recipients={
            "p0": {"phone": PHONES[0]},
            "primary": {"phone": PHONES[0]},
            "secondary": {"phone": PHONES[1]},
            "p1": {"phone": PHONES[1]},
        },
        receivers={"page": {"escalation": "primary"}},
        route={"receiver": "page"},
        **documented,
    )
    kit = make_kit(path, clock=clock)
    assert kit.config.routing.escalations["primary"].ack_timeout == 30 * 60
    page(kit)
    kit.ack(KEY)
    clock.advance(30 * 60)
    drain(kit, clock)
    assert sends(sim) == [SMS0, SMS0]
