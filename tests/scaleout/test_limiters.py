"""The shared limiters on their real stores: two backends (as two processes would have), each
with several threads, keep one budget between them. (A store that goes away:
``test_limiter_outage.py``.)"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

from notifykit.limits.redis import RedisBackend
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
