"""A burst through the worker drains at the account's limit, shared by all its threads: zero 429s
from a simulator enforcing the same limit."""

from __future__ import annotations

import pytest

from notifykit_exotel.simulator import ExotelSimulator
from tests.delivery.conftest import SID, TOKEN, write_config

LIMIT, WINDOW = 250, 1.0  # Exotel's ~200/minute, scaled down so the test takes seconds


@pytest.mark.slow
def test_a_burst_of_1000_sms_draws_no_429(make_kit, tmp_path):
    with ExotelSimulator(sid=SID, token=TOKEN, rate_limit=LIMIT, rate_window=WINDOW) as sim:
        config = write_config(
            tmp_path,
            sim,
            account={"rate_limit": LIMIT, "rate_window": f"{WINDOW}s", "retries": 0},
        )
        kit = make_kit(config)
        numbers = [f"+9198500{i:05d}" for i in range(1000)]
        for number in numbers:
            kit.submit("db.down", data={"host": "x"}, to=number)
        result = kit.worker(threads=8, batch=50).run(drain=True)
        statuses = [r.status for r in sim.requests]
        assert statuses.count(429) == 0
        assert result.counts == {"sent": 1000} and len(statuses) == 1000
        assert sorted(len(sim.requests_to(n)) for n in numbers[::97]) == [1] * len(numbers[::97])
        # How close to the limit it rides is measured by `python -m bench`, not asserted here.
