"""pytest fixtures for testing code that talks to Exotel, backed by the local simulator.

Registered through the ``pytest11`` entry point, so any project that installs notifykit gets the
``exotel_simulator`` fixture. The simulator is imported inside the fixture to keep pytest's
start-up free of the server code for test runs that never use it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from notifykit_exotel.simulator import ExotelSimulator


@pytest.fixture
def exotel_simulator() -> Iterator[ExotelSimulator]:
    """A started Exotel simulator with the default credentials (sid ``ACsim``, token
    ``sim-token``, key = sid), stopped after the test."""
    from notifykit_exotel.simulator import ExotelSimulator

    with ExotelSimulator() as simulator:
        yield simulator
