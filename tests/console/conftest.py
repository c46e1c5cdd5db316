"""The console's tests: ``notifykit serve``'s app on a real socket (the embedded server, in
this process, so the clock is controllable), a config with an escalating route and console
users, and a ``requests`` session that logs in like a browser."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from notifykit import Notifier
from notifykit.server import StatusServer
from notifykit.server.console.auth import hash_password
from notifykit_exotel.simulator import ExotelSimulator
from tests.delivery.conftest import Clock, clock, make_kit, sim
from tests.server.support import free_port, serve_config

__all__ = ["ROUTING", "Console", "clock", "console", "csrf_of", "log_in", "make_kit", "sim"]

PASSWORD = "correct horse battery"
#: cheap to check (the tests log in often); the default cost is tested with the CLI
TEST_COST = (1 << 10, 8, 1)

ROUTING: dict[str, Any] = {
    "receivers": {"page": {"escalation": "primary"}},
    "route": {"receiver": "page"},
    "escalations": {
        "primary": {
            "steps": [
                {"after": "0s", "channels": ["sms"], "to": ["p0"]},
                {"after": "5m", "channels": ["sms"], "to": ["p1"]},
            ]
        }
    },
}


@dataclass
class Console:
    kit: Notifier
    url: str  # .../console/
    base: str  # http://127.0.0.1:PORT
    config: Path
    server: StatusServer


@pytest.fixture
def start_console(
    tmp_path: Path, sim: ExotelSimulator, make_kit: Callable[..., Notifier], clock: Clock
) -> Iterator[Callable[..., Console]]:
    """``start_console({...}, store=URL, **server)``: a config with ``ROUTING``, that
    ``console:`` section (and ``store:``, ``server:`` keys), its Notifier (on the test clock) and the app served on a real port."""
    servers: list[StatusServer] = []

    def start(
        console: dict[str, Any] | None = None,
        *,
        store: str | None = None,
        sections_extra: dict[str, Any] | None = None,
        **server: Any,
    ) -> Console:
        port = free_port()
        sections: dict[str, Any] = {**ROUTING, **(sections_extra or {})}
        if console is not None:
            sections["console"] = console
        if store is not None:
            sections["store"] = store
        config = serve_config(tmp_path, sim, port, sections=sections, **server)
        kit = make_kit(config, clock=clock)
        served = StatusServer(kit, "127.0.0.1", port)
        served.__enter__()
        servers.append(served)
        base = f"http://127.0.0.1:{port}"
        return Console(kit, f"{base}/console/", base, config, served)

    yield start
    for served in servers:
        served.__exit__(None, None, None)


@pytest.fixture
def console(start_console: Callable[..., Console]) -> Console:
    """The console with one user, ``asha``, whose password is :data:`PASSWORD`."""
    return start_console({"users": {"asha": {"password": hash_password(PASSWORD, cost=TEST_COST)}}})


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match is not None, page
    return match.group(1)


def log_in(console: Console, user: str = "asha", password: str = PASSWORD) -> requests.Session:
    """A browser-like session logged in (its cookie kept, its Origin sent on POSTs)."""
    session = requests.Session()
    session.headers["Origin"] = console.base
    answer = session.post(
        console.url + "login", data={"user": user, "password": password}, timeout=10
    )
    assert answer.status_code == 200 and answer.url == console.url, answer.text
    return session
