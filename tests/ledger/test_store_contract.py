"""The store contract: every rule of :mod:`notifykit.ledger.base`, through the Ledger API, on
SQLite (a real file) and PostgreSQL (a fresh schema) alike.

Time is passed explicitly (``now``), so leases expire and retries come due without sleeping.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from notifykit.channels.base import StatusUpdate
from notifykit.ledger import Ledger, LedgerError, Outcome
from notifykit.ledger.base import LOST_WORKER
from notifykit.ledger.migrations import MIGRATIONS
from notifykit.plan.planner import DeliveryJob, Plan
from notifykit.report import Delivery, DeliveryState

MakePlan = Callable[..., Plan]
OpenStore = Callable[..., Ledger]

LEASE = 30.0


def start(plan: Plan) -> float:
    return plan.jobs[0].due


def state_of(ledger: Ledger, delivery_id: str) -> DeliveryState:
    (delivery,) = ledger.deliveries([delivery_id])
    return delivery.state


def send(ledger: Ledger, owner: str, now: float, limit: int = 100) -> list[str]:
    """Claim and mark sending, as the dispatcher does; returns the ids it may send."""
    claimed = ledger.claim(owner, now, LEASE, limit)
    return ledger.begin_send(owner, [j.id for j in claimed], now)


# -- add ------------------------------------------------------------------------------------------


def test_add_stores_the_notification_and_every_delivery(ledger: Ledger, make_plan: MakePlan):
    plan = make_plan()
    submission = ledger.add(plan)
    assert submission.id == plan.notification.id and not submission.duplicate
    assert submission.deliveries == tuple(j.id for j in plan.jobs)
    report = ledger.report(submission.id)
    assert [d.recipient for d in report.deliveries] == ["alice", "bob", "carol"]
    assert {d.state for d in report.deliveries} == {DeliveryState.PENDING}
    assert ledger.notification(submission.id).event == "disk.full"
    assert ledger.counts() == {"pending": 3}
    assert ledger.next_due() == pytest.approx(start(plan))


def test_add_is_atomic(ledger: Ledger, make_plan: MakePlan):
    plan = make_plan()
    # The third job collides with the first: the whole notification must be refused.
    broken = dataclasses.replace(
        plan, jobs=(*plan.jobs[:2], dataclasses.replace(plan.jobs[2], id=plan.jobs[0].id))
    )
    with pytest.raises(LedgerError, match="storing a notification failed"):
        ledger.add(broken)
    assert ledger.counts() == {}
    assert ledger.reports(limit=0) == []
    # The ledger is still usable afterwards.
    assert not ledger.add(plan).duplicate


def test_add_is_idempotent_by_key(ledger: Ledger, make_plan: MakePlan):
    first = ledger.add(make_plan(key="deploy-42"))
    again = ledger.add(make_plan(to="alice", key="deploy-42"))
    assert again.duplicate and again.id == first.id and again.deliveries == first.deliveries
    assert ledger.counts() == {"pending": 3}
    other = ledger.add(make_plan(key="deploy-43"))
    assert not other.duplicate and other.id != first.id


def test_add_with_one_key_from_many_connections_at_once_stores_one(
    open_store: OpenStore, make_plan: MakePlan
):
    ledgers = [open_store() for _ in range(6)]
    plans = [make_plan(to="alice", key="same-key") for _ in ledgers]
    barrier = threading.Barrier(len(ledgers))

    def add(n: int) -> tuple[str, bool]:
        barrier.wait(timeout=10)
        submission = ledgers[n].add(plans[n])
        return submission.id, submission.duplicate

    with ThreadPoolExecutor(len(ledgers)) as pool:
        results = list(pool.map(add, range(len(ledgers))))
    assert len({i for i, _ in results}) == 1
    assert sorted(d for _, d in results) == [False] + [True] * (len(ledgers) - 1)
    assert ledgers[0].counts() == {"pending": 1}


def test_add_can_store_deliveries_already_sending_in_its_one_commit(
    ledger: Ledger, make_plan: MakePlan
):
    """What notify() does when no hook can veto: the first attempt opened with the notification,
    so the request may go out after one commit; begin_send never starts them again."""
    plan = make_plan()
    now = start(plan)
    ids = [j.id for j in plan.jobs]
    ledger.add(plan, lease_owner="n1", lease_until=now + LEASE, sending=ids[:2])
    report = ledger.report(plan.notification.id, detail=True)
    assert [(d.state, d.attempts) for d in report.deliveries] == [
        (DeliveryState.SENDING, 1),
        (DeliveryState.SENDING, 1),
        (DeliveryState.PENDING, 0),
    ]
    assert [
        [(a.number, a.outcome, a.worker) for a in d.attempt_log] for d in report.deliveries
    ] == [
        [(1, "sending", "n1")],
        [(1, "sending", "n1")],
        [],
    ]
    assert ledger.begin_send("n1", ids[:2], now) == []  # already sending: never twice
    assert ledger.claim("w1", now, LEASE, 10) == []  # all leased to n1
    assert ledger.begin_send("n1", ids[2:], now) == ids[2:]  # the rest go the usual way
    changes = ledger.record(
        "n1",
        [
            Outcome(ids[0], DeliveryState.SENT, provider_id="sid-1"),
            Outcome(ids[1], DeliveryState.FAILED, error="DND"),
        ],
        now + 0.1,
    )
    assert [(c.previous, c.delivery.state) for c in changes] == [
        (DeliveryState.SENDING, DeliveryState.SENT),
        (DeliveryState.SENDING, DeliveryState.FAILED),
    ]
    first, second, _ = ledger.report(plan.notification.id, detail=True).deliveries
    assert [(a.number, a.outcome, a.provider_id) for a in first.attempt_log] == [
        (1, "sent", "sid-1")
    ]
    assert first.attempts == 1 and first.attempt_log[0].finished == pytest.approx(now + 0.1)
    assert second.attempt_log[0].error == "DND"


def test_deliveries_stored_sending_by_a_notifier_that_died_become_unknown(
    ledger: Ledger, make_plan: MakePlan
):
    plan = make_plan()
    now = start(plan)
    ids = [j.id for j in plan.jobs]
    ledger.add(plan, lease_owner="n1", lease_until=now + LEASE, sending=ids[:1])
    assert ledger.recover(now + LEASE - 1) == []  # the lease holds: maybe in flight
    (change,) = ledger.recover(now + LEASE + 1)
    assert change.delivery.id == ids[0] and change.previous is DeliveryState.SENDING
    assert change.delivery.state is DeliveryState.UNKNOWN and change.delivery.error == LOST_WORKER
    (d,) = ledger.deliveries(ids[:1])
    assert d.state is DeliveryState.UNKNOWN and d.attempts == 1
    # Never claimable again; the two never started are, once n1's lease is gone.
    later = [j.id for j in ledger.claim("w2", now + LEASE + 1, LEASE, 10)]
    assert later == ids[1:]


def test_add_with_sending_of_a_duplicate_starts_nothing(ledger: Ledger, make_plan: MakePlan):
    first = make_plan(to="alice", key="k-1")
    ledger.add(first)
    again = make_plan(to="alice", key="k-1")
    now = start(again)
    submission = ledger.add(
        again, lease_owner="n1", lease_until=now + LEASE, sending=[again.jobs[0].id]
    )
    assert submission.duplicate and submission.id == first.notification.id
    assert ledger.counts() == {"pending": 1}
    assert ledger.deliveries([again.jobs[0].id]) == []


def test_add_with_sending_refuses_what_it_cannot_start(ledger: Ledger, make_plan: MakePlan):
    plan = make_plan()
    now = start(plan)
    with pytest.raises(ValueError, match="lease_owner"):
        ledger.add(plan, sending=[plan.jobs[0].id])
    with pytest.raises(ValueError, match="can be sent"):
        ledger.add(plan, lease_owner="n1", lease_until=now + LEASE, sending=["not-in-plan"])
    skipped = dataclasses.replace(
        plan, jobs=(dataclasses.replace(plan.jobs[0], skip_reason="no phone"), *plan.jobs[1:])
    )
    with pytest.raises(ValueError, match="can be sent"):
        ledger.add(skipped, lease_owner="n1", lease_until=now + LEASE, sending=[plan.jobs[0].id])
    # Refused as a whole: nothing was stored.
    assert ledger.counts() == {} and ledger.reports(limit=0) == []


def test_planned_jobs_and_recorded_deliveries_are_whole_objects(
    ledger: Ledger, make_plan: MakePlan
):
    """The planner and record() assemble their frozen objects without the constructor
    (report.assemble): they must equal what the constructor builds, every field set."""
    plan = make_plan()
    for job in plan.jobs:
        rebuilt = DeliveryJob.from_dict(job.to_dict())
        assert rebuilt == job and hash(rebuilt) == hash(job)
        assert set(vars(job)) == {f.name for f in dataclasses.fields(DeliveryJob)}
    now = start(plan)
    ids = [j.id for j in plan.jobs]
    ledger.add(plan, lease_owner="n1", lease_until=now + LEASE, sending=ids)
    changes = ledger.record(
        "n1", [Outcome(i, DeliveryState.SENT, provider_id=f"sid-{i}") for i in ids], now
    )
    for change, stored in zip(changes, ledger.deliveries(ids), strict=True):
        assert change.delivery == stored
        assert set(vars(change.delivery)) == {f.name for f in dataclasses.fields(Delivery)}
        assert dataclasses.replace(change.delivery) == change.delivery


# -- claim ----------------------------------------------------------------------------------------


def test_claim_leases_a_delivery_to_one_owner(ledger: Ledger, make_plan: MakePlan):
    plan = make_plan()
    ledger.add(plan)
    now = start(plan)
    first = ledger.claim("w1", now, LEASE, 2)
    assert [j.recipient for j in first] == ["alice", "bob"]
    assert first[0].text == plan.jobs[0].text and first[0].options == plan.jobs[0].options
    rest = ledger.claim("w2", now, LEASE, 10)
    assert [j.recipient for j in rest] == ["carol"]
    assert ledger.claim("w3", now + LEASE - 1, LEASE, 10) == []
    # A lease that is not renewed expires, and the delivery is claimable again.
    taken = ledger.claim("w3", now + LEASE + 1, LEASE, 10)
    assert {j.id for j in taken} == {j.id for j in plan.jobs}


def test_renew_keeps_a_lease_and_release_gives_it_back(ledger: Ledger, make_plan: MakePlan):
    plan = make_plan()
    ledger.add(plan)
    now = start(plan)
    ids = [j.id for j in ledger.claim("w1", now, LEASE, 10)]
    ledger.renew("w1", ids, now + 3 * LEASE)
    ledger.renew("w2", ids, now)  # not its lease: no effect
    assert ledger.claim("w2", now + 2 * LEASE, LEASE, 10) == []
    ledger.release("w1", ids[:1])
    assert [j.id for j in ledger.claim("w2", now, LEASE, 10)] == ids[:1]


def test_claim_skips_deliveries_due_later(ledger: Ledger, make_plan: MakePlan):
    plan = make_plan(to="alice")
    later = dataclasses.replace(plan, jobs=(dataclasses.replace(plan.jobs[0], due=1e12),))
    ledger.add(later)
    assert ledger.claim("w1", start(plan), LEASE, 10) == []
    assert ledger.next_due() == 1e12


def test_claim_by_ids_takes_exactly_those(ledger: Ledger, make_plan: MakePlan):
    plan = make_plan()
    ledger.add(plan)
    now = start(plan) - 3600  # not due yet: ids= claims anyway
    wanted = [plan.jobs[2].id, plan.jobs[0].id]
    claimed = ledger.claim("w1", now, LEASE, 1, ids=wanted)
    assert {j.id for j in claimed} == set(wanted)
    assert ledger.claim("w2", now, LEASE, 10, ids=wanted) == []  # leased to w1
    assert ledger.claim("w2", now, LEASE, 10, ids=[]) == []
    assert ledger.claim("w2", now, LEASE, 10, ids=["no-such-id"]) == []


def test_threads_claiming_at_once_never_get_the_same_delivery(
    open_store: OpenStore, make_plan: MakePlan
):
    """Eight connections (as eight processes) claim 300 deliveries in small bites at once."""
    writer = open_store()
    ids: set[str] = set()
    for _ in range(100):
        ids.update(writer.add(make_plan()).deliveries)
    now = time.time() + 1
    ledgers = [open_store() for _ in range(8)]
    barrier = threading.Barrier(len(ledgers))

    rounds = len(ids) // (7 * len(ledgers)) + 2

    def claim_all(n: int) -> list[str]:
        # In rounds, all eight claiming at the same moment each time.
        mine: list[str] = []
        for _ in range(rounds):
            barrier.wait(timeout=10)
            mine.extend(j.id for j in ledgers[n].claim(f"w{n}", now, LEASE, 7))
        return mine

    with ThreadPoolExecutor(len(ledgers)) as pool:
        per_owner = list(pool.map(claim_all, range(len(ledgers))))
    everything = [i for owned in per_owner for i in owned]
    assert len(everything) == len(set(everything)) == len(ids)
    assert set(everything) == ids
    assert all(per_owner)  # every one of them got some: they really competed


# -- begin_send and record ------------------------------------------------------------------------


def test_begin_send_only_for_the_lease_owner(ledger: Ledger, make_plan: MakePlan):
    plan = make_plan()
    ledger.add(plan)
    now = start(plan)
    ids = [j.id for j in ledger.claim("w1", now, LEASE, 10)]
    assert ledger.begin_send("w2", ids, now) == []
    assert ledger.begin_send("w1", ids[:2], now) == ids[:2]
    assert [state_of(ledger, i) for i in ids] == [
        DeliveryState.SENDING,
        DeliveryState.SENDING,
        DeliveryState.PENDING,
    ]
    # w1's lease on the third expires and w2 takes it over: w1 may no longer send it.
    later = now + LEASE + 1
    assert [j.id for j in ledger.claim("w2", later, LEASE, 10)] == ids[2:]
    assert ledger.begin_send("w1", ids[2:], later) == []
    assert ledger.begin_send("w2", ids[2:], later) == ids[2:]
    assert ledger.begin_send("w2", ids[2:], later) == []  # already sending: never twice
    (d,) = ledger.deliveries(ids[2:])
    assert d.attempts == 1


def test_record_retry_then_success_keeps_every_attempt(ledger: Ledger, make_plan: MakePlan):
    plan = make_plan(to="alice")
    ledger.add(plan)
    now = start(plan)
    (job_id,) = send(ledger, "w1", now)
    due = now + 5
    (change,) = ledger.record(
        "w1",
        [Outcome(job_id, DeliveryState.PENDING, error="HTTP 429: throttled", due=due)],
        now + 0.1,
    )
    assert change.previous is DeliveryState.SENDING
    assert change.delivery.state is DeliveryState.PENDING and change.delivery.due == due
    assert ledger.next_due() == pytest.approx(due)
    assert ledger.claim("w2", due - 1, LEASE, 10) == []
    (retried,) = ledger.claim("w2", due, LEASE, 10)
    assert retried.attempts == 1 and retried.first_due == pytest.approx(now)
    assert ledger.begin_send("w2", [job_id], due) == [job_id]
    (done,) = ledger.record(
        "w2",
        [Outcome(job_id, DeliveryState.SENT, provider_id="sid-1", provider_status="queued")],
        due + 0.2,
    )
    assert done.delivery.state is DeliveryState.SENT and done.delivery.provider_id == "sid-1"
    (d,) = ledger.report(plan.notification.id, detail=True).deliveries
    assert d.attempts == 2 and d.provider_status == "queued" and d.error is None
    assert [(a.number, a.outcome, a.worker) for a in d.attempt_log] == [
        (1, "retry", "w1"),
        (2, "sent", "w2"),
    ]
    assert d.attempt_log[0].error == "HTTP 429: throttled"
    assert d.attempt_log[1].provider_id == "sid-1" and d.attempt_log[1].finished is not None


def test_record_of_a_veto_adds_no_attempt(ledger: Ledger, make_plan: MakePlan):
    plan = make_plan(to="alice")
    ledger.add(plan)
    (job,) = ledger.claim("w1", start(plan), LEASE, 10)
    ledger.record(
        "w1",
        [Outcome(job.id, DeliveryState.SKIPPED, error="quiet hours", attempted=False)],
        start(plan),
    )
    (d,) = ledger.report(plan.notification.id, detail=True).deliveries
    assert d.state is DeliveryState.SKIPPED and d.attempts == 0 and d.attempt_log == ()
    assert ledger.claim("w1", start(plan) + 2 * LEASE, LEASE, 10) == []


# -- recover --------------------------------------------------------------------------------------


def test_recover_turns_expired_sending_into_unknown_never_pending(
    ledger: Ledger, make_plan: MakePlan
):
    plan = make_plan()
    ledger.add(plan)
    now = start(plan)
    sending = send(ledger, "w1", now, limit=2)
    assert ledger.recover(now + LEASE - 1) == []  # the lease still holds: maybe in flight
    changes = ledger.recover(now + LEASE + 1)
    assert sorted(c.delivery.id for c in changes) == sorted(sending)
    assert {(c.previous, c.delivery.state) for c in changes} == {
        (DeliveryState.SENDING, DeliveryState.UNKNOWN)
    }
    assert ledger.recover(now + LEASE + 2) == []
    report = ledger.report(plan.notification.id, detail=True)
    by_id = {d.id: d for d in report.deliveries}
    for delivery_id in sending:
        d = by_id[delivery_id]
        assert d.state is DeliveryState.UNKNOWN and d.error == LOST_WORKER
        assert [a.outcome for a in d.attempt_log] == ["unknown"]
    # Never claimable again, however late: only the never-started one is.
    later = [j.id for j in ledger.claim("w2", now + 10 * LEASE, LEASE, 10)]
    assert later == [j.id for j in plan.jobs if j.id not in sending]


def test_gauges_count_pending_unknown_and_live_workers(ledger: Ledger, make_plan: MakePlan):
    # What the metrics read at each scrape (notifykit.metrics), in one query.
    gauges = ledger.gauges(1_800_000_000.0, 120)
    assert (gauges.pending, gauges.oldest_due, gauges.unknown, gauges.workers) == (0, None, 0, 0)
    plan = make_plan()  # three deliveries, due at once
    ledger.add(plan)
    now = start(plan)
    gauges = ledger.gauges(now, 120)
    assert (gauges.pending, gauges.oldest_due, gauges.unknown) == (3, pytest.approx(now), 0)
    ledger.heartbeat("w1", "host", 1, now)
    send(ledger, "w1", now, limit=2)
    ledger.recover(now + LEASE + 1)  # w1 died mid-send: both unknown
    gauges = ledger.gauges(now + LEASE + 1, 120)
    assert (gauges.pending, gauges.unknown, gauges.workers) == (1, 2, 1)
    assert ledger.gauges(now + 121, 120).workers == 0  # its heartbeat is too old


# -- status ---------------------------------------------------------------------------------------


def _sent(ledger: Ledger, plan: Plan, provider_id: str) -> str:
    now = start(plan)
    (job_id,) = send(ledger, "w1", now)
    ledger.record("w1", [Outcome(job_id, DeliveryState.SENT, provider_id=provider_id)], now)
    return job_id


def test_apply_status_never_moves_backwards_and_keeps_every_event(
    ledger: Ledger, make_plan: MakePlan
):
    plan = make_plan(to="alice")
    ledger.add(plan)
    job_id = _sent(ledger, plan, "sid-7")
    token = plan.jobs[0].callback_token
    now = start(plan) + 1
    queued = StatusUpdate("sid-7", None, provider_status="queued")
    assert ledger.apply_status(token, queued, "callback", now) is None
    delivered = StatusUpdate("sid-7", DeliveryState.DELIVERED, provider_status="sent")
    change = ledger.apply_status(token, delivered, "callback", now + 1)
    assert change is not None and change.previous is DeliveryState.SENT
    assert change.delivery.state is DeliveryState.DELIVERED
    # Late and out-of-order events: recorded, applied to nothing.
    late = StatusUpdate("sid-7", DeliveryState.SENT, provider_status="submitted")
    failed = StatusUpdate("sid-7", DeliveryState.FAILED, provider_status="failed", detail="x")
    assert ledger.apply_status(token, late, "callback", now + 2) is None
    assert ledger.apply_status(token, failed, "callback", now + 3) is None
    assert ledger.apply_status(token, delivered, "callback", now + 4) is None  # duplicate
    assert state_of(ledger, job_id) is DeliveryState.DELIVERED
    (d,) = ledger.report(plan.notification.id, detail=True).deliveries
    assert d.provider_status == "sent" and d.error is None
    assert [(e.provider_status, e.applied) for e in d.events] == [
        ("queued", False),
        ("sent", True),
        ("submitted", False),
        ("failed", False),
        ("sent", False),
    ]
    assert [d.id for d in ledger.by_token(token)] == [job_id]


def test_apply_status_by_delivery_id_and_failure_reason(ledger: Ledger, make_plan: MakePlan):
    plan = make_plan(to="alice")
    ledger.add(plan)
    job_id = _sent(ledger, plan, "sid-8")
    update = StatusUpdate("sid-8", DeliveryState.FAILED, provider_status="failed_dnd", detail="DND")
    change = ledger.apply_status("", update, "reconcile", start(plan) + 1, job_id)
    assert change is not None and change.delivery.state is DeliveryState.FAILED
    (d,) = ledger.deliveries([job_id])
    assert d.error == "DND" and d.provider_detail == "DND"


def test_apply_status_never_moves_a_pending_delivery(ledger: Ledger, make_plan: MakePlan):
    plan = make_plan(to="alice")
    ledger.add(plan)
    update = StatusUpdate("sid-x", DeliveryState.DELIVERED, provider_status="sent")
    job_id = plan.jobs[0].id
    assert ledger.apply_status("", update, "reconcile", start(plan), job_id) is None
    assert state_of(ledger, job_id) is DeliveryState.PENDING


def test_an_orphan_event_is_applied_when_the_provider_id_is_recorded(
    ledger: Ledger, make_plan: MakePlan
):
    """The callback beat the worker's record of the provider's answer."""
    plan = make_plan(to="alice")
    ledger.add(plan)
    token = plan.jobs[0].callback_token
    now = start(plan)
    (job_id,) = send(ledger, "w1", now)
    early = StatusUpdate("sid-9", DeliveryState.DELIVERED, provider_status="sent")
    assert ledger.apply_status(token, early, "callback", now) is None
    stranger = StatusUpdate("sid-other", DeliveryState.FAILED, provider_status="failed")
    assert ledger.apply_status(token, stranger, "callback", now) is None
    (change,) = ledger.record(
        "w1", [Outcome(job_id, DeliveryState.SENT, provider_id="sid-9")], now + 1
    )
    assert change.previous is DeliveryState.SENDING
    assert change.delivery.state is DeliveryState.DELIVERED
    (d,) = ledger.report(plan.notification.id, detail=True).deliveries
    assert d.state is DeliveryState.DELIVERED
    assert [(e.provider_status, e.applied) for e in d.events] == [("sent", True)]


def _record_sid(
    ledger: Ledger, plan: Plan, sid: str, unknown: list[StatusUpdate], **bounds: Any
) -> DeliveryState:
    """Send ``plan``'s one delivery; events for ``unknown`` ids arrive first (with ``bounds``);
    then the provider's answer with ``sid`` is recorded: the delivery's state."""
    token = plan.jobs[0].callback_token
    now = start(plan)
    (job_id,) = send(ledger, "w1", now)
    for n, update in enumerate(unknown):
        assert ledger.apply_status(token, update, "callback", now + n, **bounds) is None
    ledger.record("w1", [Outcome(job_id, DeliveryState.SENT, provider_id=sid)], now + 100)
    return state_of(ledger, job_id)


def test_events_for_unknown_ids_are_kept_at_most_unknown_count_per_token_the_newest(
    ledger: Ledger, make_plan: MakePlan
):
    arrived = [
        StatusUpdate("sid-old", DeliveryState.DELIVERED, provider_status="sent"),
        StatusUpdate("sid-x", DeliveryState.FAILED, provider_status="failed"),
        StatusUpdate("sid-new", DeliveryState.DELIVERED, provider_status="sent"),
    ]
    first, second, third = (make_plan(to="alice") for _ in range(3))
    for plan in (first, second, third):
        ledger.add(plan)
    # the oldest of three was dropped for the newest two
    assert _record_sid(ledger, first, "sid-old", arrived, unknown_count=2) is DeliveryState.SENT
    assert _record_sid(ledger, second, "sid-new", arrived, unknown_count=2) is (
        DeliveryState.DELIVERED
    )
    # 0: none kept
    assert _record_sid(ledger, third, "sid-new", arrived, unknown_count=0) is DeliveryState.SENT


def test_events_for_unknown_ids_are_kept_at_most_unknown_keep_seconds(
    ledger: Ledger, make_plan: MakePlan
):
    swept, kept = make_plan(to="alice"), make_plan(to="bob")
    ledger.add(swept)
    ledger.add(kept)
    early = StatusUpdate("sid-1", DeliveryState.DELIVERED, provider_status="sent")
    token = swept.jobs[0].callback_token
    now = start(swept)
    assert ledger.apply_status(token, early, "callback", now, unknown_keep=60) is None
    # another token's unknown event, 61 s later, sweeps every older one away
    other = StatusUpdate("sid-2", DeliveryState.DELIVERED, provider_status="sent")
    other_token = kept.jobs[0].callback_token
    assert ledger.apply_status(other_token, other, "callback", now + 61, unknown_keep=60) is None
    ids = {d.recipient: d.id for d in ledger.deliveries(send(ledger, "w1", now + 62))}
    outcomes = [
        Outcome(ids["alice"], DeliveryState.SENT, provider_id="sid-1"),
        Outcome(ids["bob"], DeliveryState.SENT, provider_id="sid-2"),
    ]
    ledger.record("w1", outcomes, now + 62)
    assert state_of(ledger, ids["alice"]) is DeliveryState.SENT  # its early event was swept
    assert state_of(ledger, ids["bob"]) is DeliveryState.DELIVERED


def test_old_events_for_unknown_ids_are_forgotten_with_no_new_one_arriving(
    ledger: Ledger, make_plan: MakePlan
):
    plan = make_plan(to=["alice", "bob"])
    ledger.add(plan)
    token = plan.jobs[0].callback_token
    now = start(plan)
    old = StatusUpdate("sid-1", DeliveryState.DELIVERED, provider_status="sent")
    new = StatusUpdate("sid-2", DeliveryState.DELIVERED, provider_status="sent")
    assert ledger.apply_status(token, old, "callback", now, unknown_keep=60) is None
    assert ledger.apply_status(token, new, "callback", now + 30, unknown_keep=60) is None
    # the due work's sweep, 61 s after the first: only that one is older than the bound
    assert ledger.forget_unknown_events(now + 61 - 60) == 1
    assert ledger.forget_unknown_events(now + 61 - 60) == 0
    ids = {d.recipient: d.id for d in ledger.deliveries(send(ledger, "w1", now + 62))}
    ledger.record(
        "w1",
        [
            Outcome(ids["alice"], DeliveryState.SENT, provider_id="sid-1"),
            Outcome(ids["bob"], DeliveryState.SENT, provider_id="sid-2"),
        ],
        now + 62,
    )
    assert state_of(ledger, ids["alice"]) is DeliveryState.SENT  # forgotten
    assert state_of(ledger, ids["bob"]) is DeliveryState.DELIVERED  # kept, then applied


def test_a_probe_is_written_and_read_back(ledger: Ledger):
    assert ledger.probe("readyz:host:1", 1_800_000_000.25) == 1_800_000_000.25
    assert ledger.probe("readyz:host:1", 1_800_000_001.5) == 1_800_000_001.5
    assert ledger.probe("readyz:host:2", 7.0) == 7.0


def test_reconcile_candidates_are_sent_or_unknown_and_quiet(ledger: Ledger, make_plan: MakePlan):
    quiet = make_plan(to="alice")
    done = make_plan(to="bob")
    ledger.add(quiet)
    ledger.add(done)
    now = start(done)
    quiet_id = _sent(ledger, quiet, "sid-q")
    done_id = _sent(ledger, done, "sid-d")
    ledger.apply_status(
        "", StatusUpdate("sid-d", DeliveryState.DELIVERED, "sent"), "callback", now, done_id
    )
    assert ledger.reconcile_candidates(now + 10, 600, 10) == []  # too recent
    later = now + 601
    assert [d.id for d in ledger.reconcile_candidates(later, 600, 10)] == [quiet_id]
    ledger.mark_checked([quiet_id], later)
    assert ledger.reconcile_candidates(later + 1, 600, 10) == []
    assert [d.id for d in ledger.reconcile_candidates(later + 601, 600, 10)] == [quiet_id]
    assert ledger.reconcile_candidates(later + 601, 600, 0) == []


# -- reading --------------------------------------------------------------------------------------


def test_reports_newest_first_with_state_filter_and_limit(ledger: Ledger, make_plan: MakePlan):
    plans = [make_plan(to="alice", event=f"event.{n}") for n in range(5)]
    for plan in plans:
        ledger.add(plan)
    newest_first = [p.notification.id for p in reversed(plans)]
    assert [r.id for r in ledger.reports()] == newest_first
    assert [r.id for r in ledger.reports(limit=0)] == newest_first
    assert [r.id for r in ledger.reports(limit=2)] == newest_first[:2]
    _sent(ledger, plans[0], "sid-0")  # the oldest one's delivery is now sent
    sent = ledger.reports(state=DeliveryState.SENT)
    assert [r.id for r in sent] == [plans[0].notification.id]
    assert sent[0].event == "event.0" and sent[0].deliveries[0].state is DeliveryState.SENT
    assert [r.id for r in ledger.reports(state=DeliveryState.PENDING, limit=0)] == (
        newest_first[:4]
    )
    assert ledger.reports(state=DeliveryState.UNKNOWN) == []
    with pytest.raises(LedgerError, match="no notification"):
        ledger.report("no-such-id")


def test_workers_lists_live_ones_with_their_leases(ledger: Ledger, make_plan: MakePlan):
    plan = make_plan()
    ledger.add(plan)
    now = start(plan)
    ledger.heartbeat("w1", "host-a", 101, now - 100)
    ledger.heartbeat("w1", "host-a", 102, now)  # a restart: same name, new pid
    ledger.heartbeat("w2", "host-b", 201, now)
    ledger.heartbeat("dead", "host-c", 301, now - 1000)
    ledger.claim("w1", now, LEASE, 2)
    workers = ledger.workers(now, 60)
    assert [(w["name"], w["host"], w["pid"], w["leases"]) for w in workers] == [
        ("w1", "host-a", 102, 2),
        ("w2", "host-b", 201, 0),
    ]
    assert workers[0]["started"] == pytest.approx(now - 100)


# -- schema ---------------------------------------------------------------------------------------


def test_reopening_applies_no_migration_twice(open_store: OpenStore, make_plan: MakePlan):
    first = open_store()
    submission = first.add(make_plan())
    first.close()
    again = open_store()
    assert again.report(submission.id).id == submission.id
    third = open_store()
    versions = third._read(  # type: ignore[attr-defined]
        "reading versions", "SELECT version FROM schema_migrations ORDER BY version"
    )
    assert [r[0] for r in versions] == [v for v, _ in MIGRATIONS]


def test_opening_at_once_migrates_once(open_store: OpenStore):
    """Processes opening a new database together must not race through the migrations."""
    with ThreadPoolExecutor(4) as pool:
        ledgers = list(pool.map(lambda _: open_store(), range(4)))
    assert all(ledger.counts() == {} for ledger in ledgers)


def test_a_newer_schema_is_refused(open_store: OpenStore):
    ledger = open_store()
    with ledger._tx("faking a newer notifykit") as cur:  # type: ignore[attr-defined]
        ledger._exec(  # type: ignore[attr-defined]
            cur, "INSERT INTO schema_migrations (version, applied) VALUES (?, ?)", (999, 0.0)
        )
    ledger.close()
    with pytest.raises(LedgerError, match=r"schema version 999, newer .* upgrade notifykit"):
        open_store()


# -- wake-ups -------------------------------------------------------------------------------------


def test_wait_for_work_times_out_when_nothing_happens(ledger: Ledger):
    ledger.wait_for_work(0.01)  # PostgreSQL's first call sets up its listener
    began = time.monotonic()
    assert ledger.wait_for_work(0.2) is False
    assert 0.15 <= time.monotonic() - began < 2


def test_wait_for_work_wakes_on_add(open_store: OpenStore, make_plan: MakePlan):
    waiter = open_store()
    # Work added by another ledger (as another process would) wakes it: PostgreSQL through
    # LISTEN/NOTIFY, SQLite through its wake-up socket; tests/ledger/test_wakeups.py has the
    # same with real processes, and work added by the same ledger.
    adder = open_store()
    # Both listen from the first call, which returns at once: it cannot know what was
    # committed before it listened.
    assert waiter.wait_for_work(0.01) is True
    woke: list[float] = []
    waiting = threading.Event()

    def wait() -> None:
        began = time.monotonic()
        waiting.set()
        if waiter.wait_for_work(10):
            woke.append(time.monotonic() - began)

    thread = threading.Thread(target=wait)
    thread.start()
    # Added once the waiter is about to wait; work added before its wait starts is remembered
    # (in SQLite's socket, PostgreSQL's listener, both set up above), so either order must wake
    # it.
    assert waiting.wait(10)
    adder.add(make_plan())
    thread.join(timeout=10)
    assert woke and woke[0] < 5
