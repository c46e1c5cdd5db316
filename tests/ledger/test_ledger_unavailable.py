"""The ledger going away and coming back (issue 15), at the store's level.

- Recording is safe to repeat: after an error that may have come after the commit, or late, once
  the ledger is back, :meth:`~notifykit.ledger.base.Ledger.record` never undoes what happened
  since (a callback applied, another worker's send), on SQLite and PostgreSQL alike.
- Transient failures are :class:`~notifykit.errors.LedgerUnavailable` (what a worker retries):
  a PostgreSQL connection lost or refused, a SQLite file locked past ``busy_timeout``.
- PostgreSQL: connections the server dropped are replaced before they are used, and the
  ``LISTEN`` connection comes back.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from notifykit.channels.base import StatusUpdate
from notifykit.errors import LedgerError, LedgerUnavailable
from notifykit.ledger import Ledger, Outcome, open_ledger
from notifykit.plan.planner import Plan
from notifykit.report import DeliveryState
from tests.delivery.conftest import wait_until
from tests.services import postgres_schema

MakePlan = Callable[..., Plan]

LEASE = 30.0


def start(plan: Plan) -> float:
    return plan.jobs[0].due


def sending(ledger: Ledger, owner: str, now: float) -> str:
    (job,) = ledger.claim(owner, now, LEASE, 10)
    assert ledger.begin_send(owner, [job.id], now) == [job.id]
    return job.id


def one(ledger: Ledger, plan: Plan) -> Any:
    (delivery,) = ledger.report(plan.notification.id, detail=True).deliveries
    return delivery


# -- recording again ------------------------------------------------------------------------------


def test_recording_again_after_a_commit_whose_answer_was_lost_changes_nothing(
    ledger: Ledger, make_plan: MakePlan
):
    """The first record committed, its answer never came (the connection dropped), a status
    callback moved the delivery on; the retry must not move it back."""
    plan = make_plan(to="alice")
    ledger.add(plan)
    now = start(plan)
    job_id = sending(ledger, "w1", now)
    outcome = Outcome(job_id, DeliveryState.SENT, provider_id="sid-1", provider_status="queued")
    assert len(ledger.record("w1", [outcome], now + 1)) == 1
    token = plan.jobs[0].callback_token
    delivered = StatusUpdate("sid-1", DeliveryState.DELIVERED, provider_status="sent")
    assert ledger.apply_status(token, delivered, "callback", now + 2) is not None
    before = one(ledger, plan)
    assert ledger.record("w1", [outcome], now + 3) == []
    after = one(ledger, plan)
    assert after.state is DeliveryState.DELIVERED and after == before


def test_a_late_retry_outcome_never_undoes_another_workers_send(
    ledger: Ledger, make_plan: MakePlan
):
    """w1's 'try again later' committed (answer lost); w2 took the retry and is sending it; w1
    recording the same outcome again must not make it pending (sent a third time)."""
    plan = make_plan(to="alice")
    ledger.add(plan)
    now = start(plan)
    job_id = sending(ledger, "w1", now)
    retry = Outcome(job_id, DeliveryState.PENDING, error="HTTP 503", due=now + 1)
    ledger.record("w1", [retry], now)
    assert sending(ledger, "w2", now + 1) == job_id
    assert ledger.record("w1", [retry], now + 2) == []
    assert ledger.claim("w3", now + 3, LEASE, 10) == []  # still w2's, still sending
    (done,) = ledger.record("w2", [Outcome(job_id, DeliveryState.SENT, provider_id="sid-2")], 9)
    assert done.delivery.state is DeliveryState.SENT
    delivery = one(ledger, plan)
    assert [(a.number, a.outcome, a.worker) for a in delivery.attempt_log] == [
        (1, "retry", "w1"),
        (2, "sent", "w2"),
    ]


def test_a_veto_recorded_after_the_lease_was_taken_over_changes_nothing(
    ledger: Ledger, make_plan: MakePlan
):
    plan = make_plan(to="alice")
    ledger.add(plan)
    now = start(plan)
    (job,) = ledger.claim("w1", now, LEASE, 10)
    later = now + LEASE + 1  # w1's lease ran out (the ledger was away): w2 took it over
    assert sending(ledger, "w2", later) == job.id
    veto = Outcome(job.id, DeliveryState.SKIPPED, error="quiet hours", attempted=False)
    assert ledger.record("w1", [veto], later + 1) == []
    assert one(ledger, plan).state is DeliveryState.SENDING


def test_an_outcome_recorded_after_recovery_replaces_unknown_with_the_sid(
    ledger: Ledger, make_plan: MakePlan
):
    """The ledger was away longer than the lease: another worker recovered the delivery as
    'unknown' (never to be sent again); the sender's outcome, recorded once it could be, is
    what really happened."""
    plan = make_plan(to="alice")
    ledger.add(plan)
    now = start(plan)
    job_id = sending(ledger, "w1", now)
    (recovered,) = ledger.recover(now + LEASE + 1)
    assert recovered.delivery.state is DeliveryState.UNKNOWN
    (change,) = ledger.record(
        "w1", [Outcome(job_id, DeliveryState.SENT, provider_id="sid-3")], now + LEASE + 2
    )
    assert change.previous is DeliveryState.UNKNOWN
    delivery = one(ledger, plan)
    assert delivery.state is DeliveryState.SENT and delivery.provider_id == "sid-3"
    assert [(a.outcome, a.provider_id) for a in delivery.attempt_log] == [("sent", "sid-3")]
    assert ledger.claim("w2", now + 10 * LEASE, LEASE, 10) == []


# -- what is transient ----------------------------------------------------------------------------


def test_sqlite_locked_past_busy_timeout_is_unavailable_not_broken(
    tmp_path: Path, make_plan: MakePlan
):
    path = tmp_path / "ledger.db"
    ledger = open_ledger(str(path), busy_timeout=0.1)
    other = sqlite3.connect(str(path), isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(LedgerUnavailable, match="locked by another process"):
            ledger.add(make_plan())
        other.execute("ROLLBACK")
        ledger.add(make_plan())
        assert ledger.counts() == {"pending": 3}
    finally:
        other.close()
        ledger.close()


def test_postgresql_errors_that_may_go_away_by_themselves():
    pytest.importorskip("psycopg")
    from psycopg import errors
    from psycopg_pool import PoolTimeout

    from notifykit.ledger.postgres import transient

    for err in (
        errors.AdminShutdown(),  # pg_terminate_backend, a fast shutdown
        errors.CannotConnectNow(),  # starting up, in recovery
        errors.ConnectionFailure(),
        errors.TooManyConnections(),
        errors.DiskFull(),
        errors.LockNotAvailable(),
        errors.SerializationFailure(),
        PoolTimeout(),
    ):
        assert transient(err), err
    for err in (
        errors.InvalidPassword(),
        errors.InvalidAuthorizationSpecification(),
        errors.InsufficientPrivilege(),
        errors.ReadOnlySqlTransaction(),
        errors.UndefinedTable(),
    ):
        assert not transient(err), err


# -- PostgreSQL's connections ---------------------------------------------------------------------


@pytest.fixture
def pg() -> Iterator[tuple[Any, str, str]]:
    """An admin connection, and a ``store:`` URL in a schema of its own whose connections
    carry an ``application_name`` of their own (to find and terminate them)."""
    import psycopg

    with postgres_schema() as url:
        application = f"nk_test_{uuid.uuid4().hex[:10]}"
        admin = psycopg.connect(url, autocommit=True)
        try:
            yield admin, f"{url}&application_name={application}", application
        finally:
            admin.close()


def terminate(admin: Any, application: str) -> int:
    row = admin.execute(
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE application_name = %s",
        (application,),
    ).fetchone()
    return int(row[0])


def test_connections_the_server_dropped_are_replaced_before_use(pg, make_plan: MakePlan):
    """A restart (here pg_terminate_backend) drops every idle pooled connection: the next
    calls get new ones, without an error, not a dead one each."""
    admin, url, application = pg
    ledger = open_ledger(url, pool_size=4)
    try:
        ledger.add(make_plan())
        assert terminate(admin, application) >= 1  # the URL's application_name is kept
        wait_until(lambda: terminate(admin, application) == 0)  # all gone
        assert ledger.counts() == {"pending": 3}
        ledger.add(make_plan())
        assert ledger.counts() == {"pending": 6}
    finally:
        ledger.close()


def test_every_dropped_connection_is_replaced_at_once_not_one_per_call(pg):
    """A restart drops all the idle connections: finding the first dead one tests the others
    at once, instead of handing out the next dead one after the pool's backoff (1 s, 2 s...)."""
    admin, url, application = pg
    ledger = open_ledger(url, pool_size=4)
    try:
        db: Any = ledger
        with ExitStack() as stack:  # four connections at once: four idle ones afterwards
            for _ in range(4):
                stack.enter_context(db.reading("holding a connection"))
        assert terminate(admin, application) == 4
        wait_until(lambda: terminate(admin, application) == 0)  # all gone
        began = time.monotonic()
        assert ledger.counts() == {}
        assert time.monotonic() - began < 0.9
    finally:
        ledger.close()


def test_a_connection_lost_in_a_transaction_is_unavailable(pg):
    admin, url, _ = pg
    ledger = open_ledger(url)
    try:
        db: Any = ledger  # SqlLedger's transaction(), as the routing state uses it
        with pytest.raises(LedgerUnavailable, match="reading the pid failed"):  # noqa: PT012
            with db.transaction("reading the pid") as cur:
                (pid,) = db.execute(cur, "SELECT pg_backend_pid()").fetchone()
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
                db.execute(cur, "SELECT 1")
        assert ledger.counts() == {}  # and the next call gets a new connection
    finally:
        ledger.close()


def test_a_refused_login_is_not_unavailable(pg):
    _, url, _ = pg
    stranger = url.replace("postgres@", f"nk_nobody_{uuid.uuid4().hex[:6]}@", 1)
    with pytest.raises(LedgerError, match="connecting failed") as caught:
        open_ledger(stranger)
    assert not isinstance(caught.value, LedgerUnavailable)


def test_the_listen_connection_comes_back(pg, make_plan: MakePlan):
    admin, url, application = pg
    waiter, adder = open_ledger(url), open_ledger(url)
    try:
        assert waiter.wait_for_work(0.01) is True  # listening from now on
        assert terminate(admin, application) >= 1
        # Lost, then back (a wake-up: it cannot know what was committed meanwhile).
        wait_until(lambda: waiter.wait_for_work(0.1), timeout=10)
        began = time.monotonic()
        assert waiter.wait_for_work(0.2) is False
        assert time.monotonic() - began >= 0.15
        adder.add(make_plan())
        assert waiter.wait_for_work(10) is True
    finally:
        waiter.close()
        adder.close()
