"""Benchmark: ExotelClient against a bare HTTP POST, on the local simulator.

Prints numbers; asserts nothing. Run: ``python bench/bench_client.py [--n 2000]``.

- send_sms latency: ExotelClient.send_sms (validation, E.164 normalisation, error mapping, typed
  result) versus a bare ``requests.Session.post`` of the same form, both over one pooled
  connection, limiter off (the limiter would dominate: 200/minute).
- bulk: peak Python memory and requests for send_bulk_sms to 10,000 numbers (100 per request).
- import cost: ``import notifykit`` and ``import notifykit_exotel`` in a fresh interpreter.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable

import requests

from notifykit_exotel import ExotelClient, RetryPolicy
from notifykit_exotel.simulator import ExotelSimulator

SID, TOKEN = "ACsim", "sim-token"


def timed(fn: Callable[[], None], n: int) -> list[float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def report(name: str, samples: list[float]) -> float:
    median = statistics.median(samples) * 1e6
    p95 = sorted(samples)[int(len(samples) * 0.95)] * 1e6
    print(
        f"{name:<34} median {median:8.1f} us   p95 {p95:8.1f} us   {len(samples) / sum(samples):8.0f} req/s"
    )
    return median


def import_cost(module: str) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    runs = [float(subprocess.check_output([sys.executable, "-c", code])) for _ in range(5)]
    return min(runs) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()

    with ExotelSimulator(sid=SID, token=TOKEN, rate_limit=10**9) as sim:
        client = ExotelClient(
            SID, TOKEN, base_url=sim.base_url, rate_limit=None, retry=RetryPolicy.none()
        )
        session = requests.Session()
        url = f"{sim.base_url}/v1/Accounts/{SID}/Sms/send.json"
        form = {"From": "NKALRT", "To": "+919876543210", "Body": "ALERT db1 is down"}

        def bare() -> None:
            response = session.post(url, data=form, auth=(SID, TOKEN), timeout=30)
            response.raise_for_status()
            response.json()

        def wrapped() -> None:
            client.send_sms("NKALRT", "9876543210", "ALERT db1 is down")

        timed(bare, 200)
        timed(wrapped, 200)  # warm-up: connection, phonenumbers metadata
        sim.reset()
        print(f"send_sms over loopback, n={args.n}")
        base = report("bare requests.Session.post", timed(bare, args.n))
        ours = report("ExotelClient.send_sms", timed(wrapped, args.n))
        print(f"{'client overhead per send':<34} {ours - base:8.1f} us")

        sim.reset()
        numbers = [f"+91987{i:07d}" for i in range(10_000)]
        tracemalloc.start()
        start = time.perf_counter()
        result = client.send_bulk_sms("NKALRT", numbers, "Maintenance tonight at 22:00")
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(
            f"send_bulk_sms 10,000 numbers: {result.requests} requests, {elapsed:.2f} s, "
            f"peak traced memory {peak / 2**20:.1f} MiB (tracemalloc slows it down)"
        )
        client.close()
        session.close()

    print(f"import notifykit: {import_cost('notifykit'):.1f} ms (best of 5)")
    print(f"import notifykit_exotel: {import_cost('notifykit_exotel'):.1f} ms (best of 5)")
    print(
        f"import notifykit_exotel.client: {import_cost('notifykit_exotel.client'):.1f} ms (best of 5)"
    )


if __name__ == "__main__":
    main()
