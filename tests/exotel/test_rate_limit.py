"""The client-side rate limiter: a sliding log that uses all N requests of a window and never lets
more than N arrive at the server in any window, counted from each request's grant until it
finished (see :class:`notifykit_exotel.RateLimiter`)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notifykit import Notifier
from notifykit.errors import ConfigError
from notifykit_exotel import ExotelClient, RateLimiter, RetryPolicy
from notifykit_exotel.simulator import ExotelSimulator

SID, TOKEN = "ACrate", "rate-token"
TO = "+919876543210"


def most_in_any_window(times: list[float], window: float) -> int:
    """The most events in any half-open window ``(t - window, t]``, as the simulator counts."""
    times = sorted(times)
    most, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - window:
            j += 1
        most = max(most, i - j + 1)
    return most


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_all_n_requests_of_a_window_go_at_once_and_the_next_waits_a_window_after_the_first_finished() -> (
    None
):
    clock = FakeClock()
    limiter = RateLimiter(200, 60.0, margin=0.0, clock=clock, sleep=clock.sleep)
    for _ in range(200):
        assert limiter.acquire() == 0.0
        clock.now += 0.001  # each request takes 1 ms
        limiter.release()
    assert clock.now == pytest.approx(0.2)
    wait = limiter.acquire()
    # the first request finished at 1 ms: the 201st may start 60 s after that, not before
    assert clock.now == pytest.approx(60.001)
    assert wait == pytest.approx(60.001 - 0.2)


def test_the_default_margin_is_one_percent_of_the_window() -> None:
    limiter = RateLimiter(10, 60.0)
    assert limiter.margin == pytest.approx(0.6)
    assert "margin=0.6" in repr(limiter)
    with pytest.raises(ValueError, match="margin"):
        RateLimiter(10, 60.0, margin=-1)
    with pytest.raises(ValueError, match="limit"):
        RateLimiter(0, 60.0)
    with pytest.raises(ValueError, match="period"):
        RateLimiter(10, 0)
    assert RateLimiter(1, 1.0).limit == 1  # one request per window is a valid budget


@settings(max_examples=200, deadline=None)
@given(
    limit=st.integers(1, 8),
    latencies=st.lists(
        st.tuples(st.floats(0.0, 3.0), st.floats(0.0, 3.0)), min_size=1, max_size=60
    ),
    gaps=st.lists(st.floats(0.0, 2.0), min_size=60, max_size=60),
)
def test_arrivals_never_exceed_the_limit_whatever_the_network_delays(
    limit: int, latencies: list[tuple[float, float]], gaps: list[float]
) -> None:
    """A caller that sends, waits for the answer, then sends again: whatever the delay to the
    server and back, no window of the period holds more than ``limit`` arrivals (margin 0)."""
    clock = FakeClock()
    period = 5.0
    limiter = RateLimiter(limit, period, margin=0.0, clock=clock, sleep=clock.sleep)
    arrivals = []
    for (there, back), gap in zip(latencies, gaps, strict=False):
        clock.now += gap
        limiter.acquire()
        clock.now += there
        arrivals.append(clock.now)
        clock.now += back
        limiter.release()
    assert most_in_any_window(arrivals, period) <= limit


def test_a_grant_is_never_a_rounding_early() -> None:
    """Found by the test above: the clock read after sleeping ``grant - now`` stood one ulp
    short of the grant (``now + (grant - now)`` is not always ``grant`` in floating point), so the
    second request arrived 4.999999999999999 s after the first under a 1-per-5-s limit."""
    clock = FakeClock()
    limiter = RateLimiter(1, 5.0, margin=0.0, clock=clock, sleep=clock.sleep)
    arrivals = []
    for there, gap in ((1.0382337570544646, 0.9698502244554683), (0.0, 0.7135799290899114)):
        clock.now += gap
        limiter.acquire()
        clock.now += there
        arrivals.append(clock.now)
        limiter.release()
    assert arrivals[1] - arrivals[0] >= 5.0
    assert most_in_any_window(arrivals, 5.0) == 1


def test_a_request_in_flight_counts_and_a_finished_one_counts_from_its_finish() -> None:
    clock = FakeClock()
    limiter = RateLimiter(2, 10.0, margin=0.0, clock=clock, sleep=lambda _: None)
    holding = [threading.Event() for _ in range(2)]
    granted = [threading.Event() for _ in range(2)]

    def hold(i: int) -> None:
        limiter.acquire()
        granted[i].set()
        holding[i].wait(5)
        limiter.release()

    threads = [threading.Thread(target=hold, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    assert all(g.wait(5) for g in granted)
    result: list[float] = []
    third = threading.Thread(target=lambda: result.append(limiter.acquire()))
    third.start()
    third.join(0.2)
    assert third.is_alive()  # both slots are held by requests in flight: it waits
    clock.now = 5.0
    holding[1].set()  # the second request finished at 5
    third.join(5)
    assert not third.is_alive()
    # Counted from its finish (5) and not its start (0): the third starts at 15, not 10; the
    # first request, still in flight, counts too.
    assert result == [pytest.approx(10.0)]
    holding[0].set()
    for thread in threads:
        thread.join(5)


def test_a_thread_that_died_holding_a_slot_does_not_block_the_others() -> None:
    limiter = RateLimiter(1, 0.05, margin=0.0)
    thread = threading.Thread(target=limiter.acquire)  # takes the only slot, never releases
    thread.start()
    thread.join(5)
    started = time.monotonic()
    done = threading.Event()
    waiter = threading.Thread(target=lambda: (limiter.acquire(), done.set()))
    waiter.start()
    assert done.wait(5)
    assert time.monotonic() - started < 5


def test_burst_spreads_the_start_of_a_window() -> None:
    clock = FakeClock()
    limiter = RateLimiter(4, 8.0, margin=0.0, burst=2, clock=clock, sleep=clock.sleep)
    starts = []
    for _ in range(8):
        limiter.acquire()
        starts.append(clock.now)
        limiter.release()
    # two at once, then two per 4 s (8 s * 2 / 4), and never more than 4 in 8 s
    assert starts == [0.0, 0.0, 4.0, 4.0, 8.0, 8.0, 12.0, 12.0]
    assert most_in_any_window(starts, 8.0) <= 4


def test_concurrent_sends_ride_the_simulators_limit_with_zero_429s_and_margin_zero() -> None:
    """8 threads, 60 sends, 20 per 0.4 s on both sides and no margin: the proof needs none when
    both share a clock."""
    window, limit = 0.4, 20
    with ExotelSimulator(sid=SID, token=TOKEN, rate_limit=limit, rate_window=window) as sim:
        limiter = RateLimiter(limit, window, margin=0.0)
        with (
            ExotelClient(
                SID, TOKEN, base_url=sim.base_url, rate_limit=limiter, retry=RetryPolicy.none()
            ) as client,
            ThreadPoolExecutor(max_workers=8) as pool,
        ):
            started = time.monotonic()
            sids = list(pool.map(lambda _: client.send_sms("NKALRT", TO, "hi").sid, range(60)))
            elapsed = time.monotonic() - started
        requests = sim.requests
    assert len(set(sids)) == 60
    assert [r.status for r in requests].count(200) == 60
    assert most_in_any_window([r.time for r in requests], window) <= limit
    assert 2 * window <= elapsed < 2 * window + 2.0  # three windows' worth, not more


def test_without_release_a_limiter_counts_each_request_until_the_threads_next_acquire() -> None:
    clock = FakeClock()
    limiter = RateLimiter(3, 10.0, margin=0.0, clock=clock, sleep=clock.sleep)
    starts = []
    for _ in range(7):
        limiter.acquire()
        starts.append(clock.now)
        clock.now += 1.0  # the caller's request; it never calls release()
    assert most_in_any_window(starts, 10.0) <= 3
    assert starts[:3] == [0.0, 1.0, 2.0]
    assert starts[3] == pytest.approx(11.0)  # the first counted until the second acquire, at 1


def config(sim: ExotelSimulator, tmp_path: Path, **account: object) -> dict[str, object]:
    (tmp_path / "alert.sms.j2").write_text("ALERT {{ host }} is down. -ACME")
    return {
        "accounts": {
            "main": {
                "provider": "exotel",
                "sid": SID,
                "token": TOKEN,
                "base_url": sim.base_url,
                **account,
            }
        },
        "channels": {
            "sms": {
                "type": "exotel-sms",
                "account": "main",
                "bulk": False,
                "senders": {"default": {"from": "NKALRT"}},
            }
        },
        "templates": {"directory": str(tmp_path)},
        "store": ":memory:",
    }


def test_rate_window_is_an_account_setting_and_the_limit_rides_it(tmp_path: Path) -> None:
    with (
        ExotelSimulator(sid=SID, token=TOKEN, rate_limit=3, rate_window=0.3) as sim,
        Notifier.from_config(config(sim, tmp_path, rate_limit=3, rate_window="300ms")) as kit,
    ):
        limiter = kit.client("main").rate_limiter
        assert (limiter.limit, limiter.period) == (3, pytest.approx(0.3))
        numbers = [f"+9198765432{i:02d}" for i in range(7)]
        report = kit.send("sms", to=numbers, template="alert", data={"host": "db1"})
        assert report.ok, report.summary()
        statuses = [r.status for r in sim.requests]
    assert statuses == [200] * 7  # seven sends, three windows, not one 429


def test_a_rate_window_that_is_not_a_duration_is_a_config_error(tmp_path: Path) -> None:
    with ExotelSimulator(sid=SID, token=TOKEN) as sim:
        with pytest.raises(ConfigError, match=r"accounts\.main\.rate_window") as raised:
            Notifier.from_config(config(sim, tmp_path, rate_window="a minute"))
    assert "30s, 5m" in str(raised.value)
