"""The worker over real HTTP: draining, bulk batches, threads, 'sending' committed before the
request, graceful stop, recovery of a dead worker's deliveries, hooks."""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import closing

from notifykit import hookimpl
from notifykit.plugins import get_plugin_manager
from notifykit.report import DeliveryState
from notifykit_exotel.simulator import Fault
from tests.delivery.conftest import write_config


def _states(kit) -> list[str]:
    return [d.state.value for r in kit.history(limit=0) for d in r.deliveries]


def test_drain_delivers_what_was_submitted_once(make_kit, sim):
    kit = make_kit()
    ids = [
        kit.submit("db.down", data={"host": f"db{i}"}, to=f"+91980000{i:04d}").id for i in range(5)
    ]
    result = kit.worker(threads=2).run(drain=True)
    assert result.ok and result.counts == {"sent": 5}
    for i in range(5):
        assert len(sim.requests_to(f"+91980000{i:04d}")) == 1
    assert {kit.report(i).deliveries[0].state for i in ids} == {DeliveryState.SENT}
    # A second drain finds nothing to do and sends nothing.
    assert kit.worker().run(drain=True).counts == {}
    assert len(sim.requests) == 5


def test_a_broadcast_goes_out_in_bulk_requests_of_the_claim_batch(make_kit, sim):
    kit = make_kit()
    numbers = [f"+9198100{i:05d}" for i in range(250)]
    kit.submit("db.down", data={"host": "db1"}, to=numbers)
    result = kit.worker(batch=100).run(drain=True)
    assert result.counts == {"sent": 250}
    # three bulk requests, sent by the pool in whatever order its threads get there
    assert sorted(len(r.recipients) for r in sim.requests) == [50, 100, 100]
    assert all(len(sim.requests_to(n)) == 1 for n in numbers[::25])


def test_many_threads_deliver_each_notification_exactly_once(make_kit, sim):
    kit = make_kit()
    numbers = [f"+9198200{i:05d}" for i in range(200)]
    for n in numbers:
        kit.submit("db.down", data={"host": "x"}, to=n)
    result = kit.worker(threads=8, batch=10).run(drain=True)
    assert result.counts == {"sent": 200}
    assert sorted(len(sim.requests_to(n)) for n in numbers) == [1] * 200


def test_a_delivery_is_committed_sending_before_its_request_goes_out(make_kit, sim, tmp_path):
    kit = make_kit()
    submission = kit.submit("db.down", data={"host": "db1"})
    sim.inject(Fault(delay=0.5))  # answered normally, late
    runner = threading.Thread(target=kit.worker().run, kwargs={"drain": True})
    runner.start()
    try:
        sim.wait_for_requests(1)
        # Another connection (another process would see the same) reads it while the POST is
        # in flight: the state is committed.
        with sqlite3.connect(tmp_path / "ledger.db") as conn:
            state, attempts = conn.execute(
                "SELECT state, attempts FROM deliveries WHERE id = ?", (submission.deliveries[0],)
            ).fetchone()
        assert (state, attempts) == ("sending", 1)
    finally:
        runner.join(timeout=10)
    assert kit.report(submission.id).deliveries[0].state is DeliveryState.SENT


def test_stop_finishes_the_request_in_flight_and_gives_back_the_rest(make_kit, sim):
    kit = make_kit()
    for i in range(3):
        kit.submit("db.down", data={"host": "x"}, to=f"+9198300{i:05d}")
    sim.inject(Fault(delay=0.5))
    worker = kit.worker(threads=1)
    runner = threading.Thread(target=worker.run)
    runner.start()
    sim.wait_for_requests(1)
    worker.stop()
    runner.join(timeout=10)
    assert not runner.is_alive()
    assert sorted(_states(kit)) == ["pending", "pending", "sent"]
    assert len(sim.requests) == 1
    # What it gave back is claimable at once (its lease was released, not left to expire).
    other = kit.worker(name="other")
    assert other.run(drain=True).counts == {"sent": 2}


def test_a_dead_workers_sending_deliveries_become_unknown_and_are_never_resent(
    make_kit, sim, clock
):
    changes = []

    class Observer:
        @hookimpl
        def after_status_change(self, delivery, previous):
            changes.append((delivery.state, previous))

    pm = get_plugin_manager(plugins=[Observer()])
    kit = make_kit(clock=clock, plugin_manager=pm)
    submission = kit.submit("db.down", data={"host": "db1"})
    # A worker claims it, commits 'sending'... and dies before the answer is recorded.
    ledger = kit.ledger
    [job] = ledger.claim("dead-worker", clock(), 5.0, 10)
    assert ledger.begin_send("dead-worker", [job.id], clock()) == [job.id]
    # While the lease holds, nobody touches it.
    assert kit.worker().run(drain=True).counts == {}
    clock.advance(6)
    result = kit.worker().run(drain=True)
    assert result.recovered == 1 and result.counts == {"unknown": 1}
    [delivery] = kit.report(submission.id).deliveries
    assert delivery.state is DeliveryState.UNKNOWN
    assert "may have been sent" in (delivery.error or "")
    assert [a.outcome for a in delivery.attempt_log] == ["unknown"]
    assert sim.requests == []  # never resent
    assert changes == [(DeliveryState.UNKNOWN, DeliveryState.SENDING)]
    clock.advance(3600)
    assert kit.worker().run(drain=True).counts == {} and sim.requests == []


def test_hooks_see_every_attempt_and_every_state_change(make_kit, sim, clock):
    seen: list[tuple[str, str]] = []
    changes: list[tuple[str, str]] = []

    class Observer:
        @hookimpl
        def after_delivery(self, delivery):
            seen.append((delivery.state.value, str(delivery.attempts)))

        @hookimpl
        def after_status_change(self, delivery, previous, notification):
            changes.append((previous.value, delivery.state.value))
            assert notification.event == "db.down"

    kit = make_kit(clock=clock, plugin_manager=get_plugin_manager(plugins=[Observer()]))
    kit.submit("db.down", data={"host": "db1"})
    sim.inject(Fault(status=429, code=None, message="slow down"))
    kit.worker().run(drain=True)
    clock.advance(30)
    kit.worker().run(drain=True)
    assert seen == [("pending", "1"), ("sent", "2")]
    assert changes == [("sending", "pending"), ("sending", "sent")]


def test_workers_report_themselves_in_the_ledger(make_kit, clock):
    kit = make_kit(clock=clock)
    kit.worker(name="w1").run(drain=True)
    kit.worker(name="w2").run(drain=True)
    assert [w["name"] for w in kit.ledger.workers(clock(), 60)] == ["w1", "w2"]
    clock.advance(120)
    assert kit.ledger.workers(clock(), 60) == []


def test_skipped_and_vetoed_deliveries_are_recorded_without_a_request(make_kit, sim, tmp_path):
    class Veto:
        @hookimpl
        def before_delivery(self, delivery):
            return "quiet hours" if delivery.address.endswith("1") else None

    config = write_config(
        tmp_path,
        sim,
        recipients={"a": {"phone": "+919876543210"}, "b": {"phone": "+919876543211"}},
        groups={},
        defaults={"channels": ["sms"], "to": ["a"], "template": "default"},
    )
    kit = make_kit(config, plugin_manager=get_plugin_manager(plugins=[Veto()]))
    kit.submit("db.down", data={"host": "db1"}, to=["a", "b"])
    result = kit.worker().run(drain=True)
    assert result.counts == {"sent": 1, "skipped": 1} and result.ok
    [report] = kit.history()
    assert [(d.state.value, d.error, d.attempts) for d in report.deliveries] == [
        ("sent", None, 1),
        ("skipped", "quiet hours", 0),
    ]
    assert len(sim.requests) == 1


def _leases(tmp_path) -> list[tuple[str, object]]:
    with closing(sqlite3.connect(tmp_path / "ledger.db")) as conn:
        return conn.execute("SELECT state, lease_owner FROM deliveries ORDER BY seq").fetchall()


def test_stop_starts_no_new_request_of_a_group_in_flight(make_kit, sim, tmp_path):
    """One notification to four numbers by call: one group, its calls one after the other.
    stop() while the first is in flight: it is answered and recorded, no other call starts, and
    the three left go back to pending, released at once."""
    kit = make_kit()
    numbers = [f"+9198310{i:05d}" for i in range(4)]
    kit.submit("db.down", to=numbers, channels="call")
    sim.inject(Fault(delay=0.5), fraction=1.0)  # the account's timeout is 1 s
    worker = kit.worker(threads=1)
    runner = threading.Thread(target=worker.run)
    runner.start()
    sim.wait_for_requests(1)
    worker.stop()
    runner.join(timeout=10)
    assert not runner.is_alive()
    assert len(sim.requests) == 1
    assert _leases(tmp_path) == [
        ("sent", None),
        ("pending", None),
        ("pending", None),
        ("pending", None),
    ]
    [report] = kit.history()
    assert report.deliveries[0].provider_id in sim.calls
    assert all(
        "not sent: stopped (Worker.stop())" in (d.error or "") for d in report.deliveries[1:]
    )
    sim.clear_faults()
    assert kit.worker(name="other").run(drain=True).counts == {"sent": 3}
    assert sorted(r.form["From"][0] for r in sim.requests) == numbers  # each rung once


def test_stop_without_waiting_records_the_request_in_flight_unknown(make_kit, sim, tmp_path):
    """stop(wait=False): the call in flight (answered 5 s later) is not waited for: it is
    unknown (it may have been sent), the calls never started are pending, released, and run()
    returns at once."""
    kit = make_kit(write_config(tmp_path, sim, account={"timeout": 20}))
    kit.submit("db.down", to=[f"+9198320{i:05d}" for i in range(3)], channels="call")
    sim.inject(Fault(delay=5), fraction=1.0)
    worker = kit.worker(threads=1)
    runner = threading.Thread(target=worker.run)
    runner.start()
    sim.wait_for_requests(1)
    worker.stop()
    worker.stop(wait=False)
    began = time.monotonic()
    runner.join(timeout=10)
    assert not runner.is_alive() and time.monotonic() - began < 2
    assert _leases(tmp_path) == [("unknown", None), ("pending", None), ("pending", None)]
    [report] = kit.history()
    assert report.deliveries[0].provider_id is None
    assert "while its request was in flight" in (report.deliveries[0].error or "")
    assert len(sim.requests) == 1
