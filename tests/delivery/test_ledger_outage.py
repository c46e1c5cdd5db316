"""Workers survive the ledger going away (issue 15: "workers survive the ledger going away").

A PostgreSQL restart, a failover or a PgBouncer restart drops every connection of a worker; a
SQLite ledger locked by another process past ``busy_timeout`` refuses writes for a while. The
worker stays up through both: it retries with backoff (one warning when the outage starts), the
requests in flight finish, and their outcomes are recorded once the ledger is back, with the
provider's Sid: nothing ends ``unknown``, nothing is sent twice.

The PostgreSQL test runs a real ``notifykit worker`` process, connected as a database role of its
own: the test terminates exactly that role's backends (``pg_terminate_backend``) and holds it off
(``CONNECTION LIMIT 0``) until the worker has noticed, three times.
"""

from __future__ import annotations

import itertools
import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from notifykit import LedgerUnavailable, hookimpl
from notifykit.delivery.outage import Backoff, Outage
from notifykit.ledger import open_ledger
from notifykit.plugins import get_plugin_manager
from notifykit.report import DeliveryState
from notifykit_exotel.simulator import ExotelSimulator, Fault
from tests.delivery.conftest import wait_until, write_config
from tests.delivery.test_workers_processes import Workers, numbers, submit_all
from tests.services import postgres_schema

#: what the worker says, once, when the ledger goes away (and, at INFO, when it is back)
OUTAGE = "the ledger is unavailable"
BACK = "the ledger is back"
#: what it says (at INFO) when recording a batch's outcomes waits for the ledger
RECORD_WAITS = "could not be recorded yet"


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[[Path], Workers]]:
    made: list[Workers] = []

    def make(config: Path) -> Workers:
        group = Workers(config, tmp_path)
        made.append(group)
        return group

    yield make
    for group in made:
        group.close()


def sent_sids(sim: ExotelSimulator) -> dict[str, str]:
    """The simulator's SMS Sids by the last 10 digits of their number."""
    return {str(m["To"])[-10:]: sid for sid, m in sim.messages.items()}


def requests_per_number(sim: ExotelSimulator) -> dict[str, int]:
    counts: dict[str, int] = {}
    for request in sim.requests:
        for number in request.recipients:
            counts[number[-10:]] = counts.get(number[-10:], 0) + 1
    return counts


def in_flight(sim: ExotelSimulator) -> list[str]:
    """Numbers whose request reached the simulator and is not answered yet."""
    return [n[-10:] for r in sim.requests if r.status == 0 for n in r.recipients]


# -- PostgreSQL: a real worker process, its connections dropped three times ---------------------


@contextmanager
def worker_role(url: str) -> Iterator[tuple[Any, str]]:
    """A database role of the worker's own, owning the test schema's tables: yields an admin
    connection (the test's superuser) and the worker's ``store:`` URL (that role, the same
    schema, a distinctive ``application_name``)."""
    import psycopg

    role = f"nk_worker_{uuid.uuid4().hex[:10]}"
    parts = urlsplit(url)
    schema = next(
        part.split("search_path%3D", 1)[1]
        for part in parts.query.split("&")
        if "search_path%3D" in part
    )
    admin = psycopg.connect(url, autocommit=True)
    try:
        admin.execute(f"CREATE ROLE {role} LOGIN")
        admin.execute(f"GRANT USAGE, CREATE ON SCHEMA {schema} TO {role}")
        netloc = f"{role}@{parts.hostname}:{parts.port or 5432}"
        query = f"{parts.query}&application_name={role}"
        yield admin, urlunsplit((parts.scheme, netloc, parts.path, query, ""))
    finally:
        admin.execute(f"ALTER ROLE {role} CONNECTION LIMIT -1")
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (role,)
        )
        admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.execute(f"DROP OWNED BY {role}")
        admin.execute(f"DROP ROLE {role}")
        admin.close()


def drop_connections(admin: Any, application: str) -> int:
    """What a PostgreSQL restart does to the worker: every backend of its connections ends, and
    new connections are refused until :func:`let_in`. Returns how many were terminated."""
    admin.execute(f"ALTER ROLE {application} CONNECTION LIMIT 0")
    row = admin.execute(
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE application_name = %s AND pid <> pg_backend_pid()",
        (application,),
    ).fetchone()
    return int(row[0])


def let_in(admin: Any, application: str) -> None:
    admin.execute(f"ALTER ROLE {application} CONNECTION LIMIT -1")


@pytest.mark.slow
def test_a_worker_survives_postgresql_dropping_its_connections_three_times(
    tmp_path: Path, sim: ExotelSimulator, make_kit: Any, workers: Any
) -> None:
    # Every request waits 0.3 s in the simulator: when the connections drop, some are in flight.
    sim.inject(Fault(delay=0.3), fraction=1.0)
    with postgres_schema() as url, worker_role(url) as (admin, worker_url):
        application = dict(p.split("=", 1) for p in urlsplit(worker_url).query.split("&"))[
            "application_name"
        ]
        (tmp_path / "worker").mkdir()
        worker_config = write_config(
            tmp_path / "worker",
            sim,
            store={"path": worker_url, "busy_timeout": "1s"},
            worker={"lease": "20s", "poll": "0.2s", "threads": 4, "batch": 4},
        )
        # The worker's role creates the tables; the test reads and submits as the superuser.
        open_ledger(worker_url).close()
        kit = make_kit(write_config(tmp_path, sim, store=url))
        to = numbers(160, "97400")
        phases = [to[0:40], to[40:80], to[80:120], to[120:160]]
        submit_all(kit, phases[0])
        group = workers(worker_config)
        # -v: its INFO lines too (the ledger back, recording retried); "warning:" lines are
        # what it prints without -v.
        proc = group.start("steady", "-v")
        held: list[str] = []
        for outage, (before, after) in enumerate(itertools.pairwise(phases), 1):
            # Mid-run: requests in flight, some answered already.
            first = before[0][-10:]
            wait_until(
                lambda b=before: (
                    sum(1 for n in b if requests_per_number(sim).get(n[-10:])) >= 12
                    and in_flight(sim)
                ),
                timeout=30,
            )
            assert first in requests_per_number(sim)
            held.extend(in_flight(sim))
            assert drop_connections(admin, application) >= 1
            # Down until the worker noticed, and what was in flight has been answered and could
            # not be recorded: those outcomes wait, in memory, for the ledger.
            waiting = group.stderr("steady").count(RECORD_WAITS)
            wait_until(
                lambda n=outage, w=waiting: (
                    proc.poll() is not None
                    or (
                        group.stderr("steady").count(OUTAGE) >= n
                        and group.stderr("steady").count(RECORD_WAITS) > w
                        and not in_flight(sim)
                    )
                ),
                timeout=30,
            )
            assert proc.poll() is None, group.stderr("steady")
            let_in(admin, application)
            submit_all(kit, after)
            # It keeps delivering: the next phase's numbers reach the simulator.
            wait_until(
                lambda a=after: any(requests_per_number(sim).get(n[-10:]) for n in a), timeout=30
            )
            assert proc.poll() is None, group.stderr("steady")
        wait_until(lambda: kit.ledger.counts() == {"sent": len(to)}, timeout=60)
        summary = group.stop("steady")
        assert summary["counts"] == {"sent": len(to)}
        recorded = {(d.address or "")[-10:]: d for r in kit.history(limit=0) for d in r.deliveries}
    stderr = group.stderr("steady")
    # One warning per outage, not one per retry, and the end of each said; no traceback,
    # nothing left unrecorded. The driver's line per reconnection attempt is -v's alone
    # ("psycopg.pool: ..."): the warning says why the ledger is unavailable.
    warnings = [line for line in stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 3, stderr
    assert all(line.startswith(f"warning: worker steady: {OUTAGE}") for line in warnings)
    assert "too many connections" in warnings[0]
    assert stderr.count(f"worker steady: {BACK}") == 3, stderr
    assert "Traceback" not in stderr and "stay 'sending'" not in stderr, stderr
    # Each delivery went out exactly once and ended sent with the Sid the provider gave it,
    # the ones in flight while the ledger was gone too.
    per_number = requests_per_number(sim)
    assert sorted(per_number) == sorted(n[-10:] for n in to)
    assert set(per_number.values()) == {1}
    sids = sent_sids(sim)
    assert {d.state for d in recorded.values()} == {DeliveryState.SENT}
    assert {n: d.provider_id for n, d in recorded.items()} == sids
    assert held and all(recorded[n].provider_id == sids[n] for n in held)


# -- SQLite: locked past busy_timeout by another process, then released --------------------------


@pytest.fixture
def locked_config(tmp_path: Path, sim: ExotelSimulator) -> Path:
    return write_config(
        tmp_path,
        sim,
        store={"path": "ledger.db", "busy_timeout": "0.2s"},
        worker={"lease": "30s", "poll": "0.05s", "threads": 2},
    )


def records(caplog: pytest.LogCaptureFixture, text: str, level: int | None = None) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if text in r.getMessage() and (level is None or r.levelno == level)
    ]


def test_a_worker_keeps_the_sid_of_what_it_sent_while_sqlite_was_locked(
    locked_config: Path,
    sim: ExotelSimulator,
    make_kit: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="notifykit")
    kit = make_kit(locked_config)
    sim.inject(Fault(delay=0.5))  # the request is in flight long enough to lock the ledger
    kit.submit("db.down", data={"host": "db1"}, to="+919870000001")
    worker = kit.worker()
    results: list[Any] = []
    thread = threading.Thread(target=lambda: results.append(worker.run()))
    thread.start()
    other = sqlite3.connect(str(Path(locked_config).parent / "ledger.db"), isolation_level=None)
    try:
        sim.wait_for_requests(1, timeout=10)
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        # The answer came, recording it failed (locked), and the worker waits for the ledger.
        wait_until(lambda: records(caplog, "retrying for up to"), timeout=10)
        assert not in_flight(sim)
        assert thread.is_alive()
    finally:
        other.execute("ROLLBACK")
        other.close()
    wait_until(lambda: kit.ledger.counts() == {"sent": 1}, timeout=10)
    worker.stop()
    thread.join(timeout=10)
    assert not thread.is_alive() and results and results[0].counts == {"sent": 1}
    ((delivery,),) = [r.deliveries for r in kit.history(limit=0)]
    assert delivery.provider_id == next(iter(sim.messages))
    assert len(records(caplog, OUTAGE, logging.WARNING)) == 1
    assert len(records(caplog, BACK, logging.INFO)) == 1
    assert not records(caplog, "stay 'sending'")


def test_notify_keeps_the_sid_when_recording_waits_for_a_locked_sqlite(
    locked_config: Path,
    sim: ExotelSimulator,
    make_kit: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="notifykit")
    kit = make_kit(locked_config)
    sim.inject(Fault(delay=0.5))
    reports: list[Any] = []
    thread = threading.Thread(
        target=lambda: reports.append(kit.notify("db.down", data={"host": "db1"}))
    )
    thread.start()
    other = sqlite3.connect(str(Path(locked_config).parent / "ledger.db"), isolation_level=None)
    try:
        sim.wait_for_requests(1, timeout=10)
        other.execute("BEGIN IMMEDIATE")
        wait_until(lambda: records(caplog, "retrying for up to"), timeout=10)
    finally:
        other.execute("ROLLBACK")
        other.close()
    thread.join(timeout=20)
    assert not thread.is_alive()
    ((delivery,),) = [r.deliveries for r in reports]
    sid = next(iter(sim.messages))
    assert delivery.state is DeliveryState.SENT and delivery.provider_id == sid
    ((stored,),) = [r.deliveries for r in kit.history(limit=0)]
    assert stored.state is DeliveryState.SENT and stored.provider_id == sid
    assert len(sim.requests) == 1


def test_a_batch_the_locked_ledger_would_not_start_is_given_back_once_it_is_back(
    locked_config: Path,
    sim: ExotelSimulator,
    make_kit: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Claimed, then the ledger locked just as the batch starts: nothing is sent, and once the
    ledger is back the batch is given back and sent at once, not after its lease (30 s)."""
    caplog.set_level(logging.INFO, logger="notifykit")
    other = sqlite3.connect(
        str(locked_config.parent / "ledger.db"), isolation_level=None, check_same_thread=False
    )
    locked = threading.Event()

    class LockFirst:
        @hookimpl
        def before_delivery(self, delivery: Any) -> None:
            if not locked.is_set():  # another process takes the write lock right now
                other.execute("BEGIN IMMEDIATE")
                locked.set()

    kit = make_kit(locked_config, plugin_manager=get_plugin_manager(plugins=[LockFirst()]))
    kit.submit("db.down", data={"host": "db1"}, to="+919870000002")
    worker = kit.worker()
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        wait_until(lambda: records(caplog, OUTAGE), timeout=10)
        assert locked.is_set() and sim.requests == []
    finally:
        other.execute("ROLLBACK")
        other.close()
    try:
        wait_until(lambda: kit.ledger.counts() == {"sent": 1}, timeout=10)
    finally:
        worker.stop()
        thread.join(timeout=10)
    assert len(sim.requests) == 1
    assert len(records(caplog, OUTAGE, logging.WARNING)) == 1


def test_an_outage_is_said_once_and_its_end_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="notifykit")
    outage = Outage("worker w1")
    err = LedgerUnavailable("ledger x: claiming deliveries failed: the server is gone")
    began = time.monotonic()
    for _ in range(5):  # the loop, the lease keeper, the record retries, again and again
        outage.failed(err, time.monotonic())
    assert outage.ongoing
    outage.over()
    outage.over()
    # A call that waited through the whole outage and failed just after it: the same outage.
    outage.failed(err, began)
    assert not outage.ongoing
    outage.failed(err, time.monotonic())  # a new one
    warned = records(caplog, OUTAGE, logging.WARNING)
    assert len(warned) == 2 and "server is gone" in warned[0]
    assert "outage 1 since start" in warned[0] and "outage 2 since start" in warned[1]
    (back,) = records(caplog, BACK, logging.INFO)
    assert "(5 failed calls retried)" in back


def test_backoff_doubles_to_ten_seconds_and_starts_over() -> None:
    backoff = Backoff()
    assert [backoff.next() for _ in range(7)] == [0.5, 1, 2, 4, 8, 10, 10]
    backoff.reset()
    assert backoff.next() == 0.5


def test_a_second_stop_does_not_wait_for_the_ledger_to_come_back(
    locked_config: Path,
    sim: ExotelSimulator,
    make_kit: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The first stop waits for the outcomes in memory to be recorded (up to the lease, 30 s
    here); a second one (``stop(wait=False)``: a second SIGTERM) stops waiting at once."""
    caplog.set_level(logging.INFO, logger="notifykit")
    kit = make_kit(locked_config)
    sim.inject(Fault(delay=0.5))
    kit.submit("db.down", data={"host": "db1"}, to="+919870000003")
    worker = kit.worker()
    thread = threading.Thread(target=worker.run)
    thread.start()
    other = sqlite3.connect(str(locked_config.parent / "ledger.db"), isolation_level=None)
    try:
        sim.wait_for_requests(1, timeout=10)
        other.execute("BEGIN IMMEDIATE")
        wait_until(lambda: records(caplog, RECORD_WAITS), timeout=10)
        worker.stop()
        assert thread.is_alive()  # still trying to record what it sent
        began = time.monotonic()
        worker.stop(wait=False)
        thread.join(timeout=10)
        assert not thread.is_alive() and time.monotonic() - began < 5
    finally:
        other.execute("ROLLBACK")
        other.close()
    # Not recorded: left 'sending' (unknown once its lease is over), never sent again.
    assert records(caplog, "stay 'sending'")
    assert kit.ledger.counts() == {"sending": 1}
    assert len(sim.requests) == 1
