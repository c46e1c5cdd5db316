"""Delivery status: Exotel's callbacks reach the status server over real HTTP and move deliveries
to their final states; duplicates, reordered, late, forged and missing callbacks."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from notifykit import Notifier, hookimpl
from notifykit.plugins import get_plugin_manager
from notifykit.report import DeliveryState
from notifykit.server import StatusServer
from notifykit_exotel.simulator import ExotelSimulator
from tests.delivery.conftest import PHONES, TOKEN, free_port, write_config


@pytest.fixture
def served(
    make_kit: Callable[..., Notifier], sim: ExotelSimulator, tmp_path: Path
) -> Iterator[tuple[Notifier, StatusServer]]:
    """A Notifier whose server.public_url is a StatusServer running on loopback."""
    port = free_port()
    config = write_config(
        tmp_path, sim, server={"public_url": f"http://127.0.0.1:{port}/", "port": port}
    )
    kit = make_kit(config)
    with StatusServer(kit, "127.0.0.1", port) as server:
        yield kit, server


def _only(kit: Notifier, notification_id: str):
    [delivery] = kit.report(notification_id).deliveries
    return delivery


def test_an_sms_callback_moves_it_to_delivered(served, sim):
    kit, server = served
    report = kit.notify("db.down", data={"host": "db1"}, to=PHONES[0])
    sent = report.deliveries[0]
    [request] = sim.requests
    callback = request.form["StatusCallback"][0]
    assert re.fullmatch(rf"{server.url}/status/[A-Za-z0-9_-]{{22}}", callback)  # 128-bit token
    attempt = sim.deliver_sms(sent.provider_id, "sent")
    assert attempt is not None and attempt.status == 200
    delivery = _only(kit, report.id)
    assert delivery.state is DeliveryState.DELIVERED and delivery.provider_status == "sent"
    assert [(e.source, e.state, e.applied) for e in delivery.events] == [
        ("callback", DeliveryState.DELIVERED, True)
    ]


@pytest.mark.parametrize(
    ("status", "state", "detail"),
    [("failed", "failed", "failed"), ("failed_dnd", "failed", "failed_dnd")],
)
def test_a_failed_sms_report_fails_the_delivery_with_exotels_reason(
    served, sim, status, state, detail
):
    kit, _ = served
    report = kit.notify("db.down", data={"host": "db1"}, to=PHONES[0])
    sim.deliver_sms(report.deliveries[0].provider_id, status)
    delivery = _only(kit, report.id)
    assert delivery.state.value == state and delivery.provider_status == status
    assert delivery.error  # Exotel's detailed reason (or its status) is kept


@pytest.mark.parametrize(
    ("outcome", "state"),
    [
        ("completed", "delivered"),
        ("busy", "failed"),
        ("no-answer", "failed"),
        ("failed", "failed"),
        ("canceled", "failed"),
    ],
)
def test_call_callbacks(served, sim, outcome, state):
    kit, _ = served
    report = kit.notify("db.down", data={"host": "db1"}, to=PHONES[0], channels=["call"])
    sim.complete_call(report.deliveries[0].provider_id, outcome)
    delivery = _only(kit, report.id)
    assert (delivery.state.value, delivery.provider_status) == (state, outcome)


def test_duplicate_and_late_callbacks_get_200_and_change_nothing(served, sim):
    kit, _ = served
    report = kit.notify("db.down", data={"host": "db1"}, to=PHONES[0])
    attempt = sim.deliver_sms(report.deliveries[0].provider_id, "sent")
    assert attempt is not None
    # Exotel retries (a duplicate), then an older event arrives late.
    again = requests.post(
        attempt.url, data=attempt.body, headers={"Content-Type": attempt.content_type}, timeout=5
    )
    late = requests.post(
        attempt.url,
        data={"SmsSid": report.deliveries[0].provider_id, "Status": "submitted"},
        timeout=5,
    )
    failed_after = requests.post(
        attempt.url,
        data={"SmsSid": report.deliveries[0].provider_id, "Status": "failed"},
        timeout=5,
    )
    assert (again.status_code, late.status_code, failed_after.status_code) == (200, 200, 200)
    delivery = _only(kit, report.id)
    assert delivery.state is DeliveryState.DELIVERED  # never moved backwards or sideways
    assert [e.applied for e in delivery.events] == [True, False, False, False]


def test_out_of_order_a_final_event_first_then_progress(served, sim):
    kit, _ = served
    report = kit.notify("db.down", data={"host": "db1"}, to=PHONES[0], channels=["call"])
    sid = report.deliveries[0].provider_id
    [attempt] = sim.complete_call(sid, "busy")
    ringing = requests.post(attempt.url, data={"CallSid": sid, "Status": "ringing"}, timeout=5)
    assert ringing.status_code == 200
    delivery = _only(kit, report.id)
    assert (delivery.state, delivery.provider_status) == (DeliveryState.FAILED, "busy")


def test_forged_and_malformed_callbacks_are_rejected_and_logged_without_the_token(
    served, sim, caplog
):
    kit, server = served
    report = kit.notify("db.down", data={"host": "db1"}, to=PHONES[0])
    [request] = sim.requests
    url = request.form["StatusCallback"][0]
    token = url.rsplit("/", 1)[1]
    sid = report.deliveries[0].provider_id
    caplog.set_level(logging.DEBUG, logger="notifykit")
    forged = requests.post(
        f"{server.url}/status/{'A' * 22}", data={"SmsSid": sid, "Status": "sent"}, timeout=5
    )
    garbage = requests.post(url, data=b"\x00\xff not a callback", timeout=5)
    no_sid = requests.post(url, data={"Status": "sent"}, timeout=5)
    wrong_method = requests.get(url, timeout=5)
    huge = requests.post(url, data=b"x" * (2 << 20), timeout=5)
    assert [r.status_code for r in (forged, garbage, no_sid, wrong_method, huge)] == [
        404, 400, 400, 405, 413,
    ]  # fmt: skip
    assert _only(kit, report.id).state is DeliveryState.SENT
    assert token not in caplog.text and TOKEN not in caplog.text
    assert "unknown token" in caplog.text
    health = requests.get(f"{server.url}/healthz", timeout=5)
    assert health.status_code == 200 and health.json() == {"ok": True}  # liveness only


def test_a_callback_for_a_sid_not_in_the_batch_is_kept_but_moves_nothing(served, sim):
    kit, _ = served
    report = kit.notify("db.down", data={"host": "db1"}, to=PHONES[0])
    [request] = sim.requests
    url = request.form["StatusCallback"][0]
    other = requests.post(url, data={"SmsSid": "not-ours", "Status": "failed"}, timeout=5)
    assert other.status_code == 200
    assert _only(kit, report.id).state is DeliveryState.SENT


def test_a_missing_callback_is_found_by_reconcile(make_kit, sim, clock):
    # No public_url: no callback is asked for; the reconciler asks Exotel instead.
    changes = []

    class Observer:
        @hookimpl
        def after_status_change(self, delivery, previous):
            changes.append((previous.value, delivery.state.value))

    kit = make_kit(clock=clock, plugin_manager=get_plugin_manager(plugins=[Observer()]))
    report = kit.notify("db.down", data={"host": "db1"}, to="oncall")
    assert "StatusCallback" not in sim.requests[0].form
    first, second = (d.provider_id for d in report.deliveries)
    sim.deliver_sms(first, "sent")
    sim.deliver_sms(second, "failed_dnd")
    assert kit.reconcile() == []  # too soon: a callback may still come
    clock.advance(601)
    changed = kit.reconcile()
    assert sorted(d.state.value for d in changed) == ["delivered", "failed"]
    assert [d.state.value for d in kit.report(report.id).deliveries] == ["delivered", "failed"]
    assert ("sent", "delivered") in changes and ("sent", "failed") in changes
    lookups = [r for r in sim.requests if r.method == "GET"]
    assert len(lookups) == 2
    # Final deliveries are not looked up again.
    clock.advance(601)
    assert kit.reconcile() == [] and len([r for r in sim.requests if r.method == "GET"]) == 2


def test_the_worker_reconciles_on_a_timer(make_kit, sim, clock):
    kit = make_kit(clock=clock)
    report = kit.notify("db.down", data={"host": "db1"}, to=PHONES[0])
    sim.deliver_sms(report.deliveries[0].provider_id, "sent")
    clock.advance(601)
    result = kit.worker(reconcile_every=1).run(drain=True)
    assert result.reconciled == 1
    assert _only(kit, report.id).state is DeliveryState.DELIVERED


def test_the_due_work_forgets_old_callbacks_for_unknown_message_ids(make_kit, sim, tmp_path):
    from notifykit.channels.base import StatusUpdate

    config = write_config(
        tmp_path, sim, server={"public_url": "https://alerts.example.com", "webhook_token": "none"}
    )
    kit = make_kit(config)
    submission = kit.submit("db.down", data={"host": "db1"})
    [delivery] = kit.ledger.deliveries(list(submission.deliveries))
    token = kit.ledger.claim("w", delivery.due + 1, 60.0, 10)[0].callback_token
    keep = kit.config.server.unknown_callbacks_keep
    update = StatusUpdate("never-recorded", DeliveryState.DELIVERED, provider_status="sent")
    kit.ledger.apply_status(token, update, "callback", 1000.0, unknown_keep=keep)
    due = kit.runtime.pipeline.due
    due.recover(1000.0 + keep - 1)  # not old enough yet
    assert kit.ledger.forget_unknown_events(1000.0 + 1) == 1  # so it was still there
    kit.ledger.apply_status(token, update, "callback", 1000.0, unknown_keep=keep)
    due.recover(1000.0 + keep + 1)  # the tick's sweep, no new callback needed
    assert kit.ledger.forget_unknown_events(1000.0 + 1) == 0
