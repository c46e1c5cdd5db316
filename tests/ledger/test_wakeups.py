"""An idle in-process worker starts new work at once, on both backends: it waits on the
ledger's wake-up (SQLite: work added in this process; PostgreSQL: LISTEN/NOTIFY), not on its
poll interval (30 s here), and stop() still ends it promptly."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from notifykit import Notifier
from tests.delivery.conftest import wait_until
from tests.ledger.conftest import CONFIG


@pytest.fixture
def store_kit(location: str) -> Iterator[Notifier]:
    with Notifier.from_config(CONFIG, store=location) as kit:
        yield kit


def test_an_idle_worker_wakes_for_a_submit_and_stops_promptly(store_kit: Notifier):
    kit = store_kit
    worker = kit.worker(poll=30.0, threads=1)
    runner = threading.Thread(target=worker.run)
    runner.start()
    try:
        # Idle first: it has looked at the ledger and is waiting (heartbeat written on start).
        wait_until(lambda: kit.ledger.workers(time.time(), 60), timeout=10)
        began = time.monotonic()
        submission = kit.submit("disk.full", to="alice", data={"message": "95%"})
        wait_until(
            lambda: kit.ledger.deliveries(submission.deliveries)[0].state.value == "sent",
            timeout=10,
        )
        assert time.monotonic() - began < 5  # far below the 30 s poll
    finally:
        stopping = time.monotonic()
        worker.stop()
        runner.join(timeout=10)
    assert not runner.is_alive()
    assert time.monotonic() - stopping < 2


def test_postgres_ledgers_in_other_schemas_do_not_wake_each_other(make_plan):
    """Each schema has its own wake-up channel: work added in one schema wakes its own waiter
    at once and not a ledger in another schema of the same database."""
    from notifykit.ledger import open_ledger
    from tests.services import postgres_schema

    with postgres_schema() as mine, postgres_schema() as theirs:
        waiter, adder, other = open_ledger(mine), open_ledger(mine), open_ledger(theirs)
        try:
            # The first wait sets up each listener (and returns at once).
            assert waiter.wait_for_work(0.01) is True
            assert other.wait_for_work(0.01) is True
            adder.add(make_plan())
            assert waiter.wait_for_work(10) is True
            began = time.monotonic()
            assert other.wait_for_work(0.3) is False
            assert time.monotonic() - began >= 0.25
        finally:
            for ledger in (waiter, adder, other):
                ledger.close()


def test_a_long_schema_name_gets_a_channel_that_fits_an_identifier():
    from notifykit.ledger.postgres import work_channel

    assert work_channel("ops") == "notifykit_work:ops"
    long = work_channel("s" * 63)
    assert len(long.encode()) <= 63 and long != work_channel("s" * 62)
