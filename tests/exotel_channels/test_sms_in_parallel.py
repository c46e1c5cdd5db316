"""An SMS channel without bulk (one request per recipient) keeps several requests in flight at
once: a window of the account's rate limit goes out together instead of one request after the
other, the limiter still draws no 429, and an interrupt starts no request after it."""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

import pytest

from notifykit.report import DeliveryState
from notifykit_exotel.channels import SEND_THREADS
from notifykit_exotel.simulator import ExotelSimulator, Fault

from .conftest import SID, TOKEN, base_config
from .test_exotel_channels import sms_requests, to_numbers

DELAY = 1.0  # seconds each request takes: long against a thread's start, short for a test


def _numbers(count: int, prefix: str = "+9198700") -> list[str]:
    return [f"{prefix}{i:05d}" for i in range(count)]


def _one_each(config: dict[str, Any]) -> dict[str, Any]:
    config["channels"]["sms"]["bulk"] = False
    return config


def _sms_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("notifykit-sms")]


def _wait_until(done: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {timeout} s")
        time.sleep(0.01)


def test_recipients_are_sent_at_once_each_once_and_reported_in_order(sim, config, make_kit):
    sim.inject(Fault(delay=DELAY, path="Sms/send"), fraction=1.0)
    numbers = _numbers(SEND_THREADS)
    kit = make_kit(_one_each(config))
    report = kit.notify("db.down", data={"host": "db1"}, to=numbers)

    assert report.ok and [d.address for d in report.deliveries] == numbers
    requests = sms_requests(sim)
    assert sorted(n for r in requests for n in to_numbers(r)) == numbers
    # One after the other, each would have arrived after the one before it was answered.
    arrivals = sorted(r.time for r in requests)
    assert arrivals[-1] - arrivals[0] < DELAY, arrivals
    # Each delivery carries the SMS made for its own number.
    messages = sim.messages
    assert [messages[d.provider_id or ""]["To"][-10:] for d in report.deliveries] == [
        n[-10:] for n in numbers
    ]
    _wait_until(lambda: not _sms_threads(), 10, "the channel's threads did not end")


def test_in_parallel_under_the_account_limit_no_429(template_dir, make_kit):
    limit, window = 10, 0.5
    with ExotelSimulator(sid=SID, token=TOKEN, rate_limit=limit, rate_window=window) as sim:
        config = _one_each(base_config(sim, template_dir))
        config["accounts"]["main"].update(
            {"rate_limit": limit, "rate_window": f"{window}s", "retries": 0}
        )
        kit = make_kit(config)
        numbers = _numbers(45)
        started = time.monotonic()
        report = kit.notify("db.down", data={"host": "db1"}, to=numbers)
        took = time.monotonic() - started
        statuses = [r.status for r in sim.requests]
        assert statuses.count(429) == 0 and len(statuses) == 45
        assert report.ok and [d.address for d in report.deliveries] == numbers
        assert took >= 4 * window  # five windows: the limiter held them back
        arrivals = sorted(r.time for r in sim.requests)
        # As the simulator counts: never more than `limit` arrivals within one window.
        for i in range(limit, len(arrivals)):
            assert arrivals[i] - arrivals[i - limit] > window


def test_ctrl_c_starts_no_request_after_it_and_records_exactly_what_was_in_flight(
    sim, config, make_kit, tmp_path
):
    """Python's own Ctrl-C (KeyboardInterrupt) while SEND_THREADS requests are in flight: those
    may have been sent (unknown), the others never start (pending, for a worker), not even once
    the requests in flight are answered and their threads look for more work."""
    config = _one_each(config)
    config["store"] = str(tmp_path / "ledger.db")
    config["accounts"]["main"]["timeout"] = 30
    kit = make_kit(config)
    sim.inject(Fault(delay=2 * DELAY, path="Sms/send"), fraction=1.0)
    main = threading.main_thread().ident
    assert main is not None and threading.current_thread() is threading.main_thread()

    def interrupt() -> None:
        sim.wait_for_requests(SEND_THREADS, timeout=30)
        signal.pthread_kill(main, signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    numbers = _numbers(3 * SEND_THREADS)
    with pytest.raises(KeyboardInterrupt):
        kit.notify("db.down", data={"host": "db1"}, to=numbers)
    _wait_until(lambda: not _sms_threads(), 30, "the channel's threads did not end")
    went_out = sorted(n for r in sms_requests(sim) for n in to_numbers(r))
    assert len(went_out) == SEND_THREADS
    [report] = kit.history()
    states = {d.address: d.state for d in report.deliveries}
    assert sorted(a for a, s in states.items() if s is DeliveryState.UNKNOWN) == went_out
    assert [s for a, s in states.items() if a not in went_out] == [DeliveryState.PENDING] * (
        2 * SEND_THREADS
    )


def test_the_channels_requests_in_flight_stay_within_send_threads_across_sends(
    sim, config, make_kit
):
    """Two notify() calls at once through one channel (as notify()'s groups or a worker's
    threads send): SEND_THREADS requests in flight between them, not SEND_THREADS each, so
    the account's pooled connections are enough."""
    sim.inject(Fault(delay=DELAY / 2, path="Sms/send"), fraction=1.0)
    kit = make_kit(_one_each(config))
    reports: list[Any] = []
    calls = [
        threading.Thread(
            target=lambda p=prefix: reports.append(
                kit.notify("db.down", data={"host": "db1"}, to=_numbers(SEND_THREADS, p))
            )
        )
        for prefix in ("+9198710", "+9198720")
    ]
    for call in calls:
        call.start()
    for call in calls:
        call.join(30)
    assert len(reports) == 2 and all(r.ok for r in reports)
    # When each request was at the simulator (a little less at the end: a request that follows
    # another in the same slot is sent after its answer came back).
    spans = [(r.time, r.time + r.duration_ms / 1000 - 0.02) for r in sms_requests(sim)]
    assert len(spans) == 2 * SEND_THREADS
    most = max(sum(1 for start, end in spans if start <= t < end) for t, _ in spans)
    assert most == SEND_THREADS
