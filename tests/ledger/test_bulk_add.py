"""A broadcast stored in bulk: on PostgreSQL a plan of ``COPY_ROWS`` deliveries or more goes
by ``COPY``, outside the pipeline (which cannot carry it); what it stores, and what it tells
others, is what the INSERTs store. Real SQLite files and real PostgreSQL schemas."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from notifykit.ledger import Ledger, Outcome
from notifykit.ledger.postgres import COPY_ROWS
from notifykit.plan.planner import Plan
from notifykit.report import DeliveryState

MakePlan = Callable[..., Plan]
OpenStore = Callable[..., Ledger]
LEASE = 30.0


def _numbers(count: int) -> list[str]:
    return [f"+9198{i:08d}" for i in range(count)]


def _stored(ledger: Ledger, plan: Plan) -> list[tuple[Any, ...]]:
    """Every delivery of ``plan`` as stored, with its attempts, less what differs by id."""
    report = ledger.report(plan.notification.id, detail=True)
    return [
        (
            d.recipient,
            d.address,
            d.channel,
            d.state,
            d.attempts,
            dict(d.info),
            [(a.number, a.outcome, a.worker) for a in d.attempt_log],
        )
        for d in report.deliveries
    ]


def _how(ledger: Ledger) -> list[str]:
    """Wraps the ledger's delivery insert to note, per plan, whether it went by COPY."""
    seen: list[str] = []
    insert = ledger._insert_deliveries  # type: ignore[attr-defined]

    def noting(cur: Any, rows: Sequence[tuple[Any, ...]]) -> None:
        piped = getattr(getattr(cur.connection, "pgconn", None), "pipeline_status", 0)
        big = len(rows) >= COPY_ROWS
        seen.append("copy" if big and not piped and hasattr(cur, "copy") else "insert")
        insert(cur, rows)

    ledger._insert_deliveries = noting  # type: ignore[attr-defined]
    return seen


def test_a_broadcast_is_stored_whole_and_wakes_a_waiter(
    backend: str, open_store: OpenStore, make_plan: MakePlan
):
    ledger, waiter = open_store(), open_store()
    how = _how(ledger)
    assert waiter.wait_for_work(0.01) is True  # listening from here on
    big = make_plan(to=_numbers(COPY_ROWS + 50), key="broadcast-1")
    ids = [j.id for j in big.jobs]
    now = big.notification.created

    submission = ledger.add(big, lease_owner="n1", lease_until=now + LEASE, sending=ids[:3])

    assert how == (["copy"] if backend == "postgresql" else ["insert"])
    assert not submission.duplicate and list(submission.deliveries) == ids
    stored = _stored(ledger, big)
    assert len(stored) == COPY_ROWS + 50
    assert [s[3] for s in stored[:4]] == [DeliveryState.SENDING] * 3 + [DeliveryState.PENDING]
    assert stored[0][6] == [(1, "sending", "n1")] and stored[3][6] == []
    assert ledger.counts() == {"sending": 3, "pending": COPY_ROWS + 47}
    # The rows are the ones a worker claims and records as usual.
    ledger.record("n1", [Outcome(ids[0], DeliveryState.SENT, provider_id="sid-1")], now + 1)
    assert ledger.deliveries(ids[:1])[0].provider_id == "sid-1"
    # Its key is held: the same broadcast again is a duplicate, and stores nothing.
    again = ledger.add(
        dataclasses.replace(make_plan(to=_numbers(COPY_ROWS + 50), key="broadcast-1"))
    )
    assert again.duplicate and again.id == big.notification.id
    assert ledger.counts() == {"sending": 2, "sent": 1, "pending": COPY_ROWS + 47}

    # Another process's waiter hears of work stored in bulk (unleased, so workers may take it).
    unleased = make_plan(to=_numbers(COPY_ROWS))
    ledger.add(unleased)
    assert waiter.wait_for_work(10) is True


def test_a_broadcast_stored_in_bulk_reads_back_as_one_stored_row_by_row(
    backend: str, open_store: OpenStore, make_plan: MakePlan
):
    bulk, rows = open_store(), open_store()
    rows.bulk_rows = None  # type: ignore[attr-defined]  # the INSERTs, in the pipeline
    how_bulk, how_rows = _how(bulk), _how(rows)
    first = make_plan(to=_numbers(COPY_ROWS * 2))
    second = make_plan(to=_numbers(COPY_ROWS * 2))
    bulk.add(first)
    rows.add(second)
    if backend == "postgresql":
        assert (how_bulk, how_rows) == (["copy"], ["insert"])
    assert _stored(bulk, first) == _stored(rows, second)
    # What a worker claims of each (one database, as another process would open it): the same
    # texts, options and order.
    jobs = bulk.claim("w1", first.jobs[0].due + 1, LEASE, COPY_ROWS * 4)
    by_plan: dict[str, list[tuple[Any, ...]]] = {}
    for j in jobs:
        by_plan.setdefault(j.notification_id, []).append(
            (j.recipient, j.text, dict(j.options), j.channel, j.seq)
        )
    from_bulk, from_rows = by_plan[first.notification.id], by_plan[second.notification.id]
    assert len(from_bulk) == COPY_ROWS * 2 and from_bulk == from_rows
    assert all(text for _who, text, *_ in from_bulk)


def test_a_notification_without_deliveries_is_stored(ledger: Ledger, make_plan: MakePlan):
    """The statement the delivery rows go in by does not depend on the rows: none is fine."""
    plan = dataclasses.replace(make_plan(to="alice"), jobs=())
    submission = ledger.add(plan)
    assert submission.deliveries == () and not submission.duplicate
    assert ledger.report(plan.notification.id).deliveries == ()
