"""Rows read by name (:mod:`notifykit.ledger.rows`), on SQLite and PostgreSQL: the mechanism,
and the ledger reading every delivery row by name, whatever the order of its columns."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Callable
from typing import Any

import pytest

from notifykit.channels.base import StatusUpdate
from notifykit.ledger import Ledger, Outcome, base
from notifykit.ledger.base import LOST_WORKER
from notifykit.ledger.rows import as_dict, fetch, fetch_one
from notifykit.plan.planner import Plan
from notifykit.report import DeliveryState

MakePlan = Callable[..., Plan]


def test_rows_are_read_by_column_name_on_either_driver(ledger: Ledger):
    db: Any = ledger
    with db.reading("reading rows") as cursor:
        rows, c = fetch(
            db.execute(cursor, "SELECT 'a' AS name, 2 AS n UNION ALL SELECT 'b', 3 ORDER BY n")
        )
        swapped, s = fetch(db.execute(cursor, "SELECT 4 AS n, 'c' AS name"))
        again, a = fetch_one(db.execute(cursor, "SELECT 'd' AS name, 5 AS n"))
        none, _ = fetch_one(db.execute(cursor, "SELECT 'e' AS name, 6 AS n WHERE 1 = 0"))
    # the driver's own rows, each column found by its name whatever its place
    assert rows == [("a", 2), ("b", 3)]
    assert [(r[c.name], r[c.n]) for r in rows] == [("a", 2), ("b", 3)]
    assert [(r[s.name], r[s.n]) for r in swapped] == [("c", 4)]
    assert again is not None and (again[a.name], again[a.n]) == ("d", 5)
    assert none is None
    # one Columns per column list, made once
    assert a is c and s is not c
    assert as_dict(again, a) == {"name": "d", "n": 5}


def test_a_column_that_is_not_there_is_an_error(ledger: Ledger):
    db: Any = ledger
    with db.reading("reading rows") as cursor:
        _, c = fetch(db.execute(cursor, "SELECT 1 AS n"))
    with pytest.raises(AttributeError, match="has no attribute 'state'"):
        c.state  # noqa: B018


def test_a_column_without_a_usable_name_is_refused_with_the_fix():
    db = sqlite3.connect(":memory:")
    try:
        with pytest.raises(ValueError, match="name each expression and each repeated column"):
            fetch(db.execute("SELECT COUNT(*) FROM (SELECT 1)"))
        with pytest.raises(ValueError, match=r"'a', 'a'.*with AS"):
            fetch(db.execute("SELECT 1 AS a, 2 AS a"))
        with pytest.raises(ValueError, match="not starting with _"):
            fetch(db.execute("SELECT 1 AS _names"))
    finally:
        db.close()


def test_the_ledger_reads_delivery_rows_by_name_in_any_column_order(
    ledger: Ledger, make_plan: MakePlan, monkeypatch: pytest.MonkeyPatch
):
    """Every read of a delivery row (claim, record, status, reports, recover) gives the same
    values when the SELECT's columns come in another order: no reader counts positions."""
    for name in ("_DELIVERY_COLUMNS", "_RECORD_COLUMNS"):
        columns = [c.strip() for c in getattr(base, name).split(",")]
        monkeypatch.setattr(base, name, ", ".join(reversed(columns)))
    plan = make_plan(to="oncall")
    now = plan.jobs[0].due
    submission = ledger.add(plan)

    jobs = ledger.claim("w1", now, 30.0, 10)
    assert jobs == [dataclasses.replace(j, first_due=j.due) for j in plan.jobs]
    ids = [j.id for j in jobs]
    assert ledger.begin_send("w1", ids, now) == ids

    # The provider's report on bob's message arrives before its provider id is recorded.
    token = jobs[0].callback_token
    assert token is not None
    early = StatusUpdate(provider_id="p2", state=DeliveryState.DELIVERED, provider_status="ok")
    assert ledger.apply_status(token, early, "callback", now) is None

    changes = ledger.record(
        "w1",
        [
            Outcome(ids[0], DeliveryState.SENT, provider_id="p1", info={"sid": "p1"}),
            Outcome(ids[1], DeliveryState.SENT, provider_id="p2", provider_status="queued"),
            Outcome(ids[2], DeliveryState.PENDING, error="busy", due=now + 60),
        ],
        now + 1,
    )
    got = [
        (c.delivery.id, c.delivery.recipient, c.delivery.address, c.delivery.state, c.previous)
        for c in changes
    ]
    assert got == [
        (ids[0], "alice", "+919876543210", DeliveryState.SENT, DeliveryState.SENDING),
        (ids[1], "bob", "+919876543211", DeliveryState.DELIVERED, DeliveryState.SENDING),
        (ids[2], "carol", "+919876543212", DeliveryState.PENDING, DeliveryState.SENDING),
    ]
    alice_sent = changes[0].delivery
    assert alice_sent.info == {"sid": "p1"} and alice_sent.attempts == 1
    assert alice_sent.notification_id == submission.id and alice_sent.provider_id == "p1"
    assert (changes[1].delivery.provider_id, changes[1].delivery.provider_status) == ("p2", "ok")
    assert (changes[2].delivery.error, changes[2].delivery.due) == ("busy", now + 60)

    done = StatusUpdate(provider_id="p1", state=DeliveryState.DELIVERED, provider_status="sent")
    change = ledger.apply_status(token, done, "callback", now + 2)
    assert change is not None and change.previous is DeliveryState.SENT
    alice = change.delivery
    assert (alice.id, alice.recipient, alice.state) == (ids[0], "alice", DeliveryState.DELIVERED)
    assert (alice.provider_id, alice.provider_status, alice.info) == ("p1", "sent", {"sid": "p1"})

    report = ledger.report(submission.id, detail=True)
    assert [(d.recipient, d.state, d.attempts) for d in report.deliveries] == [
        ("alice", DeliveryState.DELIVERED, 1),
        ("bob", DeliveryState.DELIVERED, 1),
        ("carol", DeliveryState.PENDING, 1),
    ]
    assert [
        (a.number, a.outcome, a.worker, a.provider_id) for a in report.deliveries[0].attempt_log
    ] == [(1, "sent", "w1", "p1")]
    assert [(a.number, a.outcome, a.error) for a in report.deliveries[2].attempt_log] == [
        (1, "retry", "busy")
    ]
    assert [
        (e.source, e.provider_status, e.state, e.applied) for e in report.deliveries[1].events
    ] == [
        ("callback", "ok", DeliveryState.DELIVERED, True),
    ]
    assert ledger.reports(limit=1)[0].deliveries == tuple(
        dataclasses.replace(d, attempt_log=(), events=()) for d in report.deliveries
    )
    by_token = {d.id: d for d in ledger.by_token(token)}
    assert ledger.deliveries([ids[2], ids[0]]) == [by_token[ids[2]], by_token[ids[0]]]
    assert by_token[ids[2]] == ledger.reports(limit=1)[0].deliveries[2]
    assert ledger.counts() == {"delivered": 2, "pending": 1}
    assert ledger.next_due() == pytest.approx(now + 60)

    # The retry goes out, and its worker vanishes: recovered as unknown, by name too.
    (retry,) = ledger.claim("w2", now + 60, 30.0, 10)
    assert (retry.id, retry.recipient, retry.attempts) == (ids[2], "carol", 1)
    assert ledger.begin_send("w2", [retry.id], now + 60) == [retry.id]
    (lost,) = ledger.recover(now + 120)
    assert (lost.delivery.id, lost.delivery.recipient, lost.delivery.state) == (
        ids[2],
        "carol",
        DeliveryState.UNKNOWN,
    )
    assert lost.delivery.error == LOST_WORKER and lost.delivery.attempts == 2
