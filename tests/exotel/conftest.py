"""Fixtures for the Exotel client tests: a live simulator and a client bound to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from notifykit_exotel import ExotelClient, RetryPolicy
from notifykit_exotel.simulator import ExotelSimulator

SID = "ACsim"
TOKEN = "sim-token-s3cr3t"
EXOPHONE = "08088919888"


@pytest.fixture
def sim() -> Iterator[ExotelSimulator]:
    with ExotelSimulator(sid=SID, token=TOKEN, exophones={EXOPHONE}) as simulator:
        yield simulator


@pytest.fixture
def sleeps() -> list[float]:
    """The retry waits the client asked for, recorded instead of slept."""
    return []


@pytest.fixture
def client(sim: ExotelSimulator, sleeps: list[float]) -> Iterator[ExotelClient]:
    policy = RetryPolicy(max_retries=3, initial_delay=0.01, max_delay=0.05, sleep=sleeps.append)
    with ExotelClient(SID, TOKEN, base_url=sim.base_url, retry=policy, rate_limit=None) as c:
        yield c
