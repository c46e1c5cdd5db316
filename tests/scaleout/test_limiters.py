"""The shared limiters on their real stores: two backends (as two processes would have), each
with several threads, keep one budget between them; and a limiter whose store is gone fails a
send *transiently* (nothing was sent), never as "maybe sent"."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from notifykit.limits import LimiterError
from notifykit.limits.redis import RedisBackend
from notifykit.report import DeliveryState
from tests.delivery.conftest import write_config
from tests.exotel.test_rate_limit import most_in_any_window
from tests.scaleout.conftest import split

LIMIT, WINDOW, REQUESTS = 5, 0.5, 31


def hammer(limiters: list[Any], per_thread: int, threads_each: int) -> list[float]:
    arrivals: list[float] = []
    lock = threading.Lock()

    def run(limiter: Any) -> None:
        for _ in range(per_thread):
            limiter.acquire()
            with lock:
                arrivals.append(time.monotonic())
            limiter.release()

    threads = [
        threading.Thread(target=run, args=(limiter,))
        for limiter in limiters
        for _ in range(threads_each)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return arrivals


def check_shared(make_backend: Callable[[], Any]) -> None:
    backends = [make_backend(), make_backend()]
    try:
        limiters = [b.limiter("exotel:ACshared", LIMIT, WINDOW, WINDOW * 0.01) for b in backends]
        arrivals = hammer(limiters, per_thread=4, threads_each=4)  # 2 x 4 threads x 4 = 32
        assert len(arrivals) == 32
        assert most_in_any_window(arrivals, WINDOW) <= LIMIT
        took = max(arrivals) - min(arrivals)
        least = math.floor((len(arrivals) - 1) / LIMIT) * WINDOW
        assert least <= took <= 1.5 * least + 0.1, (took, least)  # loose: not a speed test
    finally:
        for backend in backends:
            backend.close()


def test_two_redis_backends_share_one_budget(redis_url):
    url, prefix = split(redis_url)
    check_shared(lambda: RedisBackend(url, prefix=prefix))


def test_two_postgresql_backends_share_one_budget(pg_store):
    from notifykit.limits.postgres import PostgresBackend

    check_shared(lambda: PostgresBackend(pg_store))


def test_an_unreachable_redis_fails_the_delivery_transiently_and_sends_nothing(
    make_kit, sim, tmp_path
):
    kit = make_kit(write_config(tmp_path, sim, limiter="redis://127.0.0.1:1/0"))
    report = kit.notify("db.down", data={"host": "db1"})
    (delivery,) = report.deliveries
    assert delivery.state is DeliveryState.FAILED  # notify() sends once: a worker would retry
    assert "shared rate limiter is unavailable" in (delivery.error or "")
    assert "nothing was sent" in (delivery.error or "")
    assert sim.requests == []
    with pytest.raises(LimiterError, match="check that Redis runs"):
        RedisBackend("redis://127.0.0.1:1/0").limiter("k", 1, 1.0, 0.0).acquire()
