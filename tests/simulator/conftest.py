"""Shared fixtures for the simulator tests: a simulator, an authenticated HTTP session to it, and
a tiny callback receiver, all over real HTTP on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from notifykit_exotel.simulator import ExotelSimulator
from sim_helpers import SID, TOKEN, Api, Receiver


@pytest.fixture
def sim() -> Iterator[ExotelSimulator]:
    with ExotelSimulator(sid=SID, token=TOKEN) as simulator:
        yield simulator


@pytest.fixture
def api(sim: ExotelSimulator) -> Iterator[Api]:
    client = Api(sim)
    yield client
    client.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running
