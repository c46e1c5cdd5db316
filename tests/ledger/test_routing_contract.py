"""The store contract of the routing state (``ledger.routing``, schema versions 2 and 3), on
SQLite and PostgreSQL alike. The store stores and decides nothing: these tests drive its units of
work the way the pipeline does — groups with their members, notification-log entry and timer;
escalations whose steps fire once even with competing processes; acknowledgement cancelling what
is pending; the firing alerts inhibition reads; webhook claims that commit with their routing;
the ack secret."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from notifykit.errors import LedgerError
from notifykit.ledger import Ledger
from notifykit.plan.planner import Plan
from notifykit.report import DeliveryState
from notifykit.routing.alert import Alert
from notifykit.routing.lifecycle import GroupRoute, LogEntry
from notifykit.routing.tree import RouteSettings

MakePlan = Callable[..., Plan]
OpenStore = Callable[..., Ledger]
T0 = 1_800_000_000.0
ROUTE = GroupRoute(
    RouteSettings(receiver="ops", group_wait=0.0, group_interval=300.0, repeat_interval=3600.0),
    mute_time_intervals=("nights",),
    path="route.routes[0]",
)


def alert(host: str = "db1", *, resolved: bool = False) -> Alert:
    return Alert("db.down", "critical", {"host": host}, {"detail": "x"}, resolved=resolved)


def test_a_group_keeps_its_members_log_and_timer(open_store: OpenStore, make_plan: MakePlan):
    one, two = open_store(), open_store()
    a, b = alert("db1"), alert("db2")
    key = a.key_for(("event",))
    with one.routing.unit() as unit:
        group = unit.open_group("ops", key, ROUTE, T0)
        assert group.new and group.entry is None and group.flush_due is None
        group.add(a, T0)
        group.add(b, T0 + 1)
        group.add(a, T0 + 2)  # raised again
        stored = unit.store(make_plan(to="alice"), alert_key=str(key))
        group.logged(LogEntry(frozenset({a.key_for().digest}), frozenset(), T0 + 2), stored.id)
        group.schedule(T0 + 302)
    # another process reads it back, as stored
    with two.routing.unit() as unit:
        group = unit.group("ops", key.digest)
        assert group is not None and not group.new
        assert group.route == ROUTE and group.flush_due == pytest.approx(T0 + 302)
        assert group.last_notification == stored.id
        assert group.entry == LogEntry(frozenset({a.key_for().digest}), frozenset(), T0 + 2)
        first, second = group.members.values()
        assert (first.alert, first.starts_at, first.last_raised) == (a, T0, T0 + 2)
        assert (second.alert, second.starts_at, second.resolved_at) == (b, T0 + 1, None)
        group.add(alert("db2", resolved=True), T0 + 10)
    with one.routing.unit() as unit:
        group = unit.group("ops", key.digest)
        assert group is not None
        resolved = group.members[b.key_for().digest]
        assert resolved.resolved_at == T0 + 10 and resolved.alert.resolved
        group.drop([b.key_for().digest])
        assert list(group.members) == [a.key_for().digest]
    assert one.report(stored.id).key == "db.down"


def test_an_exception_rolls_the_whole_unit_back(ledger: Ledger, make_plan: MakePlan):
    key = alert().key_for()
    stored = []

    def failing() -> None:
        with ledger.routing.unit() as unit:
            unit.open_group("ops", key, ROUTE, T0).add(alert(), T0)
            stored.append(unit.store(make_plan(to="alice")))
            raise RuntimeError("a stage failed")

    with pytest.raises(RuntimeError):
        failing()
    with ledger.routing.unit() as unit:
        assert unit.group("ops", key.digest) is None
    with pytest.raises(LedgerError):
        ledger.report(stored[0].id)


def test_one_group_is_decided_once_by_competing_processes(
    open_store: OpenStore, make_plan: MakePlan
):
    stores = [open_store() for _ in range(4)]
    a = alert()

    def arrive(store: Ledger) -> int:
        # What the pipeline does: read the log, decide, write the decision (one unit).
        with store.routing.unit() as unit:
            group = unit.open_group("ops", a.key_for(), ROUTE, T0)
            group.add(a, T0)
            if group.entry is not None:
                return 0
            stored = unit.store(make_plan(to="alice"))
            group.logged(LogEntry(frozenset({a.key_for().digest}), frozenset(), T0), stored.id)
            return 1

    with ThreadPoolExecutor(4) as pool:
        assert sum(pool.map(arrive, stores * 3)) == 1


def test_due_groups_and_the_next_due_time(ledger: Ledger):
    state = ledger.routing
    with state.unit() as unit:
        for n, host in enumerate(("a", "b", "c")):
            group = unit.open_group("ops", alert(host).key_for(), ROUTE, T0)
            group.add(alert(host), T0)
            group.schedule(T0 + 30 * (n + 1))
    assert state.next_due() == pytest.approx(T0 + 30)
    assert len(state.due_groups(T0 + 29)) == 0
    assert len(state.due_groups(T0 + 60)) == 2
    with state.unit() as unit:
        for receiver, digest in state.due_groups(T0 + 100):
            group = unit.group(receiver, digest)
            assert group is not None
            group.schedule(None)  # emptied: the timer stops
    assert state.due_groups(T0 + 10_000) == [] and state.next_due() is None


def start(ledger: Ledger, host: str = "db1") -> str:
    a = alert(host)
    with ledger.routing.unit() as unit:
        record = unit.start_escalation(
            "page", a.key_for(), "primary", ((0, 0, T0), (0, 1, T0 + 300), (0, 2, T0 + 600)), a, T0
        )
    return record.id


def fire(store: Ledger, escalation: str, now: float, make_plan: MakePlan) -> int:
    """What the escalation stage does with one escalation's due steps (one unit)."""
    with store.routing.unit() as unit:
        record = unit.escalation(escalation)
        assert record is not None
        fired = 0
        for step in unit.due_steps(escalation, now):
            stored = unit.store(make_plan(to="alice"), alert_key=record.key)
            unit.mark_step(step, "sent", stored.id)
            fired += 1
        unit.finish_if_done(record)
        return fired


def test_steps_fire_once_when_due(open_store: OpenStore, make_plan: MakePlan):
    ledger = open_store()
    escalation = start(ledger)
    state = ledger.routing
    assert state.due_escalations(T0) == [escalation]
    assert fire(ledger, escalation, T0, make_plan) == 1
    assert state.due_escalations(T0 + 1) == []
    # three more processes race for the second step: exactly one stores it
    others = [open_store() for _ in range(3)]
    with ThreadPoolExecutor(3) as pool:
        fired = list(pool.map(lambda s: fire(s, escalation, T0 + 300, make_plan), others))
    assert sum(fired) == 1
    steps = state.escalation_steps(escalation)
    assert [s.state for s in steps] == ["sent", "sent", "pending"]
    assert all(s.notification_id for s in steps[:2])
    assert state.next_due() == pytest.approx(T0 + 600)
    fire(ledger, escalation, T0 + 600, make_plan)
    assert [r.state for r in state.escalations()] == ["done"]


def test_a_step_tried_again_later_keeps_its_failures(ledger: Ledger):
    escalation = start(ledger)
    with ledger.routing.unit() as unit:
        [step] = unit.due_steps(escalation, T0)
        unit.mark_step(step, "pending", due_at=T0 + 30, failures=1)
    [step, *_] = ledger.routing.escalation_steps(escalation)
    assert (step.state, step.due_at, step.failures) == ("pending", T0 + 30, 1)


def test_stopping_cancels_pending_steps_and_unstarted_deliveries(
    ledger: Ledger, make_plan: MakePlan
):
    escalation = start(ledger)
    fire(ledger, escalation, T0, make_plan)
    [step] = [s for s in ledger.routing.escalation_steps(escalation) if s.notification_id]
    assert step.notification_id is not None
    [delivery] = ledger.report(step.notification_id).deliveries
    assert delivery.state is DeliveryState.PENDING  # a retry waiting, say
    with ledger.routing.unit() as unit:
        record = unit.escalation(escalation)
        assert record is not None
        [acked] = unit.stop_escalations([record], "acked", T0 + 180, "asha")
    assert (acked.state, acked.acked_by, acked.acked_at) == ("acked", "asha", T0 + 180)
    steps = ledger.routing.escalation_steps(escalation)
    assert [s.state for s in steps] == ["sent", "cancelled", "cancelled"]
    [delivery] = ledger.report(step.notification_id).deliveries
    assert delivery.state is DeliveryState.CANCELLED and "acknowledged by asha" in (
        delivery.error or ""
    )
    with ledger.routing.unit() as unit:  # only active ones are stopped
        assert unit.stop_escalations([acked], "resolved", T0 + 200) == []


def test_escalations_found_by_ack_id_and_by_notification(ledger: Ledger, make_plan: MakePlan):
    escalation = start(ledger)
    fire(ledger, escalation, T0, make_plan)
    [record] = ledger.routing.escalations()
    with ledger.routing.unit() as unit:
        assert unit.escalation_by_ack_id("wrong") is None
        found = unit.escalation_by_ack_id(record.ack_id)
        assert found is not None and found.id == escalation
    [step, *_] = ledger.routing.escalation_steps(escalation)
    assert step.notification_id is not None
    pair = ledger.routing.escalation_of(step.notification_id)
    assert pair is not None and pair[0].id == escalation and pair[1].index == 0
    assert ledger.routing.escalation_of("no-such-notification") is None


def test_advance_makes_the_next_step_due_now_and_keeps_the_gaps(
    ledger: Ledger, make_plan: MakePlan
):
    escalation = start(ledger)
    fire(ledger, escalation, T0, make_plan)
    with ledger.routing.unit() as unit:
        record = unit.escalation(escalation)
        assert record is not None and unit.advance(record, T0 + 30)
    due = [s.due_at for s in ledger.routing.escalation_steps(escalation) if s.state == "pending"]
    assert due == [pytest.approx(T0 + 30), pytest.approx(T0 + 330)]
    with ledger.routing.unit() as unit:
        record = unit.escalation(escalation)
        assert record is not None and not unit.advance(record, T0 + 30)  # due already


def test_firing_alerts_are_what_inhibition_reads(ledger: Ledger):
    state = ledger.routing
    with state.unit() as unit:
        unit.record_alert(alert("h1"), T0)
        unit.record_alert(alert("h2"), T0)
        unit.record_alert(alert("h2", resolved=True), T0 + 5)
        unit.record_alert(alert("h3"), T0 - 400)  # not raised again for 400 s
        assert [a.labels["host"] for a in unit.firing_alerts(T0 + 10, 300)] == ["h1"]
    assert state.firing_alerts(T0 + 301, 300) == []  # timed out, as Alertmanager's
    # an escalating alert stays firing whatever resolve_timeout says
    a = alert("h3")
    with state.unit() as unit:
        group = unit.open_group("page", a.key_for(), ROUTE, T0)
        group.add(a, T0)
        unit.start_escalation("page", a.key_for(), "primary", ((0, 0, T0),), a, T0)
    assert [x.labels["host"] for x in state.firing_alerts(T0 + 10_000, 300)] == ["h3"]


def test_alerts_are_found_by_every_key_form(ledger: Ledger):
    state = ledger.routing
    a, b = alert("h1"), alert("h2")
    with state.unit() as unit:
        for x in (a, b):
            unit.record_alert(x, T0)
            unit.open_group("ops", x.key_for(("event",)), ROUTE, T0).add(x, T0)
    [found] = state.find_alerts("db.down{host=h1}")
    assert found == a
    assert state.find_alerts(a.key_for().digest[:10]) == [found]
    # the key of their group (what notify() reports with group_by: [event]) finds both
    assert sorted(x.labels["host"] for x in state.find_alerts("db.down")) == ["h1", "h2"]
    assert state.find_alerts("db.up") == [] and state.find_alerts("  ") == []


def test_a_webhook_claim_commits_with_its_routing(open_store: OpenStore):
    one, two = open_store(), open_store()
    with one.routing.unit() as unit:
        assert unit.claim_idempotency("am:fp:t0", T0) == (True, None)
        unit.finish_idempotency("am:fp:t0", '{"id": "x"}')
    with two.routing.unit() as unit:
        assert unit.claim_idempotency("am:fp:t0", T0) == (False, '{"id": "x"}')

    # a process that fails before its routing committed claimed nothing: the retry routes it
    def failing() -> None:
        with one.routing.unit() as unit:
            assert unit.claim_idempotency("am:fp:t1", T0) == (True, None)
            raise RuntimeError("the ledger failed while routing")

    with pytest.raises(RuntimeError):
        failing()
    with two.routing.unit() as unit:
        assert unit.claim_idempotency("am:fp:t1", T0) == (True, None)


def test_the_ack_secret_is_made_once_and_shared(open_store: OpenStore):
    one, two = open_store(), open_store()
    secret = one.routing.routing_secret("ack")
    assert len(secret) >= 40 and two.routing.routing_secret("ack") == secret
    assert one.routing.routing_secret("other") != secret


def test_a_snapshot_is_what_alerts_lists(ledger: Ledger, make_plan: MakePlan):
    route = GroupRoute(RouteSettings(receiver="ops", group_by=("event", "host")))
    firing = Alert("db.down", "critical", {"host": "db1", "x": "1"})
    group_key, own = firing.key_for(("event", "host")), firing.key_for()
    assert (group_key.text, own.text) == ("db.down{host=db1}", "db.down{host=db1,x=1}")
    plan = dataclasses.replace(make_plan(to="alice"), receiver="ops", step="0.0")
    with ledger.routing.unit() as unit:
        unit.record_alert(firing, T0)
        group = unit.open_group("ops", group_key, route, T0)
        group.add(firing, T0)
        stored = unit.store(plan, alert_key=group_key.text)
        group.logged(LogEntry(frozenset({own.digest}), frozenset(), T0), stored.id)
        group.schedule(T0 + 300)
        unit.start_escalation("ops", group_key, "primary", ((0, 1, T0 + 300),), firing, T0)
    report = ledger.report(stored.id)
    assert (report.key, report.receiver, report.step) == (group_key.text, "ops", "0.0")
    for given in (group_key.text, own.text, group_key.digest[:8], own.digest[:10]):
        assert ledger.routing.find_alerts(given) == [firing], given
    [snapshot] = ledger.routing.snapshot()
    assert (snapshot.receiver, snapshot.key, snapshot.route, snapshot.flush_due) == (
        "ops",
        group_key,
        route,
        T0 + 300,
    )
    assert [m.alert for m in snapshot.members] == [firing]
    assert snapshot.entry == LogEntry(frozenset({own.digest}), frozenset(), T0)
    assert snapshot.escalation is not None and snapshot.escalation.state == "active"
    assert [(s.loop, s.index, s.state) for s in snapshot.steps] == [(0, 1, "pending")]
    with ledger.routing.unit() as unit:
        group = unit.group("ops", group_key.digest)
        assert group is not None
        group.drop([own.digest])
        group.schedule(None)
    assert ledger.routing.snapshot() == []


def test_gauges_count_firing_alerts_and_open_escalations_by_last_step(
    ledger: Ledger, make_plan: MakePlan
):
    # What the metrics read at each scrape (notifykit.metrics): counted, not read row by row.
    state = ledger.routing
    with state.unit() as unit:
        unit.record_alert(alert("h1"), T0)
        unit.record_alert(alert("h2", resolved=True), T0)
        unit.record_alert(alert("h3"), T0 - 400)  # timed out
    gauges = state.gauges(T0 + 10, 300)
    assert (gauges.open_alerts, gauges.escalations) == (1, {})
    first, second, third = start(ledger, "a"), start(ledger, "b"), start(ledger, "c")
    gauges = state.gauges(T0 + 10, 300)
    assert gauges.escalations == {("primary", "active", "none"): 3}
    fire(ledger, first, T0, make_plan)
    fire(ledger, second, T0 + 300, make_plan)  # its first two steps
    with state.unit() as unit:
        record = unit.escalation(third)
        assert record is not None
        unit.stop_escalations([record], "acked", T0 + 310, "asha")  # no longer open
    gauges = state.gauges(T0 + 310, 300)
    assert gauges.escalations == {("primary", "active", "0.0"): 1, ("primary", "active", "0.1"): 1}
    fire(ledger, second, T0 + 600, make_plan)  # its last step: done, nobody answered
    gauges = state.gauges(T0 + 610, 300)
    assert gauges.escalations == {("primary", "active", "0.0"): 1, ("primary", "done", "0.2"): 1}
    # the escalating alerts stay firing (held open), whatever resolve_timeout says
    assert state.gauges(T0 + 10_000, 300).open_alerts == len(state.firing_alerts(T0 + 10_000, 300))
