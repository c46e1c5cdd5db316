"""An idle in-process worker starts new work at once, on both backends: it waits on the
ledger's wake-up (SQLite: work added in this process; PostgreSQL: LISTEN/NOTIFY), not on its
poll interval (30 s here), and stop() still ends it promptly."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from notifykit import Notifier
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
        deadline = time.monotonic() + 10
        while not kit.ledger.workers(time.time(), 60):
            assert time.monotonic() < deadline, "the worker never started"
            time.sleep(0.01)
        began = time.monotonic()
        submission = kit.submit("disk.full", to="alice", data={"message": "95%"})
        while kit.ledger.deliveries(submission.deliveries)[0].state.value != "sent":
            assert time.monotonic() - began < 10, "the worker did not wake up for new work"
            time.sleep(0.01)
        assert time.monotonic() - began < 5  # far below the 30 s poll
    finally:
        stopping = time.monotonic()
        worker.stop()
        runner.join(timeout=10)
    assert not runner.is_alive()
    assert time.monotonic() - stopping < 2
