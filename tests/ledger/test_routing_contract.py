"""The store contract of the routing state (schema version 2), on SQLite and PostgreSQL alike:
dedup decisions in the notification log, waiting groups, escalation steps fired once even by
competing processes, acknowledgement, advancing on failure, webhook idempotency, the ack
secret."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from notifykit.ledger import Ledger
from notifykit.ledger.routing import EscalationStart, GroupAction, GroupState
from notifykit.plan.planner import Plan
from notifykit.routing.alert import Alert
from notifykit.routing.tree import RouteSettings

MakePlan = Callable[..., Plan]
OpenStore = Callable[..., Ledger]
T0 = 1_800_000_000.0
SETTINGS = RouteSettings(
    receiver="ops", group_wait=0.0, group_interval=300.0, repeat_interval=3600.0
)


def alert(host: str = "db1", *, resolved: bool = False) -> Alert:
    return Alert("db.down", "critical", {"host": host}, resolved=resolved)


def sending(make_plan: MakePlan, seen: list[GroupState]) -> Callable[[GroupState], GroupAction]:
    def handle(state: GroupState) -> GroupAction:
        seen.append(state)
        return GroupAction(plan=make_plan(to="alice"))

    return handle


def test_the_first_alert_sends_and_a_repeat_is_skipped(ledger: Ledger, make_plan: MakePlan):
    seen: list[GroupState] = []
    a = alert()
    key = a.key_for()
    first = ledger.group_arrival("ops", key, a, SETTINGS, T0, sending(make_plan, seen))
    assert first.decision.action == "send" and len(first.submissions) == 1
    assert ledger.report(first.submissions[0].id).key == "db.down{host=db1}"
    again = ledger.group_arrival("ops", key, a, SETTINGS, T0 + 60, sending(make_plan, seen))
    assert again.decision.action == "skip" and again.submissions == ()
    assert again.last_notification == first.submissions[0].id
    later = ledger.group_arrival("ops", key, a, SETTINGS, T0 + 3601, sending(make_plan, seen))
    assert later.decision.action == "send"
    assert len(seen) == 2 and [m.labels for m in seen[0].members] == [{"host": "db1"}]


def test_the_log_is_shared_by_every_process(open_store: OpenStore, make_plan: MakePlan):
    one, two = open_store(), open_store()
    a = alert()
    assert one.group_arrival(
        "ops", a.key_for(), a, SETTINGS, T0, sending(make_plan, [])
    ).submissions
    skipped = two.group_arrival("ops", a.key_for(), a, SETTINGS, T0 + 1, sending(make_plan, []))
    assert skipped.decision.action == "skip"


def test_concurrent_arrivals_send_once(open_store: OpenStore, make_plan: MakePlan):
    stores = [open_store() for _ in range(4)]
    a = alert()

    def arrive(store: Ledger) -> int:
        outcome = store.group_arrival("ops", a.key_for(), a, SETTINGS, T0, sending(make_plan, []))
        return len(outcome.submissions)

    with ThreadPoolExecutor(4) as pool:
        assert sum(pool.map(arrive, stores * 3)) == 1


def test_a_waiting_group_is_flushed_once_when_due(ledger: Ledger, make_plan: MakePlan):
    settings = RouteSettings(receiver="ops", group_by=("event",), group_wait=30.0)
    seen: list[GroupState] = []
    handle = sending(make_plan, seen)
    for i, host in enumerate(("a", "b")):
        a = alert(host)
        waiting = ledger.group_arrival("ops", a.key_for(("event",)), a, settings, T0 + i, handle)
        assert waiting.decision.action == "wait"
    assert ledger.next_routing_due() == pytest.approx(T0 + 30)
    assert ledger.flush_groups(T0 + 29, handle) == []
    [flushed] = ledger.flush_groups(T0 + 30, handle)
    assert len(flushed.submissions) == 1
    assert sorted(m.labels["host"] for m in seen[0].members) == ["a", "b"]
    assert ledger.flush_groups(T0 + 31, handle) == []


def start_escalation(ledger: Ledger, make_plan: MakePlan, host: str = "db1") -> str:
    a = alert(host)

    def handle(state: GroupState) -> GroupAction:
        steps = ((0, 0, T0), (0, 1, T0 + 300), (0, 2, T0 + 600))
        return GroupAction(escalation=EscalationStart("primary", steps, a))

    outcome = ledger.group_arrival("page", a.key_for(), a, SETTINGS, T0, handle)
    assert outcome.escalation_id is not None
    return outcome.escalation_id


def planner(make_plan: MakePlan, fired: list[tuple[int, int]]) -> Callable[..., Plan]:
    def plan_step(record, step):  # type: ignore[no-untyped-def]
        fired.append((step.loop, step.index))
        return make_plan(to="alice")

    return plan_step


def test_steps_fire_once_when_due(open_store: OpenStore, make_plan: MakePlan):
    ledger = open_store()
    escalation = start_escalation(ledger, make_plan)
    fired: list[tuple[int, int]] = []
    assert len(ledger.fire_due_steps(T0, planner(make_plan, fired))) == 1
    assert ledger.fire_due_steps(T0 + 1, planner(make_plan, fired)) == []
    # two more processes race for the second step: exactly one stores it
    others = [open_store() for _ in range(3)]
    with ThreadPoolExecutor(3) as pool:
        stored = list(
            pool.map(lambda s: len(s.fire_due_steps(T0 + 300, planner(make_plan, fired))), others)
        )
    assert sum(stored) == 1 and fired == [(0, 0), (0, 1)]
    states = [s.state for s in ledger.escalation_steps(escalation)]
    assert states == ["sent", "sent", "pending"]
    assert ledger.next_routing_due() == pytest.approx(T0 + 600)


def test_ack_cancels_what_is_pending(ledger: Ledger, make_plan: MakePlan):
    escalation = start_escalation(ledger, make_plan)
    ledger.fire_due_steps(T0, planner(make_plan, []))
    assert ledger.ack("nothing-like-it", "asha", T0 + 1) == []
    [acked] = ledger.ack("db.down{host=db1}", "asha", T0 + 180)
    assert (acked.id, acked.state, acked.acked_by, acked.acked_at) == (
        escalation,
        "acked",
        "asha",
        T0 + 180,
    )
    assert [s.state for s in ledger.escalation_steps(escalation)] == [
        "sent",
        "cancelled",
        "cancelled",
    ]
    assert ledger.fire_due_steps(T0 + 3600, planner(make_plan, [])) == []
    assert ledger.ack("db.down{host=db1}", None, T0 + 200) == []  # only active ones


def test_ack_by_digest_and_by_ack_id(ledger: Ledger, make_plan: MakePlan):
    start_escalation(ledger, make_plan)
    [record] = ledger.escalations()
    assert ledger.ack_escalation(ack_id="wrong", by=None, now=T0) == []
    [acked] = ledger.ack_escalation(ack_id=record.ack_id, by="link", now=T0 + 1)
    assert acked.state == "acked"
    start_escalation(ledger, make_plan, "db2")
    digest = alert("db2").key_for().digest
    assert [r.state for r in ledger.ack(digest[:8], None, T0 + 2)] == ["acked"]


def test_a_resolved_alert_ends_its_escalation(ledger: Ledger, make_plan: MakePlan):
    escalation = start_escalation(ledger, make_plan)
    r = alert(resolved=True)
    ledger.group_arrival("page", r.key_for(), r, SETTINGS, T0 + 60, lambda s: GroupAction())
    [record] = ledger.escalations()
    assert record.id == escalation and record.state == "resolved"
    assert "pending" not in [s.state for s in ledger.escalation_steps(escalation)]


def test_advance_makes_the_next_step_due_now_and_keeps_the_gaps(
    ledger: Ledger, make_plan: MakePlan
):
    escalation = start_escalation(ledger, make_plan)
    [submission] = ledger.fire_due_steps(T0, planner(make_plan, []))
    found = ledger.escalation_of(submission.id)
    assert found is not None and found[0].id == escalation and found[1].index == 0
    assert ledger.advance_escalation(escalation, T0 + 30)
    due = [s.due_at for s in ledger.escalation_steps(escalation) if s.state == "pending"]
    assert due == [pytest.approx(T0 + 30), pytest.approx(T0 + 330)]
    assert not ledger.advance_escalation(escalation, T0 + 30)  # already due: nothing moves


def test_alerts_are_remembered_for_inhibition_and_resolve(ledger: Ledger):
    ledger.record_alert(alert("h1"), T0)
    ledger.record_alert(alert("h2"), T0)
    ledger.record_alert(alert("h2", resolved=True), T0 + 5)
    assert [a.labels["host"] for a in ledger.open_alerts(T0 - 1)] == ["h1"]
    assert ledger.open_alerts(T0 + 1) == []
    [found] = ledger.find_alerts("db.down{host=h1}")
    assert found.labels == {"host": "h1"}
    assert ledger.find_alerts(alert("h1").key_for().digest[:10]) == [found]
    assert ledger.find_alerts("db.down") == []


def test_idempotency_keys_are_claimed_once(open_store: OpenStore):
    one, two = open_store(), open_store()
    assert one.claim_idempotency("am:fp:t0", T0) == (True, None)
    assert two.claim_idempotency("am:fp:t0", T0) == (False, None)  # still being processed
    one.finish_idempotency("am:fp:t0", '{"id": "x"}')
    assert two.claim_idempotency("am:fp:t0", T0) == (False, '{"id": "x"}')
    assert one.claim_idempotency("am:fp:t1", T0) == (True, None)
    one.finish_idempotency("am:fp:t1", None)  # failed: a retry is processed
    assert two.claim_idempotency("am:fp:t1", T0) == (True, None)


def test_the_ack_secret_is_made_once_and_shared(open_store: OpenStore):
    one, two = open_store(), open_store()
    secret = one.routing_secret("ack")
    assert len(secret) >= 40 and two.routing_secret("ack") == secret
    assert one.routing_secret("other") != secret


def test_open_alerts_are_named_by_their_own_key_or_their_group_key(
    ledger: Ledger, make_plan: MakePlan
):
    settings = RouteSettings(receiver="ops", group_by=("event", "host"), repeat_interval=3600.0)
    firing = Alert("db.down", "critical", {"host": "db1", "x": "1"})
    group, own = firing.key_for(settings.group_by), firing.key_for()
    assert (group.text, own.text) == ("db.down{host=db1}", "db.down{host=db1,x=1}")
    plan = dataclasses.replace(make_plan(to="alice"), receiver="ops", step="0.0")

    def handle(state: GroupState) -> GroupAction:
        if all(m.resolved for m in state.members):
            return GroupAction()
        start = EscalationStart("primary", ((0, 1, T0 + 300),), firing)
        return GroupAction(plan=plan, escalation=start)

    ledger.record_alert(firing, T0)
    outcome = ledger.group_arrival("ops", group, firing, settings, T0, handle)
    stored = ledger.report(outcome.submissions[0].id)
    assert (stored.key, stored.receiver, stored.step) == (group.text, "ops", "0.0")
    for given in (group.text, own.text, group.digest[:8], own.digest[:10]):
        assert ledger.alerts_named(given) == [firing], given
    assert ledger.alerts_named("db.down{host=db2}") == []
    snapshot = ledger.routing_snapshot()
    assert [(r.alert, r.first_seen, r.last_seen) for r in snapshot.alerts] == [(firing, T0, T0)]
    logged = snapshot.groups["ops", group.digest]
    assert (logged.key, logged.last_sent, logged.flush_due) == (group, T0, None)
    assert dict(logged.members) == {own.digest: T0}
    record, steps = snapshot.escalations["ops", group.digest]
    assert (record.state, [(s.loop, s.index, s.state) for s in steps]) == (
        "active",
        [(0, 1, "pending")],
    )
    [acked] = ledger.ack(own.text, "asha", T0 + 10)  # an alert's own key acks its group's
    assert acked.key == group.text
    record, steps = ledger.routing_snapshot().escalations["ops", group.digest]
    assert (record.state, record.acked_by, steps[0].state) == ("acked", "asha", "cancelled")
    resolved = dataclasses.replace(firing, resolved=True)
    ledger.record_alert(resolved, T0 + 20)
    ledger.group_arrival("ops", group, resolved, settings, T0 + 20, handle)
    assert ledger.alerts_named(group.text) == [] and ledger.alerts_named(own.text) == []
    snapshot = ledger.routing_snapshot()
    assert (snapshot.alerts, dict(snapshot.groups), dict(snapshot.escalations)) == ((), {}, {})
