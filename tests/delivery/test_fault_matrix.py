"""The fault matrix: for each fault Exotel (or the network) can produce, exactly how many requests
Exotel received and the delivery's final state, through the worker and its retry policy.

The account makes no immediate client retries (``retries: 0``), so every retry here is the
ledger's, scheduled by the policy and run on a controllable clock."""

from __future__ import annotations

import pytest

from notifykit.report import DeliveryState
from notifykit_exotel.simulator import Fault
from tests.delivery.conftest import PHONES, free_port, wait_until, write_config

TO = PHONES[0]

# (id, fault, requests after the first attempt, state after it, requests at the end, final state)
MATRIX = [
    ("429-retry-after", Fault(status=429, retry_after=5, message="slow"), 1, "pending", 2, "sent"),
    ("429-no-retry-after", Fault(status=429, message="slow down"), 1, "pending", 2, "sent"),
    (
        "sms-503-throttle",
        Fault(status=503, code=None, message="throttled"),
        1,
        "pending",
        2,
        "sent",
    ),
    ("500", Fault(status=500, message="boom"), 1, "unknown", 1, "unknown"),
    ("dropped", Fault(drop=True), 1, "unknown", 1, "unknown"),
    ("non-json-200", Fault(status=200, non_json=True), 1, "unknown", 1, "unknown"),
    ("400-invalid", Fault(status=400, code=40007, message="invalid To"), 1, "failed", 1, "failed"),
    ("403-dnd", Fault(status=403, code=34010, message="DND"), 1, "failed", 1, "failed"),
]


@pytest.mark.parametrize(
    ("fault", "first_requests", "first_state", "final_requests", "final_state"),
    [pytest.param(*row[1:], id=row[0]) for row in MATRIX],
)
def test_fault(
    make_kit, sim, clock, fault, first_requests, first_state, final_requests, final_state
):
    kit = make_kit(clock=clock)
    submission = kit.submit("db.down", data={"host": "db1"}, to=TO)
    sim.inject(fault)
    kit.worker().run(drain=True)
    [delivery] = kit.report(submission.id).deliveries
    assert (len(sim.requests_to(TO)), delivery.state.value) == (first_requests, first_state)
    if first_state == "pending":
        assert delivery.due is not None and delivery.due > clock()
        if fault.retry_after:
            assert delivery.due >= clock() + fault.retry_after  # Retry-After honoured
    # Later drains, long after any backoff, never resend what may have been sent.
    for _ in range(3):
        clock.advance(30)
        kit.worker().run(drain=True)
    [delivery] = kit.report(submission.id).deliveries
    assert (len(sim.requests_to(TO)), delivery.state.value) == (final_requests, final_state)
    assert delivery.attempts == final_requests
    if final_state in ("unknown", "failed"):
        assert delivery.error  # Exotel's reason, or why it may have been sent, is kept


def test_a_read_timeout_is_unknown_and_never_resent(make_kit, sim, clock):
    kit = make_kit(clock=clock)  # the account's timeout is 1 s
    submission = kit.submit("db.down", data={"host": "db1"}, to=TO)
    sim.inject(Fault(delay=1.5))  # Exotel got it and created the SMS, but answered too late
    kit.worker().run(drain=True)
    clock.advance(3600)
    kit.worker().run(drain=True)
    [delivery] = kit.report(submission.id).deliveries
    assert delivery.state is DeliveryState.UNKNOWN and len(sim.requests_to(TO)) == 1
    wait_until(lambda: len(sim.messages) == 1)  # it was sent: resending would page twice


def test_connection_refused_is_retried_until_the_deadline_then_failed(
    make_kit, sim, clock, tmp_path
):
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    config = write_config(tmp_path, sim, account={"base_url": dead})
    kit = make_kit(config, clock=clock)
    submission = kit.submit("db.down", data={"host": "db1"}, to=TO)
    states = []
    for _ in range(20):
        kit.worker().run(drain=True)
        [delivery] = kit.report(submission.id).deliveries
        states.append(delivery.state.value)
        if delivery.state.final:
            break
        clock.advance(11)  # past the longest backoff (max 10s)
    assert states[-1] == "failed" and set(states[:-1]) == {"pending"}
    assert "gave up" in (delivery.error or "") and "retry deadline" in (delivery.error or "")
    # Retried within the deadline (60s) only: backoff 1s, 2s, 4s, 8s, 10s... then given up.
    assert 4 <= delivery.attempts <= 8
    assert sim.requests == []


def test_resend_unknown_is_an_explicit_channel_policy(make_kit, sim, clock, tmp_path):
    config = write_config(tmp_path, sim)
    text = config.read_text().replace(
        "senders:\n      default:\n        from: NKALRT\n",
        "senders:\n      default:\n        from: NKALRT\n    retry:\n      on_unknown: resend\n",
    )
    config.write_text(text)
    kit = make_kit(config, clock=clock)
    submission = kit.submit("db.down", data={"host": "db1"}, to=TO)
    sim.inject(Fault(drop=True))
    kit.worker().run(drain=True)
    clock.advance(30)
    kit.worker().run(drain=True)
    [delivery] = kit.report(submission.id).deliveries
    assert delivery.state is DeliveryState.SENT and len(sim.requests_to(TO)) == 2


def test_the_clients_own_immediate_retries_are_kept_for_429(make_kit, sim, tmp_path):
    # With the default client retries, one 429 is absorbed inside the attempt: one attempt,
    # two requests, sent.
    config = write_config(tmp_path, sim, account={"retries": 3})
    kit = make_kit(config)
    submission = kit.submit("db.down", data={"host": "db1"}, to=TO)
    sim.inject(Fault(status=429, retry_after=0.01, message="slow"))
    kit.worker().run(drain=True)
    [delivery] = kit.report(submission.id).deliveries
    assert (delivery.state, delivery.attempts, len(sim.requests_to(TO))) == ("sent", 1, 2)


def test_notify_makes_a_transient_failure_final_so_retrying_it_cannot_double_send(make_kit, sim):
    kit = make_kit()
    sim.inject(Fault(status=429, message="slow down"))
    report = kit.notify("db.down", data={"host": "db1"}, to=TO)
    assert [d.state for d in report.deliveries] == [DeliveryState.FAILED]
    # Nothing was left scheduled behind the caller's back.
    assert kit.worker().run(drain=True).counts == {} and len(sim.requests) == 1
