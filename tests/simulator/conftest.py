"""Fixtures for the simulator tests: a simulator, authenticated sessions to it, and a callback
receiver, all over real HTTP on 127.0.0.1.

Test modules import nothing from here (fixtures only), so they work under any pytest import mode.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from notifykit_exotel.simulator import ExotelSimulator
from notifykit_exotel.simulator.receiver import CallbackReceiver


class AccountSession(requests.Session):
    """A session whose relative URLs resolve under the simulator's account, with a timeout."""

    def __init__(self, sim: ExotelSimulator, auth: tuple[str, str] | None) -> None:
        super().__init__()
        self.trust_env = False  # never route 127.0.0.1 through an environment proxy
        self.auth = auth
        self.sim = sim

    def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> requests.Response:
        if isinstance(url, str) and not url.startswith(("http://", "https://")):
            url = f"{self.sim.base_url}/v1/Accounts/{self.sim.sid}/{url}"
        kwargs.setdefault("timeout", 5)
        return super().request(method, url, *args, **kwargs)


SessionFactory = Callable[..., requests.Session]


@pytest.fixture
def sim() -> Iterator[ExotelSimulator]:
    with ExotelSimulator(sid="ACsim", token="sim-token") as simulator:
        yield simulator


@pytest.fixture
def session_for() -> Iterator[SessionFactory]:
    """Make sessions for any simulator: ``session_for(sim, auth=(user, password) | None)``."""
    sessions: list[requests.Session] = []

    def make(
        sim: ExotelSimulator, auth: tuple[str, str] | None = ("ACsim", "sim-token")
    ) -> requests.Session:
        session = AccountSession(sim, auth)
        sessions.append(session)
        return session

    yield make
    for session in sessions:
        session.close()


@pytest.fixture
def api(sim: ExotelSimulator, session_for: SessionFactory) -> requests.Session:
    """An authenticated session on ``sim``: ``api.post("Sms/send.json", data=...)``."""
    return session_for(sim)


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    with CallbackReceiver() as running:
        yield running
